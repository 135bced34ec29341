/**
 * Structural defaulting of custom objects (apiextensions
 * pkg/apiserver/schema/defaulting/algorithm.go): defaults apply top-down, to
 * missing fields and to nulls where the schema is not nullable, inside
 * properties, array items and additionalProperties values.
 */
import type { JSONSchemaProps } from './types.js';
import { additionalSchema, itemSchema } from './structural.js';
import { deepCopy, isObject } from './util.js';

/** A JSON null at a place whose schema does not allow null. */
function isNonNullableNull(x: unknown, s: JSONSchemaProps | undefined): boolean {
  return x === null && s !== undefined && !s.nullable;
}

/** A default is set (`default: null` counts as none, as upstream's JSON.Object == nil). */
function hasDefault(s: JSONSchemaProps | undefined): s is JSONSchemaProps & { default: unknown } {
  return s !== undefined && s.default !== undefined && s.default !== null;
}

/** Applies the schema's defaults to `obj` in place, as upstream's structural defaulting does. */
export function applySchemaDefaults(schema: JSONSchemaProps | undefined, obj: unknown): void {
  if (!schema) return;
  if (Array.isArray(obj)) {
    const items = itemSchema(schema);
    for (let i = 0; i < obj.length; i++) {
      if (isNonNullableNull(obj[i], items) && hasDefault(items)) obj[i] = deepCopy(items.default);
      applySchemaDefaults(items, obj[i]);
    }
    return;
  }
  if (!isObject(obj)) return;
  for (const [k, prop] of Object.entries(schema.properties ?? {})) {
    if (!hasDefault(prop)) continue;
    if (!Object.prototype.hasOwnProperty.call(obj, k) || isNonNullableNull(obj[k], prop)) obj[k] = deepCopy(prop.default);
  }
  const ap = additionalSchema(schema);
  for (const k of Object.keys(obj)) {
    const prop = schema.properties?.[k];
    if (prop) applySchemaDefaults(prop, obj[k]);
    else if (schema.additionalProperties !== undefined) {
      if (isNonNullableNull(obj[k], ap) && hasDefault(ap)) obj[k] = deepCopy(ap.default);
      applySchemaDefaults(ap, obj[k]);
    }
  }
}
