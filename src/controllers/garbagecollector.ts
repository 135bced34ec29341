/**
 * The garbage collector — upstream's pkg/controller/garbagecollector in
 * small. It keeps a dependency graph (object uid → owners, dependents) of
 * every resource that can be listed, watched and deleted, built from
 * `metadata.ownerReferences`, and:
 *  - background: when an owner is gone (absent, or present under another
 *    uid), deletes its dependents — unless a dependent still has a live
 *    owner, in which case only the dangling reference is removed;
 *  - foreground: an owner marked for deletion with the `foregroundDeletion`
 *    finalizer has its dependents deleted first; the finalizer is removed once
 *    no dependent with `blockOwnerDeletion` is left;
 *  - orphan: an owner marked for deletion with the `orphan` finalizer has the
 *    references to it removed from its dependents, then the finalizer.
 * Owner existence is always checked against the API server (by uid), never
 * against a possibly stale cache.
 */
import { isStatus, type Client, type ResourceRef } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import { WorkQueue } from '../client/workqueue.js';
import type { OwnerReference } from '../api/generated/types.js';

/** A served resource as discovery describes it (the registry's ResourceInfo fits). */
export interface DiscoveredResource extends ResourceRef {
  kind: string;
  namespaced: boolean;
  verbs: readonly string[];
}

/** Configuration of the garbage collector. */
export interface GarbageCollectorConfig {
  client: Client;
  informers: InformerFactory;
  /** The served resources (discovery); called at start and on every resync. */
  resources: () => readonly DiscoveredResource[];
  /** How often to look for newly served resources (upstream re-discovers every 30 s). */
  resyncMs?: number;
  /** Workers per queue (upstream --concurrent-gc-syncs, 20). */
  workers?: number;
}

/** The finalizer that makes the collector delete dependents before their owner (upstream metav1.FinalizerDeleteDependents). */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** The finalizer that makes the collector orphan dependents before their owner goes (upstream metav1.FinalizerOrphanDependents). */
export const ORPHAN_FINALIZER = 'orphan';

/** upstream DefaultIgnoredResources: events are never owners worth tracking. */
const IGNORED = new Set(['/events', 'events.k8s.io/events']);

/** One object (or an owner referenced but not yet observed: `virtual`) in the dependency graph. */
interface GraphNode {
  uid: string;
  apiVersion: string;
  kind: string;
  /** The namespace the object is in, or (for a virtual owner) the namespace of the dependent that named it. */
  namespace: string;
  name: string;
  owners: OwnerReference[];
  dependents: Set<GraphNode>;
  beingDeleted: boolean;
  deletingDependents: boolean;
  virtual: boolean;
}

type OwnerClass = 'solid' | 'dangling' | 'waiting';

