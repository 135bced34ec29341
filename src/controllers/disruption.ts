/**
 * The disruption controller (upstream pkg/controller/disruption): keeps every
 * PodDisruptionBudget's status current — expectedPods, desiredHealthy,
 * currentHealthy, disruptionsAllowed, observedGeneration, disruptedPods and
 * the DisruptionAllowed condition — from the pods its selector matches and
 * the scale of their controllers (Deployment, ReplicaSet, StatefulSet,
 * ReplicationController, or any resource with a scale subresource). Pods the
 * eviction subresource recorded in disruptedPods do not count as healthy
 * until they are deleted or DeletionTimeout passes. A DisruptionTarget
 * condition left on a pod that was never deleted is reset after a while.
 */
import { isStatus, R, type Client, type ResourceRef } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { selectorFromLabelSelector } from '../api/labels.js';
import { setDisruptionAllowedCondition } from '../apiserver/eviction.js';
import { getControllerOf, isPodReady, jsonEqual, rfc3339, type ObjectLike, type OwnerReference } from './controllerutil.js';
import type { DiscoveredResource } from './garbagecollector.js';
import { scaledValue } from './deployment/util.js';

/** policy/v1 PodDisruptionBudgets. */
export const PDB_RESOURCE: ResourceRef = { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets' };
const RC_RESOURCE: ResourceRef = { group: '', version: 'v1', resource: 'replicationcontrollers' };

/** upstream DeletionTimeout: how long a pod recorded in disruptedPods may take to be marked for deletion. */
export const DELETION_TIMEOUT_MS = 2 * 60 * 1000;
/** upstream stalePodDisruptionTimeout: how long a DisruptionTarget condition may stay on a pod that is not being deleted. */
export const STALE_POD_DISRUPTION_TIMEOUT_MS = 2 * 60 * 1000;

/** Configuration of the disruption controller. */
export interface DisruptionControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `controllermanager` (upstream's component for this controller). */
  events: EventRecorder;
  /** Served resources, to find the scale subresource of other controllers' kinds. */
  resources?: () => readonly DiscoveredResource[];
  now?: () => Date;
  /** Tests shorten these. */
  deletionTimeoutMs?: number;
  stalePodDisruptionTimeoutMs?: number;
}

/** A controller and its desired replicas. */
interface ControllerAndScale {
  uid: string;
  scale: number;
}

/** An error that is reported as a sync failure on the budget (upstream: trySync's errors go to failSafe). */
class SyncError extends Error {}

/** Keeps PodDisruptionBudget status in step with the pods they cover. */
export class DisruptionController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly resources: () => readonly DiscoveredResource[];
  private readonly deletionTimeoutMs: number;
  private readonly staleTimeoutMs: number;
  private readonly queue: WorkQueue;
  private readonly staleQueue: WorkQueue;
  private readonly pdbs: Informer;
  private readonly pods: Informer;
  private readonly rcs: Informer;
  private readonly rss: Informer;
  private readonly deployments: Informer;
  private readonly statefulsets: Informer;
  private stopped = false;

  constructor(config: DisruptionControllerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.now = config.now ?? (() => new Date());
    this.resources = config.resources ?? (() => []);
    this.deletionTimeoutMs = config.deletionTimeoutMs ?? DELETION_TIMEOUT_MS;
    this.staleTimeoutMs = config.stalePodDisruptionTimeoutMs ?? STALE_POD_DISRUPTION_TIMEOUT_MS;
    this.queue = new WorkQueue((key) => this.sync(key), { workers: 2 });
    this.staleQueue = new WorkQueue((key) => this.syncStalePodDisruption(key), { workers: 1 });
    this.pdbs = config.informers.informer(PDB_RESOURCE);
    this.pods = config.informers.informer(R.pods);
    this.rcs = config.informers.informer(RC_RESOURCE);
    this.rss = config.informers.informer(R.replicasets);
    this.deployments = config.informers.informer(R.deployments);
    this.statefulsets = config.informers.informer(R.statefulsets);
  }

  /** Registers handlers and resolves once the caches are filled. */
  async start(): Promise<void> {
    this.pdbs.addHandlers({
      onAdd: (pdb) => this.enqueue(pdb),
      onUpdate: (_old, pdb) => this.enqueue(pdb),
      onDelete: (pdb) => this.enqueue(pdb),
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (_old, pod) => this.podChanged(pod),
      onDelete: (pod) => this.podChanged(pod, true),
    });
    await Promise.all([this.pdbs, this.pods, this.rcs, this.rss, this.deployments, this.statefulsets].map((i) => i.start()));
  }

  /** Stops reconciling (the shared informers are the factory's). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
    this.staleQueue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  async idle(): Promise<void> {
    await Promise.all([this.queue.idle(), this.staleQueue.idle()]);
  }

  private enqueue(pdb: ObjectLike): void {
    if (!this.stopped) this.queue.add(objectKey(pdb));
  }

  /** Budgets whose selector matches the pod (upstream GetPodPodDisruptionBudgets: in policy/v1 an empty selector matches every pod). */
  private budgetsFor(pod: ObjectLike): ObjectLike[] {
    return this.pdbs.list(pod.metadata?.namespace, (pdb) => {
      try {
        return selectorFromLabelSelector(pdb.spec?.selector).matches(pod.metadata?.labels);
      } catch {
        return false;
      }
    });
  }

  private podChanged(pod: ObjectLike, deleted = false): void {
    if (this.stopped) return;
    const budgets = this.budgetsFor(pod);
    if (budgets.length > 1 && !deleted) {
      const names = budgets.map((b) => b.metadata.name);
      void this.events.event(
        { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata },
        'Warning',
        'MultiplePodDisruptionBudgets',
        `Pod "${pod.metadata.namespace}"/"${pod.metadata.name}" matches multiple PodDisruptionBudgets.  Chose "${names[0]}" arbitrarily.`,
      );
    }
    for (const b of budgets) this.enqueue(b);
    if (!deleted) {
      const wait = this.staleDisruptionWait(pod);
      if (wait !== undefined) this.staleQueue.addAfter(objectKey(pod), wait);
    }
  }

  /** Syncs one budget (`namespace/name`); a failure other than a conflict writes the fail-safe status. */
  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pdb = this.pdbs.get(namespace, name);
    if (!pdb) return;
    try {
      await this.trySync(pdb);
    } catch (e) {
      // A conflict only means the budget changed meanwhile: sync again, without the fail-safe.
      if (isStatus(e, 409)) throw e;
      await this.failSafe(pdb, e as Error);
      if (!(e instanceof SyncError)) throw e;
    }
  }

  private subject(pdb: ObjectLike) {
    return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: pdb.metadata };
  }

  private async trySync(pdb: ObjectLike): Promise<void> {
    let selector;
    try {
      selector = selectorFromLabelSelector(pdb.spec?.selector);
    } catch (e) {
      void this.events.event(this.subject(pdb), 'Warning', 'NoPods', `Failed to get pods: ${(e as Error).message}`);
      throw new SyncError((e as Error).message);
    }
    const pods = this.pods.list(pdb.metadata.namespace, (p) => selector.matches(p.metadata?.labels));
    if (pods.length === 0) void this.events.event(this.subject(pdb), 'Normal', 'NoPods', 'No matching pods found');
    let counts: { expectedCount: number; desiredHealthy: number; unmanaged: string[] };
    try {
      counts = await this.expectedPodCount(pdb, pods);
    } catch (e) {
      void this.events.event(this.subject(pdb), 'Warning', 'CalculateExpectedPodCountFailed', `Failed to calculate the number of expected pods: ${(e as Error).message}`);
      throw e instanceof SyncError ? e : new SyncError((e as Error).message);
    }
    if (counts.unmanaged.length > 0) {
      void this.events.event(
        this.subject(pdb),
        'Warning',
        'UnmanagedPods',
        `Pods selected by this PodDisruptionBudget (selector: ${selector.toString()}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.`,
      );
    }
    const now = this.now();
    const { disrupted, recheckAt } = this.buildDisruptedPods(pods, pdb, now);
    const currentHealthy = this.countHealthy(pods, disrupted, now);
    await this.updateStatus(pdb, currentHealthy, counts.desiredHealthy, counts.expectedCount, disrupted, now);
    if (recheckAt !== undefined) this.queue.addAfter(objectKey(pdb), Math.max(0, recheckAt - now.getTime()));
  }

  /**
   * upstream getExpectedPodCount: with maxUnavailable or a percentage
   * minAvailable the expected count is the controllers' scale; an integer
   * minAvailable needs no controllers and expects the pods that exist.
   */
  private async expectedPodCount(pdb: ObjectLike, pods: ObjectLike[]): Promise<{ expectedCount: number; desiredHealthy: number; unmanaged: string[] }> {
    const spec = pdb.spec ?? {};
    // Percentages round up (upstream GetScaledValueFromIntOrPercent with roundUp).
    const scaled = (v: number | string, total: number) => {
      try {
        return scaledValue(v, total, true);
      } catch (e) {
        throw new SyncError((e as Error).message);
      }
    };
    if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
      const { expected, unmanaged } = await this.expectedScale(pods);
      return { expectedCount: expected, desiredHealthy: Math.max(0, expected - scaled(spec.maxUnavailable, expected)), unmanaged };
    }
    if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
      if (typeof spec.minAvailable === 'number') return { expectedCount: pods.length, desiredHealthy: spec.minAvailable, unmanaged: [] };
      const { expected, unmanaged } = await this.expectedScale(pods);
      return { expectedCount: expected, desiredHealthy: scaled(spec.minAvailable, expected), unmanaged };
    }
    return { expectedCount: 0, desiredHealthy: 0, unmanaged: [] };
  }

  /** upstream getExpectedScale: the sum of the scale of every controller of the pods; pods without a controller are unmanaged. */
  private async expectedScale(pods: ObjectLike[]): Promise<{ expected: number; unmanaged: string[] }> {
    const scales = new Map<string, number>();
    const unmanaged: string[] = [];
    for (const pod of pods) {
      const ref = getControllerOf(pod);
      if (!ref) {
        unmanaged.push(pod.metadata.name);
        continue;
      }
      if (scales.has(ref.uid)) continue;
      const found = await this.findController(ref, pod.metadata.namespace);
      if (!found) throw new SyncError(`found no controllers for pod "${pod.metadata.name}"`);
      scales.set(found.uid, found.scale);
    }
    let expected = 0;
    for (const s of scales.values()) expected += s;
    return { expected, unmanaged };
  }

  /** upstream finders: ReplicationController, Deployment (through its ReplicaSet), ReplicaSet, StatefulSet, then any scale subresource. */
  private async findController(ref: OwnerReference, namespace: string): Promise<ControllerAndScale | undefined> {
    const group = groupOf(ref.apiVersion);
    if (ref.kind === 'ReplicationController' && group === '') {
      const rc = this.rcs.get(namespace, ref.name);
      return rc && rc.metadata.uid === ref.uid ? { uid: rc.metadata.uid, scale: rc.spec?.replicas ?? 1 } : undefined;
    }
    if (ref.kind === 'ReplicaSet' && (group === 'apps' || group === 'extensions')) {
      const rs = this.rss.get(namespace, ref.name);
      if (!rs || rs.metadata.uid !== ref.uid) return undefined;
      const owner = getControllerOf(rs);
      if (owner && owner.kind === 'Deployment') {
        const og = groupOf(owner.apiVersion);
        if (og !== 'apps' && og !== 'extensions') return undefined;
        const d = this.deployments.get(namespace, owner.name);
        return d && d.metadata.uid === owner.uid ? { uid: d.metadata.uid, scale: d.spec?.replicas ?? 1 } : undefined;
      }
      return { uid: rs.metadata.uid, scale: rs.spec?.replicas ?? 1 };
    }
    if (ref.kind === 'StatefulSet' && group === 'apps') {
      const ss = this.statefulsets.get(namespace, ref.name);
      return ss && ss.metadata.uid === ref.uid ? { uid: ss.metadata.uid, scale: ss.spec?.replicas ?? 1 } : undefined;
    }
    return this.scaleController(ref, namespace, group);
  }

  /** upstream getScaleController: any kind whose resource serves the scale subresource. */
  private async scaleController(ref: OwnerReference, namespace: string, group: string): Promise<ControllerAndScale | undefined> {
    const version = ref.apiVersion.includes('/') ? ref.apiVersion.slice(ref.apiVersion.indexOf('/') + 1) : ref.apiVersion;
    const res = this.resources().find((r) => r.group === group && r.kind === ref.kind && (r.version === version || !version));
    if (!res) throw new SyncError(`no matches for kind "${ref.kind}" in version "${ref.apiVersion}"`);
    const hasScale = ((res as { subresources?: readonly { name: string }[] }).subresources ?? []).some((s) => s.name === 'scale');
    if (!hasScale) throw new SyncError(`${group ? `${res.resource}.${group}` : res.resource} does not implement the scale subresource`);
    let scale: any;
    try {
      scale = await this.client.get(res, namespace, ref.name, 'scale');
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
    if (scale?.metadata?.uid !== ref.uid) return undefined;
    return { uid: ref.uid, scale: scale?.spec?.replicas ?? 0 };
  }

  /** upstream countHealthyPods: ready pods that are neither being deleted nor recently evicted. */
  private countHealthy(pods: ObjectLike[], disrupted: Record<string, string>, now: Date): number {
    let n = 0;
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp) continue;
      const at = disrupted[pod.metadata.name];
      if (at && Date.parse(at) + this.deletionTimeoutMs > now.getTime()) continue;
      if (isPodReady(pod)) n++;
    }
    return n;
  }

  /**
   * upstream buildDisruptedPodMap: keeps the entries of pods not yet marked
   * for deletion whose DeletionTimeout has not passed, and says when to look
   * again; an entry that timed out gets a NotDeleted event.
   */
  private buildDisruptedPods(pods: ObjectLike[], pdb: ObjectLike, now: Date): { disrupted: Record<string, string>; recheckAt?: number } {
    const prev: Record<string, string> = pdb.status?.disruptedPods ?? {};
    const disrupted: Record<string, string> = {};
    let recheckAt: number | undefined;
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp) continue;
      const at = prev[pod.metadata.name];
      if (!at) continue;
      const expected = Date.parse(at) + this.deletionTimeoutMs;
      if (expected < now.getTime()) {
        // upstream prints the namespace twice here; the message is kept as it reads.
        void this.events.event(
          { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata },
          'Warning',
          'NotDeleted',
          `Pod was expected by PDB ${pdb.metadata.namespace}/${pdb.metadata.namespace} to be deleted but it wasn't`,
        );
      } else {
        if (recheckAt === undefined || expected < recheckAt) recheckAt = expected;
        disrupted[pod.metadata.name] = at;
      }
    }
    return { disrupted, recheckAt };
  }

  /** upstream updatePdbStatus: writes status when any figure, the generation or the condition is out of date. */
  private async updateStatus(pdb: ObjectLike, currentHealthy: number, desiredHealthy: number, expectedCount: number, disrupted: Record<string, string>, now: Date): Promise<void> {
    // expectedCount must be > 0: a budget whose first pods just appeared must not allow disruptions before this sync.
    let disruptionsAllowed = currentHealthy - desiredHealthy;
    if (expectedCount <= 0 || disruptionsAllowed <= 0) disruptionsAllowed = 0;
    const st = pdb.status ?? {};
    const generation = pdb.metadata.generation ?? 0;
    if (
      (st.currentHealthy ?? 0) === currentHealthy &&
      (st.desiredHealthy ?? 0) === desiredHealthy &&
      (st.expectedPods ?? 0) === expectedCount &&
      (st.disruptionsAllowed ?? 0) === disruptionsAllowed &&
      jsonEqual(st.disruptedPods ?? {}, disrupted) &&
      (st.observedGeneration ?? 0) === generation &&
      conditionsUpToDate(pdb)
    ) {
      return;
    }
    const next = structuredClone(pdb);
    next.status = {
      currentHealthy,
      desiredHealthy,
      expectedPods: expectedCount,
      disruptionsAllowed,
      observedGeneration: generation,
      conditions: next.status?.conditions,
    };
    if (Object.keys(disrupted).length) next.status.disruptedPods = disrupted;
    setDisruptionAllowedCondition(next, now);
    await this.client.update(PDB_RESOURCE, pdb.metadata.namespace, next, { subresource: 'status' });
  }

  /** upstream failSafe: at least make sure the eviction subresource allows nothing while the budget cannot be computed. */
  private async failSafe(pdb: ObjectLike, err: Error): Promise<void> {
    const next = structuredClone(pdb);
    const st = (next.status ??= {});
    st.disruptionsAllowed = 0;
    const conditions: any[] = [...(st.conditions ?? [])];
    const i = conditions.findIndex((c) => c?.type === 'DisruptionAllowed');
    const prev = i >= 0 ? conditions[i] : undefined;
    const cond = {
      type: 'DisruptionAllowed',
      status: 'False',
      reason: 'SyncFailed',
      message: err.message,
      observedGeneration: st.observedGeneration ?? 0,
      lastTransitionTime: prev?.status === 'False' && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(this.now()),
    };
    if (i >= 0) conditions[i] = cond;
    else conditions.push(cond);
    st.conditions = conditions;
    if (jsonEqual(next.status, pdb.status)) return;
    await this.client.update(PDB_RESOURCE, pdb.metadata.namespace, next, { subresource: 'status' });
  }

  /**
   * upstream nonTerminatingPodHasStaleDisruptionCondition: milliseconds until a
   * DisruptionTarget=True condition on a pod that is not being deleted counts
   * as stale (0: already), or undefined when there is none to clean up.
   */
  private staleDisruptionWait(pod: ObjectLike): number | undefined {
    if (pod.metadata?.deletionTimestamp) return undefined;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return undefined;
    const cond = (pod.status?.conditions ?? []).find((c: any) => c?.type === 'DisruptionTarget');
    // Conditions the kubelet sets are never stale: its termination may take arbitrarily long to start.
    if (!cond || cond.status !== 'True' || cond.reason === 'TerminationByKubelet') return undefined;
    const since = Date.parse(cond.lastTransitionTime ?? '');
    const age = Number.isNaN(since) ? this.staleTimeoutMs : this.now().getTime() - since;
    return Math.max(0, this.staleTimeoutMs - age);
  }

  /** upstream syncStalePodDisruption: sets a stale DisruptionTarget condition to False. */
  private async syncStalePodDisruption(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    if (!pod) return;
    const wait = this.staleDisruptionWait(pod);
    if (wait === undefined) return;
    if (wait > 0) {
      this.staleQueue.addAfter(key, wait);
      return;
    }
    const next = structuredClone(pod);
    next.status.conditions = next.status.conditions.map((c: any) =>
      c.type === 'DisruptionTarget' ? { type: c.type, status: 'False', lastProbeTime: c.lastProbeTime ?? null, lastTransitionTime: rfc3339(this.now()) } : c,
    );
    try {
      await this.client.update(R.pods, namespace, next, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}

/** The group of an apiVersion (`apps/v1` → `apps`, `v1` → ''). */
function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** upstream pdbhelper.ConditionsAreUpToDate: the condition agrees with disruptionsAllowed and the generation was observed. */
function conditionsUpToDate(pdb: ObjectLike): boolean {
  const st = pdb.status ?? {};
  const cond = (st.conditions ?? []).find((c: any) => c?.type === 'DisruptionAllowed');
  if (!cond) return false;
  if ((st.observedGeneration ?? 0) !== (pdb.metadata.generation ?? 0)) return false;
  if ((st.disruptionsAllowed ?? 0) > 0) return cond.status === 'True' && cond.reason === 'SufficientPods';
  return cond.status === 'False' && cond.reason === 'InsufficientPods';
}
