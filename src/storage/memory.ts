/**
 * An in-memory revisioned store (MVCC like etcd and kine): one global revision,
 * the history of every key kept until compaction, and an event log for watch
 * replay. Nothing survives the process; used for tests and throwaway clusters.
 */
import {
  CompactedError,
  FutureRevisionError,
  type Backend,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type WatchEvent,
  type WatchHandlers,
  type Watcher,
} from './backend.js';
import { applyWrite, type WriteOp } from './mvcc.js';
import { SortedKeys } from './sorted-keys.js';
import { WatchHub } from './watch-hub.js';

/** One write to a key: its value from `rev` on, or null when the write was a delete. */
interface Version {
  rev: number;
  kv: KeyValue | null;
}

/** A Backend held in process memory; see the module comment. */
export class MemoryBackend implements Backend {
  private rev = 0;
  private compacted = 0;
  /** Latest value of every live key. */
  private readonly live = new Map<string, KeyValue>();
  private readonly liveKeys = new SortedKeys();
  /** Every key with retained history (live or deleted but not yet compacted away). */
  private readonly history = new Map<string, Version[]>();
  private readonly historyKeys = new SortedKeys();
  /** Events for revisions compacted+1 .. rev; log[i] has revision compacted+1+i. */
  private log: WatchEvent[] = [];
  private readonly hub = new WatchHub();

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.hub.stopAll();
  }

  currentRevision(): number {
    return this.rev;
  }

  compactedRevision(): number {
    return this.compacted;
  }

  async get(key: string): Promise<KeyValue | null> {
    return this.live.get(key) ?? null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const at = opts.revision ?? 0;
    if (at === 0 || at === this.rev) {
      const items: KeyValue[] = [];
      for (const key of this.liveKeys.scan(prefix, opts.startAfter)) {
        if (items.length === limit) return { items, revision: this.rev, more: true };
        items.push(this.live.get(key)!);
      }
      return { items, revision: this.rev, more: false };
    }
    this.checkReadable(at);
    const items: KeyValue[] = [];
    for (const key of this.historyKeys.scan(prefix, opts.startAfter)) {
      const kv = versionAt(this.history.get(key)!, at);
      if (!kv) continue;
      if (items.length === limit) return { items, revision: at, more: true };
      items.push(kv);
    }
    return { items, revision: at, more: false };
  }

  async count(prefix: string): Promise<number> {
    return this.liveKeys.count(prefix);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    return this.write({ kind: 'create', key, value });
  }

  async update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    return this.write({ kind: 'update', key, value, expectedRevision });
  }

  async delete(key: string, expectedRevision?: number): Promise<KeyValue> {
    return this.write({ kind: 'delete', key, expectedRevision });
  }

  watch(prefix: string, afterRevision: number, handlers: WatchHandlers): Watcher {
    if (afterRevision < this.compacted) {
      return this.hub.failed(handlers, new CompactedError(afterRevision, this.compacted));
    }
    const replay: WatchEvent[] = [];
    // log[i] has revision compacted+1+i, so events after `afterRevision` start at this index.
    for (let i = Math.max(0, afterRevision - this.compacted); i < this.log.length; i++) {
      const ev = this.log[i]!;
      if (ev.kv.key.startsWith(prefix)) replay.push(ev);
    }
    return this.hub.subscribe(prefix, replay, Math.max(afterRevision, this.rev), handlers);
  }

  async compact(revision: number): Promise<void> {
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    // Compacting at or below the compacted revision has nothing left to drop.
    if (revision <= this.compacted) return;
    for (const [key, versions] of this.history) {
      // Keep the newest version at or below `revision` (the state then) unless it is a
      // delete, plus everything newer: the same rule as etcd's compaction.
      let keepFrom = 0;
      while (keepFrom + 1 < versions.length && versions[keepFrom + 1]!.rev <= revision) keepFrom++;
      if (versions[keepFrom]!.rev <= revision && versions[keepFrom]!.kv === null) keepFrom++;
      if (keepFrom === 0) continue;
      if (keepFrom === versions.length) {
        this.history.delete(key);
        this.historyKeys.delete(key);
      } else {
        versions.splice(0, keepFrom);
      }
    }
    this.log = this.log.slice(revision - this.compacted);
    this.compacted = revision;
  }

  /** Applies one write at the next revision and publishes its event. */
  private write(op: WriteOp): KeyValue {
    const { key } = op;
    const event = applyWrite(op, this.live.get(key) ?? null, this.rev + 1);
    const rev = ++this.rev;
    const kv = event.type === 'delete' ? null : event.kv;
    if (kv) {
      if (!this.live.has(key)) this.liveKeys.insert(key);
      this.live.set(key, kv);
    } else {
      this.live.delete(key);
      this.liveKeys.delete(key);
    }
    const versions = this.history.get(key);
    if (versions) versions.push({ rev, kv });
    else {
      this.history.set(key, [{ rev, kv }]);
      this.historyKeys.insert(key);
    }
    this.log.push(event);
    this.hub.publish([event]);
    return event.kv;
  }

  /** Rejects a read at a revision that is compacted or not yet written. */
  private checkReadable(revision: number): void {
    // As etcd: the compacted revision itself stays readable (its state is kept), older ones do not.
    if (revision < this.compacted) throw new CompactedError(revision, this.compacted);
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
  }
}

/** The value a key had at revision `at` (null if absent or deleted then). */
function versionAt(versions: readonly Version[], at: number): KeyValue | null {
  // Binary search for the last version with rev <= at.
  let lo = 0;
  let hi = versions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (versions[mid]!.rev <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? null : versions[lo - 1]!.kv;
}
