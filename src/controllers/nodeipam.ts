/**
 * Pod CIDRs for nodes — upstream's pkg/controller/nodeipam with the range
 * allocator (kube-controller-manager --allocate-node-cidrs, which k3s turns
 * on): the cluster CIDR (flannel's 10.244.0.0/16) is cut into /24s; a node
 * without `spec.podCIDR` gets the next free one (round robin after the last
 * one handed out, as cidrset.AllocateNext), a node that registers with its
 * own keeps it and marks it used, and a deleted node's CIDR is free again.
 * Allocations survive restarts because they are read back from the Nodes
 * before anything is handed out.
 */
import { R, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { ipToNumber, numberToIp } from '../kubelet/runtime/network.js';
import type { Node } from '../api/generated/types.js';
import { HOLLOW_ANNOTATION } from '../kubelet/hollow.js';

/** The cluster CIDR nodes' pod CIDRs come from (flannel's default, as DESIGN.md settles). */
export const DEFAULT_NODE_IPAM_CIDR = '10.244.0.0/16';
/** Size of a node's pod CIDR (upstream --node-cidr-mask-size, default 24 for IPv4). */
export const DEFAULT_NODE_MASK_SIZE = 24;

/** upstream cidrset's error when every subnet is taken. */
export const NO_CIDRS_REMAINING = 'CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range';

function parseV4(cidr: string): { base: number; prefix: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
  if (!m) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  try {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return { base: (ipToNumber(m[1]!) & mask) >>> 0, prefix };
  } catch {
    return undefined;
  }
}

/**
 * The subnets of one cluster CIDR and which are in use (upstream cidrset.CidrSet):
 * counts rather than bits, so a CIDR two nodes claim stays used until both let go.
 */
export class CidrSet {
  private readonly base: number;
  private readonly prefix: number;
  private readonly used: Uint16Array;
  private next = 0;

  constructor(clusterCidr: string, readonly subnetPrefix: number) {
    const c = parseV4(clusterCidr);
    if (!c) throw new Error(`invalid cluster CIDR ${JSON.stringify(clusterCidr)}`);
    // upstream clusterSubnetMaxDiff: at most 2^16 subnets.
    if (subnetPrefix < c.prefix || subnetPrefix - c.prefix > 16 || subnetPrefix > 32) throw new Error(`node CIDR mask size /${subnetPrefix} does not fit cluster CIDR ${clusterCidr}`);
    this.base = c.base;
    this.prefix = c.prefix;
    this.used = new Uint16Array(2 ** (subnetPrefix - c.prefix));
  }

  /** The indices of the subnets a CIDR covers, or undefined when it lies outside the cluster CIDR. */
  private indices(cidr: string): [number, number] | undefined {
    const c = parseV4(cidr);
    if (!c) return undefined;
    const clusterMask = this.prefix === 0 ? 0 : (0xffffffff << (32 - this.prefix)) >>> 0;
    // A CIDR wider than the cluster's covers it all when the cluster lies inside it.
    if (c.prefix < this.prefix) {
      const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
      return ((this.base & mask) >>> 0) === c.base ? [0, this.used.length - 1] : undefined;
    }
    if (((c.base & clusterMask) >>> 0) !== this.base) return undefined;
    const shift = 32 - this.subnetPrefix;
    const first = Math.floor((c.base - this.base) / 2 ** shift);
    const span = c.prefix >= this.subnetPrefix ? 1 : 2 ** (this.subnetPrefix - c.prefix);
    return [first, first + span - 1];
  }

  /** Marks the subnets a CIDR covers as used; false when it is outside the cluster CIDR. */
  occupy(cidr: string): boolean {
    const r = this.indices(cidr);
    if (!r) return false;
    for (let i = r[0]; i <= r[1]; i++) this.used[i]!++;
    return true;
  }

  /** Undoes one occupy or allocation of a CIDR. */
  release(cidr: string): void {
    const r = this.indices(cidr);
    if (!r) return;
    for (let i = r[0]; i <= r[1]; i++) if (this.used[i]! > 0) this.used[i]!--;
  }

  /** The next free subnet after the last one handed out, marked used; undefined when none is left. */
  allocateNext(): string | undefined {
    const n = this.used.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (this.used[i] === 0) {
        this.used[i] = 1;
        this.next = (i + 1) % n;
        return `${numberToIp((this.base + i * 2 ** (32 - this.subnetPrefix)) >>> 0)}/${this.subnetPrefix}`;
      }
    }
    return undefined;
  }

  /** True when the subnet holding this CIDR is in use. */
  isUsed(cidr: string): boolean {
    const r = this.indices(cidr);
    return !!r && this.used[r[0]]! > 0;
  }
}

