/**
 * The device manager (upstream pkg/kubelet/cm/devicemanager, in small):
 * whole devices of extended resources such as `nvidia.com/gpu` are given to
 * containers when their pod is admitted, init containers' devices are
 * reused by the containers after them, what each container holds is kept in
 * a checkpoint so a restarted agent gives a pod the same devices, and a
 * device is held by one pod until that pod is done.
 */
import { parseQuantity } from '../../api/quantity.js';
import { isSidecar } from '../status.js';
import { readCheckpoint, writeCheckpoint, type PodDevicesEntry } from './checkpoint.js';

/** Configuration of a DeviceManager. */
export interface DeviceManagerConfig {
  /** Healthy device IDs per resource name (what the node advertises); a resource with none is not managed. */
  devices: Record<string, readonly string[]>;
  /** The checkpoint file; without one, allocations live in memory only. */
  checkpointPath?: string;
  log: (msg: string) => void;
}

/** A pod as the device manager knows it. */
export interface PodRef {
  uid: string;
  namespace: string;
  name: string;
}

/** Devices per resource name. */
export type ResourceDevices = Record<string, string[]>;

/** Whether a pod was admitted, and if not why (upstream lifecycle.PodAdmitResult). */
export type AdmitResult = { admit: true } | { admit: false; reason: string; message: string };

/** One pod's allocation: container name → resource → device IDs. */
interface PodAllocation extends PodRef {
  containers: Map<string, Map<string, string[]>>;
}

/** upstream admission.GetPodAdmitResult for an error that is not an admission error of its own kind. */
const UNEXPECTED_ADMISSION_ERROR = 'UnexpectedAdmissionError';

/**
 * Whole devices a container asks for, per resource: its limits (what
 * upstream's device manager reads; an extended resource's request must equal
 * its limit), else its requests.
 */
function deviceRequests(c: any): Map<string, number> {
  const out = new Map<string, number>();
  const list = { ...(c?.resources?.requests ?? {}), ...(c?.resources?.limits ?? {}) };
  for (const [resource, q] of Object.entries(list)) {
    let n: number;
    try {
      n = Math.ceil(parseQuantity(q as string).milliValue() / 1000);
    } catch {
      continue;
    }
    if (n > 0) out.set(resource, n);
  }
  return out;
}

/** Allocates devices to pods' containers (see the module comment). */
export class DeviceManager {
  private readonly pods = new Map<string, PodAllocation>();
  /** Pods admitted by this run of the agent; the others came from the checkpoint and are kept until re-admitted or gone. */
  private readonly admitted = new Set<string>();

  constructor(private readonly cfg: DeviceManagerConfig) {}

  /** Loads the checkpoint; a corrupt one is reported and allocation starts afresh, as upstream continues after a failed read. */
  start(): void {
    if (!this.cfg.checkpointPath) return;
    let entries: PodDevicesEntry[];
    try {
      entries = readCheckpoint(this.cfg.checkpointPath)?.entries ?? [];
    } catch (e) {
      this.cfg.log(`devices: ${(e as Error).message}; device allocations of running pods may not be up to date`);
      return;
    }
    for (const e of entries) {
      if (!e.deviceIds?.length) continue;
      const pod = this.pods.get(e.podUid) ?? { uid: e.podUid, namespace: e.namespace, name: e.name, containers: new Map() };
      this.pods.set(e.podUid, pod);
      const byResource = pod.containers.get(e.container) ?? new Map<string, string[]>();
      pod.containers.set(e.container, byResource);
      byResource.set(e.resource, [...e.deviceIds]);
    }
  }

  /** Resource names this manager hands out devices of (upstream isDevicePluginResource). */
  resources(): string[] {
    return Object.keys(this.cfg.devices).filter((r) => this.cfg.devices[r]!.length > 0);
  }

