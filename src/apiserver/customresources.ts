/**
 * Serving custom resources: follows CustomResourceDefinitions in the watch
 * cache, registers a store per served version (validation, pruning and
 * defaulting from the CRD's structural schema, printer columns, status and
 * scale subresources), marks CRDs Established, and removes a CRD's objects
 * when the CRD goes away.
 */
import { ApiError } from '../api/errors.js';
import type { ResourceInfo } from '../api/resources.js';
import type { SchemaNode } from '../api/schema.js';
import { isDNS1123Subdomain } from '../api/names.js';
import { applySchemaDefaults, crdPrinter, defaultCRD, pruneObject, validateCRD, validateCustomObject } from './crd/index.js';
import type { CRDVersion, JSONSchemaProps } from './crd/types.js';
import { fieldsFunc } from './fieldselectors.js';
import type { KindPrinter } from './printers/index.js';
import type { Registry } from './registry/registry.js';
import { builtinResolver, metaValidator } from './registry/registry.js';
import type { Conversion, Store, TypeSupport } from './registry/store.js';
import { clone, deepEqual } from './registry/store.js';
import type { CacheEvent } from './registry/cache.js';
import { systemContext } from './bootstrap.js';
import { CRD_CLEANUP_FINALIZER } from './registry/builtin.js';
import type { ScaleMapping } from './handler.js';

const CRD_GROUP = 'apiextensions.k8s.io';

/** A registered custom resource version. */
interface Served {
  crdName: string;
  version: CRDVersion;
  /** The CRD's storage version when this store was registered. */
  storageVersion: string;
  schema?: JSONSchemaProps;
  printer: KindPrinter;
}

/** Keeps the registry's custom resources in step with the CRDs. */
export class CustomResources {
  private readonly served = new Map<Store, Served>();
  private stopListening?: () => void;

  constructor(private readonly registry: Registry) {}

  /** Hooks CRD validation into the CRD store and registers every existing CRD. */
  async start(): Promise<void> {
    const crds = this.registry.lookup(CRD_GROUP, 'v1', 'customresourcedefinitions');
    if (!crds) return;
    const baseValidate = crds.types.validate;
    const baseDefaults = crds.types.defaults;
    crds.types.defaults = (obj) => {
      baseDefaults(obj);
      defaultCRD(obj);
    };
    crds.types.validate = (obj, old) => [...baseValidate(obj, old), ...validateCRD(obj, old)];
    const cache = this.registry.caches.cache(crds.prefix);
    const listener = { prefix: crds.prefix, onEvent: (ev: CacheEvent) => void this.onEvent(crds, ev) };
    cache.listeners.add(listener);
    this.stopListening = () => cache.listeners.delete(listener);
    for (const o of cache.list(crds.prefix)) await this.sync(crds, o.obj);
  }

  /** Stops following CRDs. */
  stop(): void {
    this.stopListening?.();
  }

