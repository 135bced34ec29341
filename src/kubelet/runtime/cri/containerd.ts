/**
 * The node agent's own containerd: a child process with a config of its own
 * (version 2; root, state, socket, runc root and network namespaces under
 * the agent's data dir), a CNI network on the node's pod CIDR and bridge
 * (bridge + host-local IPAM, portmap, loopback — Debian's
 * containernetworking-plugins), plain-HTTP access to the registries it is
 * told are insecure (loopback ones are plain HTTP to containerd already),
 * and on stop nothing left behind: shims, mounts, sockets, the bridge it
 * made, the cgroup tree its pods used and, once no pod on the host has host
 * ports, the portmap plugin's shared iptables chains.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseCidr, gatewayOf, numberToIp } from '../network.js';
import { run, tryRun } from '../sys.js';
import { CriClient } from './client.js';

/** Where Debian's containerd package installs the daemon. */
export const CONTAINERD_BIN = '/usr/bin/containerd';
/** containerd's own client (same package), used to import the sandbox image. */
export const CTR_BIN = '/usr/bin/ctr';
/** Where Debian's containernetworking-plugins installs the CNI plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/**
 * Host directories containerd, ctr and CNI create whatever the config says,
 * parents first: shim sockets (containerd 1.6's defaults.DefaultStateDir +
 * "/s"), ctr's I/O fifos, and libcni's result cache. Removed on stop when
 * empty: each is made again on demand by whoever needs it next, and one in
 * use (another containerd on the host) is not empty.
 */
const HOST_DIRS = ['/run/containerd', '/run/containerd/s', '/run/containerd/fifo', '/var/lib/cni', '/var/lib/cni/results'];

/** Options of a managed containerd. */
export interface ContainerdOptions {
  /** Its root, state, socket and CNI config live here. */
  dir: string;
  /** The node's pod CIDR (the bridge takes its first address) and bridge name. */
  podCidr: string;
  bridge: string;
  /** Image reference of the sandbox (pause) image containerd runs first in every pod. */
  sandboxImage: string;
  /** `host:port` of registries reached over plain HTTP. */
  insecureRegistries?: string[];
  log: (msg: string) => void;
}

/** A TOML basic string (JSON's escapes are TOML's). */
const toml = (s: string) => JSON.stringify(s);

/** The version 2 config of a managed containerd. */
export function containerdConfig(o: { dir: string; sandboxImage: string }): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${toml(join(o.dir, 'root'))}
state = ${toml(join(o.dir, 'state'))}
# Snapshotters that cannot work here.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${toml(join(o.dir, 'containerd.sock'))}

[ttrpc]
  address = ${toml(join(o.dir, 'containerd.sock.ttrpc'))}

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(o.dir, 'opt'))}

[${cri}]
  sandbox_image = ${toml(o.sandboxImage)}
  # Containers never get a lower OOM score than containerd itself: lowering it needs a privilege a node agent may lack.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384

  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [${cri}.containerd.runtimes.runc.options]
        Root = ${toml(join(o.dir, 'state', 'runc'))}

  [${cri}.cni]
    bin_dir = ${toml(CNI_BIN_DIR)}
    conf_dir = ${toml(join(o.dir, 'cni', 'net.d'))}

  [${cri}.registry]
    config_path = ${toml(join(o.dir, 'certs.d'))}
