/**
 * What the scheduler knows about nodes and pods, in numbers: a pod's
 * effective requests (computed once per pod), a node's allocatable and the
 * sum of requests of the pods assigned (or assumed) to it — upstream's
 * framework.NodeInfo / PodInfo and component-helpers' PodRequests.
 * Quantities are parsed once into JS numbers (milli-units for cpu, units
 * for everything else), as upstream keeps int64s.
 */
import type { Node, Pod, Taint } from '../api/generated/types.js';
import { parseQuantity } from '../api/quantity.js';

/** Resource amounts: cpu in millicores, the rest in whole units (bytes, pods, devices). */
export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  /** The `pods` resource (meaningful for allocatable only). */
  allowedPodNumber: number;
  /** Extended and other scalar resources (`nvidia.com/gpu`, `hugepages-2Mi`, …); absent when none. */
  scalar?: Map<string, number>;
}

/** A host port a pod asks for. */
export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

/** A pod with the numbers the scheduler needs, computed once. */
export interface PodInfo {
  readonly pod: Pod;
  /** `namespace/name`. */
  readonly key: string;
  readonly priority: number;
  /** Effective requests (containers, init containers' max, sidecars, overhead). */
  readonly requests: Resources;
  /** cpu/memory requests with upstream's defaults (100m, 200Mi) for containers that set none; used in scoring. */
  readonly nonZeroCPU: number;
  readonly nonZeroMemory: number;
  readonly hostPorts: readonly HostPort[];
  /** The scalar requests that are not zero, as parallel name/amount lists: filters check them on every node without allocating. */
  readonly scalarNames: readonly string[];
  readonly scalarAmounts: readonly number[];
}

/** A node and what is assigned to it. `node` is undefined while pods name a node the cache has not seen. */
export interface NodeInfo {
  readonly name: string;
  node: Node | undefined;
  labels: Readonly<Record<string, string>>;
  taints: readonly Taint[];
  unschedulable: boolean;
  allocatable: Resources;
  requested: Resources;
  nonZeroCPU: number;
  nonZeroMemory: number;
  readonly pods: Map<string, PodInfo>;
  /** `PROTOCOL/port` → host IPs in use. */
  readonly usedPorts: Map<string, Set<string>>;
  /** The numbers filters and scores read for every node of every cycle, side by side (slots: see Fit); kept current by setNode/addPod/removePod. */
  fit: Float64Array;
  /** The scalar resources in `fit`, in slot order from Fit.FirstScalar. */
  fitScalars: readonly string[];
}

/**
 * Slots of NodeInfo.fit: what is free, allocatable and requested, in one
 * small typed array per node, so that filtering hundreds of nodes per pod
 * reads one block of memory per node rather than a dozen objects and maps.
 */
export const enum Fit {
  FreePods = 0,
  FreeCPU,
  FreeMemory,
  FreeEphemeralStorage,
  AllocatableCPU,
  AllocatableMemory,
  RequestedCPU,
  RequestedMemory,
  NonZeroCPU,
  NonZeroMemory,
  /** Free amounts of `fitScalars`, one slot each. */
  FirstScalar,
}

/** Scoring default for a container without a cpu request, in millicores (upstream schedutil.DefaultMilliCPURequest). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** Scoring default for a container without a memory request, in bytes (upstream schedutil.DefaultMemoryRequest). */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

/** Zero amounts. */
export function emptyResources(): Resources {
  return { milliCPU: 0, memory: 0, ephemeralStorage: 0, allowedPodNumber: 0 };
}

/** True for resources kept in `scalar` (upstream IsScalarResourceName: extended, hugepages, prefixed native, attachable volumes). */
export function isScalarResourceName(name: string): boolean {
  return name.includes('/') || name.startsWith('hugepages-') || name.startsWith('attachable-volumes-');
}

/** A quantity as the scheduler counts it (cpu: MilliValue, others: Value); 0 when unparseable (validation refuses those). */
function amount(name: string, v: unknown): number {
  if (v === undefined || v === null) return 0;
  try {
    const q = parseQuantity(v as string | number);
    return name === 'cpu' ? q.milliValue() : q.value();
  } catch {
    return 0;
  }
}

type List = Map<string, number>;

function listOf(rl: Readonly<Record<string, unknown>> | undefined): List {
  const m: List = new Map();
  if (rl) for (const k in rl) m.set(k, amount(k, rl[k]));
  return m;
}

