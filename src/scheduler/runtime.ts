/**
 * Runs a profile's plugins stage by stage (upstream framework/runtime):
 * builds each plugin once from the registry, then for a pod runs PreFilter,
 * Filter (first rejection wins), PostFilter, PreScore/Score/Normalize with
 * weights, Reserve/Unreserve, Permit (holding pods that plugins ask to
 * wait) and Bind.
 */
import type { Pod } from '../api/generated/types.js';
import { formatDuration } from '../api/protobuf.js';
import {
  MAX_NODE_SCORE,
  SUCCESS,
  errorStatus,
  isSuccess,
  reasonsOf,
  type CycleState,
  type Diagnosis,
  type FrameworkHandle,
  type NodeScore,
  type Plugin,
  type PluginRegistry,
  type Profile,
  type Status,
  type WaitingPod,
} from './framework.js';
import type { NodeInfo, PodInfo } from './nodeinfo.js';
import type { QueuedPodInfo } from './queue.js';

/** The longest a Permit plugin may hold a pod (upstream maxTimeout, 15 minutes). */
const MAX_PERMIT_WAIT_MS = 15 * 60_000;

/** A pod held at Permit, with a timer per plugin that holds it (upstream waitingPod). */
class HeldPod implements WaitingPod {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private settle!: (s: Status) => void;
  private settled = false;
  /** Resolves with Success once every plugin allowed the pod, or with the first rejection. */
  readonly outcome = new Promise<Status>((resolve) => (this.settle = resolve));

  constructor(
    readonly pod: PodInfo,
    readonly nodeName: string,
    waits: ReadonlyMap<string, number>,
    private readonly onReject?: () => void,
  ) {
    for (const [plugin, ms] of waits) {
      const t = setTimeout(() => this.reject(plugin, `rejected due to timeout after waiting ${formatDuration(BigInt(ms) * 1_000_000n)} at plugin ${plugin}`), ms);
      t.unref?.();
      this.pending.set(plugin, t);
    }
  }

  allow(plugin: string): void {
    const t = this.pending.get(plugin);
    if (t) clearTimeout(t);
    this.pending.delete(plugin);
    if (this.pending.size === 0) this.finish(SUCCESS);
  }

  reject(plugin: string, message: string): void {
    this.finish({ code: 'Unschedulable', reasons: [message], plugin });
  }

  private finish(s: Status): void {
    if (this.settled) return;
    this.settled = true;
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    // The room is given back at once, before the next scheduling cycle, not when the binding cycle resumes.
    if (s.code !== 'Success') this.onReject?.();
    this.settle(s);
  }
}

/** The pod's UID, the key of the held pods (upstream keys waitingPods by UID). */
function uidOf(pod: PodInfo): string {
  return pod.pod.metadata?.uid ?? pod.key;
}

type Stage = keyof Omit<Plugin, 'name'>;

/** The filters that apply to one pod in one cycle (those whose PreFilter did not Skip). */
export interface PreFilterResult {
  status: Status;
  filters: readonly Plugin[];
}

/** A profile's plugins, ready to run. */
export class Framework {
  readonly schedulerName: string;
  private readonly plugins: Plugin[] = [];
  private readonly weights = new Map<string, number>();
  /** Pods held at Permit, by UID (upstream waitingPodsMap). */
  private readonly waiting = new Map<string, HeldPod>();

  constructor(registry: PluginRegistry, profile: Profile, handle: FrameworkHandle) {
    this.schedulerName = profile.schedulerName;
    for (const p of profile.plugins) {
      const factory = registry.get(p.name);
      if (!factory) throw new Error(`scheduler: plugin ${JSON.stringify(p.name)} is not registered`);
      const plugin = factory(handle);
      this.plugins.push(plugin);
      this.weights.set(plugin.name, p.weight ?? 1);
    }
  }

  /** Starts the plugins that have something to prepare (before the scheduler's informers start). */
  async start(): Promise<void> {
    for (const p of this.plugins) await p.start?.();
  }

