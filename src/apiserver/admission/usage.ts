/**
 * Quota usage: how much of each quota resource an object consumes, and the
 * resource-list arithmetic quota admission and the quota controller share
 * (upstream pkg/quota/v1 and its evaluators in pkg/quota/v1/evaluator/core).
 * A resource list maps names such as `requests.cpu` or `count/pods` to
 * Quantities, so used amounts print as upstream prints them (`500m`, `1Gi`).
 */
import { parseQuantity, Quantity } from '../../api/quantity.js';
import { podQosClass } from '../registry/builtin.js';

/** Resource name → amount. */
export type ResourceList = Map<string, Quantity>;

const ZERO = Quantity.fromValue(0);
const ONE = Quantity.fromValue(1);

/** A resource list from an object's `{name: quantity}` map; unparseable entries are left out (validation refuses them). */
export function parseResourceList(rl: Readonly<Record<string, unknown>> | null | undefined): ResourceList {
  const out: ResourceList = new Map();
  for (const [k, v] of Object.entries(rl ?? {})) {
    try {
      if (typeof v === 'string' || typeof v === 'number') out.set(k, parseQuantity(v));
    } catch {
      // invalid quantities never pass validation; ignore them here
    }
  }
  return out;
}

/** The wire form of a resource list (canonical quantity strings). */
export function formatResourceList(l: ResourceList): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [...l.keys()].sort()) out[k] = l.get(k)!.toString();
  return out;
}

/** upstream Quantity.Add: a zero amount takes the format of what is added to it (so 0 + 1Gi prints as 1Gi). */
export function addQuantity(a: Quantity, b: Quantity): Quantity {
  return a.isZero() ? Quantity.fromNanos(a.nanos + b.nanos, b.format) : a.add(b);
}

/** upstream quota.Add: the union of both lists, amounts summed where both have the resource. */
export function addLists(a: ResourceList, b: ResourceList): ResourceList {
  const out: ResourceList = new Map(a);
  for (const [k, v] of b) {
    const cur = out.get(k);
    out.set(k, cur ? addQuantity(cur, v) : v);
  }
  return out;
}

/** upstream quota.SubtractWithNonNegativeResult: a − b per resource of a, never below zero. */
export function subtractNonNegative(a: ResourceList, b: ResourceList): ResourceList {
  const out: ResourceList = new Map();
  for (const [k, v] of a) {
    const other = b.get(k);
    const d = other ? v.sub(other) : v;
    out.set(k, d.nanos < 0n ? Quantity.fromNanos(0n, v.format) : d);
  }
  return out;
}

/** upstream quota.Mask: only the named resources. */
export function maskList(l: ResourceList, names: Iterable<string>): ResourceList {
  const out: ResourceList = new Map();
  for (const n of names) {
    const v = l.get(n);
    if (v) out.set(n, v);
  }
  return out;
}

/** upstream quota.RemoveZeros. */
export function removeZeros(l: ResourceList): ResourceList {
  return new Map([...l].filter(([, v]) => !v.isZero()));
}

/** upstream quota.IsNegative: the resources with a negative amount. */
export function negativeResources(l: ResourceList): string[] {
  return [...l].filter(([, v]) => v.nanos < 0n).map(([k]) => k);
}

/** upstream quota.Equals: the same resources with equal amounts. */
export function listsEqual(a: ResourceList, b: ResourceList): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const o = b.get(k);
    if (!o || o.cmp(v) !== 0) return false;
  }
  return true;
}

/** upstream quota.LessThanOrEqual: whether every amount in a is within b (resources b lacks are not limited); the names that exceed. */
export function withinLimits(a: ResourceList, b: ResourceList): { ok: boolean; exceeded: string[] } {
  const exceeded: string[] = [];
  for (const [k, v] of a) {
    const limit = b.get(k);
    if (limit && v.cmp(limit) > 0) exceeded.push(k);
  }
  return { ok: exceeded.length === 0, exceeded };
}

