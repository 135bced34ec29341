/**
 * The StatefulSet controller (upstream pkg/controller/statefulset, 1.32):
 * pods with stable names `<set>-<ordinal>` (from `spec.ordinals.start`),
 * hostname and subdomain (the governing service), labelled with their name,
 * index and revision; one PersistentVolumeClaim per pod and claim template
 * (`<claim>-<set>-<ordinal>`), owned per `persistentVolumeClaimRetentionPolicy`;
 * OrderedReady management (create in order, each Running and Ready before the
 * next, remove in reverse) or Parallel; revisions kept as ControllerRevisions
 * and rolled out by RollingUpdate (highest ordinal first, down to the
 * partition) or OnDelete; failed pods recreated; status with current and
 * update revisions. Events read as upstream's (`create Pod web-0 in
 * StatefulSet web successful`).
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromLabelSelector, type LabelSelector } from '../api/labels.js';
import {
  claimObjects,
  getControllerOf,
  podUpdateOwners,
  getFresh,
  isPodAvailable,
  isPodReady,
  jsonEqual,
  newControllerRef,
  podFromTemplate,
  slowStartBatch,
  type ObjectLike,
  type OwnerReference,
} from './controllerutil.js';
import { scaledValue } from './deployment/util.js';
import {
  CONTROLLER_REVISION_HASH_LABEL,
  DEFAULT_REVISION_HISTORY_LIMIT,
  createControllerRevision,
  maxRevision,
  revisionDataEqual,
  revisionsToPrune,
  setRevisionNumber,
  sortRevisions,
  templateFromRevision,
  templateRevisionData,
} from './history.js';

/** The label holding a StatefulSet pod's own name (upstream apps.StatefulSetPodNameLabel). */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** The label holding a StatefulSet pod's ordinal (upstream apps.PodIndexLabel; the PodIndexLabel gate is GA in 1.32). */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

const SET_API = { apiVersion: 'apps/v1', kind: 'StatefulSet' } as const;
const POD_API = { apiVersion: 'v1', kind: 'Pod' } as const;

/** A StatefulSet, pod, claim or revision as read from the caches. */
type Obj = ObjectLike & { metadata: any; spec?: any; status?: any; data?: any; revision?: number };

/** Configuration of the StatefulSet controller. */
export interface StatefulSetControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `statefulset-controller`. */
  events: EventRecorder;
  /** Concurrent reconciles (upstream --concurrent-statefulset-syncs, default 5). */
  workers?: number;
  /**
   * The MaxUnavailableStatefulSet feature gate: alpha and off in 1.32, so a
   * rolling update replaces one pod at a time whatever
   * `rollingUpdate.maxUnavailable` says; on, it replaces up to that many.
   */
  maxUnavailable?: boolean;
  /** The clock (tests). */
  now?: () => Date;
}

const STATEFUL_POD_NAME = /^(.*)-([0-9]+)$/;

/** upstream getParentNameAndOrdinal: the set name and ordinal a pod name encodes (ordinal -1 when none). */
export function parentAndOrdinal(podName: string): { parent: string; ordinal: number } {
  const m = STATEFUL_POD_NAME.exec(podName);
  if (!m) return { parent: '', ordinal: -1 };
  // ParseInt(…, 10, 32): an ordinal beyond int32 is no ordinal.
  const n = Number(m[2]);
  return { parent: m[1]!, ordinal: n <= 2147483647 ? n : -1 };
}

function ordinalOf(pod: Obj): number {
  return parentAndOrdinal(pod.metadata?.name ?? '').ordinal;
}

function replicasOf(set: Obj): number {
  return set.spec?.replicas ?? 1;
}

/** upstream getStartOrdinal: spec.ordinals.start, else 0. */
function startOrdinal(set: Obj): number {
  return set.spec?.ordinals?.start ?? 0;
}

/** upstream getEndOrdinal (inclusive). */
function endOrdinal(set: Obj): number {
  return startOrdinal(set) + replicasOf(set) - 1;
}

function inOrdinalRange(pod: Obj, set: Obj): boolean {
  const o = ordinalOf(pod);
  return o >= startOrdinal(set) && o <= endOrdinal(set);
}

/** `<set>-<ordinal>`. */
export function statefulPodName(set: Obj, ordinal: number): string {
  return `${set.metadata.name}-${ordinal}`;
}

/** `<claim template>-<set>-<ordinal>` (upstream getPersistentVolumeClaimName). */
export function statefulClaimName(set: Obj, claimTemplate: Obj, ordinal: number): string {
  return `${claimTemplate.metadata?.name}-${set.metadata.name}-${ordinal}`;
}

function isMemberOf(set: Obj, pod: Obj): boolean {
  return parentAndOrdinal(pod.metadata?.name ?? '').parent === set.metadata.name;
}

/** upstream identityMatches: the name, namespace and pod-name label fit the set and ordinal. */
function identityMatches(set: Obj, pod: Obj): boolean {
  const { parent, ordinal } = parentAndOrdinal(pod.metadata?.name ?? '');
  return (
    ordinal >= 0 &&
    parent === set.metadata.name &&
    pod.metadata.name === statefulPodName(set, ordinal) &&
    pod.metadata.namespace === set.metadata.namespace &&
    pod.metadata.labels?.[POD_NAME_LABEL] === pod.metadata.name
  );
}

