/**
 * Strategic merge patch, applied server-side as upstream's
 * `strategicpatch.StrategicMergeMapPatch` does (apimachinery
 * pkg/util/strategicpatch/patch.go, mergeMap with MergeParallelList and
 * IgnoreUnmatchedNulls), driven by the OpenAPI schema's
 * `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` — the same
 * facts as the Go struct tags upstream reads. `x-kubernetes-list-type` and
 * `x-kubernetes-map-type` play no part in strategic merge patch.
 *
 * Where upstream's struct-tag lookup would fail (a field unknown to the
 * schema, or a map of objects), this merges like JSON merge patch instead of
 * returning upstream's internal error.
 */

import { ApiError } from '../../api/errors.js';
import type { SchemaNode, SchemaResolver } from '../../api/schema.js';
import { cloneJson, goFormat, goFormatS, goKind, goTypeName, has, isMap, jsonKindName, plainError, setKey, type GoKind, type JsonMap } from './gojson.js';

const DIRECTIVE_MARKER = '$patch';
const DELETE_DIRECTIVE = 'delete';
const REPLACE_DIRECTIVE = 'replace';
const MERGE_DIRECTIVE = 'merge';
const RETAIN_KEYS_STRATEGY = 'retainKeys';
const DELETE_FROM_PRIMITIVE_LIST_PREFIX = '$deleteFromPrimitiveList';
const RETAIN_KEYS_DIRECTIVE = '$retainKeys';
const SET_ELEMENT_ORDER_PREFIX = '$setElementOrder';

// mergepatch's sentinel errors; the apiserver maps these to 400 or 422 (interpretStrategicMergePatchError).
const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS = 'invalid patch format of retainKeys';
const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST = 'invalid patch format of setElementOrder list';
const ERR_NO_LIST_OF_LISTS = 'lists of lists are not supported';

/** 400 BadRequest carrying one of mergepatch's format errors. */
const badRequest = (message: string) => new ApiError('BadRequest', message);

/** 422 with the generic text, as upstream answers ErrNoListOfLists / ErrPatchContentNotMatchRetainKeys. */
function unprocessable(): ApiError {
  return new ApiError('Invalid', 'the server rejected our request due to an error in our request');
}

const errBadArgType = (expected: 'map' | 'slice', actual: unknown) =>
  plainError(
    `expected a ${expected === 'map' ? 'map[string]interface {}' : '[]interface {}'}, but received a ${goTypeName(actual)}`,
  );
const errNoMergeKey = (m: unknown, key: string) =>
  plainError(`map: ${goFormat(m)} does not contain declared merge key: ${key}`);
const errBadPatchType = (t: unknown, m: unknown) => plainError(`unknown patch type: ${goFormatS(t)} in map: ${goFormat(m)}`);

/** Where we are in the schema: a node (unresolved) or nothing when the field is unknown. */
interface Schema {
  resolver: SchemaResolver;
  node: SchemaNode | undefined;
}

/** The patch facts of one field (upstream's PatchMeta). */
interface PatchMeta {
  strategies: string[];
  mergeKey: string;
}

/** Follows `$ref` and a single-entry `allOf` wrapper to the node that describes the value. */
function resolveNode(s: Schema): SchemaNode | undefined {
  let n = s.resolver.resolve(s.node);
  if (n && !n.properties && n.allOf && n.allOf.length > 0) n = s.resolver.resolve(n.allOf[0]);
  return n;
}

/** The schema of field `key` of the object at `s`, with its patch facts. */
function lookupField(s: Schema, key: string): { field: SchemaNode | undefined; meta: PatchMeta } {
  const node = resolveNode(s);
  let field: SchemaNode | undefined = node?.properties?.[key];
  if (!field && node && typeof node.additionalProperties === 'object') field = node.additionalProperties;
  const strategy = field?.['x-kubernetes-patch-strategy'] ?? '';
  return {
    field,
    meta: { strategies: strategy.split(','), mergeKey: field?.['x-kubernetes-patch-merge-key'] ?? '' },
  };
}

