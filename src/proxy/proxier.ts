/**
 * The service proxy (kube-proxy, nftables mode): watches Services and
 * EndpointSlices through shared informers and keeps one nftables table of
 * its own in step with them — ClusterIPs, NodePorts, external and
 * load-balancer IPs DNATed to endpoints. Every sync is one `nft -f -`
 * transaction built by rules.ts; bursts of changes are coalesced into one.
 */
import { R } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import type { EndpointSlice, Service } from '../api/generated/types.js';
import { parseCidr } from '../kubelet/runtime/network.js';
import { CommandError, lookPath, run } from '../kubelet/runtime/sys.js';
import { deepEqual } from '../util/json.js';
import { buildTransaction, conntrackDeletions, deleteTableScript, ipv4Cidr, isIpv4, servicePortsOf, type AppliedState, type ProxyRulesConfig } from './rules.js';

/** discovery.k8s.io/v1 EndpointSlices, what the proxy consumes (as upstream kube-proxy does). */
export const ENDPOINT_SLICES = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' } as const;

/** Configuration of a ServiceProxy. */
export interface ServiceProxyConfig extends ProxyRulesConfig {
  /** Shared informers (the proxy asks for Services and EndpointSlices; the caller stops them). */
  informers: InformerFactory;
  /** Run `nft` inside this named network namespace (`ip netns exec`) instead of the caller's. */
  netns?: string;
  /** Least time between two syncs; changes within it are applied together (default 100 ms). */
  minSyncIntervalMs?: number;
  log: (msg: string) => void;
}

/** The cluster's pod network (DESIGN.md: 10.244.0.0/16, a /24 per node, as flannel's defaults). */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';

/** The cluster CIDR for a node: the default one when the node's pod CIDR lies inside it, else the node's own. */
export function clusterCidrFor(podCidr: string): string {
  const cluster = parseCidr(DEFAULT_CLUSTER_CIDR);
  const pod = parseCidr(podCidr);
  const mask = (0xffffffff << (32 - cluster.prefix)) >>> 0;
  return pod.prefix >= cluster.prefix && ((pod.base & mask) >>> 0) === cluster.base ? DEFAULT_CLUSTER_CIDR : podCidr;
}

/** The proxy's nftables table for a node bridge: `kite` for kite0, `kite-<bridge>` otherwise (test clusters never share one). */
export function proxyTableName(bridge: string): string {
  return bridge === 'kite0' ? 'kite' : `kite-${bridge}`;
}

/** Checks a configuration and returns the first problem, if any. */
export function validateProxyConfig(c: ServiceProxyConfig): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(c.table)) return `invalid nftables table name ${JSON.stringify(c.table)}`;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(c.bridge)) return `invalid bridge name ${JSON.stringify(c.bridge)}`;
  for (const [what, cidr] of [['cluster CIDR', c.clusterCidr], ['service CIDR', c.serviceCidr]] as const) {
    if (!ipv4Cidr(cidr) || cidr !== cidr.trim()) return `invalid ${what} ${JSON.stringify(cidr)}: want an IPv4 a.b.c.d/n`;
  }
  for (const ip of c.nodeIps) if (!isIpv4(ip)) return `invalid node IP ${JSON.stringify(ip)}`;
  if (c.nodePortAddresses !== undefined && c.nodePortAddresses !== 'primary' && c.nodePortAddresses !== 'all') return `nodePortAddresses must be "primary" or "all"`;
  if (c.netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(c.netns)) return `invalid network namespace name ${JSON.stringify(c.netns)}`;
  return undefined;
}

/** Longest wait before a failed sync is tried again. */
const MAX_RETRY_MS = 30_000;

/** Keeps the node's nftables service rules in step with the API. */
export class ServiceProxy {
  private readonly services: Informer<Service>;
  private readonly slices: Informer<EndpointSlice>;
  private applied?: AppliedState;
  private lastScript = '';
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private dirty = false;
  private lastSyncAt = 0;
  private failures = 0;
  private started = false;
  /** Set once both caches are filled: only then do changes lead to syncs. */
  private following = false;
  private stopped = false;
  private stopping?: Promise<void>;
  private syncs = 0;
  private lastError = '';
  private warnedConntrack = false;

  constructor(private readonly cfg: ServiceProxyConfig) {
    const problem = validateProxyConfig(cfg);
    if (problem) throw new Error(problem);
    this.services = cfg.informers.informer<Service>(R.services);
    this.slices = cfg.informers.informer<EndpointSlice>(ENDPOINT_SLICES);
  }

