/**
 * API server benchmark: starts a real `kite server` child process (durable
 * SQLite by default) on 127.0.0.1 and measures, over HTTPS with the admin
 * client certificate, create throughput and latency, large list latency,
 * watch fan-out, and the server's memory. It prints figures next to their
 * targets; it asserts nothing.
 *
 *   npm run bench [-- --datastore memory] [--only create,list,watch]
 *                 [--cpu-prof DIR] [--duration SECONDS] [--pods N] [--watchers N]
 *
 * Watchers run in a worker thread so that parsing their streams does not
 * steal the event loop of the writers; the event-loop utilisation of both
 * threads and the CPU used by the bench and by the server are printed so a
 * reader can tell whether a figure is limited by the server or by the bench.
 */
import { KiteServer } from '../test/e2e/harness.js';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import https from 'node:https';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import YAML from 'yaml';
import { percentile, summarize, type LatencySummary } from './stats.js';

/** TLS material and address of the server under test. */
interface Target {
  host: string;
  port: number;
  ca: string;
  cert: string;
  key: string;
}

/** One HTTP response, body kept as bytes. */
interface Reply {
  status: number;
  body: Buffer;
}

/** Messages from the watcher thread. */
type WatcherMsg =
  | { kind: 'ready' }
  | { kind: 'counts'; counts: number[]; chunks: number; elu: number; at: number }
  | { kind: 'error'; message: string };

/** Parameters handed to the watcher thread. */
interface WatcherParams {
  target: Target;
  path: string;
  watchers: number;
}


function request(agent: https.Agent, t: Target, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolveReq, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request(
      {
        host: t.host,
        port: t.port,
        method,
        path,
        agent,
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function newAgent(t: Target, maxSockets: number): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets, ca: t.ca, cert: t.cert, key: t.key });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads a field of /proc/<pid>/status in kB (VmRSS, VmHWM). */
function procStatusKb(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat. */
function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th fields.
  return { busy: (total - f[3]! - f[4]!) / 100, total: total / 100 };
}

/** CPU used by the server, by this process and by everything else over a measured window. */
class CpuWindow {
  private readonly server0: number;
  private readonly machine0 = machineCpuSeconds();
  private readonly self0 = process.cpuUsage();
  private readonly t0 = performance.now();
  private readonly elu0 = performance.eventLoopUtilization();

  constructor(private readonly pid: number) {
    this.server0 = procCpuSeconds(pid);
  }

  /**
   * Percent of one core used by the server, the bench and other processes on
   * the machine, and the bench main thread's event-loop utilisation.
   */
  end(): { server: number; bench: number; others: number; mainElu: number } {
    const secs = (performance.now() - this.t0) / 1000;
    const self = process.cpuUsage(this.self0);
    const server = ((procCpuSeconds(this.pid) - this.server0) / secs) * 100;
    const bench = ((self.user + self.system) / 1e6 / secs) * 100;
    const m = machineCpuSeconds();
    const machine = ((m.busy - this.machine0.busy) / secs) * 100;
    return { server, bench, others: Math.max(0, machine - server - bench), mainElu: performance.eventLoopUtilization(this.elu0).utilization };
  }
}

/** Runs `concurrency` loops calling `op` until `until()` says stop; returns per-op latencies in ms. */
async function drive(concurrency: number, until: () => boolean, op: (n: number) => Promise<void>): Promise<{ latencies: number[]; errors: number; firstError?: string }> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const loop = async () => {
    while (!until()) {
      const n = seq++;
      const t0 = performance.now();
      try {
        await op(n);
        latencies.push(performance.now() - t0);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, errors, firstError };
}

function configMap(name: string): object {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'bench' } }, data: { key: 'value', n: name } };
}

function pod(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  };
}

/** Creates one object and throws unless the server answered 201. */
async function create(agent: https.Agent, t: Target, path: string, obj: object): Promise<void> {
  const r = await request(agent, t, 'POST', path, obj);
  if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
}

/** A started `kite server` child with its data directory. */
interface ServerProcess {
  child: ChildProcess;
  pid: number;
  dataDir: string;
  target: Target;
  stderr: () => string;
  stop(): Promise<void>;
}