/** LookupPatchMetadataForStruct: the sub-schema of a map-valued field. */
function lookupForStruct(s: Schema, key: string): { sub: Schema; meta: PatchMeta } {
  const { field, meta } = lookupField(s, key);
  return { sub: { resolver: s.resolver, node: field }, meta };
}

/** LookupPatchMetadataForSlice: the item schema of a list-valued field. */
function lookupForSlice(s: Schema, key: string): { sub: Schema; meta: PatchMeta } {
  const { field, meta } = lookupField(s, key);
  const resolved = field ? s.resolver.resolve(field) : undefined;
  // Like upstream's pointer case, a field that is not declared as an array describes its items itself.
  const items = resolved?.items ?? (resolved && resolved.type !== 'array' ? field : undefined);
  return { sub: { resolver: s.resolver, node: items }, meta };
}

/** extractRetainKeysPatchStrategy: splits `merge,retainKeys` into the retainKeys flag and the other strategy. */
function extractRetainKeysPatchStrategy(strategies: string[]): { retainKeys: boolean; strategy: string } {
  if (strategies.length === 0) return { retainKeys: false, strategy: '' };
  if (strategies.length === 1) {
    return strategies[0] === RETAIN_KEYS_STRATEGY
      ? { retainKeys: true, strategy: '' }
      : { retainKeys: false, strategy: strategies[0] };
  }
  if (strategies.length === 2) {
    if (strategies[0] === RETAIN_KEYS_STRATEGY) return { retainKeys: true, strategy: strategies[1] };
    if (strategies[1] === RETAIN_KEYS_STRATEGY) return { retainKeys: true, strategy: strategies[0] };
  }
  throw plainError(`unexpected patch strategy: [${strategies.join(' ')}]`);
}

/** removeDirectives: drops every object carrying `$patch` (and the list items that are such objects). */
function removeDirectives(obj: unknown): { value: unknown; keep: boolean } {
  if (isMap(obj)) {
    if (has(obj, DIRECTIVE_MARKER)) return { value: undefined, keep: false };
    for (const k of Object.keys(obj)) {
      const r = removeDirectives(obj[k]);
      if (r.keep) setKey(obj, k, r.value);
      else delete obj[k];
    }
    return { value: obj, keep: true };
  }
  if (Array.isArray(obj)) {
    const res: unknown[] = [];
    for (const v of obj) {
      const r = removeDirectives(v);
      if (r.keep) res.push(r.value);
    }
    return { value: res, keep: true };
  }
  return { value: obj, keep: true };
}

/** discardNullValuesFromPatch: deletes null-valued keys at every depth (null list items stay). */
function discardNullValues(v: unknown): void {
  if (isMap(v)) {
    for (const k of Object.keys(v)) {
      if (v[k] === null) delete v[k];
      else discardNullValues(v[k]);
    }
  } else if (Array.isArray(v)) {
    for (const item of v) discardNullValues(item);
  }
}

/** Stores the patch value for a key the original lacks (or holds with another type). */
function takePatchValue(original: JsonMap, k: string, patchV: unknown): void {
  discardNullValues(patchV);
  const r = removeDirectives(patchV);
  if (r.keep) setKey(original, k, r.value);
  else delete original[k];
}

/** extractKey: `$prefix/field` → `field`, or the prefix's format error. */
function extractKey(s: string, prefix: string): string {
  const slash = s.indexOf('/');
  if (slash < 0 || s.slice(0, slash) !== prefix) {
    if (prefix === DELETE_FROM_PRIMITIVE_LIST_PREFIX) throw badRequest(ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST);
    if (prefix === SET_ELEMENT_ORDER_PREFIX) throw badRequest(ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST);
    throw plainError(`fail to find unknown prefix "${prefix}" in ${s}\n`);
  }
  return s.slice(slash + 1);
}

