/**
 * Fan-out of committed events to a backend's watchers, shared by the memory
 * and SQLite backends. A watch starts with the events it must replay and then
 * receives live events; each watcher remembers the last revision it was given,
 * so no event is delivered twice or out of order.
 */
import type { WatchEvent, WatchHandlers, Watcher } from './backend.js';

/** The set of live watches of one backend; `publish` is called after each commit. */
export class WatchHub {
  private readonly subs = new Set<Subscription>();

  /**
   * Registers a watch on `prefix`. `replay` (revision order, every event <= `through`)
   * is delivered first; afterwards only published events with revision > `through`.
   * Delivery is asynchronous (a microtask), so the caller holds the Watcher first.
   */
  subscribe(prefix: string, replay: WatchEvent[], through: number, handlers: WatchHandlers): Watcher {
    const sub = new Subscription(this.subs, prefix, through, handlers);
    this.subs.add(sub);
    if (replay.length > 0) sub.enqueue(replay);
    return sub;
  }

  /** A watch that could not start: `onError` gets `err` asynchronously unless stopped first. */
  failed(handlers: WatchHandlers, err: Error): Watcher {
    let stopped = false;
    queueMicrotask(() => {
      if (!stopped) handlers.onError?.(err);
    });
    return { stop: () => void (stopped = true) };
  }

  /** Hands committed events (ascending revisions) to every matching watcher. */
  publish(events: readonly WatchEvent[]): void {
    if (events.length === 0) return;
    for (const sub of this.subs) sub.offer(events);
  }

  /** Number of active watches. */
  get size(): number {
    return this.subs.size;
  }

  /** Stops every watch (used on close; watchers get no further callbacks). */
  stopAll(): void {
    for (const sub of [...this.subs]) sub.stop();
  }
}

/** One registered watch: a queue drained in a microtask. */
class Subscription implements Watcher {
  private queue: WatchEvent[] = [];
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly owner: Set<Subscription>,
    private readonly prefix: string,
    /** Highest revision already queued; later duplicates are dropped. */
    private last: number,
    private readonly handlers: WatchHandlers,
  ) {}

  /** Queues the events of one commit that this watch matches. */
  offer(events: readonly WatchEvent[]): void {
    const matched: WatchEvent[] = [];
    for (const ev of events) {
      const rev = ev.kv.modRevision;
      if (rev <= this.last) continue;
      this.last = rev;
      if (ev.kv.key.startsWith(this.prefix)) matched.push(ev);
    }
    if (matched.length > 0) this.enqueue(matched);
  }

  /** Appends events (already filtered and ordered) and schedules delivery. */
  enqueue(events: WatchEvent[]): void {
    if (this.stopped) return;
    if (this.queue.length === 0) this.queue = events;
    else for (const ev of events) this.queue.push(ev);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.deliver());
    }
  }

  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.owner.delete(this);
  }

  private deliver(): void {
    this.scheduled = false;
    if (this.stopped || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.handlers.onEvents(batch);
    } catch (err) {
      // A handler that throws ends its own watch; it must not break the writer that committed.
      this.stop();
      if (!this.handlers.onError) throw err;
      this.handlers.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