/** upstream storageMatches: every claim template is mounted from this pod's own claim. */
function storageMatches(set: Obj, pod: Obj): boolean {
  const ordinal = ordinalOf(pod);
  if (ordinal < 0) return false;
  const volumes = new Map<string, any>(((pod.spec?.volumes ?? []) as any[]).map((v) => [v.name, v]));
  for (const t of (set.spec?.volumeClaimTemplates ?? []) as Obj[]) {
    const v = volumes.get(t.metadata?.name);
    if (v?.persistentVolumeClaim?.claimName !== statefulClaimName(set, t, ordinal)) return false;
  }
  return true;
}

/** upstream getPersistentVolumeClaims: the claims of the pod at `ordinal`, by template name, labelled with the set's selector labels. */
function claimsFor(set: Obj, ordinal: number): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const t of (set.spec?.volumeClaimTemplates ?? []) as Obj[]) {
    const claim: Obj = structuredClone(t) as Obj;
    claim.apiVersion = 'v1';
    claim.kind = 'PersistentVolumeClaim';
    claim.metadata = { ...(claim.metadata ?? {}), name: statefulClaimName(set, t, ordinal), namespace: set.metadata.namespace };
    claim.metadata.labels = { ...(claim.metadata.labels ?? {}), ...(set.spec?.selector?.matchLabels ?? {}) };
    delete claim.status;
    out.set(t.metadata?.name, claim);
  }
  return out;
}

/** upstream updateStorage: the pod mounts its own claims in place of same-named volumes. */
function updateStorage(set: Obj, pod: Obj): void {
  const claims = claimsFor(set, ordinalOf(pod));
  const volumes: any[] = [...claims].map(([name, claim]) => ({ name, persistentVolumeClaim: { claimName: claim.metadata.name } }));
  for (const v of (pod.spec?.volumes ?? []) as any[]) if (!claims.has(v.name)) volumes.push(v);
  pod.spec = { ...(pod.spec ?? {}), volumes };
  if (volumes.length === 0) delete pod.spec.volumes;
}

/** upstream updateIdentity: name, namespace and the pod-name and pod-index labels. */
function updateIdentity(set: Obj, pod: Obj): void {
  const ordinal = ordinalOf(pod);
  pod.metadata.name = statefulPodName(set, ordinal);
  pod.metadata.namespace = set.metadata.namespace;
  pod.metadata.labels = { ...(pod.metadata.labels ?? {}), [POD_NAME_LABEL]: pod.metadata.name, [POD_INDEX_LABEL]: String(ordinal) };
}

/** upstream newStatefulSetPod: the template with the pod's identity (hostname, subdomain) and storage. */
function newStatefulSetPod(set: Obj, ordinal: number): Obj {
  const pod = podFromTemplate(set.spec?.template, set, newControllerRef(set, SET_API.apiVersion, SET_API.kind)) as Obj;
  pod.metadata.name = statefulPodName(set, ordinal);
  updateIdentity(set, pod);
  // Set only on creation (immutable afterwards): the pod's DNS name is <hostname>.<subdomain>.
  pod.spec.hostname = pod.metadata.name;
  if (set.spec?.serviceName) pod.spec.subdomain = set.spec.serviceName;
  updateStorage(set, pod);
  return pod;
}

function podRevision(pod: Obj): string {
  return pod.metadata?.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? '';
}

/**
 * upstream newVersionedStatefulSetPod: pods below the partition are made at
 * the current revision, the others at the update revision.
 */
function newVersionedPod(currentSet: Obj, updateSet: Obj, currentRevision: string, updateRevision: string, ordinal: number): Obj {
  const us = currentSet.spec?.updateStrategy;
  const ru = us?.rollingUpdate;
  const atCurrent =
    (us?.type === 'RollingUpdate' && !ru && ordinal < startOrdinal(currentSet) + (currentSet.status?.currentReplicas ?? 0)) ||
    (!!ru && ordinal < startOrdinal(currentSet) + (ru.partition ?? 0));
  const pod = newStatefulSetPod(atCurrent ? currentSet : updateSet, ordinal);
  pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL] = atCurrent ? currentRevision : updateRevision;
  return pod;
}

/** upstream ApplyRevision: the set with the template the revision records. */
function applyRevision(set: Obj, revision: Obj): Obj {
  const out = structuredClone(set) as Obj;
  const template = templateFromRevision(revision);
  if (template) out.spec = { ...out.spec, template };
  return out;
}

const isCreated = (pod: Obj) => !!pod.status?.phase;
const isPending = (pod: Obj) => pod.status?.phase === 'Pending';
const isFailed = (pod: Obj) => pod.status?.phase === 'Failed';
const isSucceeded = (pod: Obj) => pod.status?.phase === 'Succeeded';
const isTerminating = (pod: Obj) => !!pod.metadata?.deletionTimestamp;
const isRunningAndReady = (pod: Obj) => pod.status?.phase === 'Running' && isPodReady(pod);
const isHealthy = (pod: Obj) => isRunningAndReady(pod) && !isTerminating(pod);

/** The retention policy with upstream's Retain defaults. */
function retentionPolicy(set: Obj): { whenDeleted: string; whenScaled: string } {
  const p = set.spec?.persistentVolumeClaimRetentionPolicy ?? {};
  return { whenDeleted: p.whenDeleted || 'Retain', whenScaled: p.whenScaled || 'Retain' };
}

function refs(o: Obj): OwnerReference[] {
  return (o.metadata?.ownerReferences as OwnerReference[] | undefined) ?? [];
}

