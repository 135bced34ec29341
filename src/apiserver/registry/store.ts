/**
 * The generic store: CRUD, optimistic concurrency, generation, finalizers,
 * graceful deletion, subresources and watch for any resource, with the
 * per-resource behaviour supplied by a Strategy and a TypeSupport
 * (upstream's registry/generic/registry/store.go).
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { ApiError, errors, field, type FieldError } from '../../api/errors.js';
import type { ResourceInfo } from '../../api/resources.js';
import { groupVersion } from '../../api/resources.js';
import type { SchemaResolver, SchemaNode } from '../../api/schema.js';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  type Backend,
} from '../../storage/backend.js';
import type { CacheSet, CacheEvent, CachedObject } from './cache.js';
import { TooOldError } from './cache.js';
import type { RequestContext, Strategy } from './strategy.js';
import { parseLabelSelector, type LabelSelector } from '../../api/labels.js';
import { parseFieldSelector, type FieldSelector } from '../../api/fields.js';
import { checkFieldSelector, convertFieldSelector } from '../fieldselectors.js';
import { clone, deepEqual } from '../../util/json.js';
export { clone, deepEqual };

/** How objects of one resource are defaulted, validated and patched (built-in schema or a CRD's). */
export interface TypeSupport {
  /** Fills defaults (upstream defaulting or CRD schema defaults). */
  defaults(obj: any): void;
  /** Kind-specific validation (ObjectMeta is validated by the store). */
  validate(obj: any, old?: any): FieldError[];
  /** Validates metadata.name (prefix=true for generateName). */
  nameValidator(name: string, prefix: boolean): string[];
  /** Validates ObjectMeta; `old` on update. */
  validateMeta(meta: any, old: any | undefined): FieldError[];
  resolver: SchemaResolver;
  schema?: SchemaNode;
  /** Strategic merge patch allowed (false for custom resources). */
  allowStrategic: boolean;
  /** Field set of an object for field selectors. */
  fields(obj: any): Record<string, string>;
}

/** Patch application: everything the store needs from the patch and field-manager packages. */
export interface PatchSupport {
  applyPatch(contentType: string, doc: unknown, body: string, ctx: { resolver?: SchemaResolver; schema?: SchemaNode; allowStrategic: boolean }): unknown;
  applyServerSide(opts: { live?: any; patch: any; manager: string; force: boolean; time: string; resolver: SchemaResolver; schema: SchemaNode }): any;
  updateManagedFields(opts: { live?: any; next: any; manager: string; operation: 'Update'; subresource?: string; time: string; resolver: SchemaResolver; schema: SchemaNode }): void;
}

/**
 * Conversion between the version a store serves and the version its
 * resource is stored in (upstream's conversion functions). Stores of the
 * storage version itself need none.
 */
export interface Conversion {
  /** A served-version object → the storage version (served-version defaults first). Must not modify its argument. */
  toStorage(obj: any): any;
  /** A stored object → the served version. Must not modify its argument: cached objects are shared by every reader. */
  fromStorage(obj: any): any;
  /** Schema of stored objects, against which managed fields are tracked (default: the served version's). */
  storageSchema?: SchemaNode;
}

/** List/watch filters. */
export interface ListFilter {
  label?: LabelSelector;
  field?: FieldSelector;
}

