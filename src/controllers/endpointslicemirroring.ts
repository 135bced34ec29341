/**
 * The EndpointSlice mirroring controller (upstream
 * pkg/controller/endpointslicemirroring): Endpoints written by hand for a
 * Service without a selector are mirrored into EndpointSlices (managed by
 * `endpointslicemirroring-controller.k8s.io`, owned by the Endpoints), so
 * that everything reading slices — the service proxy, cluster DNS — sees
 * them. Each subset becomes one slice per address type (at most 1000
 * addresses each); addresses are ready, notReadyAddresses not. Endpoints
 * labelled `endpointslice.kubernetes.io/skip-mirror: "true"` (the API
 * server's `kubernetes`, the nodes' `kube-dns`), leader-election locks, and
 * Endpoints of Services with a selector are not mirrored.
 */
import { isIP, isIPv6 } from 'node:net';
import { R, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { deepEqual } from '../util/json.js';
import { newControllerRef, type ObjectLike } from './controllerutil.js';
import {
  EndpointSet,
  EndpointSliceTracker,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  endpointsEqualBeyondHash,
  portMapKey,
  slicePrefix,
  type EndpointSlice,
  type SliceEndpoint,
  type SlicePort,
} from './endpointslice.js';
import { ENDPOINT_SLICES, LAST_CHANGE_TRIGGER_TIME, aggregate, isNamespaceTerminating, serviceSelector } from './endpointsutil.js';

/** upstream ControllerName: the managed-by value of mirrored slices. */
export const MIRRORING_CONTROLLER_NAME = 'endpointslicemirroring-controller.k8s.io';
/** upstream discovery.LabelSkipMirror. */
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
/** upstream --mirroring-max-endpoints-per-subset default. */
export const MAX_ENDPOINTS_PER_SUBSET = 1000;
const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** See endpointslice.ts: a cache behind our own writes is looked at again within milliseconds. */
const STALE_RETRY_MS = 20;

/** upstream shouldMirror: not a skip-mirror Endpoints, not a leader-election lock. */
function shouldMirror(ep: ObjectLike | undefined): boolean {
  return !!ep && ep.metadata?.labels?.[SKIP_MIRROR_LABEL] !== 'true' && ep.metadata?.annotations?.[LEADER_ANNOTATION] === undefined;
}

function managedByUs(slice: ObjectLike): boolean {
  return slice.metadata?.labels?.[LABEL_MANAGED_BY] === MIRRORING_CONTROLLER_NAME;
}

/** The canonical text of an IP (upstream re-stringifies a parsed IP); undefined when it is none. */
function canonicalIp(ip: string): string | undefined {
  if (!isIP(ip)) return undefined;
  if (!isIPv6(ip)) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** upstream addressToEndpoint. */
function addressToEndpoint(addr: any, ready: boolean): { endpoint: SliceEndpoint; addressType: string } | undefined {
  const ip = canonicalIp(String(addr?.ip ?? ''));
  if (!ip) return undefined;
  const endpoint: SliceEndpoint = { addresses: [ip], conditions: { ready } };
  if (addr.hostname) endpoint.hostname = addr.hostname;
  if (addr.targetRef) endpoint.targetRef = addr.targetRef;
  if (addr.nodeName !== undefined) endpoint.nodeName = addr.nodeName;
  return { endpoint, addressType: isIPv6(ip) ? 'IPv6' : 'IPv4' };
}

/** upstream newEndpointSlice (mirroring): the Endpoints' labels and annotations, owned by the Endpoints. */
function newMirroredSlice(ep: ObjectLike, ports: SlicePort[], addressType: string, name?: string): EndpointSlice {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries((ep.metadata?.annotations ?? {}) as Record<string, string>)) {
    if (k !== LAST_CHANGE_TRIGGER_TIME && k !== LAST_APPLIED) annotations[k] = v;
  }
  const metadata: any = {
    namespace: ep.metadata?.namespace,
    labels: { ...(ep.metadata?.labels ?? {}), [LABEL_SERVICE_NAME]: ep.metadata?.name, [LABEL_MANAGED_BY]: MIRRORING_CONTROLLER_NAME },
    ownerReferences: [newControllerRef(ep, 'v1', 'Endpoints')],
  };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  if (name) metadata.name = name;
  else metadata.generateName = slicePrefix(ep.metadata?.name);
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType, endpoints: [], ports };
}

/** Configuration of the mirroring controller. */
export interface EndpointSliceMirroringControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `endpoint-slice-mirroring-controller`. */
  events: EventRecorder;
  /** upstream --mirroring-concurrent-service-endpoint-syncs (default 5). */
  workers?: number;
}

