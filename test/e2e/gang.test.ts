/**
 * Gang scheduling on the real node: `kite server` with its node agent, the
 * PodGroup API (`scheduling.x-k8s.io/v1alpha1`, served out of the box) and
 * the scheduler's Coscheduling plugin, driven by the real kubectl. Two gangs
 * of three pods on a node with room for four: one runs, the other waits
 * whole (no member bound) with the reason on its PodGroup; once the first
 * gang is deleted the second runs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
const NS = 'gang';

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']), 10_000, 'the node to register');
  await server.namespace(NS);
});

after(async () => {
  await server?.cleanup();
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** A PodGroup and `size` bare pods naming it, each asking for `milliCPU`. */
function gang(name: string, size: number, milliCPU: number): string {
  const docs = [`apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata: {name: ${name}, namespace: ${NS}}
spec: {minMember: ${size}, scheduleTimeoutSeconds: 30}
`];
  for (let i = 0; i < size; i++) {
    docs.push(`apiVersion: v1
kind: Pod
metadata:
  name: ${name}-${i}
  namespace: ${NS}
  labels: {scheduling.x-k8s.io/pod-group: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: worker
    image: busybox
    command: ["sleep", "3600"]
    resources: {requests: {cpu: ${milliCPU}m}}
`);
  }
  return docs.join('---\n');
}

test('the PodGroup API is served: CRD, short names, explain, printer columns and validation', async () => {
  assert.match(await server.k(['get', 'crd', 'podgroups.scheduling.x-k8s.io', '--no-headers']), /^podgroups\.scheduling\.x-k8s\.io\s/);
  const resources = await server.k(['api-resources', '--api-group=scheduling.x-k8s.io', '--no-headers']);
  assert.match(resources, /^podgroups\s+pg,pgs\s+scheduling\.x-k8s\.io\/v1alpha1\s+true\s+PodGroup$/m);
  const explain = await server.k(['explain', 'podgroup.spec']);
  assert.match(explain, /GROUP:\s+scheduling\.x-k8s\.io/);
  assert.match(explain, /minMember\s+<integer>/);
  assert.match(explain, /minResources\s+<map\[string\]/);
  assert.match(explain, /scheduleTimeoutSeconds\s+<integer>/);
  const bad = await server.kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name: 'bad', namespace: NS }, spec: { minMember: 0 } }),
  });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /The PodGroup "bad" is invalid: spec\.minMember: Invalid value: 0: spec\.minMember in body should be greater than or equal to 1/);
});

test('two gangs of 3 on a node that fits 4: one runs, the other waits whole with the reason on its PodGroup, then runs', async () => {
  const node = (await server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const cpu = (await server.k(['get', 'node', node, '-o', 'jsonpath={.status.allocatable.cpu}'])).trim();
  const allocatable = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
  // Each pod asks for a quarter of the node: four fit, five do not.
  const perPod = Math.floor(allocatable / 4);
  // Both groups are created in the same apply; "first" sorts first, so it is placed first.
  await server.k(['apply', '-f', '-'], `${gang('first', 3, perPod)}---\n${gang('second', 3, perPod)}`);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Running', 'pod', '-l', 'scheduling.x-k8s.io/pod-group=first', '--timeout=60s']);

  // The second gang: Unschedulable on its PodGroup, with why.
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.conditions[?(@.type=="Scheduled")].reason}=Unschedulable', 'podgroup/second', '--timeout=30s']);
  const message = await server.k(['get', 'pg', 'second', '-n', NS, '-o', 'jsonpath={.status.conditions[?(@.type=="Scheduled")].message}']);
  assert.match(message, /^pod second-\d cannot be placed, so none of the 3 pods the group needs are bound: 0\/1 nodes are available: 1 Insufficient cpu\.$/);
  const describe = await server.k(['describe', 'pg', 'second', '-n', NS]);
  assert.match(describe, /Warning\s+FailedScheduling\s+.*default-scheduler\s+pod second-\d cannot be placed/);
  // No member of the waiting gang is bound, though one more pod would fit.
  const second = await server.k(['get', 'pods', '-n', NS, '-l', 'scheduling.x-k8s.io/pod-group=second', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}={.status.phase} {end}']);
  assert.deepEqual(second.trim().split(' ').sort(), ['second-0==Pending', 'second-1==Pending', 'second-2==Pending']);
  const events = await server.k(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=second-0,reason=FailedScheduling', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /0\/1 nodes are available: /);

  // The controller's view: first Running with 3 running, second placeable (Scheduling) with none running.
  // Unset counts print as empty cells, as for upstream's CRD.
  await eventually(async () => {
    const out = await server.k(['get', 'pg', '-n', NS, '--no-headers']);
    return /^first\s+Running\s+3\s+3\s+\S+$/m.test(out) && /^second\s+Scheduling\s+3\s+\S+$/m.test(out);
  }, 20_000, 'kubectl get pg to show first Running and second Scheduling');
  const header = (await server.k(['get', 'pg', '-n', NS])).split('\n')[0]!;
  assert.deepEqual(cells(header), ['NAME', 'PHASE', 'MINMEMBER', 'RUNNING', 'SUCCEEDED', 'FAILED', 'AGE']);

  // The first gang goes: the second is placed whole.
  await server.k(['delete', 'pods', '-n', NS, '-l', 'scheduling.x-k8s.io/pod-group=first', '--wait=true']);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Running', 'pod', '-l', 'scheduling.x-k8s.io/pod-group=second', '--timeout=60s']);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.conditions[?(@.type=="Scheduled")].status}=True', 'podgroup/second', '--timeout=30s']);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Running', 'podgroup/second', '--timeout=30s']);
  await server.k(['delete', 'pods', '-n', NS, '--all', '--wait=true']);
});
