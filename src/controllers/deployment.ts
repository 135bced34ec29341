/**
 * The Deployment controller (upstream pkg/controller/deployment): turns a
 * Deployment into ReplicaSets named `<deployment>-<pod-template-hash>`, rolls
 * from the old to the new one (RollingUpdate within maxSurge/maxUnavailable,
 * or Recreate), scales proportionally, honours `paused`, records revisions
 * (`kubectl rollout history|undo` read them), keeps revisionHistoryLimit old
 * sets, and reports status with the Progressing and Available conditions that
 * `kubectl rollout status` follows.
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromLabelSelector, type LabelSelector } from '../api/labels.js';
import { claimObjects, computeHash, getControllerOf, getFresh, jsonEqual, newControllerRef, type ObjectLike, type StatusCondition } from './controllerutil.js';
import {
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  Reasons,
  actualReplicaCount,
  availableReplicaCount,
  byCreation,
  byRevision,
  bySizeNewer,
  bySizeOlder,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  equalIgnoreHash,
  desiredReplicasAnnotation,
  filterActive,
  findActiveOrLatest,
  findNewReplicaSet,
  findOldReplicaSets,
  getCondition,
  getProportion,
  hasProgressDeadline,
  hasRevisionHistoryLimit,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  normalizeStatus,
  readyReplicaCount,
  removeCondition,
  replicaCount,
  replicasAnnotationsNeedUpdate,
  replicasOf,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  type Obj,
} from './deployment/util.js';

/** Configuration of the Deployment controller. */
export interface DeploymentControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `deployment-controller`. */
  events: EventRecorder;
  /** Concurrent reconciles (upstream --concurrent-deployment-syncs, default 5). */
  workers?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/** The Deployment being synced: the copy every step reads and updates as it writes. */
interface Sync {
  d: Obj;
}

const DEPLOYMENT_API = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