  /** Stops the plugins and rejects the pods still held at Permit. */
  stop(): void {
    for (const p of this.plugins) p.stop?.();
    for (const wp of this.waiting.values()) wp.reject('', 'scheduler stopped');
  }

  /** The queue order of the profile's QueueSort plugin, if it has one (else the queue's PrioritySort). */
  queueSort(): ((a: QueuedPodInfo, b: QueuedPodInfo) => boolean) | undefined {
    const p = this.plugins.find((x) => x.less);
    return p ? (a, b) => p.less!(a, b) : undefined;
  }

  private with(stage: Stage): Plugin[] {
    return this.plugins.filter((p) => p[stage]);
  }

  private readonly preFilters = this.lazy('preFilter');
  private readonly filters = this.lazy('filter');
  private readonly postFilters = this.lazy('postFilter');
  private readonly preScores = this.lazy('preScore');
  private readonly scorers = this.lazy('score');
  private readonly reservers = this.lazy('reserve');
  private readonly permitters = this.lazy('permit');
  private readonly binders = this.lazy('bind');

  private lazy(stage: Stage): () => Plugin[] {
    let cached: Plugin[] | undefined;
    return () => (cached ??= this.with(stage));
  }

  /** Runs PreFilter; a rejection there rejects the pod for every node. */
  runPreFilter(state: CycleState, pod: PodInfo): PreFilterResult {
    const skipped = new Set<Plugin>();
    for (const p of this.preFilters()) {
      const s = p.preFilter!(state, pod);
      if (s.code === 'Skip') skipped.add(p);
      else if (!isSuccess(s)) return { status: { ...s, plugin: p.name } as Status, filters: [] };
    }
    return { status: SUCCESS, filters: skipped.size ? this.filters().filter((p) => !skipped.has(p)) : this.filters() };
  }

  /** Runs the filters on one node; the first rejection is the node's status (upstream RunFilterPlugins). */
  runFilter(state: CycleState, pod: PodInfo, node: NodeInfo, filters: readonly Plugin[]): Status {
    for (let i = 0; i < filters.length; i++) {
      const p = filters[i]!;
      const s = p.filter!(state, pod, node);
      if (s.code !== 'Success' && s.code !== 'Skip') return { ...s, plugin: p.name };
    }
    return SUCCESS;
  }

  /** Runs every filter of the profile on one node (preemption checks a pod against a node with victims removed). */
  runFilterPlugins(state: CycleState, pod: PodInfo, node: NodeInfo): Status {
    return this.runFilter(state, pod, node, this.filters());
  }

  /**
   * Runs PostFilter plugins until one answers Success (upstream
   * RunPostFilterPlugins): an unresolvable answer or an error ends the run;
   * otherwise the reasons of every rejecting plugin are gathered for the
   * FitError, and the first of them is the rejector.
   */
  runPostFilter(state: CycleState, pod: PodInfo, diagnosis: Diagnosis): Status {
    const reasons: string[] = [];
    let rejector: string | undefined;
    for (const p of this.postFilters()) {
      const s = p.postFilter!(state, pod, diagnosis);
      if (s.code === 'Success') return s;
      if (s.code === 'UnschedulableAndUnresolvable' || s.code === 'Error') return { ...s, plugin: p.name } as Status;
      reasons.push(...reasonsOf(s));
      rejector ??= p.name;
    }
    return { code: 'Unschedulable', reasons, plugin: rejector };
  }

