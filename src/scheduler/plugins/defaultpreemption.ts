/**
 * DefaultPreemption, the PostFilter stage (upstream plugins/defaultpreemption
 * and framework/preemption). When a pod fits no node, every node it was
 * rejected from as Unschedulable is tried as if its lower-priority pods were
 * gone; pods are then given back (reprieved) from the most important down as
 * long as the preemptor still fits, budget-violating ones first, so the
 * victims are as few and as unimportant as possible. Of the candidate nodes
 * the one with the fewest PodDisruptionBudget violations, then the lowest
 * highest victim priority, the lowest priority sum, the fewest victims and
 * the most recently started victims wins. The preemptor is nominated to that
 * node (status.nominatedNodeName) and its victims get DisruptionTarget
 * (PreemptionByScheduler), a `Preempted` event and a graceful delete; once
 * they are gone the scheduler places the preemptor. Without a candidate the
 * FitError explains why, in upstream's words.
 */
import { R } from '../../client/client.js';
import type { Informer } from '../../client/informer.js';
import type { Pod } from '../../api/generated/types.js';
import { selectorFromLabelSelector } from '../../api/labels.js';
import {
  SUCCESS,
  errorStatus,
  fitErrorMessage,
  isSuccess,
  unresolvable,
  unschedulable,
  type CycleState,
  type Diagnosis,
  type FrameworkHandle,
  type Plugin,
  type Status,
} from '../framework.js';
import { addPod, cloneNodeInfo, removePod, type NodeInfo, type PodInfo } from '../nodeinfo.js';

/** The plugin's registered name. */
export const NAME = 'DefaultPreemption';
/** Upstream's status for a node where dry-run preemption found nothing to evict. */
export const NO_VICTIMS = 'No preemption victims found for incoming pod';
/** Upstream's status for nodes where preemption cannot help (rejected as unresolvable). */
export const NOT_HELPFUL = 'Preemption is not helpful for scheduling';
/** upstream v1.PodReasonPreemptionByScheduler. */
export const PREEMPTION_BY_SCHEDULER = 'PreemptionByScheduler';

/** upstream MinCandidateNodesPercentage / MinCandidateNodesAbsolute: how many candidate nodes dry runs look for. */
const MIN_CANDIDATE_NODES_PERCENTAGE = 10;
const MIN_CANDIDATE_NODES_ABSOLUTE = 100;
/** Added to every victim priority before summing so that all terms are positive (upstream: MaxInt32 + 1). */
const PRIORITY_OFFSET = 2 ** 31;

const PDB_RESOURCE = { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets' };

/** A node where preemption would let the pod in, and at what cost. */
export interface Candidate {
  node: string;
  /** Most important first. */
  victims: PodInfo[];
  /** Victims whose eviction would violate a PodDisruptionBudget. */
  pdbViolations: number;
}

/** When a pod started (status.startTime), or undefined. */
function startTime(p: PodInfo): number | undefined {
  const t = Date.parse((p.pod.status as any)?.startTime ?? '');
  return Number.isNaN(t) ? undefined : t;
}

/** upstream util.MoreImportantPod: higher priority, then the one that started earlier. */
function moreImportant(a: PodInfo, b: PodInfo): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const ta = startTime(a);
  const tb = startTime(b);
  if (ta === undefined || tb === undefined) return ta === undefined ? (tb === undefined ? 0 : 1) : -1;
  return ta - tb;
}

/** upstream podTerminatingByPreemption: being deleted because the scheduler preempted it. */
function terminatingByPreemption(pod: Pod): boolean {
  if (!pod.metadata?.deletionTimestamp) return false;
  const c = (pod.status?.conditions ?? []).find((x) => x.type === 'DisruptionTarget');
  return !!c && c.status === 'True' && c.reason === PREEMPTION_BY_SCHEDULER;
}

/**
 * upstream filterPodsWithPDBViolation: splits victims into those whose
 * eviction would take a budget below zero and the rest. A budget with an
 * empty selector matches nothing here; pods the budget already counts as
 * disrupted do not use it up.
 */