/** Rolls Deployments out onto ReplicaSets. */
export class DeploymentController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly deployments: Informer;
  private readonly replicaSets: Informer;
  private readonly pods: Informer;
  private stopped = false;

  constructor(config: DeploymentControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5 });
    this.deployments = config.informers.informer(R.deployments);
    this.replicaSets = config.informers.informer(R.replicasets);
    this.pods = config.informers.informer(R.pods);
  }

  /** Registers informer handlers and returns once the caches are synced. */
  async start(): Promise<void> {
    this.deployments.addHandlers({
      onAdd: (d) => this.enqueue(d),
      onUpdate: (_old, d) => this.enqueue(d),
      onDelete: (d) => this.enqueue(d),
    });
    this.replicaSets.addHandlers({
      onAdd: (rs) => (rs.metadata?.deletionTimestamp ? this.replicaSetDeleted(rs) : this.replicaSetChanged(undefined, rs)),
      onUpdate: (old, rs) => this.replicaSetChanged(old, rs),
      onDelete: (rs) => this.replicaSetDeleted(rs),
    });
    this.pods.addHandlers({ onDelete: (pod) => this.podDeleted(pod) });
    await Promise.all([this.deployments.start(), this.replicaSets.start(), this.pods.start()]);
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

  private enqueue(d: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(d));
  }

  /** The Deployment a controller reference names, if it still is that object. */
  private resolve(namespace: string, ref: { kind: string; name: string; uid: string } | undefined): Obj | undefined {
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const d = this.deployments.get(namespace, ref.name);
    return d && d.metadata?.uid === ref.uid ? d : undefined;
  }

  /** Deployments whose selector matches an orphan ReplicaSet (upstream getDeploymentsForReplicaSet). */
  private deploymentsMatching(rs: ObjectLike): Obj[] {
    return this.deployments.list(rs.metadata?.namespace, (d) => {
      const sel = selectorOf(d);
      return !!sel && !sel.empty() && sel.matches(rs.metadata?.labels);
    });
  }

  private replicaSetChanged(old: ObjectLike | undefined, rs: ObjectLike): void {
    if (old && old.metadata?.resourceVersion === rs.metadata?.resourceVersion) return;
    const ns = rs.metadata?.namespace;
    const ref = getControllerOf(rs);
    const oldRef = old ? getControllerOf(old) : undefined;
    if (old && oldRef && oldRef.uid !== ref?.uid) {
      const prev = this.resolve(ns, oldRef);
      if (prev) this.enqueue(prev);
    }
    if (ref) {
      const d = this.resolve(ns, ref);
      if (d) this.enqueue(d);
      return;
    }
    // An orphan: any matching Deployment may adopt it.
    const labelsChanged = !old || !jsonEqual(old.metadata?.labels ?? {}, rs.metadata?.labels ?? {});
    if (labelsChanged || oldRef) for (const d of this.deploymentsMatching(rs)) this.enqueue(d);
  }

  private replicaSetDeleted(rs: ObjectLike): void {
    const d = this.resolve(rs.metadata?.namespace, getControllerOf(rs));
    if (d) this.enqueue(d);
  }

  /** upstream deletePod: a Recreate rollout waits for old pods to be gone, so their deletion matters. */
  private podDeleted(pod: ObjectLike): void {
    const ns = pod.metadata?.namespace;
    const ref = getControllerOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return;
    const rs = this.replicaSets.get(ns, ref.name);
    if (!rs || rs.metadata?.uid !== ref.uid) return;
    const d = this.resolve(ns, getControllerOf(rs));
    if (d && !isRollingUpdate(d)) this.enqueue(d);
  }

  /** Converges one Deployment (`namespace/name`), as upstream syncDeployment. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cached = this.deployments.get(namespace, name);
    if (!cached) return;
    const s: Sync = { d: structuredClone(cached) };
    const d = s.d;
    const sel = d.spec?.selector;
    if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
      // upstream: an empty selector would select every pod of the namespace; refuse to act.
      void this.events.event(this.subject(d), 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        await this.writeStatus(s, { ...d.status, observedGeneration: d.metadata.generation });
      }
      return;
    }
    const selector = selectorOf(d);
    if (!selector) return; // an invalid selector: nothing to do until the spec changes
    const rsList = await this.replicaSetsFor(d, selector);
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(s, rsList);
    await this.checkPausedConditions(s);
    if (s.d.spec.paused) return this.sync(s, rsList);
    if (await this.isScalingEvent(s, rsList)) return this.sync(s, rsList);
    if (isRollingUpdate(s.d)) return this.rolloutRolling(s, rsList);
    return this.rolloutRecreate(s, rsList, this.podsByReplicaSet(s.d, rsList, selector));
  }

  private subject(d: Obj) {
    return { ...DEPLOYMENT_API, metadata: d.metadata };
  }

  /** upstream getReplicaSetsForDeployment: the ReplicaSets this Deployment controls, after adopting and releasing. */
  private async replicaSetsFor(d: Obj, selector: LabelSelector): Promise<Obj[]> {
    const { namespace, name, uid } = d.metadata;
    return claimObjects<Obj>(this.replicaSets.list(namespace), {
      client: this.client,
      ref: R.replicasets,
      owner: d,
      ownerRef: newControllerRef(d, DEPLOYMENT_API.apiVersion, DEPLOYMENT_API.kind),
      selector,
      canAdopt: async () => {
        const fresh = await getFresh<Obj>(this.client, R.deployments, namespace, name);
        return !!fresh && fresh.metadata.uid === uid && !fresh.metadata.deletionTimestamp;
      },
    });
  }

  /** upstream getPodMapForDeployment: the Deployment's pods grouped by the UID of the ReplicaSet controlling them. */
  private podsByReplicaSet(d: Obj, rsList: Obj[], selector: LabelSelector): Map<string, ObjectLike[]> {
    const map = new Map<string, ObjectLike[]>(rsList.map((rs) => [rs.metadata.uid, []]));
    for (const pod of this.pods.list(d.metadata.namespace, (p) => selector.matches(p.metadata?.labels))) {
      const ref = getControllerOf(pod);
      if (ref) map.get(ref.uid)?.push(pod);
    }
    return map;
  }

  // --- status -------------------------------------------------------------

  /** Writes a status through the status subresource; `s.d` becomes what the server returned. */
  private async writeStatus(s: Sync, status: any): Promise<void> {
    s.d = await this.client.update<Obj>(R.deployments, s.d.metadata.namespace, { ...s.d, status: normalizeStatus(status) }, { subresource: 'status' });
  }

  /**
   * Records the Deployment's revision (upstream SetDeploymentRevision). Upstream
   * writes it with the status update; Kite's status subresource keeps metadata
   * as stored, so the annotation is patched on the object itself.
   */
  private async setRevision(s: Sync, revision: string): Promise<void> {
    if (s.d.metadata.annotations?.[REVISION_ANNOTATION] === revision) return;
    const out = await this.client.patch<Obj>(R.deployments, s.d.metadata.namespace, s.d.metadata.name, 'merge', {
      metadata: { annotations: { [REVISION_ANNOTATION]: revision }, resourceVersion: s.d.metadata.resourceVersion },
    });
    s.d = { ...s.d, metadata: out.metadata };
  }

  /** upstream calculateStatus: counts from the ReplicaSets and the Available condition. */
  private calculateStatus(allRSs: (Obj | undefined)[], newRS: Obj | undefined, d: Obj): any {
    const available = availableReplicaCount(allRSs);
    const status: any = {
      observedGeneration: d.metadata.generation ?? 0,
      replicas: actualReplicaCount(allRSs),
      updatedReplicas: actualReplicaCount([newRS]),
      readyReplicas: readyReplicaCount(allRSs),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicaCount(allRSs) - available),
      collisionCount: d.status?.collisionCount,
      conditions: [...(d.status?.conditions ?? [])],
    };
    const now = this.now();
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setCondition(status, newCondition('Available', 'True', Reasons.MinimumReplicasAvailable, 'Deployment has minimum availability.', now));
    } else {
      setCondition(status, newCondition('Available', 'False', Reasons.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.', now));
    }
    return normalizeStatus(status);
  }

  /** upstream syncDeploymentStatus: writes the calculated status when it differs. */
  private async syncDeploymentStatus(s: Sync, allRSs: (Obj | undefined)[], newRS: Obj | undefined): Promise<void> {
    const status = this.calculateStatus(allRSs, newRS, s.d);
    if (jsonEqual(normalizeStatus(s.d.status), status)) return;
    await this.writeStatus(s, status);
  }

  /** upstream syncRolloutStatus: status plus the Progressing condition (complete, progressing or timed out). */
  private async syncRolloutStatus(s: Sync, allRSs: (Obj | undefined)[], newRS: Obj | undefined): Promise<void> {
    const d = s.d;
    const now = this.now();
    const status = this.calculateStatus(allRSs, newRS, d);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const isComplete = (status.replicas ?? 0) === (status.updatedReplicas ?? 0) && current?.reason === Reasons.NewRSAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      const who = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
      if (deploymentComplete(d, status)) {
        setCondition(status, newCondition('Progressing', 'True', Reasons.NewRSAvailable, `${who} has successfully progressed.`, now));
      } else if (deploymentProgressing(d, status)) {
        const cond = newCondition('Progressing', 'True', Reasons.ReplicaSetUpdated, `${who} is progressing.`, now);
        // Progress refreshes lastUpdateTime (the deadline counts from it), so replace rather than merge.
        if (current) {
          if (current.status === 'True') cond.lastTransitionTime = current.lastTransitionTime;
          removeCondition(status, 'Progressing');
        }
        setCondition(status, cond);
      } else if (deploymentTimedOut(d, status, now)) {
        setCondition(status, newCondition('Progressing', 'False', Reasons.TimedOut, `${who} has timed out progressing.`, now));
      }
    }
    // A ReplicaSet's ReplicaFailure (e.g. quota) shows on the Deployment.
    const failure = this.replicaFailure(allRSs, newRS);
    if (failure) setCondition(status, failure);
    else removeCondition(status, 'ReplicaFailure');
    const next = normalizeStatus(status);
    if (jsonEqual(normalizeStatus(d.status), next)) {
      this.requeueStuck(d, next);
      return;
    }
    await this.writeStatus(s, next);
  }

  /** upstream getReplicaFailures: the new set's ReplicaFailure condition, else any old set's. */
  private replicaFailure(allRSs: (Obj | undefined)[], newRS: Obj | undefined): StatusCondition | undefined {
    const fromRS = (rs: Obj | undefined) => {
      const c = (rs?.status?.conditions as StatusCondition[] | undefined)?.find((x) => x.type === 'ReplicaFailure');
      return c && { type: c.type, status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message };
    };
    return fromRS(newRS) ?? allRSs.map(fromRS).find((c) => c);
  }

  /** upstream requeueStuckDeployment: look again when the progress deadline would pass. */
  private requeueStuck(d: Obj, status: any): void {
    const cond = getCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !cond) return;
    if (deploymentComplete(d, status) || cond.reason === Reasons.TimedOut) return;
    const after = Date.parse(cond.lastUpdateTime ?? '') + d.spec.progressDeadlineSeconds * 1000 - this.now().getTime();
    if (Number.isNaN(after)) return;
    this.queue.addAfter(objectKey(d), after < 1000 ? 0 : after + 1000);
  }

  /** upstream checkPausedConditions: Progressing Unknown with DeploymentPaused / DeploymentResumed. */
  private async checkPausedConditions(s: Sync): Promise<void> {
    const d = s.d;
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === Reasons.TimedOut) return; // a reported lack of progress is not overwritten
    const pausedCondExists = cond?.reason === Reasons.PausedDeploy;
    const status = structuredClone(d.status ?? {});
    if (d.spec.paused && !pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', Reasons.PausedDeploy, 'Deployment is paused', this.now()));
    } else if (!d.spec.paused && pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', Reasons.ResumedDeploy, 'Deployment is resumed', this.now()));
    } else return;
    await this.writeStatus(s, status);
  }

  // --- replica sets -------------------------------------------------------

  /**
   * upstream getAllReplicaSetsAndSyncRevision + getNewReplicaSet: the new
   * ReplicaSet (the one whose template is the Deployment's; created when
   * `create` and missing) with its revision raised above every old one, and
   * all the old ones.
   */
  private async replicaSetsAndSyncRevision(s: Sync, rsList: Obj[], create: boolean): Promise<{ newRS: Obj | undefined; oldRSs: Obj[] }> {
    const { allOldRSs } = findOldReplicaSets(s.d, rsList);
    const newRS = await this.getNewReplicaSet(s, rsList, allOldRSs, create);
    return { newRS, oldRSs: allOldRSs };
  }

  private async getNewReplicaSet(s: Sync, rsList: Obj[], oldRSs: Obj[], create: boolean): Promise<Obj | undefined> {
    const existing = findNewReplicaSet(s.d, rsList);
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing) {
      const copy = structuredClone(existing);
      const annotationsChanged = setNewReplicaSetAnnotations(s.d, copy, newRevision, true);
      const minReadyChanged = (copy.spec.minReadySeconds ?? 0) !== (s.d.spec.minReadySeconds ?? 0);
      if (annotationsChanged || minReadyChanged) {
        copy.spec.minReadySeconds = s.d.spec.minReadySeconds ?? 0;
        return this.client.update<Obj>(R.replicasets, copy.metadata.namespace, copy);
      }
      await this.setRevision(s, copy.metadata.annotations[REVISION_ANNOTATION]);
      // A Deployment without any Progressing condition starts being tracked from the set it already has.
      if (hasProgressDeadline(s.d) && !getCondition(s.d.status, 'Progressing')) {
        const status = structuredClone(s.d.status ?? {});
        setCondition(status, newCondition('Progressing', 'True', Reasons.FoundNewRS, `Found new replica set "${copy.metadata.name}"`, this.now()));
        await this.writeStatus(s, status);
      }
      return copy;
    }
    if (!create) return undefined;

    const d = s.d;
    const hash = computeHash(d.spec.template, d.status?.collisionCount);
    const template = structuredClone(d.spec.template);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const rs: Obj = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        ownerReferences: [newControllerRef(d, DEPLOYMENT_API.apiVersion, DEPLOYMENT_API.kind)],
        labels: { ...template.metadata.labels },
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    const replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    rs.spec.replicas = replicas;
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    let createdRS: Obj;
    let alreadyExisted = false;
    try {
      createdRS = await this.client.create<Obj>(R.replicasets, d.metadata.namespace, rs);
    } catch (e) {
      if (isStatus(e, 409)) {
        // Ours already (the cache was behind)? Then use it; otherwise the hash collides with another template.
        const other = await getFresh<Obj>(this.client, R.replicasets, d.metadata.namespace, rs.metadata.name);
        if (other && getControllerOf(other)?.uid === d.metadata.uid && equalIgnoreHash(other.spec?.template, d.spec.template)) {
          createdRS = other;
          alreadyExisted = true;
        } else {
          // upstream: bump collisionCount so the next sync computes a different name.
          const status = structuredClone(d.status ?? {});
          status.collisionCount = (status.collisionCount ?? 0) + 1;
          await this.writeStatus(s, status);
          throw e;
        }
      } else {
        const msg = `Failed to create new replica set "${rs.metadata.name}": ${(e as Error).message}`;
        if (hasProgressDeadline(d)) {
          const status = structuredClone(d.status ?? {});
          setCondition(status, newCondition('Progressing', 'False', Reasons.FailedRSCreate, msg, this.now()));
          await this.writeStatus(s, status).catch(() => undefined);
        }
        void this.events.event(this.subject(d), 'Warning', Reasons.FailedRSCreate, msg);
        throw e;
      }
    }
    if (!alreadyExisted && replicas > 0) {
      void this.events.event(this.subject(d), 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${createdRS.metadata.name} from 0 to ${replicas}`);
    }
    await this.setRevision(s, String(newRevision));
    if (!alreadyExisted && hasProgressDeadline(s.d)) {
      const status = structuredClone(s.d.status ?? {});
      setCondition(status, newCondition('Progressing', 'True', Reasons.NewReplicaSet, `Created new replica set "${createdRS.metadata.name}"`, this.now()));
      await this.writeStatus(s, status);
    }
    return createdRS;
  }

  /** upstream scaleReplicaSetAndRecordEvent: returns the (possibly updated) set and whether its size changed. */
  private async scaleReplicaSet(s: Sync, rs: Obj, newScale: number): Promise<{ scaled: boolean; rs: Obj }> {
    if (replicasOf(rs) === newScale) return { scaled: false, rs };
    const d = s.d;
    const desired = replicasOf(d);
    const max = desired + maxSurge(d);
    const oldScale = replicasOf(rs);
    const copy = structuredClone(rs);
    copy.spec.replicas = newScale;
    setReplicasAnnotations(copy, desired, max);
    const updated = await this.client.update<Obj>(R.replicasets, copy.metadata.namespace, copy);
    const op = oldScale < newScale ? 'up' : 'down';
    void this.events.event(this.subject(d), 'Normal', 'ScalingReplicaSet', `Scaled ${op} replica set ${updated.metadata.name} from ${oldScale} to ${newScale}`);
    return { scaled: true, rs: updated };
  }

  /** upstream scaleReplicaSet used by proportional scaling: also refreshes the replica annotations when only they are stale. */
  private async scaleOrAnnotate(s: Sync, rs: Obj, newScale: number): Promise<void> {
    const desired = replicasOf(s.d);
    const max = desired + maxSurge(s.d);
    if (replicasOf(rs) !== newScale) {
      await this.scaleReplicaSet(s, rs, newScale);
      return;
    }
    if (!replicasAnnotationsNeedUpdate(rs, desired, max)) return;
    const copy = structuredClone(rs);
    setReplicasAnnotations(copy, desired, max);
    await this.client.update(R.replicasets, copy.metadata.namespace, copy);
  }

  // --- sync paths ---------------------------------------------------------

  /** upstream syncStatusOnly: a deleting Deployment only reports. */
  private async syncStatusOnly(s: Sync, rsList: Obj[]): Promise<void> {
    const { newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, false);
    await this.syncDeploymentStatus(s, [...oldRSs, newRS], newRS);
  }

  /** upstream sync: scaling events and paused Deployments — resize without rolling. */
  private async sync(s: Sync, rsList: Obj[]): Promise<void> {
    const { newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, false);
    await this.scale(s, newRS, oldRSs);
    if (s.d.spec.paused) await this.cleanup(s, oldRSs);
    await this.syncDeploymentStatus(s, [...oldRSs, newRS], newRS);
  }

  /** upstream isScalingEvent: spec.replicas differs from what an active set was last sized for. */
  private async isScalingEvent(s: Sync, rsList: Obj[]): Promise<boolean> {
    const { newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, false);
    for (const rs of filterActive([...oldRSs, newRS])) {
      const desired = desiredReplicasAnnotation(rs);
      if (desired !== undefined && desired !== replicasOf(s.d)) return true;
    }
    return false;
  }

  /**
   * upstream scale: a single active (or the latest) set takes spec.replicas;
   * a saturated new set retires the old ones; otherwise, in a rolling update,
   * the change is spread over the active sets in proportion to their size.
   */
  private async scale(s: Sync, newRS: Obj | undefined, oldRSs: Obj[]): Promise<void> {
    const d = s.d;
    const target = findActiveOrLatest(newRS, oldRSs);
    if (target) {
      if (replicasOf(target) !== replicasOf(d)) await this.scaleReplicaSet(s, target, replicasOf(d));
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of filterActive(oldRSs)) await this.scaleReplicaSet(s, old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    let all = filterActive([...oldRSs, newRS]);
    const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
    const toAdd = allowed - replicaCount(all);
    if (toAdd > 0) all = [...all].sort(bySizeNewer);
    else if (toAdd < 0) all = [...all].sort(bySizeOlder);
    let added = 0;
    const sizes = new Map<string, number>();
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = getProportion(rs, d, toAdd, added);
        sizes.set(rs.metadata.name, replicasOf(rs) + p);
        added += p;
      } else sizes.set(rs.metadata.name, replicasOf(rs));
    }
    for (const [i, rs] of all.entries()) {
      // The largest set absorbs what rounding left over.
      if (i === 0 && toAdd !== 0) sizes.set(rs.metadata.name, Math.max(0, sizes.get(rs.metadata.name)! + toAdd - added));
      await this.scaleOrAnnotate(s, rs, sizes.get(rs.metadata.name)!);
    }
  }

  /** upstream rolloutRolling: grow the new set within maxSurge, shrink old ones within maxUnavailable. */
  private async rolloutRolling(s: Sync, rsList: Obj[]): Promise<void> {
    const { newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, true);
    let allRSs: (Obj | undefined)[] = [...oldRSs, newRS];
    const d = s.d;
    if (newRS) {
      // reconcileNewReplicaSet
      let target: number | undefined;
      if (replicasOf(newRS) > replicasOf(d)) target = replicasOf(d);
      else if (replicasOf(newRS) < replicasOf(d)) target = newRSNewReplicas(d, allRSs, newRS);
      if (target !== undefined) {
        const { scaled, rs } = await this.scaleReplicaSet(s, newRS, target);
        if (scaled) return this.syncRolloutStatus(s, [...oldRSs, rs], rs);
      }
      const { scaled, oldRSs: after } = await this.reconcileOldReplicaSets(s, allRSs, filterActive(oldRSs), newRS);
      if (scaled) {
        allRSs = [...oldRSs.map((o) => after.find((a) => a.metadata.uid === o.metadata.uid) ?? o), newRS];
        return this.syncRolloutStatus(s, allRSs, newRS);
      }
    }
    if (deploymentComplete(d, s.d.status ?? {})) await this.cleanup(s, oldRSs);
    return this.syncRolloutStatus(s, allRSs, newRS);
  }

  /**
   * upstream reconcileOldReplicaSets: how many old pods may go now without
   * dropping below spec.replicas - maxUnavailable available; unhealthy old
   * pods go first (cleanupUnhealthyReplicas), then healthy ones, oldest set first.
   */
  private async reconcileOldReplicaSets(s: Sync, allRSs: (Obj | undefined)[], oldRSs: Obj[], newRS: Obj): Promise<{ scaled: boolean; oldRSs: Obj[] }> {
    const d = s.d;
    if (replicaCount(oldRSs) === 0) return { scaled: false, oldRSs };
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newUnavailable = replicasOf(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = replicaCount(allRSs) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return { scaled: false, oldRSs };

    // cleanupUnhealthyReplicas
    const olds = [...oldRSs].sort(byCreation);
    let cleaned = 0;
    for (const [i, rs] of olds.entries()) {
      if (cleaned >= maxScaledDown) break;
      const unhealthy = replicasOf(rs) - (rs.status?.availableReplicas ?? 0);
      if (replicasOf(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      olds[i] = (await this.scaleReplicaSet(s, rs, replicasOf(rs) - n)).rs;
      cleaned += n;
    }

    // scaleDownOldReplicaSetsForRollingUpdate
    let scaledDown = 0;
    const available = availableReplicaCount([...olds, newRS]);
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const [i, rs] of olds.entries()) {
        if (scaledDown >= total) break;
        if (replicasOf(rs) === 0) continue;
        const n = Math.min(replicasOf(rs), total - scaledDown);
        olds[i] = (await this.scaleReplicaSet(s, rs, replicasOf(rs) - n)).rs;
        scaledDown += n;
      }
    }
    return { scaled: cleaned + scaledDown > 0, oldRSs: olds };
  }

  /** upstream rolloutRecreate: every old pod gone first, then the new set at full size. */
  private async rolloutRecreate(s: Sync, rsList: Obj[], podMap: Map<string, ObjectLike[]>): Promise<void> {
    let { newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, false);
    let scaledDown = false;
    const olds = [...oldRSs];
    for (const [i, rs] of olds.entries()) {
      if (replicasOf(rs) === 0) continue;
      const r = await this.scaleReplicaSet(s, rs, 0);
      olds[i] = r.rs;
      scaledDown ||= r.scaled;
    }
    if (scaledDown) return this.syncRolloutStatus(s, [...olds, newRS], newRS);
    if (this.oldPodsRunning(newRS, oldRSs, podMap)) return this.syncRolloutStatus(s, [...oldRSs, newRS], newRS);
    if (!newRS) ({ newRS, oldRSs } = await this.replicaSetsAndSyncRevision(s, rsList, true));
    if (newRS && replicasOf(newRS) !== replicasOf(s.d)) newRS = (await this.scaleReplicaSet(s, newRS, replicasOf(s.d))).rs;
    if (deploymentComplete(s.d, s.d.status ?? {})) await this.cleanup(s, oldRSs);
    return this.syncRolloutStatus(s, [...oldRSs, newRS], newRS);
  }

  /** upstream oldPodsRunning: old sets still report pods, or a pod of an old set is not finished. */
  private oldPodsRunning(newRS: Obj | undefined, oldRSs: Obj[], podMap: Map<string, ObjectLike[]>): boolean {
    if (actualReplicaCount(oldRSs) > 0) return true;
    for (const [uid, pods] of podMap) {
      if (newRS && newRS.metadata.uid === uid) continue;
      if (pods.some((p) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded')) return true;
    }
    return false;
  }

  /** upstream cleanupDeployment: deletes the oldest empty old sets beyond revisionHistoryLimit. */
  private async cleanup(s: Sync, oldRSs: Obj[]): Promise<void> {
    const d = s.d;
    if (!hasRevisionHistoryLimit(d)) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp).sort(byRevision);
    const diff = cleanable.length - d.spec.revisionHistoryLimit;
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      // Only sets that are empty and whose emptiness the ReplicaSet controller has observed.
      if ((rs.status?.replicas ?? 0) !== 0 || replicasOf(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      try {
        await this.client.delete(R.replicasets, rs.metadata.namespace, rs.metadata.name);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
  }
}

/** The Deployment's compiled selector, or undefined when it is invalid. */
function selectorOf(d: ObjectLike): LabelSelector | undefined {
  try {
    return selectorFromLabelSelector(d.spec?.selector);
  } catch {
    return undefined;
  }
}
