/**
 * LimitRanger admission (upstream plugin/pkg/admission/limitranger): the
 * LimitRanges of a namespace give new pods' containers default requests and
 * limits (mutation, before the pod's QoS class is computed), then pods and
 * claims are checked against min, max and maxLimitRequestRatio per
 * Container, Pod and PersistentVolumeClaim (validation). Errors read as
 * upstream's and are reported as Forbidden by the caller.
 */
import { parseResourceList, podResourceList, type ResourceList } from './usage.js';
import type { Quantity } from '../../api/quantity.js';

/** The annotation naming what LimitRanger defaulted on a pod (upstream limitRangerAnnotation). */
export const LIMIT_RANGER_ANNOTATION = 'kubernetes.io/limit-ranger';

/** The largest value whose milli-units still fit an int64 (upstream resource.MaxMilliValue). */
const MAX_MILLI_VALUE = Number((2n ** 63n - 1n) / 1000n);

/** Items of one type across a LimitRange, in order. */
function itemsOfType(lr: any, type: string): any[] {
  return (lr?.spec?.limits ?? []).filter((l: any) => l?.type === type);
}

/**
 * upstream PodMutateLimitFunc: containers (and init containers) missing a
 * request or limit get the Container item's defaultRequest / default, and the
 * pod is annotated with what was set.
 */
export function applyLimitRangeDefaults(pod: any, lr: any): void {
  const requests: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  for (const item of itemsOfType(lr, 'Container')) {
    Object.assign(requests, item.defaultRequest ?? {});
    Object.assign(limits, item.default ?? {});
  }
  const notes: string[] = [];
  const merge = (c: any, what: string) => {
    const res = (c.resources ??= {});
    const setLimits: string[] = [];
    const setRequests: string[] = [];
    for (const [k, v] of Object.entries(limits)) {
      if (res.limits?.[k] !== undefined) continue;
      (res.limits ??= {})[k] = v;
      setLimits.push(k);
    }
    for (const [k, v] of Object.entries(requests)) {
      if (res.requests?.[k] !== undefined) continue;
      (res.requests ??= {})[k] = v;
      setRequests.push(k);
    }
    if (setRequests.length) notes.push(`${setRequests.sort().join(', ')} request for ${what} ${c.name}`);
    if (setLimits.length) notes.push(`${setLimits.sort().join(', ')} limit for ${what} ${c.name}`);
  };
  for (const c of pod?.spec?.containers ?? []) merge(c, 'container');
  for (const c of pod?.spec?.initContainers ?? []) merge(c, 'init container');
  if (notes.length) {
    const md = (pod.metadata ??= {});
    md.annotations = { ...(md.annotations ?? {}), [LIMIT_RANGER_ANNOTATION]: `LimitRanger plugin set: ${notes.join('; ')}` };
  }
}

/** upstream requestLimitEnforcedValues: compare in milli-units where nothing overflows, else in units. */
function comparable(...qs: (Quantity | undefined)[]): number[] {
  const values = qs.map((q) => q?.value() ?? 0);
  if (values.every((v) => v <= MAX_MILLI_VALUE)) return qs.map((q) => q?.milliValue() ?? 0);
  return values;
}

/** upstream minConstraint. */
function minConstraint(type: string, name: string, enforced: Quantity, requests: ResourceList, limits: ResourceList): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  const [r, l, e] = comparable(req, lim, enforced);
  if (!req) return `minimum ${name} usage per ${type} is ${enforced}.  No request is specified`;
  if (r! < e!) return `minimum ${name} usage per ${type} is ${enforced}, but request is ${req}`;
  if (lim && l! < e!) return `minimum ${name} usage per ${type} is ${enforced}, but limit is ${lim}`;
  return undefined;
}

/** upstream maxConstraint. */
function maxConstraint(type: string, name: string, enforced: Quantity, requests: ResourceList, limits: ResourceList): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  const [r, l, e] = comparable(req, lim, enforced);
  if (!lim) return `maximum ${name} usage per ${type} is ${enforced}.  No limit is specified`;
  if (l! > e!) return `maximum ${name} usage per ${type} is ${enforced}, but limit is ${lim}`;
  if (req && r! > e!) return `maximum ${name} usage per ${type} is ${enforced}, but request is ${req}`;
  return undefined;
}

