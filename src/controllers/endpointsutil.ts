/**
 * What the Endpoints and EndpointSlice controllers share, after upstream's
 * k8s.io/endpointslice/util and pkg/api/v1/pod: which pods belong in a
 * Service's endpoints, the container port a service port resolves to, which
 * Services a pod change concerns, and the tracker behind the
 * `endpoints.kubernetes.io/last-change-trigger-time` annotation.
 */
import { isStatus, type ResourceRef } from '../client/client.js';
import type { Lister } from '../client/informer.js';
import { selectorFromSet } from '../api/labels.js';
import { deepEqual } from '../util/json.js';
import { isPodReady, podReadyCondition, type ObjectLike } from './controllerutil.js';

/** discovery.k8s.io/v1 EndpointSlices. */
export const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' };

/** upstream v1.EndpointsLastChangeTriggerTime. */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
/** upstream v1.IsHeadlessService: the label on endpoints of a Service without a cluster IP. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** upstream helper.IsServiceIPSet: the Service has a cluster IP (it is not headless). */
export function isServiceIPSet(svc: ObjectLike): boolean {
  const ip = svc.spec?.clusterIP;
  return !!ip && ip !== 'None';
}

/**
 * The Service's selector, or undefined when it has none. An empty map counts
 * as none: upstream stores Services as protobuf, where `selector: {}` reads
 * back as nil, and a nil selector selects nothing (services without one get
 * their endpoints out of band).
 */
export function serviceSelector(svc: ObjectLike): Record<string, string> | undefined {
  const sel = svc.spec?.selector;
  return sel && typeof sel === 'object' && Object.keys(sel).length > 0 ? sel : undefined;
}

