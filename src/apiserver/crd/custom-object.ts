/**
 * Validation of a custom object against its version's schema, as the custom
 * resource strategy runs it after ObjectMeta validation: the OpenAPI schema
 * (kube-openapi), embedded resources' apiVersion/kind/metadata
 * (schema/objectmeta), and list-type set/map uniqueness (schema/listtype).
 */
import { field, type FieldError } from '../../api/errors.js';
import { isDNS1035Label, isDNS1123Label, validatePathSegmentName } from '../../api/names.js';
import { validateAgainstSchema } from './openapi-validate.js';
import { additionalSchema, itemSchema } from './structural.js';
import type { JSONSchemaProps } from './types.js';
import { isObject } from './util.js';

/** A field.Path child: `.name`, or the name alone at the root. */
const child = (p: string, k: string) => (p ? `${p}.${k}` : k);
/** A field.Path key: `[k]` (a map key). */
const mapKey = (p: string, k: string) => (p ? `${p}[${k}]` : `[${k}]`);

/** schema.ParseGroupVersion's error for an apiVersion string, if any. */
function parseGroupVersionError(gv: string): string | undefined {
  if (gv === '' || gv === '/') return undefined;
  const n = gv.split('/').length - 1;
  if (n === 0 || n === 1) return undefined;
  return `unexpected GroupVersion string: ${gv}`;
}

/** objectmeta.validateEmbeddedResource. */
function validateEmbeddedResource(p: string, x: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  if (!('apiVersion' in x)) errs.push(field.required(child(p, 'apiVersion'), 'must not be empty'));
  if (!('kind' in x)) errs.push(field.required(child(p, 'kind'), 'must not be empty'));
  for (const [k, v] of Object.entries(x)) {
    if (k === 'apiVersion') {
      if (typeof v !== 'string') errs.push(field.invalid(child(p, k), v, 'must be a string'));
      else if (v === '') errs.push(field.invalid(child(p, k), v, 'must not be empty'));
      else {
        const e = parseGroupVersionError(v);
        if (e) errs.push(field.invalid(child(p, k), v, e));
      }
    } else if (k === 'kind') {
      if (typeof v !== 'string') errs.push(field.invalid(child(p, k), v, 'must be a string'));
      else if (v === '') errs.push(field.invalid(child(p, k), v, 'must not be empty'));
      else {
        const e = isDNS1035Label(v.toLowerCase());
        if (e.length > 0) errs.push(field.invalid(child(p, k), v, `may have mixed case, but should otherwise match: ${e.join(',')}`));
      }
    } else if (k === 'metadata') {
      if (!isObject(v)) {
        errs.push(field.invalid(child(p, k), v, 'json: cannot unmarshal into Go value of type v1.ObjectMeta'));
        continue;
      }
      // ValidateObjectMeta with path-segment names; labels/annotations/owner references are the ObjectMeta validator's job.
      const mp = child(p, 'metadata');
      const name = typeof v.name === 'string' && v.name !== '' ? v.name : 'fakename';
      if (typeof v.generateName === 'string' && v.generateName !== '') {
        for (const m of validatePathSegmentName(v.generateName, true)) errs.push(field.invalid(`${mp}.generateName`, v.generateName, m));
      }
      for (const m of validatePathSegmentName(name, false)) errs.push(field.invalid(`${mp}.name`, name, m));
      if (typeof v.namespace === 'string' && v.namespace !== '') {
        for (const m of isDNS1123Label(v.namespace)) errs.push(field.invalid(`${mp}.namespace`, v.namespace, m));
      }
    }
  }
  return errs;
}

/** objectmeta.Validate with isResourceRoot=false: walks to embedded resources below the root. */
function validateEmbedded(p: string, x: unknown, s: JSONSchemaProps | undefined, errs: FieldError[]): void {
  if (!s) return;
  if (Array.isArray(x)) {
    x.forEach((v, i) => validateEmbedded(`${p}[${i}]`, v, itemSchema(s), errs));
    return;
  }
  if (!isObject(x)) return;
  if (s['x-kubernetes-embedded-resource']) errs.push(...validateEmbeddedResource(p, x));
  for (const [k, v] of Object.entries(x)) {
    const prop = s.properties?.[k];
    if (prop) validateEmbedded(child(p, k), v, prop, errs);
    else if (s.additionalProperties !== undefined) validateEmbedded(mapKey(p, k), v, additionalSchema(s), errs);
  }
}

