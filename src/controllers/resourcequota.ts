/**
 * The resource quota controller (upstream pkg/controller/resourcequota):
 * copies every ResourceQuota's spec.hard into status.hard and counts
 * status.used from the objects of its namespace — pods (compute requests,
 * limits, extended resources such as `requests.nvidia.com/gpu`), services,
 * claims (`requests.storage`) and `count/<resource>.<group>` for anything
 * else, respecting the quota's scopes. Quota admission charges creations as
 * they happen; this controller recounts when a quota's spec changes, when
 * something is released (deleted, a pod finishing, a service or claim
 * changing what it uses), and on a periodic full resync.
 */
import { R, type Client, type ResourceRef } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import {
  addLists,
  evaluatedResource,
  evaluatorFor,
  formatResourceList,
  listsEqual,
  maskList,
  parseResourceList,
  podChargesCompute,
  quotaIgnores,
  quotaScopes,
  type ResourceList,
} from '../apiserver/admission/usage.js';
import { Quantity } from '../api/quantity.js';
import { jsonEqual, type ObjectLike } from './controllerutil.js';
import type { DiscoveredResource } from './garbagecollector.js';

/** core/v1 ResourceQuotas. */
export const QUOTA_RESOURCE: ResourceRef = { group: '', version: 'v1', resource: 'resourcequotas' };

/** upstream --resource-quota-sync-period: a full recount of every quota this often. */
export const DEFAULT_QUOTA_RESYNC_MS = 5 * 60 * 1000;

/** Configuration of the resource quota controller. */
export interface ResourceQuotaControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Served resources: which version to watch for a `count/<resource>.<group>` quota. */
  resources: () => readonly DiscoveredResource[];
  /** Full recount period (default 5 minutes; 0 disables). */
  resyncMs?: number;
  now?: () => Date;
  /** Concurrent syncs (upstream --concurrent-resource-quota-syncs, default 5). */
  workers?: number;
}

/** Keeps ResourceQuota status in step with what each namespace uses. */
export class ResourceQuotaController {
  private readonly client: Client;
  private readonly informers: InformerFactory;
  private readonly resources: () => readonly DiscoveredResource[];
  private readonly now: () => Date;
  private readonly resyncMs: number;
  private readonly queue: WorkQueue;
  private readonly quotas: Informer;
  /** Informers of counted resources by `group/resource`, started the first time a quota needs one. */
  private readonly counted = new Map<string, Promise<Informer | undefined>>();
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(config: ResourceQuotaControllerConfig) {
    this.client = config.client;
    this.informers = config.informers;
    this.resources = config.resources;
    this.now = config.now ?? (() => new Date());
    this.resyncMs = config.resyncMs ?? DEFAULT_QUOTA_RESYNC_MS;
    this.queue = new WorkQueue((key) => this.sync(key), { workers: config.workers ?? 5 });
    this.quotas = config.informers.informer(QUOTA_RESOURCE);
  }

