/**
 * The Job controller (upstream pkg/controller/job, 1.32 with its default
 * feature gates) and the TTL-after-finished controller
 * (pkg/controller/ttlafterfinished).
 *
 * Pods are created from `spec.template` with the tracking finalizer
 * `batch.kubernetes.io/job-tracking`; a finished pod is first recorded in
 * `status.uncountedTerminatedPods`, then its finalizer is removed, then it is
 * moved into the `succeeded`/`failed` counters — so a pod deleted right after
 * it finished is still counted. Terminal conditions come in two steps as in
 * 1.32: `SuccessCriteriaMet`/`FailureTarget` first, `Complete`/`Failed` once
 * no pod of the Job is still terminating.
 */
import { R, isStatus, type Client } from '../client/client.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import type { InformerFactory } from '../client/factory.js';
import { WorkQueue } from '../client/workqueue.js';
import { EventRecorder } from '../client/events.js';
import { selectorFromLabelSelector } from '../api/labels.js';
import { isDNS1123Subdomain } from '../api/names.js';
import { ControllerExpectations, getControllerOf, isPodActive, isPodReady, newControllerRef, rfc3339 } from './controllerutil.js';

type Obj = Record<string, any>;

/** Where controllers read the time (injectable so tests need not wait). */
export interface Clock {
  now(): Date;
}

/** The real clock. */
export const realClock: Clock = { now: () => new Date() };

/** The finalizer that keeps a Job's pod until the controller has counted it. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** Annotation and label carrying an Indexed Job pod's completion index. */
export const JOB_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
/** Annotation with the failures seen so far for the index of a pod (backoffLimitPerIndex). */
export const JOB_INDEX_FAILURE_COUNT = 'batch.kubernetes.io/job-index-failure-count';
/** Annotation with the ignored failures seen so far for the index of a pod. */
export const JOB_INDEX_IGNORED_FAILURE_COUNT = 'batch.kubernetes.io/job-index-ignored-failure-count';

const COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';
const UNKNOWN_INDEX = -1;
/** Upstream MaxUncountedPods and MaxPodCreateDeletePerSync. */
const MAX_UNCOUNTED_PODS = 500;
const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
/** Upstream SlowStartInitialBatchSize. */
const SLOW_START_INITIAL_BATCH = 1;
/** names.MaxGeneratedNameLength: 63 less the 5 random characters. */
const MAX_GENERATED_NAME_LENGTH = 58;

