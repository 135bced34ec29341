/**
 * Renders the route model as a swagger 2.0 document (`/openapi/v2`) or an
 * OpenAPI 3.0 document (`/openapi/v3/<prefix>`), in upstream's shapes, and
 * serializes with sorted keys so equal content always hashes the same.
 */
import type { Definitions, SchemaNode } from '../../api/schema.js';
import type { RouteGroup, RouteOperation, RouteParam, RoutePath } from './routes.js';
import { collectRefs, toV3, toV3Definition } from './schemas.js';

/** Document-wide facts. */
export interface DocumentInfo {
  title: string;
  version: string;
}

const BEARER = { in: 'header', name: 'authorization', type: 'apiKey' };

/** JSON with object keys sorted at every level (array order kept), so output is byte-stable. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

/** Names of all definitions referenced (transitively) from the given paths and extra roots. */
function referenced(paths: readonly RoutePath[], definitions: Definitions, roots: readonly string[] = []): string[] {
  const names = new Set<string>();
  const add = (s: SchemaNode | undefined): void => {
    if (s) collectRefs(s, definitions, names);
  };
  for (const p of paths) {
    for (const o of p.operations) {
      add(o.body?.schema);
      for (const r of o.responses) add(r.schema);
    }
  }
  for (const r of roots) add({ $ref: `#/definitions/${r}` });
  return [...names].filter((n) => definitions[n]).sort();
}

function v2Param(p: RouteParam): Record<string, unknown> {
  return { in: p.in, name: p.name, type: p.type, uniqueItems: true, ...(p.required ? { required: true } : {}) };
}

function v2Operation(o: RouteOperation): Record<string, unknown> {
  const params = o.params.map(v2Param);
  if (o.body) params.unshift({ in: 'body', name: 'body', schema: o.body.schema, ...(o.body.required ? { required: true } : {}) });
  return {
    consumes: o.consumes,
    operationId: o.operationId,
    ...(params.length ? { parameters: params } : {}),
    produces: o.produces,
    responses: Object.fromEntries(o.responses.map((r) => [r.code, { description: r.description, ...(r.schema ? { schema: r.schema } : {}) }])),
    schemes: ['https'],
    tags: [o.tag],
    ...(o.action ? { 'x-kubernetes-action': o.action } : {}),
    ...(o.gvk ? { 'x-kubernetes-group-version-kind': o.gvk } : {}),
  };
}

/**
 * The swagger 2.0 document over all groups. `definitions` must already hold
 * the v2 forms (built-ins plus custom resources); only referenced ones are emitted.
 */
export function renderV2(groups: readonly RouteGroup[], definitions: Definitions, info: DocumentInfo, roots: readonly string[]): object {
  const paths: Record<string, unknown> = {};
  const all = groups.flatMap((g) => g.paths);
  for (const p of all) {
    const item: Record<string, unknown> = {};
    if (p.params.length) item.parameters = p.params.map(v2Param);
    for (const o of p.operations) item[o.method] = v2Operation(o);
    paths[p.path] = item;
  }
  return {
    definitions: Object.fromEntries(referenced(all, definitions, roots).map((n) => [n, definitions[n]])),
    info,
    paths,
    security: [{ BearerToken: [] }],
    securityDefinitions: { BearerToken: BEARER },
    swagger: '2.0',
  };
}

function v3Param(p: RouteParam): Record<string, unknown> {
  return { in: p.in, name: p.name, schema: { type: p.type, uniqueItems: true }, ...(p.required ? { required: true } : {}) };
}

function v3Operation(o: RouteOperation): Record<string, unknown> {
  const content = (mimes: readonly string[], schema: SchemaNode): Record<string, unknown> =>
    Object.fromEntries(mimes.map((m) => [m, { schema: toV3(schema) }]));
  return {
    operationId: o.operationId,
    ...(o.params.length ? { parameters: o.params.map(v3Param) } : {}),
    ...(o.body ? { requestBody: { content: content(o.consumes, o.body.schema), ...(o.body.required ? { required: true } : {}) } } : {}),
    responses: Object.fromEntries(
      o.responses.map((r) => [r.code, { description: r.description, ...(r.schema ? { content: content(o.produces, r.schema) } : {}) }]),
    ),
    tags: [o.tag],
    ...(o.action ? { 'x-kubernetes-action': o.action } : {}),
    ...(o.gvk ? { 'x-kubernetes-group-version-kind': o.gvk } : {}),
  };
}

/**
 * The OpenAPI 3.0 document of one group: its paths and the v3 forms of the
 * schemas reachable from them (`definitions` hold v3-capable forms with
 * `#/definitions/` refs; they are converted here).
 */
export function renderV3(group: RouteGroup, definitions: Definitions, info: DocumentInfo): object {
  const paths: Record<string, unknown> = {};
  for (const p of group.paths) {
    const item: Record<string, unknown> = {};
    if (p.params.length) item.parameters = p.params.map(v3Param);
    for (const o of p.operations) item[o.method] = v3Operation(o);
    paths[p.path] = item;
  }
  const schemas = Object.fromEntries(referenced(group.paths, definitions).map((n) => [n, toV3Definition(n, definitions[n]!)]));
  return {
    components: { schemas, securitySchemes: { BearerToken: BEARER } },
    info,
    openapi: '3.0.0',
    paths,
  };
}
