/**
 * The Endpoints controller (upstream pkg/controller/endpoint): for every
 * Service with a selector, keeps the core/v1 Endpoints object of the same
 * name listing the matching pods — ready ones under `addresses`, others
 * under `notReadyAddresses` (all as ready with publishNotReadyAddresses),
 * with the ports their targetPorts resolve to — repacked into upstream's
 * canonical subsets, labelled like the Service, truncated at 1000 addresses
 * with the over-capacity annotation. The Endpoints of a deleted Service are
 * deleted; on start, Endpoints without a Service are cleaned up.
 */
import { createHash } from 'node:crypto';
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromSet } from '../api/labels.js';
import { deepEqual } from '../util/json.js';
import { isPodReady, type ObjectLike } from './controllerutil.js';
import {
  HEADLESS_LABEL,
  TriggerTimeTracker,
  findPort,
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

/** upstream maxCapacity: the most addresses one Endpoints object holds. */
export const MAX_ENDPOINTS_CAPACITY = 1000;
/** upstream v1.EndpointsOverCapacity, set to `truncated` when addresses were dropped. */
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
/** upstream resourcelock.LeaderElectionRecordAnnotationKey: Endpoints used as locks have no Service. */
const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';

/** A core/v1 EndpointAddress. */
export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string; resourceVersion?: string };
}

/** A core/v1 EndpointPort. */
export interface EndpointPort {
  name?: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
}

/** A core/v1 EndpointSubset. */
export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** upstream hashing for ordering: md5 over a canonical form (Go hashes its deep-print; Kite hashes key-sorted JSON). */
function md5(v: unknown): string {
  return createHash('md5').update(stableJson(v)).digest('hex');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as any)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** upstream LessEndpointAddress: by IP (bytewise), then target uid (none first). */
function lessAddress(a: EndpointAddress, b: EndpointAddress): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  const ua = a.targetRef?.uid;
  const ub = b.targetRef?.uid;
  if (ub === undefined) return ua === undefined ? 0 : 1;
  if (ua === undefined) return -1;
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

function portKey(p: EndpointPort): string {
  return JSON.stringify([p.name ?? '', p.port, p.protocol ?? '', p.appProtocol ?? null]);
}

/** upstream SortSubsets: addresses by IP and uid, ports and subsets by hash. */
export function sortSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  for (const ss of subsets) {
    ss.addresses?.sort(lessAddress);
    ss.notReadyAddresses?.sort(lessAddress);
    ss.ports?.sort((a, b) => (md5(a) < md5(b) ? -1 : md5(a) > md5(b) ? 1 : 0));
  }
  const keyed = subsets.map((s) => ({ s, h: md5(s) }));
  keyed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
  return keyed.map((k) => k.s);
}

/**
 * upstream RepackSubsets: expands subsets to (address, port) pairs and packs
 * them again so that every subset holds the addresses offering exactly the
 * same ports — one canonical layout, whatever order the input came in. An
 * address listed not-ready for a port stays not-ready; addresses are
 * de-duplicated by IP and target uid; subsets without ports are kept.
 */
export function repackSubsets(subsets: readonly EndpointSubset[]): EndpointSubset[] {
  const allAddrs = new Map<string, EndpointAddress>();
  // port key → (address identity → ready); insertion-ordered.
  const portAddrs = new Map<string, { port: EndpointPort | undefined; addrs: Map<string, boolean> }>();
  const map = (addr: EndpointAddress, port: EndpointPort | undefined, ready: boolean) => {
    const id = JSON.stringify([addr.ip, addr.targetRef?.uid ?? '']);
    if (!allAddrs.has(id)) allAddrs.set(id, structuredClone(addr));
    const pk = port ? portKey(port) : 'sentinel';
    let entry = portAddrs.get(pk);
    if (!entry) portAddrs.set(pk, (entry = { port, addrs: new Map() }));
    // Not ready always wins over ready.
    const was = entry.addrs.get(id);
    if (was === undefined || was) entry.addrs.set(id, ready);
  };
  for (const ss of subsets) {
    const ports = ss.ports?.length ? ss.ports : [undefined];
    for (const port of ports) {
      for (const a of ss.addresses ?? []) map(a, port, true);
      for (const a of ss.notReadyAddresses ?? []) map(a, port, false);
    }
  }
  // Group ports by the exact set of (address, readiness) they are offered on.
  const groups = new Map<string, { addrs: Map<string, boolean>; ports: EndpointPort[] }>();
  for (const { port, addrs } of portAddrs.values()) {
    const key = JSON.stringify([...addrs.entries()].sort((a, b) => lessAddress(allAddrs.get(a[0])!, allAddrs.get(b[0])!)));
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { addrs, ports: [] }));
    if (port) g.ports.push(structuredClone(port));
  }
  const out: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const ready: EndpointAddress[] = [];
    const notReady: EndpointAddress[] = [];
    for (const [id, r] of g.addrs) (r ? ready : notReady).push(structuredClone(allAddrs.get(id)!));
    const ss: EndpointSubset = {};
    if (ready.length) ss.addresses = ready;
    if (notReady.length) ss.notReadyAddresses = notReady;
    if (g.ports.length) ss.ports = g.ports;
    out.push(ss);
  }
  return sortSubsets(out);
}

