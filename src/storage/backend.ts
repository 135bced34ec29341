/**
 * The storage contract every backend (memory, SQLite, etcd) implements: a
 * revisioned key/value store whose global revision is the API's
 * resourceVersion. Keys are '/'-separated strings such as
 * `/registry/pods/default/web-0`; values are opaque serialized objects.
 */

/** One stored key at one revision. */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (unchanged by updates). */
  createRevision: number;
  /** Revision of the last write to this key: the object's resourceVersion. */
  modRevision: number;
}

/** A change seen by a watcher. `prev` is the value before an update or delete. */
export interface WatchEvent {
  type: 'create' | 'update' | 'delete';
  kv: KeyValue;
  /** The previous value (for update and delete); for delete, kv.value is the last value and kv.modRevision the delete's revision. */
  prev?: KeyValue;
}

/** Options for a range read. */
export interface ListOptions {
  /** Read as of this revision (0 or absent = current). Fails with CompactedError when older than the compacted revision. */
  revision?: number;
  /** Return at most this many keys (0 or absent = all). */
  limit?: number;
  /** Start strictly after this key (for paging; the key of the last item of the previous page). */
  startAfter?: string;
}

/** Result of a range read. */
export interface ListResult {
  items: KeyValue[];
  /** The revision this list is consistent at. */
  revision: number;
  /** Whether more keys remain after the last item returned. */
  more: boolean;
}

/** Thrown (or given to a watch's onError) when history older than the compacted revision is requested: a list at revision < compacted, a watch from afterRevision < compacted. */
export class CompactedError extends Error {
  constructor(readonly requested: number, readonly compacted: number) {
    super(`required revision ${requested} has been compacted (compacted revision ${compacted})`);
    this.name = 'CompactedError';
  }
}

/** Thrown when a revision newer than the current revision is requested (list or compact); etcd's ErrFutureRev. */
export class FutureRevisionError extends Error {
  constructor(readonly requested: number, readonly current: number) {
    super(`required revision ${requested} is a future revision (current revision ${current})`);
    this.name = 'FutureRevisionError';
  }
}

/** Thrown by create when the key exists. */
export class KeyExistsError extends Error {
  constructor(readonly key: string) {
    super(`key exists: ${key}`);
    this.name = 'KeyExistsError';
  }
}

/** Thrown by get/update/delete when the key does not exist. */
export class KeyNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`key not found: ${key}`);
    this.name = 'KeyNotFoundError';
  }
}

/** Thrown by update/delete when the key's modRevision differs from the expected one. */
export class RevisionMismatchError extends Error {
  constructor(readonly key: string, readonly expected: number, readonly actual: number) {
    super(`revision mismatch on ${key}: expected ${expected}, actual ${actual}`);
    this.name = 'RevisionMismatchError';
  }
}

/** A registered watch; `stop` ends it (no events after stop returns). */
export interface Watcher {
  stop(): void;
}

/** Callbacks of a watch. Events are delivered in revision order, each exactly once. */
export interface WatchHandlers {
  onEvents(events: WatchEvent[]): void;
  /** The watch ended because of an error (e.g. the start revision was compacted). */
  onError?(err: Error): void;
}

/**
 * The narrow storage interface. All writes are durable when their promise
 * resolves. Every write increments the one global revision by exactly one.
 */
export interface Backend {
  /** Opens the store (creating it if needed). Resolves when ready for use. */
  start(): Promise<void>;
  /** Flushes pending writes and closes. */
  close(): Promise<void>;
  /** The current (latest) revision; 0 for an empty store that was never written. */
  currentRevision(): number;
  /** The latest value of one key, or null. */
  get(key: string): Promise<KeyValue | null>;
  /** Keys that start with `prefix`, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Number of live keys under prefix. */
  count(prefix: string): Promise<number>;
  /** Creates a key; throws KeyExistsError. Resolves with the new KeyValue. */
  create(key: string, value: string): Promise<KeyValue>;
  /** Replaces a key's value if its modRevision is `expectedRevision`; throws KeyNotFoundError / RevisionMismatchError. */
  update(key: string, value: string, expectedRevision: number): Promise<KeyValue>;
  /** Deletes a key (if `expectedRevision` given, only at that revision). Resolves with the deleted value and the delete's revision as modRevision. */
  delete(key: string, expectedRevision?: number): Promise<KeyValue>;
  /**
   * Watches keys under prefix for changes with revision > `afterRevision`.
   * Events older than the compacted revision cannot be replayed: onError gets a CompactedError.
   */
  watch(prefix: string, afterRevision: number, handlers: WatchHandlers): Watcher;
  /** Drops history at or below `revision` (latest values of live keys are kept). */
  compact(revision: number): Promise<void>;
  /** The revision history was compacted up to (0 if never). */
  compactedRevision(): number;
}