/** The common Go element type of the given lists (sliceElementType). */
function sliceElementType(...lists: (unknown[] | undefined)[]): GoKind {
  let prev: GoKind | undefined;
  for (const list of lists) {
    for (const v of list ?? []) {
      const t = goKind(v);
      if (prev === undefined) {
        prev = t;
        if (prev === 'slice') throw unprocessable();
      } else if (prev !== t) {
        throw plainError(`list element types are not identical: [${lists.map((l) => goFormat(l ?? [])).join(' ')}]`);
      }
    }
  }
  if (prev === undefined) throw plainError('no elements in any of the given slices');
  return prev;
}

/** What `index` compares: the merge key's value for maps, the item itself otherwise. */
function orderValue(item: unknown, mergeKey: string, kind: GoKind): unknown {
  if (kind !== 'map') return item;
  return isMap(item) ? item[mergeKey] : undefined;
}

/** Position of `val` in `l` (by merge key for maps), or -1. */
function indexOf(l: readonly unknown[], val: unknown, mergeKey: string, kind: GoKind): number {
  const want = orderValue(val, mergeKey, kind);
  return l.findIndex((v) => orderValue(v, mergeKey, kind) === want);
}

/** validateMergeKeyInLists: every item is an object holding the merge key. */
function validateMergeKeyInLists(mergeKey: string, ...lists: readonly unknown[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isMap(item)) throw errBadArgType('map', item);
      if (!has(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    }
  }
}

/** extractToDeleteItems: splits items into kept ones and `$patch: delete` ones. */
function extractToDeleteItems(l: readonly unknown[]): { keep: unknown[]; toDelete: unknown[] } {
  const keep: unknown[] = [];
  const toDelete: unknown[] = [];
  for (const v of l) {
    if (!isMap(v)) throw errBadArgType('map', v);
    if (v[DIRECTIVE_MARKER] === DELETE_DIRECTIVE) toDelete.push(v);
    else keep.push(v);
  }
  return { keep, toDelete };
}

/** normalizeSliceOrder: stable sort of `toSort` by position in `order`, delete directives last. */
function normalizeSliceOrder(toSort: unknown[], order: unknown[], mergeKey: string, kind: GoKind): unknown[] {
  let items = toSort;
  let toDelete: unknown[] = [];
  if (kind === 'map') {
    validateMergeKeyInLists(mergeKey, toSort, order);
    ({ keep: items, toDelete } = extractToDeleteItems(toSort));
  }
  // Upstream's comparator orders two items by their positions when both are found in `order`,
  // and otherwise reports "less"; every caller passes items that are all found.
  const ranked = items.map((item, i) => ({ item, i, at: indexOf(order, item, mergeKey, kind) }));
  ranked.sort((a, b) => (a.at >= 0 && b.at >= 0 && a.at !== b.at ? a.at - b.at : a.i - b.i));
  return [...ranked.map((r) => r.item), ...toDelete];
}

/**
 * mergeSortedSlice: interleaves server-only items (`left`) into patch items
 * (`right`), keeping each list's order; a left item goes first only when both
 * are found in the live list and it came earlier there.
 */
function mergeSortedSlice(left: unknown[], right: unknown[], serverOrder: unknown[], mergeKey: string, kind: GoKind): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexOf(serverOrder, left[i], mergeKey, kind);
      const ri = indexOf(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

/** normalizeElementOrder: patch items in patch order, server-only items in live order, interleaved. */
function normalizeElementOrder(
  patch: unknown[],
  serverOnly: unknown[],
  patchOrder: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: GoKind,
): unknown[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

/** partitionPrimitivesByPresentInList. */
function partitionPrimitives(list: unknown[], by: unknown[]): { patch: unknown[]; serverOnly: unknown[] } {
  const inPatch = new Set(by);
  const patch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) (inPatch.has(v) ? patch : serverOnly).push(v);
  return { patch, serverOnly };
}

/** findMapInSliceBasedOnKeyValue: first object in `list` whose `key` equals `value`. */
function findByKey(list: unknown[], key: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isMap(v)) throw plainError(`value for key ${i} is not a map`);
    if (has(v, key) && v[key] === value) return i;
  }
  return -1;
}