/** Options of a list. */
export interface ListOptions extends ListFilter {
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

/** A page of objects. */
export interface ListPage {
  items: any[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** DeleteOptions as sent by clients. */
export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** What a watcher receives. */
export interface WatchSink {
  send(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR', obj: any): void;
}

/** A running watch. */
export interface WatchHandle {
  stop(): void;
}

/** Options of a watch. */
export interface WatchOptions extends ListFilter {
  resourceVersion?: string;
  sendInitialEvents?: boolean;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** How long a read waits for a resourceVersion the store has not reached (upstream cacher: 3 s). */
const TOO_LARGE_RV_WAIT_MS = 3000;

/** upstream's names.SimpleNameGenerator: 5 random characters from a reduced alphabet. */
export function generateName(base: string): string {
  const b = randomBytes(5);
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_CHARS[b[i] % NAME_CHARS.length];
  // upstream trims the base so the result fits 63 characters.
  return (base.length > 58 ? base.slice(0, 58) : base) + s;
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  // Every write stamps times to the second; most writes fall in the second before.
  const second = Math.floor(d.getTime() / 1000);
  if (second !== lastStamp.second) {
    lastStamp.text = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastStamp.second = second;
  }
  return lastStamp.text;
}
const lastStamp = { second: NaN, text: '' };

/** Serializes an object for storage: resourceVersion is the key's revision, not data. */
function encode(obj: any): string {
  const rv = obj.metadata?.resourceVersion;
  if (rv === undefined) return JSON.stringify(obj);
  delete obj.metadata.resourceVersion;
  const s = JSON.stringify(obj);
  obj.metadata.resourceVersion = rv;
  return s;
}

/** Everything in an object but metadata and status: what generation tracks. */
function specPart(obj: any): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = obj ?? {};
  return rest;
}

/** Continue token, as upstream encodes it (base64 of JSON with version, revision and start key). */
interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, lastKey: string, prefix: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: lastKey.slice(prefix.length) + '\u0000' };
  return Buffer.from(JSON.stringify(t)).toString('base64');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return t;
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

/**
 * Drops empty ObjectMeta maps and lists: upstream's typed objects omit them on
 * the wire (`omitempty`), so `kubectl label x key-` leaves no `labels: {}` behind.
 */
export function dropEmptyMeta(meta: any): void {
  for (const k of ['labels', 'annotations', 'finalizers', 'ownerReferences']) {
    const v = meta?.[k];
    if (v !== undefined && v !== null && typeof v === 'object' && Object.keys(v).length === 0) delete meta[k];
  }
}

/** Parses a resourceVersion query/body value; throws BadRequest on garbage. */
export function parseResourceVersion(rv: string | undefined): number {
  if (rv === undefined || rv === '') return 0;
  if (!/^\d+$/.test(rv)) throw errors.badRequest(`invalid resource version "${rv}"`);
  return Number(rv);
}

/** The generic store of one resource. */
export class Store {
  readonly prefix: string;
  readonly qualified: { group: string; resource: string };

  constructor(
    readonly info: ResourceInfo,
    readonly strategy: Strategy,
    readonly types: TypeSupport,
    private readonly backend: Backend,
    private readonly caches: CacheSet,
    private readonly patch: PatchSupport,
    /** Checks the namespace exists and is not terminating (NamespaceLifecycle admission). */
    private readonly namespaceCheck: (ns: string, name: string) => void,
    /** Set when this store serves a version other than the storage version. */
    readonly conversion?: Conversion,
  ) {
    this.prefix = `/registry/${info.group || 'core'}/${info.resource}/`;
    this.qualified = { group: info.group, resource: info.resource };
  }

  /** The patch machinery (for subresources that patch a derived view, like scale). */
  patchSupport(): PatchSupport {
    return this.patch;
  }

  private get cache() {
    return this.caches.cache(this.prefix);
  }

  /** Served-version views of stored objects, one per object: cached objects are shared, so are their views. */
  private readonly views = new WeakMap<object, any>();
  /** The stored object each view was made from. */
  private readonly viewed = new WeakMap<object, any>();

  /** The served version's (read-only) view of a stored object; the object itself without a conversion. */
  view(stored: any): any {
    if (!this.conversion || stored === null || typeof stored !== 'object') return stored;
    let v = this.views.get(stored);
    if (v === undefined) {
      v = this.conversion.fromStorage(stored);
      this.views.set(stored, v);
      if (v !== stored && v && typeof v === 'object') this.viewed.set(v, stored);
    }
    return v;
  }

  /**
   * The storage version's form of an object this store handed out. Printers
   * read this form, as upstream's print the internal version whatever was asked.
   */
  storageForm(obj: any): any {
    if (!this.conversion || obj === null || typeof obj !== 'object') return obj;
    return this.viewed.get(obj) ?? this.conversion.toStorage(obj);
  }

  /** A served-version object from a client → the storage version. */
  private toStorage(obj: any): any {
    return this.conversion ? this.conversion.toStorage(obj) : obj;
  }

  /** Schema managed fields are computed against: stored objects are in the storage version. */
  private get managedSchema(): SchemaNode | undefined {
    return this.conversion?.storageSchema ?? this.types.schema;
  }

  /** The storage key of an object. */
  key(namespace: string, name: string): string {
    return this.info.namespaced ? `${this.prefix}${namespace}/${name}` : `${this.prefix}${name}`;
  }

  /** Key prefix of a list (one namespace, or all). */
  listPrefix(namespace: string): string {
    return this.info.namespaced && namespace ? `${this.prefix}${namespace}/` : this.prefix;
  }

  private hasStatus(): boolean {
    return this.info.subresources.some((s) => s.name === 'status');
  }

  private notFound(name: string): ApiError {
    return errors.notFound(this.qualified, name);
  }

  /** Reads one object (a copy the caller may change). */
  async get(namespace: string, name: string): Promise<any> {
    await this.caches.fresh();
    const cur = this.cache.items.get(this.key(namespace, name));
    if (!cur) throw this.notFound(name);
    return clone(this.view(cur.obj));
  }

  /** Reads one object without copying (read-only!), or undefined. */
  async peek(namespace: string, name: string): Promise<CachedObject | undefined> {
    await this.caches.fresh();
    return this.cache.items.get(this.key(namespace, name));
  }

  /**
   * Parses label and field selectors as the API accepts them for this
   * resource (400 BadRequest with upstream's text for bad syntax or a field
   * the resource does not support).
   */
  filters(labelSelector?: string, fieldSelector?: string): ListFilter {
    const out: ListFilter = {};
    if (labelSelector) out.label = parseLabelSelector(labelSelector);
    if (fieldSelector) {
      const r = this.info;
      const custom = r.custom ? { namespaced: r.namespaced, selectableFields: (r as { selectableFields?: string[] }).selectableFields } : undefined;
      const sel = convertFieldSelector(r.group, r.resource, parseFieldSelector(fieldSelector), custom);
      checkFieldSelector(r.group, r.resource, sel, custom);
      out.field = sel;
    }
    return out;
  }

  private matches(obj: any, f: ListFilter): boolean {
    if (f.label && !f.label.matches(obj?.metadata?.labels)) return false;
    if (f.field && !f.field.empty() && !f.field.matches(this.types.fields(obj))) return false;
    return true;
  }

  /** Lists objects (read-only cached objects; do not modify them). */
  async list(namespace: string, opts: ListOptions): Promise<ListPage> {
    const prefix = this.listPrefix(namespace);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const exactRv = opts.resourceVersionMatch === 'Exact' ? parseResourceVersion(opts.resourceVersion) : 0;
    if (opts.resourceVersionMatch && !['Exact', 'NotOlderThan'].includes(opts.resourceVersionMatch)) {
      throw errors.badRequest(`resourceVersionMatch: Unsupported value: "${opts.resourceVersionMatch}": supported values: "Exact", "NotOlderThan"`);
    }
    if (opts.continue) {
      const t = decodeContinue(opts.continue);
      await this.caches.fresh();
      return this.listFromBackend(prefix, t.rv, prefix + t.start, limit, opts);
    }
    if (exactRv) return this.listFromBackend(prefix, exactRv, undefined, limit, opts);
    const notOlder = parseResourceVersion(opts.resourceVersion);
    if (notOlder > 0) await this.waitForRevision(notOlder);
    else await this.caches.fresh();
    const rev = this.caches.rev;
    const all = this.cache.list(prefix);
    const items: any[] = [];
    let i = 0;
    for (; i < all.length; i++) {
      if (!this.matches(all[i].obj, opts)) continue;
      if (limit && items.length === limit) break;
      items.push(this.view(all[i].obj));
    }
    const page: ListPage = { items, resourceVersion: String(rev) };
    if (limit && i < all.length) {
      // There may be more matching objects after this page.
      page.continue = encodeContinue(rev, all[i - 1].key, prefix);
      if (!opts.label && !opts.field) page.remainingItemCount = all.length - i;
    }
    return page;
  }

  private async listFromBackend(prefix: string, rev: number, startAt: string | undefined, limit: number, f: ListFilter): Promise<ListPage> {
    const items: any[] = [];
    let startAfter = startAt ? startAt.replace(/\u0000$/, '') : undefined;
    let lastKey = '';
    let more = false;
    try {
      for (;;) {
        const page = await this.backend.list(prefix, { revision: rev, limit: limit ? Math.max(limit, 100) : 0, startAfter });
        let stoppedEarly = false;
        for (const kv of page.items) {
          if (limit && items.length === limit) {
            stoppedEarly = true;
            break;
          }
          lastKey = kv.key;
          const obj = JSON.parse(kv.value);
          obj.metadata ??= {};
          obj.metadata.resourceVersion = String(kv.modRevision);
          if (this.matches(obj, f)) items.push(this.view(obj));
        }
        if (stoppedEarly) {
          more = true;
          break;
        }
        if (!page.more || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1].key;
        if (limit && items.length === limit) {
          more = true;
          break;
        }
      }
    } catch (e) {
      if (e instanceof CompactedError) {
        throw new ApiError(
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          undefined,
          410,
        );
      }
      throw e;
    }
    const page: ListPage = { items, resourceVersion: String(rev) };
    if (more) page.continue = encodeContinue(rev, lastKey, prefix);
    return page;
  }

  /** Starts a watch; events go to the sink until stop(). */
  async watch(namespace: string, opts: WatchOptions, sink: WatchSink): Promise<WatchHandle> {
    const prefix = this.listPrefix(namespace);
    const rvStr = opts.resourceVersion;
    const rv = parseResourceVersion(rvStr);
    if (rv > 0) await this.waitForRevision(rv);
    else await this.caches.fresh();
    const cache = this.cache;
    const deliver = (ev: CacheEvent) => {
      const cur = this.matches(ev.obj, opts);
      if (ev.type === 'MODIFIED') {
        const was = this.matches(ev.prev, opts);
        if (cur && was) sink.send('MODIFIED', this.view(ev.obj));
        else if (cur) sink.send('ADDED', this.view(ev.obj));
        // upstream cacher: the last state the watcher could see, at this change's resourceVersion.
        else if (was) sink.send('DELETED', this.view({ ...ev.prev, metadata: { ...ev.prev.metadata, resourceVersion: ev.obj.metadata.resourceVersion } }));
      } else if (cur) {
        sink.send(ev.type, this.view(ev.obj));
      }
    };
    let replay: CacheEvent[] = [];
    const initial = !rvStr || rvStr === '0' || opts.sendInitialEvents;
    if (!initial) {
      try {
        replay = cache.eventsSince(rv, prefix);
      } catch (e) {
        if (e instanceof TooOldError) {
          sink.send('ERROR', errors.gone(`too old resource version: ${e.requested} (${e.oldest})`).toStatus());
          return { stop() {} };
        }
        throw e;
      }
    }
    // Replay and subscription happen in the same turn of the event loop, so no event falls between them.
    if (initial) for (const o of cache.list(prefix)) if (this.matches(o.obj, opts)) sink.send('ADDED', this.view(o.obj));
    if (opts.sendInitialEvents) {
      sink.send('BOOKMARK', this.bookmarkObject(this.caches.rev, true));
    }
    for (const ev of replay) deliver(ev);
    const listener = { prefix, onEvent: deliver };
    cache.listeners.add(listener);
    return { stop: () => cache.listeners.delete(listener) };
  }

  /**
   * Waits until the cache has caught up with a client-supplied resourceVersion;
   * one the store has not reached within a few seconds is refused as upstream's
   * cacher does ("Too large resource version", 504 with a ResourceVersionTooLarge cause).
   */
  private async waitForRevision(rv: number): Promise<void> {
    if (rv <= this.caches.rev) return;
    if (rv > this.backend.currentRevision()) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), TOO_LARGE_RV_WAIT_MS)));
      const r = await Promise.race([this.caches.waitFor(rv).then(() => 'ok' as const), timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        throw new ApiError('Timeout', `Too large resource version: ${rv}, current: ${this.caches.rev}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        }, 504);
      }
      return;
    }
    await this.caches.waitFor(rv);
  }

  /** A BOOKMARK event's object: only the kind and metadata.resourceVersion. */
  bookmarkObject(rev: number, initialEventsEnd = false): any {
    const md: Record<string, unknown> = { resourceVersion: String(rev) };
    if (initialEventsEnd) md.annotations = { 'k8s.io/initial-events-end': 'true' };
    return { kind: this.info.kind, apiVersion: groupVersion(this.info.group, this.info.version), metadata: md };
  }

  /** Current global revision (for bookmarks). */
  revision(): number {
    return this.caches.rev;
  }

  private invalid(name: string, errs: FieldError[]): ApiError {
    return errors.invalid(this.info.group, this.info.kind, name, errs);
  }

  /** Writes a fully prepared new object (allocation, dry-run, AlreadyExists). */
  private async storeNew(ctx: RequestContext, obj: any): Promise<any> {
    const meta = obj.metadata;
    const key = this.key(meta.namespace ?? '', meta.name);
    if (ctx.dryRun) {
      await this.caches.fresh();
      if (this.cache.items.has(key)) throw errors.alreadyExists(this.qualified, meta.name);
    }
    const undo = await this.strategy.allocate?.(obj, undefined, ctx);
    if (ctx.dryRun) {
      // A dry run shows what would be allocated (cluster IP, node ports) and gives it straight back.
      if (typeof undo === 'function') undo();
      return obj;
    }
    try {
      const kv = await this.backend.create(key, encode(obj));
      meta.resourceVersion = String(kv.modRevision);
      return obj;
    } catch (e) {
      if (typeof undo === 'function') undo();
      if (e instanceof KeyExistsError) throw errors.alreadyExists(this.qualified, meta.name);
      throw e;
    }
  }

  private fixNamespace(ctx: RequestContext, meta: any): void {
    // upstream EnsureObjectNamespaceMatchesRequestNamespace
    const want = this.info.namespaced ? ctx.namespace : '';
    const have = meta.namespace ?? '';
    if (have === want) return;
    if (have === '' || want === '') {
      if (want) meta.namespace = want;
      else delete meta.namespace;
      return;
    }
    throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }

  /** PUT: replaces an object (conditional on metadata.resourceVersion when given). */
  async update(ctx: RequestContext, name: string, body: any, subresource = ''): Promise<{ obj: any; created: boolean }> {
    body.metadata ??= {};
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    body.metadata.name = name;
    this.fixNamespace(ctx, body.metadata);
    const wantRv = body.metadata.resourceVersion ? parseResourceVersion(body.metadata.resourceVersion) : 0;
    const r = await this.guaranteedUpdate(ctx, name, wantRv, subresource, (cur) => {
      if (!cur) return undefined;
      return this.toStorage(clone(body));
    }, async () => {
      if (!this.strategy.allowCreateOnUpdate || subresource) return undefined;
      return { obj: await this.createStored(ctx, this.toStorage(clone(body))), created: true };
    });
    return { obj: this.view(r.obj), created: r.created };
  }

  /** PATCH: applies a patch of the given content type to the current object. */
  async patchObject(
    ctx: RequestContext,
    name: string,
    contentType: string,
    body: string,
    subresource: string,
    opts: { force: boolean },
    /** Checks the patched object before it is prepared (unknown fields, types). */
    check: (next: any) => void = () => {},
  ): Promise<{ obj: any; created: boolean }> {
    const apply = contentType === 'application/apply-patch+yaml';
    let applyDoc: any;
    if (apply) applyDoc = this.parseApply(body, name);
    const r = await this.guaranteedUpdate(
      ctx,
      name,
      0,
      subresource,
      (stored) => {
        if (!stored) return undefined;
        // A patch applies to the object as the client sees it, in the version it asked for.
        const cur = this.view(stored);
        let next: any;
        if (apply) {
          next = this.patch.applyServerSide({
            live: clone(cur),
            patch: clone(applyDoc),
            manager: ctx.fieldManager,
            force: opts.force,
            time: rfc3339(ctx.now),
            resolver: this.types.resolver,
            schema: this.types.schema!,
          });
        } else {
          next = this.patch.applyPatch(contentType, clone(cur), body, {
            resolver: this.types.resolver,
            schema: this.types.schema,
            allowStrategic: this.types.allowStrategic,
          });
        }
        if (!next || typeof next !== 'object' || Array.isArray(next)) throw errors.badRequest('the patch produced an object that is not a JSON object');
        check(next);
        next.metadata ??= {};
        if (next.metadata.name !== name) {
          throw this.invalid(name, [field.invalid('metadata.name', next.metadata.name, 'field is immutable')]);
        }
        return this.toStorage(next);
      },
      async () => {
        if (!apply) return undefined;
        // Server-side apply creates what does not exist yet.
        const obj = this.patch.applyServerSide({
          live: undefined,
          patch: clone(applyDoc),
          manager: ctx.fieldManager,
          force: opts.force,
          time: rfc3339(ctx.now),
          resolver: this.types.resolver,
          schema: this.types.schema!,
        });
        obj.metadata ??= {};
        obj.metadata.name = name;
        const managedFields = obj.metadata.managedFields;
        return { obj: await this.createStored(ctx, this.toStorage(obj), managedFields), created: true };
      },
      apply,
    );
    return { obj: this.view(r.obj), created: r.created };
  }

  private parseApply(body: string, name: string): any {
    let doc: any;
    try {
      doc = this.yamlParse(body);
    } catch (e) {
      throw errors.badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw errors.badRequest('apply patch must be a YAML or JSON object');
    const gv = groupVersion(this.info.group, this.info.version);
    if (doc.apiVersion !== gv || doc.kind !== this.info.kind) {
      throw errors.badRequest(
        `the API version in the data (${doc.apiVersion ?? ''}) does not match the expected API version (${gv})`,
      );
    }
    if (doc.metadata?.name !== undefined && doc.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${doc.metadata.name}) does not match the name on the URL (${name})`);
    }
    return doc;
  }

