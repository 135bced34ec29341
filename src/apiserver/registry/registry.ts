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
import YAML from 'yaml';
import { applyPatch } from '../patch/index.js';
import { applyServerSide, updateManagedFields } from '../fieldmanager/index.js';
import { CacheSet } from './cache.js';
import { Store, type Conversion, type PatchSupport, type TypeSupport } from './store.js';
import { builtinConversion } from '../../api/conversion/index.js';
import { ServiceAllocator, builtinStrategy, pickDefaultStorageClass } from './builtin.js';
import { AdmissionChain } from '../admission/index.js';

/** What the registry needs to build stores. */
export interface RegistryConfig {
  backend: Backend;
  serviceCidr: string;
  /** Patch machinery (default: the real JSON/merge/strategic patch and server-side apply). */
  patch?: PatchSupport;
  /** YAML parser for apply patches (default: the `yaml` package). */
  yamlParse?: (s: string) => unknown;
}

/** The patch machinery every store uses unless told otherwise. */
const DEFAULT_PATCH: PatchSupport = { applyPatch, applyServerSide, updateManagedFields };

/** ObjectMeta validation for a resource: create rules, plus the update rules when there is an old object. */
export function metaValidator(namespaced: boolean, nameValidator: TypeSupport['nameValidator']): TypeSupport['validateMeta'] {
  return (meta, old) =>
    old
      ? [...validateObjectMeta(meta, { namespaced, nameValidator }), ...validateObjectMetaUpdate(meta, old)]
      : validateObjectMeta(meta, { namespaced, nameValidator });
}

/** The built-in schema, shared by every built-in resource. */
export const builtinResolver = new SchemaResolver(definitions);

/** All stores, by `group/version/resource`. */
export class Registry {
  readonly caches: CacheSet;
  readonly services: ServiceAllocator;
  /** LimitRanger, Priority and ResourceQuota admission, wrapped around every store's strategy. */
  readonly admission = new AdmissionChain(this);
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
    for (const info of builtinResources()) {
      const store = this.builtinStore(info);
      this.add(store.info, store);
    }
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
      validateMeta: metaValidator(namespaced, nameValidator),
      resolver: builtinResolver,
      schema: info.schema,
      allowStrategic: true,
      fields: fieldsFunc(group, resource),
    };
    const strategy = builtinStrategy(group, resource, {
      services: this.services,
      jobSelector: jobGenerateSelector,
      // DefaultStorageClass admission reads the StorageClasses this server holds.
      defaultStorageClass: () => {
        const sc = this.lookup('storage.k8s.io', 'v1', 'storageclasses');
        return sc ? pickDefaultStorageClass(this.caches.cache(sc.prefix).list(sc.prefix).map((o) => o.obj)) : undefined;
      },
    });
    // A version stored as another one: defaulting and validation (keyed by group and kind) run on the storage version.
    const conv = builtinConversion(group, info.version, resource);
    if (!conv) return this.newStore(info, strategy, types);
    const storageInfo = builtinResources().find((r) => r.group === group && r.version === conv.storageVersion && r.resource === resource);
    const conversion: Conversion = { toStorage: conv.toStorage, fromStorage: conv.fromStorage, storageSchema: storageInfo?.schema };
    return this.newStore({ ...info, storageVersion: conv.storageVersion }, strategy, types, conversion);
  }

  /** Builds a store wired to this registry's storage and admission. */
  newStore(info: ResourceInfo, strategy: import('./strategy.js').Strategy, types: TypeSupport, conversion?: Conversion): Store {
    const store = new Store(info, this.admission.wrap(info, strategy), types, this.config.backend, this.caches, this.config.patch ?? DEFAULT_PATCH, (ns, name) =>
      this.checkNamespace(info, ns, name),
      conversion,
    );
    store.yamlParse = this.config.yamlParse ?? ((text) => YAML.parse(text));
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