/** Mirrors hand-written Endpoints of selectorless Services into EndpointSlices. */
export class EndpointSliceMirroringController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly queue: WorkQueue;
  private readonly endpoints: Informer;
  private readonly services: Informer;
  private readonly slices: Informer<EndpointSlice>;
  private readonly tracker = new EndpointSliceTracker();
  private stopped = false;

  constructor(config: EndpointSliceMirroringControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5, backoff: { baseMs: 1000, maxMs: 1000_000 } });
    this.endpoints = config.informers.informer(R.endpoints);
    this.services = config.informers.informer(R.services);
    this.slices = config.informers.informer<EndpointSlice>(ENDPOINT_SLICES);
  }

  /** Registers handlers and returns once the caches are filled. */
  async start(): Promise<void> {
    const noSelector = (s: ObjectLike) => !serviceSelector(s);
    this.services.addHandlers({
      onAdd: (s) => noSelector(s) && this.add(objectKey(s)),
      onUpdate: (o, s) => noSelector(o) !== noSelector(s) && this.add(objectKey(s)),
      onDelete: (s) => noSelector(s) && this.add(objectKey(s)),
    });
    this.endpoints.addHandlers({
      onAdd: (ep) => shouldMirror(ep) && this.add(objectKey(ep)),
      onUpdate: (o, ep) => (shouldMirror(o) || shouldMirror(ep)) && this.add(objectKey(ep)),
      onDelete: (ep) => shouldMirror(ep) && this.add(objectKey(ep)),
    });
    this.slices.addHandlers({
      onAdd: (s) => managedByUs(s) && this.tracker.shouldSync(s) && this.queueForSlice(s),
      onUpdate: (o, s) => {
        if (o.metadata?.labels?.[LABEL_SERVICE_NAME] !== s.metadata?.labels?.[LABEL_SERVICE_NAME]) {
          this.queueForSlice(s);
          this.queueForSlice(o);
        } else if (managedByUs(o) !== managedByUs(s) || (managedByUs(s) && this.tracker.shouldSync(s))) this.queueForSlice(s);
      },
      onDelete: (s) => managedByUs(s) && this.tracker.has(s) && !this.tracker.handleDeletion(s) && this.queueForSlice(s),
    });
    await Promise.all([this.endpoints.start(), this.services.start(), this.slices.start()]);
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

  private queueForSlice(slice: ObjectLike): void {
    const name = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
    if (name) this.add(`${slice.metadata?.namespace}/${name}`);
  }

  private mirrored(namespace: string, name: string): EndpointSlice[] {
    return this.slices.list(namespace, (s) => s.metadata?.labels?.[LABEL_SERVICE_NAME] === name && managedByUs(s));
  }

  /** upstream syncEndpoints: mirror one Endpoints (`namespace/name`), or remove what was mirrored for it. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ep = this.endpoints.get(namespace, name);
    const svc = this.services.get(namespace, name);
    if (!shouldMirror(ep) || !svc || serviceSelector(svc)) {
      this.tracker.deleteService(namespace, name);
      const errs: unknown[] = [];
      for (const s of this.mirrored(namespace, name)) {
        await this.client.delete(ENDPOINT_SLICES, namespace, s.metadata.name).catch((e) => errs.push(e));
      }
      if (errs.length) throw new Error(`Error(s) deleting ${errs.length} EndpointSlices for ${namespace}/${name} Endpoints, including: ${(errs[0] as Error).message}`);
      return;
    }
    const existing = this.mirrored(namespace, name);
    if (this.tracker.staleSlices(svc, existing)) {
      this.queue.addAfter(key, STALE_RETRY_MS);
      return;
    }
    await this.mirror(ep!, existing);
  }

  /** upstream reconciler.reconcile: desired endpoints per address type and port set, then one slice each. */
  private async mirror(ep: ObjectLike, existing: EndpointSlice[]): Promise<void> {
    const desired = new Map<string, { ports: SlicePort[]; addressType: string; set: EndpointSet }>();
    let invalid = 0;
    let skipped = 0;
    for (const subset of ((ep as any).subsets ?? []) as any[]) {
      const ports: SlicePort[] = ((subset?.ports ?? []) as any[]).map((p) => {
        const out: SlicePort = { name: p?.name ?? '', port: p?.port, protocol: p?.protocol ?? 'TCP' };
        if (p?.appProtocol !== undefined) out.appProtocol = p.appProtocol;
        return out;
      });
      for (const addressType of ['IPv4', 'IPv6']) {
        const k = `${addressType}|${portMapKey(ports)}`;
        if (!desired.has(k)) desired.set(k, { ports, addressType, set: new EndpointSet() });
      }
      const all = [...((subset?.addresses ?? []) as any[]).map((a) => [a, true] as const), ...((subset?.notReadyAddresses ?? []) as any[]).map((a) => [a, false] as const)];
      let added = 0;
      for (const [addr, ready] of all) {
        // A subset maps onto one slice: at most MAX_ENDPOINTS_PER_SUBSET of its addresses are mirrored.
        if (added >= MAX_ENDPOINTS_PER_SUBSET) break;
        const converted = addressToEndpoint(addr, ready);
        if (!converted) {
          invalid++;
          continue;
        }
        desired.get(`${converted.addressType}|${portMapKey(ports)}`)!.set.insert(converted.endpoint);
        added++;
      }
      skipped += all.length - added;
    }
    const subject = { apiVersion: 'v1', kind: 'Endpoints', metadata: ep.metadata };
    if (invalid > 0) void this.events.event(subject, 'Warning', 'InvalidIPAddress', `Skipped ${invalid} invalid IP addresses when mirroring to EndpointSlices`);
    if (skipped > invalid) {
      void this.events.event(
        subject,
        'Warning',
        'TooManyAddressesToMirror',
        `A max of ${MAX_ENDPOINTS_PER_SUBSET} addresses can be mirrored to EndpointSlices per Endpoints subset. ${skipped} addresses were skipped`,
      );
    }
    const existingByKey = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      const k = `${s.addressType}|${portMapKey(s.ports)}`;
      existingByKey.set(k, [...(existingByKey.get(k) ?? []), s]);
    }
    const toCreate: EndpointSlice[] = [];
    const toUpdate: EndpointSlice[] = [];
    const toDelete: EndpointSlice[] = [];
    for (const [k, want] of desired) {
      const have = existingByKey.get(k) ?? [];
      // upstream reconcileByPortMapping: nothing wanted removes the slices; else one slice, the first kept.
      if (want.set.size === 0) {
        toDelete.push(...have);
        continue;
      }
      toDelete.push(...have.slice(1));
      const fresh = newMirroredSlice(ep, want.ports, want.addressType, have[0]?.metadata?.name);
      if (have[0] && this.unchanged(have[0], want.set, fresh)) continue;
      while (want.set.size > 0 && fresh.endpoints!.length < MAX_ENDPOINTS_PER_SUBSET) fresh.endpoints!.push(want.set.pop()!);
      if (have[0]) {
        fresh.metadata.resourceVersion = have[0].metadata.resourceVersion;
        toUpdate.push(fresh);
      } else toCreate.push(fresh);
    }
    for (const [k, have] of existingByKey) if (!desired.has(k)) toDelete.push(...have);
    // upstream recycleSlices: a slice to create reuses one of the same address type that would be deleted.
    for (const c of [...toCreate]) {
      const i = toDelete.findIndex((d) => d.addressType === c.addressType);
      if (i < 0) continue;
      const d = toDelete.splice(i, 1)[0]!;
      toCreate.splice(toCreate.indexOf(c), 1);
      c.metadata.name = d.metadata.name;
      c.metadata.resourceVersion = d.metadata.resourceVersion;
      delete c.metadata.generateName;
      toUpdate.push(c);
    }
    await this.finalize(ep, toCreate, toUpdate, toDelete);
  }

  /** The first existing slice already holds exactly the desired endpoints, labels and annotations. */
  private unchanged(slice: EndpointSlice, want: EndpointSet, fresh: EndpointSlice): boolean {
    if ((slice.endpoints ?? []).length !== want.size) return false;
    for (const e of slice.endpoints ?? []) {
      const w = want.get(e);
      if (!w || !endpointsEqualBeyondHash(w, e)) return false;
    }
    return deepEqual(slice.metadata?.labels ?? {}, fresh.metadata.labels ?? {}) && deepEqual(slice.metadata?.annotations ?? {}, fresh.metadata.annotations ?? {});
  }

  private async finalize(ep: ObjectLike, toCreate: EndpointSlice[], toUpdate: EndpointSlice[], toDelete: EndpointSlice[]): Promise<void> {
    const ns: string = ep.metadata?.namespace;
    const name: string = ep.metadata?.name;
    if (!ep.metadata?.deletionTimestamp) {
      for (const s of toCreate) {
        try {
          this.tracker.update(await this.client.create<EndpointSlice>(ENDPOINT_SLICES, ns, s));
        } catch (e) {
          if (isNamespaceTerminating(e)) return;
          throw new Error(`failed to create EndpointSlice for Endpoints ${ns}/${name}: ${(e as Error).message}`);
        }
      }
    }
    for (const s of toUpdate) {
      try {
        this.tracker.update(await this.client.update<EndpointSlice>(ENDPOINT_SLICES, ns, s));
      } catch (e) {
        throw new Error(`failed to update ${s.metadata.name} EndpointSlice for Endpoints ${ns}/${name}: ${(e as Error).message}`);
      }
    }
    const errs: unknown[] = [];
    for (const s of toDelete) {
      try {
        await this.client.delete(ENDPOINT_SLICES, ns, s.metadata.name);
        this.tracker.expectDeletion(s);
      } catch (e) {
        errs.push(new Error(`failed to delete ${s.metadata.name} EndpointSlice for Endpoints ${ns}/${name}: ${(e as Error).message}`));
      }
    }
    const err = aggregate(errs);
    if (err) throw err;
  }
}
