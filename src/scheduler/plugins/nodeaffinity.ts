/**
 * NodeAffinity: `spec.nodeSelector` and required node affinity decide
 * where a pod may go; preferred node affinity adds the weights of the
 * terms a node matches to its score (upstream plugins/nodeaffinity and
 * component-helpers' nodeaffinity).
 */
import type { NodeSelectorRequirement, NodeSelectorTerm } from '../../api/generated/types.js';
import { SKIP, SUCCESS, unresolvable, type CycleState, type NodeScore, type Plugin } from '../framework.js';
import type { NodeInfo, PodInfo } from '../nodeinfo.js';
import { defaultNormalizeScore } from './helper.js';

/** The plugin's registered name. */
export const NAME = 'NodeAffinity';
/** Upstream ErrReasonPod. */
export const ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector";

/** Tests a node. */
type NodeMatcher = (node: NodeInfo) => boolean;

const INT_RE = /^[+-]?\d+$/;

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Both sides must be integers (upstream: a non-integer makes the requirement fail).
      if (value === undefined || values.length !== 1 || !INT_RE.test(value) || !INT_RE.test(values[0]!)) return false;
      const a = Number(value);
      const b = Number(values[0]);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A matcher for one term: its expressions (labels) and fields (only metadata.name) all hold; an empty term matches nothing. */
export function termMatcher(term: NodeSelectorTerm): NodeMatcher {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return () => false;
  for (const f of fields) if (f.key !== 'metadata.name' || (f.operator !== 'In' && f.operator !== 'NotIn')) return () => false;
  return (node) => {
    for (const e of exprs) if (!requirementMatches(e, Object.hasOwn(node.labels, e.key) ? node.labels[e.key] : undefined)) return false;
    for (const f of fields) if (!requirementMatches(f, node.name)) return false;
    return true;
  };
}

/** A matcher for a pod's required placement: nodeSelector AND (any required term), or undefined when the pod has neither. */
export function requiredMatcher(pod: PodInfo): NodeMatcher | undefined {
  const selector = pod.pod.spec?.nodeSelector;
  const terms = pod.pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const sel = selector && Object.keys(selector).length ? Object.entries(selector) : undefined;
  if (!sel && !terms) return undefined;
  const termMatchers = terms?.map(termMatcher);
  return (node) => {
    if (sel) for (const [k, v] of sel) if (!Object.hasOwn(node.labels, k) || node.labels[k] !== v) return false;
    if (termMatchers) {
      for (const m of termMatchers) if (m(node)) return true;
      return false;
    }
    return true;
  };
}

const REQUIRED = 'NodeAffinity/required';
const PREFERRED = 'NodeAffinity/preferred';

/** Builds the plugin. */
export function nodeAffinity(): Plugin {
  return {
    name: NAME,
    preFilter(state: CycleState, pod: PodInfo) {
      const m = requiredMatcher(pod);
      if (!m) return SKIP;
      state.set(REQUIRED, m);
      return SUCCESS;
    },
    filter(state: CycleState, pod: PodInfo, node: NodeInfo) {
      const m = (state.get(REQUIRED) as NodeMatcher | undefined) ?? requiredMatcher(pod);
      return !m || m(node) ? SUCCESS : unresolvable(ERR_REASON_POD);
    },
    preScore(state: CycleState, pod: PodInfo) {
      const prefs = pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
      if (!prefs?.length) return SKIP;
      // Zero-weight terms never change a score (upstream drops them too).
      state.set(PREFERRED, prefs.filter((p) => p.weight !== 0).map((p) => ({ weight: p.weight, match: termMatcher(p.preference) })));
      return SUCCESS;
    },
    score(state: CycleState, _pod: PodInfo, node: NodeInfo) {
      const prefs = (state.get(PREFERRED) as { weight: number; match: NodeMatcher }[] | undefined) ?? [];
      let s = 0;
      for (const p of prefs) if (p.match(node)) s += p.weight;
      return s;
    },
    normalizeScore: (_s: CycleState, _p: PodInfo, scores: NodeScore[]) => defaultNormalizeScore(scores, false),
  };
}
