/**
 * The `cri` runtime end to end: `kite server --runtime cri` (its own
 * containerd, runc, CNI on the node bridge) driven by the real kubectl, with
 * images from a docker-registry on loopback built by the test: a pod from the
 * registry runs, logs and answers exec; the image's own command runs when the
 * pod gives none; a missing image ends in ErrImagePull then ImagePullBackOff
 * with the registry's message; a registry behind htpasswd needs the pod's
 * imagePullSecrets; status names the image by its registry digest; `kubectl
 * top` measures a cri pod; a hostPort reaches the pod on the node (portmap)
 * and goes with it; a tty container is a terminal to `kubectl attach`.
 * Stopping the server leaves nothing of containerd behind (iptables included).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KiteServer, eventually, run } from './harness.js';
import { LocalRegistry, busyboxImage, criLeftovers, criTestSkipReason } from '../../src/kubelet/runtime/cri/testimages.js';

const skip = criTestSkipReason();

let server: KiteServer;
const registry = new LocalRegistry();
const secured = new LocalRegistry({ auth: { username: 'puller', password: 'pull-pw' } });
let busybox: string;
let withCmd: string;
let privateImage: string;
/** The manifest digest of the busybox image in the registry. */
let busyboxDigest: string;

before(async () => {
  if (skip) return;
  await registry.start();
  await secured.start();
  const image = busyboxImage();
  busybox = await registry.push('e2e/busybox', 'v1', image);
  busyboxDigest = image.manifest.digest;
  withCmd = await registry.push('e2e/greeter', 'v1', busyboxImage({ cmd: ['sh', '-c', 'echo "greetings from the image CMD"; sleep 3600'] }));
  // Content of its own: one image pushed to two registries has two digested names, and status names one of them.
  privateImage = await secured.push('e2e/private', 'v1', busyboxImage({ cmd: ['echo', 'private'] }));
  // Metrics scraped every 2 s, so that `kubectl top` need not wait upstream's 15 s.
  server = new KiteServer({ agent: true, extraArgs: ['--runtime', 'cri', '--metric-resolution', '2s'] });
  await server.start();
  await eventually(async () => (await server.k(['get', 'nodes', '-o', 'name'])).trim(), 20_000, 'the node to register');
  await server.namespace('cri');
});

after(async () => {
  if (skip) return;
  const net = server?.podNetwork;
  await server?.stop();
  try {
    // containerd and everything it made went with the node agent.
    if (net) assert.deepEqual(criLeftovers({ dataDir: join(server.dataDir, 'agent'), bridge: net.bridge, cgroupName: net.bridge }), []);
  } finally {
    await server?.cleanup();
    await registry.stop();
    await secured.stop();
  }
});

function pod(name: string, image: string, extra: { command?: string[]; spec?: string } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: cri}
spec:
  restartPolicy: Never
${extra.spec ?? ''}  containers:
  - name: main
    image: ${image}