/** upstream maxRequestConstraint (claims: only requests count). */
function maxRequestConstraint(type: string, name: string, enforced: Quantity, requests: ResourceList): string | undefined {
  const req = requests.get(name);
  const [r, , e] = comparable(req, undefined, enforced);
  if (!req) return `maximum ${name} usage per ${type} is ${enforced}.  No request is specified`;
  if (r! > e!) return `maximum ${name} usage per ${type} is ${enforced}, but request is ${req}`;
  return undefined;
}

/** upstream limitRequestRatioConstraint; the ratio prints as Go's %f. */
function ratioConstraint(type: string, name: string, enforced: Quantity, requests: ResourceList, limits: ResourceList): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  const [r, l] = comparable(req, lim, enforced);
  if (!req || r === 0) return `${name} max limit to request ratio per ${type} is ${enforced}, but no request is specified or request is 0`;
  if (!lim || l === 0) return `${name} max limit to request ratio per ${type} is ${enforced}, but no limit is specified or limit is 0`;
  const display = l! / r!;
  let observed = display;
  let max = enforced.value();
  if (enforced.value() <= MAX_MILLI_VALUE) {
    observed *= 1000;
    max = enforced.milliValue();
  }
  if (observed > max) return `${name} max limit to request ratio per ${type} is ${enforced}, but provided ratio is ${display.toFixed(6)}`;
  return undefined;
}

/** Runs one check per resource of an item's map, in name order (upstream iterates a Go map; sorted here for stable messages). */
function each(map: Record<string, unknown> | undefined, check: (name: string, q: Quantity) => string | undefined, into: string[]): void {
  const parsed = parseResourceList(map);
  for (const name of [...parsed.keys()].sort()) {
    const e = check(name, parsed.get(name)!);
    if (e) into.push(e);
  }
}

/** upstream utilerrors.NewAggregate's message: repeats dropped, one error as is, several as `[a, b]`. */
function aggregate(errs: string[]): string | undefined {
  const unique = [...new Set(errs)];
  if (unique.length === 0) return undefined;
  return unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`;
}

/** upstream PodValidateLimitFunc: every container against the Container items, the whole pod against the Pod items. */
export function validatePodLimits(pod: any, lr: any): string | undefined {
  const errs: string[] = [];
  for (const item of lr?.spec?.limits ?? []) {
    if (item?.type === 'Container') {
      for (const c of [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])]) {
        const req = parseResourceList(c?.resources?.requests);
        const lim = parseResourceList(c?.resources?.limits);
        each(item.min, (n, q) => minConstraint('Container', n, q, req, lim), errs);
        each(item.max, (n, q) => maxConstraint('Container', n, q, req, lim), errs);
        each(item.maxLimitRequestRatio, (n, q) => ratioConstraint('Container', n, q, req, lim), errs);
      }
    } else if (item?.type === 'Pod') {
      // upstream's LimitRanger sums containers as PodRequests does, without the pod overhead.
      const bare = { spec: { ...(pod?.spec ?? {}), overhead: undefined } };
      const req = podResourceList(bare, 'requests');
      const lim = podResourceList(bare, 'limits');
      each(item.min, (n, q) => minConstraint('Pod', n, q, req, lim), errs);
      each(item.max, (n, q) => maxConstraint('Pod', n, q, req, lim), errs);
      each(item.maxLimitRequestRatio, (n, q) => ratioConstraint('Pod', n, q, req, lim), errs);
    }
  }
  return aggregate(errs);
}

/** upstream PersistentVolumeClaimValidateLimitFunc: spec.resources.requests against the claim items' min and max. */
export function validateClaimLimits(pvc: any, lr: any): string | undefined {
  const errs: string[] = [];
  const req = parseResourceList(pvc?.spec?.resources?.requests);
  for (const item of itemsOfType(lr, 'PersistentVolumeClaim')) {
    each(item.min, (n, q) => minConstraint('PersistentVolumeClaim', n, q, req, new Map()), errs);
    each(item.max, (n, q) => maxRequestConstraint('PersistentVolumeClaim', n, q, req), errs);
  }
  return aggregate(errs);
}
