/**
 * The runtime schema: OpenAPI (v2-style) schema nodes, without prose, as
 * generated from the upstream spec into `generated/schema.json` and as
 * supplied by CustomResourceDefinitions. Patching, server-side apply,
 * validation of unknown fields and the OpenAPI documents all read it.
 */

/** One schema node. `$ref` points at `#/definitions/<name>` of the same document. */
export interface SchemaNode {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  /** A map with values of this schema (true/absent means arbitrary in CRDs). */
  additionalProperties?: SchemaNode | boolean;
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  // CRD (structural schema) extras
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  uniqueItems?: boolean;
  multipleOf?: number;
  allOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  not?: SchemaNode;
  // Kubernetes extensions
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-unions'?: unknown[];
  'x-kubernetes-validations'?: unknown[];
}

/** A set of named definitions, as in swagger's `definitions`. */
export type Definitions = Record<string, SchemaNode>;

/** Resolves `$ref`s against a definitions table. */
export class SchemaResolver {
  constructor(readonly definitions: Definitions) {}

  /** Follows `$ref` (repeatedly) and returns the referenced node; other nodes are returned as is. */
  resolve(node: SchemaNode | undefined): SchemaNode | undefined {
    let n = node;
    for (let i = 0; n && n.$ref && i < 16; i++) n = this.definitions[refName(n.$ref)];
    return n;
  }

  /** The definition with this name (e.g. `io.k8s.api.core.v1.Pod`). */
  definition(name: string): SchemaNode | undefined {
    return this.definitions[name];
  }

  /** The schema of property `name` of an object node (resolved), or undefined. */
  property(node: SchemaNode | undefined, name: string): SchemaNode | undefined {
    const n = this.resolve(node);
    if (!n) return undefined;
    const p = n.properties?.[name];
    if (p) return this.resolve(p);
    if (n.additionalProperties && typeof n.additionalProperties === 'object') return this.resolve(n.additionalProperties);
    return undefined;
  }

  /** The item schema of an array node (resolved), or undefined. */
  items(node: SchemaNode | undefined): SchemaNode | undefined {
    const n = this.resolve(node);
    return n?.items ? this.resolve(n.items) : undefined;
  }
}

/** `#/definitions/io.k8s.api.core.v1.Pod` → `io.k8s.api.core.v1.Pod`. */
export function refName(ref: string): string {
  const i = ref.lastIndexOf('/');
  return i >= 0 ? ref.slice(i + 1) : ref;
}
