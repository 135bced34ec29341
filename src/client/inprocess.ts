/**
 * The in-process transport: components that share the control plane's
 * process call the registry's stores directly — the same validation,
 * defaulting, admission and watch semantics as over HTTP, without
 * serialization. Objects from list and watch are shared, read-only copies
 * (copy before changing); get and writes return private copies.
 */
import { ApiError, errors } from '../api/errors.js';
import type { Registry } from '../apiserver/registry/registry.js';
import type { Store } from '../apiserver/registry/store.js';
import { BINDING_SUCCESS, bindPod } from '../apiserver/registry/binding.js';
import { evictPod } from '../apiserver/eviction.js';
import type { RequestContext, UserInfo } from '../apiserver/registry/strategy.js';
import { scaleOf, setPath, type ScaleMapping } from '../apiserver/handler.js';
import type { Client, ClientWatch, ClientWatchEvent, DeleteOpts, ListOpts, ObjectList, PatchType, ResourceRef, WatchOpts, WriteOpts } from './client.js';

/** A read-only API the API server answers without storage (e.g. metrics.k8s.io). */
export interface ReadOnlyApi {
  get(namespace: string, name: string): Promise<any>;
  list(namespace: string, opts: { labelSelector?: string; fieldSelector?: string }): Promise<{ items: any[] }>;
}

/** What the API server serves beyond its stores, for the in-process transport to reach as HTTP clients do. */
export interface InProcessApis {
  /** Where a resource keeps its replicas for the scale subresource (undefined: it has none). */
  scaleMapping(store: Store): ScaleMapping | undefined;
  /** The read-only API `ref` addresses, if it is one. */
  readOnly(ref: ResourceRef): ReadOnlyApi | undefined;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** A Client over the registry of the API server in this process. */
export class InProcessClient implements Client {
  /**
   * `user` is who the component acts as (it is recorded, e.g. in managedFields);
   * `fieldManager` names the component in managedFields unless a write says otherwise.
   */
  constructor(
    private readonly registry: Registry,
    private readonly user: UserInfo,
    private readonly fieldManager: string,
    private readonly apis?: InProcessApis,
  ) {}

  private store(ref: ResourceRef): Store {
    const s = this.registry.lookup(ref.group, ref.version, ref.resource);
    if (!s) throw errors.notFound({ group: ref.group, resource: ref.resource }, '');
    return s;
  }

  private ctx(namespace: string, opts?: WriteOpts): RequestContext {
    return {
      user: this.user,
      namespace,
      dryRun: !!opts?.dryRun,
      fieldManager: opts?.fieldManager ?? this.fieldManager,
      warnings: [],
      now: new Date(),
    };
  }

  async get<T = any>(ref: ResourceRef, namespace: string, name: string, subresource?: string): Promise<T> {
    const ro = this.apis?.readOnly(ref);
    if (ro) return ro.get(namespace, name);
    const store = this.store(ref);
    if (subresource === 'scale') {
      const mapping = this.scaleMapping(store);
      return scaleOf(await store.get(namespace, name), mapping);
    }
    return store.get(namespace, name);
  }

  /** The scale mapping of a resource; NotFound (as over HTTP) when it has no scale subresource. */
  private scaleMapping(store: Store): ScaleMapping {
    const m = this.apis?.scaleMapping(store);
    if (!m) throw new ApiError('NotFound', 'the server could not find the requested resource', {});
    return m;
  }

