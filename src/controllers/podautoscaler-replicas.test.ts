import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  calculatePodRequests,
  getResourceReplicas,
  groupPods,
  plainMetricReplicas,
  type PodMetricsInfo,
  type ReplicaCalculatorOptions,
  type ResourceMetricsClient,
} from './podautoscaler-replicas.js';

/** upstream's testing knobs (replica_calculator_test.go): tolerance 0.1, CPU initialization 2 min, readiness delay 10 s. */
const OPTS: ReplicaCalculatorOptions = { tolerance: 0.1, cpuInitializationPeriodMs: 2 * 60_000, delayOfInitialReadinessStatusMs: 10_000 };
const GO_ZERO = '0001-01-01T00:00:00Z';
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
/** Pods started within the CPU initialization period ("hot") or before it ("cool"), as upstream's helpers. */
const START = { hot: () => ago(60_000), cool: () => ago(3 * 60_000) };

/** A metrics client that answers from fixed PodMetrics and records what was asked. */
class RecordedMetrics implements ResourceMetricsClient {
  readonly asked: { namespace: string; selector: string }[] = [];
  constructor(private readonly items: any[]) {}
  async listPodMetrics(namespace: string, selector: string): Promise<any[]> {
    this.asked.push({ namespace, selector });
    return this.items;
  }
}

/** One case in the shape of upstream's replicaCalcTestCase for resource metrics (2 containers per pod). */
interface Case {
  name: string;
  current: number;
  expected?: number;
  error?: RegExp;
  /** CPU request of each container of pod i ('' for none). */
  requests: string[];
  /** Usage (millicores) of each container of each pod that has metrics. */
  levels: number[][];
  podNames?: string[];
  target: number;
  utilization?: number;
  value?: number;
  container?: string;
  readiness?: ('True' | 'False')[];
  start?: ('hot' | 'cool')[];
  phases?: string[];
  deleting?: boolean[];
}

const each = (...v: number[]) => v.map((x) => [x, x]);
const ones = (n: number) => Array.from({ length: n }, () => '1.0');

function podsFor(c: Case): any[] {
  const n = Math.max(c.current, c.phases?.length ?? 0);
  return Array.from({ length: n }, (_, i) => {
    const request = c.requests[i];
    const res = request ? { requests: { cpu: request } } : {};
    return {
      metadata: { name: `test-pod-${i}`, namespace: 'test-namespace', labels: { name: 'test-pod' }, ...(c.deleting?.[i] ? { deletionTimestamp: ago(0) } : {}) },
      spec: { containers: [{ name: 'container1', resources: res }, { name: 'container2', resources: res }] },
      status: {
        phase: c.phases?.[i] ?? 'Running',
        startTime: c.start ? START[c.start[i]!]() : GO_ZERO,
        conditions: [{ type: 'Ready', status: c.readiness?.[i] ?? 'True' }],
      },
    };
  });
}

function metricsFor(c: Case): any[] {
  return c.levels.map((levels, i) => ({
    metadata: { name: c.podNames?.[i] ?? `test-pod-${i}`, namespace: 'test-namespace', labels: { name: 'test-pod' } },
    timestamp: GO_ZERO,
    window: '1m0s',
    containers: levels.map((m, j) => ({ name: `container${j + 1}`, usage: { cpu: `${m}m` } })),
  }));
}

