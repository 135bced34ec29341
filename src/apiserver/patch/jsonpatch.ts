/**
 * JSON Patch (RFC 6902) as the apiserver applies `application/json-patch+json`:
 * the semantics of gopkg.in/evanphx/json-patch.v4 (v4.12.0, the version
 * Kubernetes 1.32 vendors), including its deviations from the RFC — negative
 * array indices count from the end, `replace` of a missing object key adds
 * it, a missing `value` means null, and `test` treats a missing key as null.
 */

import { ApiError } from '../../api/errors.js';
import { cloneJson, has, isMap, jsonEqual, jsonKindName, setKey, type JsonMap } from './gojson.js';

/** Upstream's limit on operations in one JSON patch (handlers/patch.go maxJSONPatchOperations). */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** An operation failed to apply; the apiserver turns any such failure into one generic 422. */
class OpError extends Error {}

/** 422 Invalid with the generic text upstream's NewGenericServerResponse gives; the library error is kept as `cause`. */
function applyFailed(cause: Error): ApiError {
  const err = new ApiError('Invalid', 'the server rejected our request due to an error in our request');
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
  return err;
}

type Container = JsonMap | unknown[];

/** RFC 6901 token decoding: `~1` → `/`, then `~0` → `~`, in one left-to-right pass. */
function decodeToken(t: string): string {
  return t.replace(/~[01]/g, (m) => (m === '~1' ? '/' : '~'));
}

/** Go's strconv.Atoi: optional sign, decimal digits only. */
function atoi(key: string): number {
  if (!/^[+-]?\d+$/.test(key)) throw new OpError(`strconv.Atoi: parsing ${JSON.stringify(key)}: invalid syntax`);
  const n = Number(key);
  if (!Number.isSafeInteger(n)) throw new OpError(`strconv.Atoi: parsing ${JSON.stringify(key)}: value out of range`);
  return n;
}

const invalidIndex = (idx: number) => new OpError(`Unable to access invalid index: ${idx}: invalid index referenced`);

/** Reads `key` of a container; a missing object key reads as undefined, a bad array index throws. */
function get(con: Container, key: string): unknown {
  if (!Array.isArray(con)) return has(con, key) ? con[key] : undefined;
  let idx = atoi(key);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  if (idx >= con.length) throw invalidIndex(idx);
  return con[idx];
}

/** Overwrites an existing array index or sets an object key (used by replace). */
function set(con: Container, key: string, val: unknown): void {
  if (!Array.isArray(con)) {
    setKey(con, key, val);
    return;
  }
  let idx = atoi(key);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  con[idx] = val;
}

/** Inserts into an array (`-` appends) or sets an object key. */
function add(con: Container, key: string, val: unknown): void {
  if (!Array.isArray(con)) {
    setKey(con, key, val);
    return;
  }
  if (key === '-') {
    con.push(val);
    return;
  }
  let idx: number;
  try {
    idx = atoi(key);
  } catch (e) {
    throw new OpError(`value was not a proper array index: '${key}': ${(e as Error).message}`);
  }
  const size = con.length + 1;
  if (idx >= size) throw invalidIndex(idx);
  if (idx < 0) {
    if (idx < -size) throw invalidIndex(idx);
    idx += size;
  }
  con.splice(idx, 0, val);
}

/** Removes an object key (which must exist) or an array element. */
function remove(con: Container, key: string): void {
  if (!Array.isArray(con)) {
    if (!has(con, key)) {
      throw new OpError(`Unable to remove nonexistent key: ${key}: missing value`);
    }
    delete con[key];
    return;
  }
  let idx = atoi(key);
  if (idx >= con.length) throw invalidIndex(idx);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  con.splice(idx, 1);
}

/**
 * Finds the container holding the last token of `path`, or undefined when
 * any intermediate step is missing, null or not a container.
 */
function findObject(root: Container, path: string): { con: Container; key: string } | undefined {
  const split = path.split('/');
  if (split.length < 2) return undefined;
  let doc: Container = root;
  for (const part of split.slice(1, -1)) {
    let next: unknown;
    try {
      next = get(doc, decodeToken(part));
    } catch {
      return undefined;
    }
    if (!Array.isArray(next) && !isMap(next)) return undefined;
    doc = next;
  }
  return { con: doc, key: decodeToken(split[split.length - 1]) };
}

/** Reads a string field of an operation (`path`/`from`), as Operation.Path()/From() do. */
function stringField(op: JsonMap, name: 'path' | 'from', opName: string): string {
  const v = op[name];
  if (v === undefined || v === null) throw new OpError(`${opName} operation failed to decode ${name}: missing value`);
  if (typeof v !== 'string') {
    throw new OpError(`json: cannot unmarshal ${jsonKindName(v)} into Go value of type string`);
  }
  return v;
}

