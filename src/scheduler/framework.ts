/**
 * The scheduling framework: the stages a plugin may implement, the Status
 * value every stage answers with, and the per-cycle state — upstream's
 * pkg/scheduler/framework/interface.go in small. A plugin implements only
 * the stages it needs; expected outcomes (a node does not fit) are Status
 * values, never exceptions.
 */
import type { Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import type { Pod } from '../api/generated/types.js';
import type { NodeInfo, PodInfo } from './nodeinfo.js';
import type { QueuedPodInfo } from './queue.js';

/** Outcome codes of a plugin stage (upstream framework.Code, minus the ones Kite does not use yet). */
export type Code = 'Success' | 'Unschedulable' | 'UnschedulableAndUnresolvable' | 'Error' | 'Skip' | 'Wait';

/**
 * What a stage answers. `Unschedulable`: the pod does not fit now but may
 * after preemption or a cluster change; `UnschedulableAndUnresolvable`:
 * preemption cannot help; `Error`: something broke (the pod is retried
 * with backoff); `Skip`: a PreScore/PreFilter plugin has nothing to do for this pod;
 * `Wait` (Permit only): hold the assumed pod, unbound, for up to `timeoutMs`
 * until the plugin allows or rejects it.
 */
export type Status =
  | { readonly code: 'Success' }
  | { readonly code: 'Skip' }
  | { readonly code: 'Unschedulable' | 'UnschedulableAndUnresolvable'; readonly reasons: readonly string[]; plugin?: string }
  | { readonly code: 'Error'; readonly reasons: readonly string[]; plugin?: string }
  | { readonly code: 'Wait'; readonly timeoutMs: number; readonly reasons?: readonly string[]; plugin?: string };

/** The shared Success status (statuses are immutable). */
export const SUCCESS: Status = Object.freeze({ code: 'Success' });
/** The shared Skip status. */
export const SKIP: Status = Object.freeze({ code: 'Skip' });

/** A rejection that preemption might resolve. */
export function unschedulable(...reasons: string[]): Status {
  return { code: 'Unschedulable', reasons };
}

/** A rejection that preemption cannot resolve. */
export function unresolvable(...reasons: string[]): Status {
  return { code: 'UnschedulableAndUnresolvable', reasons };
}

/** A Permit answer: keep the pod reserved but unbound for up to `timeoutMs` (upstream framework.Wait). */
export function wait(timeoutMs: number): Status {
  return { code: 'Wait', timeoutMs };
}

/** An internal error (the pod is retried with backoff). */
export function errorStatus(message: string): Status {
  return { code: 'Error', reasons: [message] };
}

/** True for Success (and Skip, which lets the cycle go on). */
export function isSuccess(s: Status): boolean {
  return s.code === 'Success' || s.code === 'Skip';
}

/** True when the status rejects the pod (Unschedulable or UnschedulableAndUnresolvable). */
export function isRejected(s: Status): s is Extract<Status, { reasons: readonly string[] }> & { code: 'Unschedulable' | 'UnschedulableAndUnresolvable' } {
  return s.code === 'Unschedulable' || s.code === 'UnschedulableAndUnresolvable';
}

/** The reasons of a status ([] for Success/Skip). */
export function reasonsOf(s: Status): readonly string[] {
  return 'reasons' in s ? (s.reasons ?? []) : [];
}

/** The message of a status: its reasons joined with ", " (upstream Status.Message). */
export function messageOf(s: Status): string {
  return reasonsOf(s).join(', ');
}

/** Data plugins keep for the length of one scheduling cycle of one pod (upstream CycleState). */
export type CycleState = Map<string, unknown>;

/** A node's score from one plugin (0..MAX_NODE_SCORE after normalization). */
export interface NodeScore {
  name: string;
  score: number;
}

/** Highest score a plugin gives a node after normalization (upstream MaxNodeScore). */
export const MAX_NODE_SCORE = 100;

/** Why a pod fit no node: per-node statuses of the nodes that were filtered, plus pre/post filter messages. */
export interface Diagnosis {
  /** Status of each node that was rejected. */
  nodeToStatus: Map<string, Status>;
  /** Plugins that rejected the pod on some node (for requeueing decisions). */
  unschedulablePlugins: Set<string>;
  /** Message of a PreFilter plugin that rejected the pod for every node. */
  preFilterMsg?: string;
  /** Message of the PostFilter (preemption) stage. */
  postFilterMsg?: string;
  /** Status of the nodes not in nodeToStatus, if they count (upstream NodeToStatus.AbsentNodesStatus). */
  absentNodesStatus?: Status;
}

/** The failure of a scheduling attempt because no node fits (upstream framework.FitError). */
export interface FitError {
  numAllNodes: number;
  diagnosis: Diagnosis;
}

/**
 * The message of a FitError, exactly as upstream's FitError.Error():
 * `0/N nodes are available: <pre-filter msg>. <count reason, ...>. <post-filter msg>`
 * where the per-node reasons are counted and the "count reason" strings
 * sorted; when a PreFilter rejected the pod the per-node reasons are left out.
 * The post-filter message ends with its own period (no second one since upstream 1.28).
 */
export function fitErrorMessage(fe: FitError): string {
  let msg = `0/${fe.numAllNodes} nodes are available:`;
  const d = fe.diagnosis;
  if (d.preFilterMsg) {
    msg += ` ${d.preFilterMsg}.`;
  } else {
    const counts = new Map<string, number>();
    for (const s of d.nodeToStatus.values()) for (const r of reasonsOf(s)) counts.set(r, (counts.get(r) ?? 0) + 1);
    const absent = fe.numAllNodes - d.nodeToStatus.size;
    if (d.absentNodesStatus && absent > 0) for (const r of reasonsOf(d.absentNodesStatus)) counts.set(r, (counts.get(r) ?? 0) + absent);
    const parts = [...counts].map(([r, n]) => `${n} ${r}`);
    // Go's sort.Strings: byte-wise order, which is what JS's default sort gives for these ASCII strings.
    parts.sort();
    if (parts.length) msg += ` ${parts.join(', ')}.`;
  }
  if (d.postFilterMsg) msg += ` ${d.postFilterMsg}`;
  return msg;
}

/**
 * A pod that Permit holds: assumed on its node, reserved, not bound
 * (upstream framework.WaitingPod). It is bound once every plugin that asked
 * it to wait allows it; a rejection, or a plugin's timeout, unreserves it.
 */
export interface WaitingPod {
  readonly pod: PodInfo;
  readonly nodeName: string;
  /** One plugin lets the pod go on; it is bound when no plugin still holds it. */
  allow(plugin: string): void;
  /** Releases the pod as unschedulable with this message (upstream WaitingPod.Reject). */
  reject(plugin: string, message: string): void;
}

/** What plugins may use from the scheduler (upstream framework.Handle). */
export interface FrameworkHandle {
  client: Client;
  /** The scheduler's node infos (read-only), e.g. for preemption. */
  nodeInfos(): readonly NodeInfo[];
  /** Runs every Filter plugin of the profile for the pod on a node info — preemption's what-if check on a copy (upstream RunFilterPluginsWithNominatedPods). */
  runFilterPlugins?(state: CycleState, pod: PodInfo, node: NodeInfo): Status;
  /** The scheduler's shared informers (e.g. PodDisruptionBudgets); those handed out before start() are started with the scheduler. */
  informers?: InformerFactory;
  /** Records events as the scheduler (upstream Handle.EventRecorder). */
  events?: EventRecorder;
  /** Calls `fn` for each pod Permit holds (upstream Handle.IterateOverWaitingPods). */
  iterateOverWaitingPods?(fn: (wp: WaitingPod) => void): void;
  /**
   * Retries these pending pods (`namespace/name` keys) now, honouring their backoff unless `withoutBackoff`
   * (upstream Handle.Activate, queueing-hint style; without backoff as for pods released from PreEnqueue).
   */
  activate?(keys: Iterable<string>, withoutBackoff?: boolean): void;
  /** How many times the queue has retried unschedulable pods on a cluster change so far (upstream's moveRequestCycle). */
  moveRequests?(): number;
}

/**
 * A scheduler plugin. Every stage is optional; a plugin implements those it
 * needs. Synchronous stages run inside the scheduling cycle (which reads a
 * consistent cache because nothing else runs meanwhile); `bind` runs in the
 * binding cycle, off the scheduling path.
 */
export interface Plugin {
  readonly name: string;
  /** Prepares the plugin before the scheduler starts (e.g. asks for informers, which then start with the scheduler's). */
  start?(): Promise<void>;
  /** Releases what start() set up (timers). */
  stop?(): void;
  /** QueueSort: true if `a` is to be scheduled before `b`; the first plugin of the profile with it orders the queue (upstream QueueSortPlugin.Less). */
  less?(a: QueuedPodInfo, b: QueuedPodInfo): boolean;
  /** Once per cycle before filtering; may compute pod data into `state`, reject the pod outright, or Skip its filter. */
  preFilter?(state: CycleState, pod: PodInfo): Status;
  /** Does the pod fit this node? */
  filter?(state: CycleState, pod: PodInfo, node: NodeInfo): Status;
  /** After no node fit (preemption lives here). Its message goes into the FitError. */
  postFilter?(state: CycleState, pod: PodInfo, diagnosis: Diagnosis): Status;
  /** Once per cycle before scoring the feasible nodes; Skip leaves this plugin's score out. */
  preScore?(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[]): Status;
  /** Raw score of a feasible node (normalized afterwards if the plugin has normalizeScore). */
  score?(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** Rescales this plugin's raw scores to 0..MAX_NODE_SCORE in place. */
  normalizeScore?(state: CycleState, pod: PodInfo, scores: NodeScore[]): void;
  /** The pod was assumed on the node; reserve plugin-held resources. */
  reserve?(state: CycleState, pod: PodInfo, nodeName: string): Status;
  /** Undo reserve (the cycle or the binding failed). Must be idempotent. */
  unreserve?(state: CycleState, pod: PodInfo, nodeName: string): void;
  /** Last say before binding: Success, a rejection, or Wait (the pod stays reserved until allowed, rejected or timed out). */
  permit?(state: CycleState, pod: PodInfo, nodeName: string): Status;
  /** Binds the pod to the node in the API (the first plugin not answering Skip wins). */
  bind?(state: CycleState, pod: Pod, nodeName: string): Promise<Status>;
}

/** Builds a plugin from the framework handle (upstream PluginFactory). */
export type PluginFactory = (handle: FrameworkHandle) => Plugin;

/** Plugins by name (upstream plugins/registry.go). */
export type PluginRegistry = ReadonlyMap<string, PluginFactory>;

/** Which plugins run, in which order (filter order matters for messages), and score weights. */
export interface Profile {
  schedulerName: string;
  plugins: readonly { name: string; weight?: number }[];
}
