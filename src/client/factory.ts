/** Shared informers: one list-and-watch per resource for every controller in a process. */
import type { Client, ResourceRef } from './client.js';
import { Informer } from './informer.js';

/** Hands out one shared Informer per resource. */
export class InformerFactory {
  private readonly informers = new Map<string, Informer>();

  constructor(readonly client: Client) {}

  /** The shared informer of a resource (created on first use; call start() once everything asked for theirs). */
  informer<T extends { metadata?: any } = any>(ref: ResourceRef): Informer<T> {
    const key = `${ref.group}/${ref.version}/${ref.resource}`;
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, ref);
      this.informers.set(key, inf);
    }
    return inf as Informer<T>;
  }

  /** Starts every informer handed out so far and waits until all have synced. */
  async start(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => (i.hasSynced() ? Promise.resolve() : i.start())));
  }

  /** Stops every informer. */
  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}
