/**
 * The write rules every local backend applies: how a create, update or delete
 * checks the key's current state and which event (new KeyValue, previous
 * value) it produces at the next revision. Kept in one place so the memory and
 * SQLite backends cannot drift apart.
 */
import {
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  type KeyValue,
  type WatchEvent,
} from './backend.js';

/** One requested write. */
export type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expectedRevision: number }
  | { kind: 'delete'; key: string; expectedRevision?: number };

/**
 * Checks `op` against the key's current value and returns the event it makes at
 * revision `rev` (frozen, shared by readers and watchers). Throws KeyExistsError,
 * KeyNotFoundError or RevisionMismatchError when the write must not happen.
 */
export function applyWrite(op: WriteOp, current: KeyValue | null, rev: number): WatchEvent {
  const { key } = op;
  if (op.kind === 'create') {
    if (current) throw new KeyExistsError(key);
    const kv = Object.freeze({ key, value: op.value, createRevision: rev, modRevision: rev });
    return Object.freeze({ type: 'create', kv });
  }
  if (!current) throw new KeyNotFoundError(key);
  if (op.expectedRevision !== undefined && current.modRevision !== op.expectedRevision) {
    throw new RevisionMismatchError(key, op.expectedRevision, current.modRevision);
  }
  // A delete's kv carries the last value with the delete's revision (etcd's tombstone shape).
  const value = op.kind === 'update' ? op.value : current.value;
  const kv = Object.freeze({ key, value, createRevision: current.createRevision, modRevision: rev });
  return Object.freeze({ type: op.kind, kv, prev: current });
}
