/**
 * Hollow nodes, as kwok makes them: N simulated Node objects for scale tests
 * and benchmarks. Each is registered with allocatable and Ready conditions,
 * heartbeats through a Lease in `kube-node-lease` (all Leases renewed from
 * ONE timer, not one per node), and optionally "runs" the pods bound to it:
 * shortly after binding a pod's status becomes Running and Ready (no
 * processes), and a deleted pod is removed at once, as a kubelet does once
 * its containers have stopped.
 */
import { R, isStatus, type Client } from '../client/client.js';
import { Informer, objectKey, splitKey } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { KUBERNETES_VERSION } from '../version.js';
import { LEASE_DURATION_SECONDS, microTime } from './node.js';
import { metaTime } from './status.js';

/** The label every hollow node carries (selects them, e.g. for cleanup). */
export const HOLLOW_LABEL = 'kite.io/hollow';
/** The annotation saying that a node is simulated (kwok's `kwok.x-k8s.io/node: fake` plays this part). */
export const HOLLOW_ANNOTATION = 'node.kite.io/hollow';
/** Allocatable of a hollow node unless configured otherwise. */
export const DEFAULT_HOLLOW_ALLOCATABLE: Readonly<Record<string, string>> = { cpu: '32', memory: '256Gi', pods: '110' };

/** Configuration of a set of hollow nodes. */
export interface HollowNodesConfig {
  client: Client;
  /** How many nodes to register. */
  count: number;
  /** Node names are `<prefix><index>` with the index zero-padded to 5 digits (default `hollow-node-`). */
  namePrefix?: string;
  /** Allocatable (and capacity) of every node (default cpu 32, memory 256Gi, pods 110). */
  allocatable?: Record<string, string>;
  /** Extra labels for every node. */
  labels?: Record<string, string>;
  /** How often all Leases are renewed (upstream kubelet: 10 s); 0 renews none after registration. */
  leaseIntervalMs?: number;
  /** Whether pods bound to these nodes are "run" (status Running/Ready) and finalized on delete (default true). */
  runPods?: boolean;
  /** Delay between seeing a pod bound and reporting it Running (default 100 ms). */
  podStartDelayMs?: number;
  /** Writes in flight at once while registering nodes and renewing leases (default 32). */
  concurrency?: number;
  now?: () => Date;
  log?: (msg: string) => void;
}

