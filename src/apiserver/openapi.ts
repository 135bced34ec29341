/**
 * The OpenAPI documents of the API server: `/openapi/v2` (swagger 2.0),
 * `/openapi/v3` (the index of per-group-version documents) and
 * `/openapi/v3/<prefix>`, built from the served resources and the upstream
 * definitions, plus the HTTP behaviour of upstream's kube-openapi handlers
 * (content negotiation, ETags, hash-pinned immutable URLs).
 */
import { createHash } from 'node:crypto';
import type { ResourceInfo } from '../api/resources.js';
import type { Definitions } from '../api/schema.js';
import { buildRoutes, type RouteGroup } from './openapi/routes.js';
import { renderV2, renderV3, stableStringify, type DocumentInfo } from './openapi/render.js';
import { customResourceDefinitions, definitionsByGvk } from './openapi/schemas.js';

import { OPENAPI_V2_PROTOBUF_CONTENT_TYPE, encodeOpenApiV2Protobuf, negotiateOpenApiV2 } from './openapi/protobuf.js';

/** The Kubernetes version the documents report in `info.version` unless told otherwise. */
export const OPENAPI_DEFAULT_VERSION = 'v1.32.0';

/** Options of {@link OpenApiDocuments}. */
export interface OpenApiOptions {
  /** `info.version` of every document (the version the server reports). */
  version?: string;
}

/** Upstream's ETag/hash of a document: SHA-512 of its bytes, upper-case hex. */
export function openApiHash(body: string): string {
  return createHash('sha512').update(body).digest('hex').toUpperCase();
}

/** Builds and caches the OpenAPI documents for a set of served resources; rebuilt when resources change (CRDs added/removed). */
export class OpenApiDocuments {
  private readonly info: DocumentInfo;
  private readonly gvkLookup: ReturnType<typeof definitionsByGvk>;
  private resources: readonly ResourceInfo[] = [];
  private routes: Map<string, RouteGroup> | undefined;
  private v2Cache: string | undefined;
  private v2ProtobufCache: Buffer | undefined;
  private v3Cache = new Map<string, { body: string; hash: string }>();
  private v3IndexCache: string | undefined;

  constructor(
    private readonly definitions: Definitions,
    options: OpenApiOptions = {},
  ) {
    this.info = { title: 'Kubernetes', version: options.version ?? OPENAPI_DEFAULT_VERSION };
    this.gvkLookup = definitionsByGvk(definitions);
  }

  /** Replace the set of served resources (built-in + custom); invalidates caches. */
  setResources(resources: readonly ResourceInfo[]): void {
    this.resources = [...resources];
    this.routes = undefined;
    this.v2Cache = undefined;
    this.v2ProtobufCache = undefined;
    this.v3Cache = new Map();
    this.v3IndexCache = undefined;
  }

  /** The swagger 2.0 document as a JSON string (cached until setResources). */
  v2(): string {
    if (this.v2Cache === undefined) {
      const custom = this.customDefinitions(true);
      const defs = { ...this.definitions, ...custom };
      this.v2Cache = stableStringify(renderV2([...this.routeGroups().values()], defs, this.info, Object.keys(custom)));
    }
    return this.v2Cache;
  }

  /** The swagger 2.0 document in gnostic's protobuf encoding (what kubectl asks for). */
  v2Protobuf(): Buffer {
    this.v2ProtobufCache ??= encodeOpenApiV2Protobuf(JSON.parse(this.v2()));
    return this.v2ProtobufCache;
  }