  private async onEvent(crds: Store, ev: CacheEvent): Promise<void> {
    try {
      if (ev.type === 'DELETED') await this.removeAll(ev.obj, true);
      else await this.sync(crds, ev.obj);
    } catch (e) {
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) console.error(`customresources: ${(e as Error).message}`);
    }
  }

  /** Registers the served versions of a CRD and keeps its status current. */
  private async sync(crds: Store, crd: any): Promise<void> {
    const spec = crd.spec;
    if (crd.metadata.deletionTimestamp) {
      // upstream's CRD finalizer controller: delete every custom object, then release the CRD.
      await this.removeAll(crd, true);
      await this.releaseCleanupFinalizer(crds, crd.metadata.name);
      return;
    }
    const group = spec.group;
    const plural = spec.names.plural;
    const previously = this.registry.resources().filter((r) => r.custom && r.group === group && r.resource === plural);
    const servedVersions: CRDVersion[] = spec.versions.filter((v: CRDVersion) => v.served);
    for (const r of previously) if (!servedVersions.some((v) => v.name === r.version)) this.registry.remove(group, r.version, plural);
    for (const v of servedVersions) this.register(crd, v as CRDVersion & { name: string });
    await this.establish(crds, crd);
  }

  private register(crd: any, v: CRDVersion & { name: string }): void {
    const spec = crd.spec;
    const namespaced = spec.scope === 'Namespaced';
    const names = spec.names;
    const schema = v.schema?.openAPIV3Schema as JSONSchemaProps | undefined;
    const subresources: ResourceInfo['subresources'][number][] = [];
    if (v.subresources?.status) subresources.push({ name: 'status', group: spec.group, version: v.name, kind: names.kind, verbs: ['get', 'patch', 'update'] });
    if (v.subresources?.scale) subresources.push({ name: 'scale', group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    const selectableFields = (v.selectableFields ?? []).map((f) => f.jsonPath ?? '');
    const storageVersion: string = spec.versions.find((sv: CRDVersion) => sv.storage)?.name ?? v.name;
    const info: ResourceInfo & { selectableFields?: string[] } = {
      storageVersion,
      group: spec.group,
      version: v.name,
      resource: names.plural,
      kind: names.kind,
      listKind: names.listKind ?? `${names.kind}List`,
      singular: names.singular ?? names.kind.toLowerCase(),
      namespaced,
      verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
      shortNames: names.shortNames ?? [],
      categories: names.categories ?? [],
      subresources,
      schema: schemaWithMeta(schema),
      custom: true,
      selectableFields,
    };
    const nameValidator = (name: string, prefix: boolean) => isDNS1123Subdomain(prefix ? `${name}a` : name);
    const fields = fieldsFunc(spec.group, names.plural, { namespaced, selectableFields });
    const types: TypeSupport = {
      defaults: (obj) => applySchemaDefaults(schema, obj),
      validate: (obj) => (schema ? validateCustomObject(schema, obj) : []),
      nameValidator,
      validateMeta: metaValidator(namespaced, nameValidator),
      resolver: builtinResolver,
      schema: info.schema,
      allowStrategic: false,
      fields,
    };
    const existing = this.registry.lookup(spec.group, v.name, names.plural);
    const current = existing ? this.served.get(existing) : undefined;
    if (existing && current && deepEqual(current.version, v) && current.storageVersion === storageVersion && existing.info.namespaced === namespaced && deepEqual(existing.info.shortNames, info.shortNames) && deepEqual(existing.info.categories, info.categories)) {
      return;
    }
    const store = this.registry.newStore(info, { trackGeneration: true }, types, noneConversion(spec.group, v.name, storageVersion));
    if (existing) this.served.delete(existing);
    this.served.set(store, { crdName: crd.metadata.name, version: v, storageVersion, schema, printer: crdPrinter(v) as KindPrinter });
    this.registry.add(info, store);
  }

  /** Sets the NamesAccepted and Established conditions and acceptedNames, as upstream's CRD controllers do. */
  private async establish(crds: Store, crd: any): Promise<void> {
    const storage = crd.spec.versions.find((v: CRDVersion) => v.storage)?.name;
    const accepted = { ...crd.spec.names, singular: crd.spec.names.singular ?? crd.spec.names.kind.toLowerCase(), listKind: crd.spec.names.listKind ?? `${crd.spec.names.kind}List` };
    const prev = crd.status ?? {};
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond = (type: string, reason: string, message: string) => {
      const old = (prev.conditions ?? []).find((c: any) => c.type === type);
      return old && old.status === 'True' && old.reason === reason ? old : { type, status: 'True', lastTransitionTime: now, reason, message };
    };
    const status = {
      conditions: [cond('NamesAccepted', 'NoConflicts', 'no conflicts found'), cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
      acceptedNames: accepted,
      storedVersions: [...new Set([...(prev.storedVersions ?? []), ...(storage ? [storage] : [])])],
    };
    if (deepEqual(status, prev)) return;
    const next = clone(crd) as any;
    next.status = status;
    next.metadata.resourceVersion = crd.metadata.resourceVersion;
    await crds.update(systemContext(), crd.metadata.name, next, 'status');
  }

  /** Removes the customresourcecleanup finalizer from a deleting CRD (which then goes away). */
  private async releaseCleanupFinalizer(crds: Store, name: string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await crds.get('', name).catch(() => undefined);
      if (!cur || !(cur.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) return;
      const next = clone(cur);
      next.metadata.finalizers = cur.metadata.finalizers.filter((f: string) => f !== CRD_CLEANUP_FINALIZER);
      try {
        await crds.update(systemContext(), name, next);
        return;
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      }
    }
  }

  /** Unregisters a CRD's resources; when its objects must go (the CRD is deleting or gone), deletes them first. */
  private async removeAll(crd: any, gone: boolean): Promise<void> {
    const group = crd.spec.group;
    const plural = crd.spec.names.plural;
    const rs = this.registry.resources().filter((r) => r.custom && r.group === group && r.resource === plural);
    const store = rs.length ? this.registry.lookup(group, rs[0].version, plural) : undefined;
    if (gone && store) await store.deleteCollection(systemContext(), {}, {});
    for (const r of rs) {
      const s = this.registry.lookup(group, r.version, plural);
      if (s) this.served.delete(s);
      this.registry.remove(group, r.version, plural);
    }
  }

  /** The printer of a custom resource store (undefined for built-ins). */
  printer(store: Store): KindPrinter | undefined {
    return this.served.get(store)?.printer;
  }

  /** Prunes unknown fields of a custom object (returns their paths). */
  decode(store: Store, obj: any): { unknown: string[]; typeErrors: string[] } {
    const s = this.served.get(store);
    if (!s?.schema) return { unknown: [], typeErrors: [] };
    return { unknown: pruneObject(s.schema, obj), typeErrors: [] };
  }

  /** The scale subresource mapping of a custom resource. */
  scale(store: Store): ScaleMapping | undefined {
    const sc = this.served.get(store)?.version.subresources?.scale;
    if (!sc) return undefined;
    return { specReplicasPath: sc.specReplicasPath ?? '.spec.replicas', statusReplicasPath: sc.statusReplicasPath ?? '.status.replicas', labelSelectorPath: sc.labelSelectorPath };
  }
}

/**
 * Conversion strategy None (upstream's nopConverter): objects are the same in
 * every version but for apiVersion. Every version's store converts, so objects
 * written before the storage version changed read with the asked-for version too.
 * (Webhook conversion is not supported; such CRDs are served as if None.)
 */
function noneConversion(group: string, version: string, storageVersion: string): Conversion {
  const served = `${group}/${version}`;
  const stored = `${group}/${storageVersion}`;
  return {
    toStorage: (obj) => (obj?.apiVersion === stored ? obj : { ...obj, apiVersion: stored }),
    fromStorage: (obj) => (obj?.apiVersion === served ? obj : { ...obj, apiVersion: served }),
  };
}

/** The CRD's schema with `metadata` typed as ObjectMeta, so managed fields and patches see metadata's structure. */
function schemaWithMeta(schema: JSONSchemaProps | undefined): SchemaNode {
  const base = (schema ? clone(schema) : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }) as SchemaNode;
  base.properties = {
    ...(base.properties ?? {}),
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' },
  };
  return base;
}