`;
}

/**
 * The CNI network list of the node: the bridge plugin on `bridge` holding
 * the gateway (first) address of the pod CIDR, host-local IPAM over the rest
 * of it with its state under `ipamDir`, portmap for host ports, loopback.
 * The same layout the process runtime builds by hand.
 */
export function cniConfig(o: { podCidr: string; bridge: string; ipamDir: string }): object {
  const cidr = parseCidr(o.podCidr);
  const subnet = `${numberToIp(cidr.base)}/${cidr.prefix}`;
  return {
    cniVersion: '1.0.0',
    name: 'kite',
    plugins: [
      {
        type: 'bridge',
        bridge: o.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet, gateway: gatewayOf(cidr) }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: o.ipamDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  };
}

/** A registry host's `hosts.toml`: plain HTTP, pull and resolve. */
export function insecureHostsToml(host: string): string {
  return `server = ${toml(`http://${host}`)}\n\n[host.${toml(`http://${host}`)}]\n  capabilities = ["pull", "resolve"]\n`;
}

/**
 * The nat chains the portmap plugin (plugins/meta/portmap, iptables backend)
 * shares between all pods with host ports: the top-level DNAT chain jumped
 * to from PREROUTING and OUTPUT, and the mark and masquerade chains for
 * hairpin and localhost traffic. Its DEL removes a pod's own `CNI-DN-…`
 * chain but never these.
 */
export const PORTMAP_SHARED_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

/**
 * An `iptables-restore --noflush` script that removes the portmap plugin's
 * shared chains and the rules jumping to them, from `iptables-save -t nat`
 * output; undefined when a pod still has host ports (a `CNI-DN-…` chain
 * exists, perhaps another node agent's) or there is nothing to remove.
 */
export function portmapCleanupScript(natSave: string): string | undefined {
  const lines = natSave.split('\n');
  if (lines.some((l) => l.startsWith(':CNI-DN-'))) return undefined;
  const shared = new Set(PORTMAP_SHARED_CHAINS);
  const present = lines.filter((l) => l.startsWith(':') && shared.has(l.slice(1).split(' ')[0]!)).map((l) => l.slice(1).split(' ')[0]!);
  if (!present.length) return undefined;
  // iptables-save quotes rule arguments as iptables-restore reads them: a saved rule deletes as `-D` plus the same text.
  const jumps = lines.filter((l) => {
    const m = /^-A (\S+) .*-j (\S+)$/.exec(l);
    return m && !shared.has(m[1]!) && shared.has(m[2]!);
  });
  return ['*nat', ...jumps.map((l) => `-D${l.slice(2)}`), ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

/**
 * True when `nft -j list table ip nat` shows a table with nothing but empty
 * chains: what iptables-nft leaves once the last nat rule is gone (it makes
 * the table again on its next use).
 */
export function natTableIsEmpty(nftJson: string): boolean {
  try {
    const items: Record<string, unknown>[] = JSON.parse(nftJson).nftables ?? [];
    return items.every((i) => 'metainfo' in i || 'table' in i || 'chain' in i);
  } catch {
    return false;
  }
}

/**
 * Removes what the portmap plugin leaves on the host after its last pod
 * with host ports is gone: its shared nat chains and, when nothing else is
 * left in them, iptables-nft's `ip nat` and `ip6 nat` tables (its DEL
 * touches both families). Best effort; a host where another agent's pods
 * still publish ports keeps them.
 */
export async function removeIdlePortmapRules(): Promise<void> {
  for (const [save, restore, family] of [
    ['iptables-save', 'iptables-restore', 'ip'],
    ['ip6tables-save', 'ip6tables-restore', 'ip6'],
  ] as const) {
    try {
      const script = portmapCleanupScript((await run(save, ['-t', 'nat'])).stdout);
      if (script) await run(restore, ['--noflush'], { input: script });
      if (natTableIsEmpty((await run('nft', ['-j', 'list', 'table', family, 'nat'])).stdout)) await tryRun('nft', ['delete', 'table', family, 'nat']);
    } catch {
      /* no such tool or table: nothing of portmap's there */
    }
  }
}

/** Mount points under `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string, mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    // Field 5 is the mount point, with spaces and such octal-escaped.
    const mp = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp && (mp === dir || mp.startsWith(prefix))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Mount points of every cgroup hierarchy (v1 controllers and v2). */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    const fstype = post?.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') out.push(pre!.split(' ')[4]!);
  }
  return out;
}

/** Removes a cgroup directory tree (deepest first) in every hierarchy; cgroups still holding processes stay. */
export function removeCgroupTree(relative: string): string[] {
  const left: string[] = [];
  const rm = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) rm(join(dir, e));
    try {
      rmdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
    }
  };
  for (const mount of cgroupMounts()) rm(join(mount, relative));
  return left;
}

/** Pids of processes whose command line contains `needle` (read from /proc). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(needle)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The containerd child of one node agent (see the module comment). */
export class Containerd {
  private proc?: ChildProcess;
  private output = '';
  private createdBridge = false;
  /** The CRI client of this containerd, once started. */
  client?: CriClient;

  constructor(private readonly opts: ContainerdOptions) {}

  /** Path of the gRPC socket. */
  get socket(): string {
    return join(this.opts.dir, 'containerd.sock');
  }

  private get pidFile(): string {
    return join(this.opts.dir, 'containerd.pid');
  }

