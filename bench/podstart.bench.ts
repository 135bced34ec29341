/**
 * Pod start latency on the real node: starts a `kite server` child with its
 * node agent (process runtime; as root each pod gets its own network
 * namespace), creates P bare pods at once (each a host process running
 * `sleep 3600`) and measures, per pod, the time from sending its create to
 * the first status the watch shows with phase Running and condition Ready —
 * p50/p99 next to the target (p99 < 1 s for 50 pods). Then deletes them all
 * and measures until they are gone. It prints a table; it asserts nothing.
 *
 *   npm run build && node dist/bench/podstart.bench.js [--pods 50] [--datastore sqlite|memory] [--cpu-prof DIR]
 *
 * Only one node agent may own the bridge `kite0` on a machine: the bench
 * waits (up to 5 minutes) for another one to go before it starts its own.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { R, isStatus, type Client, type ClientWatch } from '../src/client/client.js';
import { summarize, type LatencySummary } from './stats.js';
import { fmt, printTable, type Row } from './table.js';
import { startBenchServer, until, type BenchServer } from './server.js';

const NODE_NAME = 'bench-node';
const NAMESPACE = 'bench-podstart';
const TARGET_P99_MS = 1000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function bridgePresent(): boolean {
  return spawnSync('ip', ['link', 'show', 'kite0'], { stdio: 'ignore' }).status === 0;
}

/** Waits until no other node agent holds the bridge (polling), or gives up. */
async function waitForBridgeFree(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let said = false;
  while (bridgePresent()) {
    if (Date.now() > deadline) return false;
    if (!said) console.log('another node agent holds bridge kite0; waiting for it to go ...');
    said = true;
    await sleep(3000);
  }
  return true;
}

async function startServer(datastore: string, cpuProfDir?: string): Promise<BenchServer> {
  const args = ['--node-name', NODE_NAME, ...(datastore !== 'sqlite' ? ['--datastore', datastore] : [])];
  return startBenchServer({ name: 'podstart', args, nodeArgs: cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [], stopGraceMs: 30_000 });
}

function benchPod(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE, labels: { app: 'podstart-bench' } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'sleep', image: 'busybox', command: ['sleep', '3600'] }],
    },
  };
}

const runningAndReady = (p: any) => p?.status?.phase === 'Running' && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
const lat = (s: LatencySummary) => `p50 ${fmt(s.p50, 0)} ms, p99 ${fmt(s.p99, 0)} ms, max ${fmt(s.max, 0)} ms (n=${s.count})`;