/** upstream prettyPrint of a resource list in quota errors: `name=amount` sorted by name, joined by commas. */
export function prettyPrint(l: ResourceList): string {
  return [...l.keys()].sort().map((k) => `${k}=${l.get(k)!.toString()}`).join(',');
}

/** upstream prettyPrintResourceNames: sorted, comma-joined. */
export function prettyPrintNames(names: Iterable<string>): string {
  return [...names].sort().join(',');
}

/** The object count quota name of a resource: `count/pods`, `count/deployments.apps` (upstream ObjectCountQuotaResourceNameFor). */
export function objectCountName(group: string, resource: string): string {
  return group ? `count/${resource}.${group}` : `count/${resource}`;
}

/** Parses `count/<resource>[.<group>]` back into a group and resource. */
export function parseObjectCountName(name: string): { group: string; resource: string } | undefined {
  if (!name.startsWith('count/')) return undefined;
  const rest = name.slice('count/'.length);
  const dot = rest.indexOf('.');
  return dot < 0 ? { group: '', resource: rest } : { group: rest.slice(dot + 1), resource: rest.slice(0, dot) };
}

/** The operation quota is asked about. */
export type QuotaOperation = 'create' | 'update';

/** A scope requirement of a quota: `spec.scopes` entries (operator Exists) and `spec.scopeSelector.matchExpressions`. */
export interface ScopeRequirement {
  scopeName: string;
  operator: string;
  values?: string[];
}

/** How quota measures one resource (upstream quota.Evaluator). */
export interface QuotaEvaluator {
  readonly group: string;
  readonly resource: string;
  /** Whether the operation can change usage (upstream Handles). */
  handles(op: QuotaOperation, obj: any, old: any | undefined): boolean;
  /** The quota resource names, of `names`, this evaluator counts (upstream MatchingResources). */
  matchingResources(names: readonly string[]): string[];
  /** Whether an object falls under one scope requirement (upstream MatchesScopeFunc); objects without scopes never do. */
  matchesScope(scope: ScopeRequirement, obj: any): boolean;
  /** What the object consumes (upstream Usage). */
  usage(obj: any, now: Date): ResourceList;
  /** An error message when the object lacks something a constrained resource requires (upstream Constraints). */
  constraints(required: readonly string[], obj: any): string | undefined;
}

/** A quota's scope requirements (upstream getScopeSelectorsFromQuota). */
export function quotaScopes(quota: any): ScopeRequirement[] {
  const out: ScopeRequirement[] = (quota?.spec?.scopes ?? []).map((s: string) => ({ scopeName: s, operator: 'Exists' }));
  for (const e of quota?.spec?.scopeSelector?.matchExpressions ?? []) out.push({ scopeName: e.scopeName, operator: e.operator, values: e.values });
  return out;
}

/**
 * upstream generic.Matches: the quota constrains the object when it limits (in
 * status.hard, which the quota controller fills) a resource the evaluator
 * counts and every scope matches.
 */
export function quotaMatches(quota: any, evaluator: QuotaEvaluator, obj: any): boolean {
  const hard = Object.keys(quota?.status?.hard ?? {});
  if (evaluator.matchingResources(hard).length === 0) return false;
  return quotaScopes(quota).every((s) => evaluator.matchesScope(s, obj));
}

// ---------------------------------------------------------------------------
// Pods (upstream evaluator/core/pods.go)

const POD_RESOURCES = [
  'count/pods',
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
];

