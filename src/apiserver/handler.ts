/**
 * The REST front of the API server: turns HTTP requests for resources into
 * store calls, following upstream's endpoint handlers (create, get, list,
 * watch, update, patch, delete, deletecollection, subresources), with
 * content negotiation for Tables and YAML.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import { ApiError, errors } from '../api/errors.js';
import { groupVersion, type ResourceInfo } from '../api/resources.js';
import { selectorFromLabelSelector, selectorFromSet } from '../api/labels.js';
import { parseFieldSelector } from '../api/fields.js';
import type { RequestInfo } from './requestinfo.js';
import { readBody, sendError, sendJson, warningHeaders } from './http.js';
import { isKubernetesProtobuf, decodeKubernetesProtobuf } from '../api/protobuf.js';
import { validatePatchOptions } from './fieldmanager/index.js';
import { goSyntaxError } from './patch/gojson.js';
import type { Store, DeleteOptions, WatchOptions, ListOptions, ListFilter } from './registry/store.js';
import { clone, parseResourceVersion } from './registry/store.js';
import { BINDING_SUCCESS, bindPod } from './registry/binding.js';
import { evictPod } from './eviction.js';
import { isKubectlLogs, podForLogs, proxyPodLog, type KubeletClientConfig } from './podlogs.js';
import { isPodConnect, serveConnect } from './streaming/connect.js';
import type { RequestContext, UserInfo } from './registry/strategy.js';
import type { KindPrinter } from './printers/index.js';

/** Watch events are written at most this long after they happen (batched into one write). */
const WATCH_FLUSH_MS = 10;
/** ...or as soon as this much is pending. */
const WATCH_FLUSH_BYTES = 64 * 1024;

/** How a resource's objects are printed and decoded (built-in or custom). */
export interface ResourceHelpers {
  printer(store: Store): KindPrinter;
  /** Drops unknown fields (returns their paths) and rejects type errors, for a decoded body. */
  decode(store: Store, obj: any): { unknown: string[]; typeErrors: string[] };
  /** Scale subresource mapping (custom resources declare their own paths). */
  scale(store: Store): ScaleMapping | undefined;
  /** The pods store (for bindings). */
  pods(): Store;
  /** The PodDisruptionBudgets store (for evictions), if served. */
  pdbs?(): Store | undefined;
  /** How to reach kubelets (pods/log); undefined where none can be reached. */
  kubelet?(): KubeletClientConfig | undefined;
  /** Field manager name when the client sent none. */
  managerFromUserAgent(ua: string): string;
}

