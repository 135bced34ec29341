/**
 * The local node of `kite server`: it registers itself Ready with the
 * machine's capacity, heartbeats through its Lease in kube-node-lease, and
 * `kubectl describe node` shows what upstream's shows.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism, totalmem } from 'node:os';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
let node: string;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  node = await eventually(async () => (await server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim(), 10_000, 'the node to register');
});

after(async () => {
  await server?.cleanup();
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** Parses a binary-SI quantity as kubelet writes them (`123Ki`, `4Gi`, plain bytes). */
function bytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q);
  assert.ok(m, `quantity ${q}`);
  return Number(m[1]) * { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] ?? '']!;
}

test('kubectl get nodes shows the local node Ready', async () => {
  await server.k(['wait', '--for=condition=Ready', `node/${node}`, '--timeout=10s']);
  const [header, row, ...rest] = (await server.k(['get', 'nodes'])).trim().split('\n');
  assert.deepEqual(cells(header!), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
  assert.equal(rest.length, 0);
  const [name, status, roles, , version] = cells(row!);
  assert.deepEqual([name, status, roles, version], [node, 'Ready', '<none>', 'v1.32.0']);
  const wide = (await server.k(['get', 'nodes', '-o', 'wide', '--no-headers'])).trim();
  assert.match(wide, /\sDebian GNU\/Linux[^\n]*\s+kite-process:\/\/\S+$/);
});

test('capacity is the machine: cpu, memory, pods=110, ephemeral-storage; allocatable no larger', async () => {
  const n = JSON.parse(await server.k(['get', 'node', node, '-o', 'json']));
  const cap = n.status.capacity;
  assert.equal(cap.cpu, String(availableParallelism()));
  assert.equal(cap.pods, '110');
  assert.equal(bytes(cap.memory), Math.floor(totalmem() / 1024) * 1024);
  assert.ok(bytes(cap['ephemeral-storage']) > 0, `ephemeral-storage ${cap['ephemeral-storage']}`);
  const alloc = n.status.allocatable;
  assert.equal(alloc.cpu, cap.cpu);
  assert.equal(alloc.pods, '110');
  assert.ok(bytes(alloc.memory) < bytes(cap.memory));
  assert.ok(bytes(alloc['ephemeral-storage']) > 0 && bytes(alloc['ephemeral-storage']) <= bytes(cap['ephemeral-storage']));
  assert.equal(n.metadata.labels['kubernetes.io/hostname'], node);
  assert.equal(n.metadata.labels['kubernetes.io/os'], 'linux');
  assert.match(n.spec.podCIDR, /^10\.244\.\d+\.0\/24$/);
  assert.deepEqual(n.spec.podCIDRs, [n.spec.podCIDR]);
  const ready = n.status.conditions.find((c: any) => c.type === 'Ready');
  assert.deepEqual([ready.status, ready.reason, ready.message], ['True', 'KubeletReady', 'kubelet is posting ready status']);
});

test('the Lease in kube-node-lease is renewed', async () => {
  const lease = JSON.parse(await server.k(['get', 'lease', '-n', 'kube-node-lease', node, '-o', 'json']));
  assert.equal(lease.spec.holderIdentity, node);
  assert.equal(lease.spec.leaseDurationSeconds, 40);
  assert.deepEqual(
    lease.metadata.ownerReferences.map((o: any) => [o.kind, o.name]),
    [['Node', node]],
  );
  const first = lease.spec.renewTime;
  // Upstream renews every 10 s (a quarter of the lease duration).
  const next = await eventually(
    async () => {
      const t = await server.k(['get', 'lease', '-n', 'kube-node-lease', node, '-o', 'jsonpath={.spec.renewTime}']);
      return t !== first && t;
    },
    15_000,
    'the lease to be renewed',
  );
  assert.ok(Date.parse(next) > Date.parse(first));
});

test('kubectl describe node shows conditions, capacity, pod CIDR and the pods it runs', async () => {
  await server.k(['run', 'sleeper', '--image=busybox', '--command', '--', 'sleep', '3600']);
  await server.k(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=30s']);
  const out = await server.k(['describe', 'node', node]);
  assert.match(out, new RegExp(`^Name:\\s+${node}$`, 'm'));
  assert.match(out, /^Roles:\s+<none>$/m);
  assert.match(out, /^Lease:\n\s+HolderIdentity:\s+\S+/m);
  assert.match(out, /^\s+Ready\s+True\s+.*\s+KubeletReady\s+kubelet is posting ready status$/m);
  assert.match(out, /^\s+MemoryPressure\s+False\s+.*\s+KubeletHasSufficientMemory\s+kubelet has sufficient memory available$/m);
  assert.match(out, /^Capacity:\n\s+cpu:\s+\d+\n\s+ephemeral-storage:\s+[1-9]\d*\w*\n/m);
  assert.match(out, /^\s+pods:\s+110$/m);
  assert.match(out, /^PodCIDR:\s+10\.244\.\d+\.0\/24$/m);
  assert.match(out, /^\s+Container Runtime Version:\s+kite-process:\/\//m);
  assert.match(out, /^\s+Kubelet Version:\s+v1\.32\.0$/m);
  assert.match(out, /^Non-terminated Pods:\s+\(1 in total\)$/m);
  assert.match(out, /^\s+default\s+sleeper\s+0 \(0%\)\s+0 \(0%\)\s+0 \(0%\)\s+0 \(0%\)\s+\d+s$/m);
  await server.k(['delete', 'pod', 'sleeper', '--grace-period=1']);
});