/** Resources that, when a quota limits them, every container must set (upstream's backward-compatible validationSet). */
const POD_VALIDATION_SET = new Set(['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

/** upstream helper.IsNativeResource: unprefixed names and `kubernetes.io/` ones. */
function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

/** upstream helper.IsExtendedResourceName: a prefixed, non-native name that is not a quota `requests.` name. */
export function isExtendedResourceName(name: string): boolean {
  return !isNativeResource(name) && !name.startsWith('requests.');
}

/** upstream isExtendedResourceNameForQuota: `requests.<extended resource>`, e.g. `requests.nvidia.com/gpu`. */
function isExtendedResourceNameForQuota(name: string): boolean {
  return !isNativeResource(name) && name.startsWith('requests.');
}

function addInto(into: ResourceList, l: ResourceList): void {
  for (const [k, v] of l) {
    const cur = into.get(k);
    into.set(k, cur ? addQuantity(cur, v) : v);
  }
}

function maxInto(into: ResourceList, l: ResourceList): void {
  for (const [k, v] of l) {
    const cur = into.get(k);
    if (!cur || v.cmp(cur) > 0) into.set(k, v);
  }
}

/**
 * The pod's effective requests or limits, as upstream resourcehelper.PodRequests
 * and PodLimits compute them: containers summed; restartable (sidecar) init
 * containers added and carried into later init containers; the larger of that
 * and any init container; plus spec.overhead.
 */
export function podResourceList(pod: any, which: 'requests' | 'limits'): ResourceList {
  const spec = pod?.spec ?? {};
  const out: ResourceList = new Map();
  for (const c of spec.containers ?? []) addInto(out, parseResourceList(c?.resources?.[which]));
  const sidecars: ResourceList = new Map();
  const init: ResourceList = new Map();
  for (const c of spec.initContainers ?? []) {
    const l = parseResourceList(c?.resources?.[which]);
    if (c?.restartPolicy === 'Always') {
      addInto(out, l);
      addInto(sidecars, l);
      maxInto(init, sidecars);
    } else {
      const tmp: ResourceList = new Map(l);
      addInto(tmp, sidecars);
      maxInto(init, tmp);
    }
  }
  maxInto(out, init);
  if (spec.overhead) addInto(out, parseResourceList(spec.overhead));
  return out;
}

/** upstream podComputeUsageHelper: quota names charged for requests and limits. */
function computeUsage(requests: ResourceList, limits: ResourceList): ResourceList {
  const out: ResourceList = new Map([['pods', ONE]]);
  for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
    const req = requests.get(r);
    if (req) {
      out.set(r, req);
      out.set(`requests.${r}`, req);
    }
    const lim = limits.get(r);
    if (lim) out.set(`limits.${r}`, lim);
  }
  for (const [r, req] of requests) {
    if (r.startsWith('hugepages-')) {
      out.set(r, req);
      out.set(`requests.${r}`, req);
    }
    // Extended resources are quota'd only as `requests.<name>` (they cannot be overcommitted).
    if (isExtendedResourceName(r)) out.set(`requests.${r}`, req);
  }
  return out;
}

/** upstream QuotaV1Pod: terminal pods, and pods past their deletion grace period, hold no compute quota. */
export function podChargesCompute(pod: any, now: Date): boolean {
  const phase = pod?.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const ts = pod?.metadata?.deletionTimestamp;
  const grace = pod?.metadata?.deletionGracePeriodSeconds;
  if (ts && typeof grace === 'number') {
    const at = Date.parse(ts);
    if (!Number.isNaN(at) && now.getTime() > at + grace * 1000) return false;
  }
  return true;
}

/** upstream IsTerminating: a pod with an active deadline. */
function podIsTerminating(pod: any): boolean {
  const d = pod?.spec?.activeDeadlineSeconds;
  return typeof d === 'number' && d >= 0;
}

/** Whether the pod's priority class satisfies a PriorityClass scope selector (upstream podMatchesSelector). */
function priorityClassMatches(scope: ScopeRequirement, pod: any): boolean {
  const name: string | undefined = pod?.spec?.priorityClassName || undefined;
  switch (scope.operator) {
    case 'Exists':
      return name !== undefined;
    case 'DoesNotExist':
      return name === undefined;
    case 'In':
      return name !== undefined && (scope.values ?? []).includes(name);
    case 'NotIn':
      return name === undefined || !(scope.values ?? []).includes(name);
    default:
      return false;
  }
}

/** upstream usesCrossNamespacePodAffinity. */
function usesCrossNamespaceAffinity(pod: any): boolean {
  const a = pod?.spec?.affinity;
  const cross = (t: any) => (t?.namespaces?.length ?? 0) > 0 || t?.namespaceSelector != null;
  for (const kind of [a?.podAffinity, a?.podAntiAffinity]) {
    if (!kind) continue;
    if ((kind.requiredDuringSchedulingIgnoredDuringExecution ?? []).some(cross)) return true;
    if ((kind.preferredDuringSchedulingIgnoredDuringExecution ?? []).some((w: any) => cross(w?.podAffinityTerm))) return true;
  }
  return false;
}

const podEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'pods',
  // In-place resize is off in 1.32, so only creations change what a pod is charged.
  handles: (op) => op === 'create',
  matchingResources(names) {
    return names.filter(
      (n) => POD_RESOURCES.includes(n) || n.startsWith('hugepages-') || n.startsWith('requests.hugepages-') || isExtendedResourceNameForQuota(n),
    );
  },
  matchesScope(scope, pod) {
    switch (scope.scopeName) {
      case 'Terminating':
        return podIsTerminating(pod);
      case 'NotTerminating':
        return !podIsTerminating(pod);
      case 'BestEffort':
        return podQosClass(pod) === 'BestEffort';
      case 'NotBestEffort':
        return podQosClass(pod) !== 'BestEffort';
      case 'PriorityClass':
        return priorityClassMatches(scope, pod);
      case 'CrossNamespacePodAffinity':
        return usesCrossNamespaceAffinity(pod);
      default:
        return false;
    }
  },
  usage(pod, now) {
    // count/pods tracks every stored pod; the compute resources only live ones.
    const out: ResourceList = new Map([['count/pods', ONE]]);
    if (!podChargesCompute(pod, now)) return out;
    return addLists(out, computeUsage(podResourceList(pod, 'requests'), podResourceList(pod, 'limits')));
  },
  constraints(required, pod) {
    const requiredSet = required.filter((r) => POD_VALIDATION_SET.has(r));
    if (requiredSet.length === 0) return undefined;
    const missing = new Map<string, Set<string>>();
    const spec = pod?.spec ?? {};
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const has = computeUsage(parseResourceList(c?.resources?.requests), parseResourceList(c?.resources?.limits));
      for (const r of requiredSet) {
        if (has.has(r)) continue;
        if (!missing.has(r)) missing.set(r, new Set());
        missing.get(r)!.add(String(c?.name ?? ''));
      }
    }
    if (missing.size === 0) return undefined;
    const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`);
    return `must specify ${parts.join('; ')}`;
  },
};

// ---------------------------------------------------------------------------
// Services (upstream evaluator/core/services.go)

const SERVICE_RESOURCES = ['count/services', 'services', 'services.nodeports', 'services.loadbalancers'];

const serviceEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'services',
  handles: (op) => op === 'create' || op === 'update',
  matchingResources: (names) => names.filter((n) => SERVICE_RESOURCES.includes(n)),
  matchesScope: () => false,
  usage(svc) {
    const ports = (svc?.spec?.ports ?? []).length;
    const type = svc?.spec?.type ?? 'ClusterIP';
    const out: ResourceList = new Map([
      ['count/services', ONE],
      ['services', ONE],
      ['services.loadbalancers', ZERO],
      ['services.nodeports', ZERO],
    ]);
    if (type === 'NodePort' || type === 'LoadBalancer') out.set('services.nodeports', Quantity.fromValue(ports));
    if (type === 'LoadBalancer') out.set('services.loadbalancers', ONE);
    return out;
  },
  constraints: () => undefined,
};

// ---------------------------------------------------------------------------
// PersistentVolumeClaims (upstream evaluator/core/persistent_volume_claims.go)

const PVC_RESOURCES = ['count/persistentvolumeclaims', 'persistentvolumeclaims', 'requests.storage'];
/** Quota names per storage class end with these (`gold.storageclass.storage.k8s.io/requests.storage`). */
const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/';

const pvcEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'persistentvolumeclaims',
  handles: (op) => op === 'create' || op === 'update',
  matchingResources(names) {
    return names.filter((n) => {
      if (PVC_RESOURCES.includes(n)) return true;
      const i = n.indexOf(STORAGE_CLASS_SUFFIX);
      return i > 0 && ['persistentvolumeclaims', 'requests.storage'].includes(n.slice(i + STORAGE_CLASS_SUFFIX.length));
    });
  },
  matchesScope: () => false,
  usage(pvc) {
    const out: ResourceList = new Map([
      ['count/persistentvolumeclaims', ONE],
      ['persistentvolumeclaims', ONE],
    ]);
    const cls: string = pvc?.spec?.storageClassName ?? '';
    if (cls) out.set(`${cls}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`, ONE);
    const storage = parseResourceList(pvc?.spec?.resources?.requests).get('storage');
    if (storage) {
      out.set('requests.storage', storage);
      if (cls) out.set(`${cls}${STORAGE_CLASS_SUFFIX}requests.storage`, storage);
    }
    return out;
  },
  constraints: () => undefined,
};

// ---------------------------------------------------------------------------
// Everything else: object counts (upstream generic.NewObjectCountEvaluator)

/** Resources counted under a legacy name as well as `count/<resource>` (upstream legacyObjectCountAliases). */
const LEGACY_COUNT_NAMES: Record<string, string> = {
  '/configmaps': 'configmaps',
  '/secrets': 'secrets',
  '/resourcequotas': 'resourcequotas',
  '/replicationcontrollers': 'replicationcontrollers',
};

function objectCountEvaluator(group: string, resource: string): QuotaEvaluator {
  const names = [objectCountName(group, resource)];
  const legacy = LEGACY_COUNT_NAMES[`${group}/${resource}`];
  if (legacy) names.push(legacy);
  return {
    group,
    resource,
    handles: (op) => op === 'create',
    matchingResources: (input) => input.filter((n) => names.includes(n)),
    matchesScope: () => false,
    usage: () => new Map(names.map((n) => [n, ONE])),
    constraints: () => undefined,
  };
}

const SPECIFIC: Record<string, QuotaEvaluator> = {
  '/pods': podEvaluator,
  '/services': serviceEvaluator,
  '/persistentvolumeclaims': pvcEvaluator,
};

const countEvaluators = new Map<string, QuotaEvaluator>();

/** The evaluator of a resource: pods, services and claims have their own, everything else is counted. */
export function evaluatorFor(group: string, resource: string): QuotaEvaluator {
  const key = `${group}/${resource}`;
  const specific = SPECIFIC[key];
  if (specific) return specific;
  let e = countEvaluators.get(key);
  if (!e) countEvaluators.set(key, (e = objectCountEvaluator(group, resource)));
  return e;
}

/** Resources quota never tracks (upstream DefaultIgnoredResources: events). */
export function quotaIgnores(group: string, resource: string): boolean {
  return resource === 'events' && (group === '' || group === 'events.k8s.io');
}

/**
 * The resources each quota resource name needs counted, for the quota
 * controller: pods, services, claims and the legacy counts by name, and any
 * `count/<resource>.<group>`.
 */
export function evaluatedResource(name: string): { group: string; resource: string } | undefined {
  for (const e of Object.values(SPECIFIC)) if (e.matchingResources([name]).length) return { group: e.group, resource: e.resource };
  for (const [key, legacy] of Object.entries(LEGACY_COUNT_NAMES)) if (legacy === name) return { group: '', resource: key.slice(1) };
  return parseObjectCountName(name);
}