/** Runs `n` jobs with at most `limit` in flight; the first error wins after all have settled. */
async function inPool(n: number, limit: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      try {
        await job(i);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
  if (failure !== undefined) throw failure;
}

/** A set of simulated nodes with one lifecycle: start() registers them, stop() stops heartbeats and pod handling. */
export class HollowNodes {
  /** The names of the nodes, in index order. */
  readonly names: string[];
  private readonly nameSet: Set<string>;
  private readonly hostIPs = new Map<string, string>();
  private readonly now: () => Date;
  private leaseTimer?: NodeJS.Timeout;
  private renewing = false;
  private pods?: Informer;
  private queue?: WorkQueue;
  private nextPodIP = 0;
  /** When each pod (by uid) was first seen bound here, for the start delay. */
  private readonly boundSeen = new Map<string, number>();
  private stopped = false;

  constructor(private readonly cfg: HollowNodesConfig) {
    if (!Number.isInteger(cfg.count) || cfg.count < 0) throw new Error(`hollow node count must be a non-negative integer (got ${cfg.count})`);
    const prefix = cfg.namePrefix ?? 'hollow-node-';
    this.names = Array.from({ length: cfg.count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
    this.nameSet = new Set(this.names);
    // Host IPs out of 172.16.0.0/12 and pod IPs out of 100.64.0.0/10: ranges no real pod or service network of Kite uses.
    this.names.forEach((n, i) => this.hostIPs.set(n, `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`));
    this.now = cfg.now ?? (() => new Date());
  }

  /** Whether a node name is one of these hollow nodes. */
  has(nodeName: string | undefined): boolean {
    return nodeName !== undefined && this.nameSet.has(nodeName);
  }

  /** Registers every node and its Lease, starts the lease timer and (unless disabled) the pod handling; resolves when all are registered. */
  async start(): Promise<void> {
    const limit = this.cfg.concurrency ?? 32;
    await inPool(this.names.length, limit, (i) => this.register(this.names[i]));
    await this.renewLeases();
    const interval = this.cfg.leaseIntervalMs ?? 10_000;
    if (interval > 0) {
      // One timer for every node: a tick renews all Leases (a slow tick is not overlapped by the next).
      this.leaseTimer = setInterval(() => {
        if (this.renewing) return;
        this.renewing = true;
        this.renewLeases()
          .catch((e) => this.cfg.log?.(`hollow nodes: renewing leases: ${(e as Error).message}`))
          .finally(() => (this.renewing = false));
      }, interval);
      this.leaseTimer.unref?.();
    }
    if (this.cfg.runPods ?? true) {
      this.queue = new WorkQueue((key) => this.reconcilePod(key), { workers: 4 });
      this.pods = new Informer(this.cfg.client, R.pods);
      const enqueue = (p: any) => {
        if (this.has(p?.spec?.nodeName)) this.queue!.add(objectKey(p));
      };
      this.pods.addHandlers({ onAdd: enqueue, onUpdate: (_old, p) => enqueue(p), onDelete: (p) => this.boundSeen.delete(p?.metadata?.uid) });
      await this.pods.start();
    }
  }

  /** Stops lease renewal and pod handling; the nodes stay registered (and go NotReady once their Leases expire). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    this.pods?.stop();
    this.queue?.stop();
  }

  /** Resolves when no pod status write is queued or running (tests). */
  async idle(): Promise<void> {
    await this.queue?.idle();
  }

  /** The Node object a hollow kubelet registers. */
  private node(name: string): any {
    const allocatable = { ...(this.cfg.allocatable ?? DEFAULT_HOLLOW_ALLOCATABLE) };
    const now = metaTime(this.now());
    const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, lastHeartbeatTime: now, lastTransitionTime: now, reason, message });
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'beta.kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'node.kubernetes.io/instance-type': 'hollow',
          ...(this.cfg.labels ?? {}),
          [HOLLOW_LABEL]: 'true',
        },
        annotations: { [HOLLOW_ANNOTATION]: 'true', 'node.alpha.kubernetes.io/ttl': '0' },
      },
      spec: {},
      status: {
        capacity: allocatable,
        allocatable,
        conditions: [
          condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
          condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
        addresses: [
          { type: 'InternalIP', address: this.hostIPs.get(name) },
          { type: 'Hostname', address: name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: '',
          systemUUID: '',
          bootID: '',
          kernelVersion: '',
          osImage: 'hollow',
          containerRuntimeVersion: 'hollow://1.0.0',
          kubeletVersion: `v${KUBERNETES_VERSION}`,
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    };
  }

  /** Creates the node; an existing one (a restart) gets its status posted again. */
  private async register(name: string): Promise<void> {
    const { client } = this.cfg;
    const node = this.node(name);
    try {
      await client.create(R.nodes, '', node);
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      const cur = await client.get(R.nodes, '', name);
      cur.status = node.status;
      await client.update(R.nodes, '', cur, { subresource: 'status' });
    }
  }

  /** Renews (or creates) every node's Lease, a bounded number at a time. */
  private async renewLeases(): Promise<void> {
    const limit = this.cfg.concurrency ?? 32;
    await inPool(this.names.length, limit, (i) => (this.stopped ? Promise.resolve() : this.renewLease(this.names[i])));
  }

  private async renewLease(name: string): Promise<void> {
    const { client } = this.cfg;
    const renewTime = microTime(this.now());
    const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime };
    try {
      // A merge patch needs no read first: one write per node per tick.
      await client.patch(R.leases, 'kube-node-lease', name, 'merge', { spec });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
      await client.create(R.leases, 'kube-node-lease', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: 'kube-node-lease' },
        spec,
      });
    }
  }

  /** Moves one pod on a hollow node along: bound → Running/Ready after the start delay; deleting → gone. */
  private async reconcilePod(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods?.get(namespace, name);
    if (!pod || !this.has(pod.spec?.nodeName)) return;
    const { client } = this.cfg;
    if (pod.metadata?.deletionTimestamp) {
      this.boundSeen.delete(pod.metadata.uid);
      // A kubelet removes the pod once its containers have stopped; a hollow one has none to stop.
      try {
        await client.delete(R.pods, namespace, name, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
      } catch (e) {
        if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
      }
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed') return;
    const delay = this.cfg.podStartDelayMs ?? 100;
    const uid: string = pod.metadata?.uid ?? key;
    let seen = this.boundSeen.get(uid);
    if (seen === undefined) {
      seen = this.now().getTime();
      this.boundSeen.set(uid, seen);
    }
    const wait = seen + delay - this.now().getTime();
    if (wait > 0) {
      this.queue?.addAfter(key, wait);
      return;
    }
    this.boundSeen.delete(uid);
    const next = structuredClone(pod);
    next.status = this.runningStatus(pod);
    try {
      await client.update(R.pods, namespace, next, { subresource: 'status' });
    } catch (e) {
      // Gone, or changed since the cache saw it: the informer brings the newer version back here.
      if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
    }
  }

  /** The status a kubelet reports for a pod whose containers all started and are ready. */
  private runningStatus(pod: any): any {
    const now = metaTime(this.now());
    const cond = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
    const scheduled = (pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled') ?? cond('PodScheduled');
    const running = (c: any) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      containerID: `hollow://${pod.metadata.uid}/${c.name}`,
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: now } },
      lastState: {},
    });
    const done = (c: any) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      containerID: `hollow://${pod.metadata.uid}/${c.name}`,
      ready: false,
      restartCount: 0,
      started: false,
      state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
      lastState: {},
    });
    const n = this.nextPodIP++;
    const hostIP = this.hostIPs.get(pod.spec.nodeName)!;
    const podIP = pod.spec?.hostNetwork ? hostIP : `100.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
    return {
      ...(pod.status ?? {}),
      phase: 'Running',
      conditions: [cond('PodReadyToStartContainers'), cond('Initialized'), cond('Ready'), cond('ContainersReady'), scheduled],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: pod.status?.startTime ?? now,
      ...((pod.spec?.initContainers ?? []).length ? { initContainerStatuses: pod.spec.initContainers.map(done) } : {}),
      containerStatuses: (pod.spec?.containers ?? []).map(running),
    };
  }
}