/** upstream matchesRef: same apiVersion, kind and name (the uid is not compared). */
function matchesRef(ref: OwnerReference, obj: Obj, api: { apiVersion: string; kind: string }): boolean {
  return ref.apiVersion === api.apiVersion && ref.kind === api.kind && ref.name === obj.metadata?.name;
}

function hasOwnerRef(target: Obj, owner: Obj): boolean {
  return refs(target).some((r) => r.uid === owner.metadata?.uid);
}

/** upstream hasStaleOwnerRef: a reference by name to an earlier object of the same name. */
function hasStaleOwnerRef(target: Obj, obj: Obj, api: { apiVersion: string; kind: string }): boolean {
  const ref = refs(target).find((r) => matchesRef(r, obj, api));
  return !!ref && ref.uid !== obj.metadata?.uid;
}

/** upstream hasUnexpectedController: under a Delete policy, another controller (or a stale reference) owns the claim. */
function hasUnexpectedController(claim: Obj, set: Obj, pod: Obj): boolean {
  const policy = retentionPolicy(set);
  if (policy.whenScaled === 'Retain' && policy.whenDeleted === 'Retain') return false;
  for (const ref of refs(claim)) {
    if (matchesRef(ref, set, SET_API)) {
      if (ref.uid !== set.metadata.uid) return true;
      continue;
    }
    if (matchesRef(ref, pod, POD_API)) {
      if (ref.uid !== pod.metadata?.uid) return true;
      continue;
    }
    if (ref.controller) return true;
  }
  return false;
}

function hasNonControllerOwner(claim: Obj, set: Obj, pod: Obj): boolean {
  return refs(claim).some((r) => (r.uid === set.metadata.uid || r.uid === pod.metadata?.uid) && !r.controller);
}

/**
 * upstream isClaimOwnerUpToDate: the claim's owners follow the policy —
 * Retain/Retain: neither set nor pod; Delete on set deletion: the set; Delete
 * on scale-down: the pod once it is outside the ordinal range.
 */
function isClaimOwnerUpToDate(claim: Obj, set: Obj, pod: Obj): boolean {
  if (hasStaleOwnerRef(claim, set, SET_API) || hasStaleOwnerRef(claim, pod, POD_API)) return true;
  if (hasUnexpectedController(claim, set, pod)) return !(hasOwnerRef(claim, set) || hasOwnerRef(claim, pod));
  if (hasNonControllerOwner(claim, set, pod)) return false;
  const { whenDeleted, whenScaled } = retentionPolicy(set);
  const scaledDown = !inOrdinalRange(pod, set);
  if (whenScaled === 'Delete' && whenDeleted === 'Delete') {
    return scaledDown !== hasOwnerRef(claim, set) && scaledDown === hasOwnerRef(claim, pod);
  }
  if (whenScaled === 'Delete') return !hasOwnerRef(claim, set) && scaledDown === hasOwnerRef(claim, pod);
  if (whenDeleted === 'Delete') return hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod);
  return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod);
}

/** upstream updateClaimOwnerRefForSetAndPod: rewrites the set's and pod's references on the claim per the policy. */
function updateClaimOwnerRefs(claim: Obj, set: Obj, pod: Obj): void {
  const unexpected = hasUnexpectedController(claim, set, pod);
  let out = refs(claim).filter((r) => !matchesRef(r, set, SET_API) && !matchesRef(r, pod, POD_API));
  if (!unexpected) {
    const { whenDeleted, whenScaled } = retentionPolicy(set);
    const scaledDown = !inOrdinalRange(pod, set);
    const add = (owner: Obj, api: { apiVersion: string; kind: string }) => {
      if (!out.some((r) => r.uid === owner.metadata?.uid)) out = [...out, newControllerRef(owner, api.apiVersion, api.kind)];
    };
    if (whenScaled === 'Delete' && scaledDown) add(pod, POD_API);
    if (whenDeleted === 'Delete' && !(whenScaled === 'Delete' && scaledDown)) add(set, SET_API);
  }
  claim.metadata.ownerReferences = out;
  if (out.length === 0) delete claim.metadata.ownerReferences;
}

/** upstream completeRollingUpdate: once every replica runs the update revision, it becomes the current one. */
function completeRollingUpdate(set: Obj, status: SetStatus): void {
  const replicas = replicasOf(set);
  if (
    set.spec?.updateStrategy?.type === 'RollingUpdate' &&
    status.updatedReplicas === replicas &&
    status.readyReplicas === replicas &&
    status.replicas === replicas
  ) {
    status.currentReplicas = status.updatedReplicas;
    status.currentRevision = status.updateRevision;
  }
}

/** The counts and revisions the controller computes (upstream StatefulSetStatus). */
interface SetStatus {
  observedGeneration: number;
  replicas: number;
  readyReplicas: number;
  currentReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  currentRevision: string;
  updateRevision: string;
  collisionCount: number;
}

/** upstream inconsistentStatus: the computed status differs from the stored one in anything but conditions. */
function inconsistentStatus(set: Obj, s: SetStatus): boolean {
  const cur = set.status ?? {};
  return (
    s.observedGeneration > (cur.observedGeneration ?? 0) ||
    s.replicas !== (cur.replicas ?? 0) ||
    s.currentReplicas !== (cur.currentReplicas ?? 0) ||
    s.readyReplicas !== (cur.readyReplicas ?? 0) ||
    s.updatedReplicas !== (cur.updatedReplicas ?? 0) ||
    s.currentRevision !== (cur.currentRevision ?? '') ||
    s.availableReplicas !== (cur.availableReplicas ?? 0) ||
    s.updateRevision !== (cur.updateRevision ?? '')
  );
}

