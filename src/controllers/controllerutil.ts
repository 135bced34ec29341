/**
 * Pieces the workload controllers share, after upstream's
 * pkg/controller/controller_utils.go and controller_ref_manager.go:
 * expectations (so a controller does not act twice on writes its informer
 * has not seen yet), controller references, adoption and release of
 * dependents, pod readiness and availability, building a pod from a
 * template, the ranking that picks which pods go first on scale-down, and
 * the pod-template hash.
 */
import { isStatus, type Client, type ResourceRef } from '../client/client.js';
import type { LabelSelector } from '../api/labels.js';

/** An ownerReference as stored in metadata.ownerReferences. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The object shape the helpers read (plain objects from informers). */
export interface ObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: any;
  spec?: any;
  status?: any;
}

/** How long an expectation is trusted before the controller acts anyway (upstream ExpectationsTimeout). */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60 * 1000;

interface Expectation {
  add: number;
  /** Keys (`namespace/name`) of pods whose deletion is expected (upstream UIDTrackingControllerExpectations). */
  deletions: Set<string>;
  at: number;
}

/**
 * Upstream's (UID-tracking) ControllerExpectations: per controller key, how
 * many creations and which deletions were issued but not yet observed in the
 * informer. A controller syncs its dependents only when they are satisfied.
 */
export class ControllerExpectations {
  private readonly items = new Map<string, Expectation>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when nothing is outstanding for `key`, or the expectation is older than the timeout. */
  satisfied(key: string): boolean {
    const e = this.items.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.deletions.size === 0) return true;
    return this.now() - e.at > EXPECTATIONS_TIMEOUT_MS;
  }

  /** Records that `n` creations were issued. */
  expectCreations(key: string, n: number): void {
    this.items.set(key, { add: n, deletions: this.items.get(key)?.deletions ?? new Set(), at: this.now() });
  }

  /** Records that these pods' deletions were issued. */
  expectDeletions(key: string, podKeys: readonly string[]): void {
    const e = this.items.get(key);
    this.items.set(key, { add: e?.add ?? 0, deletions: new Set([...(e?.deletions ?? []), ...podKeys]), at: this.now() });
  }

  /** One creation was seen (or will never happen: a failed or skipped create). */
  creationObserved(key: string): void {
    const e = this.items.get(key);
    if (e) e.add--;
  }

  /** The deletion of this pod was seen (or failed). */
  deletionObserved(key: string, podKey: string): void {
    this.items.get(key)?.deletions.delete(podKey);
  }

  /** Forgets everything about `key` (its controller object is gone). */
  delete(key: string): void {
    this.items.delete(key);
  }
}

/** upstream metav1.NewControllerRef: the reference a controller puts on what it creates or adopts. */
export function newControllerRef(owner: ObjectLike, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** The ownerReference with controller=true, if any (upstream metav1.GetControllerOf). */
export function getControllerOf(obj: ObjectLike): OwnerReference | undefined {
  return (obj.metadata?.ownerReferences as OwnerReference[] | undefined)?.find((r) => r.controller === true);
}

/**
 * Which controllers a pod update concerns, as the workload controllers'
 * updatePod handlers decide upstream: the old controller when the
 * controllerRef changed, the current one (`controller`) when there is one,
 * else — for an orphan whose labels or ownership changed — every controller
 * whose selector matches it (it may be adopted).
 */
export function podUpdateOwners<P extends ObjectLike, T>(
  old: P,
  pod: P,
  resolve: (namespace: string, ref: OwnerReference) => T | undefined,
  matching: (pod: P) => T[],
): { owners: T[]; controller?: T } {
  const ref = getControllerOf(pod);
  const oldRef = getControllerOf(old);
  const refChanged = !jsonEqual(ref ?? null, oldRef ?? null);
  const owners: T[] = [];
  if (refChanged && oldRef) {
    const prev = resolve(old.metadata?.namespace ?? '', oldRef);
    if (prev) owners.push(prev);
  }
  if (ref) {
    const controller = resolve(pod.metadata?.namespace ?? '', ref);
    if (controller) owners.push(controller);
    return { owners, controller };
  }
  if (refChanged || !jsonEqual(old.metadata?.labels ?? {}, pod.metadata?.labels ?? {})) owners.push(...matching(pod));
  return { owners };
}

/** A pod that is neither finished nor being deleted (upstream controller.IsPodActive). */
export function isPodActive(pod: ObjectLike): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

/** The pod's Ready condition, if any. */
export function podReadyCondition(pod: ObjectLike): { status?: string; lastTransitionTime?: string } | undefined {
  return (pod.status?.conditions as any[] | undefined)?.find((c) => c?.type === 'Ready');
}

/** upstream podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(pod: ObjectLike): boolean {
  return podReadyCondition(pod)?.status === 'True';
}

/** upstream podutil.IsPodAvailable: ready, and (with minReadySeconds) ready for at least that long. */
export function isPodAvailable(pod: ObjectLike, minReadySeconds: number, now: Date): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const t = Date.parse(podReadyCondition(pod)?.lastTransitionTime ?? '');
  return !Number.isNaN(t) && t + minReadySeconds * 1000 < now.getTime();
}