  /** YAML parser injected by the server (keeps this module free of format concerns). */
  yamlParse: (s: string) => unknown = JSON.parse;

  /**
   * Creates an object from a decoded body: prepares, validates and stores it,
   * returning the stored object. `managedFields` are a server-side apply's
   * own; otherwise they are computed for an Update.
   */
  async create(ctx: RequestContext, obj: any, managedFields?: unknown): Promise<any> {
    return this.view(await this.createStored(ctx, this.toStorage(obj), managedFields));
  }

  /** create() of an object already in the storage version; returns the stored object. */
  private async createStored(ctx: RequestContext, obj: any, managedFields?: unknown): Promise<any> {
    obj.metadata ??= {};
    const meta = obj.metadata;
    this.fixNamespace(ctx, meta);
    this.types.defaults(obj);
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(ctx.now);
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.resourceVersion;
    if (this.strategy.trackGeneration) meta.generation = 1;
    else delete meta.generation;
    if (this.hasStatus() && !this.strategy.keepStatusOnCreate) delete obj.status;
    this.strategy.prepareForCreate?.(obj, ctx);
    dropEmptyMeta(meta);
    const errs = [...this.types.validateMeta(meta, undefined), ...this.types.validate(obj), ...(this.strategy.validate?.(obj, ctx) ?? [])];
    if (errs.length) throw this.invalid(meta.name ?? '', errs);
    if (this.info.namespaced) {
      // The namespace may have been created by the previous request: read after every acknowledged write.
      await this.caches.fresh();
      this.namespaceCheck(meta.namespace, meta.name);
    }
    if (managedFields) meta.managedFields = managedFields;
    else if (this.managedSchema) {
      this.patch.updateManagedFields({
        live: undefined,
        next: obj,
        manager: ctx.fieldManager,
        operation: 'Update',
        time: rfc3339(ctx.now),
        resolver: this.types.resolver,
        schema: this.managedSchema,
      });
    }
    return this.storeNew(ctx, obj);
  }