/** partitionMapsByPresentInList. */
function partitionMaps(list: unknown[], by: unknown[], mergeKey: string): { patch: unknown[]; serverOnly: unknown[] } {
  const patch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) {
    if (!isMap(v)) throw errBadArgType('map', v);
    if (!has(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
    (findByKey(by, mergeKey, v[mergeKey]) >= 0 ? patch : serverOnly).push(v);
  }
  return { patch, serverOnly };
}

/** Go's `%v` of a list, for the setElementOrder mismatch message. */
const listText = (l: unknown) => goFormat(l);

/** validatePatchWithSetOrderList: patch items must appear in the `$setElementOrder` list, in its order. */
function validatePatchWithSetOrderList(patchList: unknown[] | undefined, setOrder: unknown[], mergeKey: string): void {
  const patchItems = patchList ?? [];
  if (setOrder.length === 0 || patchItems.length === 0) return;
  const nonDelete = mergeKey ? extractToDeleteItems(patchItems).keep : patchItems;
  let p = 0;
  let s = 0;
  while (p < nonDelete.length && s < setOrder.length) {
    if (isMap(nonDelete[p]) && has(nonDelete[p] as JsonMap, DIRECTIVE_MARKER)) {
      p++;
      continue;
    }
    if (mergeKeyValueEqual(nonDelete[p], setOrder[s], mergeKey)) p++;
    s++;
  }
  if (p < nonDelete.length && s >= setOrder.length) {
    throw plainError(
      `The order in patch list:\n${listText(patchItems)}\n doesn't match ${SET_ELEMENT_ORDER_PREFIX} list:\n${listText(setOrder)}\n`,
    );
  }
}

/** mergeKeyValueEqual: items equal by merge key (or by value for primitives). */
function mergeKeyValueEqual(left: unknown, right: unknown, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isMap(left)) throw errBadArgType('map', left);
  if (!isMap(right)) throw errBadArgType('map', right);
  if (!has(left, mergeKey)) throw errNoMergeKey(left, mergeKey);
  if (!has(right, mergeKey)) throw errNoMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

/** applyRetainKeysDirective: clears original keys absent from `$retainKeys`, after checking the patch against it. */
function applyRetainKeysDirective(original: JsonMap, patch: JsonMap): void {
  if (!has(patch, RETAIN_KEYS_DIRECTIVE)) return;
  const retain = patch[RETAIN_KEYS_DIRECTIVE];
  delete patch[RETAIN_KEYS_DIRECTIVE];
  if (!Array.isArray(retain)) throw badRequest(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS);
  const keep = new Set<unknown>(retain);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST_PREFIX) || k.startsWith(SET_ELEMENT_ORDER_PREFIX)) continue;
    if (!keep.has(k)) throw badRequest(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS);
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/**
 * mergePatchIntoOriginal: handles each `$setElementOrder/<field>` together
 * with its list, merging and then ordering the result by the directive
 * (precedence: $setElementOrder, then patch order, then live order).
 */