async function startServer(opts: { datastore: string; cpuProfDir?: string }): Promise<ServerProcess> {
  // The API server alone (the harness's default): no node, scheduler or controllers acting on the benchmark's objects.
  const server = new KiteServer({
    datastore: opts.datastore as 'sqlite' | 'memory',
    nodeArgs: opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [],
  });
  await server.start();
  const kc = YAML.parse(readFileSync(server.kubeconfig, 'utf8'));
  const url = new URL(kc.clusters[0].cluster.server as string);
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const user = kc.users[0].user;
  const target: Target = {
    host: url.hostname,
    port: Number(url.port),
    ca: b64(kc.clusters[0].cluster['certificate-authority-data']),
    cert: b64(user['client-certificate-data']),
    key: b64(user['client-key-data']),
  };
  if (target.host !== '127.0.0.1') throw new Error(`refusing to benchmark a server at ${target.host}; expected 127.0.0.1`);
  return { child: server.proc!, pid: server.proc!.pid!, dataDir: server.dataDir, target, stderr: () => server.log, stop: () => server.cleanup() };
}

/** One line of the results table. */
interface Row {
  metric: string;
  value: string;
  target?: string;
  ok?: boolean;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mb = (kb: number) => `${fmt(kb / 1024)} MB`;
const cpuNote = (c: { server: number; bench: number; others: number }) =>
  `CPU (% of one core; ${cpus().length} cores): server ${fmt(c.server, 0)}%, bench ${fmt(c.bench, 0)}%, other processes ${fmt(c.others, 0)}%`;
const lat = (s: LatencySummary) => `p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms, max ${fmt(s.max)} ms (n=${s.count})`;

async function benchCreates(srv: ServerProcess, rows: Row[], notes: string[], durationS: number): Promise<void> {
  const t = srv.target;
  const agent = newAgent(t, 32);
  const path = '/api/v1/namespaces/bench-create/configmaps';
  await create(agent, t, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-create' } });
  // Warm-up: JIT, TLS sessions for all 32 sockets, SQLite page cache.
  const warmEnd = performance.now() + 2000;
  await drive(32, () => performance.now() > warmEnd, (n) => create(agent, t, path, configMap(`warm-${n}`)));
  const cpu = new CpuWindow(srv.pid);
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  const r = await drive(32, () => performance.now() > end, (n) => create(agent, t, path, configMap(`cm-${n}`)));
  const secs = (performance.now() - t0) / 1000;
  const c = cpu.end();
  agent.destroy();
  const rate = r.latencies.length / secs;
  const s = summarize(r.latencies);
  rows.push({ metric: 'creates/s (ConfigMap, 32 clients)', value: fmt(rate, 0), target: '>= 3000', ok: rate >= 3000 });
  rows.push({ metric: 'create latency p50 at that load', value: `${fmt(s.p50)} ms` });
  rows.push({ metric: 'create latency p99 at that load', value: `${fmt(s.p99)} ms`, target: '< 50 ms', ok: s.p99 < 50 });
  notes.push(`creates: ${r.latencies.length} in ${fmt(secs)} s, ${r.errors} errors${r.firstError ? ` (first: ${r.firstError})` : ''}; ${lat(s)}`);
  notes.push(`creates: ${cpuNote(c)}, bench event loop ${fmt(c.mainElu * 100, 0)}% busy`);
  // CPU per operation is robust to other load on the machine: 1000 / it is the ceiling on one core.
  notes.push(`creates: server CPU per create ${fmt((c.server * 10 * secs) / r.latencies.length, 3)} ms (one core's ceiling ~${fmt((r.latencies.length / (c.server / 100)) / secs, 0)}/s)`);
}

async function benchList(srv: ServerProcess, rows: Row[], notes: string[], podCount: number): Promise<void> {
  const t = srv.target;
  const agent = newAgent(t, 32);
  const ns = 'bench';
  const path = `/api/v1/namespaces/${ns}/pods`;
  await create(agent, t, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const t0 = performance.now();
  let next = 0;
  const fill = await drive(32, () => next >= podCount, async () => {
    const n = next++;
    await create(agent, t, path, pod(`pod-${String(n).padStart(5, '0')}`));
  });
  const fillSecs = (performance.now() - t0) / 1000;
  notes.push(`list: created ${fill.latencies.length} pods in ${fmt(fillSecs)} s (${fmt(fill.latencies.length / fillSecs, 0)}/s, ${fill.errors} errors${fill.firstError ? `, first: ${fill.firstError}` : ''}); pod create ${lat(summarize(fill.latencies))}`);

  rows.push({ metric: `server RSS with ${podCount} pods, before lists`, value: mb(procStatusKb(srv.pid, 'VmRSS')) });

  const timeGet = async (p: string, runs: number) => {
    const times: number[] = [];
    let bytes = 0;
    let items = -1;
    let last: Reply | undefined;
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      last = await request(agent, t, 'GET', p);
      times.push(performance.now() - s);
      if (last.status !== 200) throw new Error(`GET ${p}: ${last.status} ${last.body.toString('utf8').slice(0, 200)}`);
      bytes = last.body.length;
    }
    // Parse once, outside the timing, to check the list is complete.
    items = (JSON.parse(last!.body.toString('utf8')).items as unknown[]).length;
    return { s: summarize(times), bytes, items };
  };
  const cpu = new CpuWindow(srv.pid);
  const full = await timeGet(path, 7);
  const page = await timeGet(`${path}?limit=500`, 20);
  const c = cpu.end();
  agent.destroy();
  rows.push({ metric: `list ${full.items} pods (no limit) p50`, value: `${fmt(full.s.p50)} ms` });
  rows.push({ metric: `list ${full.items} pods (no limit) p99`, value: `${fmt(full.s.p99)} ms` });
  rows.push({ metric: 'list limit=500 first page p50', value: `${fmt(page.s.p50)} ms` });
  rows.push({ metric: 'list limit=500 first page p99', value: `${fmt(page.s.p99)} ms` });
  notes.push(`list: full list ${fmt(full.bytes / 1e6, 2)} MB, ${full.items} items, ${lat(full.s)}`);
  notes.push(`list: limit=500 page ${fmt(page.bytes / 1e6, 2)} MB, ${page.items} items, ${lat(page.s)}`);
  notes.push(`list: during the list runs ${cpuNote(c)}`);
  if (full.items < podCount) notes.push(`list: WARNING expected ${podCount} items, got ${full.items}`);
}

async function benchWatch(srv: ServerProcess, rows: Row[], notes: string[], durationS: number, watchers: number): Promise<void> {
  const t = srv.target;
  const agent = newAgent(t, 32);
  const ns = 'bench-watch';
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  await create(agent, t, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const list = await request(agent, t, 'GET', `${path}?limit=1`);
  const rv = JSON.parse(list.body.toString('utf8')).metadata.resourceVersion as string;

  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { target: t, path: `${path}?watch=true&resourceVersion=${rv}`, watchers } satisfies WatcherParams,
  });
  const pending: ((m: WatcherMsg) => void)[] = [];
  let failure: string | undefined;
  worker.on('message', (m: WatcherMsg) => {
    if (m.kind === 'error') failure ??= m.message;
    else pending.shift()?.(m);
  });
  worker.on('error', (e) => (failure ??= e.message));
  const nextMsg = () => new Promise<WatcherMsg>((r) => pending.push(r));
  const snapshot = async () => {
    const p = nextMsg();
    worker.postMessage('counts');
    return (await p) as Extract<WatcherMsg, { kind: 'counts' }>;
  };
  const ready = await nextMsg();
  if (ready.kind !== 'ready') throw new Error('watcher thread did not start');

  let stop = false;
  let written = 0;
  const writerPromise = drive(32, () => stop, async (n) => {
    await create(agent, t, path, configMap(`w-${n}`));
    written++;
  });
  await sleep(1500); // warm-up with writers and watchers running
  const cpu = new CpuWindow(srv.pid);
  const a = await snapshot();
  const writtenA = written;
  await sleep(durationS * 1000);
  const b = await snapshot();
  const writtenB = written;
  const c = cpu.end();
  stop = true;
  const writes = await writerPromise;
  const secs = (b.at - a.at) / 1000;
  const rates = b.counts.map((n, i) => (n - a.counts[i]) / secs).sort((x, y) => x - y);
  const total = rates.reduce((s, r) => s + r, 0);
  const writeRate = (writtenB - writtenA) / secs;

  // After the writers stop: how long until every watcher has seen every write (the backlog).
  const drainStart = performance.now();
  let drained = false;
  let lastCounts = b.counts;
  while (performance.now() - drainStart < 15_000) {
    const s = await snapshot();
    lastCounts = s.counts;
    if (s.counts.every((n) => n >= written)) {
      drained = true;
      break;
    }
    await sleep(10);
  }
  const drainMs = performance.now() - drainStart;
  worker.postMessage('stop');
  await worker.terminate();
  agent.destroy();
  if (failure) notes.push(`watch: watcher thread reported: ${failure}`);

  const minRate = rates[0] ?? 0;
  const medRate = percentile(rates, 50);
  rows.push({ metric: `events/s per watcher, min (${watchers} watchers)`, value: fmt(minRate, 0), target: '>= 2000', ok: minRate >= 2000 });
  rows.push({ metric: `events/s per watcher, median`, value: fmt(medRate, 0), target: '>= 2000', ok: medRate >= 2000 });
  rows.push({ metric: 'events/s delivered, all watchers', value: fmt(total, 0) });
  rows.push({ metric: 'writes/s driving the watchers', value: fmt(writeRate, 0) });
  notes.push(`watch: ${written} writes (${writes.errors} errors${writes.firstError ? `, first: ${writes.firstError}` : ''}), write ${lat(summarize(writes.latencies))}`);
  notes.push(
    `watch: after writers stopped, ${drained ? `all watchers caught up in ${fmt(drainMs, 0)} ms` : `watchers still behind after ${fmt(drainMs, 0)} ms (min seen ${Math.min(...lastCounts)} of ${written})`}`,
  );
  notes.push(
    `watch: ${cpuNote(c)}, writer loop ${fmt(c.mainElu * 100, 0)}% busy, watcher thread loop ${fmt(b.elu * 100, 0)}% busy`,
  );
  notes.push(`watch: ${fmt((b.chunks - a.chunks) / secs / watchers, 0)} stream chunks/s per watcher, ${fmt((total * secs) / Math.max(1, b.chunks - a.chunks), 1)} events per chunk`);
  notes.push(`watch: server CPU per delivered event ${fmt((c.server * 10_000 * secs) / (total * secs), 1)} us, per write incl. fan-out ${fmt((c.server * 10 * secs) / Math.max(1, writtenB - writtenA), 2)} ms`);
  notes.push('watch: watchers run in a worker thread of the bench process; writers in its main thread');
}

/** Body of the watcher thread: opens the watches, counts events per watch, answers count requests. */
function watcherThread(params: WatcherParams): void {
  const { target: t, path, watchers } = params;
  const counts = new Array<number>(watchers).fill(0);
  // Stream chunks received over all watches: events per chunk shows how well the server coalesces writes.
  let chunks = 0;
  const agent = new https.Agent({ keepAlive: true, maxSockets: watchers, ca: t.ca, cert: t.cert, key: t.key });
  const requests: ReturnType<typeof https.request>[] = [];
  let opened = 0;
  const elu0 = performance.eventLoopUtilization();
  let eluMark = elu0;
  for (let i = 0; i < watchers; i++) {
    const req = https.request({ host: t.host, port: t.port, path, agent, headers: { Accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        parentPort!.postMessage({ kind: 'error', message: `watch ${i}: HTTP ${res.statusCode}` } satisfies WatcherMsg);
        return;
      }
      if (++opened === watchers) parentPort!.postMessage({ kind: 'ready' } satisfies WatcherMsg);
      // Incremental line framing: one JSON watch event per line. Each complete
      // line is checked to be an event frame ({"type":"...","object":...}) by
      // its prefix; a full JSON.parse per event would measure the bench, not the server.
      let carry = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        chunks++;
        let text = carry + chunk;
        let start = 0;
        for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
          if (text.startsWith('{"type":"', start)) {
            if (text.startsWith('ERROR', start + 9)) {
              parentPort!.postMessage({ kind: 'error', message: `watch ${i}: ${text.slice(start, Math.min(nl, start + 300))}` } satisfies WatcherMsg);
            } else counts[i]++;
          }
          start = nl + 1;
        }
        carry = start < text.length ? text.slice(start) : '';
        text = '';
      });
      res.on('end', () => parentPort!.postMessage({ kind: 'error', message: `watch ${i} ended by the server` } satisfies WatcherMsg));
    });
    req.on('error', (e) => parentPort!.postMessage({ kind: 'error', message: `watch ${i}: ${e.message}` } satisfies WatcherMsg));
    req.end();
    requests.push(req);
  }
  parentPort!.on('message', (m: string) => {
    if (m === 'counts') {
      const elu = performance.eventLoopUtilization(eluMark).utilization;
      eluMark = performance.eventLoopUtilization();
      parentPort!.postMessage({ kind: 'counts', counts: [...counts], chunks, elu, at: performance.now() + performance.timeOrigin } satisfies WatcherMsg);
    } else if (m === 'stop') {
      for (const r of requests) r.destroy();
      agent.destroy();
    }
  });
}

