import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createCa, issueCert } from '../apiserver/auth/certs.js';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import {
  ProbeManager,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  execProbe,
  expandStatic,
  grpcProbe,
  httpGetRequest,
  httpProbe,
  probeContainer,
  resolveContainerPort,
  runInContainer,
  tcpProbe,
  type ProbeResult,
  type ProbeTarget,
} from './probes.js';
import { hostSession } from './testing.js';

/** An HTTP server on loopback answering with `handler`; remembers every request. */
async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function close(server: { close(cb: () => void): unknown; closeAllConnections?: () => void }): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

/** A free loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await close(s);
  return port;
}

const runLocal = (argv: string[], timeoutMs: number) => runInContainer(() => hostSession(argv), argv, timeoutMs);

describe('httpGet requests', () => {
  it('aims at the pod IP and port with kube-probe/1.32 and Accept */* unless the probe sets headers', () => {
    const c = { name: 'web', ports: [{ name: 'http', containerPort: 8080 }] };
    const req = httpGetRequest({ port: 'http', path: 'healthz', httpHeaders: [{ name: 'x-custom-header', value: 'a' }] }, c, '10.244.0.5', 'probe');
    assert.deepEqual(req, {
      scheme: 'http',
      host: '10.244.0.5',
      port: 8080,
      path: '/healthz',
      headers: [
        ['X-Custom-Header', 'a'],
        ['User-Agent', 'kube-probe/1.32'],
        ['Accept', '*/*'],
      ],
    });
    const own = httpGetRequest({ port: 81, host: 'example.test', scheme: 'HTTPS', httpHeaders: [{ name: 'user-agent', value: 'mine' }, { name: 'Accept', value: '' }] }, c, '10.244.0.5', 'lifecycle');
    assert.deepEqual([own.scheme, own.host, own.port, own.headers], ['https', 'example.test', 81, [['User-Agent', 'mine']]]);
    assert.deepEqual(httpGetRequest({ port: 80 }, c, '10.0.0.1', 'lifecycle').headers[0], ['User-Agent', 'kube-lifecycle/1.32']);
  });

  it('resolves ports by name, then as numbers, with upstream errors', () => {
    const c = { ports: [{ name: 'metrics', containerPort: 9090 }] };
    assert.equal(resolveContainerPort('metrics', c), 9090);
    assert.equal(resolveContainerPort('8443', c), 8443);
    assert.throws(() => resolveContainerPort('web', c), { message: 'strconv.Atoi: parsing "web": invalid syntax' });
    assert.throws(() => resolveContainerPort(0, c), { message: 'invalid port number: 0' });
    assert.throws(() => resolveContainerPort(70000, c), { message: 'invalid port number: 70000' });
  });
});