/** The status as apps/v1 serializes it: zero counts and empty revisions left out, replicas and availableReplicas always present. */
function statusJson(s: SetStatus, conditions: unknown[] | undefined): any {
  const out: any = {};
  if (s.observedGeneration) out.observedGeneration = s.observedGeneration;
  out.replicas = s.replicas;
  if (s.readyReplicas) out.readyReplicas = s.readyReplicas;
  if (s.currentReplicas) out.currentReplicas = s.currentReplicas;
  if (s.updatedReplicas) out.updatedReplicas = s.updatedReplicas;
  if (s.currentRevision) out.currentRevision = s.currentRevision;
  if (s.updateRevision) out.updateRevision = s.updateRevision;
  out.collisionCount = s.collisionCount;
  if (conditions?.length) out.conditions = conditions;
  out.availableReplicas = s.availableReplicas;
  return out;
}

/** Everything one pass over a set works with (upstream updateStatefulSet's locals). */
interface Pass {
  set: Obj;
  currentSet: Obj;
  updateSet: Obj;
  currentRevision: Obj;
  updateRevision: Obj;
  status: SetStatus;
  /** Pods for ordinals start..end, index = ordinal - start; not yet created ones have no status. */
  replicas: Obj[];
  /** Pods with a valid ordinal outside the range, highest ordinal first. */
  condemned: Obj[];
  firstUnhealthy?: Obj;
  monotonic: boolean;
}

/** Errors of one batch as upstream's utilerrors.NewAggregate prints them. */
function aggregate(errs: unknown[]): Error | undefined {
  if (errs.length === 0) return undefined;
  if (errs.length === 1) return errs[0] instanceof Error ? errs[0] : new Error(String(errs[0]));
  return new Error(`[${errs.map((e) => (e as Error).message ?? String(e)).join(', ')}]`);
}

