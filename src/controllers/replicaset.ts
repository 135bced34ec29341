/**
 * The ReplicaSet controller (upstream pkg/controller/replicaset): keeps
 * `spec.replicas` active pods that match the selector, creating them from the
 * template and deleting the surplus, adopting matching orphans and releasing
 * pods that stop matching; records SuccessfulCreate / SuccessfulDelete /
 * FailedCreate events and writes status (replicas, fullyLabeledReplicas,
 * readyReplicas, availableReplicas, observedGeneration, ReplicaFailure).
 * The ReplicationController manager (pkg/controller/replication) is the same
 * code over core/v1 `replicationcontrollers`, whose selector is a plain map.
 */
import { R, isStatus, type Client, type ResourceRef } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { nothing, selectorFromLabelSelector, selectorFromSet, type LabelSelector } from '../api/labels.js';
import {
  ControllerExpectations,
  claimObjects,
  getControllerOf,
  getFresh,
  isNamespaceTerminating,
  isPodActive,
  isPodAvailable,
  isPodReady,
  jsonEqual,
  newControllerRef,
  podFromTemplate,
  podsToDelete,
  rfc3339,
  slowStartBatch,
  type ObjectLike,
  type OwnerReference,
  type StatusCondition,
} from './controllerutil.js';

/** upstream BurstReplicas: the most creations or deletions one sync issues. */
export const BURST_REPLICAS = 500;

/** What differs between ReplicaSets and ReplicationControllers. */
interface ReplicatedKind {
  ref: ResourceRef;
  apiVersion: string;
  kind: string;
  /** The pod selector of an object of this kind (nothing for an invalid one). */
  selector(obj: ObjectLike): LabelSelector;
}

const REPLICA_SET: ReplicatedKind = {
  ref: R.replicasets,
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  selector(rs) {
    try {
      return selectorFromLabelSelector(rs.spec?.selector);
    } catch {
      return nothing();
    }
  },
};

const REPLICATION_CONTROLLER: ReplicatedKind = {
  ref: { group: '', version: 'v1', resource: 'replicationcontrollers' },
  apiVersion: 'v1',
  kind: 'ReplicationController',
  // An RC's selector is a map; validation refuses an empty one, and an empty one selects nothing here.
  selector: (rc) => (Object.keys(rc.spec?.selector ?? {}).length ? selectorFromSet(rc.spec.selector) : nothing()),
};

/** Configuration of the ReplicaSet (and ReplicationController) controller. */
export interface ReplicaSetControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `replicaset-controller` (or `replication-controller`). */
  events: EventRecorder;
  /** Concurrent reconciles (upstream --concurrent-replicaset-syncs, default 5). */
  workers?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/** Keeps the pods of every ReplicaSet at its desired count. */
