/**
 * Gang-scheduling benchmark: an in-process API server (memory backend)
 * serving the PodGroup CRD, N hollow GPU nodes (src/kubelet/hollow.ts, each
 * with `nvidia.com/gpu: 8`) and a running scheduler with Coscheduling. G
 * gangs are submitted as a training-job controller would — a PodGroup
 * (minMember 8), then its 8 pods asking for one GPU each — with up to C
 * gangs being submitted at once; the throughput from the first create to
 * the last binding is reported in gangs/s, next to the target (200 gangs/s).
 * Every gang must end up bound whole: a gang with some but not all members
 * bound fails the run.
 *
 *   npm run build && node dist/bench/gang.bench.js [--nodes 1000] [--gangs 500] [--size 8] [--concurrency 20] [--cpu-prof FILE]
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the measured window only (first
 * create to last binding) for `dist/bench/cpuprofile-top.js`.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { MemoryBackend } from '../src/storage/memory.js';
import { Registry } from '../src/apiserver/registry/registry.js';
import { CustomResources } from '../src/apiserver/customresources.js';
import { InProcessClient } from '../src/client/inprocess.js';
import { InformerFactory } from '../src/client/factory.js';
import { EventRecorder } from '../src/client/events.js';
import { R, type Client } from '../src/client/client.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { HollowNodes } from '../src/kubelet/hollow.js';
import { POD_GROUP_LABEL, PODGROUPS } from '../src/api/podgroup.js';
import { ensurePodGroupCRD } from '../src/controllers/podgroup.js';

const TARGET_GANGS_PER_SECOND = 200;

/** A GPU machine: 8 GPUs, enough cpu and memory that the GPUs are what runs out. */
const NODE_ALLOCATABLE = { cpu: '96', memory: '1Ti', pods: '110', 'nvidia.com/gpu': '8' };

/** One gang member: a training worker asking for one GPU (extended resources need limit = request). */
function worker(gang: number, i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `train-${gang}-worker-${i}`, namespace: 'bench', labels: { [POD_GROUP_LABEL]: `train-${gang}` } },
    spec: {
      containers: [{ name: 'pytorch', image: 'pytorch/pytorch', resources: { requests: { cpu: '1', memory: '4Gi', 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }],
    },
  };
}

/** Runs `n` jobs with at most `limit` in flight. */
async function pool(n: number, limit: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** Counts bound pods per gang through a watch; resolves with the time the last of `total` pods was bound. */
async function awaitBound(client: Client, total: number): Promise<{ done: () => Promise<number>; perGang: Map<string, number> }> {
  const bound = new Set<string>();
  const perGang = new Map<string, number>();
  let resolveDone!: (t: number) => void;
  const finished = new Promise<number>((r) => (resolveDone = r));
  const w = await client.watch(R.pods, 'bench', {}, (ev) => {
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
    const p = ev.object as any;
    if (!p.spec?.nodeName || bound.has(p.metadata.name)) return;
    bound.add(p.metadata.name);
    const g = p.metadata.labels[POD_GROUP_LABEL];
    perGang.set(g, (perGang.get(g) ?? 0) + 1);
    if (bound.size === total) resolveDone(performance.now());
  });
  return {
    perGang,
    done: async () => {
      const t = await finished;
      w.stop();
      return t;
    },
  };
}

/** Starts the V8 profiler in this process; stop() gives the profile. */
async function startProfile(): Promise<{ stop: () => Promise<unknown> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1000' },
      gangs: { type: 'string', default: '500' },
      size: { type: 'string', default: '8' },
      concurrency: { type: 'string', default: '20' },
      'cpu-prof': { type: 'string' },
    },
  });
  const nodes = Number(values.nodes);
  const gangs = Number(values.gangs);
  const size = Number(values.size);
  const concurrency = Number(values.concurrency);
  if (gangs * size > nodes * 8) throw new Error(`${gangs} gangs of ${size} need ${gangs * size} GPUs; ${nodes} nodes have ${nodes * 8}`);

  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const crs = new CustomResources(registry);
  await crs.start();
  const client = new InProcessClient(registry, { name: 'bench', groups: ['system:masters'] }, 'bench');
  for (const name of ['bench', 'kube-node-lease']) await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await ensurePodGroupCRD(client);

  let t = performance.now();
  // As scheduler_perf, the nodes run nothing: pods stay bound, Leases are not renewed while measuring.
  const hollow = new HollowNodes({ client, count: nodes, allocatable: NODE_ALLOCATABLE, leaseIntervalMs: 0, runPods: false, concurrency: 100 });
  await hollow.start();
  console.log(`registered ${nodes} hollow GPU nodes (nvidia.com/gpu: 8 each) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const informers = new InformerFactory(client);
  const scheduler = new Scheduler({ client, informers, events: new EventRecorder(client, 'default-scheduler') });
  await scheduler.start();

  const { done, perGang } = await awaitBound(client, gangs * size);
  const profiler = values['cpu-prof'] ? await startProfile() : undefined;
  const cpu0 = process.cpuUsage();
  t = performance.now();
  await pool(gangs, concurrency, async (g) => {
    await client.create(PODGROUPS, 'bench', { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name: `train-${g}`, namespace: 'bench' }, spec: { minMember: size } });
    for (let i = 0; i < size; i++) await client.create(R.pods, 'bench', worker(g, i));
  });
  const created = performance.now();
  const end = await done();
  const cpu = process.cpuUsage(cpu0);
  if (profiler) writeFileSync(values['cpu-prof']!, JSON.stringify(await profiler.stop()));
  const seconds = (end - t) / 1000;
  const rate = gangs / seconds;
  const partial = [...perGang.values()].filter((n) => n !== size).length;
  await scheduler.bindingsSettled();

  console.log(`created ${gangs} PodGroups and ${gangs * size} pods in ${((created - t) / 1000).toFixed(2)} s`);
  console.log(`scheduled ${gangs} gangs of ${size} (${gangs * size} pods) on ${nodes} nodes in ${seconds.toFixed(2)} s (first create to last binding)`);
  console.log(`throughput: ${rate.toFixed(0)} gangs/s (${(rate * size).toFixed(0)} pods/s; target >= ${TARGET_GANGS_PER_SECOND} gangs/s) ${rate >= TARGET_GANGS_PER_SECOND ? 'OK' : 'BELOW TARGET'}`);
  console.log(`gangs bound whole: ${perGang.size - partial} of ${gangs}${partial ? ` — ${partial} PARTIAL` : ''}`);
  const m = scheduler.metrics;
  console.log(`scheduling attempts: ${m.scheduled} bound, ${m.failed} turned away (members that came before their siblings existed, as with upstream coscheduling)`);
  console.log(`scheduling cycles: ${(m.cycleMs / 1000).toFixed(2)} s in all; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${seconds.toFixed(1)} s wall; heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);

  scheduler.stop();
  hollow.stop();
  await scheduler.bindingsSettled();
  informers.stop();
  crs.stop();
  registry.stop();
  await backend.close();
  if (partial) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
