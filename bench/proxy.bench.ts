/**
 * Service proxy cost: HTTP through a ClusterIP against the same server
 * reached at its pod IP, from a client inside a pod network namespace. A
 * throwaway network (node namespace with bridge, a client pod, a server pod;
 * see src/proxy/testing.ts) holds the ServiceProxy's nftables table; an
 * in-memory API server feeds it. For each target it measures requests/s and
 * latency over keep-alive connections and with a new connection per request
 * (where DNAT and conntrack set-up are paid every time), alternating the two
 * targets to even out noise (target: the ClusterIP within 10 % of direct).
 * It also measures how long an EndpointSlice change takes to reach the
 * kernel (API write -> nft transaction applied; target < 300 ms). It prints
 * a table; it asserts nothing. Needs root and nft.
 *
 *   npm run build && node dist/bench/proxy.bench.js [--seconds 3] [--connections 16] [--rounds 4] [--bridge-netfilter 0|1]
 *
 * --bridge-netfilter sets bridge-nf-call-iptables in the node namespace (default: this host's
 * value); with 1, as where br_netfilter is loaded, pod-to-pod traffic also passes conntrack.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { R } from '../src/client/client.js';
import { startTestCluster } from '../src/controllers/testenv.js';
import { isRoot, lookPath } from '../src/kubelet/runtime/sys.js';
import { ENDPOINT_SLICES, ServiceProxy } from '../src/proxy/proxier.js';
import { TestNetwork } from '../src/proxy/testing.js';
import type { EndpointSlice, Service } from '../src/api/generated/types.js';
import { summarize } from './stats.js';
import { fmt, printTable, type Row } from './table.js';

const TARGET_RATIO = 0.9;
const TARGET_SYNC_MS = 300;

/** The HTTP server in the server pod: a short fixed answer. */
const SERVER = `require('http').createServer((q, s) => s.end('ok\\n')).listen(8080, () => console.log('listening'));`;

/** The load client: N workers for D ms; prints {requests, errors, seconds, p50, p99} as JSON. */
const CLIENT = `
const http = require('http');
const [host, port, conc, ms, keep] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: keep === '1', maxSockets: Number(conc) });
const lat = []; let errors = 0;
const t0 = performance.now(); const end = t0 + Number(ms);
const once = () => new Promise((done) => {
  const t = performance.now();
  const req = http.get({ host, port: Number(port), path: '/', agent }, (res) => { res.resume(); res.on('end', () => { lat.push(performance.now() - t); done(); }); });
  req.on('error', () => { errors++; done(); });
});
const worker = async () => { while (performance.now() < end) await once(); };
Promise.all(Array.from({ length: Number(conc) }, worker)).then(() => {
  const secs = (performance.now() - t0) / 1000; lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)] : NaN;
  console.log(JSON.stringify({ requests: lat.length, errors, seconds: secs, p50: pct(50), p99: pct(99) }));
  agent.destroy();
});
`;

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

function load(netns: string, host: string, port: number, connections: number, ms: number, keepAlive: boolean): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', CLIENT, host, String(port), String(connections), String(ms), keepAlive ? '1' : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load client exited ${code}: ${err}`))));
  });
}

