/**
 * Pods on the real node: `kite server` with its node agent (process runtime,
 * pod network namespaces on the bridge, cgroups, volumes) driven by the real
 * kubectl — env and workingDir, exit codes and restart policies, logs,
 * start errors, volumes and claims, pod networking, OOM kills, graceful
 * deletion, and pods the scheduler cannot place.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KiteServer, KUBECTL, eventually } from './harness.js';

let server: KiteServer;
let hostDir: string;
/** Pod IPs of this server's node match this (its own /24 out of 10.244.0.0/16). */
let podIp: RegExp;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  hostDir = mkdtempSync(join(tmpdir(), 'kite-e2e-hostpath-'));
  const cidr = await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].spec.podCIDR}']), 10_000, 'the node to register');
  const m = /^10\.244\.(\d+)\.0\/24$/.exec(cidr);
  assert.ok(m, `node podCIDR ${cidr}`);
  podIp = new RegExp(`^10\\.244\\.${m[1]}\\.\\d+$`);
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

/** Waits (kubectl wait) until a jsonpath of an object has a value. */
async function waitFor(obj: string, jsonpath: string, value: string, timeout = '30s'): Promise<void> {
  await server.k(['wait', `--for=jsonpath=${jsonpath}=${value}`, obj, `--timeout=${timeout}`]);
}

/** Applies a manifest from stdin. */
async function apply(manifest: string): Promise<void> {
  await server.k(['apply', '-f', '-'], manifest);
}

