/**
 * Pod networking for the process runtime: a node bridge holding the first
 * address of the node's pod CIDR, and per pod a named network namespace
 * joined to it by a veth pair (the bridge CNI plugin's layout), with IPs from
 * a host-local style allocator persisted on disk.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun } from './sys.js';

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
 * Allocates an address of `cidr` to `owner`, as the host-local IPAM plugin
 * does: one file per address (created exclusively, so an address is never
 * handed out twice, even across restarts), scanning round-robin after the
 * last one reserved. An owner that already holds an address gets it again.
 */
export function allocateIp(dir: string, cidr: Cidr, owner: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [ip, o] of ipamRecords(dir)) if (o === owner) return ip;
  const size = 2 ** (32 - cidr.prefix);
  // Usable: after the gateway (.1), before the broadcast address.
  const first = cidr.base + 2;
  const last = cidr.base + size - 2;
  const lastFile = join(dir, 'last_reserved_ip');
  let start = first;
  try {
    const prev = ipToNumber(readFileSync(lastFile, 'utf8').trim());
    if (prev >= first && prev < last) start = prev + 1;
  } catch {
    /* first allocation */
  }
  const count = last - first + 1;
  for (let i = 0; i < count; i++) {
    const ip = numberToIp(first + ((start - first + i) % count));
    try {
      writeFileSync(join(dir, ip), owner, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    writeFileSync(lastFile, ip);
    return ip;
  }
  throw new Error(`no IP addresses available in range ${numberToIp(cidr.base)}/${cidr.prefix}`);
}

/** Releases every address held by `owner` (idempotent). */
export function releaseIp(dir: string, owner: string): void {
  for (const [ip, o] of ipamRecords(dir)) if (o === owner) rmSync(join(dir, ip), { force: true });
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
}

/** The node bridge and the pod network namespaces attached to it. */
export class PodNetwork {
  private readonly cidr: Cidr;
  private createdBridge = false;

  constructor(private readonly opts: PodNetworkOptions) {
    this.cidr = parseCidr(opts.podCidr);
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
    const stale = new Set(ipamRecords(this.opts.ipamDir).values());
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
    for (const owner of new Set(ipamRecords(this.opts.ipamDir).values())) await this.teardown(owner);
    if (this.createdBridge) await tryRun('ip', ['link', 'del', 'dev', this.opts.bridge]);
    this.createdBridge = false;
  }

  /** Creates the named network namespace `id` with an IP on the bridge; replaces a stale one of the same name. */
  async setup(id: string): Promise<{ ip: string; netnsPath: string }> {
    const ip = allocateIp(this.opts.ipamDir, this.cidr, id);
    const veth = hostVethName(id);
    const netnsPath = join(NETNS_DIR, id);
    try {
      if (existsSync(netnsPath)) await tryRun('ip', ['netns', 'del', id]);
      if (existsSync(`/sys/class/net/${veth}`)) await tryRun('ip', ['link', 'del', 'dev', veth]);
      // One process from Node (a shell running two `ip -batch`): spawning on the main thread is
      // what many pods starting at once wait on. The batches are arguments, never interpolated.
      await run('sh', [
        '-c',
        'set -e; printf "%s\\n" "$2" | ip -batch -; printf "%s\\n" "$3" | ip -n "$1" -batch -',
        'sh',
        id,
        [`netns add ${id}`, `link add name ${veth} type veth peer name eth0 netns ${id}`, `link set dev ${veth} master ${this.opts.bridge} up`].join('\n'),
        ['link set dev lo up', `addr add ${ip}/${this.cidr.prefix} dev eth0`, 'link set dev eth0 up', `route add default via ${this.gateway}`].join('\n'),
      ]);
    } catch (e) {
      await this.teardown(id);
      throw new Error(`setting up the network of sandbox ${id}: ${(e as Error).message}`);
    }
    return { ip, netnsPath };
  }

  /** Deletes the namespace (which destroys its veth pair) and releases its IP; idempotent. */
  async teardown(id: string): Promise<void> {
    if (existsSync(join(NETNS_DIR, id))) await tryRun('ip', ['netns', 'del', id]);
    await tryRun('ip', ['link', 'del', 'dev', hostVethName(id)]);
    releaseIp(this.opts.ipamDir, id);
  }
}