/** upstream getPodsPrefix: `<controller>-` when that is a valid generateName, else the controller's name. */
function podsPrefix(controllerName: string): string {
  const prefix = `${controllerName}-`;
  // A generated name adds 5 characters and must stay a DNS subdomain (253 characters).
  return prefix.length + 5 <= 253 ? prefix : controllerName;
}

/**
 * upstream GetPodFromTemplate: a pod to create for `owner` from its template —
 * labels, annotations and finalizers copied, `generateName: <owner>-`, the
 * controller reference, and the template's spec.
 */
export function podFromTemplate(template: any, owner: ObjectLike, ref: OwnerReference): any {
  const md = template?.metadata ?? {};
  const labels = { ...(md.labels ?? {}) };
  if (Object.keys(labels).length === 0) throw new Error('unable to create pods, no labels');
  const metadata: any = { generateName: podsPrefix(owner.metadata.name), labels, ownerReferences: [ref] };
  if (md.annotations) metadata.annotations = { ...md.annotations };
  if (md.finalizers) metadata.finalizers = [...md.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(template?.spec ?? {}) };
}

/**
 * upstream slowStartBatch: runs `count` calls of `fn` in batches of 1, 2, 4, …
 * and stops at the first batch with an error, so a failing create does not
 * flood the API server. Returns how many calls succeeded and the first error.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: () => Promise<void>): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initialBatchSize); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += results.length - results.filter((r) => r.status === 'rejected').length;
    if (failed) return { successes, error: failed.reason };
    remaining -= batch;
  }
  return { successes };
}

/** How a controller adopts and releases its dependents (upstream BaseControllerRefManager). */
export interface ClaimOptions {
  client: Client;
  /** The dependents' resource (pods for a ReplicaSet, replicasets for a Deployment). */
  ref: ResourceRef;
  /** The controller object and the reference it sets on what it adopts. */
  owner: ObjectLike;
  ownerRef: OwnerReference;
  selector: LabelSelector;
  /** Further conditions a dependent must meet besides the selector (upstream ClaimPods' filters, e.g. a StatefulSet's own pod names). */
  filter?: (obj: ObjectLike) => boolean;
  /**
   * upstream RecheckDeletionTimestamp: before the first adoption, re-reads the
   * owner uncached; adoption is refused if it is gone, replaced or being deleted.
   */
  canAdopt: () => Promise<boolean>;
}

/**
 * upstream ClaimObject over a list: keeps what the owner controls and still
 * matches, adopts matching orphans (patching in the controller reference) and
 * releases controlled objects that stopped matching. Returns the claimed
 * objects (adopted ones as the server returned them). Objects that vanished
 * meanwhile are skipped, as upstream.
 */
