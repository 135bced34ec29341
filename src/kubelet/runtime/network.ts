/**
 * Pod networking for the process runtime: a node bridge holding the first
 * address of the node's pod CIDR, and per pod a named network namespace
 * joined to it by a veth pair (the bridge CNI plugin's layout), with IPs from
 * a host-local style allocator persisted on disk.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tryRun, type RunResult } from './sys.js';

/** Where `ip netns` keeps named network namespaces. */
export const NETNS_DIR = '/var/run/netns';

/** An IPv4 CIDR as numbers. */
export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** Parses `a.b.c.d/n` (IPv4 only); throws on anything else. */
export function parseCidr(cidr: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
  const prefix = Number(m?.[2]);
  if (!m || prefix < 8 || prefix > 30) throw new Error(`invalid pod CIDR ${JSON.stringify(cidr)}: want an IPv4 a.b.c.d/n with 8 <= n <= 30`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToNumber(m[1]!) & mask) >>> 0, prefix };
}

/** `a.b.c.d` → unsigned 32-bit number; throws on a malformed address. */
export function ipToNumber(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`invalid IPv4 address ${JSON.stringify(ip)}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Unsigned 32-bit number → `a.b.c.d`. */
export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The gateway (bridge) address of a pod CIDR: its first host address. */
export function gatewayOf(cidr: Cidr): string {
  return numberToIp(cidr.base + 1);
}

/** IP → owner (sandbox id) of every allocation recorded in an IPAM directory. */
export function ipamRecords(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(name)) continue;
    try {
      out.set(name, readFileSync(join(dir, name), 'utf8').trim());
    } catch {
      /* released meanwhile */
    }
  }
  return out;
}

/**
 * Host-local IPAM, as the CNI host-local plugin does it: one file per address
 * (created exclusively, so an address is never handed out twice, even across
 * restarts), scanning round-robin after the last one reserved. The directory
 * is read once; this instance keeps its view current as it allocates and
 * releases, so a pod start costs one file write, not a directory scan.
 */
export class HostLocalIpam {
  private readonly records: Map<string, string>;
  private last?: number;
  /** Writes of last_reserved_ip, in order. */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string, private readonly cidr: Cidr) {
    mkdirSync(dir, { recursive: true });
    this.records = ipamRecords(dir);
    try {
      this.last = ipToNumber(readFileSync(join(dir, 'last_reserved_ip'), 'utf8').trim());
    } catch {
      /* first allocation */
    }
  }

  /** Owners holding an address. */
  owners(): Set<string> {
    return new Set(this.records.values());
  }

  /**
   * Allocates an address to `owner`; an owner that already holds one gets it
   * again. The address is taken in memory at once (so concurrent calls never
   * pick the same one) and its file written without blocking the event loop.
   */
  async allocate(owner: string): Promise<string> {
    for (const [ip, o] of this.records) if (o === owner) return ip;
    const size = 2 ** (32 - this.cidr.prefix);
    // Usable: after the gateway (.1), before the broadcast address.
    const first = this.cidr.base + 2;
    const last = this.cidr.base + size - 2;
    const start = this.last !== undefined && this.last >= first && this.last < last ? this.last + 1 : first;
    const count = last - first + 1;
    for (let i = 0; i < count; i++) {
      const n = first + ((start - first + i) % count);
      const ip = numberToIp(n);
      if (this.records.has(ip)) continue;
      this.records.set(ip, owner);
      this.last = n;
      try {
        await writeFile(join(this.dir, ip), owner, { flag: 'wx' });
      } catch (e) {
        // Taken behind our back (another agent on the same directory): learn its owner and go on.
        this.records.set(ip, (e as NodeJS.ErrnoException).code === 'EEXIST' ? readOwner(join(this.dir, ip)) : '');
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.records.delete(ip);
        throw e;
      }
      const lastFile = join(this.dir, 'last_reserved_ip');
      this.lastWrite = this.lastWrite.then(() => writeFile(lastFile, ip)).catch(() => {});
      return ip;
    }
    throw new Error(`no IP addresses available in range ${numberToIp(this.cidr.base)}/${this.cidr.prefix}`);
  }

  /** Releases every address held by `owner` (idempotent). */
  release(owner: string): void {
    for (const [ip, o] of this.records) {
      if (o !== owner) continue;
      rmSync(join(this.dir, ip), { force: true });
      this.records.delete(ip);
    }
  }
}

function readOwner(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The host-side veth name of a sandbox: `kv` + a hash (interface names are at most 15 bytes). */
export function hostVethName(sandboxId: string): string {
  return `kv${createHash('sha256').update(sandboxId).digest('hex').slice(0, 12)}`;
}

/** Options of PodNetwork. */
export interface PodNetworkOptions {
  bridge: string;
  podCidr: string;
  /** Directory of the IP allocations. */
  ipamDir: string;
  log: (msg: string) => void;
  /** Runs the per-pod `ip` commands (default: sys.run; the process runtime runs them off the main thread). */
  run?: (cmd: string, args: string[]) => Promise<RunResult>;
}

/** The node bridge and the pod network namespaces attached to it. */
export class PodNetwork {
  private readonly cidr: Cidr;
  private createdBridge = false;
  private readonly ipam: HostLocalIpam;
  private readonly exec: (cmd: string, args: string[]) => Promise<RunResult>;

  constructor(private readonly opts: PodNetworkOptions) {
    this.cidr = parseCidr(opts.podCidr);
    this.exec = opts.run ?? run;
    this.ipam = new HostLocalIpam(opts.ipamDir, this.cidr);
  }

  /** The bridge's address, every pod's default gateway. */
  get gateway(): string {
    return gatewayOf(this.cidr);
  }

  /**
   * Creates the bridge (unless it exists), gives it the gateway address, brings
   * it up, enables IPv4 forwarding, and deletes pod namespaces an earlier run
   * left (the process runtime cannot re-attach to their containers).
   */
  async start(): Promise<void> {
    const { bridge } = this.opts;
    const stale = this.ipam.owners();
    for (const owner of stale) await this.teardown(owner);
    if (stale.size) this.opts.log(`process runtime: removed ${stale.size} pod network namespaces left by an earlier run`);
    if (!(await tryRun('ip', ['link', 'show', 'dev', bridge]))) {
      await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
      this.createdBridge = true;
    }
    const addr = `${this.gateway}/${this.cidr.prefix}`;
    const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge]);
    if (!stdout.includes(` ${addr} `)) await run('ip', ['addr', 'add', addr, 'dev', bridge]);
    await run('ip', ['link', 'set', 'dev', bridge, 'up']);
    try {
      if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    } catch (e) {
      this.opts.log(`process runtime: cannot enable net.ipv4.ip_forward (${(e as Error).message}): pods reach only the node and each other`);
    }
  }

  /** Deletes every pod namespace recorded in the IPAM directory and, if this instance created it, the bridge. */
  async stop(): Promise<void> {
    for (const owner of this.ipam.owners()) await this.teardown(owner);
    if (this.createdBridge) await tryRun('ip', ['link', 'del', 'dev', this.opts.bridge]);
    this.createdBridge = false;
  }

  /** Creates the named network namespace `id` with an IP on the bridge; replaces a stale one of the same name. */
  async setup(id: string): Promise<{ ip: string; netnsPath: string }> {
    const ip = await this.ipam.allocate(id);
    const netnsPath = join(NETNS_DIR, id);
    try {
      if (existsSync(netnsPath) || existsSync(`/sys/class/net/${hostVethName(id)}`)) {
        await this.teardownLinks(id);
        await this.runSetup([{ id, ip }]);
      } else {
        await this.batched({ id, ip });
      }
    } catch (e) {
      await this.teardown(id);
      throw new Error(`setting up the network of sandbox ${id}: ${(e as Error).message}`);
    }
    return { ip, netnsPath };
  }

  /** Set-ups waiting for the next batch, and whether one is running. */
  private queued: { id: string; ip: string; done: (e?: Error) => void }[] = [];
  private batchRunning = false;

  /**
   * Pods starting together share one host process: every set-up asked for
   * while a batch runs goes into the next one (spawning from the agent costs
   * milliseconds each, and fifty pods at once is an ordinary start). A failed
   * batch is retried pod by pod, so each pod gets its own error.
   */
  private batched(p: { id: string; ip: string }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ ...p, done: (e) => (e ? reject(e) : resolve()) });
      if (!this.batchRunning) {
        this.batchRunning = true;
        // Let the rest of this burst (same tick) join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queued.length) {
      const batch = this.queued;
      this.queued = [];
      try {
        await this.runSetup(batch);
        for (const b of batch) b.done();
      } catch (e) {
        if (batch.length === 1) {
          batch[0]!.done(e as Error);
          continue;
        }
        // Start each pod again on its own, so one bad pod fails alone with its own message.
        for (const b of batch) {
          await this.teardownLinks(b.id);
          await this.runSetup([b]).then(
            () => b.done(),
            (err: Error) => b.done(err),
          );
        }
      }
    }
    this.batchRunning = false;
  }

  /**
   * One shell: an `ip -batch` for the host side of every pod, then one
   * `ip -n <pod> -batch` each for the inside. The batches are arguments,
   * never interpolated by the shell.
   */
  private async runSetup(pods: { id: string; ip: string }[]): Promise<void> {
    const host: string[] = [];
    const inside: string[] = [];
    for (const { id, ip } of pods) {
      const veth = hostVethName(id);
      // Hairpin on the bridge port (as the bridge CNI plugin's hairpinMode): a pod that reaches its own Service and is picked as the backend gets its packets back out the port they came in on.
      host.push(`netns add ${id}`, `link add name ${veth} type veth peer name eth0 netns ${id}`, `link set dev ${veth} master ${this.opts.bridge} up`, `link set dev ${veth} type bridge_slave hairpin on`);
      inside.push(id, ['link set dev lo up', `addr add ${ip}/${this.cidr.prefix} dev eth0`, 'link set dev eth0 up', `route add default via ${this.gateway}`].join('\n'));
    }
    await this.exec('sh', [
      '-c',
      'set -e; printf "%s\\n" "$1" | ip -batch -; shift; while [ $# -gt 0 ]; do printf "%s\\n" "$2" | ip -n "$1" -batch -; shift 2; done',
      'sh',
      host.join('\n'),
      ...inside,
    ]);
  }

  /** Removes a pod's namespace and host veth, keeping its address. */
  private async teardownLinks(id: string): Promise<void> {
    const attempt = (args: string[]) => this.exec('ip', args).catch(() => undefined);
    if (existsSync(join(NETNS_DIR, id))) await attempt(['netns', 'del', id]);
    if (existsSync(`/sys/class/net/${hostVethName(id)}`)) await attempt(['link', 'del', 'dev', hostVethName(id)]);
  }

  /** Deletes the namespace (which destroys its veth pair) and releases its IP; idempotent. */
  async teardown(id: string): Promise<void> {
    await this.teardownLinks(id);
    this.ipam.release(id);
  }
}
