/**
 * Cluster DNS end to end: `kite server` with its node agent, driven by the
 * real kubectl. The kube-dns Service and its endpoint on the node bridge,
 * EndpointSlices and Endpoints kept from pod readiness, pods resolving
 * Service names (short, namespaced, FQDN), headless names to pod IPs and
 * hostname+subdomain pods by FQDN through glibc, and resolv.conf from
 * dnsPolicy / dnsConfig.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
/** The node bridge's gateway address: where the node serves DNS. */
let gateway: string;
/** The kube-dns Service address: the 10th of the service range. */
let dnsIp: string;
const NS = 'dns-e2e';

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  const cidr = await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].spec.podCIDR}']), 10_000, 'the node to register');
  gateway = cidr.replace(/\.0\/24$/, '.1');
  // The `kubernetes` Service has the first service address (base + 1); kube-dns the tenth (base + 10).
  const apiIp = await server.k(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}']);
  dnsIp = apiIp.replace(/\.1$/, '.10');
  await server.namespace(NS);
});

after(async () => {
  await server?.cleanup();
});

/** kubectl in the test namespace. */
const k = (args: string[], input?: string) => server.k(['-n', NS, ...args], input);

/** The cells of a table row (kubectl separates columns by at least three spaces). */
const cells = (row: string) => row.trim().split(/ {3,}/);

/** A pod that resolves names with glibc (getaddrinfo) and prints one line per name. */
function resolverPod(name: string, names: string[], spec = ''): string {
  const script = [
    'import socket, sys',
    'for n in sys.argv[1:]:',
    '    try:',
    '        print(n, ",".join(sorted({a[4][0] for a in socket.getaddrinfo(n, None, socket.AF_INET)})))',
    '    except OSError as e:',
    '        print(n, "ERROR", e.strerror)',
  ].join('\n');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { restartPolicy: 'Never', ...JSON.parse(spec || '{}'), containers: [{ name: 'main', image: 'python', command: ['/usr/bin/python3', '-c', script, ...names] }] },
  });
}

/** Runs a resolver pod to completion and returns its lines as name → answer. */
async function resolve(name: string, names: string[], spec = ''): Promise<Record<string, string>> {
  await k(['apply', '-f', '-'], resolverPod(name, names, spec));
  await k(['wait', '--for=jsonpath={.status.phase}=Succeeded', `pod/${name}`, '--timeout=60s']);
  const out = await k(['logs', name]);
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
}

/** A pod that sleeps, labelled, optionally with hostname/subdomain. */
function sleeper(name: string, labels: Record<string, string>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { ...extra, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'], ports: [{ name: 'http', containerPort: 8080 }] }] },
  });
}

async function podIp(name: string): Promise<string> {
  return eventually(async () => (await k(['get', 'pod', name, '-o', 'jsonpath={.status.podIP}'])) || undefined, 30_000, `${name}'s IP`);
}

test('the kube-dns Service is at the 10th service address and its endpoint is this node\'s bridge gateway', async () => {
  const row = cells((await server.k(['get', 'service', 'kube-dns', '-n', 'kube-system', '--no-headers'])).trim());
  assert.deepEqual([row[0], row[1], row[2], row[4]], ['kube-dns', 'ClusterIP', dnsIp, '53/UDP,53/TCP,9153/TCP']);
  const slices = JSON.parse(await server.k(['get', 'endpointslices', '-n', 'kube-system', '-l', 'kubernetes.io/service-name=kube-dns', '-o', 'json'])).items;
  assert.equal(slices.length, 1);
  assert.equal(slices[0].metadata.labels['endpointslice.kubernetes.io/managed-by'], 'node-agent.kite.io');
  assert.deepEqual(slices[0].endpoints.map((e: any) => e.addresses[0]), [gateway]);
  const ep = cells((await server.k(['get', 'endpoints', 'kube-dns', '-n', 'kube-system', '--no-headers'])).trim());
  assert.equal(ep[1], `${gateway}:53,${gateway}:53,${gateway}:9153`);
});

test('EndpointSlices and Endpoints follow the pods of a Service', async () => {
  await k(['apply', '-f', '-'], sleeper('web-1', { app: 'web' }));
  await k(['apply', '-f', '-'], sleeper('web-2', { app: 'web' }));
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } }));
  const ips = [await podIp('web-1'), await podIp('web-2')].sort();
  await k(['wait', '--for=condition=Ready', 'pod/web-1', 'pod/web-2', '--timeout=60s']);
  const ep = await eventually(async () => {
    const row = cells((await k(['get', 'endpoints', 'web', '--no-headers'])).trim());
    return row[1]?.split(',').length === 2 ? row[1] : undefined;
  }, 10_000, 'two endpoints');
  assert.deepEqual(ep.split(',').sort(), ips.map((ip) => `${ip}:8080`));
  const slice = JSON.parse(await k(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])).items[0];
  assert.match(slice.metadata.name, /^web-[a-z0-9]{5}$/);
  assert.deepEqual(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.deepEqual(slice.endpoints.map((e: any) => e.addresses[0]).sort(), ips);
  const row = cells((await k(['get', 'endpointslices', slice.metadata.name, '--no-headers'])).trim());
  assert.deepEqual([row[1], row[2]], ['IPv4', '8080']);
  assert.deepEqual(row[3]!.split(',').sort(), ips);
  // A deleted pod leaves both.
  await k(['delete', 'pod', 'web-2', '--wait=false']);
  await eventually(async () => cells((await k(['get', 'endpoints', 'web', '--no-headers'])).trim())[1] === `${await podIp('web-1')}:8080`, 20_000, 'one endpoint left');
});

