/**
 * What running distributed training under Kite costs: the examples/ml-training
 * PyTorchJob (one Master and three Workers running train_ddp.py, gloo on CPU),
 * timed from its create to its Succeeded condition, against the same four
 * processes of the same script on the same data started by hand with the
 * environment torchrun gives its workers (rendezvous on loopback). Runs
 * alternate — Kite, by hand, Kite, … — so that load from elsewhere on the
 * machine falls on both alike; it prints the medians and the overhead next to
 * the target (≤ 10 % wall clock), and where the time under Kite went (pods
 * started, job status written, the server's own CPU). The by-hand processes
 * run in a cgroup with the same CPU weight as the node's pods, so that on a
 * busy machine the comparison is of Kite, not of CPU weights. It asserts
 * nothing.
 *
 *   npm run build && node dist/bench/training.bench.js [--reps 3] [--steps N]
 *
 * `--steps` overrides the example's number of training steps (STEPS) in both.
 * The server runs on a bridge and pod CIDR of its own, so it can share the
 * machine with a `kite up` or test clusters.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { R, type Client } from '../src/client/client.js';
import { TrainingLabels, trainingResource, type TrainingJob, type PyTorchJobSpec } from '../src/api/kubeflow.js';
import { DEFAULT_PATH, lookPath } from '../src/kubelet/runtime/sys.js';
import { detectCgroups } from '../src/kubelet/runtime/cgroups.js';
import { fmt, printTable, type Row } from './table.js';
import { startBenchServer, until, type BenchServer } from './server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench/ when compiled, bench/ when run through tsx. */
const ROOT = HERE.endsWith(join('dist', 'bench')) ? resolve(HERE, '..', '..') : resolve(HERE, '..');
const EXAMPLE = join(ROOT, 'examples', 'ml-training');
const NAMESPACE = 'bench-training';
const TARGET_OVERHEAD_PCT = 10;
const PYTORCHJOBS = trainingResource('PyTorchJob');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The example's objects, as its files hold them. */
interface Example {
  scripts: any;
  claim: any;
  job: TrainingJob<PyTorchJobSpec>;
}

function loadExample(): Example {
  const read = (f: string) => parseYaml(readFileSync(join(EXAMPLE, f), 'utf8'));
  return { scripts: read('00-scripts.yaml'), claim: read('10-output-volume.yaml'), job: read('20-pytorchjob.yaml') };
}

/** A `kite server` child with its node, on a network of its own. */
interface Server extends BenchServer {
  pid: number;
  /** The node's bridge, which also names its pods' cgroup. */
  bridge: string;
}

async function startServer(): Promise<Server> {
  // A bridge, pod CIDR and service CIDR of its own, as the e2e harness gives its servers.
  const bridge = `ktb${randomBytes(3).toString('hex')}`;
  const net = ['--bridge', bridge, '--pod-cidr', `10.244.${100 + Math.floor(Math.random() * 150)}.0/24`, '--service-cidr', `10.${112 + Math.floor(Math.random() * 88)}.${Math.floor(Math.random() * 256)}.0/24`, '--ingress-port', '0'];
  const srv = await startBenchServer({ name: 'training', args: net });
  return { ...srv, pid: srv.child.pid!, bridge };
}