  /** Registers handlers, fills the quota cache and starts the periodic resync. */
  async start(): Promise<void> {
    this.quotas.addHandlers({
      onAdd: (q) => this.enqueue(q),
      // Status changes come from this controller and from admission; only a new spec needs a recount.
      onUpdate: (old, q) => {
        if (!jsonEqual(old.spec?.hard ?? {}, q.spec?.hard ?? {}) || !jsonEqual(old.spec?.scopes ?? [], q.spec?.scopes ?? []) || !jsonEqual(old.spec?.scopeSelector ?? null, q.spec?.scopeSelector ?? null)) {
          this.enqueue(q);
        }
      },
    });
    await this.quotas.start();
    if (this.resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        for (const q of this.quotas.list()) this.enqueue(q);
      }, this.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Stops syncing (the shared informers are the factory's). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private enqueue(q: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(q));
  }

  /** upstream replenishQuota: recount the quotas of a namespace that limit something of this resource. */
  private replenish(group: string, resource: string, namespace: string): void {
    const evaluator = evaluatorFor(group, resource);
    for (const q of this.quotas.list(namespace)) {
      if (evaluator.matchingResources(Object.keys(q.status?.hard ?? q.spec?.hard ?? {})).length) this.enqueue(q);
    }
  }

  /** upstream's update filter: updates that release quota (a pod finishing, a service changing type, a claim resized). */
  private releasesQuota(group: string, resource: string, old: ObjectLike, obj: ObjectLike): boolean {
    if (group !== '') return false;
    const now = this.now();
    if (resource === 'pods') return podChargesCompute(old, now) && !podChargesCompute(obj, now);
    if (resource === 'services') return (old.spec?.type ?? 'ClusterIP') !== (obj.spec?.type ?? 'ClusterIP');
    if (resource === 'persistentvolumeclaims') return !jsonEqual(old.spec?.resources?.requests ?? {}, obj.spec?.resources?.requests ?? {});
    return false;
  }

  /** The (started, synced) informer of a resource quota counts, or undefined when it is not served. */
  private informerFor(group: string, resource: string): Promise<Informer | undefined> {
    const key = `${group}/${resource}`;
    let p = this.counted.get(key);
    if (!p) {
      p = (async () => {
        const served = this.resources().find((r) => r.group === group && r.resource === resource && r.verbs.includes('watch'));
        const version = served?.version ?? (group === '' ? 'v1' : undefined);
        if (!version) return undefined;
        const ref = group === '' && resource === 'pods' ? R.pods : { group, version, resource };
        const inf = this.informers.informer(ref);
        inf.addHandlers({
          onUpdate: (old, obj) => {
            if (this.releasesQuota(group, resource, old, obj)) this.replenish(group, resource, obj.metadata?.namespace ?? '');
          },
          onDelete: (obj) => this.replenish(group, resource, obj.metadata?.namespace ?? ''),
        });
        await inf.start();
        return inf;
      })();
      this.counted.set(key, p);
    }
    return p;
  }

  /**
   * upstream CalculateUsage: for every resource the quota limits, the sum of
   * what the namespace's objects (those matching the quota's scopes) use;
   * each limited resource starts at zero.
   */
  private async usage(quota: ObjectLike, hardNames: string[]): Promise<ResourceList> {
    const namespace = quota.metadata.namespace;
    const byResource = new Map<string, { group: string; resource: string }>();
    for (const n of hardNames) {
      const gr = evaluatedResource(n);
      if (gr && !quotaIgnores(gr.group, gr.resource)) byResource.set(`${gr.group}/${gr.resource}`, gr);
    }
    const scopes = quotaScopes(quota);
    const now = this.now();
    let used: ResourceList = new Map();
    for (const { group, resource } of byResource.values()) {
      const evaluator = evaluatorFor(group, resource);
      const names = evaluator.matchingResources(hardNames);
      if (names.length === 0) continue;
      const inf = await this.informerFor(group, resource);
      let sum: ResourceList = new Map(names.map((n) => [n, Quantity.fromValue(0)]));
      if (inf) {
        for (const obj of inf.list(namespace)) {
          if (!scopes.every((s) => evaluator.matchesScope(s, obj))) continue;
          sum = addLists(sum, maskList(evaluator.usage(obj, now), names));
        }
      }
      used = addLists(used, sum);
    }
    return used;
  }

  /** upstream syncResourceQuota: status.hard from spec.hard, status.used recounted; written only when it changed. */
  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const quota = this.quotas.get(namespace, name);
    if (!quota) return;
    const hard: Record<string, unknown> = quota.spec?.hard ?? {};
    const hardNames = Object.keys(hard);
    const prevUsed = parseResourceList(quota.status?.used);
    const counted = await this.usage(quota, hardNames);
    // Usage of resources nothing can count (e.g. a resource not served) stays as it was observed.
    const used = maskList(addLists(maskList(prevUsed, hardNames.filter((n) => !counted.has(n))), counted), hardNames);
    const dirty = !jsonEqual(quota.status?.hard ?? null, quota.spec?.hard ?? null) || !quota.status?.used || !listsEqual(used, prevUsed);
    if (!dirty) return;
    const next = structuredClone(quota);
    next.status = { hard: { ...hard }, used: formatResourceList(used) };
    await this.client.update(QUOTA_RESOURCE, namespace, next, { subresource: 'status' });
  }
}
