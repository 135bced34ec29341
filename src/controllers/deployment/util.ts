/**
 * The rules of Deployment rollouts as plain functions, after upstream
 * pkg/controller/deployment/util/deployment_util.go and the sorting helpers
 * of controller_utils.go: annotations and revisions, maxSurge/maxUnavailable
 * arithmetic, how many replicas a new ReplicaSet may have, proportional
 * scaling, and the Progressing/Available conditions.
 */
import { jsonEqual, rfc3339, type ObjectLike, type StatusCondition } from '../controllerutil.js';

/** The revision a ReplicaSet (and its Deployment) stands for; `kubectl rollout history` lists it. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** Earlier revisions a ReplicaSet served (it was rolled back to). */
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
/** The Deployment's spec.replicas when the ReplicaSet was last scaled. */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
/** spec.replicas + maxSurge when the ReplicaSet was last scaled (drives proportional scaling). */
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
/** The label that tells a Deployment's ReplicaSets (and their pods) apart. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** Longest revision-history annotation kept (upstream maxRevHistoryLengthInChars). */
export const MAX_REV_HISTORY_LENGTH = 2000;

/** Condition reasons of upstream deployment_util.go. */
export const Reasons = {
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  FailedRSCreate: 'ReplicaSetCreateError',
  NewReplicaSet: 'NewReplicaSetCreated',
  FoundNewRS: 'FoundNewReplicaSet',
  NewRSAvailable: 'NewReplicaSetAvailable',
  TimedOut: 'ProgressDeadlineExceeded',
  PausedDeploy: 'DeploymentPaused',
  ResumedDeploy: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

/** Deployment annotations never copied onto ReplicaSets (upstream annotationsToSkip). */
const ANNOTATIONS_TO_SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
]);

/** A Deployment or ReplicaSet as the controller reads it. */
export type Obj = ObjectLike & { metadata: any; spec: any };

/** spec.replicas with the API default of 1. */
export function replicasOf(o: Obj): number {
  return o.spec?.replicas ?? 1;
}

