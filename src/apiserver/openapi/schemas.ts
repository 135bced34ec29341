/**
 * Schema work for the OpenAPI documents: the definitions custom resources
 * contribute (named and shaped as upstream's CRD OpenAPI builder does), the
 * OpenAPI v2 downgrade of CRD schemas, the v3 form of definitions, and the
 * transitive `$ref` closure that decides which definitions a document carries.
 */
import type { ResourceInfo } from '../../api/resources.js';
import { refName, type Definitions, type SchemaNode } from '../../api/schema.js';
import { customDefinitionName, type Gvk } from './routes.js';

const OBJECT_META = '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const LIST_META = '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta';
const GVK_EXT = 'x-kubernetes-group-version-kind';

type Node = SchemaNode & Record<string, unknown>;

/** Applies `f` to every direct child schema of a node, returning a copy (keys that hold schemas only, never property names). */
export function mapChildren(node: SchemaNode, f: (child: SchemaNode) => SchemaNode): SchemaNode {
  const out: Node = { ...(node as Node) };
  if (node.properties) out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, f(v)]));
  if (node.items) out.items = f(node.items);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') out.additionalProperties = f(node.additionalProperties);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = node[k];
    if (list) out[k] = list.map(f);
  }
  if (node.not) out.not = f(node.not);
  return out;
}

/** Visits every schema node under `node` (including itself). */
function visit(node: SchemaNode, f: (n: SchemaNode) => void): void {
  f(node);
  mapChildren(node, (c) => {
    visit(c, f);
    return c;
  });
}

/** Index of built-in definitions by the group/version/kind they declare; the first declaration wins. */
export function definitionsByGvk(definitions: Definitions): (gvk: Gvk) => string | undefined {
  const index = new Map<string, string>();
  for (const name of Object.keys(definitions).sort()) {
    for (const g of definitions[name]![GVK_EXT] ?? []) {
      const key = `${g.group}/${g.version}/${g.kind}`;
      if (!index.has(key)) index.set(key, name);
    }
  }
  return (gvk) => index.get(`${gvk.group}/${gvk.version}/${gvk.kind}`);
}

/**
 * The definitions a custom resource adds: the object (its CRD schema with
 * `apiVersion`, `kind` and an ObjectMeta `metadata`, tagged with its GVK) and
 * its list, as upstream's `apiextensions-apiserver/pkg/controller/openapi/builder`
 * builds them. `v2` applies the OpenAPI v2 downgrade. Refs use `#/definitions/`.
 */
export function customResourceDefinitions(r: ResourceInfo, v2: boolean): Definitions {
  const name = customDefinitionName(r.group, r.version, r.kind);
  const gvk = (kind: string): Gvk[] => [{ group: r.group, version: r.version, kind }];
  const schema = r.schema;
  let object: SchemaNode;
  // Upstream: with no schema, or a v2 document of a root that preserves unknown fields, the object is
  // left open ({type: object}) because kubectl would otherwise reject every field it does not list.
  if (!schema || (v2 && schema['x-kubernetes-preserve-unknown-fields'])) {
    object = { type: 'object' };
  } else {
    const s = v2 ? toStructuralV2(schema) : schema;
    object = {
      ...s,
      properties: {
        ...s.properties,
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { $ref: OBJECT_META },
      },
    };
  }
  object = { ...object, [GVK_EXT]: gvk(r.kind) };
  const list: SchemaNode = {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      items: { type: 'array', items: { $ref: `#/definitions/${name}` } },
      kind: { type: 'string' },
      metadata: { $ref: LIST_META },
    },
    required: ['items'],
    [GVK_EXT]: gvk(r.listKind),
  };
  return { [name]: object, [name.slice(0, name.length - r.kind.length) + r.listKind]: list };
}

/**
 * Upstream's `ToStructuralOpenAPIV2`: removes what OpenAPI v2 (and kubectl's
 * v2 reader) cannot express — allOf/anyOf/oneOf/not, nullable (which also
 * drops the type and nested fields), nested fields under preserve-unknown
 * fields, array types without items, and `required` entries of nullable fields.
 */
export function toStructuralV2(node: SchemaNode): SchemaNode {
  const out = mapChildren(node, toStructuralV2) as Node;
  delete out.allOf;
  delete out.anyOf;
  delete out.oneOf;
  delete out.not;
  if (out.nullable) {
    delete out.type;
    delete out.nullable;
    delete out.items;
    delete out.properties;
  }
  if (out['x-kubernetes-preserve-unknown-fields']) {
    delete out.items;
    delete out.properties;
  }
  if (out.type === 'array' && !out.items) delete out.type;
  if (out.required && node.properties) {
    const nullable = new Set(Object.entries(node.properties).filter(([, v]) => v.nullable).map(([k]) => k));
    out.required = out.required.filter((k) => !nullable.has(k));
    if (!out.required.length) delete out.required;
  }
  return out;
}

/** OpenAPI v3 forms upstream publishes for types whose v2 form is a plain string (`OpenAPIV3OneOfTypes`). */
const V3_OVERRIDES: Record<string, SchemaNode> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

/**
 * The OpenAPI v3 form of a definition: refs point into `#/components/schemas/`,
 * and a `$ref` with sibling keys is wrapped as `allOf: [{$ref}]` (v3 ignores
 * siblings of `$ref`), as upstream's v3 builder emits.
 */
export function toV3Definition(name: string, node: SchemaNode): SchemaNode {
  return V3_OVERRIDES[name] ?? toV3(node);
}

/** {@link toV3Definition} for any schema node (also used for inline schemas in operations). */
export function toV3(node: SchemaNode): SchemaNode {
  const out = mapChildren(node, toV3) as Node;
  if (out.$ref) {
    const target = `#/components/schemas/${refName(out.$ref)}`;
    const { $ref: _, ...siblings } = out;
    if (Object.keys(siblings).length === 0) return { $ref: target };
    return { ...siblings, allOf: [{ $ref: target }] } as SchemaNode;
  }
  return out;
}

/** Adds to `into` the names of all definitions reachable from `node` through `$ref`s, following them in `definitions`. */
export function collectRefs(node: SchemaNode, definitions: Definitions, into: Set<string>): void {
  visit(node, (n) => {
    if (!n.$ref) return;
    const name = refName(n.$ref);
    if (into.has(name)) return;
    into.add(name);
    const target = definitions[name];
    if (target) collectRefs(target, definitions, into);
  });
}