const CASES: Case[] = [
  { name: 'scale up', current: 3, expected: 5, requests: ones(3), levels: each(300, 500, 700), target: 30, utilization: 50, value: 1000 },
  { name: 'scale up on one container', current: 3, expected: 5, requests: ones(3), levels: [[1000, 300], [1000, 500], [1000, 700]], target: 30, utilization: 50, value: 500, container: 'container2' },
  { name: 'scale up less with an unready pod', current: 3, expected: 4, readiness: ['False', 'True', 'True'], requests: ones(3), levels: each(300, 500, 700), target: 30, utilization: 60, value: 1200 },
  { name: 'scale up less with a pod in its CPU initialization period', current: 3, expected: 4, start: ['hot', 'cool', 'cool'], requests: ones(3), levels: each(300, 500, 700), target: 30, utilization: 60, value: 1200 },
  { name: 'no scale up when unready pods would reverse it', current: 3, expected: 3, readiness: ['True', 'False', 'False'], requests: ones(3), levels: each(400, 500, 700), target: 30, utilization: 40, value: 800 },
  { name: 'no scale with unready pods in their initialization period', current: 3, expected: 3, readiness: ['True', 'False', 'False'], start: ['cool', 'hot', 'hot'], requests: ones(3), levels: each(400, 500, 700), target: 30, utilization: 40, value: 800 },
  { name: 'scale up ignores failed pods', current: 2, expected: 4, readiness: ['True', 'True', 'False', 'False'], phases: ['Running', 'Running', 'Failed', 'Failed'], requests: ones(4), levels: each(500, 700), target: 30, utilization: 60, value: 1200 },
  { name: 'scale up ignores pods being deleted', current: 2, expected: 4, readiness: ['True', 'True', 'False', 'False'], phases: ['Running', 'Running', 'Running', 'Running'], deleting: [false, false, true, true], requests: ones(4), levels: each(500, 700), target: 30, utilization: 60, value: 1200 },
  { name: 'scale down', current: 5, expected: 3, requests: ones(5), levels: each(100, 300, 500, 250, 250), target: 50, utilization: 28, value: 560 },
  { name: 'scale down on one container', current: 5, expected: 3, requests: ones(5), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target: 50, utilization: 28, value: 280, container: 'container2' },
  { name: 'scale down excludes unready pods', current: 5, expected: 2, readiness: ['True', 'True', 'True', 'False', 'False'], requests: ones(5), levels: each(100, 300, 500, 250, 250), target: 50, utilization: 30, value: 600 },
  { name: 'scale down excludes pending pods', current: 5, expected: 1, readiness: ['True', 'False', 'False', 'False', 'False'], phases: ['Running', 'Pending', 'Pending', 'Pending', 'Pending'], requests: ones(5), levels: each(100), target: 50, utilization: 10, value: 200 },
  { name: 'scale down ignores pods in their CPU initialization period', current: 5, expected: 2, start: ['cool', 'cool', 'cool', 'hot', 'hot'], requests: ones(5), levels: each(100, 300, 500, 250, 250), target: 50, utilization: 30, value: 600 },
  { name: 'scale down ignores failed pods', current: 5, expected: 3, readiness: ['True', 'True', 'True', 'True', 'True', 'False', 'False'], phases: ['Running', 'Running', 'Running', 'Running', 'Running', 'Failed', 'Failed'], requests: ones(7), levels: each(100, 300, 500, 250, 250), target: 50, utilization: 28, value: 560 },
  { name: 'scale down ignores pods being deleted (still running)', current: 5, expected: 3, readiness: ['True', 'True', 'True', 'True', 'True', 'False', 'False'], phases: Array(7).fill('Running'), deleting: [false, false, false, false, false, true, true], requests: ones(7), levels: each(100, 300, 500, 250, 250), target: 50, utilization: 28, value: 560 },
  { name: 'within tolerance', current: 3, expected: 3, requests: ['0.9', '1.0', '1.1'], levels: each(1010, 1030, 1020), target: 100, utilization: 102, value: 2040 },
  { name: 'metrics of pods no longer there are not counted', current: 4, expected: 24, requests: ones(4), levels: each(4000, 9500, 3000, 7000, 3200, 2000), target: 100, utilization: 587, value: 11750 },
  { name: 'missing metrics count as the request on a scale-down', current: 4, expected: 3, requests: ones(4), levels: each(400, 95), target: 100, utilization: 24, value: 495 },
  { name: 'no metrics at all', current: 4, error: /^unable to get metrics for resource cpu: no metrics returned from resource metrics API$/, requests: ones(3), levels: [], target: 100 },
  { name: 'a container without a CPU request', current: 1, error: /^missing request for cpu in container container1 of Pod test-pod-0$/, requests: [], levels: each(200), target: 100 },
  { name: 'metrics only for pods the selector does not find', current: 1, error: /^no metrics returned matched known pods$/, requests: ones(1), levels: each(100), podNames: ['an-older-pod-name'], target: 100 },
  { name: 'missing metrics, no change at the target', current: 2, expected: 2, requests: ones(2), levels: each(1000), target: 100, utilization: 100, value: 2000 },
  { name: 'missing metrics, no change above the target', current: 2, expected: 2, requests: ones(2), levels: each(1900), target: 100, utilization: 190, value: 3800 },
  { name: 'missing metrics, no change below the target', current: 2, expected: 2, requests: ones(2), levels: each(600), target: 100, utilization: 60, value: 1200 },
  { name: 'missing metrics and an unready pod: no change', current: 3, expected: 3, readiness: ['False', 'True', 'True'], requests: ones(3), levels: each(100, 450), target: 50, utilization: 45, value: 900 },
  { name: 'missing metrics and an unready pod: scale up', current: 3, expected: 4, readiness: ['False', 'True', 'True'], requests: ones(3), levels: each(100, 2000), target: 50, utilization: 200, value: 4000 },
  { name: 'missing metrics and a pod in its initialization period: scale up', current: 3, expected: 4, readiness: ['False', 'True', 'True'], start: ['hot', 'cool', 'cool'], requests: ones(3), levels: each(100, 2000), target: 50, utilization: 200, value: 4000 },
  { name: 'missing metrics and an unready pod: scale down', current: 4, expected: 3, readiness: ['False', 'True', 'True', 'True'], requests: ones(4), levels: each(100, 100, 100), target: 50, utilization: 10, value: 200 },
  { name: 'missing metrics count as the target when it is over 100%', current: 4, expected: 2, readiness: ['False', 'True', 'True', 'True'], requests: ['1.0', '1.0', '2.0', '2.0'], levels: each(200, 100, 100), target: 300, utilization: 6, value: 200 },
  { name: 'during a rolling update with max surge', current: 2, expected: 2, phases: ['Running', 'Running', 'Running'], requests: ones(3), levels: each(100, 100), target: 50, utilization: 10, value: 200 },
];