/** Where a resource keeps replicas for the scale subresource. */
export interface ScaleMapping {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

interface Output {
  table: boolean;
  includeObject: 'None' | 'Metadata' | 'Object';
  yaml: boolean;
}

function parseAccept(accept: string | undefined, query: URLSearchParams): Output {
  const a = accept ?? '';
  const out: Output = { table: false, includeObject: 'Metadata', yaml: false };
  // The first acceptable media type wins, as upstream negotiates.
  for (const raw of a.split(',')) {
    const p = raw.replace(/\s+/g, '');
    if (p.includes('as=Table') && p.includes('g=meta.k8s.io')) {
      out.table = true;
      break;
    }
    if (p.startsWith('application/json') || p.startsWith('*/*') || p === '') break;
    if (p.startsWith('application/yaml')) {
      out.yaml = true;
      break;
    }
  }
  const inc = query.get('includeObject');
  if (inc === 'None' || inc === 'Object' || inc === 'Metadata') out.includeObject = inc;
  else if (inc !== null && inc !== '' && out.table) throw errors.badRequest(`unrecognized includeObject value: ${JSON.stringify(inc)}`);
  return out;
}

/** upstream summarizeData: the first 30 bytes of a body (hex unless it looks like JSON). */
function summarizeBody(body: Buffer, max = 30): string {
  if (body.length === 0) return '<empty>';
  const head = body.subarray(0, max);
  const text = body[0] === 0x7b ? head.toString('utf8') : head.toString('hex');
  return body.length > max ? `${text} ...` : text;
}

/** Decodes a JSON, YAML or Kubernetes-protobuf request body into an object. */
export function decodeBody(body: Buffer, contentType: string | undefined, kindForErrors: string): any {
  const ct = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  let obj: unknown;
  if (isKubernetesProtobuf(ct)) {
    try {
      // kubectl's typed clients send protobuf; the decoded object is what the JSON encoding would be.
      return decodeKubernetesProtobuf(body).object;
    } catch (e) {
      throw errors.badRequest(`the object provided is unrecognized (must be of type ${kindForErrors}): ${(e as Error).message}`);
    }
  }
  const text = body.toString('utf8');
  if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
    try {
      obj = YAML.parse(text);
    } catch (e) {
      throw errors.badRequest(`the object provided is unrecognized (must be of type ${kindForErrors}): couldn't get version/kind; yaml parse error: ${(e as Error).message}`);
    }
  } else if (ct === 'application/json' || ct === '*/*' || ct === '') {
    try {
      obj = JSON.parse(text);
    } catch {
      // upstream transformDecodeError: Go's decoder message plus a summary of the body.
      const why = goSyntaxError(text) ?? 'unexpected end of JSON input';
      throw errors.badRequest(
        `the object provided is unrecognized (must be of type ${kindForErrors}): couldn't get version/kind; json parse error: ${why} (${summarizeBody(body)})`,
      );
    }
  } else {
    throw errors.unsupportedMediaType(ct);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw errors.badRequest(`the object provided is unrecognized (must be of type ${kindForErrors}): couldn't get version/kind; json parse error: expected an object`);
  }
  return obj;
}

/** Handles resource requests for one registry of stores. */
export class ResourceHandler {
  /** Serialized form of cached objects: an event fanned out to many watchers is serialized once. */
  private readonly jsonCache = new WeakMap<object, string>();
  private readonly lineCache = new WeakMap<object, { type: string; line: string }>();

