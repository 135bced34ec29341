/**
 * Resource metrics and autoscaling on a real node: the node agent measures
 * its containers' cgroups, the API server scrapes it and serves
 * metrics.k8s.io, `kubectl top` prints it, and a HorizontalPodAutoscaler
 * scales a Deployment of CPU-burning pods up and back down when the load
 * stops. Metrics are scraped every 2 s and HPAs synced every 2 s (hidden
 * server flags) so the test need not wait upstream's 15 s periods.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KiteServer, eventually } from './harness.js';

const NS = 'autoscaling';
let server: KiteServer;
let nodeName: string;
/** A host directory the load generator looks in: while `on` exists there, the pods burn CPU. */
let loadDir: string;

before(async () => {
  server = new KiteServer({ agent: true, extraArgs: ['--metric-resolution', '2s', '--horizontal-pod-autoscaler-sync-period', '2s'] });
  await server.start();
  loadDir = mkdtempSync(join(tmpdir(), 'kite-e2e-load-'));
  nodeName = await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']), 10_000, 'the node to register');
  await server.namespace(NS);
});

after(async () => {
  await server?.cleanup();
  if (loadDir) rmSync(loadDir, { recursive: true, force: true });
});

/** The cells of the lines of a kubectl table (columns are separated by at least three spaces). */
function table(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/ {3,}/));
}

/** Millicores of a `123m` (or whole-core) CPU cell. */
function millicores(cell: string): number {
  const m = /^(\d+)(m?)$/.exec(cell);
  assert.ok(m, `a CPU quantity: ${cell}`);
  return Number(m[1]) * (m[2] ? 1 : 1000);
}

/** Runs kubectl until it succeeds (metrics need two scrapes before there is anything to show). */
function untilOk(args: string[], what: string): Promise<string> {
  return eventually(
    async () => {
      const r = await server.kubectl(args);
      return r.code === 0 && r.stdout.trim() ? r.stdout : undefined;
    },
    30_000,
    what,
  );
}

test('kubectl top nodes shows the node’s CPU and memory with upstream’s columns', async () => {
  const [header, row] = table(await untilOk(['top', 'nodes'], 'node metrics'));
  assert.deepEqual(header, ['NAME', 'CPU(cores)', 'CPU(%)', 'MEMORY(bytes)', 'MEMORY(%)']);
  assert.equal(row![0], nodeName);
  assert.ok(millicores(row![1]!) > 0, `node CPU ${row![1]}`);
  assert.match(row![2]!, /^\d+%$/);
  assert.match(row![3]!, /^[1-9]\d*Mi$/);
  assert.match(row![4]!, /^\d+%$/);
  const [mHeader, mRow] = table(await server.k(['get', 'nodemetrics']));
  assert.deepEqual(mHeader, ['NAME', 'CPU', 'MEMORY', 'WINDOW']);
  assert.equal(mRow![0], nodeName);
  assert.match(mRow![3]!, /^\d+(\.\d+)?s$/);
});

