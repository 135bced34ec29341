/**
 * The scheduler (upstream kube-scheduler's schedule_one.go and
 * eventhandlers.go): watches pending pods that name this scheduler and
 * places each on a node. A scheduling cycle — filter a sample of nodes,
 * score the feasible ones, assume the pod on the best — runs without
 * awaiting, so it reads the cache consistently; binding runs afterwards,
 * asynchronously, while the next pod is scheduled. Pods that fit nowhere
 * get a FailedScheduling event and a PodScheduled=False condition, and are
 * retried when the cluster changes.
 */
import { performance } from 'node:perf_hooks';
import type { Node, Pod } from '../api/generated/types.js';
import { R, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { SchedulerCache } from './cache.js';
import { fitErrorMessage, isRejected, isSuccess, messageOf, type CycleState, type Diagnosis, type PluginRegistry, type Profile, type Status } from './framework.js';
import type { NodeInfo, PodInfo } from './nodeinfo.js';
import { defaultProfile, inTreeRegistry } from './plugins/registry.js';
import { SchedulingQueue, type Clock, type QueueOptions, type QueuedPodInfo } from './queue.js';
import { Framework } from './runtime.js';
import { Nominator } from './nominator.js';

/** Upstream's ErrNoNodesAvailable message. */
export const ERR_NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

/** Below this many nodes every node is filtered (upstream minFeasibleNodesToFind). */
const MIN_FEASIBLE_NODES_TO_FIND = 100;
/** Lowest adaptive percentage of nodes to score (upstream minFeasibleNodesPercentageToFind). */
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;
/** Event messages are cut to this length (upstream truncateMessage). */
const MAX_EVENT_MESSAGE = 1024;

/** Configuration of a scheduler. */
export interface SchedulerConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  /** Pods whose `spec.schedulerName` is this are ours (default `default-scheduler`). */
  schedulerName?: string;
  clock?: Clock;
  /** Plugins by name (default: the in-tree registry); out-of-tree plugins are added here. */
  registry?: PluginRegistry;
  /** Enabled plugins and weights (default: upstream's default profile). */
  profile?: Profile;
  /** Queue timings (defaults are upstream's). */
  queue?: Omit<QueueOptions, 'clock'>;
  /** Percentage of nodes to find feasible before scoring; 0 = adaptive (upstream percentageOfNodesToScore). */
  percentageOfNodesToScore?: number;
}

/**
 * How many feasible nodes to look for before scoring (upstream
 * numFeasibleNodesToFind): all of them below 100 nodes, else an adaptive
 * share (50% minus 1% per 125 nodes, at least 5%), never fewer than 100.
 */
