/**
 * Pod lifecycle on the real node, driven by the real kubectl: readiness
 * gating READY, Service endpoints and Deployment availability; liveness
 * restarts; startup probes holding liveness back; postStart/preStop hooks;
 * init containers and their `Init:` statuses; a sidecar beside a Job.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KiteServer, eventually } from './harness.js';

const PYTHON = '/usr/bin/python3';

let server: KiteServer;
let hostDir: string;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  hostDir = mkdtempSync(join(tmpdir(), 'kite-e2e-probes-'));
  await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}']).then((s) => s === 'True'), 20_000, 'the node to be Ready');
});

after(async () => {
  await server?.cleanup();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** `kubectl get pod NAME --no-headers` as {ready, status, restarts}. */
async function podRow(name: string): Promise<{ ready: string; status: string; restarts: string }> {
  const [, ready, status, restarts] = cells(await server.k(['get', 'pod', name, '--no-headers']));
  return { ready: ready!, status: status!, restarts: restarts! };
}

/** Polls `kubectl get pod` until its STATUS column reads `status`. */
function statusBecomes(name: string, status: string, timeoutMs = 30_000): Promise<{ ready: string; status: string; restarts: string }> {
  return eventually(async () => {
    const row = await podRow(name);
    return row.status === status && row;
  }, timeoutMs, `pod ${name} to show ${status}`);
}

/** The pod's events as `Type Reason: message` lines. */
async function podEvents(name: string): Promise<string[]> {
  const out = await server.k(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'jsonpath={range .items[*]}{.type} {.reason}: {.message}{"\\n"}{end}']);
  return out.split('\n').filter(Boolean);
}

async function apply(manifest: string): Promise<void> {
  await server.k(['apply', '-f', '-'], manifest);
}

/** A host directory for one test (mounted into its pods with hostPath). */
function dirFor(name: string): string {
  const d = join(hostDir, name);
  mkdirSync(d);
  return d;
}