describe('replica count for a resource utilization target (upstream replica calculator cases)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const metrics = new RecordedMetrics(metricsFor(c));
      const run = getResourceReplicas(metrics, {
        currentReplicas: c.current,
        resource: 'cpu',
        namespace: 'test-namespace',
        selector: 'name=test-pod',
        container: c.container ?? '',
        pods: podsFor(c),
        opts: OPTS,
        now: Date.now(),
        targetUtilization: c.target,
      });
      if (c.error) {
        await assert.rejects(run, { message: c.error });
        return;
      }
      const r = await run;
      assert.deepEqual({ replicas: r.replicas, utilization: r.utilization, value: r.rawUtilization }, { replicas: c.expected, utilization: c.utilization, value: c.value });
      assert.equal(r.timestamp, Date.parse(GO_ZERO));
      assert.deepEqual(metrics.asked, [{ namespace: 'test-namespace', selector: 'name=test-pod' }]);
    });
  }

  it('scales down by the least amount that breaches the tolerance, and not at all just inside it', async () => {
    // upstream TestReplicaCalcComputedToleranceAlgImplementation: 10 pods using 150m of 300m requested.
    const perPod = 300;
    const requests = [perPod + 100, perPod - 100, perPod + 10, perPod - 10, perPod + 2, perPod - 2, perPod + 1, perPod - 1, perPod, perPod].map((m) => `${m}m`);
    const base: Case = { name: '', current: 10, requests, levels: each(...Array(10).fill(150)), target: 0 };
    const run = async (target: number) => {
      const c = { ...base, target };
      return getResourceReplicas(new RecordedMetrics(metricsFor(c)), {
        currentReplicas: 10,
        resource: 'cpu',
        namespace: 'test-namespace',
        selector: 'name=test-pod',
        container: '',
        pods: podsFor(c),
        opts: OPTS,
        now: Date.now(),
        targetUtilization: target,
      });
    };
    const breach = Math.trunc((1 / (2 * 0.9) + 0.01) * 100);
    const r = await run(breach);
    assert.equal(r.utilization, 50);
    assert.equal(r.replicas, Math.ceil((1500 / (3000 * (breach / 100))) * 10));
    assert.ok(r.replicas < 10);
    const inside = Math.trunc((1 / (2 * 0.9) + 0.004) * 100);
    assert.equal((await run(inside)).replicas, 10);
  });
});

