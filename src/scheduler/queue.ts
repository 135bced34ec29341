/**
 * The scheduling queue (upstream backend/queue PriorityQueue): an active
 * heap ordered by pod priority then arrival (PrioritySort), a backoff heap
 * of pods waiting out their per-pod backoff (1 s doubling to 10 s), and a
 * set of unschedulable pods that wait for a cluster change — or, at the
 * latest, for `maxUnschedulableMs` (upstream podMaxInUnschedulablePodsDuration,
 * 5 minutes), checked every 30 s.
 */
import type { Pod } from '../api/generated/types.js';
import { newPodInfo, podKey, type PodInfo } from './nodeinfo.js';

/** A pod in the queue with its scheduling history. */
export interface QueuedPodInfo {
  podInfo: PodInfo;
  /** When the pod (re)entered the queue; orders pods of equal priority. */
  timestamp: number;
  /** When the pod first entered the queue (upstream InitialAttemptTimestamp; Coscheduling's QueueSort reads it). */
  initialAttemptTimestamp: number;
  /** Scheduling attempts so far. */
  attempts: number;
  /** When the last attempt failed (backoff counts from here). */
  lastFailure: number;
  /** Plugins that rejected the pod in its last attempt. */
  unschedulablePlugins: Set<string>;
  /** Tie-breaker among equal timestamps (arrival order). */
  seq: number;
}

/** A source of time in milliseconds. */
export interface Clock {
  now(): number;
}

/** Queue settings (defaults are upstream's). */
export interface QueueOptions {
  clock?: Clock;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  maxUnschedulableMs?: number;
  flushUnschedulableIntervalMs?: number;
  /** The order of the active heap: true if `x` goes before `y` (a QueueSort plugin's; default PrioritySort). */
  less?: (x: QueuedPodInfo, y: QueuedPodInfo) => boolean;
}

/** A binary heap with a "less" order. */
class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  peek(): T | undefined {
    return this.a[0];
  }
  push(v: T): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Upstream PrioritySort: higher priority first, then earlier arrival. */
function moreUrgent(x: QueuedPodInfo, y: QueuedPodInfo): boolean {
  if (x.podInfo.priority !== y.podInfo.priority) return x.podInfo.priority > y.podInfo.priority;
  if (x.timestamp !== y.timestamp) return x.timestamp < y.timestamp;
  return x.seq < y.seq;
}

/**
 * Pending pods of one scheduler. Heaps are cleaned lazily: an entry whose
 * key now maps to another QueuedPodInfo (updated, moved or deleted) is
 * skipped when it surfaces.
 */
export class SchedulingQueue {
  private readonly clock: Clock;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly active: Heap<QueuedPodInfo>;
  private readonly activeKeys = new Map<string, QueuedPodInfo>();
  private readonly backoff = new Heap<QueuedPodInfo>((x, y) => this.backoffExpiry(x) < this.backoffExpiry(y));
  private readonly backoffKeys = new Map<string, QueuedPodInfo>();
  private readonly unschedulable = new Map<string, QueuedPodInfo>();
  /** Popped and not yet done: the latest object of each (null once deleted). */
  private readonly inFlight = new Map<string, Pod | null>();
  private waiters: ((qp: QueuedPodInfo | undefined) => void)[] = [];
  private seq = 0;
  private closed = false;
  private backoffTimer?: NodeJS.Timeout;
  private backoffTimerAt = Infinity;
  private readonly flushTimer: NodeJS.Timeout;
  private moves = 0;
  /** Pods in flight that an activation without backoff asked for: their requeue goes to the active heap. */
  private readonly activateOnRequeue = new Set<string>();

  constructor(opts: QueueOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 5 * 60_000;
    const less = opts.less;
    // Pods a sort plugin holds equal keep their arrival order.
    this.active = new Heap<QueuedPodInfo>(less ? (x, y) => less(x, y) || (!less(y, x) && x.seq < y.seq) : moreUrgent);
    this.flushTimer = setInterval(() => this.flushUnschedulableLeftover(), opts.flushUnschedulableIntervalMs ?? 30_000);
    this.flushTimer.unref?.();
  }