/** A single-container pod manifest (restartPolicy Never unless given). */
function podYaml(name: string, command: string[], extra: { restartPolicy?: string; spec?: string; container?: string } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: ${extra.restartPolicy ?? 'Never'}
${extra.spec ?? ''}  containers:
  - name: main
    image: busybox
    command: ${JSON.stringify(command)}
${extra.container ?? ''}`;
}

/** Starts `kubectl ARGS` as a stream; resolves `ready` once its output contains `marker`, `done` when it exits. */
function stream(args: string[], marker: string): { ready: Promise<void>; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(KUBECTL, args, { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.on('data', (d) => {
    out += d;
    if (out.includes(marker)) onReady();
  });
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      onReady();
      resolve({ code, out });
    }),
  );
  return { ready, done };
}

test('env (value, fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef, envFrom) and workingDir reach the process', async () => {
  await server.k(['create', 'configmap', 'cfg', '--from-literal=color=blue', '--from-literal=size=L']);
  await server.k(['create', 'secret', 'generic', 'sec', '--from-literal=password=s3cret']);
  await apply(
    podYaml('envpod', ['/bin/sh', '-c', 'echo PLAIN=$PLAIN NAME=$MY_NAME IP=$MY_IP COLOR=$COLOR PASS=$PASS MEM=$MEM size=$size CFG_color=$CFG_color PWD=$(pwd)'], {
      container: `    workingDir: /tmp
    resources: {limits: {memory: 64Mi}}
    env:
    - {name: PLAIN, value: hello}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: COLOR, valueFrom: {configMapKeyRef: {name: cfg, key: color}}}
    - {name: PASS, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    envFrom:
    - configMapRef: {name: cfg}
    - {prefix: CFG_, configMapRef: {name: cfg}}
`,
    }),
  );
  await waitFor('pod/envpod', '{.status.phase}', 'Succeeded');
  const ip = await server.k(['get', 'pod', 'envpod', '-o', 'jsonpath={.status.podIP}']);
  assert.match(ip, podIp);
  assert.equal((await server.k(['logs', 'envpod'])).trim(), `PLAIN=hello NAME=envpod IP=${ip} COLOR=blue PASS=s3cret MEM=64 size=L CFG_color=blue PWD=/tmp`);
  assert.deepEqual(await podRow('envpod'), { ready: '0/1', status: 'Completed', restarts: '0' });
});

test('restartPolicy Never: exit 3 shows Error, exit 0 shows Completed', async () => {
  await server.k(['run', 'exit3', '--image=busybox', '--restart=Never', '--command', '--', '/bin/sh', '-c', 'echo bye; exit 3']);
  await server.k(['run', 'exit0', '--image=busybox', '--restart=Never', '--command', '--', '/bin/sh', '-c', 'echo ok']);
  await waitFor('pod/exit3', '{.status.phase}', 'Failed');
  await waitFor('pod/exit0', '{.status.phase}', 'Succeeded');
  assert.deepEqual(await podRow('exit3'), { ready: '0/1', status: 'Error', restarts: '0' });
  assert.deepEqual(await podRow('exit0'), { ready: '0/1', status: 'Completed', restarts: '0' });
  assert.equal(await server.k(['get', 'pod', 'exit3', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}']), '3 Error');
  assert.equal(await server.k(['logs', 'exit3']), 'bye\n');
});

test('OnFailure crash loop shows CrashLoopBackOff with restarts counted', async () => {
  await server.k(['run', 'crash', '--image=busybox', '--restart=OnFailure', '--command', '--', '/bin/sh', '-c', 'echo crashing; exit 1']);
  // Upstream restarts the first failure at once and then backs off 10 s, 20 s, …
  await waitFor('pod/crash', '{.status.containerStatuses[0].state.waiting.reason}', 'CrashLoopBackOff');
  const row = await podRow('crash');
  assert.equal(row.ready, '0/1');
  assert.equal(row.status, 'CrashLoopBackOff');
  assert.match(row.restarts, /^[1-9]\d* \(\d+s ago\)$/);
  const cs = JSON.parse(await server.k(['get', 'pod', 'crash', '-o', 'jsonpath={.status.containerStatuses[0]}']));
  assert.ok(cs.restartCount >= 1);
  assert.equal(cs.lastState.terminated.exitCode, 1);
  assert.equal(cs.lastState.terminated.reason, 'Error');
  assert.match(cs.state.waiting.message, /^back-off 10s restarting failed container=crash pod=crash_default\(/);
  const describe = await server.k(['describe', 'pod', 'crash']);
  assert.match(describe, /Warning\s+BackOff\s+.*kubelet\s+Back-off restarting failed container crash in pod crash_default/);
  assert.match(describe, /Last State:\s+Terminated\n\s+Reason:\s+Error\n\s+Exit Code:\s+1/);
  await server.k(['delete', 'pod', 'crash', '--wait=false']);
});

test('logs: --previous after a restart, --tail, -c, and -f until the container exits', async () => {
  // First run fails (and leaves a marker in the pod's emptyDir); the restart then keeps running.
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  restartPolicy: OnFailure
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: main
    image: busybox
    command: ["/bin/sh", "-c", "if [ -f /state/ran ]; then echo second run; echo line 2; echo line 3; exec sleep 3600; else touch /state/ran; echo first run; exit 1; fi"]
    volumeMounts: [{name: state, mountPath: /state}]
  - name: side
    image: busybox
    command: ["/bin/sh", "-c", "echo from side; exec sleep 3600"]
`);
  await waitFor('pod/twice', '{.status.containerStatuses[?(@.name=="main")].restartCount}', '1');
  await server.k(['wait', '--for=condition=Ready', 'pod/twice', '--timeout=30s']);
  assert.equal((await podRow('twice')).ready, '2/2');
  assert.match((await podRow('twice')).restarts, /^1 \(\d+s ago\)$/);
  assert.equal(await server.k(['logs', 'twice', '-c', 'main']), 'second run\nline 2\nline 3\n');
  assert.equal(await server.k(['logs', 'twice', '-c', 'main', '--previous']), 'first run\n');
  assert.equal(await server.k(['logs', 'twice', '-c', 'main', '--tail=2']), 'line 2\nline 3\n');
  assert.equal(await server.k(['logs', 'twice', '-c', 'side']), 'from side\n');
  assert.equal(await server.k(['logs', 'twice', '-c', 'side', '--since=1h']), 'from side\n');
  // Without -c kubectl picks the first container and says so.
  const r = await server.kubectl(['logs', 'twice']);
  assert.equal(r.stdout, 'second run\nline 2\nline 3\n');
  assert.match(r.stderr, /Defaulted container "main" out of: main, side/);
  const prev = await server.kubectl(['logs', 'twice', '-c', 'side', '--previous']);
  assert.notEqual(prev.code, 0);
  assert.match(prev.stderr, /previous terminated container "side" in pod "twice" not found/);
  await server.k(['delete', 'pod', 'twice', '--wait=false']);

  // -f follows a running container and ends when it exits.
  await server.k(['run', 'ticker', '--image=busybox', '--restart=Never', '--command', '--', '/bin/sh', '-c', 'echo tick 1; sleep 1; echo tick 2; sleep 0.5; echo tick 3']);
  await waitFor('pod/ticker', '{.status.phase}', 'Running');
  const follow = stream(['logs', '-f', 'ticker'], 'tick 1');
  const res = await follow.done;
  assert.equal(res.code, 0);
  assert.equal(res.out, 'tick 1\ntick 2\ntick 3\n');
  assert.deepEqual(await podRow('ticker'), { ready: '0/1', status: 'Completed', restarts: '0' });
});

