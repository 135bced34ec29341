/**
 * Services on the real node: `kite server` with its node agent and service
 * proxy (nftables), driven by the real kubectl. Backends are a Deployment of
 * Python HTTP servers that answer with their pod name; clients are bare pods
 * running curl whose logs the tests read. All traffic stays inside this
 * server's pod network.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
let nodeIp: string;
const NS = 'svc-e2e';

/** A backend that answers every GET with `<pod name> <client address>`. */
const BACKEND = `
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('%s %s\\n' % (os.environ['POD_NAME'], self.client_address[0])).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()
`;

async function apply(obj: unknown): Promise<void> {
  await server.k(['apply', '-n', NS, '-f', '-'], JSON.stringify(obj));
}

function service(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...spec } };
}

async function jsonpath(args: string[], path: string): Promise<string> {
  return server.k(['get', '-n', NS, ...args, '-o', `jsonpath=${path}`]);
}

let clients = 0;
/** Runs `script` in a fresh bare pod (sh -c) until it exits, and returns its output lines. */
async function inPod(script: string): Promise<string[]> {
  const name = `client-${++clients}`;
  await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'curlimages/curl', command: ['/bin/sh', '-c', script] }] } });
  await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Succeeded', `pod/${name}`, '--timeout=90s']);
  return (await server.k(['logs', '-n', NS, name])).trim().split('\n');
}

/** `n` GETs of `url`, one line each: the answer, or `curl exit <code>: <error>`. */
function curls(url: string, n: number): string {
  return `for i in $(seq ${n}); do out=$(curl -sS -m 5 ${url} 2>&1); rc=$?; if [ $rc = 0 ]; then echo "$out"; else echo "curl exit $rc: $out"; fi; done`;
}

/** Pod names of the web Deployment, by IP. */
async function webPods(): Promise<Map<string, string>> {
  const out = await jsonpath(['pods', '-l', 'app=web'], '{range .items[*]}{.metadata.name} {.status.podIP}{"\\n"}{end}');
  return new Map(out.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]).map(([n, ip]) => [ip, n]));
}

/** Waits until the Service's EndpointSlices list exactly these addresses. */
async function sliceAddresses(svc: string, want: string[]): Promise<void> {
  let last = '';
  try {
    await eventually(
      async () => {
        last = await jsonpath(['endpointslices', '-l', `kubernetes.io/service-name=${svc}`], '{.items[*].endpoints[*].addresses[0]}');
        return last.split(' ').filter(Boolean).sort().join(' ') === [...want].sort().join(' ');
      },
      60_000,
      `EndpointSlices of ${svc} to list ${want.join(' ')}`,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message} (they list "${last}")`);
  }
}

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await server.namespace(NS);
  nodeIp = await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}']), 10_000, 'the node to register');
  await apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'python:3',
              command: ['python3', '-c', BACKEND],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
  await server.k(['rollout', 'status', '-n', NS, 'deployment/web', '--timeout=90s']);
});

after(async () => {
  await server?.cleanup();
});

test('a ClusterIP Service: every request from a pod reaches a backend, and both backends serve', async () => {
  await apply(service('web', { selector: { app: 'web' } }));
  const pods = await webPods();
  await sliceAddresses('web', [...pods.keys()]);
  const vip = await jsonpath(['service', 'web'], '{.spec.clusterIP}');
  // Wait inside the pod until both servers listen (readiness probes may still be on their way), then use the Service.
  const ready = [...pods.keys()].map((ip) => `until curl -s -m 1 -o /dev/null ${ip}:8080; do sleep 0.2; done`).join('; ');
  const lines = await inPod(`${ready}; ${curls(`http://${vip}/`, 30)}`);
  assert.deepEqual(lines.filter((l) => l.startsWith('curl exit')), [], 'no request fails');
  assert.deepEqual(new Set(lines.map((l) => l.split(' ')[0])), new Set(pods.values()), lines.join('\n'));
});

test('a Service that selects nothing refuses connections at once instead of hanging', async () => {
  await apply(service('nobody', { selector: { app: 'nobody' } }));
  const vip = await jsonpath(['service', 'nobody'], '{.spec.clusterIP}');
  // curl: exit 7 is "couldn't connect" (refused); a hang would end in exit 28 after -m 5.
  const lines = await inPod(curls(`http://${vip}/`, 3));
  assert.equal(lines.length, 3);
  for (const l of lines) assert.match(l, /^curl exit 7: curl: \(7\) Failed to connect to .* Couldn't connect to server$/);
});

test('a Service without a selector reaches the endpoints its EndpointSlice lists, ready ones only', async () => {
  await apply(service('direct', {}));
  const pods = [...(await webPods()).entries()];
  const [ipA, nameA] = pods[0]!;
  const [ipB, nameB] = pods[1]!;
  const slice = (readyB: boolean) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'direct-1', labels: { 'kubernetes.io/service-name': 'direct', 'endpointslice.kubernetes.io/managed-by': 'svc-e2e' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [
      { addresses: [ipA], conditions: { ready: true } },
      { addresses: [ipB], conditions: { ready: readyB } },
    ],
  });
  await apply(slice(true));
  const vip = await jsonpath(['service', 'direct'], '{.spec.clusterIP}');
  const both = await inPod(curls(`http://${vip}/`, 20));
  assert.deepEqual(new Set(both.map((l) => l.split(' ')[0])), new Set([nameA, nameB]), both.join('\n'));
  await apply(slice(false));
  const one = await inPod(curls(`http://${vip}/`, 20));
  assert.deepEqual(new Set(one.map((l) => l.split(' ')[0])), new Set([nameA]), one.join('\n'));
});