  /** Number of nft transactions applied so far (for tests and benchmarks). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Waits for both caches, writes the table once, and from then on follows every change; resolves once the first rules are in. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const changed = () => {
      if (this.following) this.schedule();
    };
    this.services.addHandlers({
      onAdd: changed,
      // Status writes other than load-balancer ingress (and metadata churn) change nothing here.
      onUpdate: (a, b) => {
        if (!deepEqual(servicePortsOf(a), servicePortsOf(b))) changed();
      },
      onDelete: changed,
    });
    this.slices.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
    // upstream syncs only once both Services and EndpointSlices are known, never from half a picture.
    await Promise.all([this.services.start(), this.slices.start()]);
    if (this.stopped) return;
    this.following = true;
    this.dirty = true;
    await this.runSync();
    if (this.failures > 0) {
      const why = this.lastError;
      await this.stop();
      throw new Error(`service proxy: the first nftables sync failed: ${why}`);
    }
  }

  /** Stops following changes and deletes the table (what was proxied stops being proxied); later calls do nothing. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.inFlight;
      if (!this.started) return;
      try {
        await this.nft(deleteTableScript(this.cfg.table));
      } catch (e) {
        this.cfg.log(`service proxy: deleting nftables table ${this.cfg.table}: ${(e as Error).message}`);
      }
      this.applied = undefined;
      this.lastScript = '';
    })();
    return this.stopping;
  }

  /** Asks for a sync: soon after the first change, then at most once per minSyncIntervalMs (and never two at once). */
  private schedule(delayMs?: number): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.timer || this.inFlight) return;
    const min = this.cfg.minSyncIntervalMs ?? 100;
    const wait = delayMs ?? Math.max(5, this.lastSyncAt + min - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runSync();
    }, wait);
  }

  private async runSync(): Promise<void> {
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    const done = this.syncOnce();
    this.inFlight = done;
    try {
      await done;
    } finally {
      this.inFlight = undefined;
      this.lastSyncAt = Date.now();
    }
    if (this.failures > 0) {
      // Rebuilt from nothing next time: the table may not be what we think it is.
      this.dirty = true;
      this.schedule(Math.min(1000 * 2 ** (this.failures - 1), MAX_RETRY_MS));
    } else if (this.dirty) this.schedule();
  }

  private async syncOnce(): Promise<void> {
    const tx = buildTransaction(this.cfg, this.services.list(), this.slices.list(), this.applied);
    if (this.applied && tx.script === this.lastScript) return;
    const before = this.applied;
    try {
      await this.nft(tx.script);
      this.applied = tx.state;
      this.lastScript = tx.script;
      this.syncs++;
      if (this.failures > 0) this.cfg.log(`service proxy: nftables sync works again`);
      this.failures = 0;
    } catch (e) {
      this.failures++;
      this.lastError = (e as Error).message;
      this.applied = undefined;
      this.lastScript = '';
      if (this.failures === 1 || this.failures % 10 === 0) this.cfg.log(`service proxy: nftables sync failed (${this.failures}x): ${(e as Error).message}`);
      return;
    }
    await this.forgetFlows(conntrackDeletions(before?.udp, tx.state.udp));
  }

  /** Deletes UDP conntrack entries (best effort: a flow not forgotten only waits for its timeout). */
  private async forgetFlows(deletions: string[][]): Promise<void> {
    if (deletions.length === 0) return;
    if (!lookPath('conntrack')) {
      if (!this.warnedConntrack) this.cfg.log('service proxy: conntrack not found: UDP flows to endpoints that went away are kept until they time out');
      this.warnedConntrack = true;
      return;
    }
    const netns = this.cfg.netns;
    for (const args of deletions) {
      try {
        await (netns ? run('ip', ['netns', 'exec', netns, 'conntrack', ...args]) : run('conntrack', args));
      } catch (e) {
        // conntrack exits 1 when nothing matched.
        if (e instanceof CommandError && /0 flow entries have been deleted/.test(e.stderr)) continue;
        this.cfg.log(`service proxy: clearing UDP flows: ${(e as Error).message}`);
      }
    }
  }

  /** Applies one transaction with `nft -f -` (inside the configured network namespace, if any). */
  private async nft(script: string): Promise<void> {
    const netns = this.cfg.netns;
    await (netns ? run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { input: script }) : run('nft', ['-f', '-'], { input: script }));
  }
}
