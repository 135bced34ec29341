/**
 * Decoding of request bodies against the built-in schema, as upstream's JSON
 * decoder into Go structs does it: values of the wrong type are rejected
 * (`cannot unmarshal string into Go struct field ... of type int32`) and
 * unknown fields are reported so the caller can drop them, warn, or (with
 * `fieldValidation=Strict`) refuse the request.
 */
import type { SchemaNode, SchemaResolver } from '../api/schema.js';
import { refName } from '../api/schema.js';
import { parseQuantity } from '../api/quantity.js';

const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

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
  walk(resolver, root, obj, '', '', '', out, prune);
  return out;
}

function walk(
  resolver: SchemaResolver,
  nodeIn: SchemaNode,
  value: unknown,
  path: string,
  goPath: string,
  structName: string,
  out: DecodeFindings,
  prune: boolean,
): unknown {
  let defName = structName;
  if (nodeIn.$ref) defName = refName(nodeIn.$ref).split('.').pop() ?? structName;
  const node = resolver.resolve(nodeIn);
  if (!node || value === null || value === undefined) return;
  if (node['x-kubernetes-preserve-unknown-fields']) return;
  const t = jsType(value);
  // Go's json errors name the field path without list indices (`Container.spec.containers.ports`).
  const where = () => (goPath ? `${structName}.${goPath}` : structName);
  if (nodeIn.$ref && refName(nodeIn.$ref) === QUANTITY) return decodeQuantity(value, t, out, prune);
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
      if (node.items) {
        const arr = value as unknown[];
        arr.forEach((v, i) => {
          const r = walk(resolver, node.items!, v, `${path}[${i}]`, goPath, defName, out, prune);
          if (r !== undefined) arr[i] = r;
        });
      }
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
        const gp = goPath ? `${goPath}.${k}` : k;
        if (!child) {
          if (node.additionalProperties && typeof node.additionalProperties === 'object') {
            const r = walk(resolver, node.additionalProperties, rec[k], p, goPath, defName, out, prune);
            if (r !== undefined) rec[k] = r;
            continue;
          }
          out.unknown.push(p);
          if (prune) delete rec[k];
          continue;
        }
        const r = walk(resolver, child, rec[k], p, gp, defName, out, prune);
        if (r !== undefined) rec[k] = r;
      }
    } else if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      // Map keys are not part of Go's error path either (`ObjectMeta.metadata.labels of type string`).
      for (const k of Object.keys(rec)) {
        const r = walk(resolver, node.additionalProperties, rec[k], path ? `${path}.${k}` : k, goPath, defName, out, prune);
        if (r !== undefined) rec[k] = r;
      }
    }
  }
}

/**
 * resource.Quantity's own JSON decoding: a string or a bare number in quantity
 * syntax (`nvidia.com/gpu: 1`); anything else fails with ParseQuantity's error.
 * When rewriting (`prune`), numbers become their canonical string, as upstream
 * re-encodes them. Returns the replacement value, or undefined to keep it.
 */
function decodeQuantity(value: unknown, t: string, out: DecodeFindings, prune: boolean): unknown {
  try {
    const q = parseQuantity(t === 'number' || t === 'string' ? (value as string | number) : '');
    return prune && t === 'number' ? q.toString() : undefined;
  } catch (e) {
    out.typeErrors.push((e as Error).message);
    return undefined;
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
