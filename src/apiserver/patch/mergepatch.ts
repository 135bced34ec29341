/**
 * JSON Merge Patch (RFC 7386) as the apiserver applies
 * `application/merge-patch+json`: evanphx/json-patch v4 `MergePatch`, whose
 * only departures from the RFC are that a patch which is neither an object
 * nor an array is rejected ("Invalid JSON Patch", 400), and that nulls are
 * pruned from objects nested in arrays when an array replaces a non-object.
 */

import { ApiError } from '../../api/errors.js';
import { cloneJson, has, isMap, setKey, type JsonMap } from './gojson.js';

/** The library's ErrBadJSONPatch text, returned to clients as 400 BadRequest. */
export const BAD_JSON_PATCH = 'Invalid JSON Patch';

/** Removes null-valued keys from every object in `v` (arrays keep their null elements). */
function pruneNulls(v: unknown): void {
  if (Array.isArray(v)) {
    for (const item of v) if (item !== null) pruneNulls(item);
  } else if (isMap(v)) {
    for (const k of Object.keys(v)) {
      if (v[k] === null) delete v[k];
      else pruneNulls(v[k]);
    }
  }
}

/** merge(cur, patch) of the library: objects merge, anything else is replaced by the patch value. */
function mergeValue(cur: unknown, patch: unknown): unknown {
  if (!isMap(cur)) {
    pruneNulls(patch);
    return patch;
  }
  if (!isMap(patch)) return patch;
  mergeDocs(cur, patch);
  return cur;
}

/** Merges `patch` into `doc` in place: null deletes, objects recurse, other values replace. */
function mergeDocs(doc: JsonMap, patch: JsonMap): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete doc[k];
      continue;
    }
    const cur = has(doc, k) ? doc[k] : undefined;
    if (cur === undefined || cur === null) {
      pruneNulls(v);
      setKey(doc, k, v);
    } else {
      setKey(doc, k, mergeValue(cur, v));
    }
  }
}

/**
 * Applies a JSON merge patch (already parsed) to a copy of `doc` and returns
 * the result. A patch that is null or a scalar throws 400 "Invalid JSON Patch".
 */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isMap(patch) && !Array.isArray(patch)) throw new ApiError('BadRequest', BAD_JSON_PATCH);
  const p = cloneJson(patch);
  if (Array.isArray(p) || !isMap(doc)) {
    // Not two objects: the result is the patch itself, minus nulls.
    pruneNulls(p);
    return p;
  }
  const out = cloneJson(doc);
  mergeDocs(out, p);
  return out;
}
