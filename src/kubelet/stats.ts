/**
 * The node agent's resource usage stats (upstream pkg/kubelet/stats and the
 * Summary API, stats/v1alpha1): per-container cumulative CPU time and
 * working-set memory from the runtime (container cgroups), node totals from
 * /proc (what cAdvisor reads from the root cgroup), assembled into the
 * `/stats/summary` document that metrics-server — here the API server's
 * metrics.k8s.io — scrapes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lister } from '../client/informer.js';
import { parseQuantity } from '../api/quantity.js';
import type { ContainerStats, Runtime } from './runtime/runtime.js';

/** stats/v1alpha1 CPUStats: `usageNanoCores` is a rate over the last two samples, absent until there are two. */
export interface CpuStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}

/** stats/v1alpha1 MemoryStats. */
export interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes?: number;
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/** stats/v1alpha1 ContainerStats. */
export interface ContainerSummary {
  name: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
}

/** stats/v1alpha1 PodStats (the parts a resource-metrics pipeline reads). */
export interface PodSummary {
  podRef: { name: string; namespace: string; uid: string };
  startTime?: string;
  containers: ContainerSummary[];
  cpu?: CpuStats;
  memory?: MemoryStats;
}

/** stats/v1alpha1 NodeStats (the parts a resource-metrics pipeline reads). */
export interface NodeSummary {
  nodeName: string;
  startTime?: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
}

/** stats/v1alpha1 Summary: what `GET /stats/summary` answers. */
export interface Summary {
  node: NodeSummary;
  pods: PodSummary[];
}

/** USER_HZ: the unit of /proc/stat times (fixed at 100 on Linux for userspace, whatever the kernel's HZ). */
const USER_HZ = 100;

/**
 * Cumulative busy CPU time of the machine (user, nice, system, irq, softirq
 * and steal ticks of the `cpu` line, in nanoseconds) and its boot time, from
 * /proc/stat.
 */
export function parseProcStat(text: string): { cpuNanos: number; bootTime?: Date } {
  const cpu = /^cpu\s+(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (cpu[i] ?? 0), 0);
  const btime = /^btime\s+(\d+)$/m.exec(text)?.[1];
  return { cpuNanos: (busy * 1e9) / USER_HZ, ...(btime ? { bootTime: new Date(Number(btime) * 1000) } : {}) };
}

/**
 * Node memory from /proc/meminfo in cAdvisor's terms for the root cgroup:
 * usage = total − free, working set = usage − inactive file pages,
 * available = total − working set, rss = anonymous pages.
 */
export function parseMeminfo(text: string): { totalBytes: number; usageBytes: number; workingSetBytes: number; availableBytes: number; rssBytes: number } {
  const kb = (key: string): number => Number(new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  const total = kb('MemTotal');
  const usage = Math.max(0, total - kb('MemFree'));
  const inactiveFile = kb('Inactive(file)');
  const workingSet = inactiveFile < usage ? usage - inactiveFile : 0;
  return { totalBytes: total, usageBytes: usage, workingSetBytes: workingSet, availableBytes: Math.max(0, total - workingSet), rssBytes: kb('AnonPages') };
}

/** Page fault counters from /proc/vmstat. */
export function parseVmstat(text: string): { pageFaults?: number; majorPageFaults?: number } {
  const n = (key: string) => {
    const v = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text)?.[1];
    return v === undefined ? undefined : Number(v);
  };
  const out: { pageFaults?: number; majorPageFaults?: number } = {};
  const f = n('pgfault');
  const m = n('pgmajfault');
  if (f !== undefined) out.pageFaults = f;
  if (m !== undefined) out.majorPageFaults = m;
  return out;
}

/** The id a containerID (`process://abc`, `containerd://abc`) names. */
export function containerIdOf(containerID: string | undefined): string | undefined {
  if (!containerID) return undefined;
  const i = containerID.indexOf('://');
  return i < 0 ? containerID : containerID.slice(i + 3);
}

/** Configuration of a SummaryProvider. */
export interface SummaryProviderConfig {
  nodeName: string;
  runtime: Runtime;
  /** The pods bound to this node (the agent's informer cache). */
  pods: Lister<any>;
  /** Where /proc is (tests). */
  procDir?: string;
}

/**
 * Builds the Summary document. It keeps the previous cumulative CPU sample
 * of every container and of the node so that `usageNanoCores` is the rate
 * since the last request, as upstream's CRI stats provider does with its
 * usage cache.
 */
export class SummaryProvider {
  private readonly lastCpu = new Map<string, { nanos: number; at: number }>();

  constructor(private readonly cfg: SummaryProviderConfig) {}