export async function claimObjects<T extends ObjectLike>(candidates: readonly T[], opts: ClaimOptions): Promise<T[]> {
  const claimed: T[] = [];
  const ownerUid = opts.owner.metadata.uid;
  const ownerDeleting = !!opts.owner.metadata.deletionTimestamp;
  let adoptable: boolean | undefined;
  let firstError: unknown;
  for (const obj of candidates) {
    const ref = getControllerOf(obj);
    const matches = opts.selector.matches(obj.metadata?.labels) && (opts.filter?.(obj) ?? true);
    try {
      if (ref) {
        if (ref.uid !== ownerUid) continue; // someone else's
        if (matches) {
          claimed.push(obj);
          continue;
        }
        if (ownerDeleting) continue; // a deleting owner keeps what it has; the garbage collector acts
        await releaseObject(opts, obj);
        continue;
      }
      // An orphan: adopt it if it matches and neither side is going away.
      if (ownerDeleting || !matches || obj.metadata?.deletionTimestamp) continue;
      adoptable ??= await opts.canAdopt();
      if (!adoptable) continue;
      claimed.push(await adoptObject(opts, obj));
    } catch (e) {
      if (isStatus(e, 404)) continue;
      firstError ??= e;
    }
  }
  if (firstError) throw firstError;
  return claimed;
}

async function adoptObject<T extends ObjectLike>(opts: ClaimOptions, obj: T): Promise<T> {
  // A strategic merge patch adds the reference (ownerReferences merge by uid); the object's uid makes it
  // apply only to the object that was seen (upstream ownerRefControllerPatch).
  const patch = { metadata: { ownerReferences: [opts.ownerRef], uid: obj.metadata.uid } };
  return opts.client.patch<T>(opts.ref, obj.metadata.namespace ?? '', obj.metadata.name, 'strategic', patch);
}

async function releaseObject(opts: ClaimOptions, obj: ObjectLike): Promise<void> {
  const patch = { metadata: { ownerReferences: [{ $patch: 'delete', uid: opts.ownerRef.uid }], uid: obj.metadata.uid } };
  try {
    await opts.client.patch(opts.ref, obj.metadata.namespace ?? '', obj.metadata.name, 'strategic', patch);
  } catch (e) {
    // Gone, or its uid no longer matches (replaced): nothing to release (upstream ignores NotFound and Invalid).
    if (isStatus(e, 404) || isStatus(e, 422)) return;
    throw e;
  }
}

