/**
 * The arithmetic of queueing, as plain functions: what a workload requests,
 * which flavor each of its resources gets in a ClusterQueue, the order
 * pending workloads are tried in, and one admission pass over a
 * ClusterQueue (Kueue's pkg/workload resources, pkg/scheduler/flavorassigner
 * and the StrictFIFO/BestEffortFIFO queues of pkg/queue). Amounts are
 * Quantities (exact), never floats.
 */
import { Quantity } from '../../api/quantity.js';
import type { Taint } from '../../api/generated/types.js';
import type { ClusterQueue, PodSet, ResourceFlavor, Workload } from '../../api/kueue.js';
import { addQuantity, parseResourceList, podResourceList, type ResourceList } from '../../apiserver/admission/usage.js';
import { tolerationsTolerateTaint } from '../../scheduler/plugins/tainttoleration.js';

/** Usage per flavor, then per resource. */
export type FlavorUsageMap = Map<string, ResourceList>;

/** One pod set's admission: the flavor of each resource and what all its pods take. */
export interface PodSetAdmission {
  name: string;
  count: number;
  flavors: Record<string, string>;
  usage: ResourceList;
}

/** A whole workload's admission in a ClusterQueue. */
export interface Assignment {
  podSets: PodSetAdmission[];
  /** What the workload takes of each flavor's quota. */
  usage: FlavorUsageMap;
}

/**
 * The requests of one pod of a set (upstream workload.AdjustResources and
 * limitrange.TotalRequests): a container that states a limit but no request
 * for a resource requests its limit; containers are summed, init containers
 * taken at their maximum, overhead added — as PodRequests does.
 */
export function podRequests(template: PodSet['template'] | undefined): ResourceList {
  const spec: any = template?.spec ?? {};
  const withLimits = (cs: any[] | undefined) =>
    cs?.map((c) => ({ ...c, resources: { requests: { ...(c?.resources?.limits ?? {}), ...(c?.resources?.requests ?? {}) } } }));
  return podResourceList({ spec: { ...spec, containers: withLimits(spec.containers), initContainers: withLimits(spec.initContainers) } }, 'requests');
}

/** A quantity times a pod count. */
function times(q: Quantity, n: number): Quantity {
  return Quantity.fromNanos(q.nanos * BigInt(n), q.format);
}

/** What all the pods of a set request (upstream PodSetResources: per-pod requests × count). */
export function podSetRequests(ps: PodSet): ResourceList {
  const out: ResourceList = new Map();
  for (const [k, v] of podRequests(ps.template)) out.set(k, times(v, ps.count ?? 1));
  return out;
}

/**
 * A quantity as Kueue prints one (upstream resources.ResourceQuantity): cpu
 * in milli-units, memory, storage and huge pages in binary units, anything
 * else as a plain number.
 */
export function resourceQuantity(resource: string, q: Quantity): Quantity {
  if (resource === 'cpu') return Quantity.fromMilli(BigInt(q.milliValue()), 'DecimalSI');
  if (resource === 'memory' || resource === 'ephemeral-storage' || resource.startsWith('hugepages-')) return Quantity.fromValue(BigInt(q.value()), 'BinarySI');
  return Quantity.fromValue(BigInt(q.value()), 'DecimalSI');
}

/** The nominal quota of each flavor and resource of a ClusterQueue. */
export function nominalQuotas(cq: ClusterQueue): FlavorUsageMap {
  const out: FlavorUsageMap = new Map();
  for (const rg of cq.spec?.resourceGroups ?? []) {
    for (const f of rg.flavors ?? []) {
      const l = out.get(f.name) ?? new Map();
      for (const [k, v] of parseResourceList(Object.fromEntries((f.resources ?? []).map((r) => [r.name, r.nominalQuota])))) l.set(k, v);
      out.set(f.name, l);
    }
  }
  return out;
}

/** The flavors a ClusterQueue names that do not exist, sorted. */
export function missingFlavors(cq: ClusterQueue, flavors: ReadonlyMap<string, ResourceFlavor>): string[] {
  const names = new Set((cq.spec?.resourceGroups ?? []).flatMap((rg) => (rg.flavors ?? []).map((f) => f.name)));
  return [...names].filter((n) => !flavors.has(n)).sort();
}