  /** Reads the node and every running container now. */
  async summary(): Promise<Summary> {
    const [node, stats] = await Promise.all([this.nodeStats(), this.cfg.runtime.containerStats?.() ?? Promise.resolve([] as ContainerStats[])]);
    const byId = new Map(stats.map((s) => [s.id, s]));
    const pods: PodSummary[] = [];
    const seen = new Set<string>();
    for (const pod of this.cfg.pods.list()) {
      const specs = new Map<string, any>([...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c: any) => [c.name, c]));
      const containers: ContainerSummary[] = [];
      for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
        const running = cs.state?.running;
        const id = containerIdOf(cs.containerID);
        const s = id ? byId.get(id) : undefined;
        if (!running || !s || !specs.has(cs.name)) continue;
        seen.add(s.id);
        containers.push(this.containerSummary(cs.name, running.startedAt, s, limitBytes(specs.get(cs.name))));
      }
      if (containers.length === 0) continue;
      pods.push({
        podRef: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid },
        ...(pod.status?.startTime ? { startTime: pod.status.startTime } : {}),
        containers,
        ...sumPod(containers),
      });
    }
    // Containers that are gone no longer need a previous sample.
    for (const id of this.lastCpu.keys()) if (id !== '' && !seen.has(id)) this.lastCpu.delete(id);
    return { node, pods };
  }

  private containerSummary(name: string, startedAt: string | undefined, s: ContainerStats, limit: number | undefined): ContainerSummary {
    const time = s.timestamp.toISOString();
    const out: ContainerSummary = { name, startTime: startedAt ?? time };
    if (s.cpuUsageCoreNanoSeconds !== undefined) out.cpu = this.cpu(s.id, s.cpuUsageCoreNanoSeconds, s.timestamp);
    if (s.memoryWorkingSetBytes !== undefined || s.memoryUsageBytes !== undefined) {
      const mem: MemoryStats = { time };
      // upstream: availableBytes only where there is a limit (limit − working set).
      if (limit !== undefined && s.memoryWorkingSetBytes !== undefined) mem.availableBytes = Math.max(0, limit - s.memoryWorkingSetBytes);
      if (s.memoryUsageBytes !== undefined) mem.usageBytes = s.memoryUsageBytes;
      if (s.memoryWorkingSetBytes !== undefined) mem.workingSetBytes = s.memoryWorkingSetBytes;
      if (s.memoryRssBytes !== undefined) mem.rssBytes = s.memoryRssBytes;
      if (s.pageFaults !== undefined) mem.pageFaults = s.pageFaults;
      if (s.majorPageFaults !== undefined) mem.majorPageFaults = s.majorPageFaults;
      out.memory = mem;
    }
    return out;
  }

  /** CPU stats of one sample, with the rate since the previous sample of the same key. */
  private cpu(key: string, nanos: number, at: Date): CpuStats {
    const out: CpuStats = { time: at.toISOString(), usageCoreNanoSeconds: nanos };
    const prev = this.lastCpu.get(key);
    const ms = at.getTime();
    if (prev && ms > prev.at && nanos >= prev.nanos) out.usageNanoCores = Math.round(((nanos - prev.nanos) * 1000) / (ms - prev.at));
    if (!prev || ms > prev.at) this.lastCpu.set(key, { nanos, at: ms });
    return out;
  }

  private async nodeStats(): Promise<NodeSummary> {
    const proc = this.cfg.procDir ?? '/proc';
    const read = (f: string) => readFile(join(proc, f), 'utf8').catch(() => '');
    const [stat, meminfo, vmstat] = await Promise.all([read('stat'), read('meminfo'), read('vmstat')]);
    const at = new Date();
    const time = at.toISOString();
    const node: NodeSummary = { nodeName: this.cfg.nodeName };
    if (stat) {
      const { cpuNanos, bootTime } = parseProcStat(stat);
      if (bootTime) node.startTime = bootTime.toISOString();
      // The node's samples are kept under the empty key (container ids are never empty).
      node.cpu = this.cpu('', cpuNanos, at);
    }
    if (meminfo) {
      const m = parseMeminfo(meminfo);
      node.memory = { time, availableBytes: m.availableBytes, usageBytes: m.usageBytes, workingSetBytes: m.workingSetBytes, rssBytes: m.rssBytes, ...parseVmstat(vmstat) };
    }
    return node;
  }
}

/** A container's memory limit in bytes, if it has one. */
function limitBytes(spec: any): number | undefined {
  const l = spec?.resources?.limits?.memory;
  if (l === undefined) return undefined;
  try {
    return parseQuantity(l).value();
  } catch {
    return undefined;
  }
}

/** Pod totals: the sums of its containers' CPU and memory (the process runtime has no pod-level cgroup to read). */
function sumPod(containers: readonly ContainerSummary[]): Pick<PodSummary, 'cpu' | 'memory'> {
  const out: Pick<PodSummary, 'cpu' | 'memory'> = {};
  const withCpu = containers.filter((c) => c.cpu);
  if (withCpu.length) {
    const cpu: CpuStats = { time: withCpu[0]!.cpu!.time, usageCoreNanoSeconds: withCpu.reduce((s, c) => s + (c.cpu!.usageCoreNanoSeconds ?? 0), 0) };
    if (withCpu.every((c) => c.cpu!.usageNanoCores !== undefined)) cpu.usageNanoCores = withCpu.reduce((s, c) => s + c.cpu!.usageNanoCores!, 0);
    out.cpu = cpu;
  }
  const withMem = containers.filter((c) => c.memory);
  if (withMem.length) {
    const sum = (k: 'usageBytes' | 'workingSetBytes' | 'rssBytes') => withMem.reduce((s, c) => s + (c.memory![k] ?? 0), 0);
    out.memory = { time: withMem[0]!.memory!.time, usageBytes: sum('usageBytes'), workingSetBytes: sum('workingSetBytes'), rssBytes: sum('rssBytes') };
  }
  return out;
}
