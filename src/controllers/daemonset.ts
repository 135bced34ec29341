/**
 * The DaemonSet controller (upstream pkg/controller/daemon, 1.32): one pod
 * per eligible node — the node passes the template's nodeSelector and
 * required node affinity, and its NoSchedule/NoExecute taints are tolerated
 * (with the tolerations every daemon pod gets: not-ready, unreachable,
 * disk/memory/pid pressure, unschedulable, and network-unavailable for host
 * networking). Pods are not bound here: each gets a required node affinity
 * `metadata.name In [node]` and the scheduler places it. Failed pods are
 * replaced (with back-off), surplus and misplaced ones removed. Template
 * revisions are ControllerRevisions (`kubectl rollout history|undo`), rolled
 * out by RollingUpdate (maxUnavailable, or maxSurge: new pod first) or
 * OnDelete; status counts desired, current, ready, updated, available and
 * misscheduled nodes.
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromLabelSelector, type LabelSelector } from '../api/labels.js';
import type { Node, NodeSelectorRequirement, Taint, Toleration } from '../api/generated/types.js';
import { DAEMONSET_TEMPLATE_GENERATION_ANNOTATION } from '../apiserver/registry/builtin.js';
import { requiredMatcher } from '../scheduler/plugins/nodeaffinity.js';
import { tolerationsTolerateTaint } from '../scheduler/plugins/tainttoleration.js';
import { newNodeInfo, newPodInfo } from '../scheduler/nodeinfo.js';
import {
  ControllerExpectations,
  claimObjects,
  computeHash,
  getControllerOf,
  podUpdateOwners,
  getFresh,
  isNamespaceTerminating,
  isPodAvailable,
  isPodReady,
  jsonEqual,
  newControllerRef,
  podFromTemplate,
  slowStartBatch,
  type ObjectLike,
  type OwnerReference,
} from './controllerutil.js';
import { scaledValue } from './deployment/util.js';
import { TAINT } from './nodelifecycle.js';
import {
  CONTROLLER_REVISION_HASH_LABEL,
  DEFAULT_REVISION_HISTORY_LIMIT,
  canonicalTemplate,
  maxRevision,
  newControllerRevision,
  revisionDataEqual,
  revisionsToPrune,
  setRevisionNumber,
  templateRevisionData,
} from './history.js';

/** The label with the template generation a daemon pod was made from (upstream extensions.DaemonSetTemplateGenerationKey). */
export const POD_TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

/** upstream BurstReplicas: the most creations or deletions one sync issues. */
const BURST_REPLICAS = 250;

const DS_API = { apiVersion: 'apps/v1', kind: 'DaemonSet' } as const;

/** A DaemonSet, pod, node or revision as read from the caches. */
type Obj = ObjectLike & { metadata: any; spec?: any; status?: any; data?: any; revision?: number };

/** Configuration of the DaemonSet controller. */
export interface DaemonSetControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `daemonset-controller`. */
  events: EventRecorder;
  /** Concurrent reconciles (upstream --concurrent-daemonset-syncs, default 2). */
  workers?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/**
 * upstream AddOrUpdateDaemonPodTolerations: daemon pods stay on nodes that
 * are unhealthy or cordoned, and host-network ones on nodes without a pod
 * network. Equal tolerations are not repeated.
 */
export function addDaemonTolerations(spec: any): void {
  const wanted: Toleration[] = [
    { key: TAINT.notReady, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINT.unreachable, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINT.diskPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT.memoryPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT.pidPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT.unschedulable, operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (spec.hostNetwork) wanted.push({ key: TAINT.networkUnavailable, operator: 'Exists', effect: 'NoSchedule' });
  let tolerations: Toleration[] = [...(spec.tolerations ?? [])];
  for (const t of wanted) {
    // upstream AddOrUpdateTolerationInPodSpec: one with the same key, operator, value and effect is replaced.
    const same = (o: Toleration) => o.key === t.key && (o.operator ?? 'Equal') === t.operator && (o.value ?? '') === '' && (o.effect ?? '') === t.effect;
    if (tolerations.some(same)) tolerations = tolerations.map((o) => (same(o) ? t : o));
    else tolerations.push(t);
  }
  spec.tolerations = tolerations;
}

/** Whether a daemon pod should be started on a node, and whether one already there may stay. */
export interface NodeFit {
  shouldRun: boolean;
  shouldContinueRunning: boolean;
}

/**
 * upstream NodeShouldRunDaemonPod, with the per-DaemonSet work (the daemon
 * pod's tolerations, its node-affinity matcher) done once: the template's
 * nodeName, nodeSelector and required affinity must fit; an untolerated
 * NoSchedule taint stops new pods, an untolerated NoExecute one also
 * removes running ones.
 */
export function daemonNodeFit(ds: Obj): (node: Node) => NodeFit {
  const spec = structuredClone(ds.spec?.template?.spec ?? {});
  addDaemonTolerations(spec);
  const matcher = requiredMatcher(newPodInfo({ metadata: {}, spec } as any));
  const nodeName: string = spec.nodeName ?? '';
  const tolerations: Toleration[] = spec.tolerations;
  return (node) => {
    const name = node.metadata?.name ?? '';
    if (nodeName && nodeName !== name) return { shouldRun: false, shouldContinueRunning: false };
    if (matcher) {
      const info = newNodeInfo(name);
      info.labels = node.metadata?.labels ?? {};
      if (!matcher(info)) return { shouldRun: false, shouldContinueRunning: false };
    }
    const untolerated = (effects: string[]) =>
      ((node.spec?.taints ?? []) as Taint[]).some((t) => effects.includes(t.effect) && !tolerationsTolerateTaint(tolerations, t));
    if (untolerated(['NoSchedule', 'NoExecute'])) return { shouldRun: false, shouldContinueRunning: !untolerated(['NoExecute']) };
    return { shouldRun: true, shouldContinueRunning: true };
  };
}

/** upstream GetTargetNodeName: spec.nodeName, else the single node the `metadata.name In` affinity names. */
export function targetNodeName(pod: Obj): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) {
    for (const f of (term.matchFields ?? []) as NodeSelectorRequirement[]) {
      if (f.key === 'metadata.name' && f.operator === 'In') return f.values?.length === 1 ? f.values[0] : undefined;
    }
  }
  return undefined;
}