test('pods resolve a Service by short name, namespace and FQDN, headless names to pod IPs (or hand-written Endpoints) and a hostname+subdomain pod by FQDN', async () => {
  await k(['apply', '-f', '-'], sleeper('trainer-0', { job: 'train' }, { hostname: 'trainer-0', subdomain: 'workers' }));
  await k(['apply', '-f', '-'], sleeper('trainer-1', { job: 'train' }, { hostname: 'trainer-1', subdomain: 'workers' }));
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'workers' }, spec: { clusterIP: 'None', selector: { job: 'train' }, ports: [{ name: 'nccl', port: 29500 }] } }));
  await k(['wait', '--for=condition=Ready', 'pod/trainer-0', 'pod/trainer-1', '--timeout=60s']);
  const t0 = await podIp('trainer-0');
  const t1 = await podIp('trainer-1');
  const webIp = await k(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
  await eventually(async () => (await k(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=workers', '-o', 'jsonpath={.items[*].endpoints[*].hostname}'])).split(' ').length === 2, 10_000, 'headless endpoints');
  // A headless Service without a selector, with Endpoints written by hand (mirrored into a slice for DNS).
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { clusterIP: 'None', ports: [{ port: 5432 }] } }));
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db' }, subsets: [{ addresses: [{ ip: '192.0.2.44' }], ports: [{ port: 5432 }] }] }));
  await eventually(async () => (await k(['get', 'endpointslices', '-l', 'endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io', '-o', 'name'])).trim() !== '', 10_000, 'the mirrored slice');
  // The cluster DNS queried on the node's gateway directly, with the search path ClusterFirst gives.
  const viaGateway = JSON.stringify({
    dnsPolicy: 'None',
    dnsConfig: { nameservers: [gateway], searches: [`${NS}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: [{ name: 'ndots', value: '5' }] },
  });
  const got = await resolve('resolver-gw', ['web', `web.${NS}`, `web.${NS}.svc.cluster.local`, 'workers', `trainer-0.workers.${NS}.svc.cluster.local`, 'trainer-1.workers', 'db', 'nope'], viaGateway);
  assert.deepEqual(got, {
    web: webIp,
    [`web.${NS}`]: webIp,
    [`web.${NS}.svc.cluster.local`]: webIp,
    workers: [t0, t1].sort().join(','),
    [`trainer-0.workers.${NS}.svc.cluster.local`]: t0,
    'trainer-1.workers': t1,
    db: '192.0.2.44',
    nope: 'ERROR Name or service not known',
  });
  // The pod's own FQDN is in its hosts file (kubelet-managed /etc/hosts).
  const hosts = await k(['exec', 'trainer-0', '--', 'cat', '/etc/hosts']);
  assert.match(hosts, new RegExp(`^${t0.replaceAll('.', '\\.')}\\ttrainer-0\\.workers\\.${NS}\\.svc\\.cluster\\.local\\ttrainer-0$`, 'm'));
});

test('ClusterFirst pods get the cluster DNS in resolv.conf and resolve through the kube-dns Service address', async () => {
  await k(['apply', '-f', '-'], sleeper('plain', { app: 'plain' }));
  await k(['wait', '--for=condition=Ready', 'pod/plain', '--timeout=60s']);
  const conf = await k(['exec', 'plain', '--', 'cat', '/etc/resolv.conf']);
  assert.match(conf, new RegExp(`^search ${NS}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local( [^\\n]+)?\\nnameserver ${dnsIp.replaceAll('.', '\\.')}\\noptions ndots:5\\n$`));
  // Through the Service address: needs the service proxy to send 10.96.0.10 to the node's DNS.
  const webIp = await k(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
  const got = await resolve('resolver-cf', ['web', `web.${NS}.svc.cluster.local`, 'kubernetes.default']);
  const apiIp = await server.k(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}']);
  assert.deepEqual(got, { web: webIp, [`web.${NS}.svc.cluster.local`]: webIp, 'kubernetes.default': apiIp });
});

test('dnsPolicy None with dnsConfig is exactly what the pod\'s resolv.conf says; bad dnsConfig is refused', async () => {
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'custom-dns' },
      spec: {
        dnsPolicy: 'None',
        dnsConfig: { nameservers: ['192.0.2.1'], searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
        containers: [{ name: 'main', image: 'busybox', command: ['cat', '/etc/resolv.conf'] }],
        restartPolicy: 'Never',
      },
    }),
  );
  await k(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/custom-dns', '--timeout=60s']);
  assert.equal(await k(['logs', 'custom-dns']), 'search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 192.0.2.1\noptions ndots:2 edns0\n');
  const bad = await server.kubectl(
    ['apply', '-n', NS, '-f', '-'],
    {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bad-dns' },
        spec: { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', 'not-an-ip'], options: [{ value: 'x' }] }, containers: [{ name: 'main', image: 'busybox' }] },
      }),
    },
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /The Pod "bad-dns" is invalid: /);
  assert.match(bad.stderr, /spec\.dnsConfig\.nameservers: Invalid value: \[\]string\{"1\.1\.1\.1", "2\.2\.2\.2", "3\.3\.3\.3", "not-an-ip"\}: must not have more than 3 nameservers/);
  assert.match(bad.stderr, /spec\.dnsConfig\.nameservers\[3\]: Invalid value: "not-an-ip": must be a valid IP address, \(e\.g\. 10\.9\.8\.7 or 2001:db8::ffff\)/);
  assert.match(bad.stderr, /spec\.dnsConfig\.options\[0\]: Required value: must not be empty/);
  const none = await server.kubectl(['run', 'no-ns', '-n', NS, '--image=busybox', '--overrides={"spec":{"dnsPolicy":"None"}}', '--', 'true']);
  assert.match(none.stderr, /spec\.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None/);
});
