/**
 * The scheduler's cache: one NodeInfo per node, kept current incrementally
 * from the node and pod informers, plus pods the scheduler has "assumed"
 * onto a node before the API shows them bound (upstream
 * pkg/scheduler/backend/cache). Because a scheduling cycle runs without
 * awaiting, it reads this cache directly; there is no snapshot to copy.
 */
import type { Node, Pod } from '../api/generated/types.js';
import { addPod, newNodeInfo, newPodInfo, podKey, removePod, setNode, type NodeInfo, type PodInfo } from './nodeinfo.js';

interface PodState {
  info: PodInfo;
  nodeName: string;
  /** Bound by this scheduler and not yet seen bound through the informer. */
  assumed: boolean;
}

/** Node infos by name, and where each assigned or assumed pod is counted. */
export class SchedulerCache {
  private readonly infos = new Map<string, NodeInfo>();
  /** Nodes that exist, in a stable order (the scheduler filters them round-robin). */
  private readonly list: NodeInfo[] = [];
  private readonly position = new Map<string, number>();
  private readonly pods = new Map<string, PodState>();

  /** Nodes that exist (not placeholders kept for pods of a deleted or unseen node). */
  nodeInfos(): readonly NodeInfo[] {
    return this.list;
  }

  /** The info of a node, if it exists. */
  nodeInfo(name: string): NodeInfo | undefined {
    const i = this.infos.get(name);
    return i?.node ? i : undefined;
  }

  /** Number of existing nodes. */
  get nodeCount(): number {
    return this.list.length;
  }

  /** Adds or updates a node. */
  setNode(node: Node): void {
    const name = node.metadata?.name ?? '';
    let info = this.infos.get(name);
    if (!info) this.infos.set(name, (info = newNodeInfo(name)));
    setNode(info, node);
    if (!this.position.has(name)) {
      this.position.set(name, this.list.length);
      this.list.push(info);
    }
  }

  /** Removes a node; its pods stay counted on a placeholder until they go (upstream keeps them too). */
  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info) return;
    info.node = undefined;
    const at = this.position.get(name);
    if (at !== undefined) {
      // Swap-remove keeps removal O(1); the order only seeds round-robin filtering.
      const last = this.list.pop()!;
      if (last !== info) {
        this.list[at] = last;
        this.position.set(last.name, at);
      }
      this.position.delete(name);
    }
    if (info.pods.size === 0) this.infos.delete(name);
  }

  private infoFor(nodeName: string): NodeInfo {
    let info = this.infos.get(nodeName);
    if (!info) this.infos.set(nodeName, (info = newNodeInfo(nodeName)));
    return info;
  }

  private uncount(key: string): void {
    const st = this.pods.get(key);
    if (!st) return;
    const info = this.infos.get(st.nodeName);
    if (info) {
      removePod(info, key);
      if (!info.node && info.pods.size === 0) this.infos.delete(st.nodeName);
    }
    this.pods.delete(key);
  }

  /**
   * Counts a pod the API shows assigned to a node (added or updated). An
   * assumed pod is confirmed: counted once, on the node the API says.
   */
  setAssignedPod(pod: Pod): void {
    const key = podKey(pod);
    const nodeName = pod.spec?.nodeName ?? '';
    this.uncount(key);
    const info = newPodInfo(pod);
    addPod(this.infoFor(nodeName), info);
    this.pods.set(key, { info, nodeName, assumed: false });
  }

  /** Stops counting a pod (deleted, or terminated: it no longer holds resources). */
  removePod(pod: Pod): void {
    this.uncount(podKey(pod));
  }

  /** Counts a pod on the node the scheduler chose, before binding (upstream AssumePod). */
  assumePod(info: PodInfo, nodeName: string): void {
    this.uncount(info.key);
    addPod(this.infoFor(nodeName), info);
    this.pods.set(info.key, { info, nodeName, assumed: true });
  }

  /** Undoes assumePod after a failed binding; a pod the informer already confirmed is left alone. */
  forgetPod(key: string): void {
    if (this.pods.get(key)?.assumed) this.uncount(key);
  }

  /** True while the pod is assumed and not yet confirmed. */
  isAssumed(key: string): boolean {
    return !!this.pods.get(key)?.assumed;
  }

  /** The node a pod is counted on, if any. */
  nodeOf(key: string): string | undefined {
    return this.pods.get(key)?.nodeName;
  }
}