export class ReplicaSetController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly expectations: ControllerExpectations;
  private readonly owners: Informer;
  private readonly pods: Informer;
  private stopped = false;

  constructor(
    config: ReplicaSetControllerConfig,
    private readonly kind: ReplicatedKind = REPLICA_SET,
  ) {
    this.client = config.client;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.expectations = new ControllerExpectations(() => this.now().getTime());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5 });
    this.owners = config.informers.informer(kind.ref);
    this.pods = config.informers.informer(R.pods);
  }

  /** Registers informer handlers and returns once both caches are synced. */
  async start(): Promise<void> {
    this.owners.addHandlers({
      onAdd: (rs) => this.enqueue(rs),
      onUpdate: (_old, rs) => this.enqueue(rs),
      onDelete: (rs) => {
        this.expectations.delete(objectKey(rs));
        this.enqueue(rs);
      },
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podAdded(pod),
      onUpdate: (old, pod) => this.podUpdated(old, pod),
      onDelete: (pod) => this.podDeleted(pod),
    });
    await Promise.all([this.owners.start(), this.pods.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's to stop). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when no reconcile is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private enqueue(obj: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(obj));
  }

  /** The owner a controller reference names, if it is one of ours and still the same object. */
  private resolveControllerRef(namespace: string, ref: OwnerReference): ObjectLike | undefined {
    if (ref.kind !== this.kind.kind) return undefined;
    const owner = this.owners.get(namespace, ref.name);
    return owner && owner.metadata?.uid === ref.uid ? owner : undefined;
  }

  /** Owners whose selector matches an orphan pod (upstream GetPodReplicaSets). */
  private ownersMatching(pod: ObjectLike): ObjectLike[] {
    return this.owners.list(pod.metadata?.namespace, (rs) => {
      const sel = this.kind.selector(rs);
      return !sel.empty() && sel.matches(pod.metadata?.labels);
    });
  }

  private podAdded(pod: ObjectLike): void {
    // A pod that shows up already being deleted counts as a deletion (upstream addPod).
    if (pod.metadata?.deletionTimestamp) return this.podDeleted(pod);
    const ref = getControllerOf(pod);
    if (ref) {
      const rs = this.resolveControllerRef(pod.metadata.namespace, ref);
      if (!rs) return;
      this.expectations.creationObserved(objectKey(rs));
      this.enqueue(rs);
      return;
    }
    // An orphan: every matching owner may want to adopt it.
    for (const rs of this.ownersMatching(pod)) this.enqueue(rs);
  }

  private podUpdated(old: ObjectLike, pod: ObjectLike): void {
    if (old.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
    const labelsChanged = !jsonEqual(old.metadata?.labels ?? {}, pod.metadata?.labels ?? {});
    if (pod.metadata?.deletionTimestamp) {
      // upstream: a graceful deletion is observed as soon as the timestamp is set, so a
      // replacement is created without waiting for the kubelet.
      this.podDeleted(pod);
      if (labelsChanged) this.podDeleted(old);
      return;
    }
    const ref = getControllerOf(pod);
    const oldRef = getControllerOf(old);
    const refChanged = !jsonEqual(ref ?? null, oldRef ?? null);
    if (refChanged && oldRef) {
      const prev = this.resolveControllerRef(old.metadata.namespace, oldRef);
      if (prev) this.enqueue(prev);
    }
    if (ref) {
      const rs = this.resolveControllerRef(pod.metadata.namespace, ref);
      if (!rs) return;
      this.enqueue(rs);
      // upstream: a pod that just turned ready becomes available after minReadySeconds; look again then.
      const minReady = rs.spec?.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.queue.addAfter(objectKey(rs), minReady * 1000 + 1000);
      return;
    }
    if (labelsChanged || refChanged) for (const rs of this.ownersMatching(pod)) this.enqueue(rs);
  }

  private podDeleted(pod: ObjectLike): void {
    const ref = getControllerOf(pod);
    if (!ref) return;
    const rs = this.resolveControllerRef(pod.metadata.namespace, ref);
    if (!rs) return;
    const key = objectKey(rs);
    this.expectations.deletionObserved(key, objectKey(pod));
    this.enqueue(rs);
  }

  /** Converges one ReplicaSet (`namespace/name`): claims pods, creates or deletes, writes status. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const rs = this.owners.get(namespace, name);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    const selector = this.kind.selector(rs);
    // upstream: an invalid selector is reported and not retried; the object has to change first.
    if (selector === nothing()) return;
    const active = this.pods.list(namespace, isPodActive);
    const owned = await claimObjects(active, {
      client: this.client,
      ref: R.pods,
      owner: rs,
      ownerRef: newControllerRef(rs, this.kind.apiVersion, this.kind.kind),
      selector,
      canAdopt: async () => {
        const fresh = await getFresh<ObjectLike>(this.client, this.kind.ref, namespace, name);
        return !!fresh && fresh.metadata?.uid === rs.metadata.uid && !fresh.metadata?.deletionTimestamp;
      },
    });
    let manageErr: unknown;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(owned, rs, key);
      } catch (e) {
        manageErr = e;
      }
    }
    const status = this.calculateStatus(rs, owned, manageErr);
    const updated = await this.updateStatus(rs, status);
    if (manageErr) throw manageErr;
    // upstream: ready but not yet available pods become available after minReadySeconds; resync then.
    const minReady = updated.spec?.minReadySeconds ?? 0;
    const replicas = updated.spec?.replicas ?? 1;
    if (minReady > 0 && (updated.status?.readyReplicas ?? 0) === replicas && (updated.status?.availableReplicas ?? 0) !== replicas) {
      this.queue.addAfter(key, minReady * 1000);
    }
  }

  /** Creates or deletes pods so that `pods.length` moves to spec.replicas (upstream manageReplicas). */
  private async manageReplicas(pods: ObjectLike[], rs: ObjectLike, key: string): Promise<void> {
    const diff = pods.length - (rs.spec?.replicas ?? 1);
    const subject = { apiVersion: this.kind.apiVersion, kind: this.kind.kind, metadata: rs.metadata };
    if (diff < 0) {
      const count = Math.min(-diff, BURST_REPLICAS);
      // Expect the creations before issuing them: the informer may report a pod before create() returns.
      this.expectations.expectCreations(key, count);
      const ref = newControllerRef(rs, this.kind.apiVersion, this.kind.kind);
      const { successes, error } = await slowStartBatch(count, 1, async () => {
        const pod = podFromTemplate(rs.spec?.template, rs, ref);
        try {
          const created = await this.client.create<ObjectLike>(R.pods, rs.metadata.namespace, pod);
          void this.events.event(subject, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata?.name}`);
        } catch (e) {
          // upstream: creations refused because the namespace is going away are not failures.
          if (isNamespaceTerminating(e)) return;
          void this.events.event(subject, 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
          throw e;
        }
      });
      // Creations that failed or were skipped will never be observed.
      for (let i = successes; i < count; i++) this.expectations.creationObserved(key);
      if (error) throw error;
      return;
    }
    if (diff > 0) {
      const count = Math.min(diff, BURST_REPLICAS);
      const victims = podsToDelete(pods, this.indirectlyRelatedPods(rs), count, this.now().getTime());
      this.expectations.expectDeletions(key, victims.map(objectKey));
      let firstError: unknown;
      await Promise.all(
        victims.map(async (pod) => {
          try {
            await this.client.delete(R.pods, pod.metadata.namespace, pod.metadata.name);
            void this.events.event(subject, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
          } catch (e) {
            // The deletion will not be observed; a pod already gone is what was wanted.
            this.expectations.deletionObserved(key, objectKey(pod));
            if (isStatus(e, 404)) return;
            void this.events.event(subject, 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
            firstError ??= e;
          }
        }),
      );
      if (firstError) throw firstError;
    }
  }

  /**
   * upstream getIndirectlyRelatedPods: pods of every ReplicaSet under the same
   * controller (a Deployment's old and new sets), used to spread deletions.
   */
  private indirectlyRelatedPods(rs: ObjectLike): ObjectLike[] {
    const ref = getControllerOf(rs);
    const family = ref ? this.owners.list(rs.metadata.namespace, (o) => getControllerOf(o)?.uid === ref.uid) : [rs];
    const seen = new Set<string>();
    const out: ObjectLike[] = [];
    for (const member of family) {
      const sel = this.kind.selector(member);
      for (const pod of this.pods.list(rs.metadata.namespace, (p) => sel.matches(p.metadata?.labels))) {
        if (seen.has(pod.metadata.uid)) continue;
        seen.add(pod.metadata.uid);
        out.push(pod);
      }
    }
    return out;
  }

  /** upstream calculateStatus: counts of the claimed pods and the ReplicaFailure condition. */
  private calculateStatus(rs: ObjectLike, pods: ObjectLike[], manageErr: unknown): any {
    const now = this.now();
    const template = selectorFromSet(rs.spec?.template?.metadata?.labels);
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const conditions: StatusCondition[] = [...(rs.status?.conditions ?? [])];
    const failure = conditions.findIndex((c) => c.type === 'ReplicaFailure');
    if (manageErr && failure < 0) {
      const diff = pods.length - (rs.spec?.replicas ?? 1);
      conditions.push({
        type: 'ReplicaFailure',
        status: 'True',
        lastTransitionTime: rfc3339(now),
        reason: diff < 0 ? 'FailedCreate' : 'FailedDelete',
        message: (manageErr as Error).message ?? String(manageErr),
      });
    } else if (!manageErr && failure >= 0) {
      conditions.splice(failure, 1);
    }
    return omitZero({
      replicas: pods.length,
      fullyLabeledReplicas: pods.filter((p) => template.matches(p.metadata?.labels)).length,
      readyReplicas: pods.filter(isPodReady).length,
      availableReplicas: pods.filter((p) => isPodAvailable(p, minReady, now)).length,
      observedGeneration: rs.metadata?.generation ?? 0,
      conditions,
    });
  }

  /** Writes status when it changed (upstream updateReplicaSetStatus: one retry on a fresh copy). */
  private async updateStatus(rs: ObjectLike, status: any): Promise<ObjectLike> {
    if (jsonEqual(omitZero({ ...rs.status, replicas: rs.status?.replicas ?? 0 }), status)) return rs;
    let cur = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.update<ObjectLike>(this.kind.ref, cur.metadata.namespace, { ...cur, status }, { subresource: 'status' });
      } catch (e) {
        if (attempt >= 1 || !isStatus(e, 409)) throw e;
        const fresh = await getFresh<ObjectLike>(this.client, this.kind.ref, cur.metadata.namespace, cur.metadata.name);
        if (!fresh) return rs;
        cur = fresh;
      }
    }
  }
}

/** The ReplicationController manager: the ReplicaSet controller over core/v1 replicationcontrollers. */
export class ReplicationManager extends ReplicaSetController {
  constructor(config: ReplicaSetControllerConfig) {
    super(config, REPLICATION_CONTROLLER);
  }
}

/** Drops the zero-valued `omitempty` fields of a ReplicaSet status, as Go serializes it (replicas always stays). */
function omitZero(status: any): any {
  const out: any = { replicas: status.replicas ?? 0 };
  for (const k of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const) if (status[k]) out[k] = status[k];
  if (status.conditions?.length) out.conditions = status.conditions;
  return out;
}
