/**
 * The registry: one Store per served resource, looked up by group, version
 * and resource. Built-in resources are registered at start; custom resources
 * come and go with their CustomResourceDefinitions.
 */
import type { ResourceInfo } from '../../api/resources.js';
import { builtinResources } from '../../api/resources.js';
import { SchemaResolver } from '../../api/schema.js';
import { definitions } from '../../api/generated/schema.js';
import type { Backend } from '../../storage/backend.js';
import { errors } from '../../api/errors.js';
import { applyDefaults, jobGenerateSelector } from '../../api/defaults/index.js';
import { validateObject, validateObjectMeta, validateObjectMetaUpdate } from '../../api/validation/index.js';
import { nameValidatorFor } from '../../api/names.js';
import { fieldsFunc } from '../fieldselectors.js';
import { CacheSet } from './cache.js';
import { Store, type PatchSupport, type TypeSupport } from './store.js';
import { ServiceAllocator, builtinStrategy } from './builtin.js';

/** What the registry needs to build stores. */
export interface RegistryConfig {
  backend: Backend;
  patch: PatchSupport;
  serviceCidr: string;
  yamlParse: (s: string) => unknown;
}

/** The built-in schema, shared by every built-in resource. */
export const builtinResolver = new SchemaResolver(definitions);

/** All stores, by `group/version/resource`. */
export class Registry {
  readonly caches: CacheSet;
  readonly services: ServiceAllocator;
  private readonly stores = new Map<string, Store>();
  private readonly order: ResourceInfo[] = [];
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly config: RegistryConfig) {
    this.caches = new CacheSet(config.backend);
    this.services = new ServiceAllocator(config.serviceCidr);
  }

  /** Loads the caches and registers the built-in resources. */
  async start(): Promise<void> {
    await this.caches.start();
    for (const info of builtinResources()) this.add(info, this.builtinStore(info));
    const svc = this.lookup('', 'v1', 'services');
    if (svc) for (const o of this.caches.cache(svc.prefix).list(svc.prefix)) this.services.restore(o.obj);
  }

  /** Stops following storage. */
  stop(): void {
    this.caches.stop();
  }

  private builtinStore(info: ResourceInfo): Store {
    const { group, kind, resource, namespaced } = info;
    const nameValidator = nameValidatorFor(group, resource);
    const types: TypeSupport = {
      defaults: (obj) => applyDefaults(group, kind, obj),
      validate: (obj, old) => validateObject(group, kind, obj, old),
      nameValidator,
      validateMeta: (meta, old) =>
        old
          ? [...validateObjectMeta(meta, { namespaced, nameValidator }), ...validateObjectMetaUpdate(meta, old)]
          : validateObjectMeta(meta, { namespaced, nameValidator }),
      resolver: builtinResolver,
      schema: info.schema,
      allowStrategic: true,
      fields: fieldsFunc(group, resource),
    };
    const strategy = builtinStrategy(group, resource, { services: this.services, jobSelector: jobGenerateSelector });
    return this.newStore(info, strategy, types);
  }

  /** Builds a store wired to this registry's storage and admission. */
  newStore(info: ResourceInfo, strategy: import('./strategy.js').Strategy, types: TypeSupport): Store {
    const store = new Store(info, strategy, types, this.config.backend, this.caches, this.config.patch, (ns, name) =>
      this.checkNamespace(info, ns, name),
    );
    store.yamlParse = this.config.yamlParse;
    return store;
  }

  /** NamespaceLifecycle admission: the namespace must exist and not be terminating. */
  private checkNamespace(info: ResourceInfo, ns: string, name: string): void {
    const nsStore = this.lookup('', 'v1', 'namespaces');
    if (!nsStore) return;
    const cur = this.caches.cache(nsStore.prefix).items.get(nsStore.key('', ns));
    if (!cur) throw errors.notFound({ group: '', resource: 'namespaces' }, ns);
    if (cur.obj.metadata?.deletionTimestamp || cur.obj.status?.phase === 'Terminating') {
      throw errors.forbidden(
        { group: info.group, resource: info.resource },
        name,
        `unable to create new content in namespace ${ns} because it is being terminated`,
      );
    }
  }

  /** Registers (or replaces) a resource. */
  add(info: ResourceInfo, store: Store): void {
    const key = `${info.group}/${info.version}/${info.resource}`;
    const i = this.order.findIndex((r) => `${r.group}/${r.version}/${r.resource}` === key);
    if (i >= 0) this.order[i] = info;
    else this.order.push(info);
    this.stores.set(key, store);
    this.changed();
  }

  /** Unregisters a resource. */
  remove(group: string, version: string, resource: string): void {
    const key = `${group}/${version}/${resource}`;
    const i = this.order.findIndex((r) => `${r.group}/${r.version}/${r.resource}` === key);
    if (i >= 0) this.order.splice(i, 1);
    if (this.stores.delete(key)) this.changed();
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  /** Calls `fn` whenever the set of served resources changes. */
  onChange(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** The store of a resource, or undefined. */
  lookup(group: string, version: string, resource: string): Store | undefined {
    return this.stores.get(`${group}/${version}/${resource}`);
  }

  /** Served resources in discovery order. */
  resources(): readonly ResourceInfo[] {
    return this.order;
  }
}