  /**
   * The read-modify-write loop: computes the next object from the current one
   * and writes it conditionally, retrying on conflicts the client did not ask
   * to be checked (upstream GuaranteedUpdate).
   */
  private async guaranteedUpdate(
    ctx: RequestContext,
    name: string,
    wantRv: number,
    subresource: string,
    mutate: (cur: any | undefined) => any | undefined,
    onMissing: () => Promise<{ obj: any; created: boolean } | undefined>,
    managedByApply = false,
  ): Promise<{ obj: any; created: boolean }> {
    const key = this.key(ctx.namespace, name);
    for (let attempt = 0; ; attempt++) {
      await this.caches.fresh();
      const cur = this.cache.items.get(key);
      if (!cur) {
        const created = await onMissing();
        if (created) return created;
        throw this.notFound(name);
      }
      const old = cur.obj;
      const next = mutate(old);
      const nextRv = next.metadata?.resourceVersion ? parseResourceVersion(next.metadata.resourceVersion) : 0;
      const conditional = wantRv || (nextRv && nextRv !== cur.rev ? nextRv : 0);
      if (conditional && conditional !== cur.rev) {
        throw errors.conflict(this.qualified, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      if (!conditional && this.strategy.allowUnconditionalUpdate === false && !managedByApply) {
        throw this.invalid(name, [field.invalid('metadata.resourceVersion', 0, 'must be specified for an update')]);
      }
      const prepared = this.prepareUpdate(ctx, next, old, subresource, managedByApply);
      if (prepared === old) return { obj: clone(old), created: false };
      try {
        return { obj: await this.write(ctx, key, prepared, old, cur.rev), created: false };
      } catch (e) {
        if (e instanceof RevisionMismatchError && !conditional && attempt < 20) continue;
        if (e instanceof RevisionMismatchError) {
          throw errors.conflict(this.qualified, name, 'the object has been modified; please apply your changes to the latest version and try again');
        }
        if (e instanceof KeyNotFoundError) throw this.notFound(name);
        throw e;
      }
    }
  }

  /**
   * A read-modify-write at the storage level, as upstream's
   * `Storage.GuaranteedUpdate` used by the server for its own writes (a pod's
   * binding): `mutate` gets the stored object, read-only, and returns the next
   * stored form built beside it (sharing unchanged parts is fine); no
   * defaulting, validation, strategy or field-manager step runs. Retries when
   * the object changed in between; returns the stored object.
   */
  async guaranteedUpdateStored(ctx: RequestContext, name: string, mutate: (cur: any) => any): Promise<any> {
    const key = this.key(ctx.namespace, name);
    for (let attempt = 0; ; attempt++) {
      await this.caches.fresh();
      const cur = this.cache.items.get(key);
      if (!cur) throw this.notFound(name);
      const built = mutate(cur.obj);
      // Its own top level and metadata: the resourceVersion is set on them below.
      const next = { ...built, metadata: { ...built.metadata } };
      if (ctx.dryRun) return next;
      try {
        const kv = await this.backend.update(key, encode(next), cur.rev);
        next.metadata.resourceVersion = String(kv.modRevision);
        return next;
      } catch (e) {
        if (e instanceof RevisionMismatchError && attempt < 20) continue;
        if (e instanceof KeyNotFoundError) throw this.notFound(name);
        throw e;
      }
    }
  }

  /** Applies update rules to `next`; returns `old` itself when nothing changes. */
  private prepareUpdate(ctx: RequestContext, next: any, old: any, subresource: string, managedByApply: boolean): any {
    next.metadata ??= {};
    const meta = next.metadata;
    const oldMeta = old.metadata;
    if (subresource === 'status') {
      // Only status changes through /status; everything else stays as stored.
      const st = next.status;
      next = { ...clone(old), status: st };
      next.metadata.managedFields = meta.managedFields ?? oldMeta.managedFields;
      this.strategy.prepareForStatusUpdate?.(next, old, ctx);
    } else {
      this.types.defaults(next);
      // A binding sets spec.nodeName and the PodScheduled condition together; every other write keeps status.
      if (this.hasStatus() && subresource !== 'binding') {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    const nm = next.metadata;
    // System fields cannot be changed by clients (upstream FillObjectMetaSystemFields / BeforeUpdate).
    nm.namespace = oldMeta.namespace;
    if (nm.namespace === undefined) delete nm.namespace;
    nm.uid = oldMeta.uid;
    nm.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.deletionTimestamp) {
      nm.deletionTimestamp = oldMeta.deletionTimestamp;
      if (oldMeta.deletionGracePeriodSeconds !== undefined) nm.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    } else {
      delete nm.deletionTimestamp;
      delete nm.deletionGracePeriodSeconds;
    }
    if (oldMeta.generateName !== undefined && nm.generateName === undefined) nm.generateName = oldMeta.generateName;
    nm.generation = oldMeta.generation;
    if (nm.generation === undefined) delete nm.generation;
    nm.resourceVersion = oldMeta.resourceVersion;
    if (subresource !== 'status') this.strategy.prepareForUpdate?.(next, old, ctx, subresource);
    dropEmptyMeta(nm);
    if (this.strategy.trackGeneration && subresource !== 'status' && !deepEqual(specPart(next), specPart(old))) {
      nm.generation = (oldMeta.generation ?? 0) + 1;
    }
    const errs = [
      ...this.types.validateMeta(nm, oldMeta),
      // status and binding writes change only what the server allows them to; the kind's update rules are for clients.
      ...(subresource === 'status' || subresource === 'binding' ? [] : this.types.validate(next, old)),
      ...(subresource === 'status' || subresource === 'binding' ? [] : (this.strategy.validateUpdate?.(next, old, ctx) ?? [])),
    ];
    if (errs.length) throw this.invalid(nm.name, errs);
    // A write that changes nothing is not a write (resourceVersion stays).
    const withoutMf = (o: any) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined } });
    if (deepEqual(withoutMf(next), withoutMf(old))) return old;
    if (this.managedSchema && !managedByApply) {
      this.patch.updateManagedFields({
        live: old,
        next,
        manager: ctx.fieldManager,
        operation: 'Update',
        subresource: subresource || undefined,
        time: rfc3339(ctx.now),
        resolver: this.types.resolver,
        schema: this.managedSchema,
      });
    }
    return next;
  }