/** Applies one operation to the (already copied) document; returns the possibly replaced root. */
function applyOp(root: Container, op: JsonMap): Container {
  const kind = typeof op.op === 'string' ? op.op : 'unknown';
  const value = op.value === undefined ? null : op.value;
  switch (kind) {
    case 'add': {
      const path = stringField(op, 'path', 'add');
      const found = findObject(root, path);
      if (!found) throw new OpError(`add operation does not apply: doc is missing path: "${path}": missing value`);
      try {
        add(found.con, found.key, cloneJson(value));
      } catch (e) {
        throw new OpError(`error in add for path: '${path}': ${(e as Error).message}`);
      }
      return root;
    }
    case 'remove': {
      const path = stringField(op, 'path', 'remove');
      const found = findObject(root, path);
      if (!found) throw new OpError(`remove operation does not apply: doc is missing path: "${path}": missing value`);
      try {
        remove(found.con, found.key);
      } catch (e) {
        throw new OpError(`error in remove for path: '${path}': ${(e as Error).message}`);
      }
      return root;
    }
    case 'replace': {
      const path = stringField(op, 'path', 'replace');
      if (path === '') {
        // evanphx: replacing the whole document needs an object or array value.
        if (!isMap(value) && !Array.isArray(value)) throw new OpError('replace operation value must be object or array');
        return cloneJson(value);
      }
      const found = findObject(root, path);
      if (!found) throw new OpError(`replace operation does not apply: doc is missing path: ${path}: missing value`);
      try {
        // For objects this never fails: v4 replaces a missing key by adding it (upstream reverted RFC-strict replace).
        get(found.con, found.key);
      } catch {
        throw new OpError(`replace operation does not apply: doc is missing key: ${path}: missing value`);
      }
      try {
        set(found.con, found.key, cloneJson(value));
      } catch (e) {
        throw new OpError(`error in remove for path: '${path}': ${(e as Error).message}`);
      }
      return root;
    }
    case 'move': {
      const from = stringField(op, 'from', 'move');
      const src = findObject(root, from);
      if (!src) throw new OpError(`move operation does not apply: doc is missing from path: ${from}: missing value`);
      let val: unknown;
      try {
        val = get(src.con, src.key);
        remove(src.con, src.key);
      } catch (e) {
        throw new OpError(`error in move for path: '${src.key}': ${(e as Error).message}`);
      }
      const path = stringField(op, 'path', 'move');
      const dst = findObject(root, path);
      if (!dst) throw new OpError(`move operation does not apply: doc is missing destination path: ${path}: missing value`);
      try {
        add(dst.con, dst.key, val === undefined ? null : val);
      } catch (e) {
        throw new OpError(`error in move for path: '${path}': ${(e as Error).message}`);
      }
      return root;
    }
    case 'copy': {
      const from = stringField(op, 'from', 'copy');
      const src = findObject(root, from);
      if (!src) throw new OpError(`copy operation does not apply: doc is missing from path: ${from}: missing value`);
      let val: unknown;
      try {
        val = get(src.con, src.key);
      } catch (e) {
        throw new OpError(`error in copy for from: '${from}': ${(e as Error).message}`);
      }
      const path = stringField(op, 'path', 'copy');
      const dst = findObject(root, path);
      if (!dst) throw new OpError(`copy operation does not apply: doc is missing destination path: ${path}: missing value`);
      try {
        // A missing source object key copies as null in v4.
        add(dst.con, dst.key, val === undefined ? null : cloneJson(val));
      } catch (e) {
        throw new OpError(`error while adding value during copy: ${(e as Error).message}`);
      }
      return root;
    }
    case 'test': {
      const path = stringField(op, 'path', 'test');
      if (path === '') {
        if (jsonEqual(root, value)) return root;
        throw new OpError(`testing value ${path} failed: test failed`);
      }
      const found = findObject(root, path);
      if (!found) throw new OpError(`test operation does not apply: is missing path: ${path}: missing value`);
      let val: unknown;
      try {
        val = get(found.con, found.key);
      } catch (e) {
        throw new OpError(`error in test for path: '${path}': ${(e as Error).message}`);
      }
      // A missing key and an explicit null both compare equal to a null value.
      const current = val === undefined ? null : val;
      if (jsonEqual(current, value)) return root;
      throw new OpError(`testing value ${path} failed: test failed`);
    }
    default:
      throw new OpError(`Unexpected kind: ${kind}`);
  }
}

/**
 * Checks that `ops` has the shape DecodePatch accepts (an array of objects,
 * or null for an empty patch) and returns the operations, or throws 400.
 */
export function decodeJsonPatch(ops: unknown): JsonMap[] {
  if (ops === null) return [];
  if (!Array.isArray(ops)) {
    throw new ApiError('BadRequest', `json: cannot unmarshal ${jsonKindName(ops)} into Go value of type jsonpatch.Patch`);
  }
  for (const op of ops) {
    if (op !== null && !isMap(op)) {
      throw new ApiError('BadRequest', `json: cannot unmarshal ${jsonKindName(op)} into Go value of type jsonpatch.Operation`);
    }
  }
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new ApiError(
      'RequestEntityTooLarge',
      `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`,
    );
  }
  return ops.map((op) => (op === null ? {} : (op as JsonMap)));
}

/**
 * Applies an RFC 6902 patch (already parsed) to a copy of `doc` and returns
 * the result. A malformed patch document throws 400 BadRequest; an operation
 * that does not apply throws 422 Invalid, as the apiserver answers.
 */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  const operations = decodeJsonPatch(ops);
  if (!isMap(doc) && !Array.isArray(doc)) {
    throw applyFailed(new Error('document is not a JSON object or array'));
  }
  let root: Container = cloneJson(doc);
  for (const op of operations) {
    try {
      root = applyOp(root, op);
    } catch (e) {
      if (e instanceof OpError) throw applyFailed(e);
      throw e;
    }
  }
  return root;
}
