/**
 * Coscheduling: gang scheduling of the pods of a PodGroup
 * (kubernetes-sigs/scheduler-plugins pkg/coscheduling, v0.32 — the release
 * that goes with Kubernetes 1.32). Pods name their group with the
 * `scheduling.x-k8s.io/pod-group` label; a group is placed all together or
 * not at all:
 *
 * - QueueSort keeps a group's pods next to each other in the queue (they
 *   sort by the group's creation time, then by group, then by pod);
 * - PreFilter turns a pod away while its group has fewer than minMember
 *   pods, while the cluster's free resources cannot hold the group's
 *   minResources, or while the group has just failed and nothing in the
 *   cluster changed since;
 * - Permit holds each placed (assumed, reserved) member until minMember of
 *   them are placed, then lets them all be bound; the first one placed calls
 *   its turned-away siblings back; a member held longer than
 *   scheduleTimeoutSeconds is released;
 * - PostFilter and Unreserve release the whole waiting group as soon as one
 *   member cannot be placed or is released, so a partial gang never keeps
 *   resources that another gang waits for, and two gangs that cannot both
 *   fit cannot deadlock.
 *
 * Why a group waits is said on the PodGroup: a FailedScheduling event and
 * the `Scheduled` condition (False with the reason, True once placed).
 */
import type { Pod } from '../../api/generated/types.js';
import { PODGROUPS, DEFAULT_SCHEDULE_TIMEOUT_SECONDS, podGroupFullName, podGroupName, type PodGroup, type PodGroupCondition } from '../../api/podgroup.js';
import { Quantity } from '../../api/quantity.js';
import { R, isStatus } from '../../client/client.js';
import type { Informer } from '../../client/informer.js';
import {
  SUCCESS,
  fitErrorMessage,
  unresolvable,
  unschedulable,
  wait,
  type CycleState,
  type Diagnosis,
  type FrameworkHandle,
  type Plugin,
  type PluginFactory,
  type Status,
} from '../framework.js';
import { podKey, resourceList, type NodeInfo, type PodInfo } from '../nodeinfo.js';
import type { QueuedPodInfo } from '../queue.js';

/** The plugin's registered name. */
export const NAME = 'Coscheduling';
/** The PodGroup condition that says whether the scheduler could place the group. */
export const SCHEDULED_CONDITION = 'Scheduled';

/** Plugin arguments (upstream CoschedulingArgs). */
export interface CoschedulingArgs {
  /** How long placed members wait for the rest when the PodGroup does not say (default 60). */
  permitWaitingTimeSeconds?: number;
  /**
   * How long a group that failed is turned away at PreFilter unless the
   * cluster changes meanwhile (default 10; 0 turns it off, as upstream's default).
   * Without it, the members of a group that cannot fit would take turns
   * holding the room that is left.
   */
  podGroupBackoffSeconds?: number;
  /** Time source in ms (tests). */
  now?: () => number;
}

/** Cycle state key: PreFilter turned the pod away because its group is backing off. */
const BACKED_OFF = 'Coscheduling/backedOff';

/** Kite's default group back-off: the queue's longest per-pod backoff. */
const DEFAULT_POD_GROUP_BACKOFF_SECONDS = 10;

/** A group's last failure: when, and how many cluster changes the queue had seen then. */
interface Failure {
  at: number;
  moves: number;
}

/** Go's `%v` of a ResourceList gap, keys sorted as Go prints maps: `map[cpu:2 nvidia.com/gpu:3]`. */
function formatGap(gap: Map<string, number>): string {
  const parts = [...gap.keys()].sort().map((k) => {
    const v = gap.get(k)!;
    const q = k === 'cpu' ? Quantity.fromMilli(v) : Quantity.fromValue(v, k === 'memory' || k === 'ephemeral-storage' ? 'BinarySI' : 'DecimalSI');
    return `${k}:${q.toString()}`;
  });
  return `map[${parts.join(' ')}]`;
}

/** The group of each pod info, worked out once: the queue compares pods many times while they wait. */
const groups = new WeakMap<PodInfo, string>();

