/**
 * Runs a profile's plugins stage by stage (upstream framework/runtime):
 * builds each plugin once from the registry, then for a pod runs PreFilter,
 * Filter (first rejection wins), PostFilter, PreScore/Score/Normalize with
 * weights, Reserve/Unreserve, Permit and Bind.
 */
import type { Pod } from '../api/generated/types.js';
import {
  MAX_NODE_SCORE,
  SUCCESS,
  errorStatus,
  isSuccess,
  type CycleState,
  type Diagnosis,
  type FrameworkHandle,
  type NodeScore,
  type Plugin,
  type PluginRegistry,
  type Profile,
  type Status,
} from './framework.js';
import type { NodeInfo, PodInfo } from './nodeinfo.js';

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

  /** Runs PostFilter plugins until one answers Success; returns the last message for the FitError. */
  runPostFilter(state: CycleState, pod: PodInfo, diagnosis: Diagnosis): Status {
    let last: Status = { code: 'Unschedulable', reasons: [] };
    for (const p of this.postFilters()) {
      const s = p.postFilter!(state, pod, diagnosis);
      if (s.code === 'Success') return s;
      last = s;
    }
    return last;
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

  /** Runs Permit; the first non-success decides. */
  runPermit(state: CycleState, pod: PodInfo, nodeName: string): Status {
    for (const p of this.permitters()) {
      const s = p.permit!(state, pod, nodeName);
      if (!isSuccess(s)) return { ...s, plugin: p.name } as Status;
    }
    return SUCCESS;
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
