/**
 * kubectl exec, attach, cp and port-forward against `kite server` with its
 * node agent: the real kubectl speaks its first-choice protocols
 * (WebSocket `v5.channel.k8s.io`, SPDY tunnelled in a WebSocket for
 * port-forward) and, with its feature switches off, plain SPDY, through the
 * API server to the node's streaming server. Exit codes, stdin, a real
 * terminal (kubectl driven under a pseudo-terminal), files both ways,
 * forwarded ports (pod, service, deployment) reached with curl, and
 * upstream's error texts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KiteServer, KUBECTL, run } from './harness.js';

const NS = 'streams';
let server: KiteServer;
let localDir: string;

/** A Python HTTP server bound to 127.0.0.1 only: reachable by port-forward (it dials localhost inside the pod), not from outside. */
const HTTP_SERVER = ['python3', '-m', 'http.server', '8080', '--bind', '127.0.0.1', '--directory', '/site'];

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  localDir = mkdtempSync(join(tmpdir(), 'kite-e2e-cp-'));
  await server.namespace(NS);
  await server.k(
    ['apply', '-n', NS, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'shell', labels: { app: 'shell' } },
          spec: {
            restartPolicy: 'Never',
            volumes: [{ name: 'work', emptyDir: {} }],
            containers: [
              { name: 'main', image: 'debian', command: ['sleep', '3600'], env: [{ name: 'GREETING', value: 'hello from the pod' }], workingDir: '/work', volumeMounts: [{ name: 'work', mountPath: '/work' }] },
              { name: 'quick', image: 'debian', command: ['true'] },
            ],
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'reader' },
          spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'debian', stdin: true, stdinOnce: true, command: ['sh', '-c', 'read line; echo "got $line"; echo "to stderr" >&2'] }] },
        },
        // A terminal container, as `kubectl run -it` makes one: a shell on its own pseudo-terminal.
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'term' }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'debian', stdin: true, tty: true, command: ['sh'] }] } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'finished' }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'debian', command: ['true'] }] } },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web' },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                volumes: [{ name: 'site', emptyDir: {} }],
                initContainers: [{ name: 'page', image: 'debian', command: ['sh', '-c', 'echo "served through port-forward" > /site/index.html'], volumeMounts: [{ name: 'site', mountPath: '/site' }] }],
                containers: [{ name: 'http', image: 'python', command: HTTP_SERVER, ports: [{ name: 'http', containerPort: 8080 }], volumeMounts: [{ name: 'site', mountPath: '/site' }] }],
              },
            },
          },
        },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
      ],
    }),
  );
  await server.k(['wait', '-n', NS, '--for=condition=Ready', 'pod/reader', 'pod/term', '--timeout=60s']);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Succeeded', 'pod/finished', '--timeout=60s']);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.containerStatuses[?(@.name=="quick")].state.terminated.reason}=Completed', 'pod/shell', '--timeout=60s']);
  await server.k(['wait', '-n', NS, '--for=condition=Available', 'deployment/web', '--timeout=60s']);
});

after(async () => {
  await server?.cleanup();
  if (localDir) rmSync(localDir, { recursive: true, force: true });
});

/** kubectl in the test namespace. */
const kubectl = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) => server.kubectl(['-n', NS, ...args], opts);

