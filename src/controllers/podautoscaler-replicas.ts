/**
 * The HPA's replica calculation (upstream pkg/controller/podautoscaler
 * replica_calculator.go and metrics/): resource metrics of the target's pods
 * from metrics.k8s.io, their requests, and the desired replica count
 * `ceil(current × usage / target)` with upstream's tolerance, its treatment of
 * pods without metrics (100% of the request on a scale-down, 0% on a
 * scale-up), of not-yet-ready pods for CPU (the CPU initialization period and
 * the delay of initial readiness), and of pods being deleted or failed.
 */
import { parseQuantity } from '../api/quantity.js';
import { parseDuration } from '../api/protobuf.js';
import type { Client } from '../client/client.js';

/** metrics.k8s.io PodMetrics (what the HPA lists). */
export const POD_METRICS = { group: 'metrics.k8s.io', version: 'v1beta1', resource: 'pods' } as const;

/** One pod's metric: its value in milli-units, when it was measured and over what window. */
export interface PodMetric {
  /** ms since the epoch. */
  timestamp: number;
  windowMs: number;
  /** Milli-units (millicores for CPU, milli-bytes for memory), as upstream's MilliValue. */
  value: number;
}

/** Metrics by pod name. */
export type PodMetricsInfo = Map<string, PodMetric>;

/** Reads the resource metrics API (upstream's resourceMetricsClient). */
export interface ResourceMetricsClient {
  /** The PodMetrics of the pods matching `selector` (label selector text) in `namespace`. */
  listPodMetrics(namespace: string, selector: string): Promise<any[]>;
}

/** The resource metrics client over the API client (metrics.k8s.io/v1beta1 PodMetrics). */
export function resourceMetricsClient(client: Client): ResourceMetricsClient {
  return {
    async listPodMetrics(namespace, selector) {
      return (await client.list(POD_METRICS, namespace, { labelSelector: selector })).items;
    },
  };
}

/**
 * upstream GetResourceMetric: the usage of `resource` per pod (summed over its
 * containers, or of one container), skipping pods that lack it in any
 * container. Throws with upstream's messages.
 */
export async function getResourceMetric(
  metrics: ResourceMetricsClient,
  resource: string,
  namespace: string,
  selector: string,
  container: string,
): Promise<{ metrics: PodMetricsInfo; timestamp: number }> {
  let items: any[];
  try {
    items = await metrics.listPodMetrics(namespace, selector);
  } catch (e) {
    throw new Error(`unable to fetch metrics from resource metrics API: ${(e as Error).message}`);
  }
  if (items.length === 0) throw new Error('no metrics returned from resource metrics API');
  const res: PodMetricsInfo = new Map();
  for (const m of items) {
    const containers: any[] = m.containers ?? [];
    let sum = 0;
    let missing = containers.length === 0;
    let found = container === '';
    for (const c of containers) {
      if (container !== '' && c.name !== container) continue;
      found = true;
      const q = c.usage?.[resource];
      if (q === undefined) {
        missing = true;
        break;
      }
      sum += parseQuantity(q).milliValue();
    }
    if (container !== '' && !found) {
      // upstream getContainerMetrics: a pod without the named container contributes nothing.
      continue;
    }
    if (!missing) res.set(m.metadata?.name, { timestamp: Date.parse(m.timestamp), windowMs: windowMs(m.window), value: sum });
  }
  return { metrics: res, timestamp: Date.parse(items[0].timestamp) };
}

function windowMs(w: unknown): number {
  try {
    return typeof w === 'string' ? Number(parseDuration(w) / 1_000_000n) : 0;
  } catch {
    return 0;
  }
}

/** How pods sort for the calculation (upstream groupPods). */
export interface PodGroups {
  readyPodCount: number;
  /** Pending pods, and for CPU pods not (yet) ready or measured before they were. */
  unready: Set<string>;
  /** Pods with no metric. */
  missing: Set<string>;
  /** Pods being deleted or failed. */
  ignored: Set<string>;
}

