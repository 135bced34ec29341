/**
 * The EndpointSlice controller (upstream pkg/controller/endpointslice and
 * k8s.io/endpointslice's Reconciler): for every Service with a selector,
 * keeps EndpointSlices (`generateName: <service>-`, at most 100 endpoints
 * each, one address type) listing the matching pods with their ready /
 * serving / terminating conditions, node, zone, hostname and target, and the
 * ports their targetPorts resolve to. Slices are grouped by resolved port
 * set; existing slices are updated in place where possible, filled before
 * new ones are made, and a Service with no endpoints keeps one empty
 * placeholder slice. Services without a selector, and ExternalName ones, are
 * left alone.
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromSet } from '../api/labels.js';
import { nameIsDNSSubdomain } from '../api/names.js';
import { deepEqual } from '../util/json.js';
import { isPodReady, newControllerRef, type ObjectLike } from './controllerutil.js';
import {
  ENDPOINT_SLICES,
  HEADLESS_LABEL,
  TriggerTimeTracker,
  findPort,
  aggregate,
  isNamespaceTerminating,
  isServiceIPSet,
  podIPs,
  podServiceMemberships,
  serviceSelector,
  servicesToUpdateOnPodChange,
  shouldPodBeInEndpoints,
  shouldSetHostname,
  withTriggerTime,
} from './endpointsutil.js';

/** upstream controllerQualifiedName: the managed-by value of this controller's slices. */
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
/** upstream discovery.LabelServiceName. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** upstream discovery.LabelManagedBy. */
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
/** upstream --max-endpoints-per-slice default. */
export const MAX_ENDPOINTS_PER_SLICE = 100;
/** upstream endpointSliceChangeMinSyncDelay: a slice changed by someone else is looked at after this long. */
const SLICE_CHANGE_SYNC_DELAY_MS = 1000;
/**
 * How soon a sync that found the slice cache behind this controller's own
 * writes runs again. Upstream retries through the rate limiter (1 s at
 * first); Kite looks again within milliseconds because the informer catches
 * up that fast, and endpoint changes must reach the proxy within 2 s.
 */
const STALE_RETRY_MS = 20;
const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** An endpoint of a slice (discovery/v1 Endpoint). */
export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string; resourceVersion?: string };
  nodeName?: string;
  zone?: string;
  hints?: unknown;
}

/** A port of a slice (discovery/v1 EndpointPort). */
export interface SlicePort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

/** An EndpointSlice as this controller reads and writes it. */
export interface EndpointSlice extends ObjectLike {
  addressType: string;
  endpoints?: SliceEndpoint[] | null;
  ports?: SlicePort[] | null;
}

/** The group a slice belongs to: its ports and address type (upstream endpointMeta). */
interface EndpointMeta {
  ports: SlicePort[];
  addressType: string;
}

/** upstream endpointHash: addresses, hostname and target identify an endpoint; conditions may change in place. */
function endpointHash(ep: SliceEndpoint): string {
  return JSON.stringify([[...(ep.addresses ?? [])].sort(), ep.hostname ?? '', ep.targetRef?.namespace ?? '', ep.targetRef?.name ?? '']);
}

/** upstream EndpointSet: endpoints by their hash. */
export class EndpointSet {
  private readonly items = new Map<string, SliceEndpoint>();
  insert(ep: SliceEndpoint): void {
    this.items.set(endpointHash(ep), ep);
  }
  get(ep: SliceEndpoint): SliceEndpoint | undefined {
    return this.items.get(endpointHash(ep));
  }
  delete(ep: SliceEndpoint): void {
    this.items.delete(endpointHash(ep));
  }
  /** Removes and returns the endpoint added first. */
  pop(): SliceEndpoint | undefined {
    for (const [k, ep] of this.items) {
      this.items.delete(k);
      return ep;
    }
    return undefined;
  }
  get size(): number {
    return this.items.size;
  }
}

function normalizedPort(p: SlicePort): SlicePort {
  return { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}) };
}

/** upstream NewPortMapKey: identifies a set of ports whatever their order. */
export function portMapKey(ports: readonly SlicePort[] | null | undefined): string {
  return JSON.stringify((ports ?? []).map((p) => JSON.stringify(normalizedPort(p))).sort());
}