${extra.command ? `    command: ${JSON.stringify(extra.command)}\n` : ''}`;
}

/** `kubectl get pod` jsonpath. */
const get = (name: string, path: string) => server.k(['-n', 'cri', 'get', 'pod', name, '-o', `jsonpath=${path}`]);

test('the node reports containerd as its runtime', { skip }, async () => {
  const wide = await server.k(['get', 'nodes', '-o', 'wide']);
  assert.match(wide, /CONTAINER-RUNTIME/);
  assert.match(wide, /containerd:\/\/1\.\d+\.\d+\S*\s*$/m);
});

test('a pod from the loopback registry runs, logs, answers exec and gets a pod IP', { skip }, async () => {
  await server.k(['apply', '-f', '-'], pod('hello', busybox, { command: ['sh', '-c', 'echo "hello from $(hostname)"; echo "warn" >&2; exec sleep 3600'] }));
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/hello', '--timeout=60s']);
  const logs = await eventually(async () => {
    const out = await server.k(['-n', 'cri', 'logs', 'hello']);
    return out.includes('warn') ? out : undefined;
  }, 20_000, 'the pod logs');
  // stdout and stderr are two pipes: their lines interleave in either order.
  assert.deepEqual(logs.split('\n').filter(Boolean).sort(), ['hello from hello', 'warn']);
  const ip = await get('hello', '{.status.podIP}');
  const prefix = server.podNetwork!.cidr.split('.').slice(0, 3).join('.');
  assert.ok(ip.startsWith(`${prefix}.`), `pod IP ${ip} in ${server.podNetwork!.cidr}`);
  const r = await server.kubectl(['-n', 'cri', 'exec', 'hello', '--', 'sh', '-c', 'echo $((6 * 7)); cat /proc/1/cmdline | tr "\\0" " "']);
  assert.equal(r.code, 0, r.stderr);
  // The container's own PID namespace: its command is PID 1 (not the sandbox's pause process).
  assert.equal(r.stdout, '42\nsleep 3600 ');
  const bad = await server.kubectl(['-n', 'cri', 'exec', 'hello', '--', 'sh', '-c', 'exit 3']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /command terminated with exit code 3/);
});

test("a pod without a command runs the image's CMD", { skip }, async () => {
  await server.k(['apply', '-f', '-'], pod('greeter', withCmd));
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/greeter', '--timeout=60s']);
  const logs = await eventually(async () => (await server.k(['-n', 'cri', 'logs', 'greeter'])) || undefined, 20_000, 'the pod logs');
  assert.equal(logs, 'greetings from the image CMD\n');
});

test('containers report containerd ids and their image by registry digest', { skip }, async () => {
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/hello', '--timeout=60s']);
  assert.match(await get('hello', '{.status.containerStatuses[0].containerID}'), /^containerd:\/\/[0-9a-f]{64}$/);
  assert.equal(await get('hello', '{.status.containerStatuses[0].image}'), busybox);
  // As kubelet with containerd: `<repository>@sha256:<manifest digest>` (what `kubectl describe` shows as Image ID).
  assert.equal(await get('hello', '{.status.containerStatuses[0].imageID}'), `${registry.host}/e2e/busybox@${busyboxDigest}`);
  assert.match(await server.k(['-n', 'cri', 'describe', 'pod', 'hello']), new RegExp(`Image ID:\\s+${registry.host.replace(/[.]/g, '\\.')}/e2e/busybox@sha256:`));
});

test('kubectl top pod shows the CPU and memory of a cri pod', { skip }, async () => {
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/hello', '--timeout=60s']);
  // Two scrapes make a CPU rate; until then there is nothing to show.
  const out = await eventually(async () => {
    const r = await server.kubectl(['-n', 'cri', 'top', 'pod', 'hello', '--containers']);
    return r.code === 0 && r.stdout.trim() ? r.stdout : undefined;
  }, 30_000, 'metrics of the cri pod');
  const [header, row] = out.trim().split('\n').map((l) => l.trim().split(/ {3,}/));
  assert.deepEqual(header, ['POD', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
  assert.deepEqual(row!.slice(0, 2), ['hello', 'main']);
  assert.match(row![2]!, /^\d+m$/);
  // A sleeping busybox shell holds some memory (its working set from the container's cgroup).
  assert.match(row![3]!, /^\d+Mi$/);
});

test('a hostPort reaches the pod on the node, and is gone with the pod', { skip }, async () => {
  const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
  await server.k(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: cri}
spec:
  containers:
  - name: web
    image: ${busybox}
    command: ["sh", "-c", "mkdir -p /www && echo \\"hello from $(hostname)\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, hostPort: ${hostPort}}]
`);
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/web', '--timeout=60s']);
  const body = await eventually(async () => {
    const r = await run('curl', ['-sS', '-m', '2', `http://127.0.0.1:${hostPort}/`]);
    return r.code === 0 ? r.stdout : undefined;
  }, 20_000, `127.0.0.1:${hostPort}`);
  assert.equal(body, 'hello from web\n');
  // httpd as PID 1 ignores SIGTERM: a short grace period, not the default 30 s.
  await server.k(['-n', 'cri', 'delete', 'pod', 'web', '--grace-period=1', '--wait=true', '--timeout=60s']);
  const after = await run('curl', ['-sS', '-m', '2', `http://127.0.0.1:${hostPort}/`]);
  assert.notEqual(after.code, 0, 'the host port still answers after the pod is gone');
});