test('exec runs the command in the container and returns its output, streams apart', async () => {
  const r = await kubectl(['exec', 'shell', '-c', 'main', '--', 'sh', '-c', 'echo "$GREETING"; pwd; hostname; echo to-stderr >&2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello from the pod\n/work\nshell\n');
  assert.equal(r.stderr, 'to-stderr\n');
});

test("exec ends with the command's exit code and kubectl's message for it", async () => {
  const r = await kubectl(['exec', 'shell', '-c', 'main', '--', 'sh', '-c', 'exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stderr, 'command terminated with exit code 3\n');
});

test('exec -i feeds stdin to the command up to its end', async () => {
  const r = await kubectl(['exec', '-i', 'shell', '-c', 'main', '--', 'sh', '-c', 'tr a-z A-Z; echo "[eof]"'], { input: 'some input\nmore\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'SOME INPUT\nMORE\n[eof]\n');
});

test('exec -it gives the command a terminal of the client size; the exit code comes back', async () => {
  // kubectl needs a terminal of its own: it runs under util-linux script, whose terminal is 33x101.
  const cmd = `stty rows 33 cols 101; exec ${KUBECTL} -n ${NS} exec -it shell -c main -- sh`;
  // The size arrives on the resize channel just after the shell starts (as upstream): the typed line waits for it.
  const typed = 'tty; until [ "$(stty size)" != "0 0" ]; do sleep 0.1; done; stty size; echo "answer $((6*7))"\nexit 5\n';
  const r = await run('script', ['--quiet', '--return', '--command', cmd, '/dev/null'], { env: { KUBECONFIG: server.kubeconfig }, input: typed });
  assert.equal(r.code, 5, r.stdout);
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /\/dev\/pts\/\d+\n33 101\nanswer 42\n/);
  assert.match(out, /command terminated with exit code 5\n$/);
});

test('exec works over SPDY too (kubectl with its WebSocket switch off)', async () => {
  const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };
  const r = await kubectl(['exec', '-i', 'shell', '-c', 'main', '--', 'sh', '-c', 'cat; exit 4'], { env, input: 'over spdy\n' });
  assert.equal(r.stdout, 'over spdy\n');
  assert.equal(r.code, 4);
  assert.equal(r.stderr, 'command terminated with exit code 4\n');
});

test('exec errors read as upstream: unknown container, missing command, finished pod, exited container', async () => {
  const unknown = await kubectl(['exec', 'shell', '-c', 'nope', '--', 'true']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'Error from server (BadRequest): container nope is not valid for pod shell\n');

  const missing = await kubectl(['exec', 'shell', '-c', 'main', '--', 'no-such-command']);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown\n$/,
  );

  const finished = await kubectl(['exec', 'finished', '--', 'true']);
  assert.equal(finished.code, 1);
  assert.equal(finished.stderr, 'error: cannot exec into a container in a completed pod; current phase is Succeeded\n');

  // The pod runs, this container of it does not: the kubelet refuses, reported as the API server's stream translator does.
  const exited = await kubectl(['exec', 'shell', '-c', 'quick', '--', 'true']);
  assert.equal(exited.code, 1);
  assert.equal(exited.stderr, 'error: Internal error occurred: unable to upgrade connection: container not found ("quick")\n');
  const overSpdy = await kubectl(['exec', 'shell', '-c', 'quick', '--', 'true'], { env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } });
  assert.equal(overSpdy.stderr, 'error: unable to upgrade connection: container not found ("quick")\n');
});

test('exec is authorized on pods/exec, and needs an upgrade', async () => {
  // jane may read pods (kubectl looks the pod up first) but not exec into them.
  await server.k(
    ['apply', '-n', NS, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'jane-reads' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'jane' }] },
      ],
    }),
  );
  // The WebSocket GET is refused (get), kubectl falls back to SPDY, refused too (create): kubectl shows the last.
  const denied = await kubectl(['exec', '--as=jane', 'shell', '-c', 'main', '--', 'true']);
  assert.equal(denied.code, 1);
  assert.equal(denied.stderr, 'Error from server (Forbidden): pods "shell" is forbidden: User "jane" cannot create resource "pods/exec" in API group "" in the namespace "streams"\n');
  const plain = await kubectl(['get', '--raw', `/api/v1/namespaces/${NS}/pods/shell/exec?container=main&command=true&stdout=true`]);
  assert.equal(plain.code, 1);
  assert.equal(plain.stderr, 'Error from server (BadRequest): Upgrade request required\n');
});