/** Collects objects whose owners are gone, following background, foreground and orphan propagation. */
export class GarbageCollector {
  private readonly nodes = new Map<string, GraphNode>();
  private readonly monitored = new Set<string>();
  /** `group/Kind` → resource, for resolving ownerReferences. */
  private byKind = new Map<string, DiscoveredResource[]>();
  private readonly attemptToDelete: WorkQueue;
  private readonly attemptToOrphan: WorkQueue;
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly config: GarbageCollectorConfig) {
    const workers = config.workers ?? 20;
    const backoff = { baseMs: 5, maxMs: 60_000 };
    this.attemptToDelete = new WorkQueue((uid) => this.attemptToDeleteItem(uid), { workers, backoff });
    this.attemptToOrphan = new WorkQueue((uid) => this.orphanDependents(uid), { workers, backoff });
  }

  /** Starts monitoring every deletable resource; returns once their caches are filled. */
  async start(): Promise<void> {
    await this.sync();
    this.resyncTimer = setInterval(() => void this.sync().catch(() => undefined), this.config.resyncMs ?? 30_000);
    this.resyncTimer.unref?.();
  }

  /** Stops the collector (the shared informers belong to the factory). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.attemptToDelete.stop();
    this.attemptToOrphan.stop();
  }

  /** Resolves when both queues are empty and nothing is running (for tests). */
  async idle(): Promise<void> {
    await this.attemptToDelete.idle();
    await this.attemptToOrphan.idle();
  }

  /** Re-reads discovery and starts monitors for resources not watched yet (upstream's resyncMonitors). */
  private async sync(): Promise<void> {
    const all = this.config.resources();
    const byKind = new Map<string, DiscoveredResource[]>();
    for (const r of all) {
      const k = `${r.group}/${r.kind}`;
      const list = byKind.get(k) ?? [];
      list.push(r);
      byKind.set(k, list);
    }
    this.byKind = byKind;
    const starting: Promise<void>[] = [];
    for (const r of all) {
      const gr = `${r.group}/${r.resource}`;
      // upstream GetDeletableResources: list, watch and delete; one (the preferred, first listed) version per resource.
      if (this.monitored.has(gr) || IGNORED.has(gr)) continue;
      if (!['list', 'watch', 'delete'].every((v) => r.verbs.includes(v))) continue;
      this.monitored.add(gr);
      const inf = this.config.informers.informer({ group: r.group, version: r.version, resource: r.resource });
      const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
      inf.addHandlers({
        onAdd: (o) => this.observe(apiVersion, r.kind, o),
        onUpdate: (_old, o) => this.observe(apiVersion, r.kind, o),
        onDelete: (o) => this.forget(o),
      });
      starting.push(inf.start());
    }
    await Promise.all(starting);
  }

  // ---- the graph builder: informer events update the graph and enqueue uids; all API calls happen in the workers ----

  private observe(apiVersion: string, kind: string, obj: any): void {
    if (this.stopped) return;
    const md = obj?.metadata;
    const uid: string | undefined = md?.uid;
    if (!uid) return;
    const owners: OwnerReference[] = md.ownerReferences ?? [];
    let node = this.nodes.get(uid);
    if (!node) {
      node = {
        uid,
        apiVersion,
        kind,
        namespace: md.namespace ?? '',
        name: md.name,
        owners: [],
        dependents: new Set(),
        beingDeleted: false,
        deletingDependents: false,
        virtual: false,
      };
      this.nodes.set(uid, node);
    } else if (node.virtual) {
      // A referenced owner is now observed: its identity comes from the object itself.
      Object.assign(node, { virtual: false, apiVersion, kind, namespace: md.namespace ?? '', name: md.name });
    }
    this.updateOwners(node, owners);
    node.beingDeleted = !!md.deletionTimestamp;
    const finalizers: string[] = md.finalizers ?? [];
    if (md.deletionTimestamp && finalizers.includes(ORPHAN_FINALIZER)) this.attemptToOrphan.add(uid);
    const deletingDependents = !!md.deletionTimestamp && finalizers.includes(FOREGROUND_FINALIZER);
    if (deletingDependents && !node.deletingDependents) {
      // upstream processTransitions: an owner starts waiting for its dependents — try to delete every one of them.
      for (const dep of node.dependents) this.attemptToDelete.add(dep.uid);
    }
    node.deletingDependents = deletingDependents;
    if (deletingDependents) this.attemptToDelete.add(uid);
  }

  private updateOwners(node: GraphNode, owners: OwnerReference[]): void {
    const before = new Map(node.owners.map((o) => [o.uid, o]));
    const after = new Map(owners.map((o) => [o.uid, o]));
    for (const [uid, ref] of before) {
      const owner = this.nodes.get(uid);
      if (!owner) continue;
      const now = after.get(uid);
      if (!now) owner.dependents.delete(node);
      // A dependent that stops blocking (reference removed or unblocked) may let a foreground deletion finish.
      if (owner.deletingDependents && (!now || (ref.blockOwnerDeletion && !now.blockOwnerDeletion))) this.attemptToDelete.add(uid);
    }
    for (const [uid, ref] of after) {
      if (before.has(uid) && this.nodes.get(uid)?.dependents.has(node)) continue;
      let owner = this.nodes.get(uid);
      if (!owner) {
        // upstream: an owner not observed yet becomes a virtual node whose existence a worker verifies.
        owner = {
          uid,
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          namespace: node.namespace,
          name: ref.name,
          owners: [],
          dependents: new Set(),
          beingDeleted: false,
          deletingDependents: false,
          virtual: true,
        };
        this.nodes.set(uid, owner);
        this.attemptToDelete.add(uid);
      }
      owner.dependents.add(node);
      if (owner.deletingDependents) this.attemptToDelete.add(node.uid);
    }
    node.owners = owners;
  }

  private forget(obj: any): void {
    if (this.stopped) return;
    const uid: string | undefined = obj?.metadata?.uid;
    const node = uid ? this.nodes.get(uid) : undefined;
    if (!node) return;
    this.removeNode(node);
  }

  /** Removes a node; its dependents are looked at again (their owner may be gone) and so are owners waiting on it. */
  private removeNode(node: GraphNode): void {
    this.nodes.delete(node.uid);
    for (const ref of node.owners) {
      const owner = this.nodes.get(ref.uid);
      if (!owner) continue;
      owner.dependents.delete(node);
      if (owner.deletingDependents) this.attemptToDelete.add(owner.uid);
    }
    for (const dep of node.dependents) this.attemptToDelete.add(dep.uid);
  }

  // ---- the workers ----

  /** The resource of an apiVersion/kind: the same version if served, else any served version of the group. */
  private resolve(apiVersion: string, kind: string): DiscoveredResource | undefined {
    const i = apiVersion.indexOf('/');
    const group = i < 0 ? '' : apiVersion.slice(0, i);
    const version = i < 0 ? apiVersion : apiVersion.slice(i + 1);
    const list = this.byKind.get(`${group}/${kind}`);
    return list?.find((r) => r.version === version) ?? list?.[0];
  }

  /** The live object with this identity, or undefined when it is absent or exists under another uid. */
  private async getLive(apiVersion: string, kind: string, namespace: string, name: string, uid: string): Promise<{ obj?: any; res: DiscoveredResource }> {
    const res = this.resolve(apiVersion, kind);
    // upstream restMappingError: retried until discovery knows the kind.
    if (!res) throw new Error(`unable to map ${apiVersion}, Kind=${kind} to a served resource`);
    try {
      const obj = await this.config.client.get(res, res.namespaced ? namespace : '', name);
      return { obj: obj?.metadata?.uid === uid ? obj : undefined, res };
    } catch (e) {
      if (isStatus(e, 404)) return { res };
      throw e;
    }
  }

  /** upstream attemptToDeleteItem. */
  private async attemptToDeleteItem(uid: string): Promise<void> {
    const item = this.nodes.get(uid);
    if (!item) return;
    if (item.beingDeleted && !item.deletingDependents) return;
    const { obj: latest, res } = await this.getLive(item.apiVersion, item.kind, item.namespace, item.name, uid);
    if (!latest) {
      // A virtual owner that does not exist: act as if its delete event arrived (upstream's virtual delete event).
      // A real node's delete event comes from its informer.
      if (item.virtual && this.nodes.get(uid) === item) this.removeNode(item);
      return;
    }
    if (item.virtual) return;
    if (item.deletingDependents) return this.processDeletingDependents(item, latest, res);
    const owners: OwnerReference[] = latest.metadata.ownerReferences ?? [];
    if (owners.length === 0) return;
    const classes = await Promise.all(owners.map((o) => this.classify(latest.metadata.namespace ?? '', o)));
    const solid = owners.filter((_, i) => classes[i] === 'solid');
    const dangling = owners.filter((_, i) => classes[i] === 'dangling');
    const waiting = owners.filter((_, i) => classes[i] === 'waiting');
    if (solid.length > 0) {
      // A live owner keeps the object; references to owners that are gone (or going) are removed.
      if (dangling.length === 0 && waiting.length === 0) return;
      const drop = new Set([...dangling, ...waiting].map((o) => o.uid));
      await this.patchOwnerRefs(res, latest, owners.filter((o) => !drop.has(o.uid)));
      return;
    }
    if (waiting.length > 0 && item.dependents.size > 0) {
      // The owner is deleted in the foreground and this object has dependents of its own: delete it in the
      // foreground too, unblocking dependents that are themselves waiting on it (a cycle would never finish).
      for (const dep of item.dependents) {
        if (!dep.deletingDependents) continue;
        const live = await this.getLive(dep.apiVersion, dep.kind, dep.namespace, dep.name, dep.uid);
        if (!live.obj) continue;
        const refs: OwnerReference[] = (live.obj.metadata.ownerReferences ?? []).map((o: OwnerReference) =>
          o.uid === uid ? { ...o, blockOwnerDeletion: false } : o,
        );
        await this.patchOwnerRefs(live.res, live.obj, refs);
      }
      await this.deleteObject(res, latest, 'Foreground');
      return;
    }
    // No live owner: delete the object, honouring the propagation its own finalizers ask for.
    const finalizers: string[] = latest.metadata.finalizers ?? [];
    const policy = finalizers.includes(ORPHAN_FINALIZER) ? 'Orphan' : finalizers.includes(FOREGROUND_FINALIZER) ? 'Foreground' : 'Background';
    await this.deleteObject(res, latest, policy);
  }

  /** upstream classifyReferences, for one reference of an object in `namespace`. */
  private async classify(namespace: string, ref: OwnerReference): Promise<OwnerClass> {
    const { obj } = await this.getLive(ref.apiVersion, ref.kind, namespace, ref.name, ref.uid);
    if (!obj) return 'dangling';
    const md = obj.metadata;
    if (md.deletionTimestamp && (md.finalizers ?? []).includes(FOREGROUND_FINALIZER)) return 'waiting';
    return 'solid';
  }

  /** upstream processDeletingDependentsItem: removes the foreground finalizer once no blocking dependent is left. */
  private async processDeletingDependents(item: GraphNode, latest: any, res: DiscoveredResource): Promise<void> {
    const blocking = [...item.dependents].filter((dep) => dep.owners.some((o) => o.uid === item.uid && o.blockOwnerDeletion));
    if (blocking.length > 0) {
      for (const dep of blocking) if (!dep.deletingDependents) this.attemptToDelete.add(dep.uid);
      return;
    }
    await this.removeFinalizer(res, latest, FOREGROUND_FINALIZER);
  }

  /** upstream attemptToOrphanWorker: removes references to the owner from its dependents, then the orphan finalizer. */
  private async orphanDependents(uid: string): Promise<void> {
    const owner = this.nodes.get(uid);
    if (!owner || owner.virtual) return;
    for (const dep of [...owner.dependents]) {
      const live = await this.getLive(dep.apiVersion, dep.kind, dep.namespace, dep.name, dep.uid);
      if (!live.obj) continue;
      const refs: OwnerReference[] = live.obj.metadata.ownerReferences ?? [];
      if (!refs.some((o) => o.uid === uid)) continue;
      await this.patchOwnerRefs(live.res, live.obj, refs.filter((o) => o.uid !== uid));
    }
    const { obj, res } = await this.getLive(owner.apiVersion, owner.kind, owner.namespace, owner.name, uid);
    if (obj) await this.removeFinalizer(res, obj, ORPHAN_FINALIZER);
  }

  private async deleteObject(res: DiscoveredResource, obj: any, policy: 'Orphan' | 'Background' | 'Foreground'): Promise<void> {
    try {
      await this.config.client.delete(res, obj.metadata.namespace ?? '', obj.metadata.name, {
        propagationPolicy: policy,
        preconditions: { uid: obj.metadata.uid },
      });
    } catch (e) {
      // Gone already, or replaced by an object with another uid: nothing of ours to delete.
      if (isStatus(e, 404) || isStatus(e, 409)) return;
      throw e;
    }
  }

  /** Writes ownerReferences with a merge patch conditioned on the resourceVersion read (a conflict retries). */
  private async patchOwnerRefs(res: DiscoveredResource, obj: any, refs: OwnerReference[]): Promise<void> {
    await this.ignoreGone(
      this.config.client.patch(res, obj.metadata.namespace ?? '', obj.metadata.name, 'merge', {
        metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: obj.metadata.resourceVersion },
      }),
    );
  }

  private async removeFinalizer(res: DiscoveredResource, obj: any, finalizer: string): Promise<void> {
    const finalizers: string[] = obj.metadata.finalizers ?? [];
    if (!finalizers.includes(finalizer)) return;
    const rest = finalizers.filter((f) => f !== finalizer);
    await this.ignoreGone(
      this.config.client.patch(res, obj.metadata.namespace ?? '', obj.metadata.name, 'merge', {
        metadata: { finalizers: rest.length ? rest : null, resourceVersion: obj.metadata.resourceVersion },
      }),
    );
  }

  private async ignoreGone(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}