  constructor(
    private readonly helpers: ResourceHelpers,
    private readonly bookmarkIntervalMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private context(req: IncomingMessage, info: RequestInfo, query: URLSearchParams, user: UserInfo): RequestContext {
    const dry = query.getAll('dryRun');
    for (const d of dry) if (d !== 'All') throw errors.badRequest(`Invalid dry run value "${d}"`);
    return {
      user,
      namespace: info.namespace,
      dryRun: dry.includes('All'),
      fieldManager: query.get('fieldManager') || this.helpers.managerFromUserAgent(String(req.headers['user-agent'] ?? '')),
      warnings: [],
      now: this.now(),
    };
  }

  /** Serves one resource request. */
  async handle(req: IncomingMessage, res: ServerResponse, info: RequestInfo, query: URLSearchParams, store: Store, user: UserInfo): Promise<void> {
    const ctx = this.context(req, info, query, user);
    const out = parseAccept(req.headers.accept, query);
    const r = store.info;
    // A cluster-scoped resource addressed under a namespace does not exist (upstream 404).
    const namespaceObject = r.group === '' && r.resource === 'namespaces';
    if (info.namespace && !r.namespaced && !namespaceObject) throw new ApiError('NotFound', 'the server could not find the requested resource', {});
    if (info.subresource) return this.subresource(req, res, info, query, store, ctx, out);
    // Verbs the resource does not serve (e.g. listing bindings) are refused as upstream does.
    if (!r.verbs.includes(info.verb)) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource', {}, 405);
    switch (info.verb) {
      case 'get':
        // kubectl logs gets the pod first: a deleted pod whose logs a node keeps is found there (podlogs.ts).
        if (r.group === '' && r.resource === 'pods' && isKubectlLogs(req)) return this.reply(res, 200, await podForLogs(store, info.namespace, info.name, this.helpers.kubelet?.()), out, store, ctx);
        return this.reply(res, 200, await store.get(info.namespace, info.name), out, store, ctx);
      case 'list':
        return this.list(res, info, query, store, out);
      case 'watch':
        return this.watch(req, res, info, query, store, out);
      case 'create': {
        // The old `bindings` resource binds the pod its body names (nothing is stored).
        if (r.group === '' && r.resource === 'bindings') return this.bind(req, res, this.helpers.pods(), ctx, '');
        const obj = await this.decodeObject(req, store, query, ctx);
        if (info.name) throw errors.methodNotSupported(store.qualified, 'create');
        const created = await store.create(ctx, obj);
        return this.reply(res, 201, created, out, store, ctx);
      }
      case 'update': {
        const obj = await this.decodeObject(req, store, query, ctx);
        const { obj: updated, created } = await store.update(ctx, info.name, obj);
        return this.reply(res, created ? 201 : 200, updated, out, store, ctx);
      }
      case 'patch':
        return this.patch(req, res, info, query, store, ctx, out, '');
      case 'delete': {
        const opts = await this.deleteOptions(req, query, ctx);
        const { obj, gone } = await store.delete(ctx, info.name, opts);
        if (gone && !store.strategy.returnDeletedObject) {
          return sendJson(res, 200, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name: info.name, group: r.group, kind: r.resource, uid: obj.metadata?.uid },
          });
        }
        return this.reply(res, 200, obj, out, store, ctx);
      }
      case 'deletecollection': {
        const opts = await this.deleteOptions(req, query, ctx);
        const f = this.filters(query, store);
        const items = await store.deleteCollection(ctx, f, opts);
        return this.reply(res, 200, this.listObject(store, items, String(store.revision())), out, store, ctx);
      }
      default:
        throw errors.methodNotSupported(store.qualified, info.verb);
    }
  }

  private async decodeObject(req: IncomingMessage, store: Store, query: URLSearchParams, ctx: RequestContext): Promise<any> {
    const raw = await readBody(req);
    const r = store.info;
    const obj = decodeBody(raw, req.headers['content-type'], r.kind);
    const gv = groupVersion(r.group, r.version);
    if (obj.apiVersion !== undefined && obj.apiVersion !== gv) {
      throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${gv})`);
    }
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw errors.badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${r.kind})`);
    }
    obj.apiVersion = gv;
    obj.kind = r.kind;
    this.checkFields(store, obj, query, ctx);
    return obj;
  }

  /** Unknown fields and type errors, per fieldValidation (Strict fails, Warn warns, Ignore drops). */
  private checkFields(store: Store, obj: any, query: URLSearchParams, ctx: RequestContext): void {
    const mode = query.get('fieldValidation') ?? 'Warn';
    if (!['Strict', 'Warn', 'Ignore'].includes(mode)) {
      throw errors.badRequest(`fieldValidation parameter unsupported: ${mode}`);
    }
    const found = this.helpers.decode(store, obj);
    if (found.typeErrors.length) {
      const r = store.info;
      throw errors.badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: ${found.typeErrors[0]}`);
    }
    if (found.unknown.length) {
      if (mode === 'Strict') {
        throw errors.badRequest(`strict decoding error: ${found.unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
      }
      if (mode === 'Warn') for (const u of found.unknown) ctx.warnings.push(`unknown field "${u}"`);
    }
  }

  private async deleteOptions(req: IncomingMessage, query: URLSearchParams, ctx: RequestContext): Promise<DeleteOptions> {
    const raw = await readBody(req);
    let opts: DeleteOptions = {};
    if (raw.length && raw.toString('utf8').trim()) {
      const o = decodeBody(raw, req.headers['content-type'], 'DeleteOptions');
      opts = o;
      // kubectl sends `--dry-run=server` for deletes as DeleteOptions.dryRun in the body, not as a query parameter.
      const dry: unknown = o.dryRun;
      if (dry !== undefined && dry !== null) {
        if (!Array.isArray(dry)) throw errors.badRequest('DeleteOptions.dryRun must be a list');
        for (const d of dry) if (d !== 'All') throw errors.badRequest(`Invalid dry run value "${d}"`);
        if (dry.includes('All')) ctx.dryRun = true;
      }
    }
    const g = query.get('gracePeriodSeconds');
    if (g !== null) {
      if (!/^-?\d+$/.test(g)) throw errors.badRequest(`invalid gracePeriodSeconds "${g}"`);
      opts.gracePeriodSeconds = Number(g);
    }
    const p = query.get('propagationPolicy');
    if (p !== null) {
      if (!['Orphan', 'Background', 'Foreground'].includes(p)) {
        throw errors.badRequest(`propagationPolicy: Unsupported value: "${p}": supported values: "Foreground", "Background", "Orphan"`);
      }
      opts.propagationPolicy = p as DeleteOptions['propagationPolicy'];
    }
    const o = query.get('orphanDependents');
    if (o !== null) opts.orphanDependents = o === 'true';
    return opts;
  }

  private filters(query: URLSearchParams, store: Store): ListFilter {
    return store.filters(query.get('labelSelector') ?? undefined, query.get('fieldSelector') ?? undefined);
  }

  private listObject(store: Store, items: any[], rv: string, cont?: string, remaining?: number): any {
    const r = store.info;
    const metadata: Record<string, unknown> = { resourceVersion: rv };
    if (cont) metadata.continue = cont;
    if (remaining !== undefined) metadata.remainingItemCount = remaining;
    return { kind: r.listKind, apiVersion: groupVersion(r.group, r.version), metadata, items };
  }

  private async list(res: ServerResponse, info: RequestInfo, query: URLSearchParams, store: Store, out: Output): Promise<void> {
    const limitStr = query.get('limit');
    const limit = limitStr ? Number(limitStr) : 0;
    if (limitStr && (!Number.isInteger(limit) || limit < 0)) throw errors.badRequest(`invalid limit "${limitStr}"`);
    const opts: ListOptions = {
      ...this.filters(query, store),
      limit,
      continue: query.get('continue') ?? undefined,
      resourceVersion: query.get('resourceVersion') ?? undefined,
      resourceVersionMatch: query.get('resourceVersionMatch') ?? undefined,
    };
    if (opts.continue && opts.resourceVersion) {
      throw errors.badRequest('specifying resource version is not allowed when using continue');
    }
    const page = await store.list(info.namespace, opts);
    if (out.table) {
      return sendJson(res, 200, this.table(store, page.items, out, { resourceVersion: page.resourceVersion, continue: page.continue, remainingItemCount: page.remainingItemCount }));
    }
    const metadata: Record<string, unknown> = { resourceVersion: page.resourceVersion };
    if (page.continue) metadata.continue = page.continue;
    if (page.remainingItemCount !== undefined) metadata.remainingItemCount = page.remainingItemCount;
    const r = store.info;
    // Items are serialized once from the cache; the list is assembled as text to avoid copying 10k objects.
    const head = JSON.stringify({ kind: r.listKind, apiVersion: groupVersion(r.group, r.version), metadata });
    const body = `${head.slice(0, -1)},"items":[${page.items.map((o) => this.serialized(o)).join(',')}]}`;
    if (out.yaml) return sendJson(res, 200, YAML.stringify(JSON.parse(body)), 'application/yaml');
    return sendJson(res, 200, body);
  }

  /** One watch event line for a cached object, built once per object and event type. */
  private eventLine(type: string, obj: any): string {
    let l = this.lineCache.get(obj);
    if (!l || l.type !== type) {
      l = { type, line: `{"type":"${type}","object":${this.serialized(obj)}}\n` };
      this.lineCache.set(obj, l);
    }
    return l.line;
  }

  /** JSON text of a (read-only, cached) object, computed once per object. */
  private serialized(obj: any): string {
    let s = this.jsonCache.get(obj);
    if (s === undefined) {
      s = JSON.stringify(obj);
      this.jsonCache.set(obj, s);
    }
    return s;
  }

  /** A meta.k8s.io/v1 Table of objects. */
  private table(store: Store, items: any[], out: Output, metadata: Record<string, unknown>, withColumns = true): any {
    const printer = this.helpers.printer(store);
    const now = this.now();
    const md: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(metadata)) if (v !== undefined) md[k] = v;
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: md,
      columnDefinitions: withColumns ? printer.columns : [],
      rows: items.map((o) => {
        const row: Record<string, unknown> = { cells: printer.row(store.storageForm(o), now) };
        if (out.includeObject === 'Object') row.object = o;
        else if (out.includeObject === 'Metadata') {
          row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
        }
        return row;
      }),
    };
  }

  private reply(res: ServerResponse, code: number, obj: any, out: Output, store: Store, ctx: RequestContext): void {
    const headers: Record<string, string | string[]> = {};
    if (ctx.warnings.length) headers.Warning = warningHeaders(ctx.warnings);
    if (out.table && obj && obj.kind !== 'Status' && !Array.isArray(obj.items)) {
      return sendJson(res, code, this.table(store, [obj], out, { resourceVersion: obj.metadata?.resourceVersion }), 'application/json', headers as Record<string, string>);
    }
    if (out.table && obj && Array.isArray(obj.items)) {
      return sendJson(res, code, this.table(store, obj.items, out, obj.metadata ?? {}), 'application/json', headers as Record<string, string>);
    }
    if (out.yaml) return sendJson(res, code, YAML.stringify(obj), 'application/yaml', headers as Record<string, string>);
    return sendJson(res, code, obj, 'application/json', headers as Record<string, string>);
  }

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    query: URLSearchParams,
    store: Store,
    ctx: RequestContext,
    out: Output,
    subresource: string,
  ): Promise<void> {
    const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const allowed = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
    if (!allowed.includes(ct)) {
      throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${allowed.join(', ')}`, undefined, 415);
    }
    const forceParam = query.get('force');
    validatePatchOptions({ apply: ct === 'application/apply-patch+yaml', fieldManager: query.get('fieldManager') ?? undefined, force: forceParam ?? undefined });
    const body = (await readBody(req)).toString('utf8');
    const { obj, created } = await store.patchObject(ctx, info.name, ct, body, subresource, { force: forceParam === 'true' }, (next) => {
      this.checkFields(store, next, query, ctx);
    });
    return this.reply(res, created ? 201 : 200, obj, out, store, ctx);
  }

  private async subresource(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    query: URLSearchParams,
    store: Store,
    ctx: RequestContext,
    out: Output,
  ): Promise<void> {
    const sub = info.subresource;
    const r = store.info;
    const known = r.subresources.find((s) => s.name === sub);
    if (!known) throw new ApiError('NotFound', 'the server could not find the requested resource', {});
    // Connect subresources (GET or POST with an upgrade), proxied to the pod's kubelet.
    if (isPodConnect(info)) return serveConnect(req, res, store, info, query, this.helpers.kubelet?.());
    if (!known.verbs.includes(info.verb)) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource', {}, 405);
    if (sub === 'status' || sub === 'finalize') {
      if (info.verb === 'get') return this.reply(res, 200, await store.get(info.namespace, info.name), out, store, ctx);
      if (info.verb === 'update') {
        const obj = await this.decodeObject(req, store, query, ctx);
        const { obj: updated } = await store.update(ctx, info.name, obj, sub === 'finalize' ? 'finalize' : 'status');
        return this.reply(res, 200, updated, out, store, ctx);
      }
      if (info.verb === 'patch') return this.patch(req, res, info, query, store, ctx, out, sub);
      throw errors.methodNotSupported(store.qualified, info.verb);
    }
    if (sub === 'scale') return this.scale(req, res, info, query, store, ctx);
    if (sub === 'log' && r.group === '' && r.resource === 'pods') {
      if (info.verb !== 'get') throw errors.methodNotSupported({ group: '', resource: 'pods/log' }, info.verb);
      const kubelet = this.helpers.kubelet?.();
      return proxyPodLog(req, res, await podForLogs(store, info.namespace, info.name, kubelet), query, kubelet);
    }
    if (sub === 'binding' && r.group === '' && r.resource === 'pods') {
      if (info.verb !== 'create') throw errors.methodNotSupported({ group: '', resource: 'pods/binding' }, info.verb);
      return this.bind(req, res, store, ctx, info.name);
    }
    if (sub === 'eviction' && r.group === '' && r.resource === 'pods') {
      // POST pods/<name>/eviction: delete the pod if its disruption budget allows (answers a Status).
      const eviction = decodeBody(await readBody(req), req.headers['content-type'], 'Eviction');
      return sendJson(res, 201, await evictPod({ pods: store, pdbs: this.helpers.pdbs?.() }, ctx, info.name, eviction));
    }
    throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`, {}, 405);
  }

  /** POST pods/<name>/binding (or bindings): assigns the pod to a node. */
  private async bind(req: IncomingMessage, res: ServerResponse, pods: Store, ctx: RequestContext, urlName: string): Promise<void> {
    const binding = decodeBody(await readBody(req), req.headers['content-type'], 'Binding');
    if (urlName && binding.metadata?.name && binding.metadata.name !== urlName) {
      throw errors.badRequest(`the name of the object (${binding.metadata.name}) does not match the name on the URL (${urlName})`);
    }
    if (urlName) binding.metadata = { ...(binding.metadata ?? {}), name: urlName };
    await bindPod(pods, ctx, binding);
    return sendJson(res, 201, BINDING_SUCCESS);
  }

  private async scale(req: IncomingMessage, res: ServerResponse, info: RequestInfo, query: URLSearchParams, store: Store, ctx: RequestContext): Promise<void> {
    const mapping = this.helpers.scale(store);
    if (!mapping) throw new ApiError('NotFound', 'the server could not find the requested resource', {});
    const toScale = (obj: any) => scaleOf(obj, mapping);
    if (info.verb === 'get') return sendJson(res, 200, toScale(await store.get(info.namespace, info.name)));
    if (info.verb !== 'update' && info.verb !== 'patch') throw errors.methodNotSupported(store.qualified, info.verb);
    const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const raw = await readBody(req);
    const text = raw.toString('utf8');
    const cur = await store.get(info.namespace, info.name);
    let scale: any;
    if (info.verb === 'update') {
      scale = decodeBody(raw, req.headers['content-type'], 'Scale');
    } else {
      const patchSupport = store.patchSupport();
      scale = patchSupport.applyPatch(ct === 'application/strategic-merge-patch+json' ? 'application/merge-patch+json' : ct, toScale(cur), text, { allowStrategic: false });
    }
    const replicas = scale?.spec?.replicas;
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) {
      throw errors.invalid('autoscaling', 'Scale', info.name, [
        { type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' },
      ]);
    }
    const rv = scale?.metadata?.resourceVersion;
    const next = clone(cur);
    setPath(next, mapping.specReplicasPath, replicas ?? 0);
    if (rv && info.verb === 'update') next.metadata.resourceVersion = rv;
    else delete next.metadata.resourceVersion;
    const { obj } = await store.update(ctx, info.name, next, 'scale');
    return sendJson(res, 200, toScale(obj));
  }

  private async watch(req: IncomingMessage, res: ServerResponse, info: RequestInfo, query: URLSearchParams, store: Store, out: Output): Promise<void> {
    const f = this.filters(query, store);
    if (info.name) {
      // GET /watch/.../<name> watches one object.
      const byName = parseFieldSelector(`metadata.name=${info.name}`);
      f.field = f.field ? parseFieldSelector(`${f.field.toString()},metadata.name=${info.name}`) : byName;
    }
    const opts: WatchOptions = {
      ...f,
      resourceVersion: query.get('resourceVersion') ?? undefined,
      sendInitialEvents: query.get('sendInitialEvents') === 'true',
    };
    if (opts.resourceVersion) parseResourceVersion(opts.resourceVersion);
    const timeoutStr = query.get('timeoutSeconds');
    // upstream: a random timeout between the minimum request timeout (30 min) and twice that.
    const timeoutMs = timeoutStr ? Number(timeoutStr) * 1000 : (1800 + Math.random() * 1800) * 1000;
    const bookmarks = query.get('allowWatchBookmarks') === 'true';
    let started = false;
    let pending: string[] = [];
    let pendingBytes = 0;
    let scheduled = false;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    let firstTable = true;
    const flush = () => {
      scheduled = false;
      // Nothing goes out before the watch is established (its errors are plain HTTP errors).
      if (closed || !started || pending.length === 0) return;
      const text = pending.join('');
      pending = [];
      pendingBytes = 0;
      res.write(text);
    };
    const send = (type: string, obj: any) => {
      if (closed) return;
      let o = obj;
      if (out.table && type !== 'ERROR' && type !== 'BOOKMARK') {
        o = this.table(store, [obj], out, { resourceVersion: obj.metadata?.resourceVersion }, firstTable);
        firstTable = false;
      }
      const line = o === obj ? this.eventLine(type, obj) : `{"type":"${type}","object":${JSON.stringify(o)}}\n`;
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= WATCH_FLUSH_BYTES) {
        if (scheduled) clearTimeout(timer);
        flush();
      } else if (!scheduled) {
        // Coalesce a burst of events into one write: syscalls, not bytes, are the cost.
        scheduled = true;
        timer = setTimeout(flush, WATCH_FLUSH_MS);
      }
    };
    let handle: { stop(): void } | undefined;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (closed) return;
      if (scheduled) clearTimeout(timer);
      flush();
      closed = true;
      handle?.stop();
      for (const t of timers) clearTimeout(t);
      res.end();
    };
    req.on('close', finish);
    res.on('close', finish);
    handle = await store.watch(info.namespace, opts, {
      send: (type, obj) => {
        send(type, obj);
        if (type === 'ERROR') setImmediate(finish);
      },
    });
    if (closed) {
      handle.stop();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    started = true;
    flush();
    timers.push(setTimeout(() => {
      if (bookmarks) send('BOOKMARK', store.bookmarkObject(store.revision()));
      finish();
    }, timeoutMs));
    if (bookmarks) {
      const tick = () => {
        if (closed) return;
        send('BOOKMARK', store.bookmarkObject(store.revision()));
        timers.push(setTimeout(tick, this.bookmarkIntervalMs));
      };
      timers.push(setTimeout(tick, this.bookmarkIntervalMs));
    }
  }
}