test('a command that does not exist ends with StartError and the reason', async () => {
  await server.k(['run', 'nocmd', '--image=busybox', '--restart=Never', '--command', '--', '/nonexistent/binary']);
  await waitFor('pod/nocmd', '{.status.phase}', 'Failed');
  assert.deepEqual(await podRow('nocmd'), { ready: '0/1', status: 'StartError', restarts: '0' });
  const term = JSON.parse(await server.k(['get', 'pod', 'nocmd', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated}']));
  assert.equal(term.reason, 'StartError');
  assert.equal(term.exitCode, 128);
  assert.match(term.message, /exec: "\/nonexistent\/binary": stat \/nonexistent\/binary: no such file or directory/);
  const describe = await server.k(['describe', 'pod', 'nocmd']);
  assert.match(describe, /State:\s+Terminated\n\s+Reason:\s+StartError\n\s+Message:\s+.*no such file or directory/);
  assert.match(describe, /Warning\s+Failed\s+.*kubelet\s+.*no such file or directory/);
});

test('volumes: emptyDir shared by two containers; configMap, secret, downwardAPI and hostPath at their mountPath', async () => {
  writeFileSync(join(hostDir, 'h.txt'), 'from the host\n');
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: vols}}
spec:
  restartPolicy: Never
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: podname, fieldRef: {fieldPath: metadata.name}}]}
  - {name: host, hostPath: {path: ${hostDir}}}
  containers:
  - name: writer
    image: busybox
    command: ["/bin/sh", "-c", "echo shared-data > /out/w.txt; echo written-by-pod > /host/from-pod.txt"]
    volumeMounts: [{name: shared, mountPath: /out}, {name: host, mountPath: /host}]
  - name: reader
    image: busybox
    command: ["/bin/sh", "-c", "while [ ! -f /in/w.txt ]; do sleep 0.1; done; cat /in/w.txt; cat /etc/cfg/color; echo; cat /etc/sec/password; echo; cat /etc/info/labels; echo; cat /etc/info/podname; echo; cat /host/h.txt"]
    volumeMounts: [{name: shared, mountPath: /in}, {name: cfg, mountPath: /etc/cfg}, {name: sec, mountPath: /etc/sec}, {name: info, mountPath: /etc/info}, {name: host, mountPath: /host}]
`);
  await waitFor('pod/vols', '{.status.phase}', 'Succeeded');
  assert.equal(await server.k(['logs', 'vols', '-c', 'reader']), 'shared-data\nblue\ns3cret\napp="vols"\nvols\nfrom the host\n');
  const { readFileSync } = await import('node:fs');
  assert.equal(readFileSync(join(hostDir, 'from-pod.txt'), 'utf8'), 'written-by-pod\n');
});

test('a PVC of the default StorageClass binds; a file one pod writes there a second pod reads', async () => {
  await apply(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
`);
  await waitFor('pvc/data', '{.status.phase}', 'Bound');
  const [name, status, volume, capacity, modes, sc] = cells(await server.k(['get', 'pvc', 'data', '--no-headers']));
  assert.deepEqual([name, status, capacity, modes, sc], ['data', 'Bound', '10Mi', 'RWO', 'standard']);
  assert.match(volume!, /^pvc-[0-9a-f-]{36}$/);
  const claim = (pod: string, cmd: string) =>
    podYaml(pod, ['/bin/sh', '-c', cmd], {
      spec: `  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]\n`,
      container: `    volumeMounts: [{name: d, mountPath: /data}]\n`,
    });
  await apply(claim('pvc-writer', 'echo model-v1 > /data/model.txt'));
  await waitFor('pod/pvc-writer', '{.status.phase}', 'Succeeded');
  await apply(claim('pvc-reader', 'cat /data/model.txt'));
  await waitFor('pod/pvc-reader', '{.status.phase}', 'Succeeded');
  assert.equal(await server.k(['logs', 'pvc-reader']), 'model-v1\n');
});