/** `namespace/group` of a queued pod ('' when it names none), memoized per (immutable) pod info. */
function groupOf(p: PodInfo): string {
  let g = groups.get(p);
  if (g === undefined) groups.set(p, (g = podGroupFullName(p.pod)));
  return g;
}

/** What is free on a node for a group: allocatable minus the requests of the pods not in the group (upstream getNodeResource). */
function freeFor(node: NodeInfo, group: string): Map<string, number> {
  const a = node.allocatable;
  const u = node.requested;
  let pods = node.pods.size;
  let cpu = a.milliCPU - u.milliCPU;
  let memory = a.memory - u.memory;
  let storage = a.ephemeralStorage - u.ephemeralStorage;
  const scalar = new Map<string, number>();
  for (const [k, v] of a.scalar ?? []) scalar.set(k, v - (u.scalar?.get(k) ?? 0));
  // The group's own pods already placed do not count against it.
  for (const p of node.pods.values()) {
    if (podGroupFullName(p.pod) !== group) continue;
    pods--;
    cpu += p.requests.milliCPU;
    memory += p.requests.memory;
    storage += p.requests.ephemeralStorage;
    for (const [k, v] of p.requests.scalar ?? []) if (scalar.has(k)) scalar.set(k, scalar.get(k)! + v);
  }
  scalar.set('cpu', cpu);
  scalar.set('memory', memory);
  scalar.set('ephemeral-storage', storage);
  scalar.set('pods', a.allowedPodNumber - pods);
  return scalar;
}

/**
 * upstream CheckClusterResource: takes what each node has free off the
 * request until nothing is left; what remains is the gap ('' when none).
 */
export function clusterResourceGap(nodes: readonly NodeInfo[], request: Map<string, number>, group: string): string {
  const want = new Map(request);
  for (const [k, v] of want) if (v <= 0) want.delete(k);
  if (want.size === 0) return '';
  for (const n of nodes) {
    if (!n.node) continue;
    const free = freeFor(n, group);
    for (const [k, v] of want) {
      const left = v - (free.get(k) ?? 0);
      if (left <= 0) want.delete(k);
      else want.set(k, left);
    }
    if (want.size === 0) return '';
  }
  return `resource gap: ${formatGap(want)}`;
}

/** The gang scheduler. */
export class Coscheduling implements Plugin {
  readonly name = NAME;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly now: () => number;
  private groups?: Informer<PodGroup>;
  /** Pods (any phase) that name each group, by `namespace/group` (upstream lists them with a label selector). */
  private readonly members = new Map<string, Set<string>>();
  /** Pods assumed or bound, by group (upstream assignedPodsByPG), with when each was placed. */
  private readonly assigned = new Map<string, Map<string, number>>();
  /** Groups whose minResources passed PreFilter recently, with when that expires (upstream permittedPG). */
  private readonly permitted = new Map<string, number>();
  /** Groups that failed recently (upstream backedOffPG). */
  private readonly failures = new Map<string, Failure>();
  /** Creation time of each group in ms, for QueueSort. */
  private readonly created = new Map<string, number>();
  /** The last condition written on each group, so that repeats are not written again. */
  private readonly reported = new Map<string, PodGroupCondition>();

  constructor(
    private readonly handle: FrameworkHandle,
    args: CoschedulingArgs = {},
  ) {
    this.timeoutMs = (args.permitWaitingTimeSeconds ?? DEFAULT_SCHEDULE_TIMEOUT_SECONDS) * 1000;
    this.backoffMs = (args.podGroupBackoffSeconds ?? DEFAULT_POD_GROUP_BACKOFF_SECONDS) * 1000;
    this.now = args.now ?? Date.now;
  }

