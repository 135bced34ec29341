/**
 * The event recorder: components record what they did as core/v1 Events
 * about an object (`kubectl describe` and `kubectl get events` show them).
 * Repeats of the same event within ten minutes bump `count` and
 * `lastTimestamp` instead of creating a new Event, as client-go's recorder does.
 */
import { randomBytes } from 'node:crypto';
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

  /** Records an event; failures are swallowed (events are best effort, as upstream). */
  async event(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    try {
      await this.record(subject, type, reason, message);
    } catch {
      // An event that cannot be written must never fail the work it describes.
    }
  }

  private async record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const md = subject.metadata ?? {};
    const namespace = md.namespace || 'default';
    const key = [subject.kind, namespace, md.name, md.uid, type, reason, message].join('\u0000');
    const now = new Date();
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
    const name = `${md.name ?? 'unknown'}.${randomBytes(8).toString('hex')}`;
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