/** Configuration of the node IPAM controller. */
export interface NodeIpamConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `cidrAllocator`, upstream's component name. */
  events: EventRecorder;
  /** Default 10.244.0.0/16. */
  clusterCidr?: string;
  /** Default 24. */
  nodeMaskSize?: number;
  /** A Service range inside the cluster CIDR is never handed to nodes (upstream filterOutServiceRange). */
  serviceCidr?: string;
}

/** The CIDRs a node has in its spec. */
function nodeCidrs(node: Node | undefined): string[] {
  const list = node?.spec?.podCIDRs?.length ? node.spec.podCIDRs : node?.spec?.podCIDR ? [node.spec.podCIDR] : [];
  return [...list];
}

/** Gives every node a pod CIDR out of the cluster CIDR. */
export class NodeIpamController {
  private readonly nodes: Informer<Node>;
  private readonly queue: WorkQueue;
  private readonly set: CidrSet;
  /** What this controller counts as used per node: the CIDRs it saw on the node, or allocated for it. */
  private readonly owned = new Map<string, string[]>();
  private stopped = false;

  constructor(private readonly cfg: NodeIpamConfig) {
    this.set = new CidrSet(cfg.clusterCidr ?? DEFAULT_NODE_IPAM_CIDR, cfg.nodeMaskSize ?? DEFAULT_NODE_MASK_SIZE);
    if (cfg.serviceCidr) this.set.occupy(cfg.serviceCidr);
    this.nodes = cfg.informers.informer<Node>(R.nodes);
    // One worker: allocations must not race each other for the same free subnet.
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 1 });
  }

  /** Reads every node's CIDR before handing any out, then follows node changes. */
  async start(): Promise<void> {
    await this.nodes.start();
    for (const n of this.nodes.list()) this.account(n.metadata!.name!, nodeCidrs(n));
    const enqueue = (n: Node) => {
      if (!this.stopped) this.queue.add(n.metadata!.name!);
    };
    this.nodes.addHandlers({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
  }

  /** Stops reconciling (the shared informer is the factory's to stop). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Records a node's CIDRs as used (releasing what it held before). */
  private account(name: string, cidrs: string[]): void {
    const prev = this.owned.get(name);
    if (prev && prev.length === cidrs.length && prev.every((c, i) => c === cidrs[i])) return;
    for (const c of prev ?? []) this.set.release(c);
    // A CIDR outside the cluster CIDR (a node configured by hand) is the node's business; nothing to mark.
    const inside = cidrs.filter((c) => this.set.occupy(c));
    if (inside.length) this.owned.set(name, inside);
    else this.owned.delete(name);
  }

  private async reconcile(name: string): Promise<void> {
    const node = this.nodes.get('', name);
    if (!node || node.metadata?.deletionTimestamp) {
      // upstream ReleaseCIDR on delete; a node that was waiting for a CIDR may now get this one.
      if (this.owned.has(name)) {
        for (const c of this.owned.get(name)!) this.set.release(c);
        this.owned.delete(name);
        for (const n of this.nodes.list()) if (!nodeCidrs(n).length) this.queue.add(n.metadata!.name!);
      }
      return;
    }
    const cidrs = nodeCidrs(node);
    if (cidrs.length) return this.account(name, cidrs);
    // Hollow (kwok-style) nodes have no pod network (their pods' IPs are simulated outside the cluster CIDR):
    // /24s for thousands of them would only exhaust the range.
    if (node.metadata?.annotations?.[HOLLOW_ANNOTATION] === 'true') return;
    // Allocated before but the Node does not show it yet (our patch is on its way, or failed): use the same one.
    let cidr = this.owned.get(name)?.[0];
    if (!cidr) {
      cidr = this.set.allocateNext();
      if (!cidr) {
        // upstream RecordNodeStatusChange(recorder, node, "CIDRNotAvailable").
        void this.cfg.events.event(node as any, 'Normal', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable`);
        return;
      }
      this.owned.set(name, [cidr]);
    }
    try {
      await this.cfg.client.patch(R.nodes, '', name, 'merge', { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
    } catch (e) {
      // upstream gives the CIDR back unless the write may still land; the next try allocates again.
      this.set.release(cidr);
      this.owned.delete(name);
      void this.cfg.events.event(node as any, 'Normal', 'CIDRAssignmentFailed', `Node ${name} status is now: CIDRAssignmentFailed`);
      throw e;
    }
  }
}