  /**
   * Asks for the PodGroup and pod informers. Where PodGroups are not served
   * (no CRD) gang scheduling is off: pods that name a group are turned away
   * at Permit ("PodGroup not found"), as upstream does for a missing group.
   */
  async start(): Promise<void> {
    const informers = this.handle.informers;
    if (!informers) return;
    try {
      await this.handle.client.list(PODGROUPS, '', { limit: 1 });
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
    this.groups = informers.informer<PodGroup>(PODGROUPS);
    this.groups.addHandlers({
      onAdd: (pg) => this.groupChanged(pg, true),
      // Status writes (the controller's counts, this plugin's condition) do not change what the group needs.
      onUpdate: (old, pg) => this.groupChanged(pg, old.metadata?.generation !== pg.metadata?.generation),
      onDelete: (pg) => {
        const key = `${pg.metadata?.namespace}/${pg.metadata?.name}`;
        this.created.delete(key);
        this.reported.delete(key);
        this.failures.delete(key);
        this.permitted.delete(key);
      },
    });
    informers.informer<Pod>(R.pods).addHandlers({
      onAdd: (p) => this.podAdded(p),
      onUpdate: (old, p) => {
        if (podGroupFullName(old) !== podGroupFullName(p)) {
          this.podDeleted(old);
          this.podAdded(p);
        } else if (p.spec?.nodeName && !old.spec?.nodeName) this.assign(podGroupFullName(p), p.metadata?.name ?? '');
      },
      onDelete: (p) => this.podDeleted(p),
    });
  }

  private groupChanged(pg: PodGroup, specChanged: boolean): void {
    const key = `${pg.metadata?.namespace}/${pg.metadata?.name}`;
    this.created.set(key, Date.parse(pg.metadata?.creationTimestamp ?? '') || 0);
    if (!specChanged) return;
    // A new or changed group may let its waiting pods in (upstream registers PodGroup Add/Update events).
    this.failures.delete(key);
    this.permitted.delete(key);
    this.retry(key);
  }

  private podAdded(p: Pod): void {
    const g = podGroupFullName(p);
    if (!g) return;
    let set = this.members.get(g);
    if (!set) this.members.set(g, (set = new Set()));
    set.add(podKey(p));
    // upstream AddPodFactory: pods already on a node count as placed.
    if (p.spec?.nodeName) this.assign(g, p.metadata?.name ?? '');
    else {
      // A new member may complete the group: its turned-away siblings try again (upstream registers Pod Add).
      this.failures.delete(g);
      // Once it is complete, at once: members turned away only for missing siblings were waiting, not failing
      // (upstream's coscheduling keeps such pods out of the queue at PreEnqueue, where no backoff applies).
      const [ns, name] = g.split('/') as [string, string];
      const minMember = this.groups?.get(ns, name)?.spec?.minMember;
      this.retry(g, minMember !== undefined && set.size === minMember);
    }
  }

  private podDeleted(p: Pod): void {
    const g = podGroupFullName(p);
    if (!g) return;
    const set = this.members.get(g);
    set?.delete(podKey(p));
    if (set?.size === 0) this.members.delete(g);
    if (p.spec?.nodeName) this.unassign(g, p.metadata?.name ?? '');
  }

  private retry(group: string, withoutBackoff = false): void {
    const set = this.members.get(group);
    if (set?.size) this.handle.activate?.(set, withoutBackoff);
  }

  private assign(group: string, name: string): void {
    if (!group) return;
    let m = this.assigned.get(group);
    if (!m) this.assigned.set(group, (m = new Map()));
    if (!m.has(name)) m.set(name, this.now());
  }

  /** Forgets a placed member; returns when it was placed, if it was. */
  private unassign(group: string, name: string): number | undefined {
    const m = this.assigned.get(group);
    const at = m?.get(name);
    m?.delete(name);
    if (m?.size === 0) this.assigned.delete(group);
    return at;
  }

  /** The group a pod names and the PodGroup, if it exists (upstream GetPodGroup). */
  private podGroup(pod: Pod): { key: string; pg?: PodGroup } {
    const name = podGroupName(pod);
    if (!name) return { key: '' };
    const ns = pod.metadata?.namespace ?? '';
    return { key: `${ns}/${name}`, pg: this.groups?.get(ns, name) };
  }

  /** Members placed (assumed or bound) so far. */
  assignedCount(group: string): number {
    return this.assigned.get(group)?.size ?? 0;
  }

  /**
   * upstream Less: higher priority first; then the earlier of the group's
   * creation time (the pod's first queueing time for gang pods whose group
   * is unknown yet); then by group and pod name, so that a group's pods stay
   * together. Pods without a group keep PrioritySort's order (time of their
   * latest queueing), as the default scheduler orders them.
   */
  less(a: QueuedPodInfo, b: QueuedPodInfo): boolean {
    if (a.podInfo.priority !== b.podInfo.priority) return a.podInfo.priority > b.podInfo.priority;
    const ga = groupOf(a.podInfo);
    const gb = groupOf(b.podInfo);
    const ta = ga ? this.created.get(ga) || a.initialAttemptTimestamp : a.timestamp;
    const tb = gb ? this.created.get(gb) || b.initialAttemptTimestamp : b.timestamp;
    if (ta !== tb) return ta < tb;
    if (!ga && !gb) return false; // equal: the queue keeps arrival order
    const ka = ga || a.podInfo.key;
    const kb = gb || b.podInfo.key;
    if (ka !== kb) return ka < kb;
    return a.podInfo.key < b.podInfo.key;
  }

  /**
   * upstream PreFilter: rejections here are UnschedulableAndUnresolvable, so
   * preemption does not evict anything for a group that cannot start.
   */
  preFilter(state: CycleState, pod: PodInfo): Status {
    const { key, pg } = this.podGroup(pod.pod);
    if (!pg) return SUCCESS;
    const f = this.failures.get(key);
    if (f) {
      // A cluster change since the failure, or the end of the back-off, lets the group try again.
      if (this.now() - f.at < this.backoffMs && f.moves === (this.handle.moveRequests?.() ?? 0)) {
        state.set(BACKED_OFF, true);
        return unresolvable(`podGroup ${key} failed recently`);
      }
      this.failures.delete(key);
    }
    const minMember = pg.spec?.minMember ?? 0;
    const count = this.members.get(key)?.size ?? 0;
    if (count < minMember) {
      return unresolvable(`pre-filter pod ${pod.pod.metadata?.name} cannot find enough sibling pods, current pods number: ${count}, minMember of group: ${minMember}`);
    }
    if (!pg.spec?.minResources) return SUCCESS;
    const until = this.permitted.get(key);
    if (until !== undefined && until > this.now()) return SUCCESS;
    const request = resourceList(pg.spec.minResources);
    request.set('pods', minMember);
    const gap = clusterResourceGap(this.handle.nodeInfos(), request, key);
    if (gap) return unresolvable(gap);
    this.permitted.set(key, this.now() + this.timeoutMs);
    return SUCCESS;
  }

  /**
   * upstream PostFilter: one member fits nowhere, so the group cannot be
   * placed now — release every member held at Permit, back the group off,
   * and say why on the PodGroup. Pods without a group are not Coscheduling's
   * business (Kite adds no message to theirs).
   */
  postFilter(state: CycleState, pod: PodInfo, diagnosis: Diagnosis): Status {
    const { key, pg } = this.podGroup(pod.pod);
    if (!key) return { code: 'Unschedulable', reasons: [] };
    if (!pg) return unschedulable('can not find pod group');
    const minMember = pg.spec?.minMember ?? 0;
    // Turned away by the back-off: the failure is already recorded and reported.
    if (state.get(BACKED_OFF)) return unschedulable(`PodGroup ${key} gets rejected due to Pod ${pod.pod.metadata?.name} is unschedulable even after PostFilter`);
    // Enough members are already placed: this one failing does not undo the group.
    if (this.assignedCount(key) >= minMember) return { code: 'Unschedulable', reasons: [] };
    this.rejectWaiting(key, 'optimistic rejection in PostFilter');
    const members = this.members.get(key)?.size ?? 0;
    if (this.backoffMs > 0 && members >= minMember) this.failures.set(key, { at: this.now(), moves: this.handle.moveRequests?.() ?? 0 });
    this.permitted.delete(key);
    if (members >= minMember) {
      const why = fitErrorMessage({ numAllNodes: this.handle.nodeInfos().length, diagnosis });
      this.report(pg, 'False', 'Unschedulable', `pod ${pod.pod.metadata?.name} cannot be placed, so none of the ${minMember} pods the group needs are bound: ${why}`);
    }
    return unschedulable(`PodGroup ${key} gets rejected due to Pod ${pod.pod.metadata?.name} is unschedulable even after PostFilter`);
  }

  /**
   * upstream Permit: count the member as placed; hold it until minMember are
   * placed, then let the held ones go.
   */
  permit(_state: CycleState, pod: PodInfo, _nodeName: string): Status {
    const { key, pg } = this.podGroup(pod.pod);
    if (!key) return SUCCESS;
    if (!pg) return unschedulable('PodGroup not found');
    this.assign(key, pod.pod.metadata?.name ?? '');
    const minMember = pg.spec?.minMember ?? 0;
    const placed = this.assignedCount(key);
    if (placed < minMember) {
      // upstream ActivateSiblings: the first member placed calls its turned-away siblings back (honouring their backoff).
      if (placed === 1) this.retry(key);
      const s = pg.spec?.scheduleTimeoutSeconds;
      return wait(s !== undefined && s !== null ? s * 1000 : this.timeoutMs);
    }
    this.failures.delete(key);
    this.handle.iterateOverWaitingPods?.((wp) => {
      if (podGroupFullName(wp.pod.pod) === key) wp.allow(NAME);
    });
    this.report(pg, 'True', 'Scheduled', `all ${minMember} pods the group needs are placed`);
    return SUCCESS;
  }

  /**
   * upstream Unreserve: a member was released (rejected, timed out, or its
   * binding failed) — release the whole waiting group. Groups that failed
   * while this member held its room may fit now: their back-off ends.
   */
  unreserve(_state: CycleState, pod: PodInfo, _nodeName: string): void {
    const { key, pg } = this.podGroup(pod.pod);
    if (!pg) return;
    const placedAt = this.unassign(key, pod.pod.metadata?.name ?? '');
    if (placedAt !== undefined) for (const [g, f] of this.failures) if (f.at >= placedAt) this.failures.delete(g);
    this.rejectWaiting(key, 'rejection in Unreserve');
    this.permitted.delete(key);
  }

  private rejectWaiting(group: string, message: string): void {
    this.handle.iterateOverWaitingPods?.((wp) => {
      if (podGroupFullName(wp.pod.pod) === group) wp.reject(NAME, message);
    });
  }

  /** Writes the Scheduled condition on the PodGroup (and an event when it turns), unless it already says this. */
  private report(pg: PodGroup, status: 'True' | 'False', reason: string, message: string): void {
    const ns = pg.metadata?.namespace ?? '';
    const name = pg.metadata?.name ?? '';
    const key = `${ns}/${name}`;
    const last = this.reported.get(key) ?? pg.status?.conditions?.find((c) => c.type === SCHEDULED_CONDITION);
    if (last && last.status === status && last.reason === reason && last.message === message) return;
    const lastTransitionTime = last && last.status === status && last.lastTransitionTime ? last.lastTransitionTime : new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond: PodGroupCondition = { type: SCHEDULED_CONDITION, status, reason, message, lastTransitionTime };
    this.reported.set(key, cond);
    const conditions = [...(pg.status?.conditions ?? []).filter((c) => c.type !== SCHEDULED_CONDITION), cond];
    void this.handle.client
      .patch(PODGROUPS, ns, name, 'merge', { status: { conditions } }, { subresource: 'status' })
      .catch(() => {
        // The group may be gone; the next attempt writes again if it still matters.
        this.reported.delete(key);
      });
    const subject = { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: pg.metadata };
    void this.handle.events?.event(subject, status === 'True' ? 'Normal' : 'Warning', status === 'True' ? 'Scheduled' : 'FailedScheduling', message);
  }
}

/** Coscheduling with arguments (upstream's plugin config). */
export function coschedulingWith(args: CoschedulingArgs): PluginFactory {
  return (handle) => new Coscheduling(handle, args);
}

/** Coscheduling with the default arguments. */
export const coscheduling: PluginFactory = (handle) => new Coscheduling(handle);
