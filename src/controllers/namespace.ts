/**
 * The namespace controller — upstream's pkg/controller/namespace. When a
 * Namespace is deleted it turns Terminating and keeps the `kubernetes`
 * finalizer in spec.finalizers; this controller deletes everything in it
 * (every namespaced resource discovery lists as deletable), reports progress
 * in the namespace's status conditions with upstream's reasons and messages,
 * and once nothing is left removes its finalizer through the `finalize`
 * subresource so the Namespace goes away.
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import type { DiscoveredResource } from './garbagecollector.js';
import { rfc3339 } from './controllerutil.js';

/** Configuration of the namespace controller. */
export interface NamespaceControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** The served resources (discovery). */
  resources: () => readonly DiscoveredResource[];
  /** How long to wait before looking again at a namespace whose content is still going away. */
  retryMs?: number;
  workers?: number;
}

/** The spec.finalizers token this controller owns (upstream v1.FinalizerKubernetes). */
export const NAMESPACE_FINALIZER = 'kubernetes';

/** Condition types the controller maintains, in upstream's order. */
const CONDITION_TYPES = [
  'NamespaceDeletionDiscoveryFailure',
  'NamespaceDeletionGroupVersionParsingFailure',
  'NamespaceDeletionContentFailure',
  'NamespaceContentRemaining',
  'NamespaceFinalizersRemaining',
] as const;