/** upstream EndpointsEqualBeyondHash: node, zone, conditions and target (ignoring its resourceVersion) are equal. */
export function endpointsEqualBeyondHash(a: SliceEndpoint, b: SliceEndpoint): boolean {
  if ((a.nodeName ?? null) !== (b.nodeName ?? null) || (a.zone ?? null) !== (b.zone ?? null)) return false;
  const ca = a.conditions ?? {};
  const cb = b.conditions ?? {};
  if ((ca.ready ?? null) !== (cb.ready ?? null) || (ca.serving ?? null) !== (cb.serving ?? null) || (ca.terminating ?? null) !== (cb.terminating ?? null)) return false;
  const ta = a.targetRef ? { ...a.targetRef, resourceVersion: undefined } : null;
  const tb = b.targetRef ? { ...b.targetRef, resourceVersion: undefined } : null;
  return deepEqual(ta, tb);
}

function isReservedLabel(k: string): boolean {
  return k === LABEL_SERVICE_NAME || k === LABEL_MANAGED_BY || k === HEADLESS_LABEL;
}

/**
 * upstream setEndpointSliceLabels: a slice carries its Service's labels
 * (except the reserved ones) plus service-name, managed-by and, for headless
 * Services, the headless label. `changed` reports whether the copied Service
 * labels differ from the slice's.
 */
export function endpointSliceLabels(slice: ObjectLike, svc: ObjectLike): { labels: Record<string, string>; changed: boolean } {
  const have: Record<string, string> = {};
  for (const [k, v] of Object.entries((slice.metadata?.labels ?? {}) as Record<string, string>)) if (!isReservedLabel(k)) have[k] = v;
  const want: Record<string, string> = {};
  for (const [k, v] of Object.entries((svc.metadata?.labels ?? {}) as Record<string, string>)) if (!isReservedLabel(k)) want[k] = v;
  const changed = !deepEqual(have, want);
  if (!isServiceIPSet(svc)) want[HEADLESS_LABEL] = '';
  want[LABEL_SERVICE_NAME] = svc.metadata?.name;
  want[LABEL_MANAGED_BY] = CONTROLLER_NAME;
  return { labels: want, changed };
}

/** upstream getEndpointSlicePrefix: `<service>-` when that is a valid generateName. */
export function slicePrefix(serviceName: string): string {
  const prefix = `${serviceName}-`;
  return nameIsDNSSubdomain(prefix, true).length === 0 ? prefix : serviceName;
}

/** upstream newEndpointSlice: an empty slice of this Service for one port group. */
function newEndpointSlice(svc: ObjectLike, meta: EndpointMeta): EndpointSlice {
  const slice: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      generateName: slicePrefix(svc.metadata?.name),
      namespace: svc.metadata?.namespace,
      labels: {},
      ownerReferences: [newControllerRef(svc, 'v1', 'Service')],
    },
    addressType: meta.addressType,
    endpoints: [],
    ports: meta.ports,
  };
  slice.metadata.labels = endpointSliceLabels(slice, svc).labels;
  return slice;
}

/** upstream ownedBy: the slice's owner references include this Service. */
function ownedBy(slice: ObjectLike, svc: ObjectLike): boolean {
  return ((slice.metadata?.ownerReferences ?? []) as any[]).some((o) => o?.uid === svc.metadata?.uid && o?.kind === 'Service' && o?.apiVersion === 'v1');
}

/** upstream getAddressTypesForService: from spec.ipFamilies, else the cluster IP's family, else both (headless). */
function addressTypesForService(svc: ObjectLike): Set<string> {
  const out = new Set<string>();
  for (const f of (svc.spec?.ipFamilies as string[] | undefined) ?? []) {
    if (f === 'IPv4') out.add('IPv4');
    if (f === 'IPv6') out.add('IPv6');
  }
  if (out.size) return out;
  if (isServiceIPSet(svc)) return new Set([String(svc.spec.clusterIP).includes(':') ? 'IPv6' : 'IPv4']);
  return new Set(['IPv4', 'IPv6']);
}

