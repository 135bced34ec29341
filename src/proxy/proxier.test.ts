/**
 * The service proxy against a real kernel: a real (in-memory) API server,
 * the ServiceProxy programming nftables inside a throwaway node namespace,
 * pods and an outside client in namespaces of their own, and real
 * connections. Needs root and nft; skipped otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { R } from '../client/client.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { isRoot, lookPath } from '../kubelet/runtime/sys.js';
import type { Endpoint, EndpointSlice, Service, ServiceSpec } from '../api/generated/types.js';
import { ENDPOINT_SLICES, ServiceProxy, clusterCidrFor, proxyTableName, validateProxyConfig, type ServiceProxyConfig } from './proxier.js';
import { connectMany, netnsWithPrefix, TestNetwork } from './testing.js';

const skip = !isRoot() ? 'needs root' : !lookPath('nft') ? 'needs nft' : false;
const NS = 'proxy-test';
const NODE = 'node-a';
const TABLE = 'kite-test';

let cluster: TestCluster;
let net: TestNetwork;
let proxy: ServiceProxy;
const logs: string[] = [];

/** The namespaces of the pods: a client and two backends. */
const client = () => net.pods[0]!;
const b1 = () => net.pods[1]!;
const b2 = () => net.pods[2]!;

async function createService(name: string, spec: Partial<ServiceSpec>): Promise<Service> {
  return cluster.client.create<Service>(R.services, NS, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ port: 80 }], ...spec } });
}