/** upstream okReasons / okMessages: what a condition says when that kind of trouble is absent. */
const OK: Record<(typeof CONDITION_TYPES)[number], { reason: string; message: string }> = {
  NamespaceDeletionDiscoveryFailure: { reason: 'ResourcesDiscovered', message: 'All resources successfully discovered' },
  NamespaceDeletionGroupVersionParsingFailure: { reason: 'ParsedGroupVersions', message: 'All legacy kube types successfully parsed' },
  NamespaceDeletionContentFailure: { reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization' },
  NamespaceContentRemaining: { reason: 'ContentRemoved', message: 'All content successfully removed' },
  NamespaceFinalizersRemaining: { reason: 'ContentRemoved', message: 'All content successfully removed' },
};

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** What one pass over a namespace's content found. */
interface ContentTotals {
  remaining: Map<string, number>;
  finalizers: Map<string, number>;
  errors: string[];
}

/** Empties and finalizes terminating namespaces. */
export class NamespaceController {
  private readonly queue: WorkQueue;
  private namespaces!: Informer;
  private stopped = false;

  constructor(private readonly config: NamespaceControllerConfig) {
    this.queue = new WorkQueue((name) => this.reconcile(name), { workers: config.workers ?? 10, backoff: { baseMs: 100, maxMs: 60_000 } });
  }

  /** Starts following namespaces; terminating ones found at start are finalized too. */
  async start(): Promise<void> {
    this.namespaces = this.config.informers.informer(R.namespaces);
    const enqueue = (ns: any) => {
      if (!this.stopped && ns?.metadata?.deletionTimestamp) this.queue.add(ns.metadata.name);
    };
    this.namespaces.addHandlers({ onAdd: enqueue, onUpdate: (_old, ns) => enqueue(ns) });
    await this.namespaces.start();
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Deletes a terminating namespace's content; removes the finalizer once nothing is left. */
  async reconcile(name: string): Promise<void> {
    const cached = this.namespaces.get('', name);
    if (!cached?.metadata?.deletionTimestamp) return;
    let ns: any;
    try {
      ns = await this.config.client.get(R.namespaces, '', name);
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
    if (!ns.metadata.deletionTimestamp || !(ns.spec?.finalizers ?? []).includes(NAMESPACE_FINALIZER)) return;
    const totals = await this.deleteAllContent(name);
    ns = await this.updateConditions(ns, totals);
    if (totals.errors.length > 0) throw new Error(`namespace ${name}: ${totals.errors.join(', ')}`);
    if (totals.remaining.size > 0) {
      // Content held by finalizers or a grace period: look again later (upstream requeues after its estimate).
      this.queue.addAfter(name, this.config.retryMs ?? 500);
      return;
    }
    const next = structuredClone(ns);
    next.spec = { ...(next.spec ?? {}), finalizers: (next.spec?.finalizers ?? []).filter((f: string) => f !== NAMESPACE_FINALIZER) };
    try {
      await this.config.client.update(R.namespaces, '', next, { subresource: 'finalize' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  /** upstream deleteAllContent: deletes every deletable namespaced resource, then counts what is still there. */
  private async deleteAllContent(namespace: string): Promise<ContentTotals> {
    const totals: ContentTotals = { remaining: new Map(), finalizers: new Map(), errors: [] };
    const seen = new Set<string>();
    for (const r of this.config.resources()) {
      const gr = `${r.group}/${r.resource}`;
      if (!r.namespaced || seen.has(gr) || !r.verbs.includes('delete') || !r.verbs.includes('list')) continue;
      seen.add(gr);
      try {
        const list = await this.config.client.list(r, namespace);
        for (const o of list.items) {
          if (o.metadata?.deletionTimestamp) continue;
          try {
            // Background propagation: the garbage collector removes dependents (upstream's deleteCollection options).
            await this.config.client.delete(r, namespace, o.metadata.name, { propagationPolicy: 'Background' });
          } catch (e) {
            if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
          }
        }
        const left = await this.config.client.list(r, namespace);
        if (left.items.length === 0) continue;
        totals.remaining.set(`${r.resource}.${r.group}`, left.items.length);
        for (const o of left.items) {
          for (const f of o.metadata?.finalizers ?? []) totals.finalizers.set(f, (totals.finalizers.get(f) ?? 0) + 1);
        }
      } catch (e) {
        if (isStatus(e, 404) || isStatus(e, 405)) continue; // resource went away, or does not support the verb after all
        totals.errors.push(`${(e as Error).message}`);
      }
    }
    return totals;
  }

  /** upstream namespaceConditionUpdater: every maintained condition is present, True with the trouble or False with the ok text. */
  private async updateConditions(ns: any, totals: ContentTotals): Promise<any> {
    const wanted = new Map<string, Condition>();
    if (totals.remaining.size > 0) {
      const parts = [...totals.remaining].map(([gr, n]) => `${gr} has ${n} resource instances`).sort();
      wanted.set('NamespaceContentRemaining', {
        type: 'NamespaceContentRemaining',
        status: 'True',
        reason: 'SomeResourcesRemain',
        message: `Some resources are remaining: ${parts.join(', ')}`,
      });
    }
    if (totals.finalizers.size > 0) {
      const parts = [...totals.finalizers].map(([f, n]) => `${f} in ${n} resource instances`).sort();
      wanted.set('NamespaceFinalizersRemaining', {
        type: 'NamespaceFinalizersRemaining',
        status: 'True',
        reason: 'SomeFinalizerRemain',
        message: `Some finalizers are remaining: ${parts.join(', ')}`,
      });
    }
    if (totals.errors.length > 0) {
      wanted.set('NamespaceDeletionContentFailure', {
        type: 'NamespaceDeletionContentFailure',
        status: 'True',
        reason: 'ContentDeletionFailed',
        message: `Failed to delete all resource types, ${totals.errors.length} remaining: ${[...totals.errors].sort().join(', ')}`,
      });
    }
    const now = rfc3339(new Date());
    const conditions: Condition[] = structuredClone(ns.status?.conditions ?? []);
    let changed = false;
    for (const type of CONDITION_TYPES) {
      const want = wanted.get(type) ?? { type, status: 'False' as const, ...OK[type] };
      const old = conditions.find((c) => c.type === type);
      if (!old) {
        conditions.push({ ...want, lastTransitionTime: now });
        changed = true;
      } else if (old.status !== want.status || old.reason !== want.reason || old.message !== want.message) {
        if (old.status !== want.status) old.lastTransitionTime = now;
        Object.assign(old, { status: want.status, reason: want.reason, message: want.message });
        changed = true;
      }
    }
    if (!changed) return ns;
    const next = structuredClone(ns);
    next.status = { ...(next.status ?? {}), conditions };
    try {
      return await this.config.client.update(R.namespaces, '', next, { subresource: 'status' });
    } catch (e) {
      // A stale read or a namespace already gone: the next pass writes the conditions.
      if (isStatus(e, 409) || isStatus(e, 404)) return ns;
      throw e;
    }
  }
}