/** listtype.validateListSet: indices of the first repeat of each duplicated value. */
function nonUniqueIndices(values: unknown[]): number[] {
  const seen = new Map<string, number>();
  const out: number[] = [];
  values.forEach((v, i) => {
    const k = v === UNSPECIFIED ? '\u0000unspecified' : JSON.stringify(v);
    const times = seen.get(k) ?? 0;
    seen.set(k, times + 1);
    if (times === 1) out.push(i);
  });
  return out;
}

const UNSPECIFIED = Symbol('unspecified');

/** Sorted-key JSON so that map keys compare regardless of key order (Go marshals maps sorted). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

function validateListArray(p: string, s: JSONSchemaProps, arr: unknown[], errs: FieldError[]): void {
  const lt = s['x-kubernetes-list-type'];
  if (lt === 'set') {
    const vals = arr.map(canonical);
    for (const i of nonUniqueIndices(vals)) errs.push(field.duplicate(`${p}[${i}]`, arr[i]));
  } else if (lt === 'map') {
    const bad = arr.findIndex((x) => x !== null && !isObject(x));
    if (bad >= 0) errs.push(field.invalid(`${p}[${bad}]`, arr[bad], 'must be an object for an array of list-type map'));
    else if (arr.length > 1) {
      const keys = s['x-kubernetes-list-map-keys'] ?? [];
      if (keys.length === 1) {
        const kf = keys[0]!;
        const vals = arr.map((x) => (isObject(x) && kf in x ? canonical(x[kf]) : UNSPECIFIED));
        for (const i of nonUniqueIndices(vals)) {
          errs.push(field.duplicate(`${p}[${i}]`, vals[i] === UNSPECIFIED ? {} : { [kf]: (arr[i] as Record<string, unknown>)[kf] }));
        }
      } else {
        const vals = arr.map((x) => {
          const key: Record<string, unknown> = {};
          if (isObject(x)) for (const kf of keys) if (kf in x) key[kf] = x[kf];
          return key;
        });
        for (const i of nonUniqueIndices(vals.map(canonical))) errs.push(field.duplicate(`${p}[${i}]`, vals[i]));
      }
    }
  }
  const items = itemSchema(s);
  if (items) arr.forEach((x, i) => validateListValue(`${p}[${i}]`, items, x, errs));
}

function validateListValue(p: string, s: JSONSchemaProps, x: unknown, errs: FieldError[]): void {
  if (Array.isArray(x)) validateListArray(p, s, x, errs);
  else if (isObject(x)) validateListObject(p, s, x, errs);
}

function validateListObject(p: string, s: JSONSchemaProps, obj: Record<string, unknown>, errs: FieldError[]): void {
  const ap = additionalSchema(s);
  if (ap) for (const [k, v] of Object.entries(obj)) validateListValue(mapKey(p, k), ap, v, errs);
  if (s.properties) {
    for (const [k, v] of Object.entries(obj)) {
      const sub = s.properties[k];
      if (sub) validateListValue(child(p, k), sub, v, errs);
    }
  }
}

/** ValidateListSetsAndMaps: `Duplicate value` errors for x-kubernetes-list-type set/map lists. */
export function validateListTypes(schema: JSONSchemaProps, obj: unknown): FieldError[] {
  const errs: FieldError[] = [];
  if (isObject(obj)) validateListObject('', schema, obj, errs);
  return errs;
}

/**
 * Validates a custom object against its version's openAPIV3Schema, returning
 * upstream's field errors: OpenAPI value validation (types, bounds, enums,
 * required, formats, ...; the root metadata is validated against the schema
 * too, but its ObjectMeta rules are the caller's), embedded resources, and
 * list-type uniqueness.
 */
export function validateCustomObject(schema: JSONSchemaProps, obj: unknown): FieldError[] {
  const errs = validateAgainstSchema(schema, obj);
  validateEmbedded('', obj, schema, errs);
  errs.push(...validateListTypes(schema, obj));
  return errs;
}