test('a readiness probe gates READY, the Service endpoints and Deployment availability until its file appears', async () => {
  const www = dirFor('www');
  await apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes: [{name: www, hostPath: {path: ${www}}}]
      containers:
      - name: web
        image: python
        command: ["${PYTHON}", "-m", "http.server", "8080", "--directory", "/www"]
        ports: [{name: http, containerPort: 8080}]
        volumeMounts: [{name: www, mountPath: /www}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`);
  const pod = await eventually(async () => (await server.k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])) || undefined, 30_000, 'the pod');
  await statusBecomes(pod, 'Running');
  const ip = await server.k(['get', 'pod', pod, '-o', 'jsonpath={.status.podIP}']);
  assert.equal((await podRow(pod)).ready, '0/1');
  await eventually(async () => (await podEvents(pod)).includes('Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404'), 20_000, 'the probe failure event');
  assert.equal((await podRow(pod)).ready, '0/1');
  assert.equal(await server.k(['get', 'deploy', 'web', '-o', 'jsonpath={.status.availableReplicas}']), '');
  await eventually(async () => (await server.k(['get', 'endpoints', 'web', '-o', 'jsonpath={.subsets[0].notReadyAddresses[0].ip}'])) === ip, 20_000, 'the pod listed as not ready');

  writeFileSync(join(www, 'ready'), 'ok\n');
  await server.k(['wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=30s']);
  assert.deepEqual(await podRow(pod), { ready: '1/1', status: 'Running', restarts: '0' });
  await server.k(['rollout', 'status', 'deploy/web', '--timeout=30s']);
  assert.equal(await server.k(['get', 'deploy', 'web', '-o', 'jsonpath={.status.availableReplicas}']), '1');
  await eventually(async () => (await server.k(['get', 'endpoints', 'web', '-o', 'jsonpath={.subsets[0].addresses[0].ip}'])) === ip, 20_000, 'the pod in the endpoints');

  // The file goes: the pod is taken out of service again, never restarted.
  rmSync(join(www, 'ready'));
  await server.k(['wait', '--for=condition=Ready=false', `pod/${pod}`, '--timeout=30s']);
  assert.deepEqual(await podRow(pod), { ready: '0/1', status: 'Running', restarts: '0' });
  await server.k(['delete', 'deploy', 'web', '--wait=false']);
});

test('a failing liveness probe restarts the container', async () => {
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: app
    image: busybox
    command: ["/bin/sh", "-c", "touch /state/healthy; sleep 2; rm -f /state/healthy; exec sleep 600"]
    volumeMounts: [{name: state, mountPath: /state}]
    livenessProbe:
      exec: {command: ["/bin/cat", "/state/healthy"]}
      periodSeconds: 1
      failureThreshold: 1
`);
  const row = await eventually(async () => {
    const r = await podRow('liveness');
    return r.restarts !== '0' && r;
  }, 40_000, 'a restart');
  assert.match(row.restarts, /^[1-9]\d* \(\d+s ago\)$/);
  const events = await podEvents('liveness');
  assert.ok(events.includes('Warning Unhealthy: Liveness probe failed: /bin/cat: /state/healthy: No such file or directory'), events.join('\n'));
  assert.ok(events.includes('Normal Killing: Container app failed liveness probe, will be restarted'), events.join('\n'));
  const describe = await server.k(['describe', 'pod', 'liveness']);
  assert.match(describe, /Liveness:\s+exec \[\/bin\/cat \/state\/healthy\] delay=0s timeout=1s period=1s #success=1 #failure=1/);
  assert.match(describe, /Last State:\s+Terminated\n\s+Reason:\s+Error\n\s+Exit Code:\s+143/);
  await server.k(['delete', 'pod', 'liveness', '--wait=false']);
});

test('a startup probe holds the liveness probe back until the app listens', async () => {
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  containers:
  - name: app
    image: python
    command: ["/bin/sh", "-c", "sleep 3; exec ${PYTHON} -m http.server 8080"]
    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 20
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 1
`);
  await statusBecomes('slow', 'Running');
  assert.equal(await server.k(['get', 'pod', 'slow', '-o', 'jsonpath={.status.containerStatuses[0].started}']), 'false');
  await server.k(['wait', '--for=jsonpath={.status.containerStatuses[0].started}=true', 'pod/slow', '--timeout=30s']);
  assert.deepEqual(await podRow('slow'), { ready: '1/1', status: 'Running', restarts: '0' });
  const events = await podEvents('slow');
  assert.ok(events.some((e) => e.startsWith('Warning Unhealthy: Startup probe failed: dial tcp ') && e.endsWith(':8080: connect: connection refused')), events.join('\n'));
  assert.ok(!events.some((e) => e.includes('Liveness probe failed') || e.includes('Killing')), events.join('\n'));
  await server.k(['delete', 'pod', 'slow', '--wait=false']);
});

test('postStart and preStop hooks run in the container', async () => {
  const hooks = dirFor('hooks');
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{name: out, hostPath: {path: ${hooks}}}]
  containers:
  - name: app
    image: busybox
    command: ["/bin/sh", "-c", "exec sleep 600"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      postStart:
        # The host path itself: the process runtime may still be setting up the container's mounts when the hook starts.
        exec: {command: ["/bin/sh", "-c", "echo started $HOSTNAME > ${hooks}/post"]}
      preStop:
        exec: {command: ["/bin/sh", "-c", "echo stopping > /out/pre"]}
`);
  await statusBecomes('hooks', 'Running');
  // Running is only reported once the postStart hook returned.
  assert.equal(readFileSync(join(hooks, 'post'), 'utf8'), 'started hooks\n');
  assert.equal(existsSync(join(hooks, 'pre')), false);
  await server.k(['delete', 'pod', 'hooks', '--timeout=30s']);
  assert.equal(readFileSync(join(hooks, 'pre'), 'utf8'), 'stopping\n');
});

