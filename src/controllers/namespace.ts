/**
 * The namespace controller: when a Namespace is deleted (it turns
 * Terminating and keeps the `kubernetes` finalizer in spec.finalizers),
 * deletes everything in it, and once nothing is left removes the finalizer
 * through the `finalize` subresource so the Namespace goes away — upstream's
 * pkg/controller/namespace. It runs in the control-plane process and uses the
 * registry's stores directly.
 */
import { ApiError } from '../api/errors.js';
import type { Registry } from '../apiserver/registry/registry.js';
import type { CacheEvent } from '../apiserver/registry/cache.js';
import { systemContext } from '../apiserver/bootstrap.js';
import { clone } from '../apiserver/registry/store.js';

/** How long to wait before looking again at a namespace whose content is still going away. */
const RETRY_MS = 500;

/** Finalizes terminating namespaces. */
export class NamespaceController {
  private readonly queue = new Set<string>();
  private running = false;
  private stopped = false;
  private unsubscribe?: () => void;
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly registry: Registry) {}

  /** Starts following namespaces; terminating ones found at start are finalized too. */
  start(): void {
    const store = this.registry.lookup('', 'v1', 'namespaces');
    if (!store) return;
    const cache = this.registry.caches.cache(store.prefix);
    const listener = {
      prefix: store.prefix,
      onEvent: (ev: CacheEvent) => {
        if (ev.type !== 'DELETED' && ev.obj.metadata?.deletionTimestamp) this.enqueue(ev.obj.metadata.name);
      },
    };
    cache.listeners.add(listener);
    this.unsubscribe = () => cache.listeners.delete(listener);
    for (const o of cache.list(store.prefix)) if (o.obj.metadata?.deletionTimestamp) this.enqueue(o.obj.metadata.name);
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
  }

  private enqueue(name: string): void {
    this.queue.add(name);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (!this.stopped && this.queue.size) {
      const name = this.queue.values().next().value as string;
      this.queue.delete(name);
      try {
        const done = await this.reconcile(name);
        if (!done) this.later(name);
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) console.error(`namespace controller: ${name}: ${(e as Error).message}`);
        this.later(name);
      }
    }
    this.running = false;
  }

  private later(name: string): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.enqueue(name);
    }, RETRY_MS);
    this.timers.add(t);
  }

  /** Deletes the namespace's content; returns true when the namespace is finalized (or gone). */
  private async reconcile(name: string): Promise<boolean> {
    const nsStore = this.registry.lookup('', 'v1', 'namespaces')!;
    const cur = await nsStore.peek('', name);
    if (!cur || !cur.obj.metadata?.deletionTimestamp) return true;
    let remaining = 0;
    const seen = new Set<string>();
    for (const info of this.registry.resources()) {
      if (!info.namespaced || !info.verbs.includes('deletecollection')) continue;
      const key = `${info.group}/${info.resource}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const store = this.registry.lookup(info.group, info.version, info.resource);
      if (!store) continue;
      await store.deleteCollection(systemContext(name), {}, { propagationPolicy: 'Background' });
      // What is still listed (held by finalizers or a grace period) keeps the namespace.
      const page = await store.list(name, {});
      remaining += page.items.length;
    }
    if (remaining > 0) return false;
    const next = clone(cur.obj);
    next.spec = { ...(next.spec ?? {}), finalizers: (next.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes') };
    await nsStore.update(systemContext(), name, next, 'finalize');
    return true;
  }
}
