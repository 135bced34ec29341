/**
 * The work queue of a controller: keys, de-duplicated while waiting, never
 * processed by two workers at once, retried with per-key exponential backoff
 * — client-go's rate-limited workqueue.
 */

/** Per-key backoff bounds (client-go's default item rate limiter: 5 ms doubling to 1000 s). */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** A controller's queue and its workers. */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed: they run again when the current run ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly reconcile: (key: string) => Promise<void>,
    private readonly opts: { workers?: number; backoff?: Backoff; onError?: (key: string, err: unknown) => void } = {},
  ) {}

  /** Queues a key (no-op if already waiting). */
  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues a key after a delay (e.g. to look again when a deadline passes). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const prev = this.timers.get(key);
    if (prev) clearTimeout(prev);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, Math.max(0, ms));
    t.unref?.();
    this.timers.set(key, t);
  }

  /** Stops processing; pending retries are dropped. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Number of keys waiting. */
  get length(): number {
    return this.queue.length;
  }

  private pump(): void {
    const workers = this.opts.workers ?? 2;
    while (!this.stopped && this.active < workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.active === 0 && this.queue.length === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.reconcile(key);
      this.failures.delete(key);
    } catch (err) {
      // Errors requeue with exponential backoff; the key is retried until it succeeds or is forgotten.
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.opts.onError?.(key, err);
      const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: 5, maxMs: 1000_000 };
      this.addAfter(key, Math.min(baseMs * 2 ** (n - 1), maxMs));
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
