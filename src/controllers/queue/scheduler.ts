/**
 * The admission side of queueing (Kueue's queue manager, cache and
 * scheduler in one reconcile loop per ClusterQueue): pending Workloads of
 * the ClusterQueue's LocalQueues are tried in queue order against the
 * nominal quota that admitted, unfinished Workloads leave free; a Workload
 * whose every pod set fits gets `status.admission` and the QuotaReserved
 * and Admitted conditions, one that does not gets QuotaReserved=False with
 * upstream's reason, and a Warning event on itself and on its job. The
 * ClusterQueue's and LocalQueues' status counts and usage are kept current.
 * Admissions written but not yet seen in the cache are remembered
 * ("assumed", as upstream's cache does) so quota is never handed out twice.
 */
import { isStatus, R, type Client } from '../../client/client.js';
import type { EventRecorder, EventSubject } from '../../client/events.js';
import type { InformerFactory } from '../../client/factory.js';
import { objectKey, type Informer } from '../../client/informer.js';
import { WorkQueue } from '../../client/workqueue.js';
import { Quantity } from '../../api/quantity.js';
import { selectorFromLabelSelector } from '../../api/labels.js';
import {
  CLUSTERQUEUES,
  LOCALQUEUES,
  RESOURCEFLAVORS,
  WORKLOADS,
  WorkloadCondition,
  holdsQuota,
  isConditionTrue,
  isPending,
  setCondition,
  type ClusterQueue,
  type FlavorUsage,
  type KueueCondition,
  type LocalQueue,
  type ResourceFlavor,
  type Workload,
} from '../../api/kueue.js';
import { jsonEqual, rfc3339 } from '../controllerutil.js';
import { addUsage, admissionPass, admittedUsage, compareWorkloads, missingFlavors, podSetRequests, resourceQuantity, type Assignment, type FlavorUsageMap } from './assign.js';

/** The queue key of the pass over workloads whose LocalQueue or ClusterQueue does not exist. */
const ORPHANS = '\u0000orphans';

/** Configuration of the queue scheduler. */
export interface QueueSchedulerConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  now?: () => Date;
}

/** An admission written but perhaps not yet in the cache. */
interface Assumed {
  clusterQueue: string;
  admission: NonNullable<NonNullable<Workload['status']>['admission']>;
}

/** The wire form of a usage list in Kueue's units. */
function formatUsage(l: ReadonlyMap<string, Quantity>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [...l.keys()].sort()) out[k] = resourceQuantity(k, l.get(k)!).toString();
  return out;
}

/** Per flavor and resource of the ClusterQueue, in its order, the amount in use (upstream FlavorUsage lists). */
function usageList(cq: ClusterQueue, usage: FlavorUsageMap, withBorrowed: boolean): FlavorUsage[] {
  return (cq.spec?.resourceGroups ?? []).flatMap((rg) =>
    (rg.flavors ?? []).map((f) => ({
      name: f.name,
      resources: (f.resources ?? []).map((r) => ({
        name: r.name,
        total: resourceQuantity(r.name, usage.get(f.name)?.get(r.name) ?? Quantity.fromValue(0)).toString(),
        ...(withBorrowed ? { borrowed: '0' } : {}),
      })),
    })),
  );
}

/** Admits pending Workloads into their ClusterQueues. */
export class QueueScheduler {
  private readonly client: Client;
  private readonly informers: InformerFactory;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly assumed = new Map<string, Assumed>();
  /** Arrival order of workloads, breaking ties between equal creation times. */
  private readonly arrival = new Map<string, number>();
  private arrivals = 0;
  private workloads?: Informer<Workload>;
  private clusterQueues?: Informer<ClusterQueue>;
  private localQueues?: Informer<LocalQueue>;
  private flavors?: Informer<ResourceFlavor>;
  private namespaces?: Informer<any>;