test('kubectl top pods shows a pod burning CPU: by pod, in all namespaces and by container', async () => {
  await server.k(['apply', '-n', NS, '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: burn, labels: {app: burn}}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      requests: {cpu: 100m, memory: 16Mi}
      limits: {cpu: 200m, memory: 64Mi}
`);
  await server.k(['wait', '-n', NS, '--for=condition=Ready', 'pod/burn', '--timeout=60s']);
  const [header, row] = table(await untilOk(['top', 'pod', 'burn', '-n', NS], 'metrics of the burning pod'));
  assert.deepEqual(header, ['NAME', 'CPU(cores)', 'MEMORY(bytes)']);
  assert.equal(row![0], 'burn');
  // It spins as fast as its CFS quota (200m) allows: clearly busy, never above the limit by much.
  const cpu = millicores(row![1]!);
  assert.ok(cpu >= 50 && cpu <= 250, `burning pod CPU ${row![1]}`);
  assert.match(row![2]!, /^\d+Mi$/);

  const all = table(await server.k(['top', 'pods', '-A']));
  assert.deepEqual(all[0], ['NAMESPACE', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
  assert.ok(all.some((r) => r[0] === NS && r[1] === 'burn'), `-A lists ${NS}/burn`);

  const [cHeader, cRow] = table(await server.k(['top', 'pod', 'burn', '-n', NS, '--containers']));
  assert.deepEqual(cHeader, ['POD', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
  assert.deepEqual(cRow!.slice(0, 2), ['burn', 'main']);

  const [, bySelector] = table(await server.k(['top', 'pods', '-n', NS, '-l', 'app=burn']));
  assert.equal(bySelector![0], 'burn');
  const [pmHeader, pmRow] = table(await server.k(['get', 'podmetrics', 'burn', '-n', NS]));
  assert.deepEqual(pmHeader, ['NAME', 'CPU', 'MEMORY', 'WINDOW']);
  assert.equal(pmRow![0], 'burn');

  const missing = await server.kubectl(['top', 'pod', 'nosuch', '-n', NS]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), 'Error from server (NotFound): pods "nosuch" not found');
  await server.k(['delete', 'pod', 'burn', '-n', NS, '--grace-period=0', '--force']);
});

test('an HPA scales a Deployment up under CPU load and back down after the load stops', { timeout: 240_000 }, async () => {
  writeFileSync(join(loadDir, 'on'), '');
  await server.k(['apply', '-n', NS, '-f', '-'], `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes:
      - {name: load, hostPath: {path: ${loadDir}, type: Directory}}
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "while [ -e /load/on ]; do :; done; exec sleep 3600"]
        volumeMounts: [{name: load, mountPath: /load}]
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 150m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 5}
`);
  // Each pod burns up to 150m of a 100m request: 150% against a 50% target wants more pods than maxReplicas.
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.currentReplicas}=4', 'hpa/web', '--timeout=120s']);
  assert.equal(await server.k(['get', 'deployment', 'web', '-n', NS, '-o', 'jsonpath={.spec.replicas}']), '4');
  const [header, row] = table(await server.k(['get', 'hpa', 'web', '-n', NS]));
  assert.deepEqual(header, ['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE']);
  assert.deepEqual(row!.slice(0, 2), ['web', 'Deployment/web']);
  assert.match(row![2]!, /^cpu: \d+%\/50%$/);
  assert.deepEqual(row!.slice(3, 6), ['1', '4', '4']);
  const rescales = async () =>
    JSON.parse(await server.k(['get', 'events', '-n', NS, '-o', 'json'])).items.filter((e: any) => e.reason === 'SuccessfulRescale' && e.involvedObject.name === 'web');
  const up = await rescales();
  assert.ok(up.length >= 1);
  for (const e of up) {
    assert.match(e.message, /^New size: [234]; reason: cpu resource utilization \(percentage of request\) above target$/);
    assert.equal(e.source.component, 'horizontal-pod-autoscaler');
  }
  assert.equal(await server.k(['get', 'hpa', 'web', '-n', NS, '-o', 'jsonpath={.status.conditions[?(@.type=="ScalingActive")].reason}']), 'ValidMetricFound');

  // The load stops: usage falls to nothing and, past the 5 s stabilization window, the HPA goes back to minReplicas.
  rmSync(join(loadDir, 'on'));
  await server.k(['wait', '-n', NS, '--for=jsonpath={.spec.replicas}=1', 'deployment/web', '--timeout=120s']);
  const down = (await rescales()).filter((e: any) => e.message.endsWith('All metrics below target'));
  assert.ok(down.length >= 1, 'a scale-down event');
  assert.match(down[down.length - 1].message, /^New size: 1; reason: All metrics below target$/);
  await server.k(['delete', 'hpa,deployment', 'web', '-n', NS]);
});
