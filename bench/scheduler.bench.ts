/**
 * Scheduler benchmark: an in-process API server (memory backend) with N
 * hollow nodes (src/kubelet/hollow.ts: Node objects with allocatable and
 * Leases, nothing runs on them) and
 * a running scheduler; P pods are created and the throughput from the first
 * create to the last binding is reported, next to the target (upstream's
 * scheduler_perf threshold for this case is 680 pods/s; Kite's is 1,000).
 *
 *   npm run build && node dist/bench/scheduler.bench.js [--nodes 5000] [--pods 10000] [--concurrency 100]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { MemoryBackend } from '../src/storage/memory.js';
import { Registry } from '../src/apiserver/registry/registry.js';
import { InProcessClient } from '../src/client/inprocess.js';
import { InformerFactory } from '../src/client/factory.js';
import { EventRecorder } from '../src/client/events.js';
import { R, type Client } from '../src/client/client.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { HollowNodes } from '../src/kubelet/hollow.js';

const TARGET_PODS_PER_SECOND = 1000;

/** Allocatable of the benchmark's hollow nodes: a typical machine's. */
const NODE_ALLOCATABLE = { cpu: '4', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' };

/** A pod like scheduler_perf's default pod template: small requests. */
function benchPod(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: 'bench' },
    spec: { containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '100m', memory: '500Mi' } } }] },
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

/** Resolves once `count` pods in the namespace are bound; counts through a watch. */
async function awaitBound(client: Client, ns: string, count: number): Promise<() => Promise<number>> {
  const bound = new Set<string>();
  let resolveDone!: (t: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const w = await client.watch(R.pods, ns, {}, (ev) => {
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
    const p = ev.object as any;
    if (!p.spec?.nodeName || bound.has(p.metadata.name)) return;
    bound.add(p.metadata.name);
    if (bound.size === count) resolveDone(performance.now());
  });
  return async () => {
    const t = await done;
    w.stop();
    return t;
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '5000' },
      pods: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '100' },
    },
  });
  const nodes = Number(values.nodes);
  const pods = Number(values.pods);
  const concurrency = Number(values.concurrency);

  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const client = new InProcessClient(registry, { name: 'bench', groups: ['system:masters'] }, 'bench');
  for (const name of ['bench', 'kube-node-lease']) await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  let t = performance.now();
  // As scheduler_perf, the nodes run nothing: pods stay bound (runPods off), and
  // the Leases are not renewed during the short measurement (kept off the write path being measured).
  const hollow = new HollowNodes({ client, count: nodes, allocatable: NODE_ALLOCATABLE, leaseIntervalMs: 0, runPods: false, concurrency });
  await hollow.start();
  console.log(`registered ${nodes} hollow nodes (and their Leases) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const informers = new InformerFactory(client);
  const scheduler = new Scheduler({ client, informers, events: new EventRecorder(client, 'default-scheduler') });
  await scheduler.start();
  console.log(`scheduler started with ${scheduler.cache.nodeCount} nodes in its cache`);

  const finished = await awaitBound(client, 'bench', pods);
  const cpu0 = process.cpuUsage();
  t = performance.now();
  await pool(pods, concurrency, (i) => client.create(R.pods, 'bench', benchPod(i)));
  const created = performance.now();
  const end = await finished();
  const cpu = process.cpuUsage(cpu0);
  const seconds = (end - t) / 1000;
  const rate = pods / seconds;

  console.log(`created ${pods} pods in ${((created - t) / 1000).toFixed(2)} s`);
  console.log(`scheduled ${pods} pods on ${nodes} nodes in ${seconds.toFixed(2)} s (first create to last binding)`);
  console.log(`throughput: ${rate.toFixed(0)} pods/s (target >= ${TARGET_PODS_PER_SECOND}) ${rate >= TARGET_PODS_PER_SECOND ? 'OK' : 'BELOW TARGET'}`);
  const m = scheduler.metrics;
  console.log(
    `scheduling cycles (filter+score+assume, no API calls): ${(m.cycleMs / 1000).toFixed(2)} s in all, ${((m.cycleMs * 1000) / pods).toFixed(0)} µs/pod ` +
      `(~${Math.round(pods / (m.cycleMs / 1000))} pods/s on their own); the rest is the API server (pod creates, bindings, events)`,
  );
  console.log(`process CPU: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${seconds.toFixed(1)} s wall; heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);

  scheduler.stop();
  hollow.stop();
  await scheduler.bindingsSettled();
  informers.stop();
  registry.stop();
  await backend.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