/** upstream getEndpointPorts: the service ports resolved against this pod (headless Services may have none). */
function endpointPorts(svc: ObjectLike, pod: ObjectLike): SlicePort[] {
  const out: SlicePort[] = [];
  const ports = (svc.spec?.ports as any[] | undefined) ?? [];
  for (const sp of ports) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    const p: SlicePort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
    if (sp.appProtocol !== undefined) p.appProtocol = sp.appProtocol;
    out.push(p);
  }
  return out;
}

/**
 * upstream podToEndpoint: serving follows the pod's Ready condition,
 * terminating its deletion timestamp, and ready is serving and not
 * terminating — or always, when the Service publishes not-ready addresses.
 */
export function podToEndpoint(pod: ObjectLike, node: ObjectLike | undefined, svc: ObjectLike, addressType: string): SliceEndpoint {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata?.deletionTimestamp;
  const ready = !!svc.spec?.publishNotReadyAddresses || (serving && !terminating);
  const ep: SliceEndpoint = {
    addresses: podIPs(pod).filter((ip) => (addressType === 'IPv6') === ip.includes(':')),
    conditions: { ready, serving, terminating },
  };
  if (shouldSetHostname(pod, svc)) ep.hostname = pod.spec.hostname;
  ep.targetRef = { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid };
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  const zone = node?.metadata?.labels?.[ZONE_LABEL];
  if (zone) ep.zone = zone;
  return ep;
}

/** upstream placeholderSliceCompare: same namespace, labels, address type, and no endpoints or ports. */
function isSamePlaceholder(existing: EndpointSlice, placeholder: EndpointSlice): boolean {
  return (
    existing.metadata?.namespace === placeholder.metadata?.namespace &&
    deepEqual(existing.metadata?.labels ?? {}, placeholder.metadata?.labels ?? {}) &&
    existing.addressType === placeholder.addressType &&
    (existing.endpoints ?? []).length === 0 &&
    (existing.ports ?? []).length === 0
  );
}

const DELETION_EXPECTED = -1;

/**
 * upstream EndpointSliceTracker: the generation of every slice this
 * controller last wrote (or -1 for one it deleted), per Service, so that a
 * sync can tell a cache lagging behind its own writes from a change made by
 * someone else.
 */
export class EndpointSliceTracker {
  private readonly byService = new Map<string, Map<string, number>>();
  private readonly serviceUids = new Map<string, string>();

  private static serviceKey(slice: ObjectLike): string {
    return `${slice.metadata?.namespace}/${slice.metadata?.labels?.[LABEL_SERVICE_NAME] ?? ''}`;
  }

  /** True if a generation is tracked for the slice. */
  has(slice: ObjectLike): boolean {
    return this.byService.get(EndpointSliceTracker.serviceKey(slice))?.has(slice.metadata?.uid) ?? false;
  }

  /** True if the slice is untracked or newer than what this controller wrote. */
  shouldSync(slice: ObjectLike): boolean {
    const g = this.byService.get(EndpointSliceTracker.serviceKey(slice))?.get(slice.metadata?.uid);
    return g === undefined || (slice.metadata?.generation ?? 0) > g;
  }

  /**
   * True if the cached slices lag behind this controller's writes: one is
   * older than written, one expected deleted is still there, or one written
   * is missing. A re-created Service (new uid) forgets the old writes.
   */
  staleSlices(svc: ObjectLike, slices: readonly ObjectLike[]): boolean {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const uid = svc.metadata?.uid ?? '';
    const tracked = this.serviceUids.get(key);
    if (tracked && uid && tracked !== uid) this.byService.delete(key);
    this.serviceUids.set(key, uid);
    const gens = this.byService.get(key);
    if (!gens) return false;
    const provided = new Set<string>();
    for (const s of slices) {
      provided.add(s.metadata?.uid);
      const g = gens.get(s.metadata?.uid);
      if (g !== undefined && (g === DELETION_EXPECTED || g > (s.metadata?.generation ?? 0))) return true;
    }
    for (const [sliceUid, g] of gens) if (g !== DELETION_EXPECTED && !provided.has(sliceUid)) return true;
    return false;
  }

  /** Records a slice as written. */
  update(slice: ObjectLike): void {
    const key = EndpointSliceTracker.serviceKey(slice);
    let gens = this.byService.get(key);
    if (!gens) this.byService.set(key, (gens = new Map()));
    gens.set(slice.metadata?.uid, slice.metadata?.generation ?? 0);
  }