/** Timing knobs of the calculation (upstream kube-controller-manager flags). */
export interface ReplicaCalculatorOptions {
  /** --horizontal-pod-autoscaler-tolerance (0.1). */
  tolerance: number;
  /** --horizontal-pod-autoscaler-cpu-initialization-period (5 min). */
  cpuInitializationPeriodMs: number;
  /** --horizontal-pod-autoscaler-initial-readiness-delay (30 s). */
  delayOfInitialReadinessStatusMs: number;
}

/** Go's zero time.Time (year 1), in ms since the epoch. */
const GO_ZERO_TIME = Date.parse('0001-01-01T00:00:00Z');

/** upstream's defaults for the calculator. */
export const DEFAULT_CALCULATOR_OPTIONS: ReplicaCalculatorOptions = { tolerance: 0.1, cpuInitializationPeriodMs: 5 * 60_000, delayOfInitialReadinessStatusMs: 30_000 };

/** upstream groupPods. */
export function groupPods(pods: readonly any[], metrics: PodMetricsInfo, resource: string, opts: ReplicaCalculatorOptions, now: number): PodGroups {
  const out: PodGroups = { readyPodCount: 0, unready: new Set(), missing: new Set(), ignored: new Set() };
  for (const pod of pods) {
    const name: string = pod.metadata?.name;
    if (pod.metadata?.deletionTimestamp || pod.status?.phase === 'Failed') {
      out.ignored.add(name);
      continue;
    }
    if (pod.status?.phase === 'Pending') {
      out.unready.add(name);
      continue;
    }
    const metric = metrics.get(name);
    if (!metric) {
      out.missing.add(name);
      continue;
    }
    if (resource === 'cpu') {
      const ready = (pod.status?.conditions ?? []).find((c: any) => c?.type === 'Ready');
      const start = Date.parse(pod.status?.startTime ?? '');
      let unready: boolean;
      if (!ready || Number.isNaN(start)) unready = true;
      else {
        // An unset transition time is Go's zero time, as upstream compares it.
        const transition = ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : GO_ZERO_TIME;
        if (start + opts.cpuInitializationPeriodMs > now) {
          // Within the initialization period: skip unready pods and samples taken before one window of readiness.
          unready = ready.status === 'False' || metric.timestamp < transition + metric.windowMs;
        } else {
          // Afterwards: skip only pods that are unready and have never been ready.
          unready = ready.status === 'False' && start + opts.delayOfInitialReadinessStatusMs > transition;
        }
      }
      if (unready) {
        out.unready.add(name);
        continue;
      }
    }
    out.readyPodCount++;
  }
  return out;
}

/**
 * upstream calculatePodRequestsFromContainers: each pod's request of
 * `resource` in milli-units, summed over its containers and restartable init
 * (sidecar) containers, or of one container. Throws when one is missing.
 */
export function calculatePodRequests(pods: readonly any[], container: string, resource: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const pod of pods) {
    const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c: any) => c.restartPolicy === 'Always')];
    let request = 0;
    let found = false;
    for (const c of containers) {
      if (container !== '' && c.name !== container) continue;
      const q = c.resources?.requests?.[resource];
      if (q === undefined) throw new Error(`missing request for ${resource} in container ${c.name} of Pod ${pod.metadata?.name}`);
      request += parseQuantity(q).milliValue();
      found = true;
      if (container !== '') break;
    }
    if (container !== '' && !found) throw new Error(`container ${container} not found in Pod ${pod.metadata?.name}`);
    out.set(pod.metadata?.name, request);
  }
  return out;
}