/** CPU seconds a process has used so far (user + system, /proc/<pid>/stat fields 14 and 15). */
function cpuSeconds(pid: number): number {
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The distinct checksums the ranks wrote under `dir`/checksums, and how many ranks wrote one. */
function checksums(dir: string): { ranks: number; distinct: string[] } {
  const files = readdirSync(join(dir, 'checksums')).filter((f) => f.startsWith('rank-'));
  return { ranks: files.length, distinct: [...new Set(files.map((f) => readFileSync(join(dir, 'checksums', f), 'utf8').trim()))] };
}

/** One run under Kite: where its time went (ms from the create). */
interface KiteRun {
  total: number;
  allRunning: number;
  /** When the Master pod was seen Succeeded (upstream: the job succeeds with its Master). */
  masterSucceeded: number;
  /** CPU seconds the kite server itself (API server, controllers, scheduler, kubelet) used meanwhile. */
  serverCpu: number;
}

/** Creates the PyTorchJob `name`, waits for Succeeded, then deletes it and waits until its pods are gone. */
async function runUnderKite(client: Client, serverPid: number, example: Example, name: string, steps: string | undefined): Promise<KiteRun> {
  const job = structuredClone(example.job) as any;
  job.metadata = { ...job.metadata, name, namespace: NAMESPACE };
  if (steps) for (const spec of Object.values<any>(job.spec.pytorchReplicaSpecs)) spec.template.spec.containers[0].env.push({ name: 'STEPS', value: steps });
  const replicas = Object.values<any>(job.spec.pytorchReplicaSpecs).reduce((n, s) => n + (s.replicas ?? 1), 0);

  const running = new Set<string>();
  const succeeded = new Set<string>();
  const live = new Set<string>();
  let allRunning = NaN;
  let masterSucceeded = NaN;
  let finished!: (outcome: string) => void;
  let podsGone!: () => void;
  const outcome = new Promise<string>((r) => (finished = r));
  const gone = new Promise<void>((r) => (podsGone = r));
  let t0 = 0;
  let deleting = false;
  const pods = await client.list(R.pods, NAMESPACE, { labelSelector: `${TrainingLabels.jobName}=${name}` });
  const podWatch = await client.watch(R.pods, NAMESPACE, { labelSelector: `${TrainingLabels.jobName}=${name}`, resourceVersion: pods.resourceVersion }, (ev) => {
    const pod = ev.object as any;
    const podName = pod?.metadata?.name as string | undefined;
    if (!podName) return;
    const at = performance.now() - t0;
    if (ev.type === 'DELETED') {
      live.delete(podName);
      if (deleting && live.size === 0) podsGone();
      return;
    }
    live.add(podName);
    const phase = pod.status?.phase;
    if ((phase === 'Running' || phase === 'Succeeded') && !running.has(podName)) {
      running.add(podName);
      if (running.size === replicas) allRunning = at;
    }
    if (phase === 'Succeeded' && !succeeded.has(podName)) {
      succeeded.add(podName);
      if (pod.metadata.labels?.[TrainingLabels.replicaType] === 'master') masterSucceeded = at;
    }
  });
  const jobs = await client.list(PYTORCHJOBS, NAMESPACE);
  const jobWatch = await client.watch(PYTORCHJOBS, NAMESPACE, { fieldSelector: `metadata.name=${name}`, resourceVersion: jobs.resourceVersion }, (ev) => {
    const conditions: any[] = (ev.object as any)?.status?.conditions ?? [];
    const last = conditions.find((c) => (c.type === 'Succeeded' || c.type === 'Failed') && c.status === 'True');
    if (last) finished(last.type === 'Succeeded' ? 'Succeeded' : `Failed: ${last.message ?? last.reason}`);
  });
  const timer = setTimeout(() => finished('timed out after 300 s'), 300_000);
  const cpu0 = cpuSeconds(serverPid);
  t0 = performance.now();
  await client.create(PYTORCHJOBS, NAMESPACE, job);
  const result = await outcome;
  const total = performance.now() - t0;
  const serverCpu = cpuSeconds(serverPid) - cpu0;
  clearTimeout(timer);
  jobWatch.stop();

  // Clean up before the next run, so no teardown competes with it for the CPUs.
  deleting = true;
  await client.delete(PYTORCHJOBS, NAMESPACE, name, { propagationPolicy: 'Foreground' });
  if (live.size === 0) podsGone();
  const goneTimer = setTimeout(() => podsGone(), 60_000);
  await gone;
  clearTimeout(goneTimer);
  podWatch.stop();
  if (result !== 'Succeeded') throw new Error(`PyTorchJob ${name}: ${result}`);
  return { total, allRunning, masterSucceeded, serverCpu };
}

/**
 * A cgroup beside the node's pod cgroup with the same CPU weight, for the
 * by-hand processes: the node's pods share one weight against the rest of
 * the machine where hand-started processes would each have their own, and on
 * a busy machine that alone, not Kite, would decide the race. Undefined where
 * cgroups are not writable (the processes then run where the bench runs).
 */
function peerCgroup(nodeCgroup: string): string | undefined {
  const h = detectCgroups();
  const base = h === undefined || process.getuid?.() !== 0 ? undefined : h.version === 1 ? h.controllers.cpu : h.mount;
  const weightFile = h?.version === 1 ? 'cpu.shares' : 'cpu.weight';
  if (base === undefined || !existsSync(join(base, nodeCgroup, weightFile))) return undefined;
  const dir = join(base, `${nodeCgroup}-byhand`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, weightFile), readFileSync(join(base, nodeCgroup, weightFile), 'utf8').trim());
  return dir;
}