  /** Records a slice as deleted by this controller. */
  expectDeletion(slice: ObjectLike): void {
    const key = EndpointSliceTracker.serviceKey(slice);
    let gens = this.byService.get(key);
    if (!gens) this.byService.set(key, (gens = new Map()));
    gens.set(slice.metadata?.uid, DELETION_EXPECTED);
  }

  /** Forgets a deleted slice; false if its deletion was not this controller's doing. */
  handleDeletion(slice: ObjectLike): boolean {
    const gens = this.byService.get(EndpointSliceTracker.serviceKey(slice));
    if (!gens) return true;
    const g = gens.get(slice.metadata?.uid);
    gens.delete(slice.metadata?.uid);
    return g === undefined || g === DELETION_EXPECTED;
  }

  /** Forgets a deleted Service. */
  deleteService(namespace: string, name: string): void {
    this.byService.delete(`${namespace}/${name}`);
    this.serviceUids.delete(`${namespace}/${name}`);
  }
}

/** Configuration of the EndpointSlice controller. */
export interface EndpointSliceControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `endpoint-slice-controller`. */
  events: EventRecorder;
  /** upstream --max-endpoints-per-slice (default 100). */
  maxEndpointsPerSlice?: number;
  /** upstream --concurrent-service-endpoint-syncs (default 5). */
  workers?: number;
  /** upstream --endpointslice-updates-batch-period: delay of syncs caused by pod changes (default 0). */
  batchPeriodMs?: number;
}