/** upstream GetResourceUtilizationRatio: utilization is an integer percentage of the summed requests. */
export function getResourceUtilizationRatio(
  metrics: PodMetricsInfo,
  requests: Map<string, number>,
  targetUtilization: number,
): { ratio: number; utilization: number; rawAverage: number } {
  let metricsTotal = 0;
  let requestsTotal = 0;
  let n = 0;
  for (const [pod, m] of metrics) {
    const r = requests.get(pod);
    if (r === undefined) continue;
    metricsTotal += m.value;
    requestsTotal += r;
    n++;
  }
  if (requestsTotal === 0) throw new Error('no metrics returned matched known pods');
  const utilization = Math.trunc((metricsTotal * 100) / requestsTotal);
  return { ratio: utilization / targetUtilization, utilization, rawAverage: Math.trunc(metricsTotal / n) };
}

/** upstream GetMetricUsageRatio: the average usage against the target average. */
export function getMetricUsageRatio(metrics: PodMetricsInfo, targetUsage: number): { ratio: number; usage: number } {
  let total = 0;
  for (const m of metrics.values()) total += m.value;
  const usage = Math.trunc(total / metrics.size);
  return { ratio: usage / targetUsage, usage };
}

/** What a replica calculation starts from. */
export interface CalculationInput {
  currentReplicas: number;
  resource: string;
  /** The target's pods (matching its selector). */
  pods: readonly any[];
  /** Their metrics (this function may add fallback values). */
  metrics: PodMetricsInfo;
  opts: ReplicaCalculatorOptions;
  /** ms since the epoch. */
  now: number;
}

function withinTolerance(ratio: number, tolerance: number): boolean {
  return Math.abs(1 - ratio) <= tolerance;
}

/**
 * upstream GetResourceReplicas (after fetching metrics): the replica count
 * for a utilization target (percent of request), the current utilization and
 * the raw average usage in milli-units.
 */
export function resourceReplicas(input: CalculationInput & { targetUtilization: number; container: string }): { replicas: number; utilization: number; rawUtilization: number } {
  const { pods, metrics, resource, opts, currentReplicas, targetUtilization } = input;
  if (pods.length === 0) throw new Error('no pods returned by selector while calculating replica count');
  const g = groupPods(pods, metrics, resource, opts, input.now);
  for (const p of [...g.ignored, ...g.unready]) metrics.delete(p);
  if (metrics.size === 0) throw new Error('did not receive metrics for targeted pods (pods might be unready)');
  const requests = calculatePodRequests(pods, input.container, resource);
  const first = getResourceUtilizationRatio(metrics, requests, targetUtilization);
  const keep = { replicas: currentReplicas, utilization: first.utilization, rawUtilization: first.rawAverage };
  const scaleUpWithUnready = g.unready.size > 0 && first.ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (withinTolerance(first.ratio, opts.tolerance)) return keep;
    return { ...keep, replicas: Math.ceil(first.ratio * g.readyPodCount) };
  }
  if (g.missing.size > 0) {
    if (first.ratio < 1) {
      // On a scale-down, a pod without metrics counts as using its request (or the target when it is above 100%).
      const fallback = Math.max(100, targetUtilization);
      for (const p of g.missing) metrics.set(p, { timestamp: 0, windowMs: 0, value: Math.trunc(((requests.get(p) ?? 0) * fallback) / 100) });
    } else if (first.ratio > 1) {
      for (const p of g.missing) metrics.set(p, { timestamp: 0, windowMs: 0, value: 0 });
    }
  }
  // On a scale-up, unready pods count as using nothing.
  if (scaleUpWithUnready) for (const p of g.unready) metrics.set(p, { timestamp: 0, windowMs: 0, value: 0 });
  const second = getResourceUtilizationRatio(metrics, requests, targetUtilization);
  if (withinTolerance(second.ratio, opts.tolerance) || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) return keep;
  const replicas = Math.ceil(second.ratio * metrics.size);
  // A change in the number of pods counted must not reverse the direction of scaling.
  if ((second.ratio < 1 && replicas > currentReplicas) || (second.ratio > 1 && replicas < currentReplicas)) return keep;
  return { ...keep, replicas };
}

