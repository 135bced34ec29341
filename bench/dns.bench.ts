/**
 * Cluster DNS benchmark: queries per second the DNS server answers for
 * cluster names — a ClusterIP Service (A), a headless Service with 10 ready
 * endpoints (A, 10 records), and a name that does not exist (NXDOMAIN with
 * SOA) — from concurrent UDP clients. The server runs on the main thread
 * over an in-process API server (memory backend) and answers from its
 * informer caches; the clients run in a worker thread (another core, as an
 * external load generator would), each keeping a few queries in flight.
 * Every answer is checked (rcode and record count); a wrong one fails the run.
 * Then, with the EndpointSlice controller running, how long a pod's Ready
 * condition flipping takes to show in its Service's EndpointSlice (what the
 * service proxy and DNS follow).
 *
 *   npm run build && node dist/bench/dns.bench.js [--clients 16] [--window 4] [--seconds 3]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createSocket } from 'node:dgram';
import { MemoryBackend } from '../src/storage/memory.js';
import { Registry } from '../src/apiserver/registry/registry.js';
import { InProcessClient } from '../src/client/inprocess.js';
import { InformerFactory } from '../src/client/factory.js';
import { R } from '../src/client/client.js';
import { ENDPOINT_SLICES } from '../src/controllers/endpointsutil.js';
import { ClusterDns } from '../src/dns/server.js';
import { EndpointSliceController } from '../src/controllers/endpointslice.js';
import { EventRecorder } from '../src/client/events.js';
import { RCODE, TYPE, encodeMessage, queryMessage } from '../src/dns/wire.js';
import { summarize } from './stats.js';
import { fmt, printTable, type Row } from './table.js';

/** Kite's target for cluster names, per query kind (CoreDNS answers tens of thousands per core). */
const TARGET_QPS = 20_000;
/** A readiness change must reach the slice well inside the proxy's 2 s end-to-end budget. */
const TARGET_SLICE_P99_MS = 100;

/** One measured query kind. */
interface Case {
  label: string;
  name: string;
  rcode: number;
  answers: number;
}

const CASES: Case[] = [
  { label: 'A, ClusterIP Service', name: 'web.bench.svc.cluster.local', rcode: RCODE.NOERROR, answers: 1 },
  { label: 'A, headless Service (10 endpoints)', name: 'workers.bench.svc.cluster.local', rcode: RCODE.NOERROR, answers: 10 },
  { label: 'NXDOMAIN', name: 'missing.bench.svc.cluster.local', rcode: RCODE.NXDOMAIN, answers: 0 },
];

interface LoadSpec {
  port: number;
  name: string;
  rcode: number;
  answers: number;
  clients: number;
  window: number;
  seconds: number;
}

interface LoadResult {
  answered: number;
  wrong: number;
  seconds: number;
  latenciesMs: number[];
}