test('attach -i writes to the container stdin and shows its output until it exits', async () => {
  const r = await kubectl(['attach', '-i', 'reader'], { input: 'hello attach\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'got hello attach\n');
  assert.match(r.stderr, /to stderr\n$/);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Succeeded', 'pod/reader', '--timeout=30s']);
});

test("attach -it to a tty container: typed commands run on its terminal, echoed, at the client's size", async () => {
  // kubectl runs under util-linux script (a terminal of 33x101) as in the exec -it test. The container's terminal starts
  // at 0x0; kubectl attach first sends a size one larger (34x102, to make programs redraw), then the real one: the
  // typed loop waits (at most 5 s) for the real size to arrive.
  const cmd = `stty rows 33 cols 101; exec ${KUBECTL} -n ${NS} attach -it term -c main`;
  const typed = 'i=0; until [ "$(stty size)" = "33 101" ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done; stty size; echo "TERM=$TERM answer $((6*7))"\nexit 7\n';
  const r = await run('script', ['--quiet', '--return', '--command', cmd, '/dev/null'], { env: { KUBECONFIG: server.kubeconfig }, input: typed });
  const out = r.stdout.replace(/\r/g, '');
  // After kubectl's hint, the container's terminal echoes what was typed (the client's own terminal is raw by then), then the answers.
  assert.match(out, /try pressing enter\.\ni=0; until .* answer \$\(\(6\*7\)\)"\nexit 7\n33 101\nTERM=xterm answer 42\n/);
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.containerStatuses[0].state.terminated.exitCode}=7', 'pod/term', '--timeout=30s']);
  // The log of a terminal holds its output (echo included), stdout only.
  const logs = (await kubectl(['logs', 'term'])).stdout.replace(/\r/g, '');
  assert.match(logs, /\n33 101\nTERM=xterm answer 42\n/);
});

test('run -it --rm gives a shell on a terminal, then removes the pod', { timeout: 120_000 }, async () => {
  const cmd = `stty rows 24 cols 80; exec ${KUBECTL} -n ${NS} run -it --rm --restart=Never t --image=debian -- sh`;
  const r = await run('script', ['--quiet', '--return', '--command', cmd, '/dev/null'], { env: { KUBECONFIG: server.kubeconfig }, input: 'echo hi; exit\n', timeoutMs: 90_000 });
  const out = r.stdout.replace(/\r/g, '');
  assert.equal(r.code, 0, out);
  assert.match(out, /try pressing enter\.\necho hi; exit\nhi\npod "t" deleted\n$/);
  const gone = await kubectl(['get', 'pod', 't']);
  assert.equal(gone.stderr, 'Error from server (NotFound): pods "t" not found\n');
});

test('cp copies files and directories into the pod and back', async () => {
  writeFileSync(join(localDir, 'notes.txt'), 'line one\nline two\n');
  mkdirSync(join(localDir, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(localDir, 'tree', 'top.txt'), 'top\n');
  writeFileSync(join(localDir, 'tree', 'sub', 'deep.bin'), Buffer.from([0, 1, 2, 255, 254]));

  const up = await kubectl(['cp', join(localDir, 'notes.txt'), 'shell:/work/notes.txt', '-c', 'main']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((await kubectl(['exec', 'shell', '-c', 'main', '--', 'cat', '/work/notes.txt'])).stdout, 'line one\nline two\n');
  const upDir = await kubectl(['cp', join(localDir, 'tree'), 'shell:/work/tree', '-c', 'main']);
  assert.equal(upDir.code, 0, upDir.stderr);
  assert.equal((await kubectl(['exec', 'shell', '-c', 'main', '--', 'sh', '-c', 'cd /work/tree && find . -type f | sort && od -An -tu1 sub/deep.bin'])).stdout, './sub/deep.bin\n./top.txt\n   0   1   2 255 254\n');

  await kubectl(['exec', 'shell', '-c', 'main', '--', 'sh', '-c', 'echo "made in the pod" > /work/made.txt']);
  const down = await kubectl(['cp', 'shell:/work/made.txt', join(localDir, 'made.txt'), '-c', 'main']);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(readFileSync(join(localDir, 'made.txt'), 'utf8'), 'made in the pod\n');
  const downDir = await kubectl(['cp', 'shell:/work/tree', join(localDir, 'back'), '-c', 'main']);
  assert.equal(downDir.code, 0, downDir.stderr);
  assert.equal(readFileSync(join(localDir, 'back', 'top.txt'), 'utf8'), 'top\n');
  assert.deepEqual([...readFileSync(join(localDir, 'back', 'sub', 'deep.bin'))], [0, 1, 2, 255, 254]);
});

/** Runs `kubectl port-forward` until it says where it listens; returns the local port and the process (stopped by the caller, by pid). */
async function portForward(target: string, ports: string, env: Record<string, string> = {}): Promise<{ port: number; proc: ChildProcess; output: () => string }> {
  const proc = spawn(KUBECTL, ['-n', NS, 'port-forward', '--address', '127.0.0.1', target, ports], { env: { ...process.env, KUBECONFIG: server.kubeconfig, ...env } });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}: ${output}`)));
  });
  return { port, proc, output: () => output };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  await exited;
}

for (const [what, target, env] of [
  ['a pod', 'deployment/web', {}],
  ['a service (kubectl picks a pod and maps the port)', 'service/web', {}],
  ['a pod over plain SPDY', 'deployment/web', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
] as const) {
  test(`port-forward to ${what} reaches the server listening on localhost in the pod`, { timeout: 120_000 }, async () => {
    const remote = target.startsWith('service/') ? '80' : '8080';
    const pf = await portForward(target, `:${remote}`, env);
    try {
      for (let i = 0; i < 3; i++) {
        // Each request is its own forwarded connection.
        const r = await run('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${pf.port}/index.html`]);
        assert.equal(r.stdout, 'served through port-forward\n', r.stderr);
      }
      assert.match(pf.output(), new RegExp(`Forwarding from 127\\.0\\.0\\.1:${pf.port} -> 8080`));
      assert.match(pf.output(), /Handling connection for \d+/);
    } finally {
      await stop(pf.proc);
    }
  });
}

test('port-forward to a port nothing listens on reports the error and ends', { timeout: 120_000 }, async () => {
  const pod = (await server.k(['get', 'pods', '-n', NS, '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const pf = await portForward(`pod/${pod}`, ':9999');
  try {
    // kubectl may exit before curl does: listen for its exit first.
    const exited = once(pf.proc, 'exit');
    const r = await run('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${pf.port}/`]);
    assert.notEqual(r.code, 0);
    const [code] = (await exited) as [number];
    assert.equal(code, 1);
    // kubectl logs it through klog, which escapes the quotes.
    const text = pf.output().replace(/\\"/g, '"');
    assert.match(text, new RegExp(`an error occurred forwarding ${pf.port} -> 9999: error forwarding port 9999 to pod kite-[0-9a-z]+, uid : failed to execute portforward in network namespace "/var/run/netns/kite-[0-9a-z]+": failed to connect to localhost:9999 inside namespace "kite-[0-9a-z]+", IPv4: dial tcp4 127\\.0\\.0\\.1:9999: connect: connection refused`));
    assert.match(pf.output(), /error: lost connection to pod\n$/);
  } finally {
    await stop(pf.proc);
  }
});