/** upstream isPodTerminal: Succeeded or Failed. */
function isPodTerminal(pod: ObjectLike): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The pod's IPs (status.podIPs, else status.podIP). */
export function podIPs(pod: ObjectLike): string[] {
  const list = (pod.status?.podIPs as { ip?: string }[] | undefined)?.map((p) => p?.ip).filter((ip): ip is string => !!ip) ?? [];
  if (list.length) return list;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/**
 * upstream ShouldPodBeInEndpoints: not terminal, has an IP, and (unless
 * `includeTerminating`) not being deleted.
 */
export function shouldPodBeInEndpoints(pod: ObjectLike, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (podIPs(pod).length === 0) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

/** upstream ShouldSetHostname: the pod names a hostname and its subdomain is this Service (same namespace). */
export function shouldSetHostname(pod: ObjectLike, svc: ObjectLike): boolean {
  return !!pod.spec?.hostname && pod.spec?.subdomain === svc.metadata?.name && svc.metadata?.namespace === pod.metadata?.namespace;
}

/**
 * upstream FindPort: the container port a service port's targetPort names.
 * A number is used as is; a name is looked up among the containers' ports
 * (then restartable init containers', i.e. sidecars) with the same protocol.
 * Returns undefined when the pod has no such port.
 */
export function findPort(pod: ObjectLike, svcPort: { targetPort?: number | string; port?: number; protocol?: string }): number | undefined {
  const target = svcPort.targetPort ?? svcPort.port;
  if (typeof target === 'number') return target;
  if (typeof target !== 'string' || target === '') return undefined;
  const protocol = svcPort.protocol ?? 'TCP';
  const search = (containers: any[] | undefined) => {
    for (const c of containers ?? []) {
      for (const p of (c?.ports as any[] | undefined) ?? []) {
        if (p?.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort as number;
      }
    }
    return undefined;
  };
  const found = search(pod.spec?.containers);
  if (found !== undefined) return found;
  return search((pod.spec?.initContainers as any[] | undefined)?.filter((c) => c?.restartPolicy === 'Always'));
}

/** upstream GetPodServiceMemberships: keys of the Services in the pod's namespace whose selector matches it. */
export function podServiceMemberships(services: Lister<ObjectLike>, pod: ObjectLike): Set<string> {
  const out = new Set<string>();
  const ns = pod.metadata?.namespace ?? '';
  for (const svc of services.list(ns)) {
    const sel = serviceSelector(svc);
    if (!sel) continue;
    if (selectorFromSet(sel).matches(pod.metadata?.labels ?? {})) out.add(`${ns}/${svc.metadata?.name}`);
  }
  return out;
}

/**
 * upstream podEndpointsChanged: whether a pod update may change its endpoints
 * (deletion timestamp, readiness or IPs) and whether it may change which
 * Services it belongs to (labels, hostname or subdomain).
 */
function podEndpointsChanged(old: ObjectLike, cur: ObjectLike): { podChanged: boolean; labelsChanged: boolean } {
  const labelsChanged =
    !deepEqual(old.metadata?.labels ?? {}, cur.metadata?.labels ?? {}) || old.spec?.hostname !== cur.spec?.hostname || old.spec?.subdomain !== cur.spec?.subdomain;
  const podChanged =
    old.metadata?.deletionTimestamp !== cur.metadata?.deletionTimestamp ||
    isPodReady(old) !== isPodReady(cur) ||
    !deepEqual(podIPs(old), podIPs(cur));
  return { podChanged, labelsChanged };
}

/**
 * upstream GetServicesToUpdateOnPodChange: the Services to sync after a pod
 * update — none for a resync or an irrelevant change; when labels changed,
 * the union of old and new memberships if the pod itself changed too, else
 * only the Services it joined or left.
 */
export function servicesToUpdateOnPodChange(services: Lister<ObjectLike>, old: ObjectLike, cur: ObjectLike): Set<string> {
  if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return new Set();
  const { podChanged, labelsChanged } = podEndpointsChanged(old, cur);
  if (!podChanged && !labelsChanged) return new Set();
  const now = podServiceMemberships(services, cur);
  if (!labelsChanged) return now;
  const before = podServiceMemberships(services, old);
  if (podChanged) return new Set([...now, ...before]);
  const out = new Set<string>();
  for (const k of now) if (!before.has(k)) out.add(k);
  for (const k of before) if (!now.has(k)) out.add(k);
  return out;
}

function timeOf(s: string | undefined): number {
  const t = Date.parse(s ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/**
 * upstream TriggerTimeTracker: per Service, the trigger times seen at the
 * last sync (each pod's Ready transition time, the Service's creation time),
 * so a sync can report the earliest change that led to it. A Service seen
 * for the first time reports its creation time; a sync with no new trigger
 * reports none (0), which clears the annotation.
 */
export class TriggerTimeTracker {
  private readonly states = new Map<string, { service: number; pods: Map<string, number> }>();

  /** The trigger time (ms since the epoch, 0 for none) of a sync of `svc` over `pods`. */
  compute(svc: ObjectLike, pods: readonly ObjectLike[]): number {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const state = this.states.get(key);
    let min = 0;
    const podTimes = new Map<string, number>();
    for (const pod of pods) {
      const t = timeOf(podReadyCondition(pod)?.lastTransitionTime);
      if (!t) continue;
      podTimes.set(pod.metadata?.name, t);
      if (t > (state?.pods.get(pod.metadata?.name) ?? 0) && (min === 0 || t < min)) min = t;
    }
    const svcTime = timeOf(svc.metadata?.creationTimestamp);
    if (svcTime > (state?.service ?? 0) && (min === 0 || svcTime < min)) min = svcTime;
    this.states.set(key, { service: svcTime, pods: podTimes });
    return state ? min : svcTime;
  }

  /** Forgets a deleted Service. */
  delete(namespace: string, name: string): void {
    this.states.delete(`${namespace}/${name}`);
  }
}

/** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros, none when whole. */
export function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** Sets the trigger-time annotation (or removes it for 0) on a copy of `annotations`; undefined when empty. */
export function withTriggerTime(annotations: Record<string, string> | undefined, triggerMs: number): Record<string, string> | undefined {
  const out = { ...(annotations ?? {}) };
  if (triggerMs) out[LAST_CHANGE_TRIGGER_TIME] = rfc3339Nano(triggerMs);
  else delete out[LAST_CHANGE_TRIGGER_TIME];
  return Object.keys(out).length ? out : undefined;
}

/** Joins several errors as upstream's utilerrors.NewAggregate prints them. */
export function aggregate(errs: unknown[]): Error | undefined {
  if (errs.length === 0) return undefined;
  if (errs.length === 1) return errs[0] instanceof Error ? errs[0] : new Error(String(errs[0]));
  return new Error(`[${errs.map((e) => (e as Error).message ?? String(e)).join(', ')}]`);
}

/** upstream HasStatusCause(err, NamespaceTerminatingCause). */
export function isNamespaceTerminating(e: unknown): boolean {
  return isStatus(e, 403) && (!!e.details?.causes?.some((c) => c.reason === 'NamespaceTerminating') || /because it is being terminated/.test(e.message));
}