  /** Total weighted score of each feasible node (same order as `nodes`). */
  runScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[]): number[] {
    const totals = new Array<number>(nodes.length).fill(0);
    const skipped = new Set<string>();
    for (const p of this.preScores()) if (p.preScore!(state, pod, nodes).code === 'Skip') skipped.add(p.name);
    for (const p of this.scorers()) {
      if (skipped.has(p.name)) continue;
      const weight = this.weights.get(p.name) ?? 1;
      if (p.normalizeScore) {
        const scores: NodeScore[] = nodes.map((n) => ({ name: n.name, score: p.score!(state, pod, n) }));
        p.normalizeScore(state, pod, scores);
        for (let i = 0; i < scores.length; i++) totals[i]! += Math.max(0, Math.min(MAX_NODE_SCORE, scores[i]!.score)) * weight;
      } else {
        for (let i = 0; i < nodes.length; i++) totals[i]! += p.score!(state, pod, nodes[i]!) * weight;
      }
    }
    return totals;
  }

  /** Runs Reserve; on a failure, Unreserve runs for all (upstream: unreserve everything in reverse order). */
  runReserve(state: CycleState, pod: PodInfo, nodeName: string): Status {
    for (const p of this.reservers()) {
      const s = p.reserve!(state, pod, nodeName);
      if (!isSuccess(s)) {
        this.runUnreserve(state, pod, nodeName);
        return { ...s, plugin: p.name } as Status;
      }
    }
    return SUCCESS;
  }

  /** Runs Unreserve of every plugin that has it, in reverse order. */
  runUnreserve(state: CycleState, pod: PodInfo, nodeName: string): void {
    const ps = this.plugins.filter((p) => p.unreserve);
    for (let i = ps.length - 1; i >= 0; i--) ps[i]!.unreserve!(state, pod, nodeName);
  }

  /**
   * Runs Permit (upstream RunPermitPlugins): the first rejection or error
   * decides; if plugins asked to wait and none rejected, the pod is held
   * (each plugin's wait capped at 15 minutes) and Wait is returned — the
   * binding cycle then awaits waitOnPermit. `onReject` runs synchronously
   * when a held pod is rejected, so that its room is free for whatever the
   * scheduler does next.
   */
  runPermit(state: CycleState, pod: PodInfo, nodeName: string, onReject?: () => void): Status {
    let waits: Map<string, number> | undefined;
    for (const p of this.permitters()) {
      const s = p.permit!(state, pod, nodeName);
      if (s.code === 'Wait') (waits ??= new Map()).set(p.name, Math.min(s.timeoutMs, MAX_PERMIT_WAIT_MS));
      else if (!isSuccess(s)) return { ...s, plugin: p.name } as Status;
    }
    if (!waits) return SUCCESS;
    this.waiting.set(uidOf(pod), new HeldPod(pod, nodeName, waits, onReject));
    return { code: 'Wait', timeoutMs: Math.max(...waits.values()), reasons: [`one or more plugins asked to wait and no plugin rejected pod "${pod.pod.metadata?.name}"`] };
  }

  /** Waits until a held pod is allowed or rejected; Success at once for a pod not held (upstream WaitOnPermit). */
  async waitOnPermit(pod: PodInfo): Promise<Status> {
    const uid = uidOf(pod);
    const wp = this.waiting.get(uid);
    if (!wp) return SUCCESS;
    try {
      return await wp.outcome;
    } finally {
      if (this.waiting.get(uid) === wp) this.waiting.delete(uid);
    }
  }

  /** Calls `fn` for every pod held at Permit. */
  iterateOverWaitingPods(fn: (wp: WaitingPod) => void): void {
    for (const wp of [...this.waiting.values()]) fn(wp);
  }

  /** Rejects a held pod that was deleted; true if it was held (upstream RejectWaitingPod). */
  rejectWaitingPod(uid: string): boolean {
    const wp = this.waiting.get(uid);
    if (!wp) return false;
    wp.reject('', 'removed');
    return true;
  }

  /** Runs Bind plugins until one does not Skip. */
  async runBind(state: CycleState, pod: Pod, nodeName: string): Promise<Status> {
    for (const p of this.binders()) {
      const s = await p.bind!(state, pod, nodeName);
      if (s.code !== 'Skip') return s;
    }
    return errorStatus('no bind plugin bound the pod');
  }
}