/**
 * upstream intstr.GetScaledValueFromIntOrPercent: an int as is, a percentage
 * of `total` rounded up or down. Throws on a malformed value.
 */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(-?\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value for IntOrString: invalid value ${JSON.stringify(v)}`);
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/** True for the RollingUpdate strategy (the default). */
export function isRollingUpdate(d: Obj): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** upstream ResolveFenceposts: surge rounds up, unavailable rounds down; both zero means unavailable 1. */
export function resolveFenceposts(maxSurge: number | string | undefined, maxUnavailable: number | string | undefined, desired: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** upstream MaxSurge: how many pods above spec.replicas a rolling update may run. */
export function maxSurge(d: Obj): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicasOf(d)).surge;
}

/** upstream MaxUnavailable: how many pods below spec.replicas a rolling update may go (at most spec.replicas). */
export function maxUnavailable(d: Obj): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const { unavailable } = resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicas);
  return Math.min(unavailable, replicas);
}

/** The revision annotation as a number (0 when absent or malformed, as upstream's MaxRevision skips it). */
export function revisionOf(o: Obj): number {
  const v = o.metadata?.annotations?.[REVISION_ANNOTATION];
  if (v === undefined) return 0;
  const n = Number(v);
  return Number.isInteger(n) ? n : 0;
}

/** upstream MaxRevision. */
export function maxRevision(rss: readonly Obj[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

function withoutHash(template: any): any {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

/** upstream EqualIgnoreHash: two pod templates are the same but for the pod-template-hash label. */
export function equalIgnoreHash(a: any, b: any): boolean {
  return jsonEqual(withoutHash(a), withoutHash(b));
}

function created(o: Obj): number {
  const t = Date.parse(o.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** upstream ReplicaSetsByCreationTimestamp: oldest first, then by name. */
export function byCreation(a: Obj, b: Obj): number {
  return created(a) - created(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name));
}

/** upstream ReplicaSetsBySizeOlder: larger first, then older first. */
export function bySizeOlder(a: Obj, b: Obj): number {
  return replicasOf(b) - replicasOf(a) || byCreation(a, b);
}

/** upstream ReplicaSetsBySizeNewer: larger first, then newer first. */
export function bySizeNewer(a: Obj, b: Obj): number {
  return replicasOf(b) - replicasOf(a) || byCreation(b, a);
}

/** upstream ReplicaSetsByRevision: lowest revision first, then oldest. */
export function byRevision(a: Obj, b: Obj): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

/** upstream FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's. */
export function findNewReplicaSet(d: Obj, rsList: readonly Obj[]): Obj | undefined {
  return [...rsList].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

/** upstream FindOldReplicaSets: every other ReplicaSet (all of them, and those with replicas). */
export function findOldReplicaSets(d: Obj, rsList: readonly Obj[]): { oldRSs: Obj[]; allOldRSs: Obj[] } {
  const newRS = findNewReplicaSet(d, rsList);
  const allOldRSs = rsList.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
  return { oldRSs: allOldRSs.filter((rs) => replicasOf(rs) !== 0), allOldRSs };
}

/** upstream FilterActiveReplicaSets: those with spec.replicas > 0. */
export function filterActive(rss: readonly (Obj | undefined)[]): Obj[] {
  return rss.filter((rs): rs is Obj => !!rs && replicasOf(rs) > 0);
}

function present(rss: readonly (Obj | undefined)[]): Obj[] {
  return rss.filter((rs): rs is Obj => !!rs);
}

/** upstream GetReplicaCountForReplicaSets: the sum of spec.replicas. */
export function replicaCount(rss: readonly (Obj | undefined)[]): number {
  return present(rss).reduce((n, rs) => n + replicasOf(rs), 0);
}

/** upstream GetActualReplicaCountForReplicaSets: the sum of status.replicas. */
export function actualReplicaCount(rss: readonly (Obj | undefined)[]): number {
  return present(rss).reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0);
}

/** upstream GetReadyReplicaCountForReplicaSets. */
export function readyReplicaCount(rss: readonly (Obj | undefined)[]): number {
  return present(rss).reduce((n, rs) => n + (rs.status?.readyReplicas ?? 0), 0);
}

/** upstream GetAvailableReplicaCountForReplicaSets. */
export function availableReplicaCount(rss: readonly (Obj | undefined)[]): number {
  return present(rss).reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);
}

/** upstream FindActiveOrLatest: the only active ReplicaSet, or the newest when none is active; undefined when several are. */
export function findActiveOrLatest(newRS: Obj | undefined, oldRSs: readonly Obj[]): Obj | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = filterActive([...newestFirst, newRS]);
  if (active.length === 0) return newRS ?? newestFirst[0];
  return active.length === 1 ? active[0] : undefined;
}

function intAnnotation(o: Obj, key: string): number | undefined {
  const v = o.metadata?.annotations?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** The desired-replicas annotation, if present and valid. */
export function desiredReplicasAnnotation(rs: Obj): number | undefined {
  return intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
}

/** upstream IsSaturated: the new ReplicaSet runs and has available all the Deployment wants. */
export function isSaturated(d: Obj, rs: Obj | undefined): boolean {
  if (!rs) return false;
  const desired = desiredReplicasAnnotation(rs);
  if (desired === undefined) return false;
  const want = replicasOf(d);
  return replicasOf(rs) === want && desired === want && (rs.status?.availableReplicas ?? 0) === want;
}

/** upstream ReplicasAnnotationsNeedUpdate. */
export function replicasAnnotationsNeedUpdate(rs: Obj, desired: number, max: number): boolean {
  const a = rs.metadata?.annotations;
  return !a || a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
}

/** upstream SetReplicasAnnotations (mutates `rs`): true when something changed. */
export function setReplicasAnnotations(rs: Obj, desired: number, max: number): boolean {
  rs.metadata.annotations ??= {};
  const a = rs.metadata.annotations;
  let changed = false;
  if (a[DESIRED_REPLICAS_ANNOTATION] !== String(desired)) {
    a[DESIRED_REPLICAS_ANNOTATION] = String(desired);
    changed = true;
  }
  if (a[MAX_REPLICAS_ANNOTATION] !== String(max)) {
    a[MAX_REPLICAS_ANNOTATION] = String(max);
    changed = true;
  }
  return changed;
}

/**
 * upstream SetNewReplicaSetAnnotations (mutates `rs`): copies the Deployment's
 * annotations (e.g. `kubernetes.io/change-cause`, which `rollout history`
 * shows), raises the revision to `newRevision` (keeping the old one in
 * revision-history when rolling back to this set), and for a set about to be
 * created adds the replica annotations. True when something changed.
 */
export function setNewReplicaSetAnnotations(d: Obj, rs: Obj, newRevision: number, exists: boolean): boolean {
  rs.metadata.annotations ??= {};
  const a = rs.metadata.annotations;
  let changed = false;
  for (const [k, v] of Object.entries((d.metadata?.annotations ?? {}) as Record<string, string>)) {
    if (ANNOTATIONS_TO_SKIP.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const hadRevision = Object.hasOwn(a, REVISION_ANNOTATION);
  const oldRevision: string | undefined = a[REVISION_ANNOTATION];
  const oldInt = hadRevision ? Number(oldRevision) : 0;
  if (hadRevision && !Number.isInteger(oldInt)) return false; // upstream: an unparsable revision is left alone
  if (oldInt < newRevision) {
    a[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (hadRevision) {
      const history: string = a[REVISION_HISTORY_ANNOTATION] ?? '';
      if (history === '') a[REVISION_HISTORY_ANNOTATION] = oldRevision;
      else {
        // Drop the oldest entries so the annotation stays under its length limit.
        let parts = history.split(',');
        let total = history.length + String(oldRevision).length + 1;
        while (total > MAX_REV_HISTORY_LENGTH && parts.length) total -= parts.shift()!.length + 1;
        if (total <= MAX_REV_HISTORY_LENGTH) a[REVISION_HISTORY_ANNOTATION] = [...parts, oldRevision].join(',');
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/**
 * upstream NewRSNewReplicas: how far the new ReplicaSet may grow now —
 * RollingUpdate: up to spec.replicas + maxSurge pods in all; Recreate: all at once.
 */
export function newRSNewReplicas(d: Obj, allRSs: readonly (Obj | undefined)[], newRS: Obj): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const want = replicasOf(d);
  const surge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', want, true);
  const current = replicaCount(allRSs);
  const maxTotal = want + surge;
  if (current >= maxTotal) return replicasOf(newRS);
  const up = Math.min(maxTotal - current, want - replicasOf(newRS));
  return replicasOf(newRS) + up;
}

/** Go's math.Round: half away from zero. */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** upstream getReplicaSetFraction: this set's share of a scaling event, from its max-replicas annotation. */
function replicaSetFraction(rs: Obj, d: Obj): number {
  if (replicasOf(d) === 0) return -replicasOf(rs);
  const deploymentReplicas = replicasOf(d) + maxSurge(d);
  const annotated = intAnnotation(rs, MAX_REPLICAS_ANNOTATION) ?? d.status?.replicas ?? 0;
  if (!annotated) return 0;
  return roundHalfAway((replicasOf(rs) * deploymentReplicas) / annotated) - replicasOf(rs);
}

/** upstream GetProportion: how many of the replicas to add (or remove) this ReplicaSet takes. */
export function getProportion(rs: Obj | undefined, d: Obj, toAdd: number, added: number): number {
  if (!rs || replicasOf(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/** upstream HasProgressDeadline: progressDeadlineSeconds set and not MaxInt32. */
export function hasProgressDeadline(d: Obj): boolean {
  const s = d.spec?.progressDeadlineSeconds;
  return s !== undefined && s !== null && s !== 2147483647;
}

/** upstream HasRevisionHistoryLimit. */
export function hasRevisionHistoryLimit(d: Obj): boolean {
  const l = d.spec?.revisionHistoryLimit;
  return l !== undefined && l !== null && l !== 2147483647;
}

/** upstream NewDeploymentCondition: both timestamps now. */
export function newCondition(type: string, status: string, reason: string, message: string, now: Date): StatusCondition {
  const t = rfc3339(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

/** The condition of this type, if any. */
export function getCondition(status: any, type: string): StatusCondition | undefined {
  return (status?.conditions as StatusCondition[] | undefined)?.find((c) => c.type === type);
}

/**
 * upstream SetDeploymentCondition (mutates `status`): no change when status and
 * reason are the same; the transition time is kept when only the reason changes.
 */
export function setCondition(status: any, cond: StatusCondition): void {
  const cur = getCondition(status, cond.type);
  if (cur && cur.status === cond.status && cur.reason === cond.reason) return;
  const next = { ...cond };
  if (cur && cur.status === cond.status) next.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c: StatusCondition) => c.type !== cond.type), next];
}

/** upstream RemoveDeploymentCondition (mutates `status`). */
export function removeCondition(status: any, type: string): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((c: StatusCondition) => c.type !== type);
  if (status.conditions.length === 0) delete status.conditions;
}

/** upstream DeploymentComplete: every replica updated and available, and the newest spec observed. */
export function deploymentComplete(d: Obj, st: any): boolean {
  const want = replicasOf(d);
  return (st.updatedReplicas ?? 0) === want && (st.replicas ?? 0) === want && (st.availableReplicas ?? 0) === want && (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** upstream DeploymentProgressing: more updated, ready or available pods, or fewer old ones, than last time. */
export function deploymentProgressing(d: Obj, st: any): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (st.replicas ?? 0) - (st.updatedReplicas ?? 0);
  return (
    (st.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (st.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (st.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** upstream DeploymentTimedOut: no progress for progressDeadlineSeconds since the Progressing condition was last updated. */
export function deploymentTimedOut(d: Obj, st: any, now: Date): boolean {
  if (!hasProgressDeadline(d)) return false;
  const cond = getCondition(st, 'Progressing');
  if (!cond) return false;
  if (cond.reason === Reasons.NewRSAvailable) return false;
  if (cond.reason === Reasons.TimedOut) return true;
  const from = Date.parse(cond.lastUpdateTime ?? '');
  if (Number.isNaN(from)) return false;
  return from + d.spec.progressDeadlineSeconds * 1000 < now.getTime();
}

/** A Deployment status as Go serializes it: every count is `omitempty`. */
export function normalizeStatus(st: any): any {
  const out: any = {};
  for (const k of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas']) if (st?.[k]) out[k] = st[k];
  if (st?.conditions?.length) out.conditions = st.conditions;
  if (st?.collisionCount !== undefined && st?.collisionCount !== null) out.collisionCount = st.collisionCount;
  return out;
}
