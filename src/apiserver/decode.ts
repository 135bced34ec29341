/**
 * Decoding of request bodies against the built-in schema, as upstream's JSON
 * decoder into Go structs does it: values of the wrong type are rejected
 * (`cannot unmarshal string into Go struct field ... of type int32`) and
 * unknown fields are reported so the caller can drop them, warn, or (with
 * `fieldValidation=Strict`) refuse the request.
 */
import type { SchemaNode, SchemaResolver } from '../api/schema.js';
import { refName } from '../api/schema.js';

/** What walking an object against its schema found. */
export interface DecodeFindings {
  /** Paths of fields the schema does not know, e.g. `spec.foo`, `spec.containers[0].bogus`. */
  unknown: string[];
  /** Type errors in upstream's Go wording (first few). */
  typeErrors: string[];
}

/** Go type name of a schema node, for error messages. */
function goType(node: SchemaNode): string {
  if (node.format === 'int-or-string') return 'intstr.IntOrString';
  switch (node.type) {
    case 'integer':
      return node.format === 'int64' ? 'int64' : 'int32';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    case 'string':
      return 'string';
    case 'array':
      return '[]';
    default:
      return 'object';
  }
}

function jsType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/**
 * Walks `obj` against `root`, removing unknown fields when `prune` is set.
 * `structName` is used in type errors (`DeploymentSpec.spec.replicas`).
 */
export function decodeAgainstSchema(resolver: SchemaResolver, root: SchemaNode, obj: unknown, prune: boolean): DecodeFindings {
  const out: DecodeFindings = { unknown: [], typeErrors: [] };
  walk(resolver, root, obj, '', '', out, prune);
  return out;
}

function walk(
  resolver: SchemaResolver,
  nodeIn: SchemaNode,
  value: unknown,
  path: string,
  structName: string,
  out: DecodeFindings,
  prune: boolean,
): void {
  let defName = structName;
  if (nodeIn.$ref) defName = refName(nodeIn.$ref).split('.').pop() ?? structName;
  const node = resolver.resolve(nodeIn);
  if (!node || value === null || value === undefined) return;
  if (node['x-kubernetes-preserve-unknown-fields']) return;
  const t = jsType(value);
  const where = () => (path ? `${structName}.${path}` : structName);
  if (node.format === 'int-or-string' || node['x-kubernetes-int-or-string']) {
    if (t !== 'string' && t !== 'number') pushType(out, t, where(), 'intstr.IntOrString');
    return;
  }
  switch (node.type) {
    case 'string':
      if (t !== 'string') pushType(out, t, where(), 'string');
      return;
    case 'integer':
      if (t !== 'number') pushType(out, t, where(), goType(node));
      else if (!Number.isInteger(value)) out.typeErrors.push(`json: cannot unmarshal number ${value} into Go struct field ${where()} of type ${goType(node)}`);
      else if (node.format !== 'int64' && ((value as number) > 2147483647 || (value as number) < -2147483648)) {
        out.typeErrors.push(`json: cannot unmarshal number ${value} into Go struct field ${where()} of type int32`);
      }
      return;
    case 'number':
      if (t !== 'number') pushType(out, t, where(), 'float64');
      return;
    case 'boolean':
      if (t !== 'boolean') pushType(out, t, where(), 'bool');
      return;
    case 'array': {
      if (t !== 'array') {
        pushType(out, t, where(), `[]${node.items ? goTypeName(resolver, node.items) : 'interface {}'}`);
        return;
      }
      if (node.items) (value as unknown[]).forEach((v, i) => walk(resolver, node.items!, v, `${path}[${i}]`, defName, out, prune));
      return;
    }
    default:
      break;
  }
  if (node.type === 'object' || node.properties || node.additionalProperties) {
    if (t !== 'object') {
      pushType(out, t, where(), node.properties ? `v1.${defName}` : 'map[string]string');
      return;
    }
    const rec = value as Record<string, unknown>;
    if (node.properties) {
      for (const k of Object.keys(rec)) {
        const child = node.properties[k];
        const p = path ? `${path}.${k}` : k;
        if (!child) {
          if (node.additionalProperties && typeof node.additionalProperties === 'object') {
            walk(resolver, node.additionalProperties, rec[k], p, defName, out, prune);
            continue;
          }
          out.unknown.push(p);
          if (prune) delete rec[k];
          continue;
        }
        walk(resolver, child, rec[k], p, defName, out, prune);
      }
    } else if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      for (const k of Object.keys(rec)) walk(resolver, node.additionalProperties, rec[k], path ? `${path}.${k}` : k, defName, out, prune);
    }
  }
}

function goTypeName(resolver: SchemaResolver, n: SchemaNode): string {
  if (n.$ref) return `v1.${refName(n.$ref).split('.').pop()}`;
  return goType(resolver.resolve(n) ?? n);
}

function pushType(out: DecodeFindings, t: string, where: string, goT: string): void {
  const jsonT = t === 'object' ? 'object' : t === 'array' ? 'array' : t === 'boolean' ? 'bool' : t;
  out.typeErrors.push(`json: cannot unmarshal ${jsonT} into Go struct field ${where} of type ${goT}`);
}