  /** Stores an updated object; a deleting object whose last finalizer went away is removed. */
  private async write(ctx: RequestContext, key: string, next: any, old: any, rev: number): Promise<any> {
    const nm = next.metadata;
    const finalizersGone = nm.deletionTimestamp && !(nm.finalizers?.length > 0) && !this.strategy.holdsDeletion?.(next);
    if (ctx.dryRun) return next;
    if (finalizersGone && !(this.strategy.gracePeriod && (nm.deletionGracePeriodSeconds ?? 0) > 0)) {
      const kv = await this.backend.delete(key, rev);
      this.strategy.release?.(old);
      nm.resourceVersion = String(kv.modRevision);
      return next;
    }
    const undo = await this.strategy.allocate?.(next, old, ctx);
    try {
      const kv = await this.backend.update(key, encode(next), rev);
      nm.resourceVersion = String(kv.modRevision);
      return next;
    } catch (e) {
      if (typeof undo === 'function') undo();
      throw e;
    }
  }

  /** DELETE of one object. Returns the object (still present if finalizers or a grace period hold it) and whether it is gone. */
  async delete(ctx: RequestContext, name: string, opts: DeleteOptions): Promise<{ obj: any; gone: boolean }> {
    const r = await this.deleteStored(ctx, name, opts);
    return { obj: this.view(r.obj), gone: r.gone };
  }