export function numFeasibleNodesToFind(numAllNodes: number, percentageOfNodesToScore = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  let percentage = percentageOfNodesToScore;
  if (percentage === 0) {
    percentage = 50 - Math.trunc(numAllNodes / 125);
    if (percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  const n = Math.trunc((numAllNodes * percentage) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

/** True once a pod is assigned to a node. */
function assigned(pod: Pod): boolean {
  return !!pod.spec?.nodeName;
}

/** Succeeded and Failed pods hold no resources (upstream's informer leaves them out with a field selector). */
function terminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Upstream isPodUpdated: did anything but status (and bookkeeping metadata) change? */
function podSpecChanged(old: Pod, pod: Pod): boolean {
  const strip = (p: Pod) => {
    const { resourceVersion: _rv, generation: _g, managedFields: _mf, finalizers: _f, ...meta } = p.metadata ?? {};
    return JSON.stringify([meta, p.spec]);
  };
  return strip(old) !== strip(pod);
}

/** Upstream nodeSchedulingPropertiesChange: only these node changes can make a pending pod fit. */
function nodeSchedulingPropertiesChanged(old: Node, node: Node): boolean {
  if (!!old.spec?.unschedulable !== !!node.spec?.unschedulable) return true;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  if (!same(old.status?.allocatable, node.status?.allocatable)) return true;
  if (!same(old.metadata?.labels, node.metadata?.labels)) return true;
  if (!same(old.spec?.taints, node.spec?.taints)) return true;
  // Conditions count by type and status only, so heartbeats do not requeue everything.
  const conds = (n: Node) => (n.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',');
  return conds(old) !== conds(node);
}

/** The outcome of a scheduling algorithm run: a node, or why not. */
type ScheduleResult =
  | { host: string; evaluated: number; feasible: number }
  | { fitError: Diagnosis; numAllNodes: number }
  | { error: Status };

/** Counters of a scheduler's work (upstream exposes these as Prometheus metrics). */
export interface SchedulerMetrics {
  /** Pods bound. */
  scheduled: number;
  /** Attempts that ended unschedulable or in error. */
  failed: number;
  /** Time spent in scheduling cycles (filter, score, assume), in ms (upstream scheduling_algorithm_duration). */
  cycleMs: number;
}

/** Places pending pods on nodes. */
export class Scheduler {
  /** Work done so far. */
  readonly metrics: SchedulerMetrics = { scheduled: 0, failed: 0, cycleMs: 0 };
  /** The node infos and assumed pods (read-only outside the scheduler). */
  readonly cache = new SchedulerCache();
  /** Pending pods. */
  readonly queue: SchedulingQueue;
  readonly schedulerName: string;
  private readonly framework: Framework;
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly clock: Clock;
  private readonly percentageOfNodesToScore: number;
  private readonly pods: Informer<Pod>;
  private readonly nodes: Informer<Node>;
  private readonly informers: InformerFactory;
  /** Pending pods preemption nominated to a node, whose room others must leave free. */
  private readonly nominator = new Nominator();
  private nextStartNodeIndex = 0;
  private stopped = false;
  private readonly bindings = new Set<Promise<void>>();

  constructor(config: SchedulerConfig) {
    this.client = config.client;
    this.events = config.events;
    this.clock = config.clock ?? { now: () => Date.now() };
    this.schedulerName = config.schedulerName ?? 'default-scheduler';
    this.percentageOfNodesToScore = config.percentageOfNodesToScore ?? 0;
    const profile = config.profile ?? defaultProfile(this.schedulerName);
    this.framework = new Framework(config.registry ?? inTreeRegistry(), profile, {
      client: config.client,
      nodeInfos: () => this.cache.nodeInfos(),
      runFilterPlugins: (state, pod, node) => this.nominator.filter(node, pod, (n) => this.framework.runFilterPlugins(state, pod, n)),
      informers: config.informers,
      events: config.events,
      iterateOverWaitingPods: (fn) => this.framework.iterateOverWaitingPods(fn),
      activate: (keys, withoutBackoff) => this.queue.activate(keys, withoutBackoff),
      moveRequests: () => this.queue.moveRequests,
    });
    this.queue = new SchedulingQueue({ ...config.queue, clock: this.clock, less: this.framework.queueSort() });
    this.informers = config.informers;
    this.pods = config.informers.informer<Pod>(R.pods);
    this.nodes = config.informers.informer<Node>(R.nodes);
  }

  /** Registers the informer handlers, waits for the caches, and starts scheduling. */
  async start(): Promise<void> {
    this.nodes.addHandlers({
      onAdd: (n) => {
        this.cache.setNode(n);
        this.queue.moveAllToActiveOrBackoff();
      },
      onUpdate: (old, n) => {
        this.cache.setNode(n);
        if (nodeSchedulingPropertiesChanged(old, n)) this.queue.moveAllToActiveOrBackoff();
      },
      onDelete: (n) => this.cache.removeNode(n.metadata?.name ?? ''),
    });
    this.pods.addHandlers({
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (old, p) => this.podChanged(old, p),
      onDelete: (p) => {
        this.nominator.delete(p);
        // A pod deleted while held at Permit is released; its room frees up (upstream deletePodFromSchedulingQueue).
        if (p.metadata?.uid && this.framework.rejectWaitingPod(p.metadata.uid)) this.queue.moveAllToActiveOrBackoff();
        if (assigned(p)) {
          this.cache.removePod(p);
          // Freed resources may let pending pods fit (upstream: AssignedPodDelete).
          this.queue.moveAllToActiveOrBackoff();
        } else this.queue.delete(p);
      },
    });
    // Plugins ask for their informers now; those (preemption's PodDisruptionBudgets, Coscheduling's PodGroups) start with ours.
    await this.framework.start();
    await Promise.all([this.nodes.start(), this.pods.start(), this.informers.start()]);
    void this.loop();
  }

  /** Stops scheduling; bindings already sent finish on their own. */
  stop(): void {
    this.stopped = true;
    this.queue.close();
    this.framework.stop();
  }

  /** Resolves when the bindings in flight have finished (tests and benchmarks). */
  async bindingsSettled(): Promise<void> {
    while (this.bindings.size) await Promise.all([...this.bindings]);
  }

  private responsible(pod: Pod): boolean {
    return (pod.spec?.schedulerName || 'default-scheduler') === this.schedulerName;
  }

  private podChanged(old: Pod | undefined, pod: Pod): void {
    this.nominator.update(pod);
    if (assigned(pod)) {
      if (old && !assigned(old)) this.queue.delete(old);
      if (terminal(pod)) {
        this.cache.removePod(pod);
        if (old && !terminal(old)) this.queue.moveAllToActiveOrBackoff();
      } else this.cache.setAssignedPod(pod);
      return;
    }
    // Pods being deleted, finished, gated or for another scheduler are not ours to place (upstream skipPodSchedule, SchedulingGates).
    if (!this.responsible(pod) || pod.metadata?.deletionTimestamp || terminal(pod) || pod.spec?.schedulingGates?.length) {
      this.queue.delete(pod);
      return;
    }
    if (old) this.queue.update(pod, podSpecChanged(old, pod));
    else this.queue.add(pod);
  }

  private async loop(): Promise<void> {
    let lastYield = performance.now();
    while (!this.stopped) {
      const qp = await this.queue.pop();
      if (!qp) return;
      const t0 = performance.now();
      try {
        this.scheduleOne(qp);
      } catch (e) {
        this.handleFailure(qp, { code: 'Error', reasons: [e instanceof Error ? e.message : String(e)] }, new Set());
      }
      this.metrics.cycleMs += performance.now() - t0;
      // Scheduling cycles do not await; give informers and bindings the event loop now and then.
      if (performance.now() - lastYield > 10) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  }

  /** One scheduling cycle for one pod (upstream scheduleOne/schedulingCycle); binding continues asynchronously. */
  scheduleOne(qp: QueuedPodInfo): void {
    const state: CycleState = new Map();
    const podInfo = qp.podInfo;
    const result = this.schedulePod(state, podInfo);
    if ('error' in result) return this.handleFailure(qp, result.error, new Set());
    if ('fitError' in result) {
      const diagnosis = result.fitError;
      // PostFilter (preemption) runs after a fit failure; its message joins the FitError.
      const post = this.framework.runPostFilter(state, podInfo, diagnosis);
      if (isRejected(post) && messageOf(post)) diagnosis.postFilterMsg = messageOf(post);
      const message = fitErrorMessage({ numAllNodes: result.numAllNodes, diagnosis });
      return this.handleFailure(qp, { code: 'Unschedulable', reasons: [message] }, diagnosis.unschedulablePlugins);
    }
    const host = result.host;
    // Assume: count the pod on the node now, so the next cycle sees it (upstream assume).
    this.cache.assumePod(podInfo, host);
    const reserved = this.framework.runReserve(state, podInfo, host);
    if (!isSuccess(reserved)) {
      this.cache.forgetPod(podInfo.key);
      return this.handleFailure(qp, reserved, new Set());
    }
    const permit = this.framework.runPermit(state, podInfo, host, () => this.release(state, podInfo, host));
    if (permit.code !== 'Wait' && !isSuccess(permit)) {
      this.framework.runUnreserve(state, podInfo, host);
      this.cache.forgetPod(podInfo.key);
      return this.permitFailure(qp, host, permit);
    }
    const binding = this.bindingCycle(state, qp, host);
    this.bindings.add(binding);
    // bindingCycle handles its own failures; the catch only keeps a programming error from becoming an unhandled rejection.
    void binding.catch(() => {}).finally(() => this.bindings.delete(binding));
  }

  /**
   * A Permit rejection (in the scheduling cycle or while held): reported as
   * upstream reports it, as a FitError over the one chosen node.
   */
  private permitFailure(qp: QueuedPodInfo, host: string, status: Status): void {
    const plugin = 'plugin' in status && status.plugin ? status.plugin : undefined;
    if (!isRejected(status)) return this.handleFailure(qp, status, new Set());
    const diagnosis: Diagnosis = { nodeToStatus: new Map([[host, status]]), unschedulablePlugins: new Set(plugin ? [plugin] : []) };
    this.handleFailure(qp, { code: status.code, reasons: [fitErrorMessage({ numAllNodes: 1, diagnosis })] }, diagnosis.unschedulablePlugins);
  }

  private async bindingCycle(state: CycleState, qp: QueuedPodInfo, host: string): Promise<void> {
    const pod = qp.podInfo.pod;
    // A pod held at Permit (a gang member waiting for its siblings) binds only once allowed.
    const permitted = await this.framework.waitOnPermit(qp.podInfo);
    // The rejection already gave the room back (release, run by the rejection itself).
    if (!isSuccess(permitted)) {
      // Held pods are let go when the scheduler stops: nothing to report then.
      if (this.stopped) return this.queue.done(qp.podInfo.key);
      return this.permitFailure(qp, host, permitted);
    }
    const status = await this.framework.runBind(state, pod, host);
    if (isSuccess(status)) {
      this.metrics.scheduled++;
      this.queue.done(qp.podInfo.key);
      const ns = pod.metadata?.namespace ?? '';
      void this.events.event(pod as any, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${pod.metadata?.name} to ${host}`);
      return;
    }
    this.release(state, qp.podInfo, host);
    this.handleFailure(qp, status, new Set());
  }

  /**
   * Gives back the room of an assumed pod that will not be bound: Unreserve,
   * forget, and retry the pods that may fit now — upstream treats this as an
   * assigned pod's deletion. It is not counted as a cluster change (see
   * SchedulingQueue.moveRequests); the pod itself is not queued yet, so it stays out.
   */
  private release(state: CycleState, pod: PodInfo, host: string): void {
    this.framework.runUnreserve(state, pod, host);
    this.cache.forgetPod(pod.key);
    this.queue.moveAllToActiveOrBackoff(false);
  }

  /** The scheduling algorithm: filter, then score (upstream schedulePod). */
  private schedulePod(state: CycleState, pod: PodInfo): ScheduleResult {
    const nodes = this.cache.nodeInfos();
    const numAllNodes = nodes.length;
    if (numAllNodes === 0) return { error: { code: 'UnschedulableAndUnresolvable', reasons: [ERR_NO_NODES_AVAILABLE] } };
    const diagnosis: Diagnosis = { nodeToStatus: new Map(), unschedulablePlugins: new Set() };
    const pre = this.framework.runPreFilter(state, pod);
    if (pre.status.code === 'Error') return { error: pre.status };
    if (isRejected(pre.status)) {
      // A PreFilter rejection applies to every node (upstream: the same status for all nodes, message once).
      diagnosis.preFilterMsg = messageOf(pre.status);
      for (const n of nodes) diagnosis.nodeToStatus.set(n.name, pre.status);
      if (pre.status.plugin) diagnosis.unschedulablePlugins.add(pre.status.plugin);
      return { fitError: diagnosis, numAllNodes };
    }
    const filters = pre.filters;
    const want = numFeasibleNodesToFind(numAllNodes, this.percentageOfNodesToScore);
    const feasible: NodeInfo[] = [];
    let processed = 0;
    const start = this.nextStartNodeIndex % numAllNodes;
    const runFilters = (n: NodeInfo) => this.framework.runFilter(state, pod, n, filters);
    // Nominations are rare: without any, each node is filtered directly (the same result, no wrapper per node).
    const anyNominated = this.nominator.size > 0;
    for (let i = 0, at = start; i < numAllNodes && feasible.length < want; i++, at = at + 1 === numAllNodes ? 0 : at + 1) {
      const node = nodes[at]!;
      processed++;
      const s = anyNominated ? this.nominator.filter(node, pod, runFilters) : runFilters(node);
      if (s.code === 'Success') feasible.push(node);
      else if (s.code === 'Error') return { error: s };
      else {
        diagnosis.nodeToStatus.set(node.name, s);
        if ('plugin' in s && s.plugin) diagnosis.unschedulablePlugins.add(s.plugin);
      }
    }
    // Start the next pod's search where this one stopped, so all nodes get their turn (upstream nextStartNodeIndex).
    this.nextStartNodeIndex = (start + processed) % numAllNodes;
    if (feasible.length === 0) return { fitError: diagnosis, numAllNodes };
    if (feasible.length === 1) return { host: feasible[0]!.name, evaluated: processed, feasible: 1 };
    const scores = this.framework.runScore(state, pod, feasible);
    return { host: selectHost(feasible, scores), evaluated: processed, feasible: feasible.length };
  }

  /**
   * A failed attempt (upstream handleSchedulingFailure): requeue the pod
   * unless it was deleted or bound meanwhile, record FailedScheduling, and
   * set PodScheduled=False on the pod.
   */
  private handleFailure(qp: QueuedPodInfo, status: Status, unschedulablePlugins: Set<string>): void {
    this.metrics.failed++;
    const pod = qp.podInfo.pod;
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const current = this.pods.get(ns, name);
    if (!current || current.metadata?.uid !== pod.metadata?.uid || assigned(current)) {
      this.queue.done(qp.podInfo.key);
      return;
    }
    qp.unschedulablePlugins = unschedulablePlugins;
    // Without a plugin to blame (no nodes, errors) the pod is retried after backoff rather than waiting for an event.
    const rejected = isRejected(status);
    this.queue.requeue(qp, rejected && unschedulablePlugins.size > 0);
    const message = messageOf(status);
    const eventMessage = message.length > MAX_EVENT_MESSAGE ? message.slice(0, MAX_EVENT_MESSAGE - 4) + ' ...' : message;
    void this.events.event(current as any, 'Warning', 'FailedScheduling', eventMessage);
    void this.setUnschedulableCondition(current, rejected ? 'Unschedulable' : 'SchedulerError', message);
  }

  /** Writes PodScheduled=False with the reason and message, unless the pod already says so (upstream updatePod). */
  private async setUnschedulableCondition(pod: Pod, reason: string, message: string): Promise<void> {
    const old = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (old && old.status === 'False' && old.reason === reason && old.message === message) return;
    const lastTransitionTime = old && old.status === 'False' && old.lastTransitionTime ? old.lastTransitionTime : new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      await this.client.patch(
        R.pods,
        pod.metadata?.namespace ?? '',
        pod.metadata?.name ?? '',
        'strategic',
        { status: { conditions: [{ type: 'PodScheduled', status: 'False', reason, message, lastTransitionTime }] } },
        { subresource: 'status' },
      );
    } catch {
      // The pod may be gone or bound meanwhile; the next attempt writes again if still needed.
    }
  }
}

/** The node with the highest score, a random one among equals (upstream selectHost). */
export function selectHost(nodes: readonly NodeInfo[], scores: readonly number[]): string {
  let best = 0;
  let ties = 1;
  for (let i = 1; i < nodes.length; i++) {
    if (scores[i]! > scores[best]!) {
      best = i;
      ties = 1;
    } else if (scores[i] === scores[best]) {
      // Reservoir sampling: each of the equal nodes ends up chosen with the same probability.
      ties++;
      if (Math.random() * ties < 1) best = i;
    }
  }
  return nodes[best]!.name;
}
