/**
 * The resource metrics store (metrics-server's pkg/storage): the last two
 * scraped points of every node and container. CPU usage is the rate between
 * them (cumulative CPU time over the time between the samples, the `window`),
 * memory the working set of the newer point. A container that started less
 * than one resolution before its first point gets its start (zero CPU) as the
 * earlier point, once it has run for at least ten seconds.
 */

/** One sample of a node or container. */
export interface MetricsPoint {
  /** When the node booted or the container started (ms since the epoch); cumulative CPU was zero then. */
  startTime: number;
  /** When the sample was taken (ms since the epoch). */
  timestamp: number;
  /** CPU time used since startTime, in nanoseconds. */
  cumulativeCpuNanos: number;
  /** Working set, in bytes. */
  memoryBytes: number;
}

/** One scrape of every node: node points by node name, container points by `namespace/pod` then container. */
export interface MetricsBatch {
  nodes: Map<string, MetricsPoint>;
  pods: Map<string, Map<string, MetricsPoint>>;
}

/** Usage derived from two points. */
export interface Usage {
  /** The newer point's time (ms since the epoch). */
  timestamp: number;
  /** Time between the two points, in ms. */
  windowMs: number;
  /** CPU rate in nanocores. */
  cpuNanoCores: number;
  memoryBytes: number;
}

/** metrics-server's freshContainerMinMetricsResolution: a rate over less than this is too noisy. */
const FRESH_CONTAINER_MIN_MS = 10_000;

/** Usage between two points of the same node or container, or undefined when they cannot be compared. */
export function usageBetween(last: MetricsPoint, prev: MetricsPoint): Usage | undefined {
  // metrics-server refuses a start time going backwards or cumulative CPU decreasing (a restart in between).
  if (last.startTime < prev.startTime || last.cumulativeCpuNanos < prev.cumulativeCpuNanos) return undefined;
  const windowMs = last.timestamp - prev.timestamp;
  if (windowMs <= 0) return undefined;
  return {
    timestamp: last.timestamp,
    windowMs,
    cpuNanoCores: Math.floor(((last.cumulativeCpuNanos - prev.cumulativeCpuNanos) * 1000) / windowMs),
    memoryBytes: last.memoryBytes,
  };
}

/** Usage of one pod: per container, with the earliest container time as the pod's. */
export interface PodUsage {
  timestamp: number;
  windowMs: number;
  containers: { name: string; cpuNanoCores: number; memoryBytes: number }[];
}

/** The last two batches, and the usage they imply. */
export class MetricsStorage {
  private lastNodes = new Map<string, MetricsPoint>();
  private prevNodes = new Map<string, MetricsPoint>();
  private lastPods = new Map<string, Map<string, MetricsPoint>>();
  private prevPods = new Map<string, Map<string, MetricsPoint>>();

  /** `resolutionMs`: the scrape interval (metrics-server --metric-resolution). */
  constructor(private readonly resolutionMs: number) {}

  /** Takes a new batch; points of nodes and pods missing from it are dropped, as metrics-server does. */
  store(batch: MetricsBatch): void {
    const lastNodes = new Map<string, MetricsPoint>();
    const prevNodes = new Map<string, MetricsPoint>();
    for (const [name, point] of batch.nodes) {
      lastNodes.set(name, point);
      const prev = this.earlier(point, this.lastNodes.get(name), this.prevNodes.get(name));
      if (prev) prevNodes.set(name, prev);
    }
    const lastPods = new Map<string, Map<string, MetricsPoint>>();
    const prevPods = new Map<string, Map<string, MetricsPoint>>();
    for (const [key, containers] of batch.pods) {
      const prevContainers = new Map<string, MetricsPoint>();
      for (const [name, point] of containers) {
        const age = point.timestamp - point.startTime;
        if (point.startTime < point.timestamp && age < this.resolutionMs && age >= FRESH_CONTAINER_MIN_MS) {
          // A fresh container: its start is a point with no CPU used yet.
          prevContainers.set(name, { ...point, timestamp: point.startTime, cumulativeCpuNanos: 0 });
          continue;
        }
        const stored = this.lastPods.get(key)?.get(name);
        // Only a point of the same run of the container (it started before the stored point) is a predecessor.
        if (!stored || !(point.startTime < stored.timestamp)) continue;
        const prev = this.earlier(point, stored, this.prevPods.get(key)?.get(name));
        if (prev) prevContainers.set(name, prev);
      }
      lastPods.set(key, new Map(containers));
      if (prevContainers.size > 0) prevPods.set(key, prevContainers);
    }
    this.lastNodes = lastNodes;
    this.prevNodes = prevNodes;
    this.lastPods = lastPods;
    this.prevPods = prevPods;
  }

  /** The point to keep as the previous one for `point`: the stored last one if older, else the stored previous one if older. */
  private earlier(point: MetricsPoint, last: MetricsPoint | undefined, prev: MetricsPoint | undefined): MetricsPoint | undefined {
    if (!last) return undefined;
    if (point.timestamp > last.timestamp) return last;
    return prev && prev.timestamp < point.timestamp ? prev : undefined;
  }

  /** Usage of a node, once two points are known. */
  nodeUsage(name: string): Usage | undefined {
    const last = this.lastNodes.get(name);
    const prev = this.prevNodes.get(name);
    return last && prev ? usageBetween(last, prev) : undefined;
  }

  /** Usage of a pod's containers, once every container has two points. */
  podUsage(namespace: string, name: string): PodUsage | undefined {
    const key = `${namespace}/${name}`;
    const last = this.lastPods.get(key);
    const prev = this.prevPods.get(key);
    if (!last || !prev) return undefined;
    const containers: PodUsage['containers'] = [];
    let earliest: Usage | undefined;
    for (const [container, point] of last) {
      const before = prev.get(container);
      // metrics-server reports a pod only when all its containers can be.
      if (!before) return undefined;
      const u = usageBetween(point, before);
      if (!u) continue;
      containers.push({ name: container, cpuNanoCores: u.cpuNanoCores, memoryBytes: u.memoryBytes });
      if (!earliest || u.timestamp < earliest.timestamp) earliest = u;
    }
    if (!earliest) return undefined;
    return { timestamp: earliest.timestamp, windowMs: earliest.windowMs, containers };
  }
}
