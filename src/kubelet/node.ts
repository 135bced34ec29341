/**
 * Node registration and heartbeat (upstream pkg/kubelet/kubelet_node_status.go,
 * pkg/kubelet/nodestatus, pkg/kubelet/nodelease): the Node object with the
 * machine's capacity, its status re-posted when it changes, and a Lease in
 * `kube-node-lease` renewed every ten seconds.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { arch, availableParallelism, hostname, release, totalmem } from 'node:os';
import { Quantity } from '../api/quantity.js';
import { KUBERNETES_VERSION } from '../version.js';
import { R, isStatus, type Client } from '../client/client.js';
import { deepEqual } from '../util/json.js';
import { metaTime } from './status.js';

/** Pods per node (upstream kubelet's default maxPods). */
export const MAX_PODS = 110;
/** Lease duration a kubelet declares (upstream nodeLeaseDurationSeconds). */
export const LEASE_DURATION_SECONDS = 40;
/** upstream's default hard eviction threshold for memory.available, taken off allocatable. */
const EVICTION_MEMORY_BYTES = 100 * 1024 * 1024;
/** upstream's default hard eviction threshold for nodefs.available (10%), taken off allocatable. */
const EVICTION_NODEFS_FRACTION = 0.1;

/** Go's GOARCH name for this machine. */
export function goArch(): string {
  const a = arch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

function readTrimmed(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** PRETTY_NAME of /etc/os-release (upstream reports it as osImage). */
export function osImage(text = readTrimmed('/etc/os-release')): string {
  const m = /^PRETTY_NAME=(.*)$/m.exec(text);
  if (!m) return 'Linux';
  return m[1]!.trim().replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
}

/** What the node agent reports about the machine. */
export interface MachineInfo {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  nodeInfo: Record<string, string>;
}

/**
 * The machine's capacity and allocatable (upstream defaults: allocatable is
 * capacity less the hard eviction thresholds, no reservations) and nodeInfo.
 */
export function machineInfo(dataDir: string, runtimeVersion: string, extended: Record<string, string> = {}): MachineInfo {
  const memory = totalmem();
  let disk = 0;
  // The data dir may not exist yet at registration: measure the filesystem of
  // its nearest existing ancestor (where it will be created).
  for (let dir = dataDir; ; dir = dirname(dir)) {
    try {
      const s = statfsSync(dir);
      disk = s.blocks * s.bsize;
      break;
    } catch {
      if (dirname(dir) === dir) break; // unknown: reported as 0
    }
  }
  const bin = (n: number) => Quantity.fromValue(Math.max(0, Math.floor(n)), 'BinarySI').toString();
  const cpu = String(availableParallelism());
  const capacity: Record<string, string> = {
    cpu,
    'ephemeral-storage': bin(disk),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: bin(memory),
    pods: String(MAX_PODS),
    ...extended,
  };
  const allocatable: Record<string, string> = {
    ...capacity,
    'ephemeral-storage': bin(disk * (1 - EVICTION_NODEFS_FRACTION)),
    memory: bin(memory - EVICTION_MEMORY_BYTES),
  };
  return {
    capacity,
    allocatable,
    nodeInfo: {
      machineID: readTrimmed('/etc/machine-id'),
      systemUUID: readTrimmed('/sys/class/dmi/id/product_uuid'),
      bootID: readTrimmed('/proc/sys/kernel/random/boot_id'),
      kernelVersion: release(),
      osImage: osImage(),
      containerRuntimeVersion: runtimeVersion,
      kubeletVersion: `v${KUBERNETES_VERSION}`,
      operatingSystem: 'linux',
      architecture: goArch(),
    },
  };
}

/** The labels kubelet puts on its Node (upstream initialNode / getNodeLabels). */
export function nodeLabels(nodeName: string): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': goArch(),
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': goArch(),
    'kubernetes.io/hostname': nodeName.toLowerCase(),
    'kubernetes.io/os': 'linux',
  };
}