/** A TCP port nothing listens on now (for the by-hand rendezvous). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

/** The four ranks by hand on loopback with torchrun's worker environment; resolves with the wall-clock ms. */
async function runByHand(python: string, script: string, outputDir: string, worldSize: number, steps: string | undefined, cgroup: string | undefined): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const children: ChildProcess[] = [];
  const exits = Array.from({ length: worldSize }, (_, rank) => {
    // What torchrun exports to each worker of a single-node job, plus what the operator adds.
    const env: Record<string, string> = {
      PATH: DEFAULT_PATH,
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      WORLD_SIZE: String(worldSize),
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      LOCAL_WORLD_SIZE: String(worldSize),
      GROUP_RANK: '0',
      PYTHONUNBUFFERED: '0',
      OUTPUT_DIR: outputDir,
      ...(steps ? { STEPS: steps } : {}),
    };
    // Into the cgroup first (the shell moves itself, then becomes python), so no CPU is spent outside it.
    const child = cgroup ? spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(cgroup, 'cgroup.procs'), python, script], { env, stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(python, [script], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    return new Promise<void>((done, fail) => child.once('exit', (code) => (code === 0 ? done() : fail(new Error(`rank ${rank} exited ${code}:\n${stderr}`)))));
  });
  try {
    await Promise.all(exits);
  } catch (e) {
    // The other ranks would wait for the failed one forever.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.allSettled(exits);
    throw e;
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, steps: { type: 'string' } } });
  const reps = Math.max(1, Number(values.reps));
  const steps = values.steps;
  const started = performance.now();
  // The pods run `python3` from the container's default PATH: by hand, run the same one.
  const python = lookPath('python3', DEFAULT_PATH);
  if (!python || spawnSync(python, ['-c', 'import torch.distributed'], { stdio: 'ignore' }).status !== 0) {
    console.log(`training: skipped: ${python ?? 'python3'} cannot import torch (apt-get install -y python3-torch)`);
    return;
  }
  if (process.getuid?.() !== 0) console.log('note: not root; the node agent falls back to host networking (no network namespaces)');

  const example = loadExample();
  const worldSize = Object.values(example.job.spec?.pytorchReplicaSpecs ?? {}).reduce((n, s) => n + (s.replicas ?? 1), 0);
  const work = mkdtempSync(join(tmpdir(), 'kite-training-byhand-'));
  const script = join(work, 'train_ddp.py');
  writeFileSync(script, example.scripts.data['train_ddp.py']);

  const rows: Row[] = [];
  const notes: string[] = [];
  const load0 = loadavg()[0]!;
  const srv = await startServer();
  let cgroup: string | undefined;
  const onSignal = () => void srv.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const client = srv.client;
    const node = await until('the node Ready', 60_000, async () => {
      const nodes = await client.list(R.nodes, '');
      return nodes.items.find((n: any) => (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'));
    });
    await until('the PyTorchJob API', 30_000, async () => (await client.list(PYTORCHJOBS, '')) !== undefined);
    await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    await until('the default ServiceAccount', 30_000, () => client.get(R.serviceaccounts, NAMESPACE, 'default'));
    await client.create(R.configmaps, NAMESPACE, { ...example.scripts, metadata: { ...example.scripts.metadata, namespace: NAMESPACE } });
    await client.create(R.persistentvolumeclaims, NAMESPACE, { ...example.claim, metadata: { ...example.claim.metadata, namespace: NAMESPACE } });
    const volume = await until('the claim Bound', 60_000, async () => {
      const claim = await client.get(R.persistentvolumeclaims, NAMESPACE, example.claim.metadata.name);
      if (claim.status?.phase !== 'Bound') return undefined;
      return (await client.get(R.persistentvolumes, '', claim.spec.volumeName)).spec?.hostPath?.path as string | undefined;
    });

    cgroup = peerCgroup(srv.bridge);
    notes.push(cgroup ? `the by-hand processes ran in a cgroup with the CPU weight of the node's pod cgroup (${cgroup})` : 'the by-hand processes ran in the bench\'s own cgroup (cgroups not writable here)');
    console.log(`training: ${reps} runs of the ${worldSize}-process PyTorchJob on node ${node.metadata.name}, each followed by the same processes by hand ...`);
    const kite: KiteRun[] = [];
    const byHand: number[] = [];
    for (let i = 1; i <= reps; i++) {
      const k = await runUnderKite(client, srv.pid, example, `pytorch-ddp-${i}`, steps);
      const sums = checksums(volume);
      if (sums.ranks !== worldSize || sums.distinct.length !== 1) notes.push(`run ${i} under Kite: ${sums.ranks} ranks wrote ${sums.distinct.length} distinct weight checksums`);
      kite.push(k);
      const out = join(work, `out-${i}`);
      mkdirSync(out);
      const h = await runByHand(python, script, out, worldSize, steps, cgroup);
      const handSums = checksums(out);
      if (handSums.ranks !== worldSize || handSums.distinct.length !== 1) notes.push(`run ${i} by hand: ${handSums.ranks} ranks wrote ${handSums.distinct.length} distinct weight checksums`);
      byHand.push(h);
      console.log(`  run ${i}: under Kite ${fmt(k.total / 1000)} s (all pods Running at ${fmt(k.allRunning / 1000)} s), by hand ${fmt(h / 1000)} s`);
      if (sums.distinct[0] !== handSums.distinct[0]) notes.push(`run ${i}: the weights under Kite and by hand differ (${sums.distinct[0]?.slice(0, 12)} vs ${handSums.distinct[0]?.slice(0, 12)})`);
    }
    const kiteMedian = median(kite.map((k) => k.total));
    const handMedian = median(byHand);
    const overhead = ((kiteMedian - handMedian) / handMedian) * 100;
    rows.push({ metric: `PyTorchJob under Kite, create -> Succeeded (median of ${reps})`, value: `${fmt(kiteMedian / 1000, 2)} s` });
    rows.push({ metric: `same ${worldSize} processes by hand, torchrun env (median of ${reps})`, value: `${fmt(handMedian / 1000, 2)} s` });
    rows.push({ metric: 'overhead of running under Kite (wall clock)', value: `${fmt(overhead)} %`, target: `<= ${TARGET_OVERHEAD_PCT} %`, ok: overhead <= TARGET_OVERHEAD_PCT });
    rows.push({ metric: `under Kite: create -> all ${worldSize} pods Running (median)`, value: `${fmt(median(kite.map((k) => k.allRunning)) / 1000, 2)} s` });
    rows.push({ metric: 'under Kite: Master pod Succeeded -> job Succeeded (median)', value: `${fmt(median(kite.map((k) => k.total - k.masterSucceeded)) / 1000, 2)} s` });
    rows.push({ metric: 'under Kite: CPU used by the kite server during a run (median)', value: `${fmt(median(kite.map((k) => k.serverCpu)), 2)} s` });
    notes.push(`Kite runs: ${kite.map((k) => fmt(k.total / 1000)).join(', ')} s; by hand: ${byHand.map((h) => fmt(h / 1000)).join(', ')} s`);
    if (!notes.some((n) => n.includes('checksums') || n.includes('differ'))) notes.push(`every run, under Kite and by hand, ended with the same weights on all ${worldSize} ranks`);
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack}\n--- server stderr (tail) ---\n${srv.stderr().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    await srv.stop();
    rmSync(work, { recursive: true, force: true });
    if (cgroup) rmdirSync(cgroup);
  }
  console.log('');
  console.log(`Kite distributed-training overhead benchmark (examples/ml-training PyTorchJob, gloo on CPU, ${steps ?? 'default'} steps, process runtime, ${process.platform} ${process.arch}, node ${process.version})`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log(`- load average (1 min) ${fmt(load0, 2)} at the start, ${fmt(loadavg()[0]!, 2)} at the end, on ${availableParallelism()} CPUs`);
  console.log(`- total bench time ${fmt((performance.now() - started) / 1000)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
