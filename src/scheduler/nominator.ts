/**
 * The nominator (upstream backend/queue's nominator and the framework's
 * RunFilterPluginsWithNominatedPods): pending pods that preemption nominated
 * to a node (status.nominatedNodeName) keep their room there. While such a
 * pod waits for its victims to go, pods of no higher priority are filtered
 * as if it were already on the node, so they cannot take the room it freed.
 */
import type { Pod } from '../api/generated/types.js';
import { isSuccess, type Status } from './framework.js';
import { addPod, cloneNodeInfo, newPodInfo, podKey, type NodeInfo, type PodInfo } from './nodeinfo.js';

/** Nominated pods by node. */
export class Nominator {
  private readonly byNode = new Map<string, Map<string, PodInfo>>();
  private readonly nodeOf = new Map<string, string>();

  /** Records a pod's nomination from its status, or forgets it once the pod is bound, deleting or no longer nominated. */
  update(pod: Pod): void {
    const key = podKey(pod);
    this.forget(key);
    const node = pod.status?.nominatedNodeName;
    if (!node || pod.spec?.nodeName || pod.metadata?.deletionTimestamp) return;
    let m = this.byNode.get(node);
    if (!m) this.byNode.set(node, (m = new Map()));
    m.set(key, newPodInfo(pod));
    this.nodeOf.set(key, node);
  }

  /** Forgets a deleted pod. */
  delete(pod: Pod): void {
    this.forget(podKey(pod));
  }

  private forget(key: string): void {
    const node = this.nodeOf.get(key);
    if (node === undefined) return;
    this.nodeOf.delete(key);
    const m = this.byNode.get(node);
    m?.delete(key);
    if (m?.size === 0) this.byNode.delete(node);
  }

  /** Number of nodes with nominated pods. */
  get size(): number {
    return this.byNode.size;
  }

  /** Pods nominated to the node that the pod must leave room for: other pods of at least its priority. */
  nominatedFor(node: string, pod: PodInfo): PodInfo[] {
    const m = this.byNode.get(node);
    if (!m) return [];
    const out: PodInfo[] = [];
    for (const p of m.values()) if (p.key !== pod.key && p.priority >= pod.priority) out.push(p);
    return out;
  }

  /**
   * upstream RunFilterPluginsWithNominatedPods: the filters must pass with the
   * nominated pods added to the node and, as they may never arrive, without them.
   */
  filter(node: NodeInfo, pod: PodInfo, run: (node: NodeInfo) => Status): Status {
    const nominated = this.nominatedFor(node.name, pod);
    if (nominated.length === 0) return run(node);
    const withNominated = cloneNodeInfo(node);
    for (const p of nominated) if (!withNominated.pods.has(p.key)) addPod(withNominated, p);
    const s = run(withNominated);
    if (!isSuccess(s)) return s;
    return run(node);
  }
}
