/**
 * Conversion of a CRD's JSONSchemaProps into the runtime SchemaNode that
 * patching, server-side apply and the OpenAPI documents read.
 *
 * Patch semantics for custom resources: upstream rejects
 * `application/strategic-merge-patch+json` for them with 415
 * UnsupportedMediaType (CRDs carry no patch strategies); JSON patch, merge
 * patch and server-side apply (which uses x-kubernetes-list-type /
 * list-map-keys / map-type carried over here) are supported.
 */
import type { SchemaNode } from '../../api/schema.js';
import type { JSONSchemaProps } from './types.js';
import { isObject } from './util.js';

const SCALAR_KEYS = [
  'format', 'default', 'nullable', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
  'minItems', 'maxItems', 'minProperties', 'maxProperties', 'pattern', 'uniqueItems', 'multipleOf', 'required', 'enum',
  'x-kubernetes-list-map-keys', 'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource', 'x-kubernetes-validations',
] as const;

const NODE_TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/** Converts a CRD schema (recursively) to a SchemaNode; descriptions and other prose are dropped. */
export function toSchemaNode(s: JSONSchemaProps): SchemaNode {
  const n: SchemaNode = {};
  if (s.type && NODE_TYPES.has(s.type)) n.type = s.type as SchemaNode['type'];
  for (const k of SCALAR_KEYS) {
    const v = s[k];
    if (v !== undefined) (n as Record<string, unknown>)[k] = v;
  }
  const lt = s['x-kubernetes-list-type'];
  if (lt === 'atomic' || lt === 'set' || lt === 'map') n['x-kubernetes-list-type'] = lt;
  const mt = s['x-kubernetes-map-type'];
  if (mt === 'atomic' || mt === 'granular') n['x-kubernetes-map-type'] = mt;
  if (s.properties) n.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toSchemaNode(v)]));
  if (s.items && !Array.isArray(s.items)) n.items = toSchemaNode(s.items);
  if (typeof s.additionalProperties === 'boolean') n.additionalProperties = s.additionalProperties;
  else if (isObject(s.additionalProperties)) n.additionalProperties = toSchemaNode(s.additionalProperties as JSONSchemaProps);
  if (s.allOf) n.allOf = s.allOf.map(toSchemaNode);
  if (s.anyOf) n.anyOf = s.anyOf.map(toSchemaNode);
  if (s.oneOf) n.oneOf = s.oneOf.map(toSchemaNode);
  if (s.not) n.not = toSchemaNode(s.not);
  return n;
}