  /** Backoff of a pod after `attempts` failures: initial doubling per attempt, capped (upstream calculateBackoffDuration). */
  backoffDuration(attempts: number): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < attempts; i++) {
      d *= 2;
      if (d > this.maxBackoffMs) return this.maxBackoffMs;
    }
    return d;
  }

  private backoffExpiry(qp: QueuedPodInfo): number {
    return qp.lastFailure + this.backoffDuration(qp.attempts);
  }

  private isBackingOff(qp: QueuedPodInfo): boolean {
    return qp.attempts > 0 && this.backoffExpiry(qp) > this.clock.now();
  }

  private where(key: string): 'active' | 'backoff' | 'unschedulable' | undefined {
    if (this.activeKeys.has(key)) return 'active';
    if (this.backoffKeys.has(key)) return 'backoff';
    if (this.unschedulable.has(key)) return 'unschedulable';
    return undefined;
  }

  private forget(key: string): QueuedPodInfo | undefined {
    const qp = this.activeKeys.get(key) ?? this.backoffKeys.get(key) ?? this.unschedulable.get(key);
    this.activeKeys.delete(key);
    this.backoffKeys.delete(key);
    this.unschedulable.delete(key);
    return qp;
  }

  private toActive(qp: QueuedPodInfo): void {
    if (this.closed) return;
    const w = this.waiters.shift();
    if (w) {
      this.inFlight.set(qp.podInfo.key, qp.podInfo.pod);
      qp.attempts++;
      w(qp);
      return;
    }
    this.activeKeys.set(qp.podInfo.key, qp);
    this.active.push(qp);
  }

  private toBackoff(qp: QueuedPodInfo): void {
    this.backoffKeys.set(qp.podInfo.key, qp);
    this.backoff.push(qp);
    this.armBackoffTimer();
  }

  private armBackoffTimer(): void {
    const head = this.peekLive(this.backoff, this.backoffKeys);
    if (!head || this.closed) return;
    const at = this.backoffExpiry(head);
    if (at >= this.backoffTimerAt) return;
    clearTimeout(this.backoffTimer);
    this.backoffTimerAt = at;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimerAt = Infinity;
      this.flushBackoffCompleted();
    }, Math.max(0, at - this.clock.now()));
    this.backoffTimer.unref?.();
  }

  private peekLive(h: Heap<QueuedPodInfo>, keys: Map<string, QueuedPodInfo>): QueuedPodInfo | undefined {
    for (;;) {
      const top = h.peek();
      if (!top || keys.get(top.podInfo.key) === top) return top;
      h.pop();
    }
  }

  /** Moves pods whose backoff is over to the active heap (upstream flushBackoffQCompleted). */
  flushBackoffCompleted(): void {
    const now = this.clock.now();
    for (;;) {
      const top = this.peekLive(this.backoff, this.backoffKeys);
      if (!top || this.backoffExpiry(top) > now) break;
      this.backoff.pop();
      this.backoffKeys.delete(top.podInfo.key);
      this.toActive(top);
    }
    this.armBackoffTimer();
  }

  /** Retries pods that have waited too long in the unschedulable set (upstream flushUnschedulablePodsLeftover). */
  flushUnschedulableLeftover(): void {
    const now = this.clock.now();
    const due: QueuedPodInfo[] = [];
    for (const qp of this.unschedulable.values()) if (now - qp.timestamp > this.maxUnschedulableMs) due.push(qp);
    this.move(due);
  }

  private move(pods: QueuedPodInfo[]): void {
    for (const qp of pods) {
      this.unschedulable.delete(qp.podInfo.key);
      if (this.isBackingOff(qp)) this.toBackoff(qp);
      else this.toActive(qp);
    }
  }

  /** A new pending pod. */
  add(pod: Pod): void {
    const key = podKey(pod);
    if (this.inFlight.has(key)) {
      this.inFlight.set(key, pod);
      return;
    }
    if (this.where(key)) return this.update(pod);
    const now = this.clock.now();
    this.toActive({ podInfo: newPodInfo(pod), timestamp: now, initialAttemptTimestamp: now, attempts: 0, lastFailure: 0, unschedulablePlugins: new Set(), seq: this.seq++ });
  }

  /**
   * A pending pod changed. An unschedulable pod whose spec or metadata
   * changed is retried (upstream isPodUpdated: status-only updates do not count).
   */
  update(pod: Pod, specChanged = true): void {
    const key = podKey(pod);
    if (this.inFlight.has(key)) {
      this.inFlight.set(key, pod);
      return;
    }
    const at = this.where(key);
    // A status-only update of a pod that is in none of the queues (e.g. the PodScheduled=False
    // this scheduler just wrote, arriving before the failure was recorded) must not retry it at once.
    if (!at) return specChanged ? this.add(pod) : undefined;
    const old = this.forget(key)!;
    const qp: QueuedPodInfo = { ...old, podInfo: newPodInfo(pod) };
    if (at === 'active') this.toActive(qp);
    else if (at === 'backoff') this.toBackoff(qp);
    else if (!specChanged) this.unschedulable.set(key, qp);
    else this.move([qp]);
  }

  /** A pod left (deleted, bound, or no longer ours). */
  delete(pod: Pod): void {
    const key = podKey(pod);
    if (this.inFlight.has(key)) this.inFlight.set(key, null);
    this.forget(key);
  }

  /** Waits for the most urgent active pod; undefined once closed. */
  pop(): Promise<QueuedPodInfo | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    for (;;) {
      const qp = this.active.pop();
      if (!qp) break;
      if (this.activeKeys.get(qp.podInfo.key) !== qp) continue;
      this.activeKeys.delete(qp.podInfo.key);
      this.inFlight.set(qp.podInfo.key, qp.podInfo.pod);
      qp.attempts++;
      return Promise.resolve(qp);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * The attempt of a popped pod failed: a rejected pod waits in the
   * unschedulable set for a cluster change; an error goes to backoff.
   * The latest version of the pod is queued; a pod deleted meanwhile is dropped.
   */
  requeue(qp: QueuedPodInfo, rejected: boolean): void {
    const key = qp.podInfo.key;
    const latest = this.inFlight.get(key);
    this.inFlight.delete(key);
    const activate = this.activateOnRequeue.delete(key);
    if (latest === null || this.closed || this.where(key)) return;
    const now = this.clock.now();
    const next: QueuedPodInfo = { ...qp, lastFailure: now, timestamp: now, podInfo: latest && latest !== qp.podInfo.pod ? newPodInfo(latest) : qp.podInfo };
    if (activate) this.toActive(next);
    else if (rejected) this.unschedulable.set(key, next);
    else this.toBackoff(next);
  }

  /** The attempt of a popped pod ended (bound, or given up). */
  done(key: string): void {
    this.inFlight.delete(key);
    this.activateOnRequeue.delete(key);
  }

  /**
   * A cluster change may make unschedulable pods fit: retry them all,
   * honouring backoff (upstream MoveAllToActiveOrBackoffQueue). A pod the
   * scheduler itself assumed and then released is not counted as a cluster
   * change in moveRequests (`clusterChange` false).
   */
  moveAllToActiveOrBackoff(clusterChange = true): void {
    if (clusterChange) this.moves++;
    if (this.unschedulable.size) this.move([...this.unschedulable.values()]);
  }

  /** How many cluster changes have retried the unschedulable pods so far (upstream moveRequestCycle). */
  get moveRequests(): number {
    return this.moves;
  }

  /**
   * Retries these unschedulable pods (by `namespace/name`), honouring their
   * backoff — what a queueing hint does for the pods one event concerns
   * (e.g. a new member of a pod's gang). Pods elsewhere in the queue stay.
   * `withoutBackoff`: straight to the active heap, also from backoff (pods
   * that were waiting for the event, not failing).
   */
  activate(keys: Iterable<string>, withoutBackoff = false): void {
    const due: QueuedPodInfo[] = [];
    for (const k of keys) {
      let qp = this.unschedulable.get(k);
      if (!qp && withoutBackoff && this.backoffKeys.has(k)) {
        qp = this.backoffKeys.get(k)!;
        // The stale heap entry is skipped once its key is gone (peekLive).
        this.backoffKeys.delete(k);
      }
      // In flight now: it goes back to the active heap when its attempt ends (upstream replays in-flight events).
      if (!qp && withoutBackoff && this.inFlight.has(k)) this.activateOnRequeue.add(k);
      if (!qp) continue;
      if (withoutBackoff) {
        this.unschedulable.delete(k);
        this.toActive(qp);
      } else due.push(qp);
    }
    this.move(due);
  }

  /** Counts, for tests and metrics. */
  stats(): { active: number; backoff: number; unschedulable: number; inFlight: number } {
    return { active: this.activeKeys.size, backoff: this.backoffKeys.size, unschedulable: this.unschedulable.size, inFlight: this.inFlight.size };
  }

  /** Stops the queue: timers end and waiting pops resolve undefined. */
  close(): void {
    this.closed = true;
    clearInterval(this.flushTimer);
    clearTimeout(this.backoffTimer);
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
  }
}