/** Adds one usage map into another. */
export function addUsage(into: FlavorUsageMap, add: FlavorUsageMap): void {
  for (const [flavor, l] of add) {
    const cur = into.get(flavor) ?? new Map();
    for (const [k, v] of l) {
      const have = cur.get(k);
      cur.set(k, have ? addQuantity(have, v) : v);
    }
    into.set(flavor, cur);
  }
}

/** The usage an admitted workload holds, from its status.admission (upstream workload.Info of an admitted workload). */
export function admittedUsage(wl: Workload): FlavorUsageMap {
  const out: FlavorUsageMap = new Map();
  for (const psa of wl.status?.admission?.podSetAssignments ?? []) {
    const usage = parseResourceList(psa.resourceUsage);
    for (const [res, q] of usage) {
      const flavor = psa.flavors?.[res];
      if (!flavor) continue;
      addUsage(out, new Map([[flavor, new Map([[res, q]])]]));
    }
  }
  return out;
}

/** A taint as upstream's Taint.ToString prints it: `key=value:Effect`, or `key:Effect` without a value. */
function taintString(t: Taint): string {
  return t.value ? `${t.key}=${t.value}:${t.effect}` : `${t.key}:${t.effect}`;
}

/** Nanos of a quantity, or 0. */
function nanos(q: Quantity | undefined): bigint {
  return q?.nanos ?? 0n;
}

/**
 * Chooses a flavor for every resource of every pod set of a workload
 * (upstream FlavorAssigner.Assign with flavor fungibility's defaults): the
 * resources of one resource group get the first flavor, in the group's
 * order, that the pods' node selector matches, whose taints they tolerate
 * and whose remaining nominal quota holds what they request (together with
 * what earlier pod sets of the workload took). Returns the assignment, or
 * the message upstream writes on a workload that does not fit.
 * `used` is what admitted workloads hold now. Kite neither borrows within
 * a cohort nor preempts, so a flavor without enough unused quota never fits.
 */
export function assignFlavors(
  wl: Workload,
  cq: ClusterQueue,
  flavors: ReadonlyMap<string, ResourceFlavor>,
  used: FlavorUsageMap,
): { assignment: Assignment; message?: undefined } | { assignment?: undefined; message: string } {
  const quotas = nominalQuotas(cq);
  const groups = cq.spec?.resourceGroups ?? [];
  const coversPods = groups.some((g) => g.coveredResources?.includes('pods'));
  const assignment: Assignment = { podSets: [], usage: new Map() };
  for (const ps of wl.spec?.podSets ?? []) {
    const requests = podSetRequests(ps);
    // upstream: a ClusterQueue that quotas `pods` counts each pod set's pods as a request.
    if (coversPods) requests.set('pods', Quantity.fromValue(ps.count ?? 1));
    const chosen: Record<string, string> = {};
    const reasons: string[] = [];
    let failed = false;
    for (const res of [...requests.keys()].sort()) {
      if (chosen[res]) continue;
      const group = groups.find((g) => g.coveredResources?.includes(res));
      if (!group) {
        reasons.push(`resource ${res} unavailable in ClusterQueue`);
        failed = true;
        break;
      }
      const groupRequests = [...requests].filter(([r]) => group.coveredResources.includes(r));
      // Only node-selector keys that some flavor of the group labels are matched against flavors (upstream flavorSelector).
      const labelKeys = new Set(group.flavors.flatMap((f) => Object.keys(flavors.get(f.name)?.spec?.nodeLabels ?? {})));
      const selector = Object.entries((ps.template?.spec?.nodeSelector ?? {}) as Record<string, string>).filter(([k]) => labelKeys.has(k));
      let picked: string | undefined;
      for (const fq of group.flavors) {
        const flavor = flavors.get(fq.name);
        if (!flavor) {
          reasons.push(`flavor ${fq.name} not found`);
          continue;
        }
        const tolerations = [...(ps.template?.spec?.tolerations ?? []), ...(flavor.spec?.tolerations ?? [])];
        const taint = (flavor.spec?.nodeTaints ?? []).find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerationsTolerateTaint(tolerations, t));
        if (taint) {
          reasons.push(`untolerated taint ${taintString(taint)} in flavor ${fq.name}`);
          continue;
        }
        const labels = flavor.spec?.nodeLabels ?? {};
        if (selector.some(([k, v]) => labels[k] !== v)) {
          reasons.push(`flavor ${fq.name} doesn't match node affinity`);
          continue;
        }
        let fits = true;
        for (const [r, q] of groupRequests) {
          const nominal = nanos(quotas.get(fq.name)?.get(r));
          const val = q.nanos + nanos(assignment.usage.get(fq.name)?.get(r));
          const available = nominal - nanos(used.get(fq.name)?.get(r));
          const show = (n: bigint) => resourceQuantity(r, Quantity.fromNanos(n < 0n ? 0n : n)).toString();
          if (val > nominal) {
            reasons.push(`insufficient quota for ${r} in flavor ${fq.name}, request > maximum capacity (${show(val)} > ${show(nominal)})`);
            fits = false;
            break;
          }
          if (val > available) {
            reasons.push(`insufficient unused quota for ${r} in flavor ${fq.name}, ${show(val - (available < 0n ? 0n : available))} more needed`);
            fits = false;
            break;
          }
        }
        if (fits) {
          picked = fq.name;
          break;
        }
      }
      if (!picked) {
        failed = true;
        break;
      }
      for (const [r] of groupRequests) chosen[r] = picked;
    }
    if (failed) return { message: `couldn't assign flavors to pod set ${ps.name}: ${reasons.sort().join(', ')}` };
    const usage: ResourceList = new Map();
    for (const [r, q] of requests) {
      usage.set(r, q);
      addUsage(assignment.usage, new Map([[chosen[r]!, new Map([[r, q]])]]));
    }
    assignment.podSets.push({ name: ps.name, count: ps.count ?? 1, flavors: chosen, usage });
  }
  return { assignment };
}