function printTable(rows: Row[]): void {
  const w0 = Math.max(...rows.map((r) => r.metric.length), 6);
  const w1 = Math.max(...rows.map((r) => r.value.length), 5);
  const w2 = Math.max(...rows.map((r) => (r.target ?? '').length), 6);
  const line = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c.padEnd(w2)} | ${d.padEnd(4)} |`;
  const sep = `|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|------|`;
  console.log(line('metric', 'value', 'target', 'met'));
  console.log(sep);
  for (const r of rows) console.log(line(r.metric, r.value, r.target ?? '', r.ok === undefined ? '' : r.ok ? 'yes' : 'NO'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      datastore: { type: 'string', default: 'sqlite' },
      only: { type: 'string', default: 'create,list,watch' },
      'cpu-prof': { type: 'string' },
      duration: { type: 'string', default: '10' },
      pods: { type: 'string', default: '10000' },
      watchers: { type: 'string', default: '100' },
    },
  });
  const only = new Set(values.only!.split(','));
  const durationS = Number(values.duration);
  const cpuProfDir = values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const started = performance.now();
  const rows: Row[] = [];
  const notes: string[] = [];
  const srv = await startServer({ datastore: values.datastore!, cpuProfDir });
  const onSignal = () => void srv.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    console.log(`kite server pid ${srv.pid} at https://127.0.0.1:${srv.target.port}, datastore ${values.datastore}${cpuProfDir ? `, CPU profile to ${cpuProfDir}` : ''}`);
    await sleep(2000); // let start-up garbage settle before reading idle RSS
    rows.push({ metric: 'server RSS, idle after start', value: mb(procStatusKb(srv.pid, 'VmRSS')), target: '< 150 MB', ok: procStatusKb(srv.pid, 'VmRSS') < 150 * 1024 });
    if (only.has('create')) {
      console.log(`creates: 32 clients for ${durationS} s ...`);
      await benchCreates(srv, rows, notes, durationS);
      rows.push({ metric: 'server RSS after creates', value: mb(procStatusKb(srv.pid, 'VmRSS')) });
    }
    if (only.has('list')) {
      console.log(`list: creating ${values.pods} pods, then listing ...`);
      await benchList(srv, rows, notes, Number(values.pods));
      rows.push({ metric: 'server RSS after lists', value: mb(procStatusKb(srv.pid, 'VmRSS')) });
    }
    if (only.has('watch')) {
      console.log(`watch: ${values.watchers} watchers, writers for ${durationS} s ...`);
      await benchWatch(srv, rows, notes, durationS, Number(values.watchers));
      rows.push({ metric: 'server RSS after watch', value: mb(procStatusKb(srv.pid, 'VmRSS')) });
    }
    rows.push({ metric: 'server peak RSS (VmHWM)', value: mb(procStatusKb(srv.pid, 'VmHWM')) });
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack}\n--- server stderr (tail) ---\n${srv.stderr().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    await srv.stop();
  }
  console.log('');
  console.log(`Kite API server benchmark (${values.datastore}, HTTPS, client certificate, ${process.platform} ${process.arch}, node ${process.version})`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log(`- total bench time ${fmt((performance.now() - started) / 1000)} s`);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  watcherThread(workerData as WatcherParams);
}