test('a failing postStart hook kills the container with FailedPostStartHook', async () => {
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: ["/bin/sh", "-c", "exec sleep 600"]
    lifecycle:
      postStart:
        exec: {command: ["/bin/sh", "-c", "exit 3"]}
`);
  await statusBecomes('badhook', 'Error');
  const events = await podEvents('badhook');
  assert.ok(events.includes('Warning FailedPostStartHook: PostStartHook failed'), events.join('\n'));
  assert.ok(events.includes('Normal Killing: FailedPostStartHook'), events.join('\n'));
  await server.k(['delete', 'pod', 'badhook', '--wait=false']);
});

test('init containers run in order and show Init:N/M, PodInitializing, Init:Error and Init:CrashLoopBackOff', async () => {
  const out = dirFor('init');
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  volumes: [{name: out, hostPath: {path: ${out}}}]
  initContainers:
  - name: first
    image: busybox
    command: ["/bin/sh", "-c", "sleep 2; echo first >> /out/order"]
    volumeMounts: [{name: out, mountPath: /out}]
  - name: second
    image: busybox
    command: ["/bin/sh", "-c", "sleep 2; echo second >> /out/order"]
    volumeMounts: [{name: out, mountPath: /out}]
  containers:
  - name: app
    image: busybox
    command: ["/bin/sh", "-c", "echo app >> /out/order; exec sleep 600"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      postStart:
        exec: {command: ["/bin/sleep", "3"]}
`);
  assert.deepEqual(await statusBecomes('init', 'Init:0/2'), { ready: '0/1', status: 'Init:0/2', restarts: '0' });
  await statusBecomes('init', 'Init:1/2');
  // The app container waits in PodInitializing while its postStart hook runs.
  await statusBecomes('init', 'PodInitializing');
  await statusBecomes('init', 'Running');
  assert.equal(readFileSync(join(out, 'order'), 'utf8'), 'first\nsecond\napp\n');
  assert.equal(await server.k(['get', 'pod', 'init', '-o', 'jsonpath={range .status.initContainerStatuses[*]}{.name}={.state.terminated.reason},{.ready} {end}']), 'first=Completed,true second=Completed,true ');
  await server.k(['delete', 'pod', 'init', '--wait=false']);

  await apply(`apiVersion: v1
kind: Pod
metadata: {name: init-error}
spec:
  restartPolicy: Never
  initContainers:
  - {name: check, image: busybox, command: ["/bin/sh", "-c", "exit 1"]}
  containers:
  - {name: app, image: busybox, command: ["/bin/true"]}
---
apiVersion: v1
kind: Pod
metadata: {name: init-loop}
spec:
  initContainers:
  - {name: check, image: busybox, command: ["/bin/sh", "-c", "exit 1"]}
  containers:
  - {name: app, image: busybox, command: ["/bin/true"]}
`);
  assert.deepEqual(await statusBecomes('init-error', 'Init:Error'), { ready: '0/1', status: 'Init:Error', restarts: '0' });
  assert.equal(await server.k(['get', 'pod', 'init-error', '-o', 'jsonpath={.status.phase}']), 'Failed');
  const looping = await statusBecomes('init-loop', 'Init:CrashLoopBackOff');
  assert.match(looping.restarts, /^[1-9]\d* \(\d+s ago\)$/);
  const describe = await server.k(['describe', 'pod', 'init-loop']);
  assert.match(describe, /Initialized\s+False/);
  await server.k(['delete', 'pod', 'init-error', 'init-loop', '--wait=false']);
});

test('a sidecar runs beside a Job and is stopped once the Job container is done', async () => {
  const out = dirFor('job');
  await apply(`apiVersion: batch/v1
kind: Job
metadata: {name: train}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: out, hostPath: {path: ${out}}}]
      initContainers:
      - name: shipper
        image: busybox
        restartPolicy: Always
        command: ["/bin/sh", "-c", "trap 'echo shipper-stopped >> /out/log; exit 0' TERM; echo shipper-up >> /out/log; while :; do sleep 0.1; done"]
        volumeMounts: [{name: out, mountPath: /out}]
      containers:
      - name: train
        image: busybox
        command: ["/bin/sh", "-c", "while [ ! -f /out/go ]; do sleep 0.1; done; echo trained >> /out/log"]
        volumeMounts: [{name: out, mountPath: /out}]
`);
  const pod = await eventually(async () => (await server.k(['get', 'pods', '-l', 'job-name=train', '-o', 'jsonpath={.items[0].metadata.name}'])) || undefined, 30_000, 'the Job pod');
  // READY counts the sidecar beside the app container.
  assert.deepEqual(await eventually(async () => {
    const r = await podRow(pod);
    return r.ready === '2/2' && r;
  }, 30_000, 'both containers ready'), { ready: '2/2', status: 'Running', restarts: '0' });
  writeFileSync(join(out, 'go'), '');
  await server.k(['wait', '--for=condition=complete', 'job/train', '--timeout=60s']);
  assert.deepEqual(await podRow(pod), { ready: '0/2', status: 'Completed', restarts: '0' });
  assert.equal(readFileSync(join(out, 'log'), 'utf8'), 'shipper-up\ntrained\nshipper-stopped\n');
  assert.equal(await server.k(['get', 'pod', pod, '-o', 'jsonpath={.status.initContainerStatuses[0].state.terminated.exitCode}']), '0');
  await server.k(['delete', 'job', 'train', '--wait=false']);
});