  /** delete(), returning the stored form. */
  private async deleteStored(ctx: RequestContext, name: string, opts: DeleteOptions): Promise<{ obj: any; gone: boolean }> {
    const key = this.key(ctx.namespace, name);
    for (let attempt = 0; ; attempt++) {
      await this.caches.fresh();
      const cur = this.cache.items.get(key);
      if (!cur) throw this.notFound(name);
      const old = cur.obj;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== old.metadata.uid) {
        throw errors.conflict(this.qualified, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
        throw errors.conflict(
          this.qualified,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
        );
      }
      this.strategy.validateDelete?.(old, ctx);
      const next = clone(old);
      const nm = next.metadata;
      const grace = this.strategy.gracePeriod ? this.strategy.gracePeriod(old, opts.gracePeriodSeconds) : 0;
      let finalizers: string[] = nm.finalizers ?? [];
      const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined);
      if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers = [...finalizers, 'foregroundDeletion'];
      if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers = [...finalizers, 'orphan'];
      const alreadyDeleting = !!old.metadata.deletionTimestamp;
      if (finalizers.length === 0 && grace === 0 && !this.strategy.holdsDeletion?.(old)) {
        if (ctx.dryRun) return { obj: clone(old), gone: true };
        try {
          const kv = await this.backend.delete(key, cur.rev);
          this.strategy.release?.(old);
          const out = clone(old);
          out.metadata.resourceVersion = String(kv.modRevision);
          return { obj: out, gone: true };
        } catch (e) {
          if (e instanceof RevisionMismatchError && attempt < 20) continue;
          if (e instanceof KeyNotFoundError) throw this.notFound(name);
          throw e;
        }
      }
      if (alreadyDeleting) {
        // Shortening a grace period is allowed; everything else about a second delete is a no-op.
        const curGrace = old.metadata.deletionGracePeriodSeconds;
        if (!(grace < (curGrace ?? 0)) && deepEqual(finalizers, nm.finalizers ?? [])) return { obj: clone(old), gone: false };
      }
      nm.finalizers = finalizers.length ? finalizers : undefined;
      if (!nm.finalizers) delete nm.finalizers;
      if (!alreadyDeleting || grace < (nm.deletionGracePeriodSeconds ?? 0)) {
        nm.deletionTimestamp = rfc3339(new Date(ctx.now.getTime() + grace * 1000));
        nm.deletionGracePeriodSeconds = grace;
        if (this.strategy.trackGeneration || nm.generation !== undefined) nm.generation = (nm.generation ?? 0) + 1;
      }
      this.strategy.markDeleting?.(next);
      if (ctx.dryRun) return { obj: next, gone: false };
      try {
        const kv = await this.backend.update(key, encode(next), cur.rev);
        nm.resourceVersion = String(kv.modRevision);
        return { obj: next, gone: false };
      } catch (e) {
        if (e instanceof RevisionMismatchError && attempt < 20) continue;
        if (e instanceof KeyNotFoundError) throw this.notFound(name);
        throw e;
      }
    }
  }

  /** DELETE of a collection: deletes every matching object. Returns the deleted (or deleting) objects. */
  async deleteCollection(ctx: RequestContext, f: ListFilter, opts: DeleteOptions): Promise<any[]> {
    const page = await this.list(ctx.namespace, { ...f });
    const out: any[] = [];
    for (const o of page.items) {
      try {
        const r = await this.delete({ ...ctx, namespace: o.metadata.namespace ?? '' }, o.metadata.name, opts);
        out.push(r.obj);
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) continue;
        throw e;
      }
    }
    return out;
  }
}