/** Reads a dotted path such as `.spec.replicas`. */
export function getPath(obj: any, path: string): unknown {
  let cur = obj;
  for (const p of path.replace(/^\./, '').split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Writes a dotted path such as `.spec.replicas`, creating objects on the way. */
export function setPath(obj: any, path: string, value: unknown): void {
  const parts = path.replace(/^\./, '').split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== 'object') cur[p] = {};
    cur = cur[p];
  }
  cur[parts[parts.length - 1]] = value;
}

/** The autoscaling/v1 Scale view of an object. */
export function scaleOf(obj: any, m: ScaleMapping): any {
  const status: Record<string, unknown> = { replicas: (getPath(obj, m.statusReplicasPath) as number | undefined) ?? 0 };
  if (m.labelSelectorPath) {
    const sel = getPath(obj, m.labelSelectorPath);
    if (typeof sel === 'string' && sel) status.selector = sel;
    else if (sel && typeof sel === 'object') {
      // Built-in workloads keep a structured selector in spec; upstream prints it as a string.
      // A map of only strings is a ReplicationController's set selector, anything else a LabelSelector.
      const isSet = Object.values(sel).every((v) => typeof v === 'string');
      const text = (isSet ? selectorFromSet(sel as Record<string, string>) : selectorFromLabelSelector(sel)).toString();
      if (text) status.selector = text;
    }
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: (getPath(obj, m.specReplicasPath) as number | undefined) ?? 0 },
    status,
  };
}

/** Unused import guard for ResourceInfo in type position. */
export type { ResourceInfo };