/** upstream podPhaseToOrdinal: Pending < Unknown < Running. */
const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function timeOf(s: string | undefined): number {
  const t = Date.parse(s ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** upstream afterOrZero: a zero time sorts first, else the later one does. */
function afterOrZero(t1: number, t2: number): boolean {
  if (t1 === 0 || t2 === 0) return t1 === 0;
  return t1 > t2;
}

/** upstream logarithmicRankDiff: compares ages on a log2 scale of nanoseconds, so similar ages rank equal. */
function logarithmicRankDiff(t1: number, t2: number, now: number): number {
  const rank = (t: number) => {
    const d = (now - t) * 1e6;
    return d > 0 ? Math.floor(Math.log2(d)) : -1;
  };
  return rank(t1) - rank(t2);
}

function maxContainerRestarts(pod: ObjectLike): number {
  let max = 0;
  for (const s of (pod.status?.containerStatuses as any[] | undefined) ?? []) max = Math.max(max, s?.restartCount ?? 0);
  return max;
}

function deletionCost(pod: ObjectLike): number {
  const v = Number(pod.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost']);
  return Number.isInteger(v) ? v : 0;
}

/**
 * upstream ActivePodsWithRanks.Less (LogarithmicScaleDown and PodDeletionCost
 * on, as in 1.32): true when pod `a` should be deleted before pod `b`.
 * Unscheduled < scheduled; Pending < Unknown < Running; not ready < ready;
 * lower deletion cost first; more pods of the same owner family on its node
 * first; ready for a shorter time first; more restarts first; newer first.
 */
export function deleteBefore(a: ObjectLike, rankA: number, b: ObjectLike, rankB: number, now: number): boolean {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '';
  const pa = PHASE_ORDINAL[a.status?.phase] ?? 0;
  const pb = PHASE_ORDINAL[b.status?.phase] ?? 0;
  if (pa !== pb) return pa < pb;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return !ra;
  const ca = deletionCost(a);
  const cb = deletionCost(b);
  if (ca !== cb) return ca < cb;
  if (rankA !== rankB) return rankA > rankB;
  const uidBefore = () => String(a.metadata?.uid ?? '') < String(b.metadata?.uid ?? '');
  if (ra && rb) {
    const ta = timeOf(podReadyCondition(a)?.lastTransitionTime);
    const tb = timeOf(podReadyCondition(b)?.lastTransitionTime);
    if (ta !== tb) {
      if (ta === 0 || tb === 0) return afterOrZero(ta, tb);
      const d = logarithmicRankDiff(ta, tb, now);
      return d === 0 ? uidBefore() : d < 0;
    }
  }
  const rsa = maxContainerRestarts(a);
  const rsb = maxContainerRestarts(b);
  if (rsa !== rsb) return rsa > rsb;
  const ta = timeOf(a.metadata?.creationTimestamp);
  const tb = timeOf(b.metadata?.creationTimestamp);
  if (ta !== tb) {
    if (ta === 0 || tb === 0) return afterOrZero(ta, tb);
    const d = logarithmicRankDiff(ta, tb, now);
    return d === 0 ? uidBefore() : d < 0;
  }
  return false;
}

/**
 * upstream getPodsToDelete: the `diff` pods to remove from `pods`, ranked by
 * deleteBefore; a pod's rank is the number of active `relatedPods` (pods of
 * the same owner family) on its node, so doubled-up nodes lose pods first.
 */
export function podsToDelete<T extends ObjectLike>(pods: readonly T[], relatedPods: readonly ObjectLike[], diff: number, now: number): T[] {
  if (diff >= pods.length) return [...pods];
  const onNode = new Map<string, number>();
  for (const p of relatedPods) {
    if (!isPodActive(p)) continue;
    const n = p.spec?.nodeName ?? '';
    onNode.set(n, (onNode.get(n) ?? 0) + 1);
  }
  const ranked = pods.map((pod) => ({ pod, rank: onNode.get(pod.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => (deleteBefore(x.pod, x.rank, y.pod, y.rank, now) ? -1 : deleteBefore(y.pod, y.rank, x.pod, x.rank, now) ? 1 : 0));
  return ranked.slice(0, diff).map((r) => r.pod);
}

/** The alphabet of upstream rand.SafeEncodeString: no vowels, no look-alike characters. */
const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** upstream rand.SafeEncodeString: maps every byte of `s` into the safe alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += SAFE_ALPHANUMS[b % SAFE_ALPHANUMS.length];
  return out;
}

/** 32-bit FNV-1a over bytes. */
function fnv32a(bytes: Uint8Array, hash = 0x811c9dc5): number {
  let h = hash;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as any)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The `pod-template-hash` of a template (upstream controller.ComputeHash):
 * FNV-32a, then the collision count as four little-endian bytes when set,
 * then SafeEncodeString of the decimal sum — so at most 10 characters from
 * `bcdfghjklmnpqrstvwxz2456789`. Upstream hashes Go's deep-print of the
 * template, which cannot be reproduced here; Kite hashes the template's
 * key-sorted JSON instead, so values differ from upstream's but are stable.
 */
export function computeHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(Buffer.from(stableJson(template ?? {}), 'utf8'));
  if (collisionCount !== undefined && collisionCount !== null) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(collisionCount >>> 0);
    h = fnv32a(b, h);
  }
  return safeEncodeString(String(h));
}

/** A condition of a status (ReplicaSet, Deployment, ReplicationController). */
export interface StatusCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/** RFC 3339 at second precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Structural equality for plain JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

/** The object (of `ref`) fresh from the server, or undefined when it is gone. */
export async function getFresh<T>(client: Client, ref: ResourceRef, namespace: string, name: string): Promise<T | undefined> {
  try {
    return await client.get<T>(ref, namespace, name);
  } catch (e) {
    if (isStatus(e, 404)) return undefined;
    throw e;
  }
}

/** upstream HasStatusCause(err, NamespaceTerminatingCause), also recognizing the message Kite's admission uses. */
export function isNamespaceTerminating(e: unknown): boolean {
  if (!isStatus(e, 403)) return false;
  if (e.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')) return true;
  return /because it is being terminated/.test(e.message);
}
