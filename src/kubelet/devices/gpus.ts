/**
 * A node's GPUs in the node agent: what the node advertises (`nvidia.com/gpu`
 * capacity and GPU feature discovery's labels), admission of pods through
 * the device manager, the devices' environment for each container, and the
 * allocation recorded on the pod for its users to see.
 */
import { join } from 'node:path';
import { R, isStatus, type Client } from '../../client/client.js';
import type { Informer } from '../../client/informer.js';
import { formatPod } from '../format.js';
import { CHECKPOINT_FILE } from './checkpoint.js';
import { DeviceManager, type PodRef } from './manager.js';
import type { DeviceSpec } from '../runtime/runtime.js';
import { GPU_RESOURCE, gpuDeviceSpecs, gpuEnv, gpuMinors, gpuNodeLabels, type GpuDevice, type GpuInventory } from './nvidia.js';

/**
 * Pod annotation with the GPUs each container of the pod holds, as JSON
 * (`{"train":["GPU-…"]}`). Kubernetes 1.32 has no status field for a
 * container's devices by default (containerStatuses[].allocatedResourcesStatus
 * is behind the alpha ResourceHealthStatus gate and kubectl does not print
 * it), while annotations show in `kubectl describe pod` and `-o yaml`.
 */
export const GPU_DEVICES_ANNOTATION = 'kite.io/gpu-devices';

/** Configuration of a node's GPUs. */
export interface NodeGpusConfig {
  inventory: GpuInventory;
  /** True where containers are host processes (the process runtime): CUDA_VISIBLE_DEVICES is then what keeps each to its devices. */
  hostDevices: boolean;
  /** The agent's data dir; the allocation checkpoint lives under it. */
  dataDir: string;
  client: Client;
  /** The pods bound to this node (whether a checkpointed pod still exists). */
  pods: Pick<Informer<any>, 'get' | 'waitForSync'>;
  log: (msg: string) => void;
}

/** The node's GPUs (see the module comment). */
export class NodeGpus {
  private readonly manager: DeviceManager;
  private readonly byUuid: Map<string, GpuDevice>;
  /** Device minor numbers of real GPUs (their /dev/nvidia<minor>), read once. */
  private minors?: Map<string, number>;

  constructor(private readonly cfg: NodeGpusConfig) {
    this.byUuid = new Map(cfg.inventory.devices.map((d) => [d.uuid, d]));
    this.manager = new DeviceManager({
      devices: cfg.inventory.devices.length ? { [GPU_RESOURCE]: cfg.inventory.devices.map((d) => d.uuid) } : {},
      checkpointPath: join(cfg.dataDir, CHECKPOINT_FILE),
      log: cfg.log,
    });
  }

  /** Loads the allocations a previous run of the agent left. */
  start(): void {
    this.manager.start();
  }

  /** Extended resources for the node's capacity and allocatable (none without GPUs). */
  capacity(): Record<string, string> {
    const n = this.cfg.inventory.devices.length;
    return n ? { [GPU_RESOURCE]: String(n) } : {};
  }

  /** The node's GPU labels (null: remove a label an earlier run set). */
  labels(): Record<string, string | null> {
    return gpuNodeLabels(this.cfg.inventory);
  }

  /**
   * Admits a pod: its containers get their GPUs, or the pod is rejected
   * (reason and message for the caller's rejectPod). The allocation is
   * recorded on the pod in GPU_DEVICES_ANNOTATION.
   */
  async admit(pod: any): Promise<{ reason: string; message: string } | undefined> {
    if (!this.manager.wantsDevices(pod)) return undefined;
    // Whether a checkpointed pod is gone can only be told from a full list of the node's pods.
    await this.cfg.pods.waitForSync();
    this.manager.prune((ref) => this.active(ref));
    const result = this.manager.allocate(pod);
    if (!result.admit) return { reason: result.reason, message: result.message };
    await this.annotate(pod);
    return undefined;
  }

  /** The GPU environment of a container (none on a node without GPUs). */
  containerEnv(pod: any, container: any): Record<string, string> {
    if (this.byUuid.size === 0) return {};
    const ids = this.manager.containerDevices(pod.metadata.uid, container.name)[GPU_RESOURCE] ?? [];
    return gpuEnv(ids.flatMap((id) => this.byUuid.get(id) ?? []), this.cfg.hostDevices);
  }

  /**
   * The device nodes of a container's GPUs for a runtime whose containers
   * have a /dev of their own (cri): none for simulated GPUs (there is no
   * hardware behind them) or where containers are host processes.
   */
  containerDevices(pod: any, container: any): DeviceSpec[] {
    if (this.byUuid.size === 0 || this.cfg.inventory.simulated || this.cfg.hostDevices) return [];
    const ids = this.manager.containerDevices(pod.metadata.uid, container.name)[GPU_RESOURCE] ?? [];
    if (!ids.length) return [];
    this.minors ??= gpuMinors();
    return gpuDeviceSpecs(ids.flatMap((id) => this.byUuid.get(id) ?? []), { minors: this.minors });
  }

  /** Frees a pod's GPUs (it has finished, or is gone). */
  release(podUid: string): void {
    this.manager.release(podUid);
  }

  /** A checkpointed pod keeps its devices while the API still has it, unfinished, under the same uid. */
  private active(ref: PodRef): boolean {
    const p = this.cfg.pods.get(ref.namespace, ref.name);
    return !!p && p.metadata?.uid === ref.uid && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
  }

  /** Writes the pod's allocation to its annotation when it is not there yet; a failure only costs the annotation. */
  private async annotate(pod: any): Promise<void> {
    const devices = this.manager.podDevices(pod.metadata.uid);
    if (!devices) return;
    const value = JSON.stringify(Object.fromEntries(Object.entries(devices).filter(([, r]) => r[GPU_RESOURCE]?.length).map(([c, r]) => [c, r[GPU_RESOURCE]])));
    if (pod.metadata?.annotations?.[GPU_DEVICES_ANNOTATION] === value) return;
    try {
      // The uid makes this a precondition: a new pod of the same name is not annotated with this one's devices.
      await this.cfg.client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, 'merge', { metadata: { uid: pod.metadata.uid, annotations: { [GPU_DEVICES_ANNOTATION]: value } } });
    } catch (e) {
      if (!isStatus(e, 404) && !isStatus(e, 409)) this.cfg.log(`kubelet: recording the GPUs of ${formatPod(pod)}: ${(e as Error).message}`);
    }
  }
}