function mergePatchIntoOriginal(original: JsonMap, patch: JsonMap, schema: Schema): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER_PREFIX)) continue;
    const setOrder = patch[key];
    delete patch[key];
    if (!Array.isArray(setOrder)) throw errBadArgType('slice', setOrder);
    const originalKey = extractKey(key, SET_ELEMENT_ORDER_PREFIX);
    const foundOriginal = has(original, originalKey);
    const foundPatch = has(patch, originalKey);
    const originalList = original[originalKey];
    const patchList = patch[originalKey];
    if (foundOriginal && !Array.isArray(originalList)) throw errBadArgType('slice', originalList);
    if (foundPatch && !Array.isArray(patchList)) throw errBadArgType('slice', patchList);
    const originalValue = foundOriginal ? (originalList as unknown[]) : undefined;
    const patchValue = foundPatch ? (patchList as unknown[]) : undefined;
    const { sub, meta } = lookupForSlice(schema, originalKey);
    const { strategy } = extractRetainKeysPatchStrategy(meta.strategies);
    validatePatchWithSetOrderList(patchValue, setOrder, meta.mergeKey);

    let merged: unknown[];
    if (foundOriginal && !foundPatch) {
      merged = originalValue!;
    } else if (!foundOriginal && foundPatch) {
      merged = removeDirectives(patchValue).value as unknown[];
    } else if (foundOriginal && foundPatch) {
      // Keep the live order intact for the ordering step: merge a copy.
      merged = mergeSliceHandler([...originalValue!], patchValue!, sub, strategy, meta.mergeKey, false);
    } else {
      continue;
    }

    const { patch: patchItems, serverOnly } = meta.mergeKey
      ? partitionMaps(merged, setOrder, meta.mergeKey)
      : partitionPrimitives(merged, setOrder);
    const kind = sliceElementType(originalValue, patchValue);
    setKey(original, originalKey, normalizeElementOrder(patchItems, serverOnly, setOrder, originalValue ?? [], meta.mergeKey, kind));
    delete patch[originalKey];
  }
}

/** mergeMapHandler: a map field merges unless its strategy is `replace`. */
function mergeMapHandler(original: unknown, patch: unknown, schema: Schema, strategy: string): JsonMap {
  if (!isMap(original)) throw errBadArgType('map', original);
  if (!isMap(patch)) throw errBadArgType('map', patch);
  return strategy !== REPLACE_DIRECTIVE ? mergeMap(original, patch, schema) : patch;
}

/** mergeSliceHandler: a list merges under strategy `merge` (or as a deletion list), else the patch replaces it. */
function mergeSliceHandler(
  original: unknown,
  patch: unknown,
  schema: Schema,
  strategy: string,
  mergeKey: string,
  isDeleteList: boolean,
): unknown[] {
  if (!Array.isArray(original)) throw errBadArgType('slice', original);
  if (!Array.isArray(patch)) throw errBadArgType('slice', patch);
  if (strategy === MERGE_DIRECTIVE || isDeleteList) return mergeSlice(original, patch, schema, mergeKey, isDeleteList);
  return patch;
}