/** A resource list (a PodGroup's minResources, say) in the scheduler's units: cpu in millicores, the rest in whole units. */
export function resourceList(rl: Readonly<Record<string, unknown>> | undefined): Map<string, number> {
  return listOf(rl);
}

function addTo(into: List, l: List): void {
  for (const [k, v] of l) into.set(k, (into.get(k) ?? 0) + v);
}

function maxInto(into: List, l: List): void {
  for (const [k, v] of l) if (v > (into.get(k) ?? 0)) into.set(k, v);
}

/**
 * The pod's requests as upstream resourcehelper.PodRequests computes them:
 * containers summed; restartable (sidecar) init containers added and carried
 * into each later init container; the max of that and the init containers;
 * plus `spec.overhead`. With `nonMissing`, containers missing a cpu/memory
 * request count the scoring defaults.
 */
export function podRequestList(pod: Pod, nonMissing = false): Map<string, number> {
  const spec: any = pod.spec ?? {};
  const withDefaults = (c: any): List => {
    const l = listOf(c.resources?.requests);
    if (nonMissing) {
      if (!l.has('cpu')) l.set('cpu', DEFAULT_MILLI_CPU_REQUEST);
      if (!l.has('memory')) l.set('memory', DEFAULT_MEMORY_REQUEST);
    }
    return l;
  };
  const reqs: List = new Map();
  for (const c of spec.containers ?? []) addTo(reqs, withDefaults(c));
  const sidecars: List = new Map();
  const init: List = new Map();
  for (const c of spec.initContainers ?? []) {
    const l = withDefaults(c);
    if (c.restartPolicy === 'Always') {
      addTo(reqs, l);
      addTo(sidecars, l);
      maxInto(init, sidecars);
    } else {
      const tmp: List = new Map(l);
      addTo(tmp, sidecars);
      maxInto(init, tmp);
    }
  }
  maxInto(reqs, init);
  if (spec.overhead) addTo(reqs, listOf(spec.overhead));
  return reqs;
}

/** Resources from a resource list (allocatable or computed requests). */
export function toResources(l: Map<string, number>): Resources {
  const r = emptyResources();
  for (const [k, v] of l) {
    switch (k) {
      case 'cpu': r.milliCPU = v; break;
      case 'memory': r.memory = v; break;
      case 'ephemeral-storage': r.ephemeralStorage = v; break;
      case 'pods': r.allowedPodNumber = v; break;
      default:
        if (isScalarResourceName(k)) (r.scalar ??= new Map()).set(k, v);
    }
  }
  return r;
}

/** The host ports of a pod's containers (upstream getContainerPorts: hostIP defaults to 0.0.0.0, protocol to TCP). */
export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of (pod.spec as any)?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

/** `namespace/name` of a pod. */
export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

/** Computes the scheduler's view of a pod (once per pod object). */
export function newPodInfo(pod: Pod): PodInfo {
  const nonZero = podRequestList(pod, true);
  const requests = toResources(podRequestList(pod));
  const scalarNames: string[] = [];
  const scalarAmounts: number[] = [];
  for (const [k, v] of requests.scalar ?? []) {
    if (v === 0) continue;
    scalarNames.push(k);
    scalarAmounts.push(v);
  }
  return {
    pod,
    key: podKey(pod),
    priority: pod.spec?.priority ?? 0,
    requests,
    nonZeroCPU: nonZero.get('cpu') ?? 0,
    nonZeroMemory: nonZero.get('memory') ?? 0,
    hostPorts: podHostPorts(pod),
    scalarNames,
    scalarAmounts,
  };
}

/** The taints of every untainted node: one shared array, so the per-node taint checks of a cycle read memory that is already cached. */
const NO_TAINTS: readonly Taint[] = Object.freeze([]);

/** An empty node info for a node name. */
export function newNodeInfo(name: string, node?: Node): NodeInfo {
  const info: NodeInfo = {
    name,
    node: undefined,
    labels: {},
    taints: NO_TAINTS,
    unschedulable: false,
    allocatable: emptyResources(),
    requested: emptyResources(),
    nonZeroCPU: 0,
    nonZeroMemory: 0,
    pods: new Map(),
    usedPorts: new Map(),
    fit: new Float64Array(Fit.FirstScalar),
    fitScalars: [],
  };
  if (node) setNode(info, node);
  return info;
}

