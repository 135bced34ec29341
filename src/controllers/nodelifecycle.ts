/**
 * Node health — upstream's pkg/controller/nodelifecycle and
 * pkg/controller/tainteviction:
 *  - NodeLifecycleController watches each node's heartbeats (its Lease in
 *    `kube-node-lease` and its Ready condition). A node silent for longer than
 *    the grace period (upstream 1.32 --node-monitor-grace-period: 50 s) gets
 *    its conditions set to Unknown (`NodeStatusUnknown`, `Kubelet stopped
 *    posting node status.`), its pods marked not ready, and the taints that
 *    keep new pods away (`:NoSchedule`, TaintNodesByCondition) and evict the
 *    running ones (`:NoExecute`, taint-based eviction) — except when every
 *    node of every zone is down, when upstream assumes the control plane is
 *    the one cut off and evicts nothing.
 *  - TaintEvictionController deletes pods from nodes with NoExecute taints
 *    they do not tolerate, after the shortest `tolerationSeconds` of the
 *    tolerations that match (300 s from the DefaultTolerationSeconds admission).
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { rfc3339 } from './controllerutil.js';
import type { Lease, Node, NodeCondition, Pod, Taint, Toleration } from '../api/generated/types.js';

/** Taint keys the node controllers own (upstream v1.TaintNode*). */
export const TAINT = {
  notReady: 'node.kubernetes.io/not-ready',
  unreachable: 'node.kubernetes.io/unreachable',
  unschedulable: 'node.kubernetes.io/unschedulable',
  memoryPressure: 'node.kubernetes.io/memory-pressure',
  diskPressure: 'node.kubernetes.io/disk-pressure',
  pidPressure: 'node.kubernetes.io/pid-pressure',
  networkUnavailable: 'node.kubernetes.io/network-unavailable',
} as const;

/** The namespace of node heartbeat Leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Conditions the controller sets to Unknown when a node goes silent (upstream nodeConditionTypes). */
const MONITORED_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

/** upstream nodeConditionToTaintKeyStatusMap: condition status → NoSchedule taint. */
const CONDITION_TAINTS: Record<string, Record<string, string>> = {
  Ready: { False: TAINT.notReady, Unknown: TAINT.unreachable },
  MemoryPressure: { True: TAINT.memoryPressure },
  DiskPressure: { True: TAINT.diskPressure },
  PIDPressure: { True: TAINT.pidPressure },
  NetworkUnavailable: { True: TAINT.networkUnavailable },
};
const NO_SCHEDULE_KEYS = new Set<string>([...Object.values(CONDITION_TAINTS).flatMap((m) => Object.values(m)), TAINT.unschedulable]);
const NO_EXECUTE_KEYS = new Set<string>([TAINT.notReady, TAINT.unreachable]);

/** upstream zone states: small partially disrupted zones and fully disrupted clusters get no new evictions. */
type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption';
/** upstream --unhealthy-zone-threshold and --large-cluster-size-threshold. */
const UNHEALTHY_ZONE_THRESHOLD = 0.55;
const LARGE_CLUSTER_THRESHOLD = 50;


function condition(node: Node | undefined, type: string): NodeCondition | undefined {
  return node?.status?.conditions?.find((c) => c.type === type);
}

/** upstream utilnode.GetZoneKey: region and zone labels. */
function zoneKey(node: Node): string {
  const l = node.metadata?.labels ?? {};
  return `${l['topology.kubernetes.io/region'] ?? ''}:\u0000:${l['topology.kubernetes.io/zone'] ?? ''}`;
}

/** Configuration of the node lifecycle controller. */
export interface NodeLifecycleConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  /** The clock (tests move it). */
  now?: () => Date;
  /** Silence after which a node is Unknown (upstream 1.32 default 50 s). */
  nodeMonitorGracePeriodMs?: number;
  /** The same for a node that never posted a Ready condition (upstream 60 s). */
  nodeStartupGracePeriodMs?: number;
  /** How often every node is looked at (upstream --node-monitor-period, 5 s). */
  nodeMonitorPeriodMs?: number;
}

/** What the controller last saw of a node's heartbeats (upstream nodeHealthData). */
interface NodeHealth {
  /** When a heartbeat was last observed, on the controller's clock (not the kubelet's). */
  probe: number;
  heartbeat?: string;
  leaseRenew?: string;
  uid?: string;
}

/** Marks silent nodes Unknown, taints unhealthy nodes and marks their pods not ready. */
export class NodeLifecycleController {
  private readonly queue: WorkQueue;
  private readonly health = new Map<string, NodeHealth>();
  private nodes!: Informer<Node>;
  private leases!: Informer<Lease>;
  private pods!: Informer<Pod>;
  private monitor?: NodeJS.Timeout;
  private stopped = false;
  private readonly now: () => Date;
  private readonly grace: number;
  private readonly startupGrace: number;