export function splitByPDBViolation(victims: readonly PodInfo[], pdbs: readonly any[]): { violating: PodInfo[]; nonViolating: PodInfo[] } {
  const allowed = pdbs.map((p) => p?.status?.disruptionsAllowed ?? 0);
  const selectors = pdbs.map((p) => {
    try {
      return selectorFromLabelSelector(p?.spec?.selector);
    } catch {
      return undefined;
    }
  });
  const violating: PodInfo[] = [];
  const nonViolating: PodInfo[] = [];
  for (const v of victims) {
    const labels = v.pod.metadata?.labels;
    let violated = false;
    if (labels && Object.keys(labels).length) {
      pdbs.forEach((pdb, i) => {
        const sel = selectors[i];
        if (pdb.metadata?.namespace !== v.pod.metadata?.namespace || !sel || sel.empty() || !sel.matches(labels)) return;
        if (pdb.status?.disruptedPods?.[v.pod.metadata?.name ?? '']) return;
        allowed[i]!--;
        if (allowed[i]! < 0) violated = true;
      });
    }
    (violated ? violating : nonViolating).push(v);
  }
  return { violating, nonViolating };
}

/**
 * upstream SelectVictimsOnNode: the fewest, least important lower-priority
 * pods whose removal lets the pod pass every filter on this node, or the
 * status saying why preemption cannot help here.
 */
export function selectVictimsOnNode(
  runFilters: (state: CycleState, pod: PodInfo, node: NodeInfo) => Status,
  state: CycleState,
  pod: PodInfo,
  node: NodeInfo,
  pdbs: readonly any[],
): Candidate | Status {
  const ni = cloneNodeInfo(node);
  const potential = [...ni.pods.values()].filter((p) => p.priority < pod.priority);
  if (potential.length === 0) return unresolvable(NO_VICTIMS);
  for (const p of potential) removePod(ni, p.key);
  const s = runFilters(state, pod, ni);
  if (!isSuccess(s)) return s;
  potential.sort(moreImportant);
  const { violating, nonViolating } = splitByPDBViolation(potential, pdbs);
  const victims: PodInfo[] = [];
  let pdbViolations = 0;
  const reprieve = (p: PodInfo): boolean => {
    addPod(ni, p);
    const fits = isSuccess(runFilters(state, pod, ni));
    if (!fits) {
      removePod(ni, p.key);
      victims.push(p);
    }
    return fits;
  };
  for (const p of violating) if (!reprieve(p)) pdbViolations++;
  for (const p of nonViolating) reprieve(p);
  if (violating.length && nonViolating.length) victims.sort(moreImportant);
  if (victims.length === 0) return { code: 'Error', reasons: [`expected at least one victim pod on node "${node.name}"`] };
  return { node: node.name, victims, pdbViolations };
}

/** upstream GetEarliestPodStartTime: the earliest start among the highest-priority victims. */
function earliestStartOfTop(victims: readonly PodInfo[]): number {
  const top = victims[0]!.priority;
  let earliest = Infinity;
  for (const v of victims) if (v.priority === top) earliest = Math.min(earliest, startTime(v) ?? Infinity);
  return earliest;
}

/** upstream pickOneNodeForPreemption: narrows the candidates criterion by criterion; the first left wins. */
export function pickCandidate(candidates: readonly Candidate[]): Candidate | undefined {
  let left = [...candidates];
  const keepMin = (score: (c: Candidate) => number) => {
    const best = Math.min(...left.map(score));
    left = left.filter((c) => score(c) === best);
  };
  if (left.length > 1) keepMin((c) => c.pdbViolations);
  if (left.length > 1) keepMin((c) => c.victims[0]!.priority);
  if (left.length > 1) keepMin((c) => c.victims.reduce((sum, v) => sum + v.priority + PRIORITY_OFFSET, 0));
  if (left.length > 1) keepMin((c) => c.victims.length);
  // The node whose most important victims started last loses the least work.
  if (left.length > 1) keepMin((c) => -earliestStartOfTop(c.victims));
  return left[0];
}

/** upstream GetOffsetAndNumCandidates: look for at least 10% of the nodes (no fewer than 100) as candidates, from a random start. */
function numCandidates(potential: number): number {
  return Math.min(potential, Math.max(Math.floor((potential * MIN_CANDIDATE_NODES_PERCENTAGE) / 100), MIN_CANDIDATE_NODES_ABSOLUTE));
}