/** Recomputes NodeInfo.fit from allocatable and requested (after every change to either). */
function refreshFit(info: NodeInfo): void {
  const a = info.allocatable;
  const u = info.requested;
  // Scalars of either side have a slot: a resource requested but not allocatable is free in the negative, as allocatable minus requested says.
  let names = info.fitScalars;
  let same = true;
  let count = 0;
  for (const k of a.scalar?.keys() ?? []) {
    count++;
    if (!names.includes(k)) same = false;
  }
  for (const k of u.scalar?.keys() ?? []) {
    if (a.scalar?.has(k)) continue;
    count++;
    if (!names.includes(k)) same = false;
  }
  if (!same || count !== names.length) {
    const all = new Set([...(a.scalar?.keys() ?? []), ...(u.scalar?.keys() ?? [])]);
    names = info.fitScalars = [...all];
  }
  let f = info.fit;
  if (f.length !== Fit.FirstScalar + names.length) f = info.fit = new Float64Array(Fit.FirstScalar + names.length);
  f[Fit.FreePods] = a.allowedPodNumber - info.pods.size;
  f[Fit.FreeCPU] = a.milliCPU - u.milliCPU;
  f[Fit.FreeMemory] = a.memory - u.memory;
  f[Fit.FreeEphemeralStorage] = a.ephemeralStorage - u.ephemeralStorage;
  f[Fit.AllocatableCPU] = a.milliCPU;
  f[Fit.AllocatableMemory] = a.memory;
  f[Fit.RequestedCPU] = u.milliCPU;
  f[Fit.RequestedMemory] = u.memory;
  f[Fit.NonZeroCPU] = info.nonZeroCPU;
  f[Fit.NonZeroMemory] = info.nonZeroMemory;
  for (let i = 0; i < names.length; i++) f[Fit.FirstScalar + i] = (a.scalar?.get(names[i]!) ?? 0) - (u.scalar?.get(names[i]!) ?? 0);
}

/** Points the info at a (new version of the) node, re-reading labels, taints and allocatable. */
export function setNode(info: NodeInfo, node: Node): void {
  info.node = node;
  info.labels = node.metadata?.labels ?? {};
  info.taints = node.spec?.taints?.length ? node.spec.taints : NO_TAINTS;
  info.unschedulable = !!node.spec?.unschedulable;
  info.allocatable = toResources(listOf(node.status?.allocatable));
  refreshFit(info);
}

function addResources(into: Resources, r: Resources, sign: 1 | -1): void {
  into.milliCPU += sign * r.milliCPU;
  into.memory += sign * r.memory;
  into.ephemeralStorage += sign * r.ephemeralStorage;
  if (r.scalar) {
    const s = (into.scalar ??= new Map());
    for (const [k, v] of r.scalar) s.set(k, (s.get(k) ?? 0) + sign * v);
  }
}

/** Counts a pod on the node (requests, ports). The caller ensures it is not already counted. */
export function addPod(info: NodeInfo, p: PodInfo): void {
  info.pods.set(p.key, p);
  addResources(info.requested, p.requests, 1);
  info.nonZeroCPU += p.nonZeroCPU;
  info.nonZeroMemory += p.nonZeroMemory;
  addPorts(info, p);
  refreshFit(info);
}

function addPorts(info: NodeInfo, p: PodInfo): void {
  for (const hp of p.hostPorts) {
    const k = `${hp.protocol}/${hp.port}`;
    let ips = info.usedPorts.get(k);
    if (!ips) info.usedPorts.set(k, (ips = new Set()));
    ips.add(hp.ip);
  }
}

/** A copy of a node info that may be changed without touching the original (the pod infos are shared; they are immutable). */
export function cloneNodeInfo(info: NodeInfo): NodeInfo {
  const c = newNodeInfo(info.name, info.node);
  for (const p of info.pods.values()) addPod(c, p);
  return c;
}

/** Stops counting a pod on the node; false if it was not there. */
export function removePod(info: NodeInfo, key: string): boolean {
  const p = info.pods.get(key);
  if (!p) return false;
  info.pods.delete(key);
  addResources(info.requested, p.requests, -1);
  info.nonZeroCPU -= p.nonZeroCPU;
  info.nonZeroMemory -= p.nonZeroMemory;
  if (p.hostPorts.length) {
    // Ports are a set, not a count: rebuild them from the remaining pods.
    info.usedPorts.clear();
    for (const q of info.pods.values()) addPorts(info, q);
  }
  refreshFit(info);
  return true;
}