/**
 * upstream truncateEndpoints: keeps at most 1000 addresses, ready ones
 * first, each subset keeping its proportional share (rounded up). Returns
 * true when something was dropped.
 */
export function truncateSubsets(subsets: EndpointSubset[]): boolean {
  let totalReady = 0;
  let totalNotReady = 0;
  for (const ss of subsets) {
    totalReady += ss.addresses?.length ?? 0;
    totalNotReady += ss.notReadyAddresses?.length ?? 0;
  }
  if (totalReady + totalNotReady <= MAX_ENDPOINTS_CAPACITY) return false;
  const truncateReady = totalReady > MAX_ENDPOINTS_CAPACITY;
  const max = truncateReady ? MAX_ENDPOINTS_CAPACITY : MAX_ENDPOINTS_CAPACITY - totalReady;
  const numTotal = truncateReady ? totalReady : totalNotReady;
  let canBeAdded = max;
  for (const ss of subsets) {
    const inSubset = truncateReady ? (ss.addresses?.length ?? 0) : (ss.notReadyAddresses?.length ?? 0);
    const toBeAdded = Math.min(Math.ceil((inSubset / numTotal) * max), canBeAdded);
    if (truncateReady) {
      ss.addresses = ss.addresses?.slice(0, toBeAdded);
      delete ss.notReadyAddresses;
      canBeAdded -= ss.addresses?.length ?? 0;
    } else {
      ss.notReadyAddresses = ss.notReadyAddresses?.slice(0, toBeAdded);
      canBeAdded -= ss.notReadyAddresses?.length ?? 0;
    }
    if (!ss.addresses?.length) delete ss.addresses;
    if (!ss.notReadyAddresses?.length) delete ss.notReadyAddresses;
  }
  return true;
}

/** upstream podToEndpointAddressForService: the pod's IP of the Service's (first) family, with node and target. */
function podAddress(svc: ObjectLike, pod: ObjectLike): EndpointAddress | undefined {
  let family = 'IPv4';
  const families = (svc.spec?.ipFamilies as string[] | undefined) ?? [];
  if (families.length) family = families[0]!;
  else if (isServiceIPSet(svc)) family = String(svc.spec.clusterIP).includes(':') ? 'IPv6' : 'IPv4';
  else if (String(pod.status?.podIP ?? '').includes(':')) family = 'IPv6';
  const ip = podIPs(pod).find((a) => (family === 'IPv6') === a.includes(':'));
  if (!ip) return undefined;
  return {
    ip,
    nodeName: pod.spec?.nodeName ?? '',
    targetRef: { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid },
  };
}

/** upstream capacityAnnotationSetCorrectly: over capacity, or under it without the annotation. */
function capacityAnnotationCorrect(annotations: Record<string, string> | undefined, subsets: readonly EndpointSubset[]): boolean {
  let n = 0;
  for (const ss of subsets) n += (ss.addresses?.length ?? 0) + (ss.notReadyAddresses?.length ?? 0);
  if (n > MAX_ENDPOINTS_CAPACITY) return false;
  return !annotations?.[OVER_CAPACITY_ANNOTATION];
}

/** Subsets compared without the targets' resourceVersions (upstream endpointSubsetsEqualIgnoreResourceVersion). */
function subsetsEqual(a: readonly EndpointSubset[] | undefined, b: readonly EndpointSubset[] | undefined): boolean {
  const strip = (list: readonly EndpointSubset[] | undefined) =>
    (list ?? []).map((ss) => {
      const addr = (x: EndpointAddress) => (x.targetRef ? { ...x, targetRef: { ...x.targetRef, resourceVersion: undefined } } : x);
      return { addresses: ss.addresses?.map(addr) ?? [], notReadyAddresses: ss.notReadyAddresses?.map(addr) ?? [], ports: ss.ports ?? [] };
    });
  return deepEqual(strip(a), strip(b));
}

/** Configuration of the Endpoints controller. */
export interface EndpointsControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `endpoint-controller`. */
  events: EventRecorder;
  /** upstream --concurrent-endpoint-syncs (default 5). */
  workers?: number;
  /** upstream --endpoint-updates-batch-period: delay of syncs caused by pod changes (default 0). */
  batchPeriodMs?: number;
}