test('pods reach each other by IP; containers of one pod reach each other on localhost', async () => {
  const serverPy = [
    'import socket',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    "s.bind(('0.0.0.0', 8080))",
    's.listen()',
    'while True:',
    '    c, a = s.accept()',
    "    c.sendall(b'hello from srv\\n')",
    '    c.close()',
  ].join('\n');
  const clientPy = (host: string, who: string) =>
    [
      'import socket, time',
      'for i in range(100):',
      '    try:',
      `        c = socket.create_connection(('${host}', 8080), timeout=2)`,
      '        break',
      '    except OSError:',
      '        time.sleep(0.1)',
      `print('${who} got', c.recv(100).decode().strip(), flush=True)`,
    ].join('\n');
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: srv}
spec:
  containers:
  - name: srv
    image: python
    command: ["/usr/bin/python3", "-u", "-c", ${JSON.stringify(serverPy)}]
  - name: side
    image: python
    command: ["/usr/bin/python3", "-u", "-c", ${JSON.stringify(clientPy('127.0.0.1', 'side') + '\ntime.sleep(3600)')}]
`);
  await server.k(['wait', '--for=condition=Ready', 'pod/srv', '--timeout=30s']);
  const ip = await server.k(['get', 'pod', 'srv', '-o', 'jsonpath={.status.podIP}']);
  assert.match(ip, podIp);
  await server.k(['run', 'client', '--image=python', '--restart=Never', '--command', '--', '/usr/bin/python3', '-c', clientPy(ip, 'client')]);
  await waitFor('pod/client', '{.status.phase}', 'Succeeded');
  assert.equal(await server.k(['logs', 'client']), 'client got hello from srv\n');
  const clientIp = await server.k(['get', 'pod', 'client', '-o', 'jsonpath={.status.podIP}']);
  assert.match(clientIp, podIp);
  assert.notEqual(clientIp, ip);
  await eventually(async () => (await server.k(['logs', 'srv', '-c', 'side'])) === 'side got hello from srv\n', 15_000, 'the sidecar to reach the server on localhost');
  await server.k(['delete', 'pod', 'srv', '--wait=false']);
});

test('a container over its memory limit is OOMKilled', async () => {
  await apply(
    podYaml('oom', ['/usr/bin/python3', '-c', "b = bytearray(200 * 1024 * 1024); print('allocated', flush=True)"], {
      container: '    resources: {limits: {memory: 32Mi}}\n',
    }),
  );
  await waitFor('pod/oom', '{.status.phase}', 'Failed');
  assert.deepEqual(await podRow('oom'), { ready: '0/1', status: 'OOMKilled', restarts: '0' });
  assert.equal(await server.k(['get', 'pod', 'oom', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}']), 'OOMKilled 137');
  assert.doesNotMatch(await server.k(['logs', 'oom']), /allocated/);
});

test('kubectl delete pod: SIGTERM is trapped gracefully; one ignoring it is killed after terminationGracePeriodSeconds', async () => {
  await apply(
    podYaml('trap', ['/bin/sh', '-c', "trap 'echo got SIGTERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"], { restartPolicy: 'Always' }) +
      '---\n' +
      podYaml('stubborn', ['/bin/sh', '-c', "trap '' TERM; echo started; while true; do sleep 0.1; done"], { restartPolicy: 'Always', spec: '  terminationGracePeriodSeconds: 2\n' }),
  );
  await server.k(['wait', '--for=condition=Ready', 'pod/trap', 'pod/stubborn', '--timeout=30s']);
  const follow = stream(['logs', '-f', 'trap'], 'started');
  await follow.ready;
  let t0 = Date.now();
  assert.equal(await server.k(['delete', 'pod', 'trap']), 'pod "trap" deleted\n');
  assert.ok(Date.now() - t0 < 2_000, `graceful exit took ${Date.now() - t0} ms`);
  assert.equal((await follow.done).out, 'started\ngot SIGTERM\n');

  t0 = Date.now();
  assert.equal(await server.k(['delete', 'pod', 'stubborn']), 'pod "stubborn" deleted\n');
  const took = Date.now() - t0;
  assert.ok(took >= 1_800 && took < 6_000, `killed after ${took} ms (grace period 2 s)`);
});

test('unschedulable pods stay Pending with a FailedScheduling event that says why', async () => {
  await apply(
    podYaml('big', ['sleep', '1000'], { restartPolicy: 'Always', container: '    resources: {requests: {cpu: "1000"}}\n' }) +
      '---\n' +
      podYaml('picky', ['sleep', '1000'], { restartPolicy: 'Always', spec: '  nodeSelector: {disk: ssd}\n' }),
  );
  const reason = '{.status.conditions[?(@.type=="PodScheduled")].reason}';
  await waitFor('pod/big', reason, 'Unschedulable');
  await waitFor('pod/picky', reason, 'Unschedulable');
  assert.deepEqual(await podRow('big'), { ready: '0/1', status: 'Pending', restarts: '0' });
  assert.deepEqual(await podRow('picky'), { ready: '0/1', status: 'Pending', restarts: '0' });
  const cpuMsg = '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.';
  const selMsg = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
  await eventually(async () => (await server.k(['describe', 'pod', 'big'])).includes(cpuMsg), 10_000, 'the Insufficient cpu event');
  await eventually(async () => (await server.k(['describe', 'pod', 'picky'])).includes(selMsg), 10_000, 'the node selector event');
  assert.match(await server.k(['describe', 'pod', 'big']), /Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/1 nodes are available: 1 Insufficient cpu\./);
  assert.equal(await server.k(['get', 'pod', 'big', '-o', 'jsonpath={.spec.nodeName}']), '');
  await server.k(['delete', 'pod', 'big', 'picky', '--wait=false']);
});