describe('httpGet probes', () => {
  let srv: Awaited<ReturnType<typeof httpServer>>;
  before(async () => {
    srv = await httpServer((req, res) => {
      if (req.url === '/ok') res.end('fine');
      else if (req.url === '/fail') res.writeHead(503).end('secret details');
      else if (req.url === '/hop') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/away') res.writeHead(301, { location: `http://127.0.0.2:${srv.port}/ok` }).end('moved');
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 3000);
      else res.writeHead(404).end();
    });
  });
  after(() => close(srv.server));

  const get = (path: string, headers: any[] = []) => httpGetRequest({ port: srv.port, path, httpHeaders: headers }, {}, '127.0.0.1', 'probe');

  it('succeeds on 2xx and sends the probe headers', async () => {
    assert.deepEqual(await httpProbe(get('/ok', [{ name: 'Host', value: 'app.example' }, { name: 'X-Trace', value: '1' }]), 1000), { result: 'success', output: 'fine' });
    const req = srv.seen.at(-1)!;
    assert.equal(req.headers['user-agent'], 'kube-probe/1.32');
    assert.equal(req.headers.accept, '*/*');
    assert.equal(req.headers.host, 'app.example');
    assert.equal(req.headers['x-trace'], '1');
  });

  it('fails on other codes without the body in the message', async () => {
    assert.deepEqual(await httpProbe(get('/fail'), 1000), { result: 'failure', output: 'HTTP probe failed with statuscode: 503' });
  });

  it('follows redirects on the same host and warns about one to another host', async () => {
    assert.equal((await httpProbe(get('/hop'), 1000)).result, 'success');
    assert.deepEqual(await httpProbe(get('/away'), 1000), { result: 'warning', output: 'Probe terminated redirects, Response body: moved' });
    assert.deepEqual(await httpProbe(get('/loop'), 1000), { result: 'failure', output: `Get "http://127.0.0.1:${srv.port}/loop": stopped after 10 redirects` });
  });

  it('fails with Go client errors on timeouts and refused connections', async () => {
    assert.deepEqual(await httpProbe(get('/slow'), 300), {
      result: 'failure',
      output: `Get "http://127.0.0.1:${srv.port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
    const port = await closedPort();
    const refused = await httpProbe(httpGetRequest({ port, path: '/' }, {}, '127.0.0.1', 'probe'), 1000);
    assert.deepEqual(refused, { result: 'failure', output: `Get "http://127.0.0.1:${port}/": dial tcp 127.0.0.1:${port}: connect: connection refused` });
  });

  it('speaks HTTPS without verifying the certificate', async () => {
    const ca = await createCa('probe-test-ca');
    const cert = await issueCert(ca, { commonName: 'pod', ips: ['127.0.0.1'], usage: 'server' });
    const tls = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end('secure'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    try {
      const req = httpGetRequest({ port: (tls.address() as AddressInfo).port, path: '/', scheme: 'HTTPS' }, {}, '127.0.0.1', 'probe');
      assert.deepEqual(await httpProbe(req, 1000), { result: 'success', output: 'secure' });
    } finally {
      await close(tls);
    }
  });
});

describe('tcpSocket probes', () => {
  it('succeeds when the port accepts and fails with the dial error otherwise', async () => {
    const s = createTcpServer((sock) => sock.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    try {
      assert.deepEqual(await tcpProbe('127.0.0.1', port, 1000), { result: 'success', output: '' });
    } finally {
      await close(s);
    }
    const closed = await closedPort();
    assert.deepEqual(await tcpProbe('127.0.0.1', closed, 1000), { result: 'failure', output: `dial tcp 127.0.0.1:${closed}: connect: connection refused` });
  });
});

describe('grpc probes', () => {
  let server: grpc.Server;
  let bare: grpc.Server;
  let port: number;
  let barePort: number;
  const seen: { service: string; userAgent: string }[] = [];
  const identity = (b: Buffer) => b;

  before(async () => {
    server = new grpc.Server();
    const statuses: Record<string, number> = { '': 1, down: 2 };
    server.addService(
      {
        Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
      } as grpc.ServiceDefinition,
      {
        Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          // HealthCheckRequest: field 1, the service name.
          const service = call.request.length ? call.request.subarray(2).toString('utf8') : '';
          seen.push({ service, userAgent: String(call.metadata.get('user-agent')[0] ?? '') });
          const st = statuses[service];
          if (st === undefined) return cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
          cb(null, st ? Buffer.from([0x08, st]) : Buffer.alloc(0));
        },
      },
    );
    bare = new grpc.Server();
    const bind = (s: grpc.Server) => new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    port = await bind(server);
    barePort = await bind(bare);
  });
  after(() => {
    server.forceShutdown();
    bare.forceShutdown();
  });

  it('encodes the request and decodes the response as protobuf', () => {
    assert.deepEqual([...encodeHealthCheckRequest('db')], [0, 0, 0, 0, 4, 0x0a, 2, 0x64, 0x62]);
    assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
    assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 2])), 2);
    assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 0])), 0);
  });

  it('succeeds when the service is SERVING and sends kube-probe/1.32 as user agent', async () => {
    assert.deepEqual(await grpcProbe('127.0.0.1', port, '', 1000), { result: 'success', output: 'service is serving' });
    assert.match(seen.at(-1)!.userAgent, /^kube-probe\/1\.32 /);
  });

  it('fails with grpc_health_probe words for NOT_SERVING, unknown services and servers without the health service', async () => {
    assert.deepEqual(await grpcProbe('127.0.0.1', port, 'down', 1000), { result: 'failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
    assert.equal(seen.at(-1)!.service, 'down');
    assert.deepEqual(await grpcProbe('127.0.0.1', port, 'other', 1000), { result: 'failure', output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service' });
    const bareOut = await grpcProbe('127.0.0.1', barePort, '', 1000);
    assert.equal(bareOut.result, 'failure');
    assert.match(bareOut.output, /^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): /);
  });

  it('fails with a connect timeout when nothing listens', async () => {
    const closed = await closedPort();
    assert.deepEqual(await grpcProbe('127.0.0.1', closed, '', 500), { result: 'failure', output: `timeout: failed to connect service "127.0.0.1:${closed}" within 500ms: context deadline exceeded` });
  });
});

describe('exec probes', () => {
  it('succeeds on exit 0 and fails with stdout then stderr otherwise', async () => {
    assert.deepEqual(await execProbe(runLocal, ['/bin/sh', '-c', 'echo ok'], 1000), { result: 'success', output: 'ok\n' });
    assert.deepEqual(await execProbe(runLocal, ['/bin/sh', '-c', 'echo err >&2; echo out; exit 3'], 1000), { result: 'failure', output: 'out\nerr\n' });
  });

  it('fails with the runtime timeout message and kills the command', async () => {
    const started = Date.now();
    assert.deepEqual(await execProbe(runLocal, ['/bin/sleep', '5'], 200), { result: 'failure', output: 'command "/bin/sleep 5" timed out' });
    assert.ok(Date.now() - started < 3000);
  });

  it('expands $(VAR) from the container env values only', () => {
    assert.deepEqual(expandStatic(['echo', '$(A)-$(B)-$(C)'], [{ name: 'A', value: 'x' }, { name: 'B', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]), ['echo', 'x--$(C)']);
  });
});

describe('probe events', () => {
  let cluster: TestCluster;
  let recorder: EventRecorder;
  before(async () => {
    cluster = await startTestCluster();
    await cluster.namespace('default');
    recorder = new EventRecorder(cluster.client, 'kubelet', 'node-1');
  });
  after(() => cluster.close());

  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u-1' } };
  const messages = async () => (await cluster.client.list(R.events, 'default')).items.map((e: any) => `${e.type} ${e.reason}: ${e.message}`);

  it('records Unhealthy for a failure and for a probe that cannot run, with upstream wording', async () => {
    const srv = await httpServer((_req, res) => res.writeHead(500).end());
    try {
      const env = { pod, container: { name: 'c' }, podIP: '127.0.0.1', exec: runLocal };
      assert.equal(await probeContainer('liveness', { httpGet: { port: srv.port, path: '/' }, timeoutSeconds: 1 }, env, recorder), 'failure');
      assert.equal(await probeContainer('readiness', { tcpSocket: { port: 'nope' }, timeoutSeconds: 1 }, env, recorder), undefined);
      assert.equal(await probeContainer('startup', { exec: { command: ['/bin/true'] } }, env, recorder), 'success');
      await eventually(async () => (await messages()).length === 2, 'two events');
      assert.deepEqual((await messages()).sort(), ['Warning Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500', 'Warning Unhealthy: Readiness probe errored: strconv.Atoi: parsing "nope": invalid syntax']);
    } finally {
      await close(srv.server);
    }
  });
});

describe('probe workers', () => {
  let cluster: TestCluster;
  let recorder: EventRecorder;
  let manager: ProbeManager;
  let srv: Awaited<ReturnType<typeof httpServer>>;
  /** What each path answers, and how often it was asked. */
  const codes: Record<string, number> = {};
  const hits: Record<string, number> = {};
  const targets = new Map<string, ProbeTarget>();
  const results: { container: string; type: string; result: ProbeResult; hits: number }[] = [];

  before(async () => {
    cluster = await startTestCluster();
    recorder = new EventRecorder(cluster.client, 'kubelet', 'node-1');
    srv = await httpServer((req, res) => {
      const path = req.url!;
      hits[path] = (hits[path] ?? 0) + 1;
      res.writeHead(codes[path] ?? 404).end();
    });
    manager = new ProbeManager({
      target: (uid, name) => targets.get(`${uid}/${name}`),
      onResult: (_uid, container, type, result) => results.push({ container, type, result, hits: hits[`/${container}-${type}`] ?? 0 }),
      recorder,
      now: () => new Date(),
      log: () => {},
    });
  });
  after(async () => {
    manager.stop();
    await close(srv.server);
    await cluster.close();
  });

  const probe = (container: string, type: string, extra: any = {}) => ({ httpGet: { port: srv.port, path: `/${container}-${type}` }, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, ...extra });
  const podOf = (uid: string, containers: any[]) => ({ metadata: { uid, name: uid, namespace: 'default' }, spec: { containers } });
  const running = (pod: any, name: string, id: string, since = new Date()): ProbeTarget => ({
    containerID: id,
    runningSince: since,
    terminated: false,
    willRestart: true,
    podTerminal: false,
    deleting: false,
    podIP: '127.0.0.1',
    pod,
    exec: runLocal,
  });
  const resultsOf = (container: string, type: string) => results.filter((r) => r.container === container && r.type === type);

  it('holds readiness at failure, then counts successThreshold and failureThreshold runs in a row', async () => {
    codes['/r-readiness'] = 200;
    const pod = podOf('pod-r', [{ name: 'r', readinessProbe: probe('r', 'readiness', { successThreshold: 2, failureThreshold: 2 }) }]);
    targets.set('pod-r/r', running(pod, 'r', 'process://r1'));
    manager.addPod(pod);
    const ready = await eventually(() => resultsOf('r', 'readiness').find((x) => x.result === 'success'), 'ready');
    assert.equal(resultsOf('r', 'readiness')[0]!.result, 'failure', 'a new container starts unready');
    assert.equal(ready.hits, 2, 'two successes in a row were needed');
    assert.equal(manager.isReady('pod-r', 'r', 'process://r1'), true);
    codes['/r-readiness'] = 500;
    const before = hits['/r-readiness']!;
    const unready = await eventually(() => resultsOf('r', 'readiness').find((x, i) => i > 1 && x.result === 'failure'), 'unready');
    assert.equal(unready.hits - before, 2, 'two failures in a row were needed');
    assert.equal(manager.isReady('pod-r', 'r', 'process://r1'), false);
    manager.removePod('pod-r');
    assert.equal(manager.result('readiness', 'process://r1'), undefined, 'results go with the pod');
  });

  it('runs liveness only once the startup probe passed, and holds a failed liveness probe until a new container', async () => {
    codes['/s-startup'] = 500;
    codes['/s-liveness'] = 500;
    const pod = podOf('pod-s', [{ name: 's', startupProbe: probe('s', 'startup', { failureThreshold: 30 }), livenessProbe: probe('s', 'liveness', { failureThreshold: 1 }) }]);
    targets.set('pod-s/s', running(pod, 's', 'process://s1'));
    manager.addPod(pod);
    await eventually(() => (hits['/s-startup'] ?? 0) >= 2, 'startup probing');
    assert.equal(hits['/s-liveness'], undefined, 'no liveness probe before the container started');
    assert.equal(manager.isStarted('pod-s', 's', 'process://s1'), false);
    codes['/s-startup'] = 200;
    await eventually(() => manager.isStarted('pod-s', 's', 'process://s1'), 'started');
    const failed = await eventually(() => resultsOf('s', 'liveness').find((x) => x.result === 'failure'), 'liveness failure');
    assert.equal(manager.result('liveness', 'process://s1'), 'failure');
    const held = hits['/s-liveness']!;
    assert.equal(held, failed.hits);
    // A new container (the restart) resumes probing, from the initial verdicts.
    codes['/s-liveness'] = 200;
    targets.set('pod-s/s', running(pod, 's', 'process://s2'));
    await eventually(() => manager.result('liveness', 'process://s2') === 'success' && (hits['/s-liveness'] ?? 0) > held, 'probing the new container');
    assert.equal(manager.result('liveness', 'process://s1'), undefined);
    manager.removePod('pod-s');
  });

  it('waits initialDelaySeconds after the container started and stops once the pod is terminal', async () => {
    codes['/d-readiness'] = 200;
    const pod = podOf('pod-d', [{ name: 'd', readinessProbe: probe('d', 'readiness', { initialDelaySeconds: 1 }) }]);
    const since = new Date();
    targets.set('pod-d/d', running(pod, 'd', 'process://d1', since));
    manager.addPod(pod);
    const ready = await eventually(() => resultsOf('d', 'readiness').find((x) => x.result === 'success'), 'ready after the delay');
    assert.ok(Date.now() - since.getTime() >= 1000, 'not probed before initialDelaySeconds');
    assert.equal(ready.hits, 1);
    targets.set('pod-d/d', { ...running(pod, 'd', 'process://d1', since), podTerminal: true });
    await eventually(() => !manager.hasProbe('pod-d', 'd', 'readiness'), 'the worker to stop');
    assert.equal(manager.result('readiness', 'process://d1'), undefined);
  });
});