/** This host's bridge-nf-call-iptables ('0' where br_netfilter is not loaded). */
function hostBridgeNetfilter(): string {
  try {
    return readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim();
  } catch {
    return '0';
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, rounds: { type: 'string' }, 'bridge-netfilter': { type: 'string' } } });
  const seconds = Number(values.seconds ?? 3);
  const connections = Number(values.connections ?? 16);
  const rounds = Number(values.rounds ?? 4);
  if (!isRoot() || !lookPath('nft')) {
    console.log('proxy benchmark skipped: it needs root and nft (it programs nftables in a network namespace)');
    return 0;
  }
  const cluster = await startTestCluster();
  // As on this host by default: with it off, pod-to-pod traffic skips netfilter entirely (the harder baseline).
  const bridgeNetfilter = (values['bridge-netfilter'] ?? hostBridgeNetfilter()) === '1';
  const net = new TestNetwork({ pods: 2, bridgeNetfilter });
  let proxy: ServiceProxy | undefined;
  try {
    await net.start();
    const [client, backend] = net.pods as [typeof net.pods[0], typeof net.pods[0]];
    await net.spawnIn(backend.netns, [process.execPath, '-e', SERVER]);
    await cluster.namespace('bench');
    proxy = new ServiceProxy({
      informers: cluster.informers,
      nodeName: 'bench-node',
      nodeIps: [net.nodeIp],
      clusterCidr: '10.250.0.0/16',
      serviceCidr: '10.96.0.0/12',
      bridge: net.bridge,
      table: 'kite-bench',
      netns: net.node,
      log: (m) => console.log(m),
    });
    await proxy.start();
    const svc = await cluster.client.create<Service>(R.services, 'bench', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
    const slice = (ready: boolean): EndpointSlice => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: [backend.ip], conditions: { ready: true } }, { addresses: ['10.250.1.200'], conditions: { ready } }],
    });
    let current = await cluster.client.create<EndpointSlice>(ENDPOINT_SLICES, 'bench', slice(false));
    const vip = svc.spec!.clusterIP!;

    // Change -> kernel: write the slice, wait for the transaction that follows it. An even
    // number of flips ends with the dead address unready: the load runs against one endpoint.
    const syncMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = proxy.syncCount;
      const t = performance.now();
      current = await cluster.client.update<EndpointSlice>(ENDPOINT_SLICES, 'bench', { ...slice(i % 2 === 0), metadata: { ...current.metadata } });
      while (proxy.syncCount === before) await new Promise((r) => setTimeout(r, 1));
      syncMs.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 150));
    }

    const results = new Map<string, LoadResult[]>();
    for (let r = 0; r < rounds; r++) {
      for (const keepAlive of [true, false]) {
        const targets = [['pod IP', backend.ip, 8080], ['ClusterIP', vip, 80]] as const;
        // Each round swaps which target goes first, so drift on a busy machine favours neither.
        for (const [target, host, port] of r % 2 ? [...targets].reverse() : targets) {
          const key = `${target}|${keepAlive}`;
          const res = await load(client.netns, host, port, connections, seconds * 1000, keepAlive);
          results.set(key, [...(results.get(key) ?? []), res]);
        }
      }
    }
    const agg = (key: string) => {
      const rs = results.get(key) ?? [];
      const requests = rs.reduce((a, b) => a + b.requests, 0);
      const secs = rs.reduce((a, b) => a + b.seconds, 0);
      return { rps: requests / secs, p50: Math.max(...rs.map((x) => x.p50)), p99: Math.max(...rs.map((x) => x.p99)), errors: rs.reduce((a, b) => a + b.errors, 0) };
    };
    const rows: Row[] = [];
    for (const keepAlive of [true, false]) {
      const mode = keepAlive ? 'keep-alive' : 'new connection per request';
      const direct = agg(`pod IP|${keepAlive}`);
      const viaVip = agg(`ClusterIP|${keepAlive}`);
      rows.push({ metric: `${mode}: pod IP, requests/s (p50/p99 ms)`, value: `${fmt(direct.rps, 0)} (${fmt(direct.p50, 2)}/${fmt(direct.p99, 2)})` });
      rows.push({ metric: `${mode}: ClusterIP, requests/s (p50/p99 ms)`, value: `${fmt(viaVip.rps, 0)} (${fmt(viaVip.p50, 2)}/${fmt(viaVip.p99, 2)})` });
      // Over all rounds, and the median of per-round ratios (how much a busy machine moved it).
      const d = results.get(`pod IP|${keepAlive}`) ?? [];
      const v = results.get(`ClusterIP|${keepAlive}`) ?? [];
      const median = summarize(d.map((x, i) => v[i]!.requests / v[i]!.seconds / (x.requests / x.seconds))).p50;
      const ratio = viaVip.rps / direct.rps;
      rows.push({
        metric: `${mode}: ClusterIP / pod IP throughput (round median)`,
        value: `${fmt(ratio * 100, 1)} % (${fmt(median * 100, 1)} %)`,
        target: `>= ${TARGET_RATIO * 100} %`,
        ok: ratio >= TARGET_RATIO && viaVip.errors === 0,
      });
      if (direct.errors + viaVip.errors) rows.push({ metric: `${mode}: failed requests (pod IP / ClusterIP)`, value: `${direct.errors} / ${viaVip.errors}` });
    }
    const s = summarize(syncMs);
    rows.push({ metric: 'EndpointSlice write -> rules in the kernel, p50', value: `${fmt(s.p50, 0)} ms` });
    rows.push({ metric: 'EndpointSlice write -> rules in the kernel, p99', value: `${fmt(s.p99, 0)} ms`, target: `< ${TARGET_SYNC_MS} ms`, ok: s.p99 < TARGET_SYNC_MS });
    console.log(`\nservice proxy: ${connections} connections, ${seconds} s per run, ${rounds} rounds alternating pod IP and ClusterIP; one server pod (node http); bridge-nf-call-iptables=${bridgeNetfilter ? 1 : 0}; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs\n`);
    printTable(rows);
    return 0;
  } finally {
    await proxy?.stop();
    await net.stop();
    await cluster.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