  /** The last lines containerd wrote (for error messages). */
  tail(lines = 20): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /**
   * Writes the configs, ends a containerd an earlier agent left running on
   * the same directory, starts containerd and resolves once its CRI service
   * answers.
   */
  async start(): Promise<CriClient> {
    const { dir } = this.opts;
    await this.killStale();
    // Registry hosts are rewritten from the options on every start.
    rmSync(join(dir, 'certs.d'), { recursive: true, force: true });
    for (const d of ['root', 'state', 'opt', join('cni', 'net.d'), 'certs.d']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'config.toml'), containerdConfig({ dir, sandboxImage: this.opts.sandboxImage }));
    writeFileSync(join(dir, 'cni', 'net.d', '10-kite.conflist'), JSON.stringify(cniConfig({ podCidr: this.opts.podCidr, bridge: this.opts.bridge, ipamDir: join(dir, 'cni', 'ipam') }), null, 2));
    for (const host of this.opts.insecureRegistries ?? []) {
      mkdirSync(join(dir, 'certs.d', host), { recursive: true });
      writeFileSync(join(dir, 'certs.d', host, 'hosts.toml'), insecureHostsToml(host));
    }
    this.createdBridge = !existsSync(`/sys/class/net/${this.opts.bridge}`);

    // Its own process group: a Ctrl-C meant for the agent must not stop containerd before the agent has stopped the pods.
    const proc = spawn(CONTAINERD_BIN, ['--config', join(dir, 'config.toml'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-64 * 1024);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const spawnError = await new Promise<Error | undefined>((resolve) => {
      proc.once('spawn', () => resolve(undefined));
      proc.once('error', (e) => resolve(e));
    });
    if (spawnError) throw new Error(`starting ${CONTAINERD_BIN}: ${spawnError.message}`);
    writeFileSync(this.pidFile, String(proc.pid));
    proc.once('exit', (code, signal) => {
      if (this.proc === proc) this.opts.log(`cri runtime: containerd exited (${signal ?? code}) while the node agent runs:\n${this.tail()}`);
    });

    const client = new CriClient(this.socket);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        client.close();
        throw new Error(`containerd exited (${proc.signalCode ?? proc.exitCode}) before it was ready:\n${this.tail()}`);
      }
      try {
        await client.waitForReady(1000);
        await client.version();
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          client.close();
          throw new Error(`containerd did not answer on ${this.socket} within 30 s (${(e as Error).message}):\n${this.tail()}`);
        }
        await delay(50);
      }
    }
    this.client = client;
    return client;
  }

  /**
   * Imports an image from an OCI layout archive into the CRI namespace with
   * containerd's own client (`ctr images import`), unpacked for the snapshotter.
   */
  async importImage(archivePath: string): Promise<void> {
    await run(CTR_BIN, ['--address', this.socket, '--namespace', 'k8s.io', 'images', 'import', archivePath], { timeoutMs: 120_000 });
  }

  /**
   * Stops containerd (SIGTERM, then SIGKILL), then everything it leaves:
   * shims, mounts under its directory, its sockets, the cgroup tree
   * `cgroupRoot` of its pods, the bridge if it made it. Pods should have been
   * removed through CRI first; whatever still runs is killed.
   */
  async stop(cgroupRoot?: string): Promise<void> {
    this.client?.close();
    this.client = undefined;
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await this.cleanup(cgroupRoot);
  }

  /** Ends a containerd (and its shims) recorded in the pid file by an agent that did not stop it. */
  private async killStale(): Promise<void> {
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (pid && cmdline.includes(join(this.opts.dir, 'config.toml'))) {
      this.opts.log(`cri runtime: stopping containerd (pid ${pid}) left by an earlier run`);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await delay(100);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(this.pidFile, { force: true });
  }

  private async cleanup(cgroupRoot?: string): Promise<void> {
    const { dir, log } = this.opts;
    // Shims serving this containerd carry its socket path in their arguments (`-address <socket>`).
    for (const pid of pidsWithArg(this.socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const mp of mountsUnder(dir)) {
      if (!(await tryRun('umount', [mp]))) await tryRun('umount', ['-l', mp]);
    }
    for (const f of [this.socket, `${this.socket}.ttrpc`, this.pidFile]) rmSync(f, { force: true });
    // Network namespaces live under the state dir (netns_mounts_under_state_dir); their files can go once unmounted.
    rmSync(join(dir, 'state'), { recursive: true, force: true });
    if (cgroupRoot) {
      const left = removeCgroupTree(cgroupRoot);
      if (left.length) log(`cri runtime: cgroups still in use after containerd stopped: ${left.join(', ')}`);
    }
    if (this.createdBridge) await tryRun('ip', ['link', 'del', 'dev', this.opts.bridge]);
    await removeIdlePortmapRules();
    for (const d of [...HOST_DIRS].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* in use */
      }
    }
    try {
      unlinkSync(join(dir, 'config.toml'));
    } catch {
      /* never written */
    }
  }
}