/** Keeps the Endpoints of every selector-based Service current. */
export class EndpointsController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly batchPeriodMs: number;
  private readonly queue: WorkQueue;
  private readonly services: Informer;
  private readonly pods: Informer;
  private readonly endpoints: Informer;
  private readonly triggerTimes = new TriggerTimeTracker();
  /** upstream staleEndpointsTracker: the resourceVersion an Endpoints had before this controller updated it. */
  private readonly staleVersions = new Map<string, string>();
  private stopped = false;

  constructor(config: EndpointsControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.batchPeriodMs = config.batchPeriodMs ?? 0;
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5 });
    this.services = config.informers.informer(R.services);
    this.pods = config.informers.informer(R.pods);
    this.endpoints = config.informers.informer(R.endpoints);
  }

  /** Registers handlers, waits for the caches, then queues every existing Endpoints (leftover clean-up). */
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
    this.endpoints.addHandlers({ onDelete: (ep) => this.add(objectKey(ep)) });
    await Promise.all([this.services.start(), this.pods.start(), this.endpoints.start()]);
    // upstream checkLeftoverEndpoints: Endpoints whose Service went while no controller ran are deleted.
    for (const ep of this.endpoints.list()) {
      if (ep.metadata?.annotations?.[LEADER_ANNOTATION] !== undefined) continue;
      this.add(objectKey(ep));
    }
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

  /** upstream syncService: converges the Endpoints of one Service (`namespace/name`). */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    if (!svc) {
      // The Service is gone: so are its Endpoints.
      try {
        await this.client.delete(R.endpoints, namespace, name);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
      this.triggerTimes.delete(namespace, name);
      this.staleVersions.delete(key);
      return;
    }
    if (svc.spec?.type === 'ExternalName') return;
    const selector = serviceSelector(svc);
    if (!selector) return;
    const sel = selectorFromSet(selector);
    const pods = this.pods.list(namespace, (p) => sel.matches(p.metadata?.labels ?? {}));
    const trigger = this.triggerTimes.compute(svc, pods);
    const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
    const svcPorts = (svc.spec?.ports as any[] | undefined) ?? [];
    let subsets: EndpointSubset[] = [];
    for (const pod of pods) {
      if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
      const addr = podAddress(svc, pod);
      if (!addr) continue;
      if (shouldSetHostname(pod, svc)) addr.hostname = pod.spec.hostname;
      const ready = publishNotReady || isPodReady(pod);
      const subset = (ports: EndpointPort[]): EndpointSubset => (ready ? { addresses: [addr], ports } : { notReadyAddresses: [addr], ports });
      if (svcPorts.length === 0) {
        // Headless Services may have no ports.
        if (svc.spec?.clusterIP === 'None') subsets.push(subset([]));
        continue;
      }
      for (const sp of svcPorts) {
        const port = findPort(pod, sp);
        if (port === undefined) continue;
        const epp: EndpointPort = { port, protocol: sp.protocol ?? 'TCP' };
        if (sp.name) epp.name = sp.name;
        if (sp.appProtocol !== undefined) epp.appProtocol = sp.appProtocol;
        subsets.push(subset([epp]));
      }
    }
    subsets = repackSubsets(subsets);

    let current = this.endpoints.get(namespace, name);
    if (current && this.staleVersions.get(key) === current.metadata?.resourceVersion) {
      // Our last update is not in the cache yet; look again shortly (upstream returns an error and retries).
      this.queue.addAfter(key, 20);
      return;
    }
    const create = !current;
    current ??= { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels: svc.metadata?.labels } };
    const compareLabels = { ...(current.metadata?.labels ?? {}) };
    delete compareLabels[HEADLESS_LABEL];
    if (
      !create &&
      subsetsEqual(current.subsets, subsets) &&
      deepEqual(compareLabels, svc.metadata?.labels ?? {}) &&
      capacityAnnotationCorrect(current.metadata?.annotations, current.subsets ?? [])
    ) {
      return;
    }
    const next: any = { ...structuredClone(current), subsets };
    next.metadata.labels = { ...(svc.metadata?.labels ?? {}) };
    let annotations = withTriggerTime(current.metadata?.annotations, trigger) ?? {};
    if (truncateSubsets(next.subsets)) annotations = { ...annotations, [OVER_CAPACITY_ANNOTATION]: 'truncated' };
    else delete annotations[OVER_CAPACITY_ANNOTATION];
    if (Object.keys(annotations).length) next.metadata.annotations = annotations;
    else delete next.metadata.annotations;
    if (!isServiceIPSet(svc)) next.metadata.labels[HEADLESS_LABEL] = '';
    else delete next.metadata.labels[HEADLESS_LABEL];
    if (next.subsets.length === 0) delete next.subsets;
    try {
      if (create) {
        await this.client.create(R.endpoints, namespace, next);
      } else {
        const updated = await this.client.update<ObjectLike>(R.endpoints, namespace, next);
        if (updated.metadata?.resourceVersion !== current.metadata?.resourceVersion) this.staleVersions.set(key, current.metadata?.resourceVersion);
      }
    } catch (e) {
      // upstream: creations refused because the namespace is going away are dropped.
      if (create && isNamespaceTerminating(e)) return;
      const subject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, uid: current.metadata?.uid } };
      if (create) void this.events.event(subject, 'Warning', 'FailedToCreateEndpoint', `Failed to create endpoint for service ${namespace}/${name}: ${(e as Error).message}`);
      else void this.events.event(subject, 'Warning', 'FailedToUpdateEndpoint', `Failed to update endpoint ${namespace}/${name}: ${(e as Error).message}`);
      throw e;
    }
  }
}