/** The node conditions kubelet reports when healthy, with upstream's reasons and messages. */
const HEALTHY_CONDITIONS = [
  { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
  { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
  { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
  { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
];

/** Configuration of the node status manager. */
export interface NodeStatusConfig {
  client: Client;
  nodeName: string;
  nodeIp: string;
  podCidr: string;
  dataDir: string;
  runtimeVersion: string;
  /** The streaming server's port (daemonEndpoints.kubeletEndpoint.Port). */
  port: () => number;
  extendedResources?: Record<string, string>;
  /** Labels beside kubelet's own, e.g. a node's GPU labels; null removes a label an earlier run of the node set. */
  labels?: Record<string, string | null>;
  /** Lease renewal interval (upstream: 10 s). */
  leaseIntervalMs: number;
  /** How often status is computed and posted when changed (upstream nodeStatusUpdateFrequency: 10 s). */
  statusIntervalMs: number;
  /** Status is posted at least this often even unchanged (upstream nodeStatusReportFrequency: 5 min). */
  reportIntervalMs: number;
  now: () => Date;
  log: (msg: string) => void;
}

/** Registers the Node, keeps its status current and renews its Lease. */
export class NodeStatusManager {
  private uid = '';
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private lastPosted?: { status: any; at: number };
  private stopped = false;

  constructor(private readonly cfg: NodeStatusConfig) {}

  /** Registers the node (create, or reconcile an existing one), posts its status and takes its Lease; resolves when done. */
  async start(): Promise<void> {
    await this.register();
    await this.syncStatus(true);
    await this.renewLease();
    this.leaseTimer = setInterval(() => void this.renewLease().catch((e) => this.cfg.log(`kubelet: renewing lease: ${(e as Error).message}`)), this.cfg.leaseIntervalMs);
    this.statusTimer = setInterval(() => void this.syncStatus(false).catch((e) => this.cfg.log(`kubelet: updating node status: ${(e as Error).message}`)), this.cfg.statusIntervalMs);
    this.leaseTimer.unref?.();
    this.statusTimer.unref?.();
  }

  /** Stops heartbeating (the node goes NotReady once its Lease expires). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.statusTimer);
  }

  /** The Node status the kubelet would post now. */
  nodeStatus(existingConditions: any[] = []): any {
    const { capacity, allocatable, nodeInfo } = machineInfo(this.cfg.dataDir, this.cfg.runtimeVersion, this.cfg.extendedResources);
    const now = metaTime(this.cfg.now());
    return {
      capacity,
      allocatable,
      conditions: HEALTHY_CONDITIONS.map((c) => {
        const old = existingConditions.find((o) => o.type === c.type);
        return { ...c, lastHeartbeatTime: now, lastTransitionTime: old?.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now };
      }),
      addresses: [
        { type: 'InternalIP', address: this.cfg.nodeIp },
        { type: 'Hostname', address: hostname() },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.cfg.port() } },
      nodeInfo,
    };
  }

  private async register(): Promise<void> {
    const { client, nodeName, podCidr } = this.cfg;
    const node: any = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName, labels: { ...nodeLabels(nodeName), ...present(this.cfg.labels) }, annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
      spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
      status: this.nodeStatus(),
    };
    try {
      const created = await client.create(R.nodes, '', node);
      this.uid = created.metadata.uid;
      return;
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
    // Already registered (a restart): keep its labels current and fill in what was missing, as upstream's reconcile does.
    const existing = await client.get(R.nodes, '', nodeName);
    this.uid = existing.metadata.uid;
    const patch: any = { metadata: { labels: { ...nodeLabels(nodeName), ...this.cfg.labels } } };
    if (!existing.spec?.podCIDR) patch.spec = { podCIDR: podCidr, podCIDRs: [podCidr] };
    await client.patch(R.nodes, '', nodeName, 'merge', patch);
  }

  /** Posts the status when it changed (heartbeat times aside) or the report interval has passed. */
  private async syncStatus(force: boolean): Promise<void> {
    if (this.stopped) return;
    const { client, nodeName } = this.cfg;
    let current: any;
    try {
      current = await client.get(R.nodes, '', nodeName);
    } catch (e) {
      // The Node was deleted under us: register again, as upstream does on its next sync.
      if (!isStatus(e, 404)) throw e;
      await this.register();
      current = await client.get(R.nodes, '', nodeName);
      force = true;
    }
    const status = this.nodeStatus(current.status?.conditions);
    const comparable = (s: any) => ({ ...s, conditions: s.conditions?.map((c: any) => ({ ...c, lastHeartbeatTime: undefined, lastTransitionTime: undefined })) });
    const nowMs = this.cfg.now().getTime();
    // Someone else (the node lifecycle controller) may have marked the node Unknown: that is a change to undo at once.
    const readyElsewhere = current.status?.conditions?.find((c: any) => c.type === 'Ready')?.status !== 'True';
    const changed = !this.lastPosted || readyElsewhere || !deepEqual(comparable(this.lastPosted.status), comparable(status));
    if (!force && !changed && nowMs - this.lastPosted!.at < this.cfg.reportIntervalMs) return;
    await client.patch(R.nodes, '', nodeName, 'merge', { status }, { subresource: 'status' });
    this.lastPosted = { status, at: nowMs };
  }

  /** Creates or renews the node's Lease (upstream nodelease controller). */
  async renewLease(): Promise<void> {
    if (this.stopped) return;
    const { client, nodeName } = this.cfg;
    const renewTime = microTime(this.cfg.now());
    try {
      const lease = await client.get(R.leases, 'kube-node-lease', nodeName);
      lease.spec = { ...(lease.spec ?? {}), holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime };
      if (!lease.metadata.ownerReferences?.length && this.uid) lease.metadata.ownerReferences = [this.ownerRef()];
      await client.update(R.leases, 'kube-node-lease', lease);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
      await client.create(R.leases, 'kube-node-lease', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: nodeName, namespace: 'kube-node-lease', ownerReferences: this.uid ? [this.ownerRef()] : undefined },
        spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime },
      });
    }
  }

  private ownerRef(): any {
    return { apiVersion: 'v1', kind: 'Node', name: this.cfg.nodeName, uid: this.uid };
  }
}

/** The labels of a set that have values (null ones are removals, for a patch). */
function present(labels: Record<string, string | null> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => e[1] !== null));
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