  /** Whether any container of a pod asks for a managed resource. */
  wantsDevices(pod: any): boolean {
    const managed = new Set(this.resources());
    return [...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])].some((c) => [...deviceRequests(c).keys()].some((r) => managed.has(r)));
  }

  /** Device IDs of a resource held by any pod. */
  inUse(resource: string): Set<string> {
    const out = new Set<string>();
    for (const pod of this.pods.values()) for (const byResource of pod.containers.values()) for (const id of byResource.get(resource) ?? []) out.add(id);
    return out;
  }

  /**
   * Admits a pod (upstream ManagerImpl.Allocate for its init containers, in
   * order, then its app containers): each container gets the devices it asks
   * for, first from those its pod's regular init containers held (they have
   * finished by the time it runs), then from the free ones. Sidecars and app
   * containers run together, so what they take is not reused. A pod admitted
   * before (a restart) gets the devices it had. If any container cannot be
   * served, the pod gets nothing and is rejected with upstream's
   * UnexpectedAdmissionError message.
   */
  allocate(pod: any): AdmitResult {
    const uid: string = pod.metadata.uid;
    const previous = this.pods.get(uid);
    const alloc: PodAllocation = { uid, namespace: pod.metadata.namespace, name: pod.metadata.name, containers: new Map() };
    const managed = new Set(this.resources());
    const inits: any[] = pod.spec?.initContainers ?? [];
    // upstream devicesToReuse: per resource, the devices of regular init containers not yet taken by a later container.
    const reuse = new Map<string, Set<string>>();
    // Held by other pods, and by this pod's containers allocated so far.
    const held = new Map<string, Set<string>>();
    for (const r of managed) {
      const s = new Set<string>();
      for (const p of this.pods.values()) if (p.uid !== uid) for (const byResource of p.containers.values()) for (const id of byResource.get(r) ?? []) s.add(id);
      held.set(r, s);
    }
    try {
      [...inits, ...(pod.spec?.containers ?? [])].forEach((c: any, i: number) => {
        const regularInit = i < inits.length && !isSidecar(c);
        for (const [resource, required] of deviceRequests(c)) {
          if (!managed.has(resource)) continue;
          const healthy = this.cfg.devices[resource]!;
          const pool = reuse.get(resource) ?? new Set<string>();
          reuse.set(resource, pool);
          let got = previous?.containers.get(c.name)?.get(resource);
          if (got) {
            if (got.length !== required) throw new Error(`pod "${uid}" container "${c.name}" changed request for resource "${resource}" from ${got.length} to ${required}`);
            if (got.some((id) => !healthy.includes(id))) throw new Error(`previously allocated devices are no longer healthy; cannot allocate unhealthy devices ${resource}`);
          } else {
            got = [...pool].sort().slice(0, required);
            const needed = required - got.length;
            if (needed > 0) {
              const taken = held.get(resource)!;
              const available = healthy.filter((id) => !taken.has(id) && !got!.includes(id));
              if (available.length < needed) throw new Error(`requested number of devices unavailable for ${resource}. Requested: ${needed}, Available: ${available.length}`);
              got.push(...available.slice(0, needed));
            }
          }
          for (const id of got) held.get(resource)!.add(id);
          const byResource = alloc.containers.get(c.name) ?? new Map<string, string[]>();
          alloc.containers.set(c.name, byResource);
          byResource.set(resource, got);
          // upstream: a regular init container's devices join the reusable set; what a sidecar or app container took leaves it.
          if (regularInit) for (const id of got) pool.add(id);
          else for (const id of got) pool.delete(id);
        }
      });
    } catch (e) {
      if (previous) this.release(uid);
      return { admit: false, reason: UNEXPECTED_ADMISSION_ERROR, message: `Allocate failed due to ${(e as Error).message}, which is unexpected` };
    }
    if (alloc.containers.size === 0) return { admit: true };
    this.admitted.add(uid);
    this.pods.set(uid, alloc);
    if (!previous) this.save();
    return { admit: true };
  }

  /** Frees a pod's devices (it has finished or is gone: upstream drops pods that are no longer active). */
  release(uid: string): void {
    this.admitted.delete(uid);
    if (this.pods.delete(uid)) this.save();
  }

  /**
   * Frees the devices of checkpointed pods not admitted again by this run
   * whose pod is no longer `active` (deleted, replaced or finished while the
   * agent was down); upstream's UpdateAllocatedDevices does this before
   * each allocation.
   */
  prune(active: (pod: PodRef) => boolean): void {
    let changed = false;
    for (const [uid, pod] of this.pods) {
      if (this.admitted.has(uid) || active(pod)) continue;
      this.pods.delete(uid);
      changed = true;
    }
    if (changed) this.save();
  }

  /** The devices a container holds, per resource (empty when none). */
  containerDevices(uid: string, container: string): ResourceDevices {
    return Object.fromEntries(this.pods.get(uid)?.containers.get(container) ?? []);
  }

  /** A pod's allocation: container → resource → device IDs; undefined when it holds none. */
  podDevices(uid: string): Record<string, ResourceDevices> | undefined {
    const pod = this.pods.get(uid);
    if (!pod) return undefined;
    return Object.fromEntries([...pod.containers].map(([c, byResource]) => [c, Object.fromEntries(byResource)]));
  }

  /** Writes the checkpoint; a failed write is logged (allocation in memory stays right; only a restart could lose it). */
  private save(): void {
    if (!this.cfg.checkpointPath) return;
    const entries: PodDevicesEntry[] = [];
    for (const pod of this.pods.values()) {
      for (const [container, byResource] of pod.containers) {
        for (const [resource, deviceIds] of byResource) entries.push({ podUid: pod.uid, namespace: pod.namespace, name: pod.name, container, resource, deviceIds });
      }
    }
    try {
      writeCheckpoint(this.cfg.checkpointPath, { entries, registeredDevices: Object.fromEntries(Object.entries(this.cfg.devices).map(([r, ids]) => [r, [...ids]])) });
    } catch (e) {
      this.cfg.log(`devices: writing checkpoint ${this.cfg.checkpointPath}: ${(e as Error).message}`);
    }
  }
}