function sliceOf(svc: string, endpoints: Endpoint[], port = 8080, protocol = 'TCP', portName?: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-manual`, namespace: NS, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'proxy-test' } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol }],
    endpoints,
  };
}

async function putSlice(s: EndpointSlice): Promise<void> {
  const old = await cluster.client.get<EndpointSlice>(ENDPOINT_SLICES, NS, s.metadata!.name!).catch(() => undefined);
  if (old) await cluster.client.update(ENDPOINT_SLICES, NS, { ...s, metadata: { ...s.metadata, resourceVersion: old.metadata?.resourceVersion } });
  else await cluster.client.create(ENDPOINT_SLICES, NS, s);
}

const ep = (ip: string, extra: Partial<Endpoint> = {}): Endpoint => ({ addresses: [ip], conditions: { ready: true }, nodeName: NODE, ...extra });

/** Names of the servers that answered, in order (failures as their kind). */
const names = (results: string[]) => results.map((r) => (r.startsWith('ok ') ? r.split(' ')[1]! : r));

/** Waits until `count` attempts all succeed and satisfy `check` (the rules may still be on their way). */
async function until(netns: string, host: string, port: number, check: (r: string[]) => boolean, what: string, count = 10, proto: 'tcp' | 'udp' = 'tcp', sourcePort = 0): Promise<string[]> {
  let last: string[] = [];
  try {
    await eventually(async () => check((last = await connectMany(netns, host, port, count, proto, 1, sourcePort))), what);
  } catch (e) {
    throw new Error(`${(e as Error).message} (last results: ${last.join(', ')})`);
  }
  return last;
}

describe('service proxy on a real kernel', { skip }, () => {
  before(async () => {
    cluster = await startTestCluster();
    await cluster.namespace(NS);
    net = new TestNetwork({ pods: 3 });
    await net.start();
    await net.startEchoServer(b1().netns, 'b1', 8080);
    await net.startEchoServer(b2().netns, 'b2', 8080);
    await net.startEchoServer(b1().netns, 'b1', 9090);
    proxy = new ServiceProxy({
      informers: cluster.informers,
      nodeName: NODE,
      nodeIps: [net.nodeIp],
      clusterCidr: '10.250.0.0/16',
      serviceCidr: '10.96.0.0/12',
      bridge: net.bridge,
      table: TABLE,
      netns: net.node,
      log: (m) => logs.push(m),
    });
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
    await net?.stop();
    await cluster?.close();
  });

  it('ClusterIP: every connection from a pod reaches a ready endpoint, spread over all of them', async () => {
    const svc = await createService('web', {});
    await putSlice(sliceOf('web', [ep(b1().ip), ep(b2().ip)]));
    await until(client().netns, svc.spec!.clusterIP!, 80, (r) => r.every((x) => x.startsWith('ok ')), 'the service to answer', 1);
    const results = await connectMany(client().netns, svc.spec!.clusterIP!, 80, 40);
    assert.deepEqual(results.filter((r) => !r.startsWith('ok ')), [], 'every connection lands on the first try');
    assert.deepEqual(new Set(names(results)), new Set(['b1', 'b2']));
    // Same bridge: masqueraded to the bridge address, so the reply comes back through the node.
    assert.ok(results.every((r) => r.endsWith(' 10.250.1.1')), results.join(', '));
  });

  it('an endpoint that turns unready gets no new connections; serving+terminating ones serve when none is ready', async () => {
    const svc = await cluster.client.get<Service>(R.services, NS, 'web');
    await putSlice(sliceOf('web', [ep(b1().ip), ep(b2().ip, { conditions: { ready: false } })]));
    await until(client().netns, svc.spec!.clusterIP!, 80, (r) => names(r).every((n) => n === 'b1'), 'b2 to leave the rotation', 20);
    await putSlice(sliceOf('web', [ep(b1().ip, { conditions: { ready: false, serving: false, terminating: true } }), ep(b2().ip, { conditions: { ready: false, serving: true, terminating: true } })]));
    await until(client().netns, svc.spec!.clusterIP!, 80, (r) => names(r).every((n) => n === 'b2'), 'the serving, terminating b2 to take over', 20);
  });

  it('no endpoints: refused at once; an unserved port of a ClusterIP is refused; an unallocated service address is dropped', async () => {
    const svc = await createService('empty', {});
    await until(client().netns, svc.spec!.clusterIP!, 80, (r) => r.every((x) => x === 'refused'), 'the empty service to refuse', 3);
    const web = await cluster.client.get<Service>(R.services, NS, 'web');
    assert.deepEqual(await connectMany(client().netns, web.spec!.clusterIP!, 81, 10), Array(10).fill('refused'), 'no ICMP rate limit on refusals');
    const taken = new Set((await cluster.client.list<Service>(R.services, NS)).items.map((s) => s.spec?.clusterIP));
    let unallocated = '10.111.255.200';
    while (taken.has(unallocated)) unallocated = `10.111.255.${Number(unallocated.split('.')[3]) + 1}`;
    assert.deepEqual(await connectMany(client().netns, unallocated, 80, 1, 'tcp', 1), ['timeout']);
  });

  it('ClientIP session affinity pins a client to one endpoint', async () => {
    const svc = await createService('sticky', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } });
    await putSlice(sliceOf('sticky', [ep(b1().ip), ep(b2().ip)]));
    const results = await until(client().netns, svc.spec!.clusterIP!, 80, (r) => r.every((x) => x.startsWith('ok ')), 'the sticky service to answer', 20);
    assert.equal(new Set(names(results)).size, 1, results.join(', '));
    const sets = execFileSync('ip', ['netns', 'exec', net.node, 'nft', 'list', 'sets', 'table', 'ip', TABLE], { encoding: 'utf8' });
    assert.match(sets, /set affinity-[0-9a-f]{8}-proxy-test\/sticky\/tcp\/__10\.250\.1\.\d\/8080 \{[^}]*timeout 1m[^}]*elements = \{ 10\.250\.1\.2 /);
  });

  it('NodePort, LoadBalancer ingress IP and externalIPs serve clients outside the node', async () => {
    const np = await createService('np', { type: 'NodePort', ports: [{ port: 80 }] });
    await putSlice(sliceOf('np', [ep(b1().ip)]));
    const nodePort = np.spec!.ports![0]!.nodePort!;
    const out = net.outside;
    const viaNodePort = await until(out.netns, net.nodeIp, nodePort, (r) => r.every((x) => x.startsWith('ok b1 ')), 'the NodePort to answer', 3);
    // Cluster policy: the source is rewritten (the endpoint could be on another node).
    assert.equal(viaNodePort[0], 'ok b1 10.250.1.1');
    const lb = await createService('lb', { type: 'LoadBalancer', ports: [{ port: 8443 }] });
    await putSlice(sliceOf('lb', [ep(b2().ip)]));
    await cluster.client.patch(R.services, NS, 'lb', 'merge', { status: { loadBalancer: { ingress: [{ ip: net.nodeIp, ipMode: 'VIP' }] } } }, { subresource: 'status' });
    await until(out.netns, net.nodeIp, 8443, (r) => r.every((x) => x.startsWith('ok b2 ')), 'the load-balancer IP to answer', 3);
    await until(out.netns, net.nodeIp, lb.spec!.ports![0]!.nodePort!, (r) => r.every((x) => x.startsWith('ok b2 ')), 'the LoadBalancer NodePort to answer', 3);
    await createService('ext', { externalIPs: ['10.123.0.5'], ports: [{ port: 7000 }] });
    await putSlice(sliceOf('ext', [ep(b1().ip)]));
    await until(out.netns, '10.123.0.5', 7000, (r) => r.every((x) => x.startsWith('ok b1 ')), 'the external IP to answer', 3);
  });

  it('externalTrafficPolicy Local keeps the client address, and drops outside traffic where no endpoint is local', async () => {
    const local = await createService('local', { type: 'NodePort', externalTrafficPolicy: 'Local' });
    await putSlice(sliceOf('local', [ep(b1().ip)]));
    const r = await until(net.outside.netns, net.nodeIp, local.spec!.ports![0]!.nodePort!, (x) => x.every((y) => y.startsWith('ok ')), 'the Local NodePort to answer', 1);
    assert.deepEqual(r, [`ok b1 ${net.outside.ip}`]);
    const remote = await createService('remote', { type: 'NodePort', externalTrafficPolicy: 'Local' });
    await putSlice(sliceOf('remote', [ep(b1().ip, { nodeName: 'node-b' })]));
    const port = remote.spec!.ports![0]!.nodePort!;
    // Pods are not subject to the policy (upstream short-circuits them to all endpoints).
    await until(client().netns, net.nodeIp, port, (x) => x.every((y) => y.startsWith('ok b1 ')), 'a pod to reach the remote-only NodePort', 1);
    assert.deepEqual(await connectMany(net.outside.netns, net.nodeIp, port, 1, 'tcp', 1), ['timeout']);
  });

  it('UDP services', async () => {
    const svc = await createService('dns', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
    await putSlice(sliceOf('dns', [ep(b2().ip)], 8080, 'UDP', 'dns'));
    await until(client().netns, svc.spec!.clusterIP!, 53, (r) => r.every((x) => x.startsWith('ok b2 ')), 'the UDP service to answer', 3, 'udp');
  });

  it('UDP flows are forgotten when a service gets its first endpoint and when an endpoint leaves', async () => {
    const svc = await createService('udp-flow', { ports: [{ port: 5353, protocol: 'UDP' }] });
    const vip = svc.spec!.clusterIP!;
    // One flow throughout: the same client port every time.
    await until(client().netns, vip, 5353, (r) => r.every((x) => x === 'refused'), 'the endpoint-less UDP service to refuse', 1, 'udp', 40053);
    await putSlice(sliceOf('udp-flow', [ep(b2().ip)], 8080, 'UDP'));
    await until(client().netns, vip, 5353, (r) => r.every((x) => x.startsWith('ok b2 ')), 'the refused flow to reach b2', 1, 'udp', 40053);
    await putSlice(sliceOf('udp-flow', [ep(b1().ip)], 8080, 'UDP'));
    await until(client().netns, vip, 5353, (r) => r.every((x) => x.startsWith('ok b1 ')), 'the flow to move from b2 to b1', 1, 'udp', 40053);
  });

  it('a pod reaches a service backed by itself or a neighbour, with and without br_netfilter', async () => {
    const self = await createService('self', {});
    await putSlice(sliceOf('self', [ep(b1().ip)], 9090));
    for (const brnf of [false, true]) {
      await net.setBridgeNetfilter(brnf);
      await until(b1().netns, self.spec!.clusterIP!, 80, (r) => r.every((x) => x.startsWith('ok b1 ')), `b1 to reach itself (bridge-nf-call-iptables=${brnf ? 1 : 0})`, 3);
      const web = await cluster.client.get<Service>(R.services, NS, 'web');
      await until(client().netns, web.spec!.clusterIP!, 80, (r) => r.every((x) => x.startsWith('ok ')), `a neighbour to be reached (bridge-nf-call-iptables=${brnf ? 1 : 0})`, 5);
    }
    await net.setBridgeNetfilter(false);
  });

  it('a burst of changes is applied in a few transactions, not one per change', async () => {
    const before = proxy.syncCount;
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => createService(`burst-${i}`, {})));
    const last = made[made.length - 1]!;
    await until(client().netns, last.spec!.clusterIP!, 80, (r) => r.every((x) => x === 'refused'), 'the last service of the burst to be programmed', 1);
    assert.ok(proxy.syncCount - before < 20, `${proxy.syncCount - before} transactions for 20 changes`);
  });

  it('stop() deletes the table and the test network leaves nothing behind', async () => {
    await proxy.stop();
    const tables = execFileSync('ip', ['netns', 'exec', net.node, 'nft', 'list', 'tables'], { encoding: 'utf8' });
    assert.equal(tables.includes(TABLE), false, tables);
    const prefix = net.node.replace(/-node$/, '');
    await net.stop();
    assert.deepEqual(await netnsWithPrefix(prefix), []);
    assert.deepEqual(logs, []);
  });
});

describe('service proxy configuration', () => {
  const base = { nodeName: 'n', nodeIps: ['192.0.2.1'], clusterCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/12', bridge: 'kite0', table: 'kite', log: () => {} } as unknown as ServiceProxyConfig;

  it('refuses what would not make a valid ruleset, saying what', () => {
    assert.equal(validateProxyConfig(base), undefined);
    assert.equal(validateProxyConfig({ ...base, serviceCidr: '10.96.0.0' }), 'invalid service CIDR "10.96.0.0": want an IPv4 a.b.c.d/n');
    assert.equal(validateProxyConfig({ ...base, nodeIps: ['fd00::1'] }), 'invalid node IP "fd00::1"');
    assert.equal(validateProxyConfig({ ...base, table: 'kite; flush ruleset' }), 'invalid nftables table name "kite; flush ruleset"');
    assert.throws(() => new ServiceProxy({ ...base, bridge: 'a bridge name' }), /invalid bridge name "a bridge name"/);
  });

  it('names the table after the bridge and finds the cluster CIDR of a node', () => {
    assert.equal(proxyTableName('kite0'), 'kite');
    assert.equal(proxyTableName('kt1a2b3c'), 'kite-kt1a2b3c');
    assert.equal(clusterCidrFor('10.244.7.0/24'), '10.244.0.0/16');
    assert.equal(clusterCidrFor('10.250.3.0/24'), '10.250.3.0/24');
  });
});