/** The load generator (worker thread): `clients` sockets, each keeping `window` queries in flight. */
async function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  let answered = 0;
  let wrong = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + spec.seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: spec.clients }, async (_, c) => {
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const sentAt = new Map<number, number>();
      let nextId = c * 4096;
      await new Promise<void>((resolve) => {
        const send = () => {
          const id = nextId++ & 0xffff;
          sentAt.set(id, performance.now());
          sock.send(encodeMessage(queryMessage(id, spec.name, TYPE.A)), spec.port, '127.0.0.1');
        };
        sock.on('message', (m) => {
          const id = m.readUInt16BE(0);
          const t = sentAt.get(id);
          if (t === undefined) return;
          sentAt.delete(id);
          const now = performance.now();
          answered++;
          if (answered % 16 === 0) latencies.push(now - t);
          // Header: rcode in the low bits of byte 3, answer count at bytes 6-7.
          if ((m[3]! & 0xf) !== spec.rcode || m.readUInt16BE(6) !== spec.answers) wrong++;
          if (now < deadline) send();
          else if (sentAt.size === 0) resolve();
        });
        for (let i = 0; i < spec.window; i++) send();
        // Lost datagrams must not hang the run.
        setTimeout(resolve, spec.seconds * 1000 + 2000).unref();
      });
      sock.close();
    }),
  );
  return { answered, wrong, seconds: (performance.now() - started) / 1000, latenciesMs: latencies };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { clients: { type: 'string' }, window: { type: 'string' }, seconds: { type: 'string' } } });
  const clients = Number(values.clients ?? 16);
  const window = Number(values.window ?? 4);
  const seconds = Number(values.seconds ?? 3);

  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const client = new InProcessClient(registry, { name: 'bench', groups: ['system:masters'] }, 'bench');
  await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
  await client.create(R.services, 'bench', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } });
  await client.create(R.services, 'bench', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'workers' }, spec: { clusterIP: 'None', ports: [{ name: 'nccl', port: 29500 }] } });
  await client.create(ENDPOINT_SLICES, 'bench', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'workers-bench', labels: { 'kubernetes.io/service-name': 'workers' } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: 10 }, (_, i) => ({ addresses: [`10.244.0.${i + 2}`], hostname: `trainer-${i}`, conditions: { ready: true } })),
    ports: [{ name: 'nccl', port: 29500, protocol: 'TCP' }],
  });
  const informers = new InformerFactory(client);
  const dns = new ClusterDns({ client, informers, clusterDomain: 'cluster.local', address: '127.0.0.1', port: 0, upstreams: [], log: () => {} });
  await dns.start();
  console.log(`cluster DNS on 127.0.0.1:${dns.port}; ${clients} UDP clients x ${window} queries in flight, ${seconds} s per case`);

  const rows: Row[] = [];
  let failed = false;
  try {
    for (const c of CASES) {
      const worker = new Worker(new URL(import.meta.url), { workerData: { port: dns.port, name: c.name, rcode: c.rcode, answers: c.answers, clients, window, seconds } satisfies LoadSpec });
      const result = await new Promise<LoadResult>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      const qps = result.answered / result.seconds;
      const lat = summarize(result.latenciesMs);
      if (result.wrong > 0) failed = true;
      rows.push({ metric: `${c.label}: queries/s`, value: fmt(qps, 0), target: `>= ${TARGET_QPS}`, ok: qps >= TARGET_QPS && result.wrong === 0 });
      rows.push({ metric: `${c.label}: latency p50 / p99 (ms)`, value: `${fmt(lat.p50, 2)} / ${fmt(lat.p99, 2)}` });
      if (result.wrong > 0) rows.push({ metric: `${c.label}: wrong answers`, value: String(result.wrong), target: '0', ok: false });
    }
    rows.push(...(await readinessToSlice(client, informers, 50)));
  } finally {
    await dns.stop();
    informers.stop();
    registry.stop();
    await backend.close();
  }
  printTable(rows);
  return failed ? 1 : 0;
}

/** Flips a pod's Ready condition `n` times and measures until its EndpointSlice endpoint says so (watching slices). */
async function readinessToSlice(client: InProcessClient, informers: InformerFactory, n: number): Promise<Row[]> {
  await client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bench-node' } });
  const controller = new EndpointSliceController({ client, informers, events: new EventRecorder(client, 'endpoint-slice-controller') });
  await controller.start();
  await client.create(R.services, 'bench', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ready' }, spec: { selector: { app: 'ready' }, ports: [{ port: 80 }] } });
  const pod: any = await client.create(R.pods, 'bench', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ready-0', labels: { app: 'ready' } },
    spec: { nodeName: 'bench-node', containers: [{ name: 'c', image: 'busybox' }] },
  });
  let waiting: { ready: boolean; resolve: (t: number) => void } | undefined;
  const watch = await client.watch(ENDPOINT_SLICES, 'bench', { labelSelector: 'kubernetes.io/service-name=ready' }, (ev) => {
    const ep = (ev.object as any)?.endpoints?.[0];
    if (waiting && ep && ep.conditions?.ready === waiting.ready) waiting.resolve(performance.now());
  });
  const samples: number[] = [];
  try {
    let cur = pod;
    for (let i = 0; i <= n; i++) {
      const ready = i % 2 === 0;
      const seen = new Promise<number>((resolve) => (waiting = { ready, resolve }));
      const t0 = performance.now();
      cur = await client.update(R.pods, 'bench', { ...cur, status: { phase: 'Running', podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } }, { subresource: 'status' });
      const t1 = await seen;
      // The first flip creates the slice; the rest are the in-place updates a readiness change makes.
      if (i > 0) samples.push(t1 - t0);
    }
  } finally {
    watch.stop();
    controller.stop();
  }
  const s = summarize(samples);
  return [
    { metric: 'pod Ready flip -> EndpointSlice updated: p50 (ms)', value: fmt(s.p50, 2) },
    { metric: 'pod Ready flip -> EndpointSlice updated: p99 (ms)', value: fmt(s.p99, 2), target: `<= ${TARGET_SLICE_P99_MS}`, ok: s.p99 <= TARGET_SLICE_P99_MS },
  ];
}

if (isMainThread) {
  main().then((code) => process.exit(code));
} else {
  generateLoad(workerData as LoadSpec).then((r) => parentPort!.postMessage(r));
}
