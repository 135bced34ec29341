/**
 * The in-process transport: components that share the control plane's
 * process call the registry's stores directly — the same validation,
 * defaulting, admission and watch semantics as over HTTP, without
 * serialization. Objects from list and watch are shared, read-only copies
 * (copy before changing); get and writes return private copies.
 */
import { errors } from '../api/errors.js';
import type { Registry } from '../apiserver/registry/registry.js';
import type { Store } from '../apiserver/registry/store.js';
import { BINDING_SUCCESS, bindPod } from '../apiserver/registry/binding.js';
import type { RequestContext, UserInfo } from '../apiserver/registry/strategy.js';
import type { Client, ClientWatch, ClientWatchEvent, DeleteOpts, ListOpts, ObjectList, PatchType, ResourceRef, WatchOpts, WriteOpts } from './client.js';

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

  async get<T = any>(ref: ResourceRef, namespace: string, name: string): Promise<T> {
    return this.store(ref).get(namespace, name);
  }

  async list<T = any>(ref: ResourceRef, namespace: string, opts: ListOpts = {}): Promise<ObjectList<T>> {
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
    if (opts?.subresource) throw errors.methodNotSupported({ group: ref.group, resource: `${ref.resource}/${opts.subresource}` }, 'create');
    return store.create(this.ctx(namespace, opts), structuredClone(obj));
  }

  async update<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T> {
    const store = this.store(ref);
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