/** Builds the plugin. */
export function defaultPreemption(handle: FrameworkHandle): Plugin {
  const pdbs: Informer | undefined = handle.informers?.informer(PDB_RESOURCE);
  const pending: Informer | undefined = handle.informers?.informer(R.pods);
  // A handle without a filter runner cannot judge any node (only nodes without victims are answered).
  const runFilters = handle.runFilterPlugins ?? (() => errorStatus('preemption needs the framework to run filters'));

  /** The FitError of preemption: every node tried with its dry-run status, the rest not helpful. */
  const noCandidate = (numAllNodes: number, nodeToStatus: Map<string, Status>): Status => {
    const msg = fitErrorMessage({
      numAllNodes,
      diagnosis: { nodeToStatus, unschedulablePlugins: new Set(), absentNodesStatus: unresolvable(NOT_HELPFUL) },
    });
    return unschedulable(`preemption: ${msg}`);
  };

  /** Writes status.nominatedNodeName ('' clears it, as upstream's nominator does through the scheduler's status update). */
  const nominate = async (pod: Pod, node: string): Promise<void> => {
    try {
      await handle.client.patch(R.pods, pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', 'merge', { status: { nominatedNodeName: node || null } }, { subresource: 'status' });
    } catch {
      // The pod may be gone; the next attempt nominates again if it still matters.
    }
  };

  /** upstream prepareCandidate: DisruptionTarget on each victim, a graceful delete, a Preempted event; lower-priority nominations to the node are cleared. */
  const prepare = async (preemptor: PodInfo, c: Candidate): Promise<void> => {
    const schedulerName = preemptor.pod.spec?.schedulerName || 'default-scheduler';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await Promise.all(
      c.victims.map(async (v) => {
        const ns = v.pod.metadata?.namespace ?? '';
        const name = v.pod.metadata?.name ?? '';
        try {
          const condition = { type: 'DisruptionTarget', status: 'True', reason: PREEMPTION_BY_SCHEDULER, message: `${schedulerName}: preempting to accommodate a higher priority pod`, lastTransitionTime: now };
          await handle.client.patch(R.pods, ns, name, 'strategic', { status: { conditions: [condition] } }, { subresource: 'status' });
          await handle.client.delete(R.pods, ns, name);
        } catch {
          // Already gone, or deleted by someone else: the resources free up either way.
          return;
        }
        void handle.events?.event({ apiVersion: 'v1', kind: 'Pod', metadata: v.pod.metadata as any }, 'Normal', 'Preempted', `Preempted by pod ${preemptor.pod.metadata?.uid} on node ${c.node}`);
      }),
    );
    for (const p of pending?.list(undefined, (x: Pod) => x.status?.nominatedNodeName === c.node && !x.spec?.nodeName) ?? []) {
      if ((p.spec?.priority ?? 0) < preemptor.priority && p.metadata?.uid !== preemptor.pod.metadata?.uid) await nominate(p, '');
    }
  };

  return {
    name: NAME,
    postFilter(state, pod, diagnosis: Diagnosis): Status {
      const p = pod.pod;
      // upstream PodEligibleToPreemptOthers.
      if (p.spec?.preemptionPolicy === 'Never') return unschedulable('preemption: not eligible due to preemptionPolicy=Never.');
      const nodes = handle.nodeInfos();
      const nominated = p.status?.nominatedNodeName;
      if (nominated && diagnosis.nodeToStatus.get(nominated)?.code === 'Unschedulable') {
        const ni = nodes.find((n) => n.name === nominated);
        // Its earlier victims are still terminating: wait for them rather than preempting more.
        if (ni && [...ni.pods.values()].some((v) => v.priority < pod.priority && terminatingByPreemption(v.pod))) {
          return unschedulable('preemption: not eligible due to a terminating pod on the nominated node.');
        }
      }
      const potential = nodes.filter((n) => diagnosis.nodeToStatus.get(n.name)?.code === 'Unschedulable');
      if (potential.length === 0) {
        if (nominated) void nominate(p, '');
        return noCandidate(nodes.length, new Map());
      }
      const budgets = pdbs?.list() ?? [];
      const want = numCandidates(potential.length);
      const offset = Math.floor(Math.random() * potential.length);
      const candidates: Candidate[] = [];
      let nonViolating = 0;
      const statuses = new Map<string, Status>();
      for (let i = 0; i < potential.length; i++) {
        const node = potential[(offset + i) % potential.length]!;
        const r = selectVictimsOnNode(runFilters, new Map(state), pod, node, budgets);
        if ('code' in r) {
          statuses.set(node.name, r);
          continue;
        }
        candidates.push(r);
        if (r.pdbViolations === 0) nonViolating++;
        if (nonViolating > 0 && candidates.length >= want) break;
      }
      const best = pickCandidate(candidates);
      if (!best) {
        if (nominated) void nominate(p, '');
        return noCandidate(nodes.length, statuses);
      }
      // The nomination is written before any victim goes, so the room they free is already spoken for.
      void nominate(p, best.node).then(() => prepare(pod, best));
      return SUCCESS;
    },
  };
}