/**
 * upstream ReplaceDaemonSetPodNodeNameNodeAffinity: the required node
 * affinity becomes the one term `metadata.name In [node]` (the node was
 * checked against the template's own terms already); preferred terms stay.
 */
export function nodeNameAffinity(affinity: any, nodeName: string): any {
  const required = { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }] };
  const out = structuredClone(affinity ?? {});
  out.nodeAffinity = { ...(out.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: required };
  return out;
}

/** The DaemonSet's template generation (the annotation the API server keeps), if readable. */
function templateGeneration(ds: Obj): number | undefined {
  const v = ds.metadata?.annotations?.[DAEMONSET_TEMPLATE_GENERATION_ANNOTATION];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** upstream IsPodUpdated: the pod carries the current revision's hash, or the current template generation. */
function isPodUpdated(pod: Obj, hash: string, generation: number | undefined): boolean {
  const labels = pod.metadata?.labels ?? {};
  return (generation !== undefined && labels[POD_TEMPLATE_GENERATION_LABEL] === String(generation)) || (!!hash && labels[CONTROLLER_REVISION_HASH_LABEL] === hash);
}

/** upstream CreatePodTemplate: the template with the daemon tolerations and the generation and hash labels. */
function daemonPodTemplate(ds: Obj, hash: string): any {
  const t = structuredClone(ds.spec?.template ?? {});
  t.spec ??= {};
  addDaemonTolerations(t.spec);
  t.metadata ??= {};
  const labels = { ...(t.metadata.labels ?? {}) };
  const gen = templateGeneration(ds);
  if (gen !== undefined) labels[POD_TEMPLATE_GENERATION_LABEL] = String(gen);
  if (hash) labels[CONTROLLER_REVISION_HASH_LABEL] = hash;
  t.metadata.labels = labels;
  return t;
}

function created(o: Obj): number {
  const t = Date.parse(o.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** upstream podByCreationTimestampAndPhase: scheduled pods first, then oldest, then by name. */
function byScheduledThenAge(a: Obj, b: Obj): number {
  const sa = !!a.spec?.nodeName;
  const sb = !!b.spec?.nodeName;
  if (sa !== sb) return sa ? -1 : 1;
  return created(a) - created(b) || String(a.metadata.name).localeCompare(String(b.metadata.name));
}

const isTerminal = (pod: Obj) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** upstream flowcontrol.Backoff for failed daemon pods: 1 s doubling to 15 min per DaemonSet and node. */
class FailedPodBackoff {
  private readonly entries = new Map<string, { backoffMs: number; lastUpdate: number }>();
  private static readonly INITIAL_MS = 1000;
  private static readonly MAX_MS = 15 * 60 * 1000;

  /** True while the key waits out its back-off from the last deletion. */
  inBackoff(key: string, now: number): boolean {
    const e = this.entries.get(key);
    if (!e || this.expired(e, now)) return false;
    return now - e.lastUpdate < e.backoffMs;
  }

  /** The key's current back-off. */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /** Records an attempt: the back-off starts at 1 s or doubles. */
  next(key: string, now: number): void {
    const e = this.entries.get(key);
    const backoffMs = !e || this.expired(e, now) ? FailedPodBackoff.INITIAL_MS : Math.min(e.backoffMs * 2, FailedPodBackoff.MAX_MS);
    this.entries.set(key, { backoffMs, lastUpdate: now });
  }

  /** Forgets entries idle for twice the longest back-off (upstream GC). */
  gc(now: number): void {
    for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
  }

  private expired(e: { lastUpdate: number }, now: number): boolean {
    return now - e.lastUpdate > 2 * FailedPodBackoff.MAX_MS;
  }
}

/** The counts status reports (upstream updateDaemonSetStatus). */
interface DsCounts {
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  updatedNumberScheduled: number;
  numberAvailable: number;
  numberUnavailable: number;
}

/** Runs one pod per eligible node for every DaemonSet. */
export class DaemonSetController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly expectations: ControllerExpectations;
  private readonly backoff = new FailedPodBackoff();
  private readonly fits = new Map<string, { key: string; fn: (node: Node) => NodeFit }>();
  private readonly daemonSets: Informer;
  private readonly pods: Informer;
  private readonly nodes: Informer<Node>;
  private readonly revisions: Informer;
  private stopped = false;

  constructor(config: DaemonSetControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.expectations = new ControllerExpectations(() => this.now().getTime());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 2 });
    this.daemonSets = config.informers.informer(R.daemonsets);
    this.pods = config.informers.informer(R.pods);
    this.nodes = config.informers.informer<Node>(R.nodes);
    this.revisions = config.informers.informer(R.controllerrevisions);
  }

  /** Registers informer handlers and returns once the caches are synced. */
  async start(): Promise<void> {
    this.daemonSets.addHandlers({
      onAdd: (ds) => this.enqueue(ds),
      onUpdate: (_old, ds) => this.enqueue(ds),
      onDelete: (ds) => {
        this.fits.delete(ds.metadata?.uid);
        this.enqueue(ds);
      },
    });
    this.revisions.addHandlers({
      onAdd: (rev) => this.revisionChanged(undefined, rev),
      onUpdate: (old, rev) => this.revisionChanged(old, rev),
      onDelete: (rev) => {
        const ds = this.resolve(rev.metadata?.namespace, getControllerOf(rev));
        if (ds) this.enqueue(ds);
      },
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podAdded(pod),
      onUpdate: (old, pod) => this.podUpdated(old, pod),
      onDelete: (pod) => this.podDeleted(pod),
    });
    this.nodes.addHandlers({
      onAdd: (node) => {
        for (const ds of this.daemonSets.list()) if (this.fit(ds)(node).shouldRun) this.enqueue(ds);
      },
      onUpdate: (old, node) => this.nodeUpdated(old, node),
      // A node that goes away leaves its pods unschedulable and the desired count lower.
      onDelete: () => {
        for (const ds of this.daemonSets.list()) this.enqueue(ds);
      },
    });
    await Promise.all([this.daemonSets.start(), this.pods.start(), this.nodes.start(), this.revisions.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's to stop). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when no reconcile is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private enqueue(ds: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(ds));
  }

  /** The node fit of a DaemonSet, built once per version of it (node events ask for every set). */
  private fit(ds: Obj): (node: Node) => NodeFit {
    const key = `${ds.metadata.uid}/${ds.metadata.resourceVersion}`;
    let fit = this.fits.get(ds.metadata.uid);
    if (fit?.key !== key) {
      fit = { key, fn: daemonNodeFit(ds) };
      this.fits.set(ds.metadata.uid, fit);
    }
    return fit.fn;
  }

  private resolve(namespace: string, ref: OwnerReference | undefined): Obj | undefined {
    if (!ref || ref.kind !== DS_API.kind) return undefined;
    const ds = this.daemonSets.get(namespace, ref.name);
    return ds && ds.metadata?.uid === ref.uid ? ds : undefined;
  }

  /** DaemonSets whose selector matches an orphan's labels (upstream getDaemonSetsForPod / ForHistory). */
  private matching(obj: Obj): Obj[] {
    return this.daemonSets.list(obj.metadata?.namespace, (ds) => {
      const sel = selectorOf(ds);
      return !!sel && !sel.empty() && sel.matches(obj.metadata?.labels);
    });
  }

  private revisionChanged(old: Obj | undefined, rev: Obj): void {
    if (old && old.metadata?.resourceVersion === rev.metadata?.resourceVersion) return;
    const ref = getControllerOf(rev);
    const oldRef = old ? getControllerOf(old) : undefined;
    if (oldRef && !jsonEqual(oldRef, ref ?? null)) {
      const prev = this.resolve(old!.metadata.namespace, oldRef);
      if (prev) this.enqueue(prev);
    }
    if (ref) {
      const ds = this.resolve(rev.metadata.namespace, ref);
      if (ds) this.enqueue(ds);
      return;
    }
    if (!old || !jsonEqual(old.metadata?.labels ?? {}, rev.metadata?.labels ?? {}) || oldRef) for (const ds of this.matching(rev)) this.enqueue(ds);
  }

  private podAdded(pod: Obj): void {
    if (pod.metadata?.deletionTimestamp) return this.podDeleted(pod);
    const ref = getControllerOf(pod);
    if (ref) {
      const ds = this.resolve(pod.metadata.namespace, ref);
      if (!ds) return;
      this.expectations.creationObserved(objectKey(ds));
      this.enqueue(ds);
      return;
    }
    for (const ds of this.matching(pod)) this.enqueue(ds);
  }

  private podUpdated(old: Obj, pod: Obj): void {
    if (old.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
    // upstream: a graceful deletion counts as soon as it starts, so the replacement is not held up.
    if (pod.metadata?.deletionTimestamp) return this.podDeleted(pod);
    const { owners, controller: ds } = podUpdateOwners(old, pod, (ns, ref) => this.resolve(ns, ref), (p) => this.matching(p));
    for (const o of owners) this.enqueue(o);
    // A pod that just turned ready is available minReadySeconds later (+1 s for clock skew).
    const minReady = ds?.spec?.minReadySeconds ?? 0;
    if (ds && minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.queue.addAfter(objectKey(ds), minReady * 1000 + 1000);
  }

  private podDeleted(pod: Obj): void {
    const ds = this.resolve(pod.metadata?.namespace, getControllerOf(pod));
    if (!ds) return;
    this.expectations.deletionObserved(objectKey(ds), objectKey(pod));
    this.enqueue(ds);
  }

  /** upstream updateNode: only label and taint changes matter, and only to sets whose verdict for the node changes. */
  private nodeUpdated(old: Node, node: Node): void {
    if (jsonEqual(old.metadata?.labels ?? {}, node.metadata?.labels ?? {}) && jsonEqual(old.spec?.taints ?? [], node.spec?.taints ?? [])) return;
    for (const ds of this.daemonSets.list()) {
      const fit = this.fit(ds);
      if (!jsonEqual(fit(old), fit(node))) this.enqueue(ds);
    }
  }

  /** Converges one DaemonSet (`namespace/name`), as upstream syncDaemonSet. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ds: Obj | undefined = this.daemonSets.get(namespace, name);
    if (!ds) {
      this.expectations.delete(key);
      return;
    }
    const sel = ds.spec?.selector;
    if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
      void this.events.event(this.subject(ds), 'Warning', 'SelectingAll', 'This daemon set is selecting all pods. A non-empty selector is required.');
      return;
    }
    const selector = selectorOf(ds);
    if (!selector) return;
    // upstream: a DaemonSet being deleted may have lost its history to the garbage collector; its status cannot be trusted.
    if (ds.metadata.deletionTimestamp) return;
    const nodes = this.nodes.list();
    const { hash, old } = await this.constructHistory(ds, selector);
    if (!this.expectations.satisfied(key)) {
      // Only the counts: the controller has not acted on this generation yet.
      return this.updateStatus(ds, selector, nodes, hash, false);
    }
    let failure: unknown;
    try {
      await this.manage(ds, selector, nodes, hash, key);
      if (this.expectations.satisfied(key) && ds.spec?.updateStrategy?.type === 'RollingUpdate') await this.rollingUpdate(ds, selector, nodes, hash, key);
      await this.cleanupHistory(ds, selector, old);
    } catch (e) {
      failure = e;
    }
    try {
      await this.updateStatus(ds, selector, nodes, hash, true);
    } catch (e) {
      failure ??= e;
    }
    this.backoff.gc(this.now().getTime());
    if (failure) throw failure;
  }

  private subject(ds: Obj): ObjectLike {
    return { ...DS_API, metadata: ds.metadata };
  }

  private canAdopt(ds: Obj): () => Promise<boolean> {
    return async () => {
      const fresh = await getFresh<Obj>(this.client, R.daemonsets, ds.metadata.namespace, ds.metadata.name);
      return !!fresh && fresh.metadata?.uid === ds.metadata.uid && !fresh.metadata?.deletionTimestamp;
    };
  }

  /** upstream getDaemonPods: the pods this DaemonSet controls, adopting and releasing as needed. */
  private claimPods(ds: Obj, selector: LabelSelector): Promise<Obj[]> {
    return claimObjects<Obj>(this.pods.list(ds.metadata.namespace), {
      client: this.client,
      ref: R.pods,
      owner: ds,
      ownerRef: newControllerRef(ds, DS_API.apiVersion, DS_API.kind),
      selector,
      canAdopt: this.canAdopt(ds),
    });
  }

  /** upstream getNodesToDaemonPods: the DaemonSet's pods by the node they run on or are meant for. */
  private async podsByNode(ds: Obj, selector: LabelSelector, includeDeletedTerminal: boolean): Promise<Map<string, Obj[]>> {
    const out = new Map<string, Obj[]>();
    for (const pod of await this.claimPods(ds, selector)) {
      // A finished pod already being deleted is the kubelet's or the pod GC's to remove.
      if (!includeDeletedTerminal && isTerminal(pod) && pod.metadata.deletionTimestamp) continue;
      const node = targetNodeName(pod);
      if (node === undefined) continue;
      const list = out.get(node);
      if (list) list.push(pod);
      else out.set(node, [pod]);
    }
    return out;
  }

  /**
   * upstream constructHistory: finds the revision equal to the current
   * template (creating it, or renumbering it to the top) and the old ones;
   * returns the current revision's hash and the old revisions.
   */
  private async constructHistory(ds: Obj, selector: LabelSelector): Promise<{ hash: string; old: Obj[] }> {
    // All revisions of the namespace: ones that no longer match but are still ours get released.
    const histories = await claimObjects<Obj>(this.revisions.list(ds.metadata.namespace), {
      client: this.client,
      ref: R.controllerrevisions,
      owner: ds,
      ownerRef: newControllerRef(ds, DS_API.apiVersion, DS_API.kind),
      selector,
      canAdopt: this.canAdopt(ds),
    });
    const data = templateRevisionData(ds.spec?.template);
    const current: Obj[] = [];
    const old: Obj[] = [];
    for (let h of histories) {
      if (!h.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL]) {
        // upstream: the name stands in for a hash on revisions that lack the label.
        h = await this.client.update<Obj>(R.controllerrevisions, h.metadata.namespace, {
          ...h,
          metadata: { ...h.metadata, labels: { ...(h.metadata.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: h.metadata.name } },
        });
      }
      (revisionDataEqual(h.data, data) ? current : old).push(h);
    }
    const next = maxRevision(old) + 1;
    let cur: Obj;
    if (current.length === 0) {
      cur = await this.snapshot(ds, data, next);
    } else {
      cur = await this.dedupCurrent(ds, selector, current);
      if ((cur.revision ?? 0) < next) cur = await setRevisionNumber(this.client, cur, next);
    }
    return { hash: cur.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? '', old };
  }

  /**
   * upstream snapshot: a new revision named `<ds>-<hash of the template and
   * collisionCount>`; when the name is taken by other data, collisionCount
   * goes up (in status) and the sync is retried.
   */
  private async snapshot(ds: Obj, data: Record<string, unknown>, revision: number): Promise<Obj> {
    const collisionCount: number | undefined = ds.status?.collisionCount;
    const hash = computeHash(canonicalTemplate(ds.spec?.template), collisionCount);
    const rev = newControllerRevision({ owner: ds, ...DS_API, data, revision, hash });
    rev.metadata.name = `${ds.metadata.name}-${hash}`;
    try {
      return await this.client.create<Obj>(R.controllerrevisions, ds.metadata.namespace, rev);
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      const existing = await this.client.get<Obj>(R.controllerrevisions, ds.metadata.namespace, rev.metadata.name);
      if (revisionDataEqual(existing.data, data)) return existing;
      const fresh = await this.client.get<Obj>(R.daemonsets, ds.metadata.namespace, ds.metadata.name);
      if ((fresh.status?.collisionCount ?? undefined) !== collisionCount) {
        throw new Error(
          `found a stale collision count (${collisionCount}, expected ${fresh.status?.collisionCount}) of DaemonSet "${ds.metadata.name}" while processing; will retry until it is updated`,
        );
      }
      await this.client.update(R.daemonsets, ds.metadata.namespace, { ...fresh, status: { ...fresh.status, collisionCount: (collisionCount ?? 0) + 1 } }, { subresource: 'status' });
      throw e;
    }
  }

  /**
   * upstream dedupCurHistories: of several revisions equal to the template,
   * the highest-numbered stays; pods labelled with another's hash are
   * relabelled, and the others are deleted.
   */
  private async dedupCurrent(ds: Obj, selector: LabelSelector, current: Obj[]): Promise<Obj> {
    if (current.length === 1) return current[0]!;
    let keep = current[0]!;
    for (const c of current) if ((c.revision ?? 0) >= (keep.revision ?? 0)) keep = c;
    const keepHash = keep.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
    for (const dup of current) {
      if (dup === keep) continue;
      const dupHash = dup.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
      for (const pod of await this.claimPods(ds, selector)) {
        if (pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] !== dupHash) continue;
        await this.client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, 'strategic', { metadata: { labels: { [CONTROLLER_REVISION_HASH_LABEL]: keepHash } } });
      }
      try {
        await this.client.delete(R.controllerrevisions, dup.metadata.namespace, dup.metadata.name);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
    return keep;
  }

  /** upstream cleanupHistory: old revisions beyond revisionHistoryLimit go, oldest first, unless a pod still wears their hash. */
  private async cleanupHistory(ds: Obj, selector: LabelSelector, old: Obj[]): Promise<void> {
    const limit = ds.spec?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    if (old.length <= limit) return;
    const liveHashes = new Set<string>();
    for (const pods of (await this.podsByNode(ds, selector, true)).values()) {
      for (const pod of pods) {
        const h = pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
        if (h) liveHashes.add(h);
      }
    }
    for (const r of revisionsToPrune(old, limit, (rev) => liveHashes.has(rev.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL]))) {
      try {
        await this.client.delete(R.controllerrevisions, r.metadata.namespace, r.metadata.name);
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
  }

  /** upstream manage: creates daemon pods where missing, deletes them where they should not be (or failed). */
  private async manage(ds: Obj, selector: LabelSelector, nodes: readonly Node[], hash: string, key: string): Promise<void> {
    const byNode = await this.podsByNode(ds, selector, false);
    const fit = this.fit(ds);
    const needing: string[] = [];
    const toDelete: Obj[] = [];
    for (const node of nodes) this.podsShouldBeOnNode(ds, node, fit(node), byNode.get(node.metadata?.name ?? ''), hash, needing, toDelete);
    // upstream getUnscheduledPodsWithoutNode: pods meant for nodes that are gone would never be scheduled.
    const existing = new Set(nodes.map((n) => n.metadata?.name));
    for (const [nodeName, pods] of byNode) {
      if (existing.has(nodeName)) continue;
      for (const pod of pods) if (!pod.spec?.nodeName) toDelete.push(pod);
    }
    await this.syncNodes(ds, toDelete, needing, hash, key);
  }

  /** upstream podsShouldBeOnNode: what to create on, or delete from, one node. */
  private podsShouldBeOnNode(ds: Obj, node: Node, fit: NodeFit, pods: Obj[] | undefined, hash: string, needing: string[], toDelete: Obj[]): void {
    const nodeName = node.metadata?.name ?? '';
    if (fit.shouldRun && !pods) {
      needing.push(nodeName);
      return;
    }
    if (fit.shouldContinueRunning) {
      const running: Obj[] = [];
      for (const pod of pods ?? []) {
        if (pod.metadata.deletionTimestamp) continue;
        if (pod.status?.phase === 'Failed') {
          // Back off so the controller does not fight a kubelet that keeps rejecting the pod.
          const backoffKey = `${ds.metadata.uid}/${ds.status?.observedGeneration ?? 0}/${nodeName}`;
          const now = this.now().getTime();
          if (this.backoff.inBackoff(backoffKey, now)) {
            this.queue.addAfter(objectKey(ds), this.backoff.get(backoffKey));
            continue;
          }
          this.backoff.next(backoffKey, now);
          void this.events.event(
            this.subject(ds),
            'Warning',
            'FailedDaemonPod',
            `Found failed daemon pod ${pod.metadata.namespace}/${pod.metadata.name} on node ${nodeName}, will try to kill it`,
          );
          toDelete.push(pod);
        } else if (pod.status?.phase === 'Succeeded') {
          toDelete.push(pod);
        } else {
          running.push(pod);
        }
      }
      running.sort(byScheduledThenAge);
      if (!allowsSurge(ds)) {
        // One pod per node: the oldest stays.
        toDelete.push(...running.slice(1));
        return;
      }
      if (running.length <= 1) {
        if (running.length === 0 && fit.shouldRun) needing.push(nodeName);
        return;
      }
      // Surging: an old and a new pod may share the node until the new one is available.
      let oldestNew: Obj | undefined;
      let oldestOld: Obj | undefined;
      for (const pod of running) {
        const updated = pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash;
        if (updated && !oldestNew) oldestNew = pod;
        else if (!updated && !oldestOld) oldestOld = pod;
        else toDelete.push(pod);
      }
      if (oldestNew && oldestOld) {
        if (!isPodReady(oldestOld)) toDelete.push(oldestOld);
        else if (isPodAvailable(oldestNew, ds.spec?.minReadySeconds ?? 0, this.now())) toDelete.push(oldestOld);
      }
      return;
    }
    if (pods) for (const pod of pods) if (!pod.metadata.deletionTimestamp) toDelete.push(pod);
  }

  /** upstream syncNodes: creates pods for nodes (slow-start batches) and deletes pods, within the burst limit, under expectations. */
  private async syncNodes(ds: Obj, toDelete: Obj[], nodesNeeding: string[], hash: string, key: string): Promise<void> {
    const createCount = Math.min(nodesNeeding.length, BURST_REPLICAS);
    const deletions = toDelete.slice(0, BURST_REPLICAS);
    if (createCount === 0 && deletions.length === 0) return;
    // Expect before acting: the informer may report a pod before the call returns.
    this.expectations.expectCreations(key, createCount);
    this.expectations.expectDeletions(key, deletions.map(objectKey));
    const template = daemonPodTemplate(ds, hash);
    const ref = newControllerRef(ds, DS_API.apiVersion, DS_API.kind);
    const errors: unknown[] = [];
    let next = 0;
    let attempted = 0;
    await slowStartBatch(createCount, 1, async () => {
      const nodeName = nodesNeeding[next++]!;
      attempted++;
      const t = structuredClone(template);
      t.spec.affinity = nodeNameAffinity(t.spec.affinity, nodeName);
      try {
        const created = await this.client.create<Obj>(R.pods, ds.metadata.namespace, podFromTemplate(t, ds, ref));
        void this.events.event(this.subject(ds), 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
      } catch (e) {
        // upstream: a namespace being torn down refuses every creation; nothing to report.
        if (isNamespaceTerminating(e)) return;
        this.expectations.creationObserved(key);
        void this.events.event(this.subject(ds), 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
        errors.push(e);
        throw e;
      }
    });
    // Creations never attempted (a batch failed) will not be observed.
    for (let i = attempted; i < createCount; i++) this.expectations.creationObserved(key);
    await Promise.all(
      deletions.map(async (pod) => {
        try {
          await this.client.delete(R.pods, pod.metadata.namespace, pod.metadata.name);
          void this.events.event(this.subject(ds), 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        } catch (e) {
          this.expectations.deletionObserved(key, objectKey(pod));
          if (isStatus(e, 404)) return;
          void this.events.event(this.subject(ds), 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
          errors.push(e);
        }
      }),
    );
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new Error(`[${errors.map((e) => (e as Error).message).join(', ')}]`);
  }

  /**
   * upstream rollingUpdate. Without surge: delete old pods (unavailable ones
   * at once, available ones while fewer than maxUnavailable pods are
   * unavailable) and let manage recreate them. With surge: start a new pod
   * beside an old one (at once if the old is unavailable, else up to
   * maxSurge at a time) and delete the old one when the new is available.
   */
  private async rollingUpdate(ds: Obj, selector: LabelSelector, nodes: readonly Node[], hash: string, key: string): Promise<void> {
    const byNode = await this.podsByNode(ds, selector, false);
    const fit = this.fit(ds);
    let desired = 0;
    for (const node of nodes) {
      if (!fit(node).shouldRun) continue;
      desired++;
      const name = node.metadata?.name ?? '';
      if (!byNode.has(name)) byNode.set(name, []);
    }
    const ru = ds.spec?.updateStrategy?.rollingUpdate ?? {};
    let maxUnavailable = scaledValue(ru.maxUnavailable ?? undefined, desired, true);
    const maxSurgeCount = scaledValue(ru.maxSurge ?? undefined, desired, true);
    // An impossible configuration (both 0) accepts unavailability, as upstream does.
    if (desired > 0 && maxUnavailable === 0 && maxSurgeCount === 0) maxUnavailable = 1;
    const now = this.now();
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const available = (pod: Obj) => isPodAvailable(pod, minReady, now);
    const generation = templateGeneration(ds);

    if (maxSurgeCount === 0) {
      let unavailable = 0;
      const replacements: Obj[] = [];
      const candidates: Obj[] = [];
      for (const pods of byNode.values()) {
        const found = updatedPodsOnNode(pods, hash, generation);
        if (!found) {
          unavailable++; // excess pods: the manage loop cleans the node up
          continue;
        }
        const { newPod, oldPod } = found;
        if ((!oldPod && !newPod) || (oldPod && newPod)) {
          unavailable++;
        } else if (newPod) {
          if (!available(newPod)) unavailable++;
        } else if (!available(oldPod!)) {
          replacements.push(oldPod!);
        } else if (unavailable < maxUnavailable) {
          candidates.push(oldPod!);
        }
      }
      const room = Math.min(Math.max(maxUnavailable - unavailable, 0), candidates.length);
      return this.syncNodes(ds, [...replacements, ...candidates.slice(0, room)], [], hash, key);
    }

    const toDelete: Obj[] = [];
    const shouldNotRun: Obj[] = [];
    const candidateNodes: string[] = [];
    const allowedNodes: string[] = [];
    let surge = 0;
    let numAvailable = 0;
    const nodeByName = new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
    for (const [nodeName, pods] of byNode) {
      const found = updatedPodsOnNode(pods, hash, generation);
      if (!found) {
        surge++;
        continue;
      }
      const { newPod, oldPod } = found;
      if (oldPod ? available(oldPod) : newPod && available(newPod)) numAvailable++;
      if (!oldPod) continue;
      const node = nodeByName.get(nodeName);
      if (!newPod) {
        const runs = !!node && fit(node).shouldRun;
        if (!available(oldPod)) {
          if (!runs) toDelete.push(oldPod);
          else allowedNodes.push(nodeName);
        } else if (!runs) {
          shouldNotRun.push(oldPod);
        } else if (surge < maxSurgeCount) {
          candidateNodes.push(nodeName);
        }
        continue;
      }
      // Surged already: the old pod goes once the new one is available.
      if (!available(newPod)) surge++;
      else toDelete.push(oldPod);
    }
    // With surge the owner expects full availability: pods on nodes that no longer fit go only as others become available.
    const deletable = Math.min(numAvailable - desired, shouldNotRun.length);
    if (deletable > 0) toDelete.push(...shouldNotRun.slice(0, deletable));
    const room = Math.min(Math.max(maxSurgeCount - surge, 0), candidateNodes.length);
    return this.syncNodes(ds, toDelete, [...allowedNodes, ...candidateNodes.slice(0, room)], hash, key);
  }

  /** upstream updateDaemonSetStatus: per-node counts, written when they changed. */
  private async updateStatus(ds: Obj, selector: LabelSelector, nodes: readonly Node[], hash: string, updateObservedGen: boolean): Promise<void> {
    const byNode = await this.podsByNode(ds, selector, false);
    const fit = this.fit(ds);
    const now = this.now();
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const generation = templateGeneration(ds);
    const c: DsCounts = {
      desiredNumberScheduled: 0,
      currentNumberScheduled: 0,
      numberMisscheduled: 0,
      numberReady: 0,
      updatedNumberScheduled: 0,
      numberAvailable: 0,
      numberUnavailable: 0,
    };
    for (const node of nodes) {
      const pods = byNode.get(node.metadata?.name ?? '') ?? [];
      if (!fit(node).shouldRun) {
        if (pods.length) c.numberMisscheduled++;
        continue;
      }
      c.desiredNumberScheduled++;
      if (!pods.length) continue;
      c.currentNumberScheduled++;
      const pod = [...pods].sort(byScheduledThenAge)[0]!;
      if (isPodReady(pod)) {
        c.numberReady++;
        if (isPodAvailable(pod, minReady, now)) c.numberAvailable++;
      }
      if (isPodUpdated(pod, hash, generation)) c.updatedNumberScheduled++;
    }
    c.numberUnavailable = c.desiredNumberScheduled - c.numberAvailable;
    await this.storeStatus(ds, c, updateObservedGen);
    // Ready pods become available minReadySeconds later; look again then.
    if (minReady > 0 && c.numberReady !== c.numberAvailable) this.queue.addAfter(objectKey(ds), minReady * 1000);
  }

  /** upstream storeDaemonSetStatus: skips an unchanged status; one retry on a fresh copy. */
  private async storeStatus(ds: Obj, c: DsCounts, updateObservedGen: boolean): Promise<void> {
    const st = ds.status ?? {};
    const same = (Object.keys(c) as (keyof DsCounts)[]).every((k) => (st[k] ?? 0) === c[k]);
    const generation = ds.metadata.generation ?? 0;
    if (same && (st.observedGeneration ?? 0) >= generation) return;
    let cur = ds;
    for (let attempt = 0; ; attempt++) {
      const status: any = {
        currentNumberScheduled: c.currentNumberScheduled,
        numberMisscheduled: c.numberMisscheduled,
        desiredNumberScheduled: c.desiredNumberScheduled,
        numberReady: c.numberReady,
      };
      const observed = updateObservedGen ? generation : cur.status?.observedGeneration;
      if (observed) status.observedGeneration = observed;
      if (c.updatedNumberScheduled) status.updatedNumberScheduled = c.updatedNumberScheduled;
      if (c.numberAvailable) status.numberAvailable = c.numberAvailable;
      if (c.numberUnavailable) status.numberUnavailable = c.numberUnavailable;
      if (cur.status?.collisionCount !== undefined) status.collisionCount = cur.status.collisionCount;
      if (cur.status?.conditions?.length) status.conditions = cur.status.conditions;
      try {
        await this.client.update(R.daemonsets, cur.metadata.namespace, { ...cur, status }, { subresource: 'status' });
        return;
      } catch (e) {
        if (attempt >= 1) throw e;
        const fresh = await getFresh<Obj>(this.client, R.daemonsets, cur.metadata.namespace, cur.metadata.name);
        if (!fresh) return;
        cur = fresh;
      }
    }
  }
}

/** upstream findUpdatedPodsOnNode: at most one new and one old live pod on the node, or undefined when there are more. */
function updatedPodsOnNode(pods: readonly Obj[], hash: string, generation: number | undefined): { newPod?: Obj; oldPod?: Obj } | undefined {
  let newPod: Obj | undefined;
  let oldPod: Obj | undefined;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    if (isPodUpdated(pod, hash, generation)) {
      if (newPod) return undefined;
      newPod = pod;
    } else {
      if (oldPod) return undefined;
      oldPod = pod;
    }
  }
  return { newPod, oldPod };
}

/** upstream AllowsSurge: a rolling update whose maxSurge is not zero. */
function allowsSurge(ds: Obj): boolean {
  const us = ds.spec?.updateStrategy;
  if (us?.type !== 'RollingUpdate') return false;
  try {
    return scaledValue(us.rollingUpdate?.maxSurge ?? undefined, 1, true) !== 0;
  } catch {
    return false;
  }
}

function selectorOf(ds: Obj): LabelSelector | undefined {
  try {
    return selectorFromLabelSelector(ds.spec?.selector);
  } catch {
    return undefined;
  }
}