/** Keeps the EndpointSlices of every selector-based Service current. */
export class EndpointSliceController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly maxPerSlice: number;
  private readonly batchPeriodMs: number;
  private readonly queue: WorkQueue;
  private readonly services: Informer;
  private readonly pods: Informer;
  private readonly nodes: Informer;
  private readonly slices: Informer<EndpointSlice>;
  private readonly tracker = new EndpointSliceTracker();
  private readonly triggerTimes = new TriggerTimeTracker();
  private stopped = false;

  constructor(config: EndpointSliceControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.maxPerSlice = config.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE;
    this.batchPeriodMs = config.batchPeriodMs ?? 0;
    // upstream: a 1 s base back-off (not 5 ms), so a failing Service does not hammer the API server.
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5, backoff: { baseMs: 1000, maxMs: 1000_000 } });
    this.services = config.informers.informer(R.services);
    this.pods = config.informers.informer(R.pods);
    this.nodes = config.informers.informer(R.nodes);
    this.slices = config.informers.informer<EndpointSlice>(ENDPOINT_SLICES);
  }

  /** Registers handlers and returns once the caches are filled. */
  async start(): Promise<void> {
    this.services.addHandlers({
      onAdd: (s) => this.add(objectKey(s)),
      onUpdate: (_o, s) => this.add(objectKey(s)),
      onDelete: (s) => this.add(objectKey(s)),
    });
    this.pods.addHandlers({
      onAdd: (p) => this.addPod(p),
      onUpdate: (old, p) => {
        for (const key of servicesToUpdateOnPodChange(this.services, old, p)) this.addBatched(key);
      },
      onDelete: (p) => this.addPod(p),
    });
    this.slices.addHandlers({
      onAdd: (s) => {
        if (managedByUs(s) && this.tracker.shouldSync(s)) this.queueForSlice(s);
      },
      onUpdate: (old, s) => {
        // The service-name label can be changed by users (it does not move the generation).
        if (old.metadata?.labels?.[LABEL_SERVICE_NAME] !== s.metadata?.labels?.[LABEL_SERVICE_NAME]) {
          this.queueForSlice(s);
          this.queueForSlice(old);
          return;
        }
        if (managedByUs(old) !== managedByUs(s) || (managedByUs(s) && this.tracker.shouldSync(s))) this.queueForSlice(s);
      },
      onDelete: (s) => {
        if (managedByUs(s) && this.tracker.has(s) && !this.tracker.handleDeletion(s)) this.queueForSlice(s);
      },
    });
    await Promise.all([this.services.start(), this.pods.start(), this.nodes.start(), this.slices.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's to stop). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when no sync is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private add(key: string): void {
    if (!this.stopped) this.queue.add(key);
  }

  private addBatched(key: string): void {
    if (this.batchPeriodMs > 0) this.queue.addAfter(key, this.batchPeriodMs);
    else this.add(key);
  }

  private addPod(pod: ObjectLike): void {
    for (const key of podServiceMemberships(this.services, pod)) this.addBatched(key);
  }

  /** upstream queueServiceForEndpointSlice: the slice's Service, after the minimum sync delay. */
  private queueForSlice(slice: ObjectLike): void {
    const name = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
    if (!name || this.stopped) return;
    this.queue.addAfter(`${slice.metadata?.namespace}/${name}`, Math.max(SLICE_CHANGE_SYNC_DELAY_MS, this.batchPeriodMs));
  }

  /** upstream syncService: converges the slices of one Service (`namespace/name`). */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    if (!svc) {
      this.triggerTimes.delete(namespace, name);
      this.tracker.deleteService(namespace, name);
      return;
    }
    if (svc.spec?.type === 'ExternalName') return;
    const selector = serviceSelector(svc);
    if (!selector) return;
    const sel = selectorFromSet(selector);
    const pods = this.pods.list(namespace, (p) => sel.matches(p.metadata?.labels ?? {}));
    const slices = this.slices.list(
      namespace,
      (s) => s.metadata?.labels?.[LABEL_SERVICE_NAME] === name && s.metadata?.labels?.[LABEL_MANAGED_BY] === CONTROLLER_NAME && !s.metadata?.deletionTimestamp,
    );
    if (this.tracker.staleSlices(svc, slices)) {
      this.queue.addAfter(key, STALE_RETRY_MS);
      return;
    }
    const trigger = this.triggerTimes.compute(svc, pods);
    try {
      await this.reconcileService(svc, pods, slices, trigger);
    } catch (e) {
      void this.events.event(
        { apiVersion: 'v1', kind: 'Service', metadata: svc.metadata },
        'Warning',
        'FailedToUpdateEndpointSlices',
        `Error updating Endpoint Slices for Service ${namespace}/${name}: ${(e as Error).message}`,
      );
      throw e;
    }
  }

  /** upstream Reconciler.Reconcile: per supported address type; slices of other types go. */
  private async reconcileService(svc: ObjectLike, pods: ObjectLike[], existing: EndpointSlice[], trigger: number): Promise<void> {
    const types = addressTypesForService(svc);
    const toDelete: EndpointSlice[] = [];
    const byType = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      if (!types.has(s.addressType)) {
        toDelete.push(s);
        continue;
      }
      byType.set(s.addressType, [...(byType.get(s.addressType) ?? []), s]);
    }
    const errs: unknown[] = [];
    for (const t of types) {
      try {
        await this.reconcileByAddressType(svc, pods, byType.get(t) ?? [], trigger, t);
      } catch (e) {
        errs.push(e);
      }
    }
    for (const s of toDelete) {
      try {
        await this.deleteSlice(s);
      } catch (e) {
        errs.push(new Error(`error deleting ${s.metadata?.name} EndpointSlice for Service ${svc.metadata?.namespace}/${svc.metadata?.name}: ${(e as Error).message}`));
      }
    }
    const err = aggregate(errs);
    if (err) throw err;
  }

  private async deleteSlice(slice: EndpointSlice): Promise<void> {
    try {
      await this.client.delete(ENDPOINT_SLICES, slice.metadata?.namespace, slice.metadata?.name);
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
    this.tracker.expectDeletion(slice);
  }

  /** upstream reconcileByAddressType: desired endpoints per port group, compared with the existing slices. */
  private async reconcileByAddressType(svc: ObjectLike, pods: ObjectLike[], existing: EndpointSlice[], trigger: number, addressType: string): Promise<void> {
    const errs: unknown[] = [];
    const toCreate: EndpointSlice[] = [];
    const toUpdate: EndpointSlice[] = [];
    let toDelete: EndpointSlice[] = [];
    const existingByPorts = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      if (ownedBy(s, svc)) {
        const k = portMapKey(s.ports);
        existingByPorts.set(k, [...(existingByPorts.get(k) ?? []), s]);
      } else {
        toDelete.push(s);
      }
    }
    const desiredMeta = new Map<string, EndpointMeta>();
    const desired = new Map<string, EndpointSet>();
    for (const pod of pods) {
      if (!shouldPodBeInEndpoints(pod, true)) continue;
      const ports = endpointPorts(svc, pod);
      const k = portMapKey(ports);
      if (!desired.has(k)) desired.set(k, new EndpointSet());
      if (!desiredMeta.has(k)) desiredMeta.set(k, { addressType, ports });
      const node = this.nodes.get('', pod.spec?.nodeName ?? '');
      if (!node && !svc.spec?.publishNotReadyAddresses) {
        // upstream: leave the pod out and try again later rather than keep a slice stuck on a vanished node.
        errs.push(new Error(`skipping Pod ${pod.metadata?.name} for Service ${svc.metadata?.namespace}/${svc.metadata?.name}: Node ${pod.spec?.nodeName ?? ''} Not Found`));
        continue;
      }
      const ep = podToEndpoint(pod, node, svc, addressType);
      if (ep.addresses.length > 0) desired.get(k)!.insert(ep);
    }
    for (const [k, set] of desired) {
      const r = this.reconcileByPortMapping(svc, existingByPorts.get(k) ?? [], set, desiredMeta.get(k)!);
      toCreate.push(...r.toCreate);
      toUpdate.push(...r.toUpdate);
      toDelete.push(...r.toDelete);
    }
    for (const [k, slices] of existingByPorts) if (!desired.has(k)) toDelete.push(...slices);
    // A Service with no endpoints keeps one empty placeholder slice.
    if (existing.length === toDelete.length && toCreate.length < 1) {
      const placeholder = newEndpointSlice(svc, { ports: [], addressType });
      if (toDelete.length === 1 && isSamePlaceholder(toDelete[0]!, placeholder)) toDelete = [];
      else toCreate.push(placeholder);
    }
    try {
      await this.finalize(svc, toCreate, toUpdate, toDelete, trigger);
    } catch (e) {
      errs.push(e);
    }
    const err = aggregate(errs);
    if (err) throw err;
  }

  /**
   * upstream reconcileByPortMapping: (1) drop unwanted endpoints from existing
   * slices and refresh changed ones, (2) fill the slices being updated
   * (fullest first), (3) put the rest into one unchanged slice with room for
   * all of them, or into new slices.
   */
  private reconcileByPortMapping(
    svc: ObjectLike,
    existing: EndpointSlice[],
    desired: EndpointSet,
    meta: EndpointMeta,
  ): { toCreate: EndpointSlice[]; toUpdate: EndpointSlice[]; toDelete: EndpointSlice[] } {
    const byName = new Map<string, EndpointSlice>();
    const unchanged = new Set<string>();
    const toUpdateNames = new Set<string>();
    const toDeleteNames = new Set<string>();
    for (const s of existing) {
      const name: string = s.metadata?.name;
      byName.set(name, s);
      const kept: SliceEndpoint[] = [];
      let updated = false;
      for (const ep of s.endpoints ?? []) {
        const want = desired.get(ep);
        if (!want) continue;
        kept.push(want);
        if (!endpointsEqualBeyondHash(want, ep)) updated = true;
        desired.delete(ep);
      }
      const { labels, changed } = endpointSliceLabels(s, svc);
      if (updated || (s.endpoints ?? []).length !== kept.length) {
        if (kept.length === 0) toDeleteNames.add(name);
        else {
          byName.set(name, { ...structuredClone(s), endpoints: kept, metadata: { ...structuredClone(s.metadata), labels } });
          toUpdateNames.add(name);
        }
      } else if (changed) {
        byName.set(name, { ...structuredClone(s), metadata: { ...structuredClone(s.metadata), labels } });
        toUpdateNames.add(name);
      } else {
        unchanged.add(name);
      }
    }
    if (desired.size > 0 && toUpdateNames.size > 0) {
      const fill = [...toUpdateNames].map((n) => byName.get(n)!).sort((a, b) => (b.endpoints?.length ?? 0) - (a.endpoints?.length ?? 0));
      for (const s of fill) {
        while (desired.size > 0 && (s.endpoints ??= []).length < this.maxPerSlice) s.endpoints.push(desired.pop()!);
      }
    }
    const toCreate: EndpointSlice[] = [];
    while (desired.size > 0) {
      let target: EndpointSlice | undefined;
      if (desired.size < this.maxPerSlice && unchanged.size > 0) {
        target = sliceToFill([...unchanged].map((n) => byName.get(n)!), desired.size, this.maxPerSlice);
      }
      if (!target) target = newEndpointSlice(svc, meta);
      else {
        target = structuredClone(target);
        byName.set(target.metadata.name, target);
      }
      target.endpoints ??= [];
      while (desired.size > 0 && target.endpoints.length < this.maxPerSlice) target.endpoints.push(desired.pop()!);
      if (target.metadata?.name) {
        toUpdateNames.add(target.metadata.name);
        unchanged.delete(target.metadata.name);
      } else {
        toCreate.push(target);
      }
    }
    return {
      toCreate,
      toUpdate: [...toUpdateNames].map((n) => byName.get(n)!),
      toDelete: [...toDeleteNames].map((n) => byName.get(n)!),
    };
  }

  /** upstream finalize: creates become updates of slices that would be deleted; then create, update, delete. */
  private async finalize(svc: ObjectLike, toCreate: EndpointSlice[], toUpdate: EndpointSlice[], toDelete: EndpointSlice[], trigger: number): Promise<void> {
    const ns: string = svc.metadata?.namespace;
    const name: string = svc.metadata?.name;
    for (let i = 0; i < toDelete.length; ) {
      if (toCreate.length === 0) break;
      const del = toDelete[i]!;
      const s = toCreate[toCreate.length - 1]!;
      // Only slices of this Service (not one being garbage collected for an old Service of the same name) are reused.
      if (del.addressType === s.addressType && ownedBy(del, svc)) {
        s.metadata.name = del.metadata.name;
        delete s.metadata.generateName;
        // Kite requires a resourceVersion on update (upstream allows an unconditional one here).
        s.metadata.resourceVersion = del.metadata.resourceVersion;
        toCreate.pop();
        toUpdate.push(s);
        toDelete.splice(i, 1);
      } else {
        i++;
      }
    }
    // No new slices for a Service being deleted: the garbage collector would race with them.
    if (!svc.metadata?.deletionTimestamp) {
      for (const s of toCreate) {
        s.metadata.annotations = withTriggerTime(s.metadata.annotations, trigger);
        let created: EndpointSlice;
        try {
          created = await this.client.create<EndpointSlice>(ENDPOINT_SLICES, ns, s);
        } catch (e) {
          if (isNamespaceTerminating(e)) return;
          throw new Error(`failed to create EndpointSlice for Service ${ns}/${name}: ${(e as Error).message}`);
        }
        this.tracker.update(created);
      }
    }
    for (const s of toUpdate) {
      s.metadata.annotations = withTriggerTime(s.metadata.annotations, trigger);
      let updated: EndpointSlice;
      try {
        updated = await this.client.update<EndpointSlice>(ENDPOINT_SLICES, ns, s);
      } catch (e) {
        throw new Error(`failed to update ${s.metadata.name} EndpointSlice for Service ${ns}/${name}: ${(e as Error).message}`);
      }
      this.tracker.update(updated);
    }
    for (const s of toDelete) {
      try {
        await this.deleteSlice(s);
      } catch (e) {
        throw new Error(`failed to delete ${s.metadata?.name} EndpointSlice for Service ${ns}/${name}: ${(e as Error).message}`);
      }
    }
  }
}

/** upstream ManagedByController. */
function managedByUs(slice: ObjectLike): boolean {
  return slice.metadata?.labels?.[LABEL_MANAGED_BY] === CONTROLLER_NAME;
}

/** upstream getSliceToFill: the slice that comes closest to full with `n` more endpoints, if any fits them all. */
function sliceToFill(slices: EndpointSlice[], n: number, max: number): EndpointSlice | undefined {
  let closest = max;
  let best: EndpointSlice | undefined;
  for (const s of slices) {
    const diff = max - (n + (s.endpoints?.length ?? 0));
    if (diff >= 0 && diff < closest) {
      closest = diff;
      best = s;
      if (closest === 0) return best;
    }
  }
  return best;
}