function ms(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

// ---------------------------------------------------------------------------
// Job helpers (upstream pkg/controller/job/util and friends)

function condition(job: Obj, type: string): Obj | undefined {
  return (job.status?.conditions ?? []).find((c: Obj) => c.type === type);
}

function conditionTrue(job: Obj, type: string): boolean {
  return condition(job, type)?.status === 'True';
}

/** True once a Job has its terminal Complete or Failed condition. */
export function isJobFinished(job: Obj): boolean {
  return conditionTrue(job, 'Complete') || conditionTrue(job, 'Failed');
}

function isIndexed(job: Obj): boolean {
  return job.spec?.completionMode === 'Indexed';
}

function suspended(job: Obj): boolean {
  return job.spec?.suspend === true;
}

function hasBackoffLimitPerIndex(job: Obj): boolean {
  return typeof job.spec?.backoffLimitPerIndex === 'number';
}

/** podReplacementPolicy Failed (the default with a podFailurePolicy): replace pods only once they are Failed. */
function onlyReplaceFailedPods(job: Obj): boolean {
  return job.spec?.podReplacementPolicy === 'Failed' || !!job.spec?.podFailurePolicy;
}

function hasFinalizer(pod: Obj): boolean {
  return (pod.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
}

function isTerminal(pod: Obj): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function isTerminating(pod: Obj): boolean {
  return !isTerminal(pod) && !!pod.metadata?.deletionTimestamp;
}

/** isPodFailed: Failed, or (unless only failed pods are replaced) deleted before it succeeded. */
function isPodFailed(pod: Obj, job: Obj): boolean {
  if (pod.status?.phase === 'Failed') return true;
  if (onlyReplaceFailedPods(job)) return false;
  return !!pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded';
}

function completionIndex(pod: Obj): number {
  const v = pod.metadata?.annotations?.[JOB_COMPLETION_INDEX];
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return UNKNOWN_INDEX;
  return Number(v);
}

function nonNegInt(v: unknown): number {
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return 0;
  const n = Number(v);
  return n > 2147483647 ? 0 : n;
}

/** When a pod finished: its last container exit, else when it stopped being ready, else its deletion, else now. */
function finishedTime(pod: Obj, now: number): number {
  let latest: number | undefined;
  for (const cs of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
    const t = ms(cs.state?.terminated?.finishedAt);
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  if (latest !== undefined) return latest;
  const ready = (pod.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready' && c.status === 'False');
  return ms(ready?.lastTransitionTime) ?? ms(pod.metadata?.deletionTimestamp) ?? now;
}

// ---------------------------------------------------------------------------
// Ordered intervals of indexes ("0-2,4,6,7"), upstream orderedIntervals

/** A closed range of completion indexes. */
type Interval = [first: number, last: number];

function mergeIntervals(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  const push = (iv: Interval) => {
    const last = out[out.length - 1];
    if (!last || iv[0] > last[1] + 1) out.push([iv[0], iv[1]]);
    else if (last[1] < iv[1]) last[1] = iv[1];
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) push(a[i]![0] < b[j]![0] ? a[i++]! : b[j++]!);
  while (i < a.length) push(a[i++]!);
  while (j < b.length) push(b[j++]!);
  return out;
}

function withIndexes(iv: Interval[], indexes: number[]): Interval[] {
  return mergeIntervals(
    iv,
    [...new Set(indexes)].sort((x, y) => x - y).map((x) => [x, x] as Interval),
  );
}

function intervalsTotal(iv: Interval[]): number {
  return iv.reduce((n, [a, b]) => n + b - a + 1, 0);
}

function intervalsHave(iv: Interval[], ix: number): boolean {
  return iv.some(([a, b]) => a <= ix && ix <= b);
}

/** Formats indexes as upstream does: ranges of three or more as `a-b`, pairs as `a,b`. */
export function formatIndexes(iv: Interval[]): string {
  return iv.map(([a, b]) => (b === a ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`)).join(',');
}

/** Parses `status.completedIndexes`-style text, dropping indexes ≥ completions. */
export function parseIndexes(s: string | undefined, completions: number): Interval[] {
  if (!s) return [];
  const out: Interval[] = [];
  for (const part of s.split(',')) {
    const [lo, hi] = part.split('-');
    if (!lo || !/^\d+$/.test(lo)) continue;
    const first = Number(lo);
    if (first >= completions) break;
    let last = first;
    if (hi !== undefined) {
      if (!/^\d+$/.test(hi)) continue;
      last = Math.min(Number(hi), completions - 1);
    }
    const prev = out[out.length - 1];
    if (prev && prev[1] === first - 1) prev[1] = last;
    else out.push([first, last]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pod failure policy (pod_failure_policy.go)

interface PolicyMatch {
  /** Set when a FailJob rule matched: the Job's failure message. */
  failJobMessage?: string;
  /** False when an Ignore rule matched: the failure does not count toward backoffLimit. */
  countFailed: boolean;
  action?: string;
}

function exitCodeMatches(code: number, req: Obj): boolean {
  const values: number[] = req.values ?? [];
  if (req.operator === 'In') return values.includes(code);
  if (req.operator === 'NotIn') return !values.includes(code);
  return false;
}

/** matchPodFailurePolicy: the first rule matching a failed pod's exit codes or conditions decides. */
function matchPodFailurePolicy(policy: Obj | undefined, pod: Obj): PolicyMatch {
  if (!policy) return { countFailed: true };
  const rules: Obj[] = policy.rules ?? [];
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    let message: string | undefined;
    let matched = false;
    if (rule.onExitCodes) {
      const req = rule.onExitCodes;
      const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
      const cs = statuses.find((s: Obj) => {
        const code = s.state?.terminated?.exitCode;
        if (typeof code !== 'number' || code === 0) return false;
        if (req.containerName && req.containerName !== s.name) return false;
        return exitCodeMatches(code, req);
      });
      if (cs) {
        matched = true;
        message = `Container ${cs.name} for pod ${pod.metadata?.namespace}/${pod.metadata?.name} failed with exit code ${cs.state.terminated.exitCode} matching ${rule.action} rule at index ${index}`;
      }
    } else if (rule.onPodConditions) {
      const patterns: Obj[] = rule.onPodConditions;
      const cond = (pod.status?.conditions ?? []).find((c: Obj) => patterns.some((p) => p.type === c.type && (p.status ?? 'True') === c.status));
      if (cond) {
        matched = true;
        message = `Pod ${pod.metadata?.namespace}/${pod.metadata?.name} has condition ${cond.type} matching ${rule.action} rule at index ${index}`;
      }
    }
    if (!matched) continue;
    switch (rule.action) {
      case 'Ignore':
        return { countFailed: false, action: 'Ignore' };
      case 'Count':
        return { countFailed: true, action: 'Count' };
      case 'FailIndex':
        return { countFailed: true, action: 'FailIndex' };
      case 'FailJob':
        return { failJobMessage: message, countFailed: true, action: 'FailJob' };
    }
  }
  return { countFailed: true };
}

// ---------------------------------------------------------------------------
// Success policy (success_policy.go)

/** matchSuccessPolicy: the message of the first rule the succeeded indexes satisfy. */
function matchSuccessPolicy(policy: Obj | undefined, completions: number, succeeded: Interval[]): string | undefined {
  const rules: Obj[] = policy?.successPolicyRules ?? policy?.rules ?? [];
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    if (typeof rule.succeededIndexes === 'string') {
      const want = parseIndexes(rule.succeededIndexes, completions);
      let matched = 0;
      for (const [a, b] of want) for (let i = a; i <= b; i++) if (intervalsHave(succeeded, i)) matched++;
      const need = typeof rule.succeededCount === 'number' ? rule.succeededCount : intervalsTotal(want);
      if (matched >= need && need > 0) return `Matched rules at index ${index}`;
    } else if (typeof rule.succeededCount === 'number' && intervalsTotal(succeeded) >= rule.succeededCount) {
      return `Matched rules at index ${index}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Ordering of pods to delete (controller.ActivePods)

function podRank(p: Obj): number[] {
  const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
  const restarts = (p.status?.containerStatuses ?? []).reduce((n: number, c: Obj) => Math.max(n, c.restartCount ?? 0), 0);
  return [
    p.spec?.nodeName ? 1 : 0, // unassigned first
    phaseRank[p.status?.phase ?? 'Pending'] ?? 0, // earlier phases first
    isPodReady(p) ? 1 : 0, // not ready first
    -restarts, // more restarts first
    -(ms(p.metadata?.creationTimestamp) ?? 0), // newer first
  ];
}

function byDeletionPreference(a: Obj, b: Obj): number {
  const ra = podRank(a);
  const rb = podRank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
  return 0;
}

/** activePodsForRemoval: duplicated or out-of-range indexes first (Indexed), then the least advanced pods. */
function activePodsForRemoval(job: Obj, pods: Obj[], rmAtLeast: number): Obj[] {
  let rm: Obj[] = [];
  let left: Obj[] = pods;
  if (isIndexed(job)) {
    left = [];
    const completions: number = job.spec.completions;
    const byIndex = new Map<number, Obj[]>();
    for (const p of pods) {
      const ix = completionIndex(p);
      if (ix === UNKNOWN_INDEX || ix >= completions) rm.push(p);
      else byIndex.set(ix, [...(byIndex.get(ix) ?? []), p]);
    }
    for (const group of byIndex.values()) {
      group.sort(byDeletionPreference);
      rm.push(...group.slice(0, -1));
      left.push(group[group.length - 1]!);
    }
  }
  if (rm.length < rmAtLeast) {
    left = [...left].sort(byDeletionPreference);
    rm = [...rm, ...left.slice(0, rmAtLeast - rm.length)];
  }
  return rm;
}

// ---------------------------------------------------------------------------
// Bookkeeping with a lifecycle

/** Pod UIDs whose finalizer removal a Job's sync is waiting to see (upstream uidTrackingExpectations). */
class FinalizerExpectations {
  private readonly items = new Map<string, Set<string>>();

  expect(key: string, uids: string[]): void {
    const set = this.items.get(key) ?? new Set<string>();
    for (const u of uids) set.add(u);
    this.items.set(key, set);
  }

  observed(key: string, uid: string): void {
    this.items.get(key)?.delete(uid);
  }

  get(key: string): Set<string> {
    return new Set(this.items.get(key) ?? []);
  }

  forget(key: string): void {
    this.items.delete(key);
  }
}

/** Failure back-off state of a Job (backoff_utils.go). */
interface BackoffRecord {
  failuresAfterLastSuccess: number;
  lastFailureTime?: number;
}

/** Delayed re-queues that, unlike WorkQueue.addAfter, never postpone an earlier one (client-go AddAfter semantics). */
class Delayer {
  private readonly timers = new Map<string, Map<number, NodeJS.Timeout>>();

  constructor(private readonly fire: (key: string) => void) {}

  after(key: string, delayMs: number): void {
    if (delayMs <= 0) {
      this.fire(key);
      return;
    }
    const due = Date.now() + delayMs;
    const mine = this.timers.get(key) ?? new Map<number, NodeJS.Timeout>();
    this.timers.set(key, mine);
    // One pending timer due at or before this one, and close to it, already covers it.
    for (const d of mine.keys()) if (d <= due && due - d < 50) return;
    const t = setTimeout(() => {
      mine.delete(due);
      if (mine.size === 0) this.timers.delete(key);
      this.fire(key);
    }, delayMs);
    t.unref?.();
    mine.set(due, t);
  }

  stop(): void {
    for (const m of this.timers.values()) for (const t of m.values()) clearTimeout(t);
    this.timers.clear();
  }
}

// ---------------------------------------------------------------------------
// The controller

/** Configuration of the Job controller. */
export interface JobControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Recorder for component `job-controller` (one is made when absent). */
  events?: EventRecorder;
  clock?: Clock;
  workers?: number;
  /** Delay that batches syncs caused by pod events (upstream syncJobBatchPeriod: 1 s). */
  syncBatchMs?: number;
  /** First pod-failure back-off before a replacement pod (upstream 10 s, doubling to 10 min). */
  podFailureBackoffMs?: number;
  maxPodFailureBackoffMs?: number;
}

/** State of one sync (upstream syncJobCtx). */
interface SyncCtx {
  key: string;
  job: Obj;
  pods: Obj[];
  activePods: Obj[];
  finishedCondition?: Obj;
  succeeded: number;
  failed: number;
  prevSucceededIndexes: Interval[];
  succeededIndexes: Interval[];
  failedIndexes?: Interval[];
  newBackoff: BackoffRecord;
  expectedRmFinalizers: Set<string>;
  uncountedSucceeded: Set<string>;
  uncountedFailed: Set<string>;
  podsWithDelayedDeletionPerIndex: Map<number, Obj>;
  terminating: number;
  ready: number;
}

/** Runs Jobs: keeps their pods in step with the spec and their status in step with the pods. */
export class JobController {
  private readonly client: Client;
  private readonly jobs: Informer;
  private readonly pods: Informer;
  private readonly events: EventRecorder;
  private readonly clock: Clock;
  private readonly queue: WorkQueue;
  private readonly orphanQueue: WorkQueue;
  private readonly delayer: Delayer;
  private readonly expectations = new ControllerExpectations();
  private readonly finalizerExpectations = new FinalizerExpectations();
  private readonly backoff = new Map<string, BackoffRecord>();
  private readonly batchMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;

  constructor(config: JobControllerConfig) {
    this.client = config.client;
    this.jobs = config.informers.informer(R.jobs);
    this.pods = config.informers.informer(R.pods);
    this.events = config.events ?? new EventRecorder(config.client, 'job-controller');
    this.clock = config.clock ?? realClock;
    this.batchMs = config.syncBatchMs ?? 1000;
    this.backoffBaseMs = config.podFailureBackoffMs ?? 10_000;
    this.backoffMaxMs = config.maxPodFailureBackoffMs ?? 600_000;
    // Upstream's API back-off for the job queue: 1 s doubling to 1 min.
    this.queue = new WorkQueue((k) => this.reconcile(k), { workers: config.workers ?? 5, backoff: { baseMs: 1000, maxMs: 60_000 } });
    this.orphanQueue = new WorkQueue((k) => this.syncOrphanPod(k), { workers: 1, backoff: { baseMs: 1000, maxMs: 60_000 } });
    this.delayer = new Delayer((k) => this.queue.add(k));
  }

  /** Registers informer handlers and returns once the caches are filled. */
  async start(): Promise<void> {
    this.jobs.addHandlers({
      onAdd: (j) => this.queue.add(objectKey(j)),
      onUpdate: (old, cur) => this.jobUpdated(old, cur),
      onDelete: (j) => {
        this.queue.add(objectKey(j));
        this.cleanupPodFinalizers(j);
      },
    });
    this.pods.addHandlers({
      onAdd: (p) => this.podAdded(p),
      onUpdate: (old, cur) => this.podUpdated(old, cur),
      onDelete: (p) => this.podDeleted(p, true),
    });
    await Promise.all([this.jobs.start(), this.pods.start()]);
  }

  /** Stops the queues (the shared informers belong to the factory). */
  stop(): void {
    this.queue.stop();
    this.orphanQueue.stop();
    this.delayer.stop();
  }

  /** Queues a Job for a sync now (e.g. after a test moved its clock). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  private batched(key: string): void {
    this.delayer.after(key, this.batchMs);
  }

  private resolveControllerRef(namespace: string, ref: Obj): Obj | undefined {
    if (ref.kind !== 'Job') return undefined;
    const job = this.jobs.get(namespace, ref.name);
    return job && job.metadata?.uid === ref.uid ? job : undefined;
  }

  private jobsSelecting(pod: Obj): Obj[] {
    const labels = pod.metadata?.labels ?? {};
    return this.jobs.list(pod.metadata?.namespace, (j) => {
      try {
        return selectorFromLabelSelector(j.spec?.selector).matches(labels);
      } catch {
        return false;
      }
    });
  }

  private jobUpdated(old: Obj, cur: Obj): void {
    const key = objectKey(cur);
    if (cur.metadata?.generation === old.metadata?.generation) this.batched(key);
    else this.queue.add(key);
    if (isJobFinished(cur)) this.cleanupPodFinalizers(cur);
    // A new or changed activeDeadlineSeconds: look again when it passes.
    const ads = cur.spec?.activeDeadlineSeconds;
    const start = ms(cur.status?.startTime);
    if (typeof ads === 'number' && start !== undefined && ads !== old.spec?.activeDeadlineSeconds) {
      this.delayer.after(key, start + ads * 1000 - this.clock.now().getTime());
    }
  }

  private podAdded(pod: Obj): void {
    if (pod.metadata?.deletionTimestamp) {
      this.podDeleted(pod, false);
      return;
    }
    const ref = getControllerOf(pod);
    if (ref) {
      const job = this.resolveControllerRef(pod.metadata.namespace, ref);
      if (!job) return;
      const key = objectKey(job);
      this.expectations.creationObserved(key);
      this.batched(key);
      return;
    }
    if (hasFinalizer(pod)) this.orphanQueue.add(objectKey(pod));
    for (const job of this.jobsSelecting(pod)) this.batched(objectKey(job));
  }

  private podUpdated(old: Obj, cur: Obj): void {
    if (cur.metadata?.resourceVersion === old.metadata?.resourceVersion) return;
    if (cur.metadata?.deletionTimestamp) {
      this.podDeleted(cur, false);
      return;
    }
    const finalizerRemoved = !hasFinalizer(cur);
    const curRef = getControllerOf(cur);
    const oldRef = getControllerOf(old);
    const refChanged = JSON.stringify(curRef) !== JSON.stringify(oldRef);
    const touch = (ref: Obj) => {
      const job = this.resolveControllerRef(cur.metadata.namespace, ref);
      if (!job) return;
      const key = objectKey(job);
      if (finalizerRemoved) this.finalizerExpectations.observed(key, cur.metadata.uid);
      this.batched(key);
    };
    if (refChanged && oldRef) touch(oldRef);
    if (curRef) {
      touch(curRef);
      return;
    }
    if (hasFinalizer(cur)) this.orphanQueue.add(objectKey(cur));
    if (refChanged || JSON.stringify(cur.metadata?.labels) !== JSON.stringify(old.metadata?.labels)) {
      for (const job of this.jobsSelecting(cur)) this.batched(objectKey(job));
    }
  }

  private podDeleted(pod: Obj, final: boolean): void {
    const ref = getControllerOf(pod);
    const has = hasFinalizer(pod);
    if (!ref) {
      if (has) this.orphanQueue.add(objectKey(pod));
      return;
    }
    const job = this.resolveControllerRef(pod.metadata.namespace, ref);
    if (!job || isJobFinished(job)) {
      if (has) this.orphanQueue.add(objectKey(pod));
      return;
    }
    const key = objectKey(job);
    this.expectations.deletionObserved(key, objectKey(pod));
    if (final || !has) this.finalizerExpectations.observed(key, pod.metadata.uid);
    this.batched(key);
  }

  /** Pods of a deleted or finished Job that still carry the finalizer go to the orphan queue. */
  private cleanupPodFinalizers(job: Obj): void {
    for (const pod of this.pods.list(job.metadata?.namespace)) {
      if (getControllerOf(pod)?.uid === job.metadata?.uid && hasFinalizer(pod)) this.orphanQueue.add(objectKey(pod));
    }
  }

  /** Removes the tracking finalizer from a pod no unfinished Job owns (upstream syncOrphanPod). */
  private async syncOrphanPod(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    if (!pod || !hasFinalizer(pod)) return;
    const ref = getControllerOf(pod);
    if (ref) {
      if (ref.kind !== 'Job' || ref.apiVersion !== 'batch/v1') return;
      const job = this.resolveControllerRef(namespace, ref);
      if (job && !isJobFinished(job)) return;
    }
    await this.removeFinalizer(pod);
  }

  private async removeFinalizer(pod: Obj): Promise<void> {
    try {
      await this.client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, 'strategic', {
        metadata: { '$deleteFromPrimitiveList/finalizers': [JOB_TRACKING_FINALIZER] },
      });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  /** Converges one Job (upstream syncJob); safe to run again at any time. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const shared = this.jobs.get(namespace, name);
    if (!shared) {
      this.expectations.delete(key);
      this.finalizerExpectations.forget(key);
      this.backoff.delete(key);
      return;
    }
    // Jobs managed by another controller (spec.managedBy) are left alone.
    const managedBy = shared.spec?.managedBy;
    if (managedBy && managedBy !== 'kubernetes.io/job-controller') return;
    if (isJobFinished(shared)) {
      this.backoff.delete(key);
      return;
    }
    const job: Obj = structuredClone(shared);
    const mode = job.spec?.completionMode;
    if (mode !== undefined && mode !== 'NonIndexed' && mode !== 'Indexed') {
      await this.events.event(jobRef(job), 'Warning', 'UnknownCompletionMode', 'Skipped Job sync because completion mode is unknown');
      return;
    }
    job.status ??= {};
    job.status.uncountedTerminatedPods ??= {};
    const uncounted = job.status.uncountedTerminatedPods;
    const now = this.clock.now();

    // Expectations are read before the pods, so a pod created meanwhile cannot slip past them.
    const satisfied = this.expectations.satisfied(key);
    const pods = await this.podsForJob(job);
    const activePods = pods.filter(isPodActive);
    const ctx: SyncCtx = {
      key,
      job,
      pods,
      activePods,
      succeeded: 0,
      failed: 0,
      prevSucceededIndexes: [],
      succeededIndexes: [],
      newBackoff: { failuresAfterLastSuccess: 0 },
      expectedRmFinalizers: this.finalizerExpectations.get(key),
      uncountedSucceeded: new Set(uncounted.succeeded ?? []),
      uncountedFailed: new Set(uncounted.failed ?? []),
      podsWithDelayedDeletionPerIndex: new Map(),
      terminating: pods.filter(isTerminating).length,
      ready: activePods.filter(isPodReady).length,
    };
    let active = activePods.length;
    const { succeededPods: newSucceeded, failedPods: newFailed } = this.newFinishedPods(ctx);
    ctx.succeeded = (job.status.succeeded ?? 0) + newSucceeded.length + ctx.uncountedSucceeded.size;
    const nonIgnored = newFailed.filter((p) => matchPodFailurePolicy(job.spec?.podFailurePolicy, p).countFailed).length;
    ctx.failed = (job.status.failed ?? 0) + nonIgnored + ctx.uncountedFailed.size;

    // Job first start; a suspended Job has not started.
    if (!job.status.startTime && !suspended(job)) job.status.startTime = rfc3339(now);

    ctx.newBackoff = this.newBackoffRecord(key, newSucceeded, newFailed, now.getTime());

    const backoffLimit: number = job.spec?.backoffLimit ?? 6;
    const exceedsBackoffLimit = ctx.failed > backoffLimit;
    ctx.finishedCondition = condition(job, 'SuccessCriteriaMet')?.status === 'True' ? condition(job, 'SuccessCriteriaMet') : undefined;
    // With SuccessCriteriaMet already recorded, the pod failure policy is not looked at again.
    if (!ctx.finishedCondition) {
      const target = condition(job, 'FailureTarget');
      if (target?.status === 'True') {
        ctx.finishedCondition = this.newCondition('Failed', 'True', target.reason, target.message);
      } else {
        const msg = this.failJobMessage(job, pods);
        if (msg) ctx.finishedCondition = this.newCondition('FailureTarget', 'True', 'PodFailurePolicy', msg);
      }
    }
    if (!ctx.finishedCondition) {
      if (exceedsBackoffLimit || pastBackoffLimitOnFailure(job, pods)) {
        ctx.finishedCondition = this.newCondition('FailureTarget', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      } else if (this.pastActiveDeadline(job)) {
        ctx.finishedCondition = this.newCondition('FailureTarget', 'True', 'DeadlineExceeded', 'Job was active longer than specified deadline');
      } else if (typeof job.spec?.activeDeadlineSeconds === 'number' && !suspended(job)) {
        const left = ms(job.status.startTime)! + job.spec.activeDeadlineSeconds * 1000 - now.getTime();
        this.delayer.after(key, left);
      }
    }

    if (isIndexed(job)) {
      const completions: number = job.spec.completions;
      ctx.prevSucceededIndexes = parseIndexes(job.status.completedIndexes, completions);
      const newly = pods.filter((p) => p.status?.phase === 'Succeeded' && hasFinalizer(p)).map(completionIndex).filter((ix) => ix !== UNKNOWN_INDEX && ix < completions);
      ctx.succeededIndexes = withIndexes(ctx.prevSucceededIndexes, newly);
      ctx.succeeded = intervalsTotal(ctx.succeededIndexes);
      if (hasBackoffLimitPerIndex(job)) {
        ctx.failedIndexes = this.failedIndexes(job, pods);
        if (!ctx.finishedCondition) {
          const failedTotal = intervalsTotal(ctx.failedIndexes);
          if (typeof job.spec.maxFailedIndexes === 'number' && failedTotal > job.spec.maxFailedIndexes) {
            ctx.finishedCondition = this.newCondition('FailureTarget', 'True', 'MaxFailedIndexesExceeded', 'Job has exceeded the specified maximal number of failed indexes');
          } else if (failedTotal > 0 && failedTotal + intervalsTotal(ctx.succeededIndexes) >= completions) {
            ctx.finishedCondition = this.newCondition('FailureTarget', 'True', 'FailedIndexes', 'Job has failed indexes');
          }
        }
        ctx.podsWithDelayedDeletionPerIndex = this.podsWithDelayedDeletionPerIndex(ctx);
      }
      if (!ctx.finishedCondition) {
        const msg = matchSuccessPolicy(job.spec.successPolicy, completions, ctx.succeededIndexes);
        if (msg) ctx.finishedCondition = this.newCondition('SuccessCriteriaMet', 'True', 'SuccessPolicy', msg);
      }
    }

    let suspendCondChanged = false;
    let manageErr: unknown;
    if (ctx.finishedCondition) {
      // The Job is done: its remaining pods go (their finalizers are removed when counted).
      const { deletedReady, deleted, error } = await this.deletePods(job, activePods, false);
      if (deleted !== active || !satisfied) ctx.finishedCondition = undefined;
      active -= deleted;
      ctx.terminating += deleted;
      ctx.ready -= deletedReady;
      manageErr = error;
    } else {
      let manageCalled = false;
      if (satisfied && !job.metadata?.deletionTimestamp) {
        try {
          active = await this.manageJob(job, ctx);
        } catch (e) {
          manageErr = e;
          active = ctx.activePods.length;
        }
        manageCalled = true;
      }
      const completions = job.spec?.completions;
      // Without completions any success completes the Job once nothing runs; otherwise the count must be reached.
      const complete = typeof completions !== 'number' ? ctx.succeeded > 0 && active === 0 : ctx.succeeded >= completions && active === 0;
      if (complete) {
        ctx.finishedCondition = this.newCondition('SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods');
      } else if (manageCalled) {
        if (suspended(job)) {
          if (this.ensureCondition(job, 'Suspended', 'True', 'JobSuspended', 'Job suspended')) {
            suspendCondChanged = true;
            await this.events.event(jobRef(job), 'Normal', 'Suspended', 'Job suspended');
          }
        } else if (this.ensureCondition(job, 'Suspended', 'False', 'JobResumed', 'Job resumed')) {
          suspendCondChanged = true;
          await this.events.event(jobRef(job), 'Normal', 'Resumed', 'Job resumed');
          // A resumed Job starts its activeDeadlineSeconds afresh.
          job.status.startTime = rfc3339(this.clock.now());
        }
      }
    }

    const needsStatusUpdate =
      suspendCondChanged || active !== (job.status.active ?? 0) || job.status.ready !== ctx.ready || job.status.terminating !== ctx.terminating;
    job.status.active = active;
    job.status.ready = ctx.ready;
    job.status.terminating = ctx.terminating;
    await this.trackJobStatusAndRemoveFinalizers(ctx, needsStatusUpdate);
    if (manageErr) throw manageErr;
  }

  private newCondition(type: string, status: string, reason: string, message: string): Obj {
    const t = rfc3339(this.clock.now());
    return { type, status, lastProbeTime: t, lastTransitionTime: t, reason, message };
  }

  /** ensureJobConditionStatus: sets or adds a condition (a False one is never added); true if it changed. */
  private ensureCondition(job: Obj, type: string, status: string, reason: string, message: string): boolean {
    const conds: Obj[] = (job.status.conditions ??= []);
    const i = conds.findIndex((c) => c.type === type);
    if (i >= 0) {
      const c = conds[i]!;
      if (c.status === status && c.reason === reason && c.message === message) return false;
      conds[i] = this.newCondition(type, status, reason, message);
      return true;
    }
    if (status === 'False') return false;
    conds.push(this.newCondition(type, status, reason, message));
    return true;
  }

  private pastActiveDeadline(job: Obj): boolean {
    const ads = job.spec?.activeDeadlineSeconds;
    const start = ms(job.status?.startTime);
    if (typeof ads !== 'number' || start === undefined || suspended(job)) return false;
    return this.clock.now().getTime() - start >= ads * 1000;
  }

  private failJobMessage(job: Obj, pods: Obj[]): string | undefined {
    if (!job.spec?.podFailurePolicy) return undefined;
    for (const p of pods) {
      if (!isPodFailed(p, job)) continue;
      const m = matchPodFailurePolicy(job.spec.podFailurePolicy, p);
      if (m.failJobMessage) return m.failJobMessage;
    }
    return undefined;
  }

  /** getNewFinishedPods: finished pods that still carry the finalizer and are not yet in uncountedTerminatedPods. */
  private newFinishedPods(ctx: SyncCtx): { succeededPods: Obj[]; failedPods: Obj[] } {
    const valid = (p: Obj, uncounted: Set<string>) => {
      const uid = p.metadata?.uid;
      if (!hasFinalizer(p) || uncounted.has(uid) || ctx.expectedRmFinalizers.has(uid)) return false;
      if (isIndexed(ctx.job)) {
        const ix = completionIndex(p);
        if (ix === UNKNOWN_INDEX || ix >= ctx.job.spec.completions) return false;
      }
      return true;
    };
    return {
      succeededPods: ctx.pods.filter((p) => valid(p, ctx.uncountedSucceeded) && p.status?.phase === 'Succeeded'),
      failedPods: ctx.pods.filter((p) => valid(p, ctx.uncountedFailed) && isPodFailed(p, ctx.job)),
    };
  }

  /** calculateFailedIndexes with isIndexFailed (backoffLimitPerIndex). */
  private failedIndexes(job: Obj, pods: Obj[]): Interval[] {
    const completions: number = job.spec.completions;
    const prev = parseIndexes(job.status?.failedIndexes, completions);
    const newly: number[] = [];
    for (const p of pods) {
      const ix = completionIndex(p);
      if (ix === UNKNOWN_INDEX || ix >= completions || !hasFinalizer(p) || !isPodFailed(p, job)) continue;
      const m = matchPodFailurePolicy(job.spec.podFailurePolicy, p);
      if (m.action === 'FailIndex') newly.push(ix);
      else if (m.countFailed && nonNegInt(p.metadata?.annotations?.[JOB_INDEX_FAILURE_COUNT]) >= job.spec.backoffLimitPerIndex) newly.push(ix);
    }
    return withIndexes(prev, newly);
  }

  /** The failed pod of each index whose removal waits until its replacement carries the failure count. */
  private podsWithDelayedDeletionPerIndex(ctx: SyncCtx): Map<number, Obj> {
    const out = new Map<number, Obj>();
    const activeIndexes = new Set(ctx.activePods.map(completionIndex));
    const abs = (p: Obj) => nonNegInt(p.metadata?.annotations?.[JOB_INDEX_FAILURE_COUNT]) + nonNegInt(p.metadata?.annotations?.[JOB_INDEX_IGNORED_FAILURE_COUNT]);
    const now = this.clock.now().getTime();
    for (const p of ctx.pods) {
      if (!hasFinalizer(p) || ctx.expectedRmFinalizers.has(p.metadata?.uid) || !isPodFailed(p, ctx.job)) continue;
      const ix = completionIndex(p);
      if (ix === UNKNOWN_INDEX || ix >= ctx.job.spec.completions) continue;
      if (intervalsHave(ctx.succeededIndexes, ix) || intervalsHave(ctx.failedIndexes ?? [], ix) || activeIndexes.has(ix)) continue;
      const last = out.get(ix);
      if (!last || (abs(last) <= abs(p) && finishedTime(p, now) >= finishedTime(last, now))) out.set(ix, p);
    }
    return out;
  }

  /** The failure back-off record after this sync's newly finished pods (backoffStore.newBackoffRecord). */
  private newBackoffRecord(key: string, succeeded: Obj[], failed: Obj[], now: number): BackoffRecord {
    const old = this.backoff.get(key);
    const rec: BackoffRecord = { failuresAfterLastSuccess: old?.failuresAfterLastSuccess ?? 0, lastFailureTime: old?.lastFailureTime };
    const times = (ps: Obj[]) => ps.map((p) => finishedTime(p, now)).sort((a, b) => a - b);
    const s = times(succeeded);
    const f = times(failed);
    if (s.length === 0) {
      if (f.length === 0) return rec;
      rec.failuresAfterLastSuccess += f.length;
      rec.lastFailureTime = f[f.length - 1];
      return rec;
    }
    rec.failuresAfterLastSuccess = 0;
    rec.lastFailureTime = undefined;
    const lastSuccess = s[s.length - 1]!;
    for (let i = f.length - 1; i >= 0 && f[i]! > lastSuccess; i--) {
      rec.lastFailureTime ??= f[i];
      rec.failuresAfterLastSuccess++;
    }
    return rec;
  }

  /** How long pod creation must still wait after failures (backoffRecord.getRemainingTime). */
  private remainingBackoff(rec: BackoffRecord): number {
    if (rec.failuresAfterLastSuccess === 0 || this.backoffBaseMs <= 0) return 0;
    let d = this.backoffBaseMs;
    for (let i = 1; i < rec.failuresAfterLastSuccess; i++) {
      d *= 2;
      if (d > this.backoffMaxMs) {
        d = this.backoffMaxMs;
        break;
      }
    }
    const elapsed = this.clock.now().getTime() - (rec.lastFailureTime ?? 0);
    return d < elapsed ? 0 : d - elapsed;
  }

  /**
   * getPodsForJob: the namespace's pods this Job controls, adopting matching
   * orphans (ownerReference and tracking finalizer), as ClaimPods does.
   */
  private async podsForJob(job: Obj): Promise<Obj[]> {
    const selector = selectorFromLabelSelector(job.spec?.selector);
    const uid = job.metadata?.uid;
    const out: Obj[] = [];
    let canAdopt: boolean | undefined;
    for (const pod of this.pods.list(job.metadata.namespace)) {
      const ref = getControllerOf(pod);
      if (ref) {
        if (ref.uid === uid) out.push(pod);
        continue;
      }
      if (job.metadata?.deletionTimestamp || pod.metadata?.deletionTimestamp || !selector.matches(pod.metadata?.labels)) continue;
      // Adoption re-reads the Job first: a Job being deleted must not adopt (RecheckDeletionTimestamp).
      if (canAdopt === undefined) {
        try {
          const fresh = await this.client.get(R.jobs, job.metadata.namespace, job.metadata.name);
          canAdopt = fresh.metadata?.uid === uid && !fresh.metadata?.deletionTimestamp;
        } catch {
          canAdopt = false;
        }
      }
      if (!canAdopt) continue;
      try {
        const adopted = await this.client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, 'strategic', {
          metadata: { ownerReferences: [newControllerRef(job, 'batch/v1', 'Job')], uid: pod.metadata.uid, finalizers: [JOB_TRACKING_FINALIZER] },
        });
        out.push(adopted);
      } catch (e) {
        if (!isStatus(e, 404) && !isStatus(e, 409) && !isStatus(e, 422)) throw e;
      }
    }
    return out;
  }

  /** manageJob: creates or deletes pods toward the wanted number of active pods; returns the new active count. */
  private async manageJob(job: Obj, ctx: SyncCtx): Promise<number> {
    let active = ctx.activePods.length;
    const parallelism: number = job.spec?.parallelism ?? 1;
    const key = ctx.key;
    if (suspended(job)) {
      const toDelete = activePodsForRemoval(job, ctx.activePods, active);
      this.expectations.expectDeletions(key, toDelete.map(objectKey));
      const { deletedReady, deleted, error } = await this.deletePods(job, toDelete, true);
      active -= deleted;
      ctx.terminating += deleted;
      ctx.ready -= deletedReady;
      if (error) throw error;
      return active;
    }
    let wantActive: number;
    const completions = job.spec?.completions;
    if (typeof completions !== 'number') {
      // Work-queue style: once a pod succeeded, whatever runs is left to finish.
      wantActive = ctx.succeeded > 0 ? active : parallelism;
    } else {
      wantActive = Math.max(0, Math.min(completions - ctx.succeeded, parallelism));
    }
    const rmAtLeast = Math.max(0, active - wantActive);
    let toDelete = activePodsForRemoval(job, ctx.activePods, rmAtLeast);
    if (toDelete.length > MAX_POD_CREATE_DELETE_PER_SYNC) toDelete = toDelete.slice(0, MAX_POD_CREATE_DELETE_PER_SYNC);
    if (toDelete.length > 0) {
      // A sync either deletes or creates, and deletion wins.
      this.expectations.expectDeletions(key, toDelete.map(objectKey));
      const { deletedReady, deleted, error } = await this.deletePods(job, toDelete, true);
      active -= deleted;
      ctx.terminating += deleted;
      ctx.ready -= deletedReady;
      if (error) throw error;
      return active;
    }
    const terminating = onlyReplaceFailedPods(job) ? ctx.terminating : 0;
    let diff = wantActive - terminating - active;
    if (diff <= 0) return active;
    if (!hasBackoffLimitPerIndex(job)) {
      const wait = this.remainingBackoff(ctx.newBackoff);
      if (wait > 0) {
        this.delayer.after(key, Math.max(wait, this.batchMs));
        return active;
      }
    }
    diff = Math.min(diff, MAX_POD_CREATE_DELETE_PER_SYNC);
    let indexes: number[] = [];
    if (isIndexed(job)) {
      indexes = firstPendingIndexes(ctx, diff, completions as number);
      if (hasBackoffLimitPerIndex(job)) {
        const { now, wait } = this.indexesReadyNow(indexes, ctx);
        if (now.length === 0 && wait > 0) {
          this.delayer.after(key, Math.max(wait, this.batchMs));
          return active;
        }
        indexes = now;
      }
      diff = indexes.length;
    }
    if (diff <= 0) return active;
    this.expectations.expectCreations(key, diff);
    active += diff;
    const template: Obj = structuredClone(job.spec.template ?? {});
    template.metadata ??= {};
    if (isIndexed(job)) addCompletionIndexEnv(template);
    const fins: string[] = (template.metadata.finalizers ??= []);
    if (!fins.includes(JOB_TRACKING_FINALIZER)) fins.push(JOB_TRACKING_FINALIZER);

    let firstError: unknown;
    // Slow start: batches of 1, 2, 4, … stop at the first failing batch (upstream slow start).
    for (let batch = Math.min(diff, SLOW_START_INITIAL_BATCH); diff > 0; batch = Math.min(2 * batch, diff)) {
      const size = batch;
      const results = await Promise.all(
        Array.from({ length: size }, () => {
          const ix = indexes.length > 0 ? indexes.shift()! : UNKNOWN_INDEX;
          return this.createPod(job, template, ix, ctx).then(
            () => undefined,
            (e: unknown) => e,
          );
        }),
      );
      const errs = results.filter((e) => e !== undefined);
      for (let i = 0; i < errs.length; i++) {
        this.expectations.creationObserved(key);
        active--;
      }
      firstError ??= errs[0];
      diff -= size;
      if (errs.length > 0 && diff > 0) {
        // Pods never attempted are not expected either.
        for (let i = 0; i < diff; i++) this.expectations.creationObserved(key);
        active -= diff;
        break;
      }
    }
    if (firstError) throw firstError;
    return active;
  }

  /** getPodCreationInfoForIndependentIndexes: indexes whose per-index back-off has passed, else the shortest wait. */
  private indexesReadyNow(indexes: number[], ctx: SyncCtx): { now: number[]; wait: number } {
    const now: number[] = [];
    let wait = Infinity;
    for (const ix of indexes) {
      const prev = ctx.podsWithDelayedDeletionPerIndex.get(ix);
      let left = 0;
      if (prev) {
        const failures = nonNegInt(prev.metadata?.annotations?.[JOB_INDEX_FAILURE_COUNT]) + 1;
        left = this.remainingBackoff({ failuresAfterLastSuccess: failures, lastFailureTime: finishedTime(prev, this.clock.now().getTime()) });
      }
      if (left === 0) now.push(ix);
      else wait = Math.min(wait, left);
    }
    return { now, wait: now.length > 0 ? 0 : wait === Infinity ? 0 : wait };
  }

  /** Creates one pod of the Job (index given for Indexed Jobs); events as upstream's RealPodControl. */
  private async createPod(job: Obj, template: Obj, index: number, ctx: SyncCtx): Promise<void> {
    const t: Obj = index === UNKNOWN_INDEX ? template : structuredClone(template);
    let generateName = podsPrefix(job.metadata.name);
    if (index !== UNKNOWN_INDEX) {
      t.metadata.annotations = { ...(t.metadata.annotations ?? {}), [JOB_COMPLETION_INDEX]: String(index) };
      t.metadata.labels = { ...(t.metadata.labels ?? {}), [JOB_COMPLETION_INDEX]: String(index) };
      t.spec = { ...(t.spec ?? {}), hostname: `${job.metadata.name}-${index}` };
      generateName = podGenerateNameWithIndex(job.metadata.name, index);
      if (hasBackoffLimitPerIndex(job)) {
        const prev = ctx.podsWithDelayedDeletionPerIndex.get(index);
        let failures = 0;
        let ignored = 0;
        if (prev) {
          failures = nonNegInt(prev.metadata?.annotations?.[JOB_INDEX_FAILURE_COUNT]);
          ignored = nonNegInt(prev.metadata?.annotations?.[JOB_INDEX_IGNORED_FAILURE_COUNT]);
          if (matchPodFailurePolicy(job.spec.podFailurePolicy, prev).countFailed) failures++;
          else ignored++;
        }
        t.metadata.annotations[JOB_INDEX_FAILURE_COUNT] = String(failures);
        if (ignored > 0) t.metadata.annotations[JOB_INDEX_IGNORED_FAILURE_COUNT] = String(ignored);
      }
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName,
        namespace: job.metadata.namespace,
        labels: { ...(t.metadata.labels ?? {}) },
        annotations: { ...(t.metadata.annotations ?? {}) },
        finalizers: [...(t.metadata.finalizers ?? [])],
        ownerReferences: [newControllerRef(job, 'batch/v1', 'Job')],
      },
      spec: structuredClone(t.spec ?? {}),
    };
    try {
      const created = await this.client.create<Obj>(R.pods, job.metadata.namespace, pod);
      await this.events.event(jobRef(job), 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    } catch (e) {
      // A namespace being torn down refuses every create; that is not worth an event.
      if (!/namespace .* is being terminated|because it is being terminated/.test((e as Error).message ?? '')) {
        await this.events.event(jobRef(job), 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
      }
      throw e;
    }
  }

  /**
   * Deletes pods. With `removeFinalizer` (deleteJobPods) the tracking
   * finalizer goes first; without (deleteActivePods, the Job finished) it
   * stays until the pod is counted.
   */
  private async deletePods(job: Obj, pods: Obj[], removeFinalizer: boolean): Promise<{ deletedReady: number; deleted: number; error?: unknown }> {
    let deleted = pods.length;
    let deletedReady = 0;
    let error: unknown;
    await Promise.all(
      pods.map(async (pod) => {
        try {
          if (removeFinalizer && hasFinalizer(pod)) await this.removeFinalizer(pod);
          await this.client.delete(R.pods, pod.metadata.namespace, pod.metadata.name);
          await this.events.event(jobRef(job), 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        } catch (e) {
          if (removeFinalizer) this.expectations.deletionObserved(objectKey(job), objectKey(pod));
          if (!isStatus(e, 404)) {
            deleted--;
            error ??= e;
            await this.events.event(jobRef(job), 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
          }
        }
        if (isPodReady(pod)) deletedReady++;
      }),
    );
    return { deletedReady, deleted, error };
  }

  /**
   * trackJobStatusAndRemoveFinalizers: records finished pods in
   * uncountedTerminatedPods, removes their finalizers, moves them into the
   * counters, and sets the terminal condition when everything is counted.
   */
  private async trackJobStatusAndRemoveFinalizers(ctx: SyncCtx, needsFlushIn: boolean): Promise<void> {
    let needsFlush = needsFlushIn;
    const job = ctx.job;
    const indexed = isIndexed(job);
    const uncounted: Obj = job.status.uncountedTerminatedPods;
    uncounted.succeeded ??= [];
    uncounted.failed ??= [];
    const pods = indexed ? [...ctx.pods].sort((a, b) => completionIndex(a) - completionIndex(b)) : ctx.pods;
    const withFinalizer = new Set<string>();
    for (const p of pods) if (hasFinalizer(p) && !ctx.expectedRmFinalizers.has(p.metadata.uid)) withFinalizer.add(p.metadata.uid);

    if (cleanUncounted(job.status, withFinalizer)) needsFlush = true;
    const toRemove: Obj[] = [];
    const newSucceededIndexes: number[] = [];
    let reachedMax = false;
    for (const pod of pods) {
      const uid = pod.metadata.uid;
      // Pods without the finalizer were counted in an earlier sync.
      if (!hasFinalizer(pod) || ctx.expectedRmFinalizers.has(uid)) continue;
      const considerFailed = isPodFailed(pod, job);
      if (!this.canRemoveFinalizer(ctx, pod, considerFailed)) continue;
      toRemove.push(pod);
      if (pod.status?.phase === 'Succeeded' && !ctx.uncountedFailed.has(uid)) {
        if (indexed) {
          // The completion index is enough to avoid counting a success twice.
          const ix = completionIndex(pod);
          if (ix !== UNKNOWN_INDEX && ix < job.spec.completions && !intervalsHave(ctx.prevSucceededIndexes, ix)) {
            newSucceededIndexes.push(ix);
            needsFlush = true;
          }
        } else if (!ctx.uncountedSucceeded.has(uid)) {
          needsFlush = true;
          uncounted.succeeded.push(uid);
        }
      } else if (considerFailed || (ctx.finishedCondition && ctx.finishedCondition.type !== 'SuccessCriteriaMet')) {
        // When the Job failed, every pod not yet finished counts as failed.
        const ix = completionIndex(pod);
        if (!ctx.uncountedFailed.has(uid) && (!indexed || (ix !== UNKNOWN_INDEX && ix < job.spec.completions))) {
          if (matchPodFailurePolicy(job.spec?.podFailurePolicy, pod).countFailed) {
            needsFlush = true;
            uncounted.failed.push(uid);
          }
        }
      }
      if (newSucceededIndexes.length + uncounted.succeeded.length + uncounted.failed.length >= MAX_UNCOUNTED_PODS) {
        // Keep status small and this sync short; pod and status events bring the Job back.
        reachedMax = true;
        break;
      }
    }
    if (indexed) {
      ctx.succeededIndexes = withIndexes(ctx.succeededIndexes, newSucceededIndexes);
      const text = formatIndexes(ctx.succeededIndexes);
      if (text !== (job.status.completedIndexes ?? '')) needsFlush = true;
      job.status.succeeded = intervalsTotal(ctx.succeededIndexes);
      job.status.completedIndexes = text;
      const failedText = ctx.failedIndexes ? formatIndexes(ctx.failedIndexes) : undefined;
      if (failedText !== job.status.failedIndexes) {
        if (failedText === undefined) delete job.status.failedIndexes;
        else job.status.failedIndexes = failedText;
        needsFlush = true;
      }
    }
    if (ctx.finishedCondition?.type === 'FailureTarget') {
      // The interim condition is written before finalizers go, so the reason survives; Failed follows.
      (job.status.conditions ??= []).push(ctx.finishedCondition);
      needsFlush = true;
      ctx.finishedCondition = this.newCondition('Failed', 'True', ctx.finishedCondition.reason, ctx.finishedCondition.message);
    }
    if (ctx.finishedCondition?.type === 'SuccessCriteriaMet') {
      if (condition(job, 'SuccessCriteriaMet')?.status !== 'True') {
        (job.status.conditions ??= []).push(ctx.finishedCondition);
        needsFlush = true;
      }
      ctx.finishedCondition = this.newCondition('Complete', 'True', ctx.finishedCondition.reason, ctx.finishedCondition.message);
    }

    // Flush what is about to be counted, then remove finalizers, then move those pods into the counters.
    let current = job;
    if (needsFlush) {
      current = await this.updateStatus(current);
      this.backoff.set(ctx.key, ctx.newBackoff);
      needsFlush = false;
    }
    let rmError: unknown;
    if (toRemove.length > 0) {
      this.finalizerExpectations.expect(
        ctx.key,
        toRemove.map((p) => p.metadata.uid),
      );
      await Promise.all(
        toRemove.map(async (pod) => {
          try {
            await this.removeFinalizer(pod);
            withFinalizer.delete(pod.metadata.uid);
          } catch (e) {
            // No update will show this removal: stop waiting for it.
            this.finalizerExpectations.observed(ctx.key, pod.metadata.uid);
            rmError ??= e;
          }
        }),
      );
    }
    current.status.uncountedTerminatedPods ??= {};
    if (cleanUncounted(current.status, withFinalizer)) needsFlush = true;
    if (rmError) {
      if (needsFlush) await this.updateStatus(current);
      throw rmError;
    }
    const finished = !reachedMax && this.enactJobFinished(current, ctx);
    if (finished) needsFlush = true;
    if (needsFlush) {
      await this.updateStatus(current);
      if (finished) await this.recordJobFinished(current, ctx.finishedCondition!);
    }
  }

  /** canRemoveFinalizer: the Job is ending or the pod finished (a per-index failed pod may wait for its replacement). */
  private canRemoveFinalizer(ctx: SyncCtx, pod: Obj, considerFailed: boolean): boolean {
    if (ctx.job.metadata?.deletionTimestamp || ctx.finishedCondition || pod.status?.phase === 'Succeeded') return true;
    if (!considerFailed) return false;
    if (hasBackoffLimitPerIndex(ctx.job)) {
      const ix = completionIndex(pod);
      if (ix !== UNKNOWN_INDEX && ctx.podsWithDelayedDeletionPerIndex.get(ix)?.metadata?.uid === pod.metadata.uid) return false;
    }
    return true;
  }

  /** enactJobFinished: the terminal condition once nothing is uncounted or terminating. */
  private enactJobFinished(job: Obj, ctx: SyncCtx): boolean {
    const cond = ctx.finishedCondition;
    if (!cond) return false;
    const u = job.status.uncountedTerminatedPods ?? {};
    if ((u.succeeded?.length ?? 0) + (u.failed?.length ?? 0) > 0) return false;
    if (ctx.terminating > 0) return false;
    this.ensureCondition(job, cond.type, cond.status, cond.reason, cond.message);
    if (cond.type === 'Complete') job.status.completionTime = condition(job, 'Complete')!.lastTransitionTime;
    return true;
  }

  private async recordJobFinished(job: Obj, cond: Obj): Promise<void> {
    if (cond.type === 'Complete') {
      const completions = job.spec?.completions;
      if (typeof completions === 'number' && (job.status.succeeded ?? 0) > completions) {
        await this.events.event(jobRef(job), 'Warning', 'TooManySucceededPods', 'Too many succeeded pods running after completion count reached');
      }
      await this.events.event(jobRef(job), 'Normal', 'Completed', 'Job completed');
    } else {
      await this.events.event(jobRef(job), 'Warning', cond.reason, cond.message);
    }
  }

  /** Writes the status subresource; empty uncounted lists are omitted as Go's omitempty does. */
  private async updateStatus(job: Obj): Promise<Obj> {
    const body = structuredClone(job);
    const u = body.status.uncountedTerminatedPods ?? {};
    if (!u.succeeded?.length) delete u.succeeded;
    if (!u.failed?.length) delete u.failed;
    body.status.uncountedTerminatedPods = u;
    // active/succeeded/failed are omitempty upstream: a zero count is not written.
    for (const k of ['active', 'succeeded', 'failed']) if (body.status[k] === 0) delete body.status[k];
    const saved = await this.client.update(R.jobs, job.metadata.namespace, body, { subresource: 'status' });
    saved.status ??= {};
    saved.status.uncountedTerminatedPods ??= {};
    const su = saved.status.uncountedTerminatedPods;
    su.succeeded = [...(su.succeeded ?? [])];
    su.failed = [...(su.failed ?? [])];
    return saved;
  }
}

/** cleanUncountedPodsWithoutFinalizers: uncounted pods whose finalizer is gone move into the counters. */
function cleanUncounted(status: Obj, withFinalizer: Set<string>): boolean {
  let updated = false;
  const u: Obj = (status.uncountedTerminatedPods ??= {});
  const keepS = (u.succeeded ?? []).filter((uid: string) => withFinalizer.has(uid));
  if (keepS.length !== (u.succeeded ?? []).length) {
    updated = true;
    status.succeeded = (status.succeeded ?? 0) + (u.succeeded.length - keepS.length);
  }
  u.succeeded = keepS;
  const keepF = (u.failed ?? []).filter((uid: string) => withFinalizer.has(uid));
  if (keepF.length !== (u.failed ?? []).length) {
    updated = true;
    status.failed = (status.failed ?? 0) + (u.failed.length - keepF.length);
  }
  u.failed = keepF;
  return updated;
}

/** pastBackoffLimitOnFailure: with restartPolicy OnFailure, container restarts count as failures. */
function pastBackoffLimitOnFailure(job: Obj, pods: Obj[]): boolean {
  if (job.spec?.template?.spec?.restartPolicy !== 'OnFailure') return false;
  let restarts = 0;
  for (const p of pods) {
    if (p.status?.phase !== 'Running' && p.status?.phase !== 'Pending') continue;
    for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) restarts += cs.restartCount ?? 0;
  }
  const limit: number = job.spec?.backoffLimit ?? 6;
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

/** firstPendingIndexes: the lowest indexes neither succeeded, failed, running nor (policy Failed) terminating. */
function firstPendingIndexes(ctx: SyncCtx, count: number, completions: number): number[] {
  if (count === 0) return [];
  let nonPending = withIndexes(
    ctx.succeededIndexes,
    ctx.activePods.map(completionIndex).filter((i) => i !== UNKNOWN_INDEX),
  );
  if (onlyReplaceFailedPods(ctx.job)) {
    nonPending = withIndexes(
      nonPending,
      ctx.pods
        .filter(isTerminating)
        .map(completionIndex)
        .filter((i) => i !== UNKNOWN_INDEX),
    );
  }
  if (ctx.failedIndexes) nonPending = mergeIntervals(nonPending, ctx.failedIndexes);
  const out: number[] = [];
  for (let c = 0; c < completions && out.length < count; c++) if (!intervalsHave(nonPending, c)) out.push(c);
  return out;
}

/** The Job as the subject of an event. */
function jobRef(job: Obj): Obj {
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: job.metadata };
}

/** getPodsPrefix: `<name>-`, or the bare name when that is not a valid prefix. */
function podsPrefix(name: string): string {
  const prefix = `${name}-`;
  return isDNS1123Subdomain(prefix.replace(/-$/, 'a')).length === 0 ? prefix : name;
}

/** podGenerateNameWithIndex: `<job>-<index>-`, the Job name cut so the generated name fits 63 characters. */
function podGenerateNameWithIndex(jobName: string, index: number): string {
  const suffix = `-${index}-`;
  const prefix = jobName + suffix;
  return prefix.length > MAX_GENERATED_NAME_LENGTH ? prefix.slice(0, MAX_GENERATED_NAME_LENGTH - suffix.length) + suffix : prefix;
}

/** JOB_COMPLETION_INDEX from the pod's completion-index label, in every container and init container (PodIndexLabel on). */
function addCompletionIndexEnv(template: Obj): void {
  const spec: Obj = (template.spec ??= {});
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]) {
    const env: Obj[] = (c.env ??= []);
    if (env.some((e) => e.name === COMPLETION_INDEX_ENV)) continue;
    env.push({ name: COMPLETION_INDEX_ENV, valueFrom: { fieldRef: { fieldPath: `metadata.labels['${JOB_COMPLETION_INDEX}']` } } });
  }
}

// ---------------------------------------------------------------------------
// TTL after finished

/** Configuration of the TTL-after-finished controller. */
export interface TTLAfterFinishedControllerConfig {
  client: Client;
  informers: InformerFactory;
  events?: EventRecorder;
  clock?: Clock;
}

function needsCleanup(job: Obj): boolean {
  return typeof job.spec?.ttlSecondsAfterFinished === 'number' && isJobFinished(job);
}

/** When a finished Job expires: its Complete/Failed transition plus ttlSecondsAfterFinished; undefined if unknown. */
function expireAt(job: Obj): number | undefined {
  const c = (job.status?.conditions ?? []).find((x: Obj) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  const at = ms(c?.lastTransitionTime);
  return at === undefined ? undefined : at + job.spec.ttlSecondsAfterFinished * 1000;
}

/** Deletes finished Jobs once their ttlSecondsAfterFinished has passed (cascading to their pods). */
export class TTLAfterFinishedController {
  private readonly client: Client;
  private readonly jobs: Informer;
  private readonly clock: Clock;
  private readonly queue: WorkQueue;

  constructor(config: TTLAfterFinishedControllerConfig) {
    this.client = config.client;
    this.jobs = config.informers.informer(R.jobs);
    this.clock = config.clock ?? realClock;
    this.queue = new WorkQueue((k) => this.reconcile(k), { workers: 2, backoff: { baseMs: 5, maxMs: 1000_000 } });
  }

  /** Registers informer handlers and returns once the cache is filled. */
  async start(): Promise<void> {
    const maybe = (j: Obj) => {
      if (!j.metadata?.deletionTimestamp && needsCleanup(j)) this.queue.add(objectKey(j));
    };
    this.jobs.addHandlers({ onAdd: maybe, onUpdate: (_o, j) => maybe(j) });
    await this.jobs.start();
  }

  /** Stops the queue. */
  stop(): void {
    this.queue.stop();
  }

  /** Queues a Job for a check now (e.g. after a test moved its clock). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Deletes the Job if its TTL has expired, else looks again when it will. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const job = this.jobs.get(namespace, name);
    if (!job || !this.expired(key, job)) return;
    // The cached Job may be stale: check the TTL on a fresh read before deleting.
    let fresh: Obj;
    try {
      fresh = await this.client.get(R.jobs, namespace, name);
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
    if (!this.expired(key, fresh)) return;
    try {
      // Upstream cascades in the foreground: the Job stays until its pods are gone.
      await this.client.delete(R.jobs, namespace, name, { propagationPolicy: 'Foreground', preconditions: { uid: fresh.metadata.uid } });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  private expired(key: string, job: Obj): boolean {
    if (job.metadata?.deletionTimestamp || !needsCleanup(job)) return false;
    const at = expireAt(job);
    if (at === undefined) throw new Error(`unable to find the time when the Job ${key} finished`);
    const left = at - this.clock.now().getTime();
    if (left <= 0) return true;
    this.queue.addAfter(key, left);
    return false;
  }
}
