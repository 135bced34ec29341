/**
 * Cross-machine pod routes, flannel host-gw style: for every other node on
 * another machine, a host route to its pod CIDR via its InternalIP. Nodes
 * that share this machine (same InternalIP) need none: their bridges are
 * already connected routes here. Routes are applied in one `ip -batch` per
 * change and removed again when the syncer stops.
 */
import { Informer } from '../client/informer.js';
import { R, type Client } from '../client/client.js';
import { ipToNumber, parseCidr, type Cidr } from '../kubelet/runtime/network.js';
import { run } from '../kubelet/runtime/sys.js';
import { HOLLOW_ANNOTATION } from '../kubelet/hollow.js';

/** One host route: the pod CIDR of a node, via that node's address. */
export interface HostRoute {
  cidr: string;
  via: string;
  node: string;
}

/** A node as the route decisions see it. */
interface NodeLike {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type?: string; address?: string }[] };
}

/** Routing protocol number our routes carry (`ip route … proto 75`), so they can be told apart from others. */
export const ROUTE_PROTO = '75';

function contains(outer: Cidr, inner: Cidr): boolean {
  if (inner.prefix < outer.prefix) return false;
  const mask = outer.prefix === 0 ? 0 : (0xffffffff << (32 - outer.prefix)) >>> 0;
  return ((inner.base & mask) >>> 0) === outer.base;
}

function tryCidr(s: string | undefined): Cidr | undefined {
  if (!s) return undefined;
  try {
    return parseCidr(s);
  } catch {
    return undefined;
  }
}

function ipInside(ip: string, c: Cidr): boolean {
  try {
    return contains(c, { base: ipToNumber(ip), prefix: 32 });
  } catch {
    return false;
  }
}

/**
 * The routes this node needs: one per other node whose pod CIDR lies inside
 * the cluster CIDR and whose InternalIP is a different, non-loopback address
 * outside the cluster CIDR. Nodes on this machine, nodes without an address
 * or CIDR, and anything that would route a range other than a node's pod
 * CIDR get none.
 */
export function desiredRoutes(nodes: readonly NodeLike[], self: { nodeName: string; nodeIps: readonly string[]; podCidr: string }, clusterCidr: string): HostRoute[] {
  const cluster = parseCidr(clusterCidr);
  const own = tryCidr(self.podCidr);
  const out: HostRoute[] = [];
  const taken = new Set<string>();
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    if (!name || name === self.nodeName) continue;
    // Hollow nodes are simulated: their addresses lead nowhere.
    if (n.metadata?.annotations?.[HOLLOW_ANNOTATION] === 'true') continue;
    const via = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!via || self.nodeIps.includes(via)) continue;
    let viaNum: number;
    try {
      viaNum = ipToNumber(via);
    } catch {
      continue;
    }
    // Loopback is this machine; a gateway inside the pod range would be a pod, not a machine.
    if (viaNum >>> 24 === 127 || ipInside(via, cluster)) continue;
    const cidrText = n.spec?.podCIDRs?.[0] ?? n.spec?.podCIDR;
    const cidr = tryCidr(cidrText);
    if (!cidr || !contains(cluster, cidr)) continue;
    if (own && (contains(own, cidr) || contains(cidr, own))) continue;
    const key = `${cidr.base}/${cidr.prefix}`;
    if (taken.has(key)) continue;
    taken.add(key);
    out.push({ cidr: cidrText!, via, node: name });
  }
  return out.sort((a, b) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
}

/** `ip -batch` lines that take the kernel from `installed` to `want`. */
export function routeCommands(installed: ReadonlyMap<string, string>, want: readonly HostRoute[]): string[] {
  const lines: string[] = [];
  const wanted = new Map(want.map((r) => [r.cidr, r.via]));
  for (const [cidr, via] of installed) if (wanted.get(cidr) !== via) lines.push(`route del ${cidr} via ${via} proto ${ROUTE_PROTO}`);
  for (const [cidr, via] of wanted) if (installed.get(cidr) !== via) lines.push(`route replace ${cidr} via ${via} proto ${ROUTE_PROTO}`);
  return lines;
}

/** Delay before a failed route update is tried again. */
const RETRY_MS = 10_000;

/** Configuration of a RouteSyncer. */
export interface RouteSyncerConfig {
  client: Client;
  nodeName: string;
  nodeIps: string[];
  podCidr: string;
  clusterCidr: string;
  log: (msg: string) => void;
  /** Runs an `ip -batch` (default: the real `ip -force -batch -`); tests record what is asked. */
  apply?: (lines: string[]) => Promise<void>;
}

/** Keeps this machine's routes to other machines' pod CIDRs in step with the Nodes. */
export class RouteSyncer {
  private readonly nodes: Informer<NodeLike>;
  /** Routes this syncer put in the kernel: cidr → via. */
  private readonly installed = new Map<string, string>();
  private pending?: Promise<void>;
  private again = false;
  private stopped = false;
  /** The last batch failed (part of it may have been applied). */
  private failed = false;

  constructor(private readonly cfg: RouteSyncerConfig) {
    this.nodes = new Informer<NodeLike>(cfg.client, R.nodes);
  }

  /** Starts watching Nodes; resolves once the first routes are in place. */
  async start(): Promise<void> {
    const kick = () => void this.schedule();
    this.nodes.addHandlers({ onAdd: kick, onUpdate: kick, onDelete: kick });
    await this.nodes.start();
    await this.schedule();
  }

  /** Stops watching and removes the routes this syncer added. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.nodes.stop();
    await this.pending;
    const lines = routeCommands(this.installed, []);
    this.installed.clear();
    if (lines.length) await this.apply(lines).catch((e) => this.cfg.log(`routes: removing: ${(e as Error).message}`));
  }

  /** The routes currently installed (for tests and diagnostics). */
  routes(): Map<string, string> {
    return new Map(this.installed);
  }

  /** One sync at a time; changes during a sync cause one more. */
  private schedule(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = (async () => {
      do {
        this.again = false;
        await this.sync().catch((e) => this.cfg.log(`routes: ${(e as Error).message}`));
      } while (this.again && !this.stopped);
      this.pending = undefined;
    })();
    return this.pending;
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const want = desiredRoutes(this.nodes.list(), this.cfg, this.cfg.clusterCidr);
    // After a failed batch the kernel state is unknown: replace every wanted route again (replace is idempotent).
    const lines = routeCommands(this.failed ? new Map() : this.installed, want);
    if (this.failed) for (const [cidr, via] of this.installed) if (!want.some((r) => r.cidr === cidr)) lines.unshift(`route del ${cidr} via ${via} proto ${ROUTE_PROTO}`);
    if (!lines.length) return;
    for (const r of want) this.installed.set(r.cidr, r.via);
    try {
      await this.apply(lines);
      this.failed = false;
      this.installed.clear();
      for (const r of want) this.installed.set(r.cidr, r.via);
      this.cfg.log(`routes: ${lines.join('; ')}`);
    } catch (e) {
      // Keep every route that may be in the kernel so stop() removes it; try again a little later.
      this.failed = true;
      if (!this.stopped) setTimeout(() => void this.schedule(), RETRY_MS).unref();
      throw e;
    }
  }

  private apply(lines: string[]): Promise<void> {
    if (this.cfg.apply) return this.cfg.apply(lines);
    return run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` }).then(() => undefined);
  }
}