describe('replica count for an average value target (upstream plain metric cases)', () => {
  const pods = (n: number, readiness: string[] = [], start: ('hot' | 'cool')[] = []) =>
    podsFor({ name: '', current: n, requests: [], levels: [], target: 0, readiness: readiness as any, start: start.length ? start : undefined });
  const metricsOf = (levels: number[]): PodMetricsInfo => new Map(levels.map((v, i) => [`test-pod-${i}`, { timestamp: 0, windowMs: 60_000, value: v }]));
  const cases: { name: string; current: number; levels: number[]; target: number; expected: number; usage: number; readiness?: string[]; start?: ('hot' | 'cool')[] }[] = [
    { name: 'scale up', current: 3, levels: [20000, 10000, 30000], target: 15000, expected: 4, usage: 20000 },
    { name: 'scale down', current: 5, levels: [12000, 12000, 12000, 12000, 12000], target: 20000, expected: 3, usage: 12000 },
    { name: 'within tolerance', current: 3, levels: [20000, 21000, 21000], target: 20000, expected: 3, usage: 20666 },
    { name: 'missing metrics at the target: no change', current: 5, levels: [20000, 19000, 21000], target: 20000, expected: 5, usage: 20000 },
    // Readiness matters only for CPU: a custom metric of an unready pod still counts.
    { name: 'an unready pod still counts', current: 3, levels: [50000, 10000, 30000], target: 15000, expected: 6, usage: 30000, readiness: ['True', 'True', 'False'], start: ['cool', 'cool', 'hot'] },
    { name: 'during a rolling update with max surge', current: 2, levels: [10000, 10000], target: 17000, expected: 2, usage: 10000 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = plainMetricReplicas({ currentReplicas: c.current, resource: '', pods: pods(c.name.includes('surge') ? 3 : c.current, c.readiness, c.start), metrics: metricsOf(c.levels), opts: OPTS, now: Date.now(), targetUsage: c.target });
      assert.deepEqual(r, { replicas: c.expected, usage: c.usage });
    });
  }
});

