/**
 * Informers: a list-then-watch loop per resource that keeps a local cache
 * (the lister) current and tells handlers what changed — client-go's
 * SharedIndexInformer in small. Handlers only enqueue keys; reconcilers read
 * from the lister. Cached objects are shared and read-only.
 */
import type { Client, ClientWatch, ResourceRef } from './client.js';

/** `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

/** Splits a key into namespace and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Callbacks for changes. `old` is the previous cached object. */
export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, obj: T): void;
  onDelete?(obj: T): void;
}

/** Read access to an informer's cache. */
export interface Lister<T> {
  get(namespace: string, name: string): T | undefined;
  /** All objects (in a namespace when given), optionally filtered. */
  list(namespace?: string, filter?: (obj: T) => boolean): T[];
}

/** Options of an informer. */
export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Delay before re-listing after the watch failed (grows on repeated failures). */
  retryMs?: number;
}

/** Keeps a cache of one resource in step with the API server. */
export class Informer<T extends { metadata?: any } = any> implements Lister<T> {
  private readonly items = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private watch?: ClientWatch;
  private stopped = false;
  private started = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;

  constructor(
    private readonly client: Client,
    readonly ref: ResourceRef,
    private readonly opts: InformerOptions = {},
  ) {}

  /** Adds handlers (before or after start; after start, existing objects are replayed as adds). */
  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    if (this.synced) for (const o of this.items.values()) h.onAdd?.(o);
  }

  /** Starts the list-then-watch loop; resolves once the first list is in the cache (or stop() was called). */
  async start(): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.run();
    }
    await this.waitForSync();
  }

  /** Stops watching; a start() still waiting for the first list returns (unsynced). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.watch?.stop();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  /** True once the cache holds a full list. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the cache holds a full list (or the informer is stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const ns = this.opts.namespace ?? '';
    try {
      const list = await this.client.list<T>(this.ref, ns, { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector });
      if (this.stopped) return;
      this.replace(list.items);
      let rv = list.resourceVersion;
      this.watch = await this.client.watch<T>(
        this.ref,
        ns,
        { resourceVersion: rv, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, allowWatchBookmarks: true },
        (ev) => {
          if (ev.type === 'ERROR') return; // the stream ends; run() lists again
          const rvNow = (ev.object as any)?.metadata?.resourceVersion;
          if (rvNow) rv = rvNow;
          if (ev.type === 'BOOKMARK') return;
          this.failures = 0;
          this.apply(ev.type, ev.object);
        },
      );
      // stop() may have come while the watch was being opened: it must not outlive the informer.
      if (this.stopped) {
        this.watch.stop();
        return;
      }
      void this.watch.done.then(() => this.again());
    } catch {
      this.again();
    }
  }

  /** Lists and watches again after a pause (the watch ended or failed). */
  private again(): void {
    if (this.stopped) return;
    const base = this.opts.retryMs ?? 200;
    const delay = Math.min(base * 2 ** this.failures++, 10_000);
    this.retryTimer = setTimeout(() => void this.run(), delay);
  }

  /** Replaces the cache with a fresh list, telling handlers what changed (like client-go's Replace). */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      const k = objectKey(o);
      seen.add(k);
      const old = this.items.get(k);
      this.items.set(k, o);
      if (!old) for (const h of this.handlers) h.onAdd?.(o);
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) for (const h of this.handlers) h.onUpdate?.(old, o);
    }
    for (const [k, o] of this.items) {
      if (seen.has(k)) continue;
      this.items.delete(k);
      for (const h of this.handlers) h.onDelete?.(o);
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const k = objectKey(obj);
    const old = this.items.get(k);
    if (type === 'DELETED') {
      this.items.delete(k);
      for (const h of this.handlers) h.onDelete?.(old ?? obj);
      return;
    }
    this.items.set(k, obj);
    if (old) for (const h of this.handlers) h.onUpdate?.(old, obj);
    else for (const h of this.handlers) h.onAdd?.(obj);
  }

  /** The cached object, or undefined. */
  get(namespace: string, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Cached objects, optionally in one namespace and filtered. */
  list(namespace?: string, filter?: (obj: T) => boolean): T[] {
    const out: T[] = [];
    for (const o of this.items.values()) {
      if (namespace && o.metadata?.namespace !== namespace) continue;
      if (filter && !filter(o)) continue;
      out.push(o);
    }
    return out;
  }
}
