/**
 * More machines: `kite agent` joins a `kite server` with the node token and
 * runs a node that the real kubectl sees and uses like any other — pods
 * scheduled onto it, logs and exec through the API server, pod and Service
 * traffic between the nodes — and that goes NotReady when it stops. Both
 * nodes share this machine (bridges of their own, the agent a real child
 * process talking HTTPS with its node certificate).
 *
 * The server runs without the node-ipam controller here: its first free /24
 * would be 10.244.0.0/24, which a `kite up` on this machine may be using;
 * the allocator has its own tests, and the agent that waits for a pod CIDR
 * is given one by hand instead.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KiteAgent, KiteServer, ROOT, eventually, run } from './harness.js';

let server: KiteServer;
let agent: KiteAgent;
let serverNode: string;
const NS = 'multi';

before(async () => {
  server = new KiteServer({ agent: true, extraArgs: ['--node-monitor-grace-period', '20s', '--controllers', '*,-node-ipam-controller'] });
  await server.start();
  serverNode = await eventually(async () => (await server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim(), 10_000, 'the server node to register');
  agent = new KiteAgent(server);
  await agent.start();
  await server.namespace(NS);
});

after(async () => {
  try {
    await agent?.cleanup();
  } finally {
    await server?.cleanup();
  }
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** A pod pinned to a node by its kubernetes.io/hostname label. */
function pinnedPod(name: string, node: string, command: string[], labels: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: { nodeSelector: { 'kubernetes.io/hostname': node }, containers: [{ name: 'main', image: 'busybox', command }] },
  });
}

/** Runs python3 in the client pod (on the server's node) to fetch a URL; returns what it printed. */
async function fetchFromClient(url: string): Promise<string> {
  return server.k(['-n', NS, 'exec', 'client', '--', 'python3', '-c', `import urllib.request; print(urllib.request.urlopen(${JSON.stringify(url)}, timeout=5).read().decode())`]);
}

test('kubectl get nodes shows the server node and the joined agent node, both Ready, with their addresses and pod CIDRs', async () => {
  await server.k(['wait', '--for=condition=Ready', `node/${agent.nodeName}`, `node/${serverNode}`, '--timeout=30s']);
  const rows = (await server.k(['get', 'nodes', '-o', 'wide', '--no-headers'])).trim().split('\n').map(cells);
  assert.deepEqual(rows.map((r) => r[0]).sort(), [agent.nodeName, serverNode].sort());
  const agentRow = rows.find((r) => r[0] === agent.nodeName)!;
  const serverRow = rows.find((r) => r[0] === serverNode)!;
  assert.equal(agentRow[1], 'Ready');
  assert.equal(agentRow[4], 'v1.32.0');
  // Both run on this machine: the agent advertises the same InternalIP as the server's node.
  assert.match(agentRow[5]!, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(agentRow[5], serverRow[5]);
  const cidrs = await server.k(['get', 'nodes', '-o', 'custom-columns=NAME:.metadata.name,CIDR:.spec.podCIDR,TAINTS:.spec.taints', '--no-headers']);
  assert.match(cidrs, new RegExp(`^${agent.nodeName}\\s+${agent.podCidr!.replace(/\./g, '\\.')}\\s+<none>$`, 'm'));
  assert.match(cidrs, new RegExp(`^${serverNode}\\s+${server.podNetwork!.cidr.replace(/\./g, '\\.')}\\s`, 'm'));
});

test('the agent authenticates as system:node:<name> with the certificate the join gave it', async () => {
  // The node's own kubeconfig (written by the join) identifies it to the API server.
  const r = await server.kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}'], { env: { KUBECONFIG: `${agent.dataDir}/kubeconfig.yaml` } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^system:node:${agent.nodeName} \\["system:nodes","system:authenticated"\\]$`));
  const denied = await server.kubectl(['get', 'secrets', '-n', 'kube-system'], { env: { KUBECONFIG: `${agent.dataDir}/kubeconfig.yaml` } });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, new RegExp(`secrets is forbidden: User "system:node:${agent.nodeName}" cannot list resource "secrets" in API group "" in the namespace "kube-system"`));
});