/** When a workload was queued: its creation time (upstream GetQueueOrderTimestamp without eviction). */
function queuedAt(wl: Workload): string {
  return wl.metadata?.creationTimestamp ?? '';
}

/**
 * The order pending workloads are tried in (upstream queue ordering):
 * higher priority first, then the earlier queued; `tie` breaks equal
 * timestamps (creation times have one-second precision).
 */
export function compareWorkloads(a: Workload, b: Workload, tie: (w: Workload) => number = () => 0): number {
  const pa = a.spec?.priority ?? 0;
  const pb = b.spec?.priority ?? 0;
  if (pa !== pb) return pb - pa;
  const ta = queuedAt(a);
  const tb = queuedAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return tie(a) - tie(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name));
}

/** The outcome of one admission pass over a ClusterQueue. */
export interface PassResult {
  admitted: { workload: Workload; assignment: Assignment }[];
  /** Workloads tried that did not fit, with the reason. */
  inadmissible: { workload: Workload; message: string }[];
}

/**
 * One admission pass over a ClusterQueue's pending workloads, already in
 * queue order (upstream scheduler cycles, one after another, until nothing
 * more fits). Each admitted workload's usage counts against the ones after
 * it. StrictFIFO stops at the first workload that does not fit — those
 * behind it wait untried; BestEffortFIFO tries every workload, so smaller
 * ones may pass a larger one that does not fit.
 */
export function admissionPass(
  cq: ClusterQueue,
  pending: readonly Workload[],
  flavors: ReadonlyMap<string, ResourceFlavor>,
  used: FlavorUsageMap,
): PassResult {
  const usage: FlavorUsageMap = new Map();
  addUsage(usage, used);
  const out: PassResult = { admitted: [], inadmissible: [] };
  for (const wl of pending) {
    const r = assignFlavors(wl, cq, flavors, usage);
    if (r.assignment) {
      addUsage(usage, r.assignment.usage);
      out.admitted.push({ workload: wl, assignment: r.assignment });
      continue;
    }
    out.inadmissible.push({ workload: wl, message: r.message });
    if ((cq.spec?.queueingStrategy ?? 'BestEffortFIFO') === 'StrictFIFO') break;
  }
  return out;
}