test('a tty container is a terminal that kubectl attach talks to', { skip }, async () => {
  await server.k(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: terminal, namespace: cri}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: ${busybox}
    command: ["sh", "-c", "tty; while read line; do echo \\"got $line\\"; [ \\"$line\\" = bye ] && exit 0; done"]
    stdin: true
    tty: true
`);
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/terminal', '--timeout=60s']);
  const r = await server.kubectl(['-n', 'cri', 'attach', '-i', 'terminal'], { input: 'bye\n' });
  assert.equal(r.code, 0, r.stderr);
  // The terminal echoes what was typed and ends lines with CRLF.
  assert.match(r.stdout, /bye\r\ngot bye\r\n/);
  await server.k(['-n', 'cri', 'wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/terminal', '--timeout=30s']);
  const logs = await server.k(['-n', 'cri', 'logs', 'terminal']);
  assert.match(logs, /^\/dev\/pts\/\d+\r?\n/);
});

test("a missing image ends in ErrImagePull, then ImagePullBackOff, with the registry's message", { skip }, async () => {
  const missing = `${registry.host}/e2e/missing:v1`;
  await server.k(['apply', '-f', '-'], pod('missing', missing, { command: ['true'] }));
  const notFound = `failed to pull and unpack image "${missing}": failed to resolve reference "${missing}": ${missing}: not found`;
  const waiting = await eventually(async () => {
    const w = JSON.parse((await get('missing', '{.status.containerStatuses[0].state.waiting}')) || '{}');
    return w.reason === 'ErrImagePull' ? w : undefined;
  }, 30_000, 'ErrImagePull');
  assert.equal(waiting.message, `rpc error: code = NotFound desc = ${notFound}`);
  const backoff = await eventually(async () => {
    const w = JSON.parse((await get('missing', '{.status.containerStatuses[0].state.waiting}')) || '{}');
    return w.reason === 'ImagePullBackOff' ? w : undefined;
  }, 30_000, 'ImagePullBackOff');
  assert.equal(backoff.message, `Back-off pulling image "${missing}": ErrImagePull: rpc error: code = NotFound desc = ${notFound}`);
  const row = await server.k(['-n', 'cri', 'get', 'pod', 'missing', '--no-headers']);
  assert.match(row, /^missing\s+0\/1\s+(ErrImagePull|ImagePullBackOff)\s+0\s/);
  const events = await server.k(['-n', 'cri', 'get', 'events', '--field-selector', 'involvedObject.name=missing', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
  assert.match(events, new RegExp(`Failed: Failed to pull image "${missing.replace(/[.]/g, '\\.')}": rpc error: code = NotFound`));
  assert.match(events, /BackOff: Back-off pulling image/);
});

test('a registry that requires credentials serves only pods with its imagePullSecret', { skip }, async () => {
  await server.k(['apply', '-f', '-'], pod('anonymous', privateImage, { command: ['sleep', '3600'] }));
  const denied = await eventually(async () => {
    const w = JSON.parse((await get('anonymous', '{.status.containerStatuses[0].state.waiting}')) || '{}');
    return w.reason === 'ErrImagePull' || w.reason === 'ImagePullBackOff' ? w : undefined;
  }, 30_000, 'the pull without credentials to fail');
  assert.match(denied.message, /401 Unauthorized/);
  await server.k(['-n', 'cri', 'create', 'secret', 'docker-registry', 'pull', `--docker-server=${secured.host}`, '--docker-username=puller', '--docker-password=pull-pw']);
  await server.k(['apply', '-f', '-'], pod('authorized', privateImage, { command: ['sleep', '3600'], spec: '  imagePullSecrets: [{name: pull}]\n' }));
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/authorized', '--timeout=60s']);
});

test('deleting a pod stops its container gracefully and removes it', { skip }, async () => {
  await server.k(['apply', '-f', '-'], pod('graceful', busybox, { command: ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo up; while :; do sleep 0.1; done'] }));
  await server.k(['-n', 'cri', 'wait', '--for=condition=Ready', 'pod/graceful', '--timeout=60s']);
  await eventually(async () => (await server.k(['-n', 'cri', 'logs', 'graceful'])).includes('up'), 20_000, 'the container to start');
  await server.k(['-n', 'cri', 'delete', 'pod', 'graceful', '--wait=true', '--timeout=60s']);
  const r = await server.kubectl(['-n', 'cri', 'get', 'pod', 'graceful']);
  assert.match(r.stderr, /pods "graceful" not found/);
});