  /** PUT <resource>/<name>/scale: sets the replicas the Scale asks for, as the HTTP handler does. */
  private async updateScale(store: Store, namespace: string, scale: any, opts: WriteOpts): Promise<any> {
    const mapping = this.scaleMapping(store);
    const name = scale?.metadata?.name ?? '';
    const replicas = scale?.spec?.replicas;
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) {
      throw errors.invalid('autoscaling', 'Scale', name, [{ type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' }]);
    }
    const next = await store.get(namespace, name);
    setPath(next, mapping.specReplicasPath, replicas ?? 0);
    if (scale?.metadata?.resourceVersion) next.metadata.resourceVersion = scale.metadata.resourceVersion;
    else delete next.metadata.resourceVersion;
    const { obj } = await store.update(this.ctx(namespace, opts), name, next, 'scale');
    return scaleOf(obj, mapping);
  }

  async list<T = any>(ref: ResourceRef, namespace: string, opts: ListOpts = {}): Promise<ObjectList<T>> {
    const ro = this.apis?.readOnly(ref);
    if (ro) return { items: (await ro.list(namespace, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector })).items, resourceVersion: '' };
    const store = this.store(ref);
    const page = await store.list(namespace, {
      ...store.filters(opts.labelSelector, opts.fieldSelector),
      limit: opts.limit,
      continue: opts.continue,
      resourceVersion: opts.resourceVersion,
    });
    return { items: page.items, resourceVersion: page.resourceVersion, continue: page.continue };
  }

  async watch<T = any>(ref: ResourceRef, namespace: string, opts: WatchOpts, onEvent: (ev: ClientWatchEvent<T>) => void): Promise<ClientWatch> {
    const store = this.store(ref);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    let stopped = false;
    let handle: { stop(): void } | undefined;
    // Defined before the store watch starts: it may send (e.g. a 410 ERROR) before it returns.
    const stop = () => {
      if (stopped) return;
      stopped = true;
      handle?.stop();
      finish();
    };
    handle = await store.watch(
      namespace,
      { ...store.filters(opts.labelSelector, opts.fieldSelector), resourceVersion: opts.resourceVersion },
      {
        send: (type, object) => {
          if (stopped) return;
          onEvent({ type, object });
          // An ERROR (e.g. 410 Expired) ends a watch, as the HTTP stream does.
          if (type === 'ERROR') stop();
        },
      },
    );
    if (stopped) handle.stop();
    return { stop, done };
  }

  async create<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T> {
    const store = this.store(ref);
    if (opts?.subresource === 'binding' && ref.group === '' && ref.resource === 'pods') {
      // POST pods/<name>/binding: answers a Status, as over HTTP.
      await bindPod(store, this.ctx(namespace, opts), structuredClone(obj));
      return BINDING_SUCCESS as T;
    }
    if (opts?.subresource === 'eviction' && ref.group === '' && ref.resource === 'pods') {
      // POST pods/<name>/eviction: answers a Status, as over HTTP.
      const eviction = structuredClone(obj) as any;
      const pdbs = this.registry.lookup('policy', 'v1', 'poddisruptionbudgets');
      return (await evictPod({ pods: store, pdbs }, this.ctx(namespace, opts), eviction?.metadata?.name ?? '', eviction)) as T;
    }
    if (opts?.subresource) throw errors.methodNotSupported({ group: ref.group, resource: `${ref.resource}/${opts.subresource}` }, 'create');
    return store.create(this.ctx(namespace, opts), structuredClone(obj));
  }

  async update<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T> {
    const store = this.store(ref);
    if (opts?.subresource === 'scale') return this.updateScale(store, namespace, obj, opts);
    const body = structuredClone(obj) as any;
    const { obj: out } = await store.update(this.ctx(namespace, opts), body?.metadata?.name ?? '', body, opts?.subresource ?? '');
    return out;
  }

  async patch<T = any>(
    ref: ResourceRef,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    opts?: WriteOpts & { force?: boolean },
  ): Promise<T> {
    const store = this.store(ref);
    const body = typeof patch === 'string' ? patch : JSON.stringify(patch);
    const { obj } = await store.patchObject(this.ctx(namespace, opts), name, PATCH_CONTENT_TYPES[type], body, opts?.subresource ?? '', { force: !!opts?.force });
    return obj;
  }

  async delete(ref: ResourceRef, namespace: string, name: string, opts: DeleteOpts = {}): Promise<void> {
    await this.store(ref).delete(this.ctx(namespace), name, opts);
  }
}