async function measure(client: Client, pods: number, rows: Row[], notes: string[]): Promise<void> {
  await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  // Pods are admitted with the namespace's default ServiceAccount, which its controller creates.
  await until('the default ServiceAccount', 30_000, () => client.get(R.serviceaccounts, NAMESPACE, 'default'));

  const sent = new Map<string, number>();
  const running = new Map<string, number>();
  const gone = new Map<string, number>();
  let allRunning!: () => void;
  let allGone!: () => void;
  const runningDone = new Promise<void>((r) => (allRunning = r));
  const goneDone = new Promise<void>((r) => (allGone = r));
  const list = await client.list(R.pods, NAMESPACE);
  const watch: ClientWatch = await client.watch(R.pods, NAMESPACE, { resourceVersion: list.resourceVersion }, (ev) => {
    const name = ev.object?.metadata?.name as string | undefined;
    if (!name || !sent.has(name)) return;
    const at = performance.now();
    if ((ev.type === 'ADDED' || ev.type === 'MODIFIED') && !running.has(name) && runningAndReady(ev.object)) {
      running.set(name, at);
      if (running.size === pods) allRunning();
    }
    if (ev.type === 'DELETED' && !gone.has(name)) {
      gone.set(name, at);
      if (gone.size === pods) allGone();
    }
  });

  const names = Array.from({ length: pods }, (_, i) => `sleeper-${i}`);
  const t0 = performance.now();
  await Promise.all(
    names.map(async (n) => {
      sent.set(n, performance.now());
      await client.create(R.pods, NAMESPACE, benchPod(n));
    }),
  );
  const created = performance.now();
  const timeout = setTimeout(() => allRunning(), 60_000);
  await runningDone;
  clearTimeout(timeout);
  const tRunning = performance.now();
  const startLat = names.filter((n) => running.has(n)).map((n) => running.get(n)! - sent.get(n)!);
  const s = summarize(startLat);
  rows.push({ metric: `pod start, create -> Running+Ready, p50 (${pods} pods at once)`, value: `${fmt(s.p50, 0)} ms` });
  rows.push({ metric: 'pod start, create -> Running+Ready, p99', value: `${fmt(s.p99, 0)} ms`, target: `< ${TARGET_P99_MS} ms`, ok: running.size === pods && s.p99 < TARGET_P99_MS });
  rows.push({ metric: 'pod start, max', value: `${fmt(s.max, 0)} ms` });
  rows.push({ metric: `all ${pods} pods Running after the first create`, value: `${fmt(tRunning - t0, 0)} ms` });
  notes.push(`start: ${pods} creates sent at once took ${fmt(created - t0, 0)} ms to be acknowledged; ${lat(s)}`);
  if (running.size < pods) notes.push(`start: WARNING only ${running.size} of ${pods} pods became Running and Ready within 60 s`);

  const d0 = performance.now();
  const deleteSent = new Map<string, number>();
  await Promise.all(
    names.map(async (n) => {
      deleteSent.set(n, performance.now());
      try {
        await client.delete(R.pods, NAMESPACE, n);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }),
  );
  const dTimeout = setTimeout(() => allGone(), 60_000);
  await goneDone;
  clearTimeout(dTimeout);
  const dEnd = performance.now();
  watch.stop();
  const del = summarize(names.filter((n) => gone.has(n)).map((n) => gone.get(n)! - deleteSent.get(n)!));
  rows.push({ metric: 'pod delete -> gone, p50', value: `${fmt(del.p50, 0)} ms` });
  rows.push({ metric: 'pod delete -> gone, p99', value: `${fmt(del.p99, 0)} ms` });
  rows.push({ metric: `all ${pods} pods gone after the first delete`, value: `${fmt(dEnd - d0, 0)} ms` });
  if (gone.size < pods) notes.push(`delete: WARNING only ${gone.size} of ${pods} pods were gone within 60 s`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pods: { type: 'string', default: '50' },
      datastore: { type: 'string', default: 'sqlite' },
      'cpu-prof': { type: 'string' },
    },
  });
  const pods = Number(values.pods);
  const started = performance.now();
  if (process.getuid?.() !== 0) console.log('note: not root; the node agent falls back to host networking (no network namespaces)');
  if (!(await waitForBridgeFree(5 * 60_000))) {
    console.log('podstart: skipped: bridge kite0 is still held by another node agent after 5 minutes');
    return;
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  const srv = await startServer(values.datastore!, values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined);
  const onSignal = () => void srv.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const client = srv.client;
    const t = performance.now();
    await until(`node ${NODE_NAME} Ready`, 30_000, async () => {
      const n = await client.get(R.nodes, '', NODE_NAME);
      return (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
    notes.push(`node ${NODE_NAME} Ready ${fmt(performance.now() - t, 0)} ms after the server said it was ready`);
    console.log(`pod start: creating ${pods} pods at once on ${NODE_NAME} ...`);
    await measure(client, pods, rows, notes);
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack}\n--- server stderr (tail) ---\n${srv.stderr().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    await srv.stop();
  }
  console.log('');
  console.log(`Kite pod start benchmark (process runtime, ${values.datastore}, ${process.getuid?.() === 0 ? 'root: a network namespace per pod' : 'host network'}, ${process.platform} ${process.arch}, node ${process.version})`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log(`- total bench time ${fmt((performance.now() - started) / 1000)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
