import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { runLifecycleHandler, type HookEnv } from './lifecycle.js';
import { runInContainer } from './probes.js';
import { hostSession } from './testing.js';

let cluster: TestCluster;
let server: Server;
let port: number;
const seen: IncomingMessage[] = [];

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', uid: 'uid-1' } };
const container = { name: 'app', ports: [{ name: 'http', containerPort: 0 }] };

function env(extra: Partial<HookEnv> = {}): HookEnv {
  return {
    pod,
    container,
    podIP: '127.0.0.1',
    exec: (argv) => runInContainer(() => hostSession(argv), argv, 0),
    recorder: new EventRecorder(cluster.client, 'kubelet', 'node-1'),
    ...extra,
  };
}

before(async () => {
  cluster = await startTestCluster();
  await cluster.namespace('default');
  server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(req.url === '/broken' ? 500 : 200).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  container.ports[0]!.containerPort = port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await cluster.close();
});

describe('exec hooks', () => {
  it('succeed on exit 0 and word a failure as kubelet does', async () => {
    assert.deepEqual(await runLifecycleHandler({ exec: { command: ['/bin/true'] } }, env()), { message: '' });
    const r = await runLifecycleHandler({ exec: { command: ['/bin/sh', '-c', 'echo out; echo bad >&2; exit 2'] } }, env());
    assert.equal(r.error?.message, "command '/bin/sh -c echo out; echo bad >&2; exit 2' exited with 2: bad\n");
    assert.equal(
      r.message,
      `Exec lifecycle hook ([/bin/sh -c echo out; echo bad >&2; exit 2]) for Container "app" in Pod "web_default(uid-1)" failed - error: command '/bin/sh -c echo out; echo bad >&2; exit 2' exited with 2: bad\n, message: "out\\nbad\\n"`,
    );
  });

  it('report a command that cannot be run', async () => {
    const r = await runLifecycleHandler({ exec: { command: ['x'] } }, env({ exec: () => Promise.reject(new Error('container "app" is not running')) }));
    assert.equal(r.message, 'Exec lifecycle hook ([x]) for Container "app" in Pod "web_default(uid-1)" failed - error: container "app" is not running, message: ""');
  });
});

describe('httpGet hooks', () => {
  it('GET the pod with kube-lifecycle/1.32 on a named port, whatever the status code', async () => {
    assert.deepEqual(await runLifecycleHandler({ httpGet: { path: '/broken', port: 'http' } }, env()), { message: '' });
    assert.equal(seen.at(-1)!.url, '/broken');
    assert.equal(seen.at(-1)!.headers['user-agent'], 'kube-lifecycle/1.32');
  });

  it('fail with the transport error', async () => {
    const s = createTcpServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const closed = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const r = await runLifecycleHandler({ httpGet: { path: '/stop', port: closed } }, env());
    assert.equal(r.message, `HTTP lifecycle hook (/stop) for Container "app" in Pod "web_default(uid-1)" failed - error: Get "http://127.0.0.1:${closed}/stop": dial tcp 127.0.0.1:${closed}: connect: connection refused`);
  });

  it('retry an HTTPS hook that meets a plain HTTP server over HTTP, with a warning event', async () => {
    const before = seen.length;
    assert.deepEqual(await runLifecycleHandler({ httpGet: { path: '/tls', port, scheme: 'HTTPS', httpHeaders: [{ name: 'Authorization', value: 'Bearer x' }] } }, env()), { message: '' });
    assert.equal(seen.length, before + 1);
    assert.equal(seen.at(-1)!.headers.authorization, undefined, 'the retry drops Authorization');
    const events = await eventually(async () => {
      const found = (await cluster.client.list(R.events, 'default')).items.filter((e: any) => e.reason === 'LifecycleHTTPFallback');
      return found.length ? found : undefined;
    }, 'the fallback event');
    assert.equal(events[0].message, `request to HTTPS lifecycle hook 127.0.0.1:${port} got HTTP response, retry with HTTP succeeded`);
    assert.equal(events[0].type, 'Warning');
  });
});

describe('sleep hooks', () => {
  it('wait the seconds given, and fail when the container goes first', async () => {
    const started = Date.now();
    assert.deepEqual(await runLifecycleHandler({ sleep: { seconds: 1 } }, env()), { message: '' });
    assert.ok(Date.now() - started >= 1000);
    const gone = new AbortController();
    const r = runLifecycleHandler({ sleep: { seconds: 30 } }, env({ signal: gone.signal }));
    gone.abort();
    assert.equal((await r).message, 'Sleep lifecycle hook (30) for Container "app" in Pod "web_default(uid-1)" failed - error: container terminated before sleep hook finished');
  });
});