describe('how pods are grouped (upstream groupPods cases)', () => {
  const pod = (name: string, status: any, extra: any = {}) => ({ metadata: { name, ...extra }, status });
  const metric = (value: number, atMsAgo = 0, windowMs = 60_000) => ({ value, timestamp: Date.now() - atMsAgo, windowMs });
  const cases: { name: string; pods: any[]; metrics: [string, any][]; resource: string; ready: number; unready?: string[]; missing?: string[]; ignored?: string[] }[] = [
    { name: 'no pods', pods: [], metrics: [], resource: 'cpu', ready: 0 },
    { name: 'memory ignores readiness', pods: [pod('bentham', { phase: 'Succeeded' })], metrics: [['bentham', metric(1)]], resource: 'memory', ready: 1 },
    { name: 'a pod without a Ready condition is unready for CPU', pods: [pod('lucretius', { phase: 'Succeeded', startTime: ago(0) })], metrics: [['lucretius', metric(1)]], resource: 'cpu', ready: 0, unready: ['lucretius'] },
    {
      name: 'a ready pod with a sample one window after readiness counts during initialization',
      pods: [pod('bentham', { phase: 'Succeeded', startTime: ago(60_000), conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(30_000) }] })],
      metrics: [['bentham', metric(1, 0, 30_000)]],
      resource: 'cpu',
      ready: 1,
    },
    {
      name: 'a ready pod with a sample from before readiness is unready during initialization',
      pods: [pod('bentham', { phase: 'Succeeded', startTime: ago(60_000), conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(30_000) }] })],
      metrics: [['bentham', metric(1, 0, 60_000)]],
      resource: 'cpu',
      ready: 0,
      unready: ['bentham'],
    },
    {
      name: 'an unready pod that was never ready after initialization stays unready',
      pods: [pod('lucretius', { phase: 'Succeeded', startTime: ago(10 * 60_000), conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: ago(9 * 60_000 + 54_000) }] })],
      metrics: [['lucretius', metric(1)]],
      resource: 'cpu',
      ready: 0,
      unready: ['lucretius'],
    },
    {
      name: 'an unready pod that was ready once counts after initialization',
      pods: [pod('lucretius', { phase: 'Succeeded', startTime: ago(10 * 60_000), conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: ago(9 * 60_000) }] })],
      metrics: [['lucretius', metric(1)]],
      resource: 'cpu',
      ready: 1,
    },
    { name: 'a pod without metrics is missing', pods: [pod('epicurus', { phase: 'Succeeded', startTime: ago(3 * 60_000) })], metrics: [], resource: 'cpu', ready: 0, missing: ['epicurus'] },
    { name: 'pending pods are unready', pods: [pod('unscheduled', { phase: 'Pending' })], metrics: [], resource: 'cpu', ready: 0, unready: ['unscheduled'] },
    { name: 'pods being deleted are ignored', pods: [pod('deleted', { phase: 'Pending' }, { deletionTimestamp: '1970-01-01T00:00:01Z' })], metrics: [['deleted', metric(1)]], resource: 'cpu', ready: 0, ignored: ['deleted'] },
    { name: 'failed pods are ignored', pods: [pod('failed', { phase: 'Failed' })], metrics: [['failed', metric(1)]], resource: 'cpu', ready: 0, ignored: ['failed'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const g = groupPods(c.pods, new Map(c.metrics), c.resource, OPTS, Date.now());
      assert.deepEqual(
        { ready: g.readyPodCount, unready: [...g.unready], missing: [...g.missing], ignored: [...g.ignored] },
        { ready: c.ready, unready: c.unready ?? [], missing: c.missing ?? [], ignored: c.ignored ?? [] },
      );
    });
  }
});

describe('pod requests (upstream calculatePodRequests cases)', () => {
  const pod = (containers: any[], initContainers: any[] = []) => ({ metadata: { name: 'test-pod' }, spec: { containers, initContainers } });
  const c = (name: string, cpu?: string, extra: any = {}) => ({ name, ...(cpu ? { resources: { requests: { cpu } } } : {}), ...extra });

  it('sums regular containers, or takes the one named', () => {
    assert.deepEqual(calculatePodRequests([], '', 'cpu'), new Map());
    assert.deepEqual(calculatePodRequests([pod([c('container1', '100m'), c('container2', '50m')])], '', 'cpu'), new Map([['test-pod', 150]]));
    assert.deepEqual(calculatePodRequests([pod([c('container1', '100m'), c('container2', '50m')])], 'container1', 'cpu'), new Map([['test-pod', 100]]));
  });

  it('counts restartable init (sidecar) containers but not ordinary init containers', () => {
    const p = pod([c('container1', '100m')], [c('init-container1', '20m'), c('restartable-container1', '50m', { restartPolicy: 'Always' })]);
    assert.deepEqual(calculatePodRequests([p], '', 'cpu'), new Map([['test-pod', 150]]));
  });

  it('refuses a container without a request, naming it', () => {
    assert.throws(() => calculatePodRequests([pod([c('container1')])], '', 'cpu'), { message: 'missing request for cpu in container container1 of Pod test-pod' });
    assert.throws(() => calculatePodRequests([pod([c('container1', '1')])], 'nope', 'cpu'), { message: 'container nope not found in Pod test-pod' });
  });
});