test('a pod pinned to the agent node runs there; kubectl logs and exec reach it through the API server', async () => {
  await server.k(['apply', '-f', '-'], pinnedPod('web', agent.nodeName, ['sh', '-c', 'echo hello from the agent node; exec python3 -m http.server 8080'], { app: 'web' }));
  await server.k(['-n', NS, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=60s']);
  const [, ready, status, , , ip, node] = cells(await server.k(['-n', NS, 'get', 'pod', 'web', '-o', 'wide', '--no-headers']));
  assert.deepEqual([ready, status, node], ['1/1', 'Running', agent.nodeName]);
  const prefix = agent.podCidr!.replace(/\.0\/24$/, '.');
  assert.ok(ip!.startsWith(prefix), `pod IP ${ip} is out of the agent's pod CIDR ${agent.podCidr}`);
  const logs = await eventually(async () => {
    const out = await server.k(['-n', NS, 'logs', 'web']);
    return out.includes('hello') && out;
  }, 20_000, 'the log line');
  assert.equal(logs, 'hello from the agent node\n');
  assert.equal(await server.k(['-n', NS, 'exec', 'web', '--', 'sh', '-c', 'echo $((6*7)) $HOSTNAME']), '42 web\n');
});

test('a pod on the server node reaches the agent pod by its IP and through a ClusterIP Service backed only there', async () => {
  await server.k(['apply', '-f', '-'], pinnedPod('client', serverNode, ['sleep', '3600']));
  await server.k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }));
  await server.k(['-n', NS, 'wait', '--for=condition=Ready', 'pod/client', 'pod/web', '--timeout=60s']);
  const webIp = await server.k(['-n', NS, 'get', 'pod', 'web', '-o', 'jsonpath={.status.podIP}']);
  assert.match(await fetchFromClient(`http://${webIp}:8080/`), /Directory listing/);
  const endpoints = await server.k(['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'jsonpath={.items[*].endpoints[*].nodeName}']);
  assert.equal(endpoints, agent.nodeName, 'the only backend is on the agent node');
  const clusterIp = await server.k(['-n', NS, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
  assert.match(await eventually(() => fetchFromClient(`http://${clusterIp}/`), 20_000, 'the Service to answer'), /Directory listing/);
  assert.match(await eventually(() => fetchFromClient(`http://web.${NS}.svc.cluster.local/`), 20_000, 'the Service name to answer'), /Directory listing/);
});

test('kite token prints the server token; kite agent and kite token explain themselves', async () => {
  const kite = (...args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'kite.js'), ...args]);
  const token = await kite('token', '--data-dir', server.dataDir);
  assert.equal(token.code, 0);
  assert.match(token.stdout, /^K10[0-9a-f]{64}::node:[0-9a-f]+\n$/);
  assert.match((await kite('token', '--help')).stdout, /^Usage: kite token \[--data-dir DIR\]\n[\s\S]*K10<sha256 of the cluster CA>::node:<secret>/);
  assert.match((await kite('agent', '--help')).stdout, /^Usage: kite agent --server https:\/\/HOST:6443 --token TOKEN \[options\][\s\S]*refuse a server\nwhose CA certificate is not the one the token was made for/);
  assert.match((await kite('--help')).stdout, /\n {2}agent +join this machine to a cluster as another node\n {2}token +print the token/);
  const missing = await kite('agent', '--token', token.stdout.trim());
  assert.deepEqual([missing.code, missing.stderr], [1, 'kite agent: --server is required: the URL of the Kite API server, such as https://10.0.0.1:6443\n']);
  const none = await kite('token', '--data-dir', join(agent.dataDir, 'no-server-here'));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^kite token: no node token at .*no-server-here\/tls\/node\.token: start "kite server --data-dir .*no-server-here" first/);
});

test('a wrong token is refused with 401 and a message saying what to do; the agent exits non-zero and joins nothing', async () => {
  const good = await agent.token();
  const wrong = new KiteAgent(server, { token: good.replace(/:[0-9a-f]+$/, ':0123456789abcdef0123456789abcdef') });
  try {
    const r = await wrong.runToExit();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kite agent: the server refused the join token \(401 Unauthorized: invalid node join token: use the token that "kite token" prints on the server\); run "kite token" on the server and pass what it prints with --token/);
    const get = await server.kubectl(['get', 'node', wrong.nodeName]);
    assert.match(get.stderr, new RegExp(`nodes "${wrong.nodeName}" not found`));
  } finally {
    await wrong.cleanup();
  }
});

test('an agent without a pod CIDR of its own registers NotReady and tainted, and starts once its node is given one', async () => {
  const waiting = new KiteAgent(server, { allocatedPodCidr: true });
  try {
    await waiting.start({ waitReady: false });
    await waiting.waitForLog(`waiting for node ${waiting.nodeName} to be given a pod CIDR`);
    const [, status] = cells(await server.k(['get', 'node', waiting.nodeName, '--no-headers']));
    assert.equal(status, 'NotReady');
    assert.match(await server.k(['get', 'node', waiting.nodeName, '-o', 'jsonpath={.spec.taints}']), /"key":"node.kubernetes.io\/not-ready"/);
    // What the node-ipam controller does (disabled in this file; see the top).
    let cidr: string;
    do cidr = `10.244.${100 + Math.floor(Math.random() * 150)}.0/24`;
    while (cidr === agent.podCidr || cidr === server.podNetwork!.cidr);
    await server.k(['patch', 'node', waiting.nodeName, '--type=merge', '-p', JSON.stringify({ spec: { podCIDR: cidr, podCIDRs: [cidr] } })]);
    await waiting.waitForLog(`Kite agent is ready: node ${waiting.nodeName} (pod CIDR ${cidr})`);
    await server.k(['wait', '--for=condition=Ready', `node/${waiting.nodeName}`, '--timeout=30s']);
    assert.equal(await server.k(['get', 'node', waiting.nodeName, '-o', 'jsonpath={.spec.taints}']), '', 'the not-ready taint goes once the node is Ready');
  } finally {
    await waiting.cleanup();
  }
  await server.k(['delete', 'node', waiting.nodeName]);
});

test('stopping the agent leaves nothing behind on the machine and its node goes NotReady once its Lease lapses', async () => {
  agent.rememberNetns();
  // stop() fails when the bridge, nftables table, pod network namespaces or cgroups remain.
  assert.equal(await agent.stop(), 0);
  assert.match(agent.log, /kite agent: received SIGTERM, shutting down\nkite agent: stopped\n$/);
  await server.k(['wait', '--for=condition=Ready=Unknown', `node/${agent.nodeName}`, '--timeout=60s']);
  const [, status] = cells(await server.k(['get', 'node', agent.nodeName, '--no-headers']));
  assert.equal(status, 'NotReady');
  const reason = await server.k(['get', 'node', agent.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}']);
  assert.equal(reason, 'NodeStatusUnknown');
  // The server's own node keeps heartbeating.
  await server.k(['wait', '--for=condition=Ready', `node/${serverNode}`, '--timeout=5s']);
});
