/**
 * The watch cache: one store-wide watch on the backend feeds an in-memory copy
 * of every resource (latest objects plus a window of recent events). Gets,
 * unpaged lists and watches are served from it; a watch from a resourceVersion
 * older than the window gets 410 Expired, as upstream's cacher does.
 */
import type { Backend, WatchEvent, Watcher as BackendWatcher } from '../../storage/backend.js';

/** A cached object: the parsed object (with metadata.resourceVersion set) and its revision. Never mutated. */
export interface CachedObject {
  key: string;
  obj: any;
  rev: number;
}

/** One change as watchers see it. */
export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: string;
  obj: any;
  /** The object before this change (MODIFIED/DELETED). */
  prev?: any;
  rev: number;
}

/** Receives events for one resource, in revision order. */
export interface CacheListener {
  /** Key prefix this listener is interested in (resource prefix, optionally + namespace). */
  prefix: string;
  onEvent(ev: CacheEvent): void;
}

/** Thrown when a watch asks for history the cache no longer has. */
export class TooOldError extends Error {
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
  }
}

/** Number of events each resource keeps for watches that resume from a resourceVersion. */
const DEFAULT_WINDOW = 4096;

/** The cache of one resource (all namespaces). */
export class ResourceCache {
  /** Latest objects by storage key, kept sorted lazily for lists. */
  readonly items = new Map<string, CachedObject>();
  private sortedKeys: string[] | null = null;
  private readonly events: CacheEvent[] = [];
  private eventsStart = 0;
  /** Watches from a revision >= this can be served from the window. */
  oldestRev: number;
  readonly listeners = new Set<CacheListener>();

  constructor(readonly prefix: string, startRev: number, private readonly window = DEFAULT_WINDOW) {
    this.oldestRev = startRev;
  }

  /** Applies one backend event. */
  apply(ev: WatchEvent): CacheEvent {
    const key = ev.kv.key;
    const prev = this.items.get(key);
    let out: CacheEvent;
    if (ev.type === 'delete') {
      if (prev) this.items.delete(key);
      if (!prev || this.sortedKeys) this.sortedKeys = null;
      const obj = withRv(parse(ev.prev?.value ?? ev.kv.value), ev.kv.modRevision);
      out = { type: 'DELETED', key, obj, prev: prev?.obj, rev: ev.kv.modRevision };
    } else {
      const obj = withRv(parse(ev.kv.value), ev.kv.modRevision);
      if (!prev) this.sortedKeys = null;
      this.items.set(key, { key, obj, rev: ev.kv.modRevision });
      out = prev
        ? { type: 'MODIFIED', key, obj, prev: prev.obj, rev: ev.kv.modRevision }
        : { type: 'ADDED', key, obj, rev: ev.kv.modRevision };
    }
    this.events.push(out);
    if (this.events.length - this.eventsStart > this.window) {
      // The evicted event's revision is now the oldest one we can resume after.
      this.oldestRev = this.events[this.eventsStart].rev;
      this.eventsStart++;
      if (this.eventsStart > 1024 && this.eventsStart * 2 > this.events.length) {
        this.events.splice(0, this.eventsStart);
        this.eventsStart = 0;
      }
    }
    for (const l of this.listeners) if (key.startsWith(l.prefix)) l.onEvent(out);
    return out;
  }

  /** Objects under `prefix`, in key order. */
  list(prefix: string): CachedObject[] {
    if (!this.sortedKeys) this.sortedKeys = [...this.items.keys()].sort();
    const keys = this.sortedKeys;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid] < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: CachedObject[] = [];
    for (let i = lo; i < keys.length && keys[i].startsWith(prefix); i++) out.push(this.items.get(keys[i])!);
    return out;
  }

  /** Events after `rev` (exclusive) under prefix; throws TooOldError if the window does not reach back that far. */
  eventsSince(rev: number, prefix: string): CacheEvent[] {
    if (rev < this.oldestRev) throw new TooOldError(rev, this.oldestRev);
    const out: CacheEvent[] = [];
    for (let i = this.eventsStart; i < this.events.length; i++) {
      const e = this.events[i];
      if (e.rev > rev && e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }
}

function parse(value: string): any {
  return JSON.parse(value);
}

function withRv(obj: any, rev: number): any {
  if (obj && typeof obj === 'object') {
    obj.metadata ??= {};
    obj.metadata.resourceVersion = String(rev);
  }
  return obj;
}

/**
 * All resource caches, fed by one backend watch over `/registry/`. `rev` is
 * the global revision the caches have caught up with.
 */
export class CacheSet {
  private readonly caches = new Map<string, ResourceCache>();
  private watcher?: BackendWatcher;
  private waiters: { rev: number; resolve: () => void }[] = [];
  /** Highest backend revision applied. */
  rev = 0;
  /** Revision the caches were loaded at: every resource's history is complete from here. */
  private startRev = 0;

  /** `window`: events each resource keeps for resuming watches (default 4096). */
  constructor(
    private readonly backend: Backend,
    private readonly window = DEFAULT_WINDOW,
  ) {}

  /** Loads every object and starts following the backend. */
  async start(): Promise<void> {
    // Load everything at one revision, then watch from it: nothing lost, nothing twice.
    const items: { key: string; value: string; modRevision: number }[] = [];
    let startAfter: string | undefined;
    let revision = 0;
    for (;;) {
      const page = await this.backend.list('/registry/', { limit: 5000, startAfter, revision: revision || undefined });
      revision = page.revision;
      items.push(...page.items);
      if (!page.more || page.items.length === 0) break;
      startAfter = page.items[page.items.length - 1].key;
    }
    this.rev = revision;
    this.startRev = revision;
    for (const kv of items) {
      const cache = this.cacheForKey(kv.key);
      cache.items.set(kv.key, { key: kv.key, obj: withRv(parse(kv.value), kv.modRevision), rev: kv.modRevision });
    }
    this.watcher = this.backend.watch('/registry/', revision, {
      onEvents: (events) => this.onEvents(events),
      onError: (err) => {
        // The backend lost our place; there is no way to continue consistently.
        console.error(`watch cache: backend watch failed: ${err.message}`);
      },
    });
  }

  /** Stops following the backend. */
  stop(): void {
    this.watcher?.stop();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private onEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      this.cacheForKey(ev.kv.key).apply(ev);
      if (ev.kv.modRevision > this.rev) this.rev = ev.kv.modRevision;
    }
    if (this.waiters.length) {
      const still: typeof this.waiters = [];
      for (const w of this.waiters) (w.rev <= this.rev ? w.resolve() : still.push(w));
      this.waiters = still;
    }
  }

  /** Resolves once the caches reflect every write up to `rev`. */
  waitFor(rev: number): Promise<void> {
    if (rev <= this.rev) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ rev, resolve }));
  }

  /** Resolves once the caches reflect every write the backend has acknowledged so far. */
  fresh(): Promise<void> {
    return this.waitFor(this.backend.currentRevision());
  }

  /** The cache for a resource prefix such as `/registry/apps/deployments/`. */
  cache(prefix: string): ResourceCache {
    let c = this.caches.get(prefix);
    if (!c) {
      c = new ResourceCache(prefix, this.startRev, this.window);
      this.caches.set(prefix, c);
    }
    return c;
  }

  private cacheForKey(key: string): ResourceCache {
    // /registry/<group>/<resource>/...
    let n = 0;
    let i = 0;
    for (; i < key.length; i++) if (key.charCodeAt(i) === 47 && ++n === 4) break;
    return this.cache(key.slice(0, i + 1));
  }
}