test('a pod taken out of the selector stops receiving new connections', async () => {
  const before = await webPods();
  const [leavingIp, leaving] = [...before.entries()][0]!;
  await server.k(['label', 'pod', '-n', NS, leaving, 'app=web-out', '--overwrite']);
  // The ReplicaSet replaces it; the EndpointSlice controller drops it once the label changed.
  await server.k(['rollout', 'status', '-n', NS, 'deployment/web', '--timeout=90s']);
  const now = await webPods();
  assert.ok(!now.has(leavingIp));
  await sliceAddresses('web', [...now.keys()]);
  const vip = await jsonpath(['service', 'web'], '{.spec.clusterIP}');
  const ready = [...now.keys()].map((ip) => `until curl -s -m 1 -o /dev/null ${ip}:8080; do sleep 0.2; done`).join('; ');
  const lines = await inPod(`${ready}; ${curls(`http://${vip}/`, 30)}`);
  assert.deepEqual(lines.filter((l) => l.startsWith('curl exit')), []);
  assert.ok(!lines.some((l) => l.startsWith(`${leaving} `)), `${leaving} still answered:\n${lines.join('\n')}`);
  await server.k(['delete', 'pod', '-n', NS, leaving, '--wait=false']);
});

test('sessionAffinity ClientIP: all requests of a client go to one backend', async () => {
  await apply(service('sticky', { selector: { app: 'web' }, sessionAffinity: 'ClientIP' }));
  const pods = await webPods();
  await sliceAddresses('sticky', [...pods.keys()]);
  const vip = await jsonpath(['service', 'sticky'], '{.spec.clusterIP}');
  const lines = await inPod(curls(`http://${vip}/`, 20));
  assert.deepEqual(lines.filter((l) => l.startsWith('curl exit')), []);
  assert.equal(new Set(lines.map((l) => l.split(' ')[0])).size, 1, lines.join('\n'));
});

test('NodePort and LoadBalancer: EXTERNAL-IP shows the node address, and pods reach both on it', async () => {
  await apply(service('lb', { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 8081, targetPort: 8080 }] }));
  let row: string[] = [];
  try {
    await eventually(async () => {
      row = (await server.k(['get', 'service', '-n', NS, 'lb', '--no-headers'])).trim().split(/\s+/);
      return row[3] === nodeIp;
    }, 30_000, `EXTERNAL-IP of lb to be ${nodeIp}`);
  } catch (e) {
    throw new Error(`${(e as Error).message} (row: ${row.join(' ')})`);
  }
  const nodePort = await jsonpath(['service', 'lb'], '{.spec.ports[0].nodePort}');
  assert.deepEqual(row.slice(0, 5), ['lb', 'LoadBalancer', row[2], nodeIp, `8081:${nodePort}/TCP`]);
  assert.equal(await jsonpath(['service', 'lb'], '{.status.loadBalancer.ingress[0].ipMode}'), 'VIP');
  await sliceAddresses('lb', [...(await webPods()).keys()]);
  const names = new Set((await webPods()).values());
  const lines = await inPod(`${curls(`http://${nodeIp}:8081/`, 5)}; ${curls(`http://${nodeIp}:${nodePort}/`, 5)}`);
  assert.equal(lines.length, 10);
  for (const l of lines) assert.ok(names.has(l.split(' ')[0]!), l);
});

test('stopping the server removes its nftables table', async () => {
  const m = /Service proxy started \(nftables table ip (\S+)\)/.exec(server.log);
  assert.ok(m, server.log);
  assert.ok(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(`table ip ${m[1]}\n`));
  await server.stop();
  assert.ok(!execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(`table ip ${m[1]}\n`));
});
