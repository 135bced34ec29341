/**
 * Pruning of custom objects against their structural schema (apiextensions
 * pkg/apiserver/schema/pruning) and the removal of nulls the schema does not
 * allow (defaulting/prunenulls.go), as the custom resource decoder does.
 */
import type { JSONSchemaProps } from './types.js';
import { additionalSchema, itemSchema } from './structural.js';
import { isObject } from './util.js';

const META_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

/** The fields of meta/v1 ObjectMeta; anything else in an embedded resource's metadata is dropped. */
const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

function appendKey(path: string, k: string): string {
  return path ? `${path}.${k}` : k;
}

function prune(x: unknown, s: JSONSchemaProps | undefined, path: string, out: string[], isRoot: boolean): void {
  if (s && s['x-kubernetes-preserve-unknown-fields']) {
    skipPrune(x, s, path, out, isRoot);
    return;
  }
  if (Array.isArray(x)) {
    x.forEach((v, i) => prune(v, s ? itemSchema(s) : undefined, `${path}[${i}]`, out, false));
    return;
  }
  if (!isObject(x)) return;
  if (!s) {
    for (const k of Object.keys(x)) {
      out.push(appendKey(path, k));
      delete x[k];
    }
    return;
  }
  const embedded = isRoot || !!s['x-kubernetes-embedded-resource'];
  if (embedded && !isRoot) pruneEmbeddedMetadata(x, path, out);
  for (const k of Object.keys(x)) {
    // apiVersion, kind and metadata of a resource (the root or an embedded one) are ObjectMeta's business.
    if (embedded && META_FIELDS.has(k)) continue;
    const prop = s.properties?.[k];
    if (prop) prune(x[k], prop, appendKey(path, k), out, false);
    else if (s.additionalProperties !== undefined) prune(x[k], additionalSchema(s), appendKey(path, k), out, false);
    else {
      out.push(appendKey(path, k));
      delete x[k];
    }
  }
}

function skipPrune(x: unknown, s: JSONSchemaProps | undefined, path: string, out: string[], isRoot: boolean): void {
  if (!s) return;
  if (Array.isArray(x)) {
    x.forEach((v, i) => skipPrune(v, itemSchema(s), `${path}[${i}]`, out, false));
    return;
  }
  if (!isObject(x)) return;
  const embedded = isRoot || !!s['x-kubernetes-embedded-resource'];
  if (embedded && !isRoot) pruneEmbeddedMetadata(x, path, out);
  for (const k of Object.keys(x)) {
    if (embedded && META_FIELDS.has(k)) continue;
    const prop = s.properties?.[k];
    if (prop) prune(x[k], prop, appendKey(path, k), out, false);
    else if (s.additionalProperties !== undefined) prune(x[k], additionalSchema(s), appendKey(path, k), out, false);
  }
}

/** An embedded resource's metadata round-trips through ObjectMeta upstream (objectmeta.Coerce): unknown keys go. */
function pruneEmbeddedMetadata(x: Record<string, unknown>, path: string, out: string[]): void {
  const meta = x.metadata;
  if (!isObject(meta)) return;
  for (const k of Object.keys(meta)) {
    if (!OBJECT_META_FIELDS.has(k)) {
      out.push(`${appendKey(path, 'metadata')}.${k}`);
      delete meta[k];
    }
  }
}

/** The schema that applies to key `k` of an object with schema `s`. */
function schemaForField(k: string, s: JSONSchemaProps | undefined): JSONSchemaProps | undefined {
  if (!s) return undefined;
  return s.properties?.[k] ?? additionalSchema(s);
}

/** defaulting.PruneNonNullableNullsWithoutDefaults: drops `null` where the schema is neither nullable nor defaulted. */
export function pruneNonNullableNulls(x: unknown, s: JSONSchemaProps | undefined): void {
  if (Array.isArray(x)) {
    const items = s ? itemSchema(s) : undefined;
    for (const v of x) pruneNonNullableNulls(v, items);
    return;
  }
  if (!isObject(x)) return;
  for (const [k, v] of Object.entries(x)) {
    const fs = schemaForField(k, s);
    if (v === null && fs && !fs.nullable && (fs.default === undefined || fs.default === null)) delete x[k];
    else pruneNonNullableNulls(v, fs);
  }
}

/**
 * Removes from `obj` (mutating it) every field its structural schema does not
 * specify, honouring x-kubernetes-preserve-unknown-fields and embedded
 * resources; the root's apiVersion/kind/metadata are kept. Returns the pruned
 * paths sorted (`spec.foo`, `spec.items[0].bar`), which `fieldValidation=Strict`
 * reports as `unknown field "<path>"`. Afterwards, as the upstream decoder
 * does, nulls the schema neither allows nor defaults are dropped (unreported).
 */
export function pruneObject(schema: JSONSchemaProps | undefined, obj: unknown): string[] {
  const out: string[] = [];
  prune(obj, schema ?? {}, '', out, true);
  pruneNonNullableNulls(obj, schema);
  return out.sort();
}

/** Pruning as used when checking a default value (pruning.Prune with isResourceRoot as given). */
export function pruneValue(schema: JSONSchemaProps, value: unknown, isResourceRoot: boolean): void {
  prune(value, schema, '', [], isResourceRoot);
}
