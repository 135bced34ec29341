/**
 * TaintToleration: a pod goes only to nodes whose NoSchedule/NoExecute
 * taints it tolerates; among those it prefers nodes with fewer untolerated
 * PreferNoSchedule taints (upstream plugins/tainttoleration).
 */
import type { Taint, Toleration } from '../../api/generated/types.js';
import { SKIP, SUCCESS, unresolvable, type CycleState, type NodeScore, type Plugin } from '../framework.js';
import type { NodeInfo, PodInfo } from '../nodeinfo.js';
import { defaultNormalizeScore } from './helper.js';

/** The plugin's registered name. */
export const NAME = 'TaintToleration';

/** True if the toleration tolerates the taint (upstream Toleration.ToleratesTaint; empty operator means Equal). */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** True if any of the tolerations tolerates the taint. */
export function tolerationsTolerateTaint(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  if (!tolerations) return false;
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

function filter(_state: CycleState, pod: PodInfo, node: NodeInfo) {
  const tolerations = pod.pod.spec?.tolerations;
  for (const taint of node.taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerationsTolerateTaint(tolerations, taint)) {
      return unresolvable(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`);
    }
  }
  return SUCCESS;
}

function score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
  if (node.taints.length === 0) return 0;
  // Only tolerations that can apply to PreferNoSchedule count (upstream getAllTolerationPreferNoSchedule).
  const tolerations = (pod.pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  let n = 0;
  for (const taint of node.taints) if (taint.effect === 'PreferNoSchedule' && !tolerationsTolerateTaint(tolerations, taint)) n++;
  return n;
}

/** True if any of the nodes has a PreferNoSchedule taint (plain loops: this runs over the feasible nodes of every pod). */
function anyPreferNoSchedule(nodes: readonly NodeInfo[]): boolean {
  for (let i = 0; i < nodes.length; i++) {
    const taints = nodes[i]!.taints;
    for (let j = 0; j < taints.length; j++) if (taints[j]!.effect === 'PreferNoSchedule') return true;
  }
  return false;
}

/** Builds the plugin. */
export function taintToleration(): Plugin {
  return {
    name: NAME,
    filter,
    // With no PreferNoSchedule taint among the nodes every node would score the same: skip the work.
    preScore: (_s: CycleState, _p: PodInfo, nodes: readonly NodeInfo[]) => (anyPreferNoSchedule(nodes) ? SUCCESS : SKIP),
    score,
    normalizeScore: (_s: CycleState, _p: PodInfo, scores: NodeScore[]) => defaultNormalizeScore(scores, true),
  };
}