/** mergeSliceWithSpecialElements: applies `$patch: delete|replace` items of a list of objects. */
function mergeSliceWithSpecialElements(
  original: unknown[],
  patch: unknown[],
  mergeKey: string,
): { original: unknown[]; patch: unknown[] } {
  let orig = original;
  const plain: unknown[] = [];
  let replace = false;
  for (const v of patch) {
    const item = v as JsonMap;
    if (!has(item, DIRECTIVE_MARKER)) {
      plain.push(v);
      continue;
    }
    const directive = item[DIRECTIVE_MARKER];
    if (directive === DELETE_DIRECTIVE) {
      if (!has(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
      // Deletes every entry with that merge key value.
      for (let at = findByKey(orig, mergeKey, item[mergeKey]); at >= 0; at = findByKey(orig, mergeKey, item[mergeKey])) {
        orig = [...orig.slice(0, at), ...orig.slice(at + 1)];
      }
    } else if (directive === REPLACE_DIRECTIVE) {
      replace = true;
    } else if (directive === MERGE_DIRECTIVE) {
      throw plainError('merging lists cannot yet be specified in the patch');
    } else {
      throw errBadPatchType(directive, item);
    }
  }
  if (replace) return { original: plain, patch: [] };
  return { original: orig, patch: plain };
}

/** mergeSlice: merges two lists — objects by merge key, primitives as a set (or deletes a deletion list). */
function mergeSlice(original: unknown[], patch: unknown[], schema: Schema, mergeKey: string, isDeleteList: boolean): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = sliceElementType(original, patch);
  let merged: unknown[];
  let orig = original;
  let pat = patch;
  if (kind !== 'map') {
    if (isDeleteList) {
      const drop = new Set(patch);
      return original.filter((v) => !drop.has(v));
    }
    // Union without duplicates; the final order is fixed by normalizeElementOrder below.
    merged = [];
    for (const v of [...original, ...patch]) if (!merged.includes(v)) merged.push(v);
  } else {
    if (!mergeKey) throw plainError('cannot merge lists without merge key for struct');
    ({ original: orig, patch: pat } = mergeSliceWithSpecialElements(original, patch, mergeKey));
    merged = [...orig];
    for (const v of pat) {
      const item = v as JsonMap;
      if (!has(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
      const at = findByKey(merged, mergeKey, item[mergeKey]);
      if (at >= 0) merged[at] = mergeMap(merged[at] as JsonMap, item, schema);
      else merged.push(v);
    }
  }
  const { patch: patchItems, serverOnly } = mergeKey ? partitionMaps(merged, pat, mergeKey) : partitionPrimitives(merged, pat);
  return normalizeElementOrder(patchItems, serverOnly, pat, orig, mergeKey, kind);
}

/** mergeMap: the heart of strategic merge patch; mutates and returns `original`. */
function mergeMap(original: JsonMap, patch: JsonMap, schema: Schema): JsonMap {
  if (has(patch, DIRECTIVE_MARKER)) {
    const directive = patch[DIRECTIVE_MARKER];
    if (directive === REPLACE_DIRECTIVE) {
      // `$patch: replace` on a map: the patch (minus the marker) is the new value.
      delete patch[DIRECTIVE_MARKER];
      return patch;
    }
    if (directive === DELETE_DIRECTIVE) return {};
    throw errBadPatchType(directive, patch);
  }

  applyRetainKeysDirective(original, patch);
  mergePatchIntoOriginal(original, patch, schema);

  for (const [patchKey, patchV] of Object.entries(patch)) {
    let k = patchKey;
    let isDeleteList = false;
    if (k.startsWith(DELETE_FROM_PRIMITIVE_LIST_PREFIX)) {
      const noPrefix = extractKey(k, DELETE_FROM_PRIMITIVE_LIST_PREFIX);
      isDeleteList = true;
      if (noPrefix.length > 0) k = noPrefix;
    }

    // null deletes the field; an unmatched null is dropped (IgnoreUnmatchedNulls).
    if (patchV === null) {
      delete original[k];
      continue;
    }

    if (!has(original, k)) {
      if (!isDeleteList) takePatchValue(original, k, patchV);
      continue;
    }

    const originalKind = goKind(original[k]);
    if (originalKind !== goKind(patchV)) {
      if (!isDeleteList) takePatchValue(original, k, patchV);
      continue;
    }

    if (originalKind === 'map') {
      const { sub, meta } = lookupForStruct(schema, k);
      const { strategy } = extractRetainKeysPatchStrategy(meta.strategies);
      setKey(original, k, mergeMapHandler(original[k], patchV, sub, strategy));
    } else if (originalKind === 'slice') {
      const { sub, meta } = lookupForSlice(schema, k);
      const { strategy } = extractRetainKeysPatchStrategy(meta.strategies);
      setKey(original, k, mergeSliceHandler(original[k], patchV, sub, strategy, meta.mergeKey, isDeleteList));
    } else {
      setKey(original, k, patchV);
    }
  }
  return original;
}

/**
 * Applies a strategic merge patch (already parsed) to a copy of `doc`,
 * following the patch strategies and merge keys of `schema` (the root node,
 * e.g. `{ $ref: '#/definitions/io.k8s.api.core.v1.Pod' }`). Neither input is
 * mutated. Invalid directives throw the ApiError the apiserver returns (400
 * for format errors, 422 for lists of lists, 500 for the rest).
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, resolver: SchemaResolver, schema: SchemaNode): unknown {
  if (patch === null) return cloneJson(doc);
  if (!isMap(patch)) {
    throw badRequest(`json: cannot unmarshal ${jsonKindName(patch)} into Go value of type map[string]interface {}`);
  }
  const original = isMap(doc) ? cloneJson(doc) : {};
  return mergeMap(original, cloneJson(patch), { resolver, node: schema });
}