  /** The /openapi/v3 discovery document as JSON string. */
  v3Index(): string {
    if (this.v3IndexCache === undefined) {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const prefix of this.routeGroups().keys()) {
        paths[prefix] = { serverRelativeURL: `/openapi/v3/${prefix}?hash=${this.v3Hash(prefix)}` };
      }
      this.v3IndexCache = stableStringify({ paths });
    }
    return this.v3IndexCache;
  }

  /** The v3 document for a prefix like "api/v1" or "apis/apps/v1" (without leading slash), or undefined. */
  v3(prefix: string): string | undefined {
    return this.v3Entry(prefix)?.body;
  }

  /** A stable hash (e.g. sha512 hex uppercase as upstream) of the v3 document for a prefix, used in serverRelativeURL. */
  v3Hash(prefix: string): string | undefined {
    return this.v3Entry(prefix)?.hash;
  }

  private v3Entry(prefix: string): { body: string; hash: string } | undefined {
    const cached = this.v3Cache.get(prefix);
    if (cached) return cached;
    const group = this.routeGroups().get(prefix);
    if (!group) return undefined;
    const defs = { ...this.definitions, ...this.customDefinitions(false, group) };
    const body = stableStringify(renderV3(group, defs, this.info));
    const entry = { body, hash: openApiHash(body) };
    this.v3Cache.set(prefix, entry);
    return entry;
  }

  private routeGroups(): Map<string, RouteGroup> {
    if (!this.routes) {
      const groups = buildRoutes(this.resources, this.gvkLookup);
      this.routes = new Map(groups.sort((a, b) => (a.prefix < b.prefix ? -1 : 1)).map((g) => [g.prefix, g]));
    }
    return this.routes;
  }

  /** Definitions of the custom resources (of one group's document when given). */
  private customDefinitions(v2: boolean, group?: RouteGroup): Definitions {
    const out: Definitions = {};
    for (const r of this.resources) {
      if (!r.custom) continue;
      if (group && group.prefix !== `apis/${r.group}/${r.version}`) continue;
      Object.assign(out, customResourceDefinitions(r, v2));
    }
    return out;
  }
}

/** An HTTP answer for an `/openapi/...` request. */
export interface OpenApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** What {@link openApiResponse} reads from the request. */
export interface OpenApiRequest {
  /** URL path, e.g. `/openapi/v3/apis/apps/v1`. */
  path: string;
  /** The query string's `hash` parameter, if any. */
  hash?: string | null;
  accept?: string;
  ifNoneMatch?: string;
}

/**
 * Answers a request under `/openapi/` as upstream's kube-openapi handlers do,
 * or returns undefined for paths that are not OpenAPI documents. Only JSON is
 * served: a client accepting only protobuf gets 406 (kubectl asks v2 in
 * protobuf and treats failure as "no OpenAPI v2"; it asks v3 in JSON).
 * v3 group documents requested with a stale `hash` redirect (301) to the
 * current one; with the current hash they are marked immutable.
 */
export function openApiResponse(docs: OpenApiDocuments, req: OpenApiRequest, now: Date = new Date()): OpenApiResponse | undefined {
  const path = req.path.replace(/\/+$/, '');
  let body: string | undefined;
  let hash: string | undefined;
  let groupPrefix: string | undefined;
  if (path === '/openapi/v2') {
    body = docs.v2();
  } else if (path === '/openapi/v3') {
    body = docs.v3Index();
  } else if (path.startsWith('/openapi/v3/')) {
    groupPrefix = path.slice('/openapi/v3/'.length);
    body = docs.v3(groupPrefix);
    hash = docs.v3Hash(groupPrefix);
    if (body === undefined) return { status: 404, headers: { 'Content-Type': 'text/plain' }, body: '404 page not found\n' };
  } else {
    return undefined;
  }
  const headers: Record<string, string> = { Vary: 'Accept' };
  let protobuf = false;
  if (path === '/openapi/v2') {
    const format = negotiateOpenApiV2(req.accept);
    if (!format) return { status: 406, headers, body: '' };
    protobuf = format === 'protobuf';
  } else if (path !== '/openapi/v3' && !acceptsJson(req.accept)) {
    return { status: 406, headers, body: '' };
  }
  const etag = hash ?? openApiHash(body);
  // upstream answers protobuf with the '.'-form media type and reuses the JSON document's ETag.
  headers['Content-Type'] = protobuf ? OPENAPI_V2_PROTOBUF_CONTENT_TYPE : 'application/json';
  headers.Etag = `"${etag}"`;
  if (groupPrefix !== undefined && req.hash) {
    if (req.hash !== etag) {
      headers.Location = `/openapi/v3/${groupPrefix}?hash=${etag}`;
      return { status: 301, headers, body: '' };
    }
    headers['Cache-Control'] = 'public, immutable';
    const expires = new Date(now);
    expires.setUTCFullYear(expires.getUTCFullYear() + 1);
    headers.Expires = expires.toUTCString();
  }
  if (req.ifNoneMatch && req.ifNoneMatch.split(',').some((t) => t.trim() === headers.Etag || t.trim() === '*')) {
    return { status: 304, headers, body: '' };
  }
  return { status: 200, headers, body: protobuf ? docs.v2Protobuf() : body };
}

/** Whether an Accept header admits `application/json` (absent means anything). */
function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((clause) => {
    const [type, ...params] = clause.trim().split(';');
    if (params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))) return false;
    const t = (type ?? '').trim().toLowerCase();
    return t === 'application/json' || t === 'application/*' || t === '*/*';
  });
}
