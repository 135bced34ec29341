/**
 * The event recorder: components record what they did as core/v1 Events
 * about an object (`kubectl describe` and `kubectl get events` show them).
 * Repeats of the same event within ten minutes bump `count` and
 * `lastTimestamp` instead of creating a new Event, as client-go's recorder does.
 */
import { R, isStatus, type Client } from './client.js';

/** The object an event is about. */
export interface EventSubject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

const AGGREGATE_WINDOW_MS = 10 * 60 * 1000;
/** How many distinct recent events are remembered for aggregation (client-go's LRU holds 4096). */
const MAX_REMEMBERED = 4096;

/** Records events for one component (e.g. `default-scheduler`, `kubelet`). */
export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(
    private readonly client: Client,
    private readonly component: string,
    private readonly host = '',
  ) {}

  /** Writes in order, one at a time (see event()). */
  private tail: Promise<void> = Promise.resolve();

  /**
   * Records an event; failures are swallowed (events are best effort, as
   * upstream). Writes go one at a time, in order, as client-go's broadcaster
   * sends them from one goroutine: a burst of events trickles out instead of
   * competing with the work it describes. Resolves once written.
   */
  event(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const at = new Date();
    this.tail = this.tail.then(() =>
      this.record(subject, type, reason, message, at).catch(() => {
        // An event that cannot be written must never fail the work it describes.
      }),
    );
    return this.tail;
  }

  private async record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string, now: Date): Promise<void> {
    const md = subject.metadata ?? {};
    const namespace = md.namespace || 'default';
    const key = [subject.kind, namespace, md.name, md.uid, type, reason, message].join('\u0000');
    const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const seen = this.recent.get(key);
    if (seen && now.getTime() - seen.at < AGGREGATE_WINDOW_MS) {
      seen.count++;
      seen.at = now.getTime();
      try {
        await this.client.patch(R.events, seen.namespace, seen.name, 'merge', { count: seen.count, lastTimestamp: ts });
        return;
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
    // Upstream names an event `<object>.<hex of the time in nanoseconds>`; sub-millisecond digits from the monotonic clock keep names apart.
    const name = `${md.name ?? 'unknown'}.${(BigInt(now.getTime()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString(16)}`;
    await this.client.create(R.events, namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: subject.apiVersion,
        kind: subject.kind,
        namespace: md.namespace,
        name: md.name,
        uid: md.uid,
        resourceVersion: md.resourceVersion,
      },
      reason,
      message,
      type,
      source: this.host ? { component: this.component, host: this.host } : { component: this.component },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: this.component,
      reportingInstance: this.host,
    });
    this.recent.set(key, { name, namespace, count: 1, at: now.getTime() });
    // Forget the oldest entries (a Map keeps insertion order); a forgotten repeat simply starts a new Event.
    for (const k of this.recent.keys()) {
      if (this.recent.size <= MAX_REMEMBERED) break;
      this.recent.delete(k);
    }
  }
}