  constructor(config: QueueSchedulerConfig) {
    this.client = config.client;
    this.informers = config.informers;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => (key === ORPHANS ? this.reconcileOrphans() : this.reconcileClusterQueue(key)), { workers: 2 });
  }

  /** Registers handlers and resolves once the caches are filled. */
  async start(): Promise<void> {
    this.workloads = this.informers.informer<Workload>(WORKLOADS);
    this.clusterQueues = this.informers.informer<ClusterQueue>(CLUSTERQUEUES);
    this.localQueues = this.informers.informer<LocalQueue>(LOCALQUEUES);
    this.flavors = this.informers.informer<ResourceFlavor>(RESOURCEFLAVORS);
    this.namespaces = this.informers.informer(R.namespaces);
    const all = () => {
      for (const cq of this.clusterQueues!.list()) this.queue.add(objectKey(cq));
      this.queue.add(ORPHANS);
    };
    this.workloads.addHandlers({
      onAdd: (wl) => {
        const uid = wl.metadata?.uid;
        if (uid && !this.arrival.has(uid)) this.arrival.set(uid, this.arrivals++);
        this.workloadChanged(wl);
      },
      onUpdate: (old, wl) => {
        this.workloadChanged(old);
        this.workloadChanged(wl);
      },
      onDelete: (wl) => {
        this.arrival.delete(wl.metadata?.uid ?? '');
        this.assumed.delete(wl.metadata?.uid ?? '');
        this.workloadChanged(wl);
      },
    });
    const lqChanged = (lq: LocalQueue) => {
      if (lq.spec?.clusterQueue) this.queue.add(lq.spec.clusterQueue);
      this.queue.add(ORPHANS);
    };
    this.localQueues.addHandlers({ onAdd: lqChanged, onUpdate: (old, lq) => (lqChanged(old), lqChanged(lq)), onDelete: lqChanged });
    const cqChanged = (cq: ClusterQueue) => {
      this.queue.add(objectKey(cq));
      this.queue.add(ORPHANS);
    };
    this.clusterQueues.addHandlers({ onAdd: cqChanged, onUpdate: (_o, cq) => this.queue.add(objectKey(cq)), onDelete: cqChanged });
    this.flavors.addHandlers({ onAdd: all, onUpdate: all, onDelete: all });
    this.namespaces.addHandlers({ onUpdate: (old, ns) => !jsonEqual(old.metadata?.labels, ns.metadata?.labels) && all() });
    await Promise.all([this.workloads.start(), this.clusterQueues.start(), this.localQueues.start(), this.flavors.start(), this.namespaces.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's). */
  stop(): void {
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Queues the ClusterQueue a workload waits in or holds quota in (or the orphan pass). */
  private workloadChanged(wl: Workload): void {
    const held = wl.status?.admission?.clusterQueue;
    if (held) this.queue.add(held);
    const lq = this.localQueues!.get(wl.metadata?.namespace ?? '', wl.spec?.queueName ?? '');
    const cq = lq?.spec?.clusterQueue;
    if (cq && this.clusterQueues!.get('', cq)) this.queue.add(cq);
    else if (isPending(wl)) this.queue.add(ORPHANS);
  }

  /** The flavors by name. */
  private flavorMap(): Map<string, ResourceFlavor> {
    return new Map(this.flavors!.list().map((f) => [f.metadata?.name ?? '', f]));
  }

  /** One ClusterQueue: admit what fits, say why the rest waits, and write the queues' status. */
  async reconcileClusterQueue(name: string): Promise<void> {
    const cq = this.clusterQueues!.get('', name);
    if (!cq) return;
    const lqs = this.localQueues!.list(undefined, (lq) => lq.spec?.clusterQueue === name);
    const lqKeys = new Set(lqs.map((lq) => objectKey(lq)));
    const inQueue = (wl: Workload) => lqKeys.has(`${wl.metadata?.namespace}/${wl.spec?.queueName}`);
    const held: Workload[] = [];
    const pending: Workload[] = [];
    for (const wl of this.workloads!.list(undefined, (w) => inQueue(w) || w.status?.admission?.clusterQueue === name)) {
      const uid = wl.metadata?.uid ?? '';
      const assumed = this.assumed.get(uid);
      if (holdsQuota(wl) || isConditionTrue(wl.status?.conditions, WorkloadCondition.Finished)) {
        this.assumed.delete(uid);
        if (holdsQuota(wl) && wl.status?.admission?.clusterQueue === name) held.push(wl);
      } else if (assumed) {
        if (assumed.clusterQueue === name) held.push({ ...wl, status: { ...wl.status, admission: assumed.admission } });
      } else if (inQueue(wl) && isPending(wl) && wl.spec?.active !== false) {
        pending.push(wl);
      }
    }
    const used: FlavorUsageMap = new Map();
    for (const wl of held) addUsage(used, admittedUsage(wl));
    pending.sort((a, b) => compareWorkloads(a, b, (w) => this.arrival.get(w.metadata?.uid ?? '') ?? 0));

    const flavors = this.flavorMap();
    const missing = missingFlavors(cq, flavors);
    const stopped = !!cq.spec?.stopPolicy && cq.spec.stopPolicy !== 'None';
    const admitted: { workload: Workload; assignment: Assignment }[] = [];
    const waiting: { workload: Workload; reason: string; message: string }[] = [];
    if (missing.length || stopped) {
      for (const wl of pending) waiting.push({ workload: wl, reason: 'Inadmissible', message: `ClusterQueue ${name} is inactive` });
    } else {
      let selector;
      try {
        selector = selectorFromLabelSelector(cq.spec?.namespaceSelector as any);
      } catch {
        selector = selectorFromLabelSelector(null);
      }
      const eligible: Workload[] = [];
      for (const wl of pending) {
        const ns = this.namespaces!.get('', wl.metadata?.namespace ?? '');
        if (selector.matches(ns?.metadata?.labels ?? {})) eligible.push(wl);
        else waiting.push({ workload: wl, reason: 'Pending', message: "Workload namespace doesn't match ClusterQueue selector" });
      }
      const pass = admissionPass(cq, eligible, flavors, used);
      admitted.push(...pass.admitted);
      for (const w of pass.inadmissible) waiting.push({ workload: w.workload, reason: 'Pending', message: w.message });
    }

    for (const { workload, assignment } of admitted) {
      const ok = await this.admit(workload, name, assignment);
      if (ok) {
        held.push({ ...workload, status: { ...workload.status, admission: this.assumed.get(workload.metadata?.uid ?? '')!.admission } });
        addUsage(used, assignment.usage);
      } else {
        this.queue.add(name); // the workload changed under us: look again with the fresh cache
      }
    }
    for (const w of waiting) await this.markPending(w.workload, w.reason, w.message);

    const admittedKeys = new Set(admitted.map((a) => a.workload.metadata?.uid));
    const stillPending = pending.filter((wl) => !admittedKeys.has(wl.metadata?.uid));
    const active = this.activeCondition(missing, stopped);
    await this.writeClusterQueueStatus(cq, {
      flavorsReservation: usageList(cq, used, true),
      flavorsUsage: usageList(cq, used, true),
      pendingWorkloads: stillPending.length,
      reservingWorkloads: held.length,
      admittedWorkloads: held.length,
      conditions: [{ type: 'Active', ...active }],
    });
    for (const lq of lqs) {
      const mine = (wl: Workload) => wl.metadata?.namespace === lq.metadata?.namespace && wl.spec?.queueName === lq.metadata?.name;
      const lqUsage: FlavorUsageMap = new Map();
      const lqHeld = held.filter(mine);
      for (const wl of lqHeld) addUsage(lqUsage, admittedUsage(wl));
      const lqActive = lq.spec?.stopPolicy && lq.spec.stopPolicy !== 'None'
        ? { status: 'False' as const, reason: 'Stopped', message: 'LocalQueue is stopped' }
        : active.status === 'True'
          ? { status: 'True' as const, reason: 'Ready', message: 'Can submit new workloads to clusterQueue' }
          : { status: 'False' as const, reason: 'ClusterQueueIsInactive', message: "Can't submit new workloads to clusterQueue" };
      await this.writeLocalQueueStatus(lq, {
        pendingWorkloads: stillPending.filter(mine).length,
        reservingWorkloads: lqHeld.length,
        admittedWorkloads: lqHeld.length,
        conditions: [{ type: 'Active', ...lqActive }],
        flavorsReservation: usageList(cq, lqUsage, false),
        flavorUsage: usageList(cq, lqUsage, false),
      });
    }
  }

  /** The ClusterQueue's Active condition (upstream clusterQueue.inactiveReason). */
  private activeCondition(missing: string[], stopped: boolean): { status: 'True' | 'False'; reason: string; message: string } {
    if (!missing.length && !stopped) return { status: 'True', reason: 'Ready', message: 'Can admit new workloads' };
    const reasons: string[] = [];
    const messages: string[] = [];
    if (stopped) {
      reasons.push('Stopped');
      messages.push('is stopped');
    }
    if (missing.length) {
      reasons.push('FlavorNotFound');
      // Go prints a string slice as `[a b]`.
      messages.push(`references missing ResourceFlavor(s): [${missing.join(' ')}]`);
    }
    return { status: 'False', reason: reasons[0]!, message: `Can't admit new workloads: ${messages.join(', ')}.` };
  }

  /** Writes an admission (upstream SetQuotaReservation + SyncAdmittedCondition); false when the workload changed or went away. */
  private async admit(wl: Workload, clusterQueue: string, assignment: Assignment): Promise<boolean> {
    const now = rfc3339(this.now());
    const admission: Assumed['admission'] = {
      clusterQueue,
      podSetAssignments: assignment.podSets.map((ps) => ({ name: ps.name, flavors: ps.flavors, resourceUsage: formatUsage(ps.usage), count: ps.count })),
    };
    const conditions = structuredClone(wl.status?.conditions ?? []);
    const generation = wl.metadata?.generation;
    setCondition(conditions, { type: WorkloadCondition.QuotaReserved, status: 'True', reason: 'QuotaReserved', message: `Quota reserved in ClusterQueue ${clusterQueue}`, observedGeneration: generation }, now);
    setCondition(conditions, { type: WorkloadCondition.Admitted, status: 'True', reason: 'Admitted', message: 'The workload is admitted', observedGeneration: generation }, now);
    const { resourceRequests: _dropped, ...rest } = wl.status ?? {};
    const uid = wl.metadata?.uid ?? '';
    this.assumed.set(uid, { clusterQueue, admission });
    try {
      await this.client.update(WORKLOADS, wl.metadata!.namespace!, { ...wl, status: { ...rest, admission, conditions } }, { subresource: 'status' });
    } catch (e) {
      this.assumed.delete(uid);
      if (isStatus(e, 404) || isStatus(e, 409)) return false;
      throw e;
    }
    const waited = Math.max(0, Math.round((this.now().getTime() - Date.parse(wl.metadata?.creationTimestamp ?? '')) / 1000)) || 0;
    void this.events.event(this.subject(wl), 'Normal', 'QuotaReserved', `Quota reserved in ClusterQueue ${clusterQueue}, wait time since queued was ${waited}s`);
    void this.events.event(this.subject(wl), 'Normal', 'Admitted', `Admitted by ClusterQueue ${clusterQueue}, wait time since reservation was 0s`);
    return true;
  }

  /**
   * Says why a workload waits (upstream UnsetQuotaReservationWithCondition
   * and the scheduler's Pending event). The event goes to the workload and
   * to its job, so `kubectl describe` of either shows it; it is recorded
   * only when the reason changes.
   */
  private async markPending(wl: Workload, reason: string, message: string): Promise<void> {
    const conditions = structuredClone(wl.status?.conditions ?? []);
    const changed = setCondition(conditions, { type: WorkloadCondition.QuotaReserved, status: 'False', reason, message, observedGeneration: wl.metadata?.generation }, rfc3339(this.now()));
    const resourceRequests = (wl.spec?.podSets ?? []).map((ps) => ({ name: ps.name, resources: formatUsage(podSetRequests(ps)) }));
    if (!changed && jsonEqual(wl.status?.resourceRequests, resourceRequests)) return;
    try {
      await this.client.update(WORKLOADS, wl.metadata!.namespace!, { ...wl, status: { ...wl.status, admission: undefined, conditions, resourceRequests } }, { subresource: 'status' });
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 409)) return; // the change requeues the queue
      throw e;
    }
    if (!changed) return;
    const type = reason === 'Pending' || reason === 'Inadmissible' ? 'Warning' : 'Normal';
    void this.events.event(this.subject(wl), type, 'Pending', message);
    const owner = wl.metadata?.ownerReferences?.find((o) => o.controller);
    if (owner) {
      void this.events.event({ apiVersion: owner.apiVersion, kind: owner.kind, metadata: { name: owner.name, namespace: wl.metadata?.namespace, uid: owner.uid } }, type, 'Pending', message);
    }
  }

  /** Workloads whose LocalQueue or ClusterQueue does not exist; LocalQueues whose ClusterQueue does not exist. */
  async reconcileOrphans(): Promise<void> {
    for (const wl of this.workloads!.list(undefined, (w) => isPending(w) && w.spec?.active !== false && !this.assumed.has(w.metadata?.uid ?? ''))) {
      const lq = this.localQueues!.get(wl.metadata?.namespace ?? '', wl.spec?.queueName ?? '');
      if (!lq) await this.markPending(wl, 'Inadmissible', `LocalQueue ${wl.spec?.queueName ?? ''} doesn't exist`);
      else if (!this.clusterQueues!.get('', lq.spec?.clusterQueue ?? '')) await this.markPending(wl, 'Inadmissible', `ClusterQueue ${lq.spec?.clusterQueue ?? ''} doesn't exist`);
    }
    for (const lq of this.localQueues!.list(undefined, (q) => !this.clusterQueues!.get('', q.spec?.clusterQueue ?? ''))) {
      const pending = this.workloads!.list(lq.metadata?.namespace, (wl) => wl.spec?.queueName === lq.metadata?.name && isPending(wl)).length;
      await this.writeLocalQueueStatus(lq, {
        pendingWorkloads: pending,
        reservingWorkloads: 0,
        admittedWorkloads: 0,
        conditions: [{ type: 'Active', status: 'False', reason: 'ClusterQueueDoesNotExist', message: "Can't submit new workloads to clusterQueue" }],
        flavorsReservation: [],
        flavorUsage: [],
      });
    }
  }

  /** Merges condition wishes into existing conditions (transition times kept when the status holds). */
  private conditions(existing: KueueCondition[] | undefined, want: Omit<KueueCondition, 'lastTransitionTime'>[]): KueueCondition[] {
    const out = structuredClone(existing ?? []);
    for (const c of want) setCondition(out, c, rfc3339(this.now()));
    return out;
  }

  /** Patches a ClusterQueue's status when it changed. */
  private async writeClusterQueueStatus(cq: ClusterQueue, want: Omit<NonNullable<ClusterQueue['status']>, 'conditions'> & { conditions: Omit<KueueCondition, 'lastTransitionTime'>[] }): Promise<void> {
    const status = { ...want, conditions: this.conditions(cq.status?.conditions, want.conditions) };
    if (jsonEqual({ ...cq.status }, status)) return;
    try {
      await this.client.patch(CLUSTERQUEUES, '', cq.metadata!.name!, 'merge', { status }, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  /** Patches a LocalQueue's status when it changed. */
  private async writeLocalQueueStatus(lq: LocalQueue, want: Omit<NonNullable<LocalQueue['status']>, 'conditions'> & { conditions: Omit<KueueCondition, 'lastTransitionTime'>[] }): Promise<void> {
    const status = { ...want, conditions: this.conditions(lq.status?.conditions, want.conditions) };
    if (jsonEqual({ ...lq.status }, status)) return;
    try {
      await this.client.patch(LOCALQUEUES, lq.metadata!.namespace!, lq.metadata!.name!, 'merge', { status }, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  /** A workload as an event subject. */
  private subject(wl: Workload): EventSubject {
    return { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'Workload', metadata: wl.metadata as EventSubject['metadata'] };
  }
}