/** Keeps StatefulSets' pods, claims and revisions converged. */
export class StatefulSetController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly maxUnavailableGate: boolean;
  private readonly queue: WorkQueue;
  private readonly sets: Informer;
  private readonly pods: Informer;
  private readonly claims: Informer;
  private readonly revisions: Informer;
  private stopped = false;

  constructor(config: StatefulSetControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.maxUnavailableGate = config.maxUnavailable ?? false;
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 5 });
    this.sets = config.informers.informer(R.statefulsets);
    this.pods = config.informers.informer(R.pods);
    this.claims = config.informers.informer(R.persistentvolumeclaims);
    this.revisions = config.informers.informer(R.controllerrevisions);
  }

  /** Registers informer handlers and returns once the caches are synced. */
  async start(): Promise<void> {
    this.sets.addHandlers({
      onAdd: (s) => this.enqueue(s),
      onUpdate: (_old, s) => this.enqueue(s),
      onDelete: (s) => this.enqueue(s),
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podAdded(pod),
      onUpdate: (old, pod) => this.podUpdated(old, pod),
      onDelete: (pod) => this.podDeleted(pod),
    });
    await Promise.all([this.sets.start(), this.pods.start(), this.claims.start(), this.revisions.start()]);
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

  private enqueue(set: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(set));
  }

  private resolve(namespace: string, ref: OwnerReference | undefined): Obj | undefined {
    if (!ref || ref.kind !== SET_API.kind) return undefined;
    const set = this.sets.get(namespace, ref.name);
    return set && set.metadata?.uid === ref.uid ? set : undefined;
  }

  /** upstream getStatefulSetsForPod: sets whose selector matches an orphan. */
  private setsMatching(pod: Obj): Obj[] {
    return this.sets.list(pod.metadata?.namespace, (s) => {
      const sel = selectorOf(s);
      return !!sel && !sel.empty() && sel.matches(pod.metadata?.labels);
    });
  }

  private podAdded(pod: Obj): void {
    if (pod.metadata?.deletionTimestamp) return this.podDeleted(pod);
    const ref = getControllerOf(pod);
    if (ref) {
      const set = this.resolve(pod.metadata.namespace, ref);
      if (set) this.enqueue(set);
      return;
    }
    for (const s of this.setsMatching(pod)) this.enqueue(s);
  }

  private podUpdated(old: Obj, pod: Obj): void {
    if (old.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
    const { owners, controller: set } = podUpdateOwners(old, pod, (ns, ref) => this.resolve(ns, ref), (p) => this.setsMatching(p));
    for (const o of owners) this.enqueue(o);
    // upstream: a pod that just turned ready is available minReadySeconds later (+1 s for clock skew).
    const minReady = set?.spec?.minReadySeconds ?? 0;
    if (set && minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.queue.addAfter(objectKey(set), minReady * 1000 + 1000);
  }

  private podDeleted(pod: Obj): void {
    const set = this.resolve(pod.metadata?.namespace, getControllerOf(pod));
    if (set) this.enqueue(set);
  }

  /** Converges one StatefulSet (`namespace/name`), as upstream sync. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const set: Obj | undefined = this.sets.get(namespace, name);
    if (!set) return;
    const selector = selectorOf(set);
    // upstream: an invalid selector is a non-transient error; nothing to do until the set changes.
    if (!selector) return;
    const canAdopt = async () => {
      const fresh = await getFresh<Obj>(this.client, R.statefulsets, namespace, name);
      return !!fresh && fresh.metadata?.uid === set.metadata.uid && !fresh.metadata?.deletionTimestamp;
    };
    // upstream adoptOrphanRevisions + ListRevisions: the set's revisions (and matching orphans, adopted).
    const revisions = await claimObjects<Obj>(
      this.revisions.list(namespace, (r) => selector.matches(r.metadata?.labels)),
      { client: this.client, ref: R.controllerrevisions, owner: set, ownerRef: newControllerRef(set, SET_API.apiVersion, SET_API.kind), selector, canAdopt },
    );
    // upstream getPodsForStatefulSet: only pods named after the set are claimed.
    const pods = await claimObjects<Obj>(this.pods.list(namespace), {
      client: this.client,
      ref: R.pods,
      owner: set,
      ownerRef: newControllerRef(set, SET_API.apiVersion, SET_API.kind),
      selector,
      filter: (p) => isMemberOf(set, p as Obj),
      canAdopt,
    });
    const status = await this.updateStatefulSet(set, pods, revisions);
    // upstream: ready pods become available minReadySeconds later; look again then.
    const minReady = set.spec?.minReadySeconds ?? 0;
    if (minReady > 0 && status && status.availableReplicas !== replicasOf(set)) this.queue.addAfter(key, minReady * 1000);
  }

  /** upstream UpdateStatefulSet: revisions, pods, status, then history pruning. */
  private async updateStatefulSet(set: Obj, pods: Obj[], listed: Obj[]): Promise<SetStatus | undefined> {
    const revisions = sortRevisions(listed);
    let current: Obj | undefined;
    let update: Obj | undefined;
    let status: SetStatus | undefined;
    let failure: unknown;
    try {
      let collisionCount: number;
      ({ current, update, collisionCount } = await this.getRevisions(set, revisions));
      ({ status, failure } = await this.performUpdate(set, pods, current, update, collisionCount));
    } catch (e) {
      failure = e;
    }
    // The current and update revisions (when known) are kept whatever failed.
    try {
      await this.truncateHistory(set, pods, revisions, current, update);
    } catch (e) {
      failure ??= e;
    }
    if (failure) throw failure;
    return status;
  }

  /** upstream performUpdate: syncs the pods, then writes the status even when syncing failed; returns the first failure. */
  private async performUpdate(set: Obj, pods: Obj[], current: Obj, update: Obj, collisionCount: number): Promise<{ status: SetStatus; failure?: unknown }> {
    const { status, error } = await this.syncPods(set, current, update, collisionCount, pods);
    try {
      await this.writeStatus(set, status);
    } catch (e) {
      return { status, failure: error ?? e };
    }
    return { status, failure: error };
  }

  /**
   * upstream getStatefulSetRevisions: the update revision is the set's
   * template — the latest revision if equal, an older equal one renumbered
   * to the top (a rollback), or a new one; the current revision is the one
   * status names, else the update revision.
   */
  private async getRevisions(set: Obj, revisions: Obj[]): Promise<{ current: Obj; update: Obj; collisionCount: number }> {
    const collision = { count: set.status?.collisionCount ?? 0 };
    const data = templateRevisionData(set.spec?.template);
    const next = maxRevision(revisions) + 1;
    const equal = revisions.filter((r) => revisionDataEqual(r.data, data));
    let update: Obj;
    const latest = revisions[revisions.length - 1];
    if (equal.length > 0 && latest && equal[equal.length - 1] === latest) {
      update = latest;
    } else if (equal.length > 0) {
      update = await setRevisionNumber(this.client, equal[equal.length - 1], next);
    } else {
      update = await createControllerRevision(this.client, { owner: set, ...SET_API, data, revision: next }, collision);
    }
    const current = revisions.find((r) => r.metadata.name === set.status?.currentRevision) ?? update;
    return { current, update, collisionCount: collision.count };
  }

  /** upstream updateStatus: counts over the given pod lists. */
  private countPods(p: Pass, ...lists: Obj[][]): void {
    const s = p.status;
    const minReady = p.set.spec?.minReadySeconds ?? 0;
    const now = this.now();
    s.replicas = s.readyReplicas = s.availableReplicas = s.currentReplicas = s.updatedReplicas = 0;
    for (const list of lists) {
      for (const pod of list) {
        if (isCreated(pod)) s.replicas++;
        if (isRunningAndReady(pod)) {
          s.readyReplicas++;
          if (isPodAvailable(pod, minReady, now)) s.availableReplicas++;
        }
        if (isCreated(pod) && !isTerminating(pod)) {
          const rev = podRevision(pod);
          if (rev === p.currentRevision.metadata.name) s.currentReplicas++;
          if (rev === p.updateRevision.metadata.name) s.updatedReplicas++;
        }
      }
    }
  }

  /**
   * upstream updateStatefulSet: fills the ordinal range, processes each
   * replica (create, recreate failed, wait for ready in OrderedReady),
   * scales down from the highest ordinal, then rolls out the update
   * revision. Returns the status even when a step failed.
   */
  private async syncPods(set: Obj, currentRevision: Obj, updateRevision: Obj, collisionCount: number, pods: Obj[]): Promise<{ status: SetStatus; error?: unknown }> {
    const p: Pass = {
      set,
      currentSet: applyRevision(set, currentRevision),
      updateSet: applyRevision(set, updateRevision),
      currentRevision,
      updateRevision,
      status: {
        observedGeneration: set.metadata.generation ?? 0,
        currentRevision: currentRevision.metadata.name,
        updateRevision: updateRevision.metadata.name,
        collisionCount,
        replicas: 0,
        readyReplicas: 0,
        availableReplicas: 0,
        currentReplicas: 0,
        updatedReplicas: 0,
      },
      replicas: [],
      condemned: [],
      monotonic: set.spec?.podManagementPolicy !== 'Parallel',
    };
    this.countPods(p, pods);
    const start = startOrdinal(set);
    const byIndex: (Obj | undefined)[] = new Array(replicasOf(set)).fill(undefined);
    for (const pod of pods) {
      const o = ordinalOf(pod);
      if (inOrdinalRange(pod, set)) byIndex[o - start] = pod;
      else if (o >= 0) p.condemned.push(pod);
    }
    p.replicas = byIndex.map((pod, i) => pod ?? newVersionedPod(p.currentSet, p.updateSet, currentRevision.metadata.name, updateRevision.metadata.name, i + start));
    p.condemned.sort((a, b) => ordinalOf(b) - ordinalOf(a));
    p.firstUnhealthy = p.replicas.find((pod) => !isHealthy(pod)) ?? [...p.condemned].reverse().find((pod) => !isHealthy(pod));
    // A set being deleted only gets its status updated.
    if (set.metadata.deletionTimestamp) return { status: p.status };
    try {
      const done = await this.runSteps(p);
      this.countPods(p, p.replicas, p.condemned);
      if (!done) return { status: p.status };
      if (set.spec?.updateStrategy?.type === 'OnDelete') return { status: p.status };
      await this.rollOut(p);
      return { status: p.status };
    } catch (error) {
      this.countPods(p, p.replicas, p.condemned);
      return { status: p.status, error };
    }
  }

  /** The replica, claim-fixing and condemned passes; false when one of them stopped early (monotonic wait). */
  private async runSteps(p: Pass): Promise<boolean> {
    if (await this.runForAll(p, p.replicas.length, (i) => this.processReplica(p, i))) return false;
    // upstream: claims of pods about to be removed get the owners the retention policy asks for first.
    const fixClaims = async (i: number) => {
      const pod = p.condemned[i]!;
      if (!this.claimsMatchRetentionPolicy(p.updateSet, pod)) await this.updateClaimsForRetentionPolicy(p.updateSet, pod);
      return false;
    };
    if (await this.runForAll(p, p.condemned.length, fixClaims)) return false;
    return !(await this.runForAll(p, p.condemned.length, (i) => this.processCondemned(p, i)));
  }

  /**
   * upstream runForAll: in OrderedReady, one at a time, stopping at the first
   * that must wait (true); in Parallel, all in slow-start batches.
   */
  private async runForAll(p: Pass, n: number, fn: (i: number) => Promise<boolean>): Promise<boolean> {
    if (p.monotonic) {
      for (let i = 0; i < n; i++) if (await fn(i)) return true;
      return false;
    }
    let next = 0;
    const errors: unknown[] = [];
    const { error } = await slowStartBatch(n, 1, async () => {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        errors.push(e);
        throw e;
      }
    });
    if (error) throw aggregate(errors);
    return false;
  }

  /** upstream processReplica (1.32): true when OrderedReady must stop here. */
  private async processReplica(p: Pass, i: number): Promise<boolean> {
    const { set } = p;
    let pod = p.replicas[i]!;
    // Pods that finished (failed, or evicted and stopped) are deleted and made anew.
    if (isFailed(pod) || isSucceeded(pod)) {
      const subject = this.subject(set);
      if (isFailed(pod)) {
        void this.events.event(subject, 'Warning', 'RecreatingFailedPod', `StatefulSet ${set.metadata.namespace}/${set.metadata.name} is recreating failed Pod ${pod.metadata.name}`);
      } else {
        void this.events.event(subject, 'Normal', 'RecreatingTerminatedPod', `StatefulSet ${set.metadata.namespace}/${set.metadata.name} is recreating terminated Pod ${pod.metadata.name}`);
      }
      await this.deletePod(set, pod);
      pod = p.replicas[i] = newVersionedPod(p.currentSet, p.updateSet, p.currentRevision.metadata.name, p.updateRevision.metadata.name, i + startOrdinal(set));
    }
    if (!isCreated(pod)) {
      // A claim still owned by an earlier pod of this name (Delete on scale-down) must go first.
      if (this.podClaimIsStale(set, pod)) return true;
      await this.createPod(set, pod);
      // upstream goes on with the object it sent (no status yet): the cache reports the created pod later.
      if (p.monotonic) return true;
    }
    // A pending pod may have lost a claim (deleted meanwhile): make it again.
    if (isPending(pod)) await this.createMissingClaims(set, pod);
    if (p.monotonic) {
      if (isTerminating(pod)) return true;
      if (!isRunningAndReady(pod)) return true;
      if (!isPodAvailable(pod, set.spec?.minReadySeconds ?? 0, this.now())) return true;
    }
    // Enforce identity, storage and claim ownership on the existing pod.
    if (identityMatches(set, pod) && storageMatches(set, pod) && this.claimsMatchRetentionPolicy(p.updateSet, pod)) return false;
    await this.updatePod(p.updateSet, structuredClone(pod));
    return false;
  }

  /** upstream processCondemned: removes a pod beyond the range; OrderedReady waits for termination and health. */
  private async processCondemned(p: Pass, i: number): Promise<boolean> {
    const pod = p.condemned[i]!;
    if (isTerminating(pod)) return p.monotonic;
    if (p.monotonic && pod !== p.firstUnhealthy) {
      if (!isRunningAndReady(pod)) return true;
      if (!isPodAvailable(pod, p.set.spec?.minReadySeconds ?? 0, this.now())) return true;
    }
    await this.deletePod(p.set, pod);
    return true;
  }

  /**
   * upstream's rolling update: from the highest ordinal down to the
   * partition, delete the first pod not at the update revision (it is
   * recreated at the update revision), waiting for unhealthy pods; with the
   * MaxUnavailableStatefulSet gate, up to maxUnavailable at once.
   */
  private async rollOut(p: Pass): Promise<void> {
    const ru = p.set.spec?.updateStrategy?.rollingUpdate;
    const updateMin = ru?.partition ?? 0;
    const updateName = p.updateRevision.metadata.name;
    if (this.maxUnavailableGate) {
      let maxUnavailable = 1;
      if (ru) maxUnavailable = Math.max(1, scaledValue(ru.maxUnavailable ?? 1, replicasOf(p.set), false));
      const unavailable = p.replicas.filter((pod) => !isHealthy(pod)).length;
      if (unavailable >= maxUnavailable) return;
      let toDelete = maxUnavailable - unavailable;
      for (let target = p.replicas.length - 1; target >= updateMin && toDelete > 0; target--) {
        const pod = p.replicas[target]!;
        if (podRevision(pod) === updateName || isTerminating(pod)) continue;
        await this.deletePod(p.set, pod, true);
        toDelete--;
        p.status.currentReplicas--;
      }
      return;
    }
    for (let target = p.replicas.length - 1; target >= updateMin; target--) {
      const pod = p.replicas[target]!;
      if (podRevision(pod) !== updateName && !isTerminating(pod)) {
        await this.deletePod(p.set, pod, true);
        p.status.currentReplicas--;
        return;
      }
      if (!isHealthy(pod)) return;
    }
  }

  private subject(set: Obj): ObjectLike {
    return { ...SET_API, metadata: set.metadata };
  }

  /** upstream recordPodEvent: `<verb> Pod <pod> in StatefulSet <set> successful|failed error: …`. */
  private podEvent(verb: string, set: Obj, pod: Obj, err?: unknown): void {
    const title = verb[0]!.toUpperCase() + verb.slice(1);
    if (!err) {
      void this.events.event(this.subject(set), 'Normal', `Successful${title}`, `${verb} Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} successful`);
    } else {
      void this.events.event(this.subject(set), 'Warning', `Failed${title}`, `${verb} Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} failed error: ${(err as Error).message ?? err}`);
    }
  }

  /** upstream recordClaimEvent. */
  private claimEvent(verb: string, set: Obj, pod: Obj, claim: Obj, err?: unknown): void {
    const title = verb[0]!.toUpperCase() + verb.slice(1);
    if (!err) {
      void this.events.event(this.subject(set), 'Normal', `Successful${title}`, `${verb} Claim ${claim.metadata.name} Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} success`);
    } else {
      void this.events.event(
        this.subject(set),
        'Warning',
        `Failed${title}`,
        `${verb} Claim ${claim.metadata.name} for Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} failed error: ${(err as Error).message ?? err}`,
      );
    }
  }

  /** upstream CreateStatefulPod: the claims first, then the pod, then the claims' owners per the retention policy. */
  private async createPod(set: Obj, pod: Obj): Promise<Obj> {
    try {
      await this.createClaims(set, pod);
    } catch (e) {
      this.podEvent('create', set, pod, e);
      throw e;
    }
    let created: Obj;
    try {
      created = await this.client.create<Obj>(R.pods, set.metadata.namespace, pod);
    } catch (e) {
      // An existing pod of that name is not news: the cache is behind, or a predecessor is terminating.
      if (!isStatus(e, 409)) this.podEvent('create', set, pod, e);
      throw e;
    }
    try {
      await this.updateClaimsForRetentionPolicy(set, created);
    } catch (e) {
      this.podEvent('update', set, pod, e);
      throw e;
    }
    this.podEvent('create', set, pod);
    return created;
  }

  /** upstream DeleteStatefulPod; `ignoreMissing` for the rolling update, where a pod already gone is fine. */
  private async deletePod(set: Obj, pod: Obj, ignoreMissing = false): Promise<void> {
    try {
      await this.client.delete(R.pods, pod.metadata.namespace, pod.metadata.name);
    } catch (e) {
      this.podEvent('delete', set, pod, e);
      if (ignoreMissing && isStatus(e, 404)) return;
      throw e;
    }
    this.podEvent('delete', set, pod);
  }

  /** upstream UpdateStatefulPod: restores identity, storage and claim owners; retries conflicts on a fresh copy. */
  private async updatePod(set: Obj, pod: Obj): Promise<void> {
    let attempted = false;
    for (let attempt = 0; ; attempt++) {
      let consistent = true;
      if (!identityMatches(set, pod)) {
        updateIdentity(set, pod);
        consistent = false;
      }
      try {
        if (!storageMatches(set, pod)) {
          updateStorage(set, pod);
          consistent = false;
          await this.createClaims(set, pod);
        }
        if (!this.claimsMatchRetentionPolicy(set, pod)) {
          await this.updateClaimsForRetentionPolicy(set, pod);
          consistent = false;
        }
      } catch (e) {
        this.podEvent('update', set, pod, e);
        throw e;
      }
      if (consistent) return;
      attempted = true;
      try {
        await this.client.update(R.pods, pod.metadata.namespace, pod);
        this.podEvent('update', set, pod);
        return;
      } catch (e) {
        const fresh = this.pods.get(pod.metadata.namespace, pod.metadata.name);
        if (isStatus(e, 409) && attempt < 4 && fresh) {
          pod = structuredClone(fresh);
          continue;
        }
        if (attempted) this.podEvent('update', set, pod, e);
        throw e;
      }
    }
  }

  /**
   * upstream createPersistentVolumeClaims: creates the pod's missing claims;
   * a claim being deleted is an error (the pod must wait for it to go).
   */
  private async createClaims(set: Obj, pod: Obj): Promise<void> {
    const errs: Error[] = [];
    for (const claim of claimsFor(set, ordinalOf(pod)).values()) {
      const existing: Obj | undefined = this.claims.get(claim.metadata.namespace, claim.metadata.name);
      if (existing) {
        if (existing.metadata?.deletionTimestamp) errs.push(new Error(`pvc ${claim.metadata.name} is being deleted`));
        continue;
      }
      try {
        await this.client.create(R.persistentvolumeclaims, claim.metadata.namespace, claim);
        this.claimEvent('create', set, pod, claim);
      } catch (e) {
        errs.push(new Error(`failed to create PVC ${claim.metadata.name}: ${(e as Error).message}`));
        if (!isStatus(e, 409)) this.claimEvent('create', set, pod, claim, e);
      }
    }
    const err = aggregate(errs);
    if (err) throw err;
  }

  /** upstream createMissingPersistentVolumeClaims: the claims, then their owners. */
  private async createMissingClaims(set: Obj, pod: Obj): Promise<void> {
    await this.createClaims(set, pod);
    try {
      await this.updateClaimsForRetentionPolicy(set, pod);
    } catch (e) {
      this.podEvent('update', set, pod, e);
      throw e;
    }
  }

  /** upstream ClaimsMatchRetentionPolicy: every existing claim of the pod has the owners the policy asks for. */
  private claimsMatchRetentionPolicy(set: Obj, pod: Obj): boolean {
    for (const t of (set.spec?.volumeClaimTemplates ?? []) as Obj[]) {
      const claim = this.claims.get(set.metadata.namespace, statefulClaimName(set, t, ordinalOf(pod)));
      if (claim && !isClaimOwnerUpToDate(claim, set, pod)) return false;
    }
    return true;
  }

  /** upstream UpdatePodClaimForRetentionPolicy: rewrites the owners of the pod's claims per the policy. */
  private async updateClaimsForRetentionPolicy(set: Obj, pod: Obj): Promise<void> {
    for (const t of (set.spec?.volumeClaimTemplates ?? []) as Obj[]) {
      const name = statefulClaimName(set, t, ordinalOf(pod));
      const cached: Obj | undefined = this.claims.get(set.metadata.namespace, name);
      if (!cached) continue; // picked up on a later pass
      if (hasUnexpectedController(cached, set, pod)) {
        void this.events.event(
          this.subject(set),
          'Warning',
          'ConflictingController',
          `PersistentVolumeClaim ${name} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim`,
        );
      }
      if (isClaimOwnerUpToDate(cached, set, pod)) continue;
      const claim = structuredClone(cached) as Obj;
      updateClaimOwnerRefs(claim, set, pod);
      try {
        await this.client.update(R.persistentvolumeclaims, claim.metadata.namespace, claim);
      } catch (e) {
        throw new Error(`could not update claim ${name} for delete policy ownerRefs: ${(e as Error).message}`);
      }
    }
  }

  /** upstream PodClaimIsStale: under whenScaled=Delete, a claim still owned by an earlier pod of this name blocks creation. */
  private podClaimIsStale(set: Obj, pod: Obj): boolean {
    if (retentionPolicy(set).whenScaled === 'Retain') return false;
    for (const claim of claimsFor(set, ordinalOf(pod)).values()) {
      const existing = this.claims.get(claim.metadata.namespace, claim.metadata.name);
      if (existing && hasStaleOwnerRef(existing, pod, POD_API)) return true;
    }
    return false;
  }

  /** upstream updateStatefulSetStatus: completes a finished rolling update and writes status when it changed. */
  private async writeStatus(set: Obj, status: SetStatus): Promise<void> {
    completeRollingUpdate(set, status);
    if (!inconsistentStatus(set, status)) return;
    let cur = set;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.update(R.statefulsets, cur.metadata.namespace, { ...cur, status: statusJson(status, cur.status?.conditions) }, { subresource: 'status' });
        return;
      } catch (e) {
        if (!isStatus(e, 409) || attempt >= 4) throw e;
        const fresh = await getFresh<Obj>(this.client, R.statefulsets, cur.metadata.namespace, cur.metadata.name);
        if (!fresh) return;
        cur = fresh;
      }
    }
  }

  /**
   * upstream truncateHistory: revisions neither current, nor update, nor
   * worn by a pod are deleted, oldest first, down to revisionHistoryLimit.
   */
  private async truncateHistory(set: Obj, pods: Obj[], revisions: Obj[], current?: Obj, update?: Obj): Promise<void> {
    const live = new Set<string>(pods.map(podRevision));
    if (current) live.add(current.metadata.name);
    if (update) live.add(update.metadata.name);
    const history = revisions.filter((r) => !live.has(r.metadata.name));
    const limit = set.spec?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    for (const r of revisionsToPrune(history, limit, () => false)) {
      try {
        await this.client.delete(R.controllerrevisions, r.metadata.namespace, r.metadata.name);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
  }
}

function selectorOf(set: Obj): LabelSelector | undefined {
  try {
    return selectorFromLabelSelector(set.spec?.selector);
  } catch {
    return undefined;
  }
}
