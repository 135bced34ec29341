/**
 * NodeResourcesFit and NodeResourcesBalancedAllocation (upstream
 * plugins/noderesources): a pod fits a node when its requests fit in the
 * node's allocatable minus what the pods there already request — cpu,
 * memory, ephemeral-storage, the pod count and scalar resources such as
 * `nvidia.com/gpu`. Scoring spreads pods (LeastAllocated, the default
 * strategy) and keeps cpu and memory use balanced.
 */
import { MAX_NODE_SCORE, SKIP, SUCCESS, unschedulable, type Plugin, type Status } from '../framework.js';
import { Fit, type NodeInfo, type PodInfo } from '../nodeinfo.js';

/** Registered name of the fit plugin. */
export const FIT_NAME = 'NodeResourcesFit';
/** Registered name of the balance plugin. */
export const BALANCED_NAME = 'NodeResourcesBalancedAllocation';

/** True if the pod fits the node's free resources (the allocation-free fast path of insufficientResources, reading NodeInfo.fit). */
export function fitsRequest(pod: PodInfo, node: NodeInfo): boolean {
  const r = pod.requests;
  const f = node.fit;
  if (f[Fit.FreePods]! < 1) return false;
  if (r.milliCPU > 0 && r.milliCPU > f[Fit.FreeCPU]!) return false;
  if (r.memory > 0 && r.memory > f[Fit.FreeMemory]!) return false;
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > f[Fit.FreeEphemeralStorage]!) return false;
  const names = pod.scalarNames;
  if (names.length === 0) return true;
  const amounts = pod.scalarAmounts;
  const slots = node.fitScalars;
  for (let i = 0; i < names.length; i++) {
    const at = slots.indexOf(names[i]!);
    // A resource the node neither has nor has handed out is 0 free.
    if (amounts[i]! > (at < 0 ? 0 : f[Fit.FirstScalar + at]!)) return false;
  }
  return true;
}

/** The reasons the pod does not fit the node, in upstream's order (empty when it fits); upstream fitsRequest. */
export function insufficientResources(pod: PodInfo, node: NodeInfo): string[] {
  const out: string[] = [];
  const r = pod.requests;
  const alloc = node.allocatable;
  const used = node.requested;
  if (node.pods.size + 1 > alloc.allowedPodNumber) out.push('Too many pods');
  if (r.milliCPU === 0 && r.memory === 0 && r.ephemeralStorage === 0 && !r.scalar?.size) return out;
  if (r.milliCPU > 0 && r.milliCPU > alloc.milliCPU - used.milliCPU) out.push('Insufficient cpu');
  if (r.memory > 0 && r.memory > alloc.memory - used.memory) out.push('Insufficient memory');
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage) out.push('Insufficient ephemeral-storage');
  if (r.scalar) {
    for (const [name, q] of r.scalar) {
      if (q === 0) continue;
      if (q > (alloc.scalar?.get(name) ?? 0) - (used.scalar?.get(name) ?? 0)) out.push(`Insufficient ${name}`);
    }
  }
  return out;
}

/** Upstream leastRequestedScore: the free share of capacity after placing the pod, 0..100. */
function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** LeastAllocated score over cpu and memory (weight 1 each), with the non-zero request defaults. */
export function leastAllocatedScore(pod: PodInfo, node: NodeInfo): number {
  const f = node.fit;
  const cpuAlloc = f[Fit.AllocatableCPU]!;
  const memAlloc = f[Fit.AllocatableMemory]!;
  let sum = 0;
  let weights = 0;
  if (cpuAlloc !== 0) {
    sum += leastRequested(f[Fit.NonZeroCPU]! + pod.nonZeroCPU, cpuAlloc);
    weights++;
  }
  if (memAlloc !== 0) {
    sum += leastRequested(f[Fit.NonZeroMemory]! + pod.nonZeroMemory, memAlloc);
    weights++;
  }
  return weights === 0 ? 0 : Math.trunc(sum / weights);
}

/** Upstream balancedResourceScorer over cpu and memory: (1 - std of the used fractions) * 100, with real requests. */
export function balancedAllocationScore(pod: PodInfo, node: NodeInfo): number {
  // Written without temporaries: this runs for every feasible node of every pod.
  const f = node.fit;
  const cpuAlloc = f[Fit.AllocatableCPU]!;
  const memAlloc = f[Fit.AllocatableMemory]!;
  if (cpuAlloc === 0 || memAlloc === 0) return MAX_NODE_SCORE; // one fraction or none: std is 0
  const cpu = Math.min((f[Fit.RequestedCPU]! + pod.requests.milliCPU) / cpuAlloc, 1);
  const mem = Math.min((f[Fit.RequestedMemory]! + pod.requests.memory) / memAlloc, 1);
  const std = Math.abs((cpu - mem) / 2);
  return Math.trunc((1 - std) * MAX_NODE_SCORE);
}

/** Builds NodeResourcesFit. */
export function nodeResourcesFit(): Plugin {
  return {
    name: FIT_NAME,
    filter(_state, pod, node): Status {
      if (fitsRequest(pod, node)) return SUCCESS;
      // 1.32 answers Unschedulable for every shortage (preemption might free room).
      return unschedulable(...insufficientResources(pod, node));
    },
    score: (_state, pod, node) => leastAllocatedScore(pod, node),
  };
}

/** Builds NodeResourcesBalancedAllocation. */
export function nodeResourcesBalancedAllocation(): Plugin {
  return {
    name: BALANCED_NAME,
    // A pod requesting neither cpu nor memory changes no balance (upstream PreScore answers Skip).
    preScore: (_state, pod) => (pod.requests.milliCPU === 0 && pod.requests.memory === 0 ? SKIP : SUCCESS),
    score: (_state, pod, node) => balancedAllocationScore(pod, node),
  };
}