/**
 * upstream calcPlainMetricReplicas (GetRawResourceReplicas): the replica count
 * for an average-value target in milli-units, and the current average.
 */
export function plainMetricReplicas(input: CalculationInput & { targetUsage: number }): { replicas: number; usage: number } {
  const { pods, metrics, resource, opts, currentReplicas, targetUsage } = input;
  if (pods.length === 0) throw new Error('no pods returned by selector while calculating replica count');
  const g = groupPods(pods, metrics, resource, opts, input.now);
  for (const p of [...g.ignored, ...g.unready]) metrics.delete(p);
  if (metrics.size === 0) throw new Error('did not receive metrics for targeted pods (pods might be unready)');
  const first = getMetricUsageRatio(metrics, targetUsage);
  const keep = { replicas: currentReplicas, usage: first.usage };
  const scaleUpWithUnready = g.unready.size > 0 && first.ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (withinTolerance(first.ratio, opts.tolerance)) return keep;
    return { ...keep, replicas: Math.ceil(first.ratio * g.readyPodCount) };
  }
  if (g.missing.size > 0) {
    // On a scale-down a pod without metrics counts as using exactly the target; on a scale-up, nothing.
    const value = first.ratio < 1 ? targetUsage : 0;
    if (first.ratio !== 1) for (const p of g.missing) metrics.set(p, { timestamp: 0, windowMs: 0, value });
  }
  if (scaleUpWithUnready) for (const p of g.unready) metrics.set(p, { timestamp: 0, windowMs: 0, value: 0 });
  const second = getMetricUsageRatio(metrics, targetUsage);
  if (withinTolerance(second.ratio, opts.tolerance) || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) return keep;
  const replicas = Math.ceil(second.ratio * metrics.size);
  if ((second.ratio < 1 && replicas > currentReplicas) || (second.ratio > 1 && replicas < currentReplicas)) return keep;
  return { ...keep, replicas };
}

/** What a replica calculation for one resource metric needs besides its target. */
export interface ResourceCalculation {
  currentReplicas: number;
  resource: string;
  namespace: string;
  /** The target's pod selector (label selector text). */
  selector: string;
  /** A container name (ContainerResource metrics), or '' for whole pods. */
  container: string;
  /** The target's pods in the namespace matching the selector. */
  pods: readonly any[];
  opts: ReplicaCalculatorOptions;
  /** ms since the epoch. */
  now: number;
}

async function fetchResourceMetric(metrics: ResourceMetricsClient, c: ResourceCalculation): Promise<{ metrics: PodMetricsInfo; timestamp: number }> {
  try {
    return await getResourceMetric(metrics, c.resource, c.namespace, c.selector, c.container);
  } catch (e) {
    throw new Error(`unable to get metrics for resource ${c.resource}: ${(e as Error).message}`);
  }
}

/** upstream GetResourceReplicas: replicas for a utilization target, with the metrics' timestamp. */
export async function getResourceReplicas(
  metrics: ResourceMetricsClient,
  c: ResourceCalculation & { targetUtilization: number },
): Promise<{ replicas: number; utilization: number; rawUtilization: number; timestamp: number }> {
  const m = await fetchResourceMetric(metrics, c);
  return { ...resourceReplicas({ ...c, metrics: m.metrics }), timestamp: m.timestamp };
}

/** upstream GetRawResourceReplicas: replicas for an average-value target (milli-units), with the metrics' timestamp. */
export async function getRawResourceReplicas(
  metrics: ResourceMetricsClient,
  c: ResourceCalculation & { targetUsage: number },
): Promise<{ replicas: number; usage: number; timestamp: number }> {
  const m = await fetchResourceMetric(metrics, c);
  return { ...plainMetricReplicas({ ...c, metrics: m.metrics }), timestamp: m.timestamp };
}