  constructor(private readonly config: NodeLifecycleConfig) {
    this.now = config.now ?? (() => new Date());
    this.grace = config.nodeMonitorGracePeriodMs ?? 50_000;
    this.startupGrace = config.nodeStartupGracePeriodMs ?? 60_000;
    this.queue = new WorkQueue((name) => this.reconcile(name), { workers: 5, backoff: { baseMs: 50, maxMs: 30_000 } });
  }

  /** Registers handlers, waits for the caches and starts the periodic health pass. */
  async start(): Promise<void> {
    const f = this.config.informers;
    this.nodes = f.informer<Node>(R.nodes);
    this.leases = f.informer<Lease>(R.leases);
    this.pods = f.informer<Pod>(R.pods);
    const enqueue = (name: string | undefined) => !this.stopped && name && this.queue.add(name);
    this.nodes.addHandlers({ onAdd: (n) => enqueue(n.metadata?.name), onUpdate: (_o, n) => enqueue(n.metadata?.name), onDelete: (n) => enqueue(n.metadata?.name) });
    const lease = (l: Lease) => l.metadata?.namespace === NODE_LEASE_NAMESPACE && enqueue(l.metadata?.name);
    this.leases.addHandlers({ onAdd: lease, onUpdate: (_o, l) => lease(l) });
    await Promise.all([this.nodes.start(), this.leases.start(), this.pods.start()]);
    this.monitor = setInterval(() => {
      for (const n of this.nodes.list()) enqueue(n.metadata?.name);
    }, this.config.nodeMonitorPeriodMs ?? 5_000);
    this.monitor.unref?.();
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.monitor);
    this.queue.stop();
  }

  /** upstream monitorNodeHealth for one node. */
  async reconcile(name: string): Promise<void> {
    const node = this.nodes.get('', name);
    const known = this.health.get(name);
    if (!node) {
      if (known) {
        this.health.delete(name);
        void this.config.events.event({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: known.uid } }, 'Normal', 'RemovingNode', `Node ${name} event: Removing Node ${name} from Controller`);
      }
      return;
    }
    const now = this.now().getTime();
    const observedReady = condition(node, 'Ready');
    const lease = this.leases.get(NODE_LEASE_NAMESPACE, name);
    const leaseRenew = lease?.spec?.renewTime;
    let health = known;
    if (!health) {
      // A node seen for the first time gets a full grace period from now; one that never reported, from its creation.
      const created = Date.parse(node.metadata?.creationTimestamp ?? '') || now;
      health = { probe: observedReady ? now : created, heartbeat: observedReady?.lastHeartbeatTime, leaseRenew, uid: node.metadata?.uid };
      this.health.set(name, health);
      void this.config.events.event(node, 'Normal', 'RegisteredNode', `Node ${name} event: Registered Node ${name} in Controller`);
    } else {
      if (observedReady?.lastHeartbeatTime !== health.heartbeat) {
        health.heartbeat = observedReady?.lastHeartbeatTime;
        health.probe = now;
      }
      if (leaseRenew && (!health.leaseRenew || Date.parse(leaseRenew) > Date.parse(health.leaseRenew))) {
        health.leaseRenew = leaseRenew;
        health.probe = now;
      }
    }
    const grace = observedReady ? this.grace : this.startupGrace;
    let current = node;
    if (now > health.probe + grace) {
      current = await this.markUnknown(node);
    } else {
      this.queue.addAfter(name, health.probe + grace - now + 1);
    }
    const currentReady = condition(current, 'Ready');
    if (observedReady?.status === 'True' && currentReady?.status !== 'True') {
      void this.config.events.event(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
      await this.markPodsNotReady(name);
    }
    await this.reconcileTaints(current);
  }

  /** upstream tryUpdateNodeHealth past the grace period: every monitored condition becomes Unknown. */
  private async markUnknown(node: Node): Promise<Node> {
    const next = structuredClone(node) as Node;
    const status = (next.status ??= {});
    const conditions = (status.conditions ??= []);
    const now = rfc3339(this.now());
    let changed = false;
    for (const type of MONITORED_CONDITIONS) {
      const c = conditions.find((x) => x.type === type);
      if (!c) {
        conditions.push({
          type,
          status: 'Unknown',
          reason: 'NodeStatusNeverUpdated',
          message: 'Kubelet never posted node status.',
          lastHeartbeatTime: node.metadata?.creationTimestamp,
          lastTransitionTime: now,
        });
        changed = true;
      } else if (c.status !== 'Unknown') {
        Object.assign(c, { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: now });
        changed = true;
      }
    }
    if (!changed) return node;
    return this.config.client.update<Node>(R.nodes, '', next, { subresource: 'status' });
  }

  /** upstream MarkPodsNotReady: the Ready condition of the node's pods turns False. */
  private async markPodsNotReady(nodeName: string): Promise<void> {
    const errors: unknown[] = [];
    for (const pod of this.pods.list(undefined, (p) => p.spec?.nodeName === nodeName)) {
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
      if (!ready || ready.status === 'False') continue;
      const next = structuredClone(pod) as Pod;
      const c = next.status!.conditions!.find((x) => x.type === 'Ready')!;
      c.status = 'False';
      c.lastTransitionTime = rfc3339(this.now());
      try {
        await this.config.client.update(R.pods, pod.metadata?.namespace ?? '', next, { subresource: 'status' });
        void this.config.events.event(pod, 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (e) {
        if (!isStatus(e, 404)) errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }

  /** Zone states over all nodes (upstream ComputeZoneState). */
  private zoneStates(): Map<string, { state: ZoneState; size: number }> {
    const counts = new Map<string, { ready: number; notReady: number }>();
    for (const n of this.nodes.list()) {
      const z = zoneKey(n);
      const c = counts.get(z) ?? { ready: 0, notReady: 0 };
      if (condition(n, 'Ready')?.status === 'True') c.ready++;
      else c.notReady++;
      counts.set(z, c);
    }
    const out = new Map<string, { state: ZoneState; size: number }>();
    for (const [z, { ready, notReady }] of counts) {
      let state: ZoneState = 'Normal';
      if (notReady > 2 && notReady / (ready + notReady) >= UNHEALTHY_ZONE_THRESHOLD) state = 'PartialDisruption';
      if (ready === 0 && notReady > 0) state = 'FullDisruption';
      out.set(z, { state, size: ready + notReady });
    }
    return out;
  }

  /** Sets the controller-owned NoSchedule and NoExecute taints from the node's conditions. */
  private async reconcileTaints(node: Node): Promise<void> {
    const wantSchedule = new Set<string>();
    for (const c of node.status?.conditions ?? []) {
      const key = CONDITION_TAINTS[c.type]?.[c.status];
      if (key) wantSchedule.add(key);
    }
    if (node.spec?.unschedulable) wantSchedule.add(TAINT.unschedulable);
    const ready = condition(node, 'Ready')?.status;
    let wantExecute: string | undefined = ready === 'False' ? TAINT.notReady : ready === 'Unknown' ? TAINT.unreachable : undefined;
    const taints: Taint[] = node.spec?.taints ?? [];
    if (wantExecute) {
      const zones = this.zoneStates();
      const all = [...zones.values()];
      const zone = zones.get(zoneKey(node));
      if (all.every((z) => z.state === 'FullDisruption')) {
        // upstream "master disruption mode": every node is down, so the control plane is probably the one cut off.
        wantExecute = undefined;
      } else if (zone?.state === 'PartialDisruption' && zone.size <= LARGE_CLUSTER_THRESHOLD) {
        // upstream: a small partially disrupted zone taints at rate 0 — nothing new, what is set stays.
        wantExecute = taints.find((t) => t.effect === 'NoExecute' && NO_EXECUTE_KEYS.has(t.key))?.key;
      }
    }
    return this.setTaints(node, wantSchedule, wantExecute);
  }

  private async setTaints(node: Node, wantSchedule: Set<string>, wantExecute: string | undefined): Promise<void> {
    const taints: Taint[] = node.spec?.taints ?? [];
    const managed = (t: Taint) => (t.effect === 'NoSchedule' && NO_SCHEDULE_KEYS.has(t.key)) || (t.effect === 'NoExecute' && NO_EXECUTE_KEYS.has(t.key));
    const haveSchedule = new Set(taints.filter((t) => t.effect === 'NoSchedule' && NO_SCHEDULE_KEYS.has(t.key)).map((t) => t.key));
    const haveExecute = taints.filter((t) => t.effect === 'NoExecute' && NO_EXECUTE_KEYS.has(t.key)).map((t) => t.key);
    const sameSchedule = haveSchedule.size === wantSchedule.size && [...wantSchedule].every((k) => haveSchedule.has(k));
    const sameExecute = wantExecute ? haveExecute.length === 1 && haveExecute[0] === wantExecute : haveExecute.length === 0;
    if (sameSchedule && sameExecute) return;
    const next = structuredClone(node) as Node;
    const kept = taints.filter((t) => !managed(t) || (t.effect === 'NoSchedule' ? wantSchedule.has(t.key) : t.key === wantExecute));
    for (const key of wantSchedule) if (!haveSchedule.has(key)) kept.push({ key, effect: 'NoSchedule' });
    // NoExecute taints carry timeAdded (upstream SwapNodeControllerTaint).
    if (wantExecute && !haveExecute.includes(wantExecute)) kept.push({ key: wantExecute, effect: 'NoExecute', timeAdded: rfc3339(this.now()) });
    next.spec = { ...(next.spec ?? {}), taints: kept.length ? kept : undefined };
    if (!next.spec.taints) delete next.spec.taints;
    await this.config.client.update(R.nodes, '', next);
  }
}

/** upstream Toleration.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/**
 * How long a pod may stay on a node with these NoExecute taints: 0 when one is
 * not tolerated, Infinity when every matching toleration is unbounded, else the
 * shortest tolerationSeconds (upstream getMinTolerationTime over GetMatchingTolerations).
 */
export function tolerationTimeMs(taints: readonly Taint[], tolerations: readonly Toleration[]): number {
  let min = Infinity;
  for (const taint of taints) {
    const t = tolerations.find((x) => toleratesTaint(x, taint));
    if (!t) return 0;
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    min = Math.min(min, Math.max(0, t.tolerationSeconds) * 1000);
  }
  return min;
}

/** Configuration of the taint eviction controller. */
export interface TaintEvictionConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  now?: () => Date;
}

/** Deletes pods that do not tolerate their node's NoExecute taints, after their toleration time. */
export class TaintEvictionController {
  private readonly queue: WorkQueue;
  /** Pods with a pending eviction: when it was scheduled (upstream's TimedWorkerQueue CreatedAt). */
  private readonly scheduled = new Map<string, number>();
  private pods!: Informer<Pod>;
  private nodes!: Informer<Node>;
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly config: TaintEvictionConfig) {
    this.now = config.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 8, backoff: { baseMs: 50, maxMs: 30_000 } });
  }

  /** Registers handlers and waits for the caches. */
  async start(): Promise<void> {
    this.pods = this.config.informers.informer<Pod>(R.pods);
    this.nodes = this.config.informers.informer<Node>(R.nodes);
    const pod = (p: Pod) => !this.stopped && p.spec?.nodeName && this.queue.add(objectKey(p));
    this.pods.addHandlers({ onAdd: pod, onUpdate: (_o, p) => pod(p), onDelete: (p) => !this.stopped && this.queue.add(objectKey(p)) });
    const noExecute = (n: Node | undefined) => JSON.stringify((n?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute'));
    const node = (old: Node | undefined, n: Node) => {
      if (this.stopped || noExecute(old) === noExecute(n)) return;
      for (const p of this.pods.list(undefined, (x) => x.spec?.nodeName === n.metadata?.name)) this.queue.add(objectKey(p));
    };
    this.nodes.addHandlers({ onAdd: (n) => node(undefined, n), onUpdate: node, onDelete: (n) => node(n, { ...n, spec: {} }) });
    await Promise.all([this.pods.start(), this.nodes.start()]);
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** upstream processPodOnNode for one pod. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    if (!pod || !pod.spec?.nodeName || pod.metadata?.deletionTimestamp) {
      this.scheduled.delete(key);
      return;
    }
    const taints = (this.nodes.get('', pod.spec.nodeName)?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
    const allowed = taints.length ? tolerationTimeMs(taints, pod.spec.tolerations ?? []) : Infinity;
    const now = this.now().getTime();
    if (allowed === Infinity) {
      if (this.scheduled.delete(key)) void this.config.events.event(pod, 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`);
      return;
    }
    const since = this.scheduled.get(key) ?? now;
    this.scheduled.set(key, since);
    const due = since + allowed;
    if (now < due) {
      this.queue.addAfter(key, due - now);
      return;
    }
    await this.evict(pod, key);
  }

  /** upstream addConditionAndDeletePod: a DisruptionTarget condition, an event, then the delete. */
  private async evict(pod: Pod, key: string): Promise<void> {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const next = structuredClone(pod) as Pod;
    const conditions = (next.status!.conditions ??= []).filter((c) => c.type !== 'DisruptionTarget');
    conditions.push({
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'DeletionByTaintManager',
      message: 'Taint manager: deleting due to NoExecute taint',
      lastTransitionTime: rfc3339(this.now()),
    });
    next.status!.conditions = conditions;
    void this.config.events.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
    try {
      await this.config.client.update(R.pods, ns, next, { subresource: 'status' });
      await this.config.client.delete(R.pods, ns, name, { preconditions: { uid: pod.metadata?.uid } });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    this.scheduled.delete(key);
  }
}
