/**
 * The embedded default backend: a kine-like revisioned log in SQLite. Every
 * write appends one row whose id is the write's revision; deletes append a
 * tombstone row. Concurrent writes are group-committed (one fsync'd
 * transaction per event-loop turn) so durability need not be weakened for
 * throughput. The latest value of every live key is also held in memory, so
 * reads at the current revision never touch the database.
 */
import { mkdirSync, openSync, closeSync, fdatasync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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

/** Configuration of a SqliteBackend. */
export interface SqliteBackendOptions {
  /** File path of the database (its directory is created when missing). */
  path: string;
  /**
   * How many recent events to keep in memory for watch replay (default 10000);
   * a watch starting further back replays from the table.
   */
  watchWindow?: number;
}

/** A write waiting for the next group commit. */
type PendingWrite = WriteOp & { resolve(kv: KeyValue): void; reject(err: unknown): void };

/** A row of the kv table. */
interface Row {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** The SQLite Backend; see the module comment. */
export class SqliteBackend implements Backend {
  private db: Database.Database | null = null;
  private stmts: ReturnType<typeof prepareStatements> | null = null;
  /** Last committed revision. */
  private rev = 0;
  private compacted = 0;
  private readonly live = new Map<string, KeyValue>();
  private liveKeys = new SortedKeys();
  /** Committed events with contiguous revisions recentFrom, recentFrom+1, … (the watch window). */
  private recent: WatchEvent[] = [];
  private recentFrom = 1;
  private readonly window: number;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  /** File descriptor of the WAL, opened after the first commit, for fdatasync. */
  private walFd: number | undefined;
  /** Batches are acknowledged in commit order, each after its WAL sync. */
  private syncChain: Promise<void> = Promise.resolve();
  private readonly hub = new WatchHub();

  constructor(private readonly options: SqliteBackendOptions) {
    this.window = options.watchWindow ?? 10000;
  }

  async start(): Promise<void> {
    if (this.db) return;
    if (this.options.path !== ':memory:') mkdirSync(dirname(this.options.path), { recursive: true });
    const db = new Database(this.options.path);
    try {
      db.pragma('journal_mode = WAL');
      // NORMAL: SQLite does not fsync at commit; flush() fdatasyncs the WAL on the thread pool
      // before acknowledging, so an acknowledged write still survives power loss but the
      // event loop never blocks on the disk. (SQLite syncs the WAL before each checkpoint.)
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      this.stmts = prepareStatements(db);
      const meta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
      this.compacted = (meta.get('compact_revision') as number | undefined) ?? 0;
      // sqlite_sequence remembers the highest id ever used, even when compaction deleted
      // those rows, which keeps the revision monotonic across restarts.
      const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").pluck().get() as number | undefined;
      const maxId = db.prepare('SELECT MAX(id) FROM kv').pluck().get() as number | null;
      this.rev = Math.max(seq ?? 0, maxId ?? 0, this.compacted);
      const rows = db
        .prepare(
          `SELECT k.id, k.name, k.create_revision, k.value FROM kv k
           JOIN (SELECT MAX(id) AS id FROM kv GROUP BY name) m ON k.id = m.id
           WHERE k.deleted = 0`,
        )
        .iterate() as IterableIterator<Row>;
      for (const r of rows) this.live.set(r.name, rowToKv(r));
      this.liveKeys = new SortedKeys(this.live.keys());
      this.recent = [];
      this.recentFrom = this.rev + 1;
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
  }

  async close(): Promise<void> {
    if (!this.db) return;
    this.flush();
    await this.syncChain;
    if (this.walFd !== undefined) {
      closeSync(this.walFd);
      this.walFd = undefined;
    }
    this.hub.stopAll();
    this.db.close();
    this.db = null;
    this.stmts = null;
  }

  currentRevision(): number {
    return this.rev;
  }

  compactedRevision(): number {
    return this.compacted;
  }

  async get(key: string): Promise<KeyValue | null> {
    this.open();
    return this.live.get(key) ?? null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const stmts = this.open();
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const at = opts.revision ?? 0;
    const items: KeyValue[] = [];
    if (at === 0 || at === this.rev) {
      for (const key of this.liveKeys.scan(prefix, opts.startAfter)) {
        if (items.length === limit) return { items, revision: this.rev, more: true };
        items.push(this.live.get(key)!);
      }
      return { items, revision: this.rev, more: false };
    }
    // As etcd: the compacted revision itself stays readable (its state is kept), older ones do not.
    if (at < this.compacted) throw new CompactedError(at, this.compacted);
    if (at > this.rev) throw new FutureRevisionError(at, this.rev);
    const upper = prefixEnd(prefix);
    const after = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter : null;
    const stmt = stmts.listAt[(upper === null ? 0 : 1) + (after === null ? 0 : 2)]!;
    const params: Record<string, string | number> = { lower: prefix, rev: at };
    if (upper !== null) params.upper = upper;
    if (after !== null) params.after = after;
    for (const r of stmt.iterate(params) as IterableIterator<Row>) {
      // The SQL range is a superset when no upper bound could be computed.
      if (!r.name.startsWith(prefix)) break;
      if (items.length === limit) return { items, revision: at, more: true };
      items.push(rowToKv(r));
    }
    return { items, revision: at, more: false };
  }

  async count(prefix: string): Promise<number> {
    this.open();
    return this.liveKeys.count(prefix);
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.enqueue({ kind: 'create', key, value });
  }

  update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    return this.enqueue({ kind: 'update', key, value, expectedRevision });
  }

  delete(key: string, expectedRevision?: number): Promise<KeyValue> {
    return this.enqueue({ kind: 'delete', key, expectedRevision });
  }

  watch(prefix: string, afterRevision: number, handlers: WatchHandlers): Watcher {
    const stmts = this.open();
    if (afterRevision < this.compacted) {
      return this.hub.failed(handlers, new CompactedError(afterRevision, this.compacted));
    }
    const replay: WatchEvent[] = [];
    if (afterRevision < this.rev) {
      if (afterRevision + 1 >= this.recentFrom) {
        for (let i = afterRevision + 1 - this.recentFrom; i < this.recent.length; i++) {
          const ev = this.recent[i]!;
          if (ev.kv.key.startsWith(prefix)) replay.push(ev);
        }
      } else {
        // Older than the in-memory window: replay from the log. Reads are synchronous, so
        // no commit can slip in between this read and the subscription below.
        const rows = stmts.eventsAfter.iterate(afterRevision, this.rev) as IterableIterator<Row & { prev_value: string | null }>;
        for (const r of rows) if (r.name.startsWith(prefix)) replay.push(rowToEvent(r));
      }
    }
    return this.hub.subscribe(prefix, replay, Math.max(afterRevision, this.rev), handlers);
  }

  async compact(revision: number): Promise<void> {
    const stmts = this.open();
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    if (revision <= this.compacted) return;
    // Delete rows superseded by a newer row at or below `revision`, and tombstones at or
    // below it: the state at `revision` stays readable and every later event keeps the
    // row holding its previous value (etcd's compaction rule).
    this.db!.transaction(() => {
      stmts.compact.run({ rev: revision });
      stmts.setMeta.run('compact_revision', revision);
    })();
    this.compacted = revision;
    if (this.recentFrom <= revision) {
      this.recent = this.recent.slice(Math.min(this.recent.length, revision + 1 - this.recentFrom));
      this.recentFrom = revision + 1;
    }
  }

  /** The prepared statements, or an error when the backend is not open. */
  private open(): ReturnType<typeof prepareStatements> {
    if (!this.stmts) throw new Error('sqlite storage backend is not started');
    return this.stmts;
  }

  /** Queues a write for the next group commit. */
  private enqueue(op: WriteOp): Promise<KeyValue> {
    if (!this.db) return Promise.reject(new Error('sqlite storage backend is not started'));
    return new Promise<KeyValue>((resolve, reject) => {
      this.pending.push({ ...op, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate runs after the current turn's microtasks, so every write issued by
        // callers woken in this turn lands in the same transaction.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending write in one transaction, then settles them and publishes events. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0 || !this.db) return;
    this.pending = [];
    const stmts = this.stmts!;
    // Each write is checked against the state left by the writes before it in this batch.
    const staged = new Map<string, KeyValue | null>();
    const outcomes: Array<WatchEvent | Error> = [];
    let rev = this.rev;
    try {
      this.db.transaction(() => {
        for (const op of batch) {
          const current = staged.has(op.key) ? staged.get(op.key)! : (this.live.get(op.key) ?? null);
          let ev: WatchEvent;
          try {
            ev = applyWrite(op, current, rev + 1);
          } catch (err) {
            // A refused write fails alone; the rest of the batch still commits.
            outcomes.push(err as Error);
            continue;
          }
          rev++;
          const kv = ev.kv;
          stmts.insert.run(
            rev,
            kv.key,
            ev.type === 'create' ? 1 : 0,
            ev.type === 'delete' ? 1 : 0,
            kv.createRevision,
            ev.prev ? ev.prev.modRevision : 0,
            kv.value,
          );
          staged.set(kv.key, ev.type === 'delete' ? null : kv);
          outcomes.push(ev);
        }
      })();
    } catch (err) {
      // The transaction rolled back: nothing in this batch happened.
      for (const op of batch) op.reject(err);
      return;
    }
    this.rev = rev;
    for (const [key, kv] of staged) {
      if (kv) {
        if (!this.live.has(key)) this.liveKeys.insert(key);
        this.live.set(key, kv);
      } else if (this.live.delete(key)) {
        this.liveKeys.delete(key);
      }
    }
    const settle = () => {
      const events: WatchEvent[] = [];
      for (let i = 0; i < batch.length; i++) {
        const o = outcomes[i]!;
        if (o instanceof Error) batch[i]!.reject(o);
        else {
          events.push(o);
          batch[i]!.resolve(o.kv);
        }
      }
      this.remember(events);
      this.hub.publish(events);
    };
    const fd = this.walDescriptor();
    if (fd === undefined || !outcomes.some((o) => !(o instanceof Error))) {
      // Nothing was written (or there is no file to sync: an in-memory database).
      this.syncChain = this.syncChain.then(settle);
      return;
    }
    // Acknowledge (and show watchers) only what is on disk, in commit order.
    this.syncChain = this.syncChain.then(
      () =>
        new Promise<void>((resolve) => {
          fdatasync(fd, (err) => {
            if (err) {
              for (const op of batch) op.reject(err);
            } else {
              settle();
            }
            resolve();
          });
        }),
    );
  }

  /** The WAL's file descriptor (undefined for an in-memory database). */
  private walDescriptor(): number | undefined {
    if (this.walFd === undefined && this.options.path !== ':memory:') {
      try {
        this.walFd = openSync(`${this.options.path}-wal`, 'r');
      } catch {
        return undefined;
      }
    }
    return this.walFd;
  }

  /** Appends committed events to the in-memory watch window, trimming it in chunks. */
  private remember(events: WatchEvent[]): void {
    if (this.window <= 0) {
      this.recentFrom = this.rev + 1;
      return;
    }
    for (const ev of events) this.recent.push(ev);
    if (this.recent.length > 2 * this.window) {
      const drop = this.recent.length - this.window;
      this.recent = this.recent.slice(drop);
      this.recentFrom += drop;
    }
  }
}

/** The statements used after start, prepared once. */
function prepareStatements(db: Database.Database) {
  // Latest row at or below :rev of each key in the prefix range; variants by which of the
  // upper bound and the paging cursor apply (index = hasUpper + 2 * hasAfter).
  const listAt = [false, true].flatMap((hasAfter) =>
    [false, true].map((hasUpper) =>
      db.prepare(
        `SELECT k.id, k.name, k.create_revision, k.value FROM kv k
         JOIN (SELECT MAX(id) AS id FROM kv
               WHERE name >= :lower ${hasUpper ? 'AND name < :upper' : ''} ${hasAfter ? 'AND name > :after' : ''}
                 AND id <= :rev
               GROUP BY name) m ON k.id = m.id
         WHERE k.deleted = 0 ORDER BY k.name`,
      ),
    ),
  );
  return {
    insert: db.prepare(
      'INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    listAt,
    eventsAfter: db.prepare(
      `SELECT c.id, c.name, c.created, c.deleted, c.create_revision, c.prev_revision, c.value, p.value AS prev_value
       FROM kv c LEFT JOIN kv p ON p.id = c.prev_revision
       WHERE c.id > ? AND c.id <= ? ORDER BY c.id`,
    ),
    compact: db.prepare(
      `DELETE FROM kv WHERE id <= :rev AND (
         deleted = 1 OR id < (SELECT MAX(k2.id) FROM kv k2 WHERE k2.name = kv.name AND k2.id <= :rev))`,
    ),
    setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
  };
}

/** The live KeyValue a (non-tombstone) row stores. */
function rowToKv(r: Pick<Row, 'id' | 'name' | 'create_revision' | 'value'>): KeyValue {
  return Object.freeze({ key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id });
}

/** The watch event a logged row stands for (prev_value: the value of the row it superseded). */
function rowToEvent(r: Row & { prev_value: string | null }): WatchEvent {
  const kv = rowToKv(r);
  if (r.created) return Object.freeze({ type: 'create', kv });
  // A tombstone row stores the last value, which is also the previous value.
  const prevValue = r.deleted ? r.value : (r.prev_value ?? '');
  const prev = Object.freeze({ key: r.name, value: prevValue, createRevision: r.create_revision, modRevision: r.prev_revision });
  return Object.freeze({ type: r.deleted ? 'delete' : 'update', kv, prev });
}

/**
 * The smallest string above every string starting with `prefix` in SQLite's byte
 * order, or null when there is none simple to compute (empty prefix, or a last
 * character where UTF-8 and UTF-16 order could disagree).
 */
function prefixEnd(prefix: string): string | null {
  if (prefix === '') return null;
  const last = prefix.charCodeAt(prefix.length - 1);
  if (last >= 0xd7ff) return null;
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
