/**
 * The `process` runtime: containers are host processes. As root, each pod
 * gets its own network namespace on the node bridge, each container its own
 * mount namespace (volumes bind-mounted at their mountPath) and its own cgroup
 * with the container's limits. Without root (or with `hostNetworkOnly`), pods
 * share the host network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, statSync, type WriteStream } from 'node:fs';
import { constants as osConstants, networkInterfaces } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { connect, type Socket } from 'node:net';
import { KITE_VERSION } from '../../version.js';
import { CgroupManager, detectCgroups, type ContainerCgroup } from './cgroups.js';
import { PodNetwork } from './network.js';
import { StartError, type ContainerConfig, type ExecRequest, type StreamSession, type ExitStatus, type Mount, type Runtime, type RunningContainer, type Sandbox, type SandboxConfig } from './runtime.js';
import { DEFAULT_PATH, isExecutable, isRoot, lookPath } from './sys.js';

/** Options of the process runtime. */
export interface ProcessRuntimeOptions {
  /** Where the runtime keeps state that must survive restarts (IP allocations). */
  dataDir: string;
  /** This node's pod CIDR, e.g. `10.244.0.0/24`; the bridge takes its first address. */
  podCidr: string;
  /** Name of the node bridge, e.g. `kite0`. */
  bridge: string;
  /** Pods share the host network even as root (no bridge, no namespaces). */
  hostNetworkOnly?: boolean;
  /** Name of the node-level cgroup (default `kite`). */
  cgroupName?: string;
  /** The node IP that host-network pods report (default: the first non-internal IPv4 address). */
  nodeIp?: string;
  log: (msg: string) => void;
}

/** Longest line containerd writes as one log entry; longer lines become partial (`P`) entries. */
export const MAX_LOG_LINE = 16 * 1024;

/** Nanoseconds since the epoch: wall clock anchored once, advanced by the monotonic clock (Date has only milliseconds). */
function nowNanos(anchor: { wall: bigint; mono: bigint }): bigint {
  return anchor.wall + (process.hrtime.bigint() - anchor.mono);
}

/** Formats a timestamp as containerd's CRI logger does: RFC 3339, UTC, always nine fractional digits. */
export function criTimestamp(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

/**
 * Writes a container's stdout and stderr to one file in the CRI log format
 * (`<RFC3339Nano> <stream> <F|P> <content>`), which kubelet's log reader
 * (`kubectl logs`) parses: one entry per line, `P` for the leading pieces of
 * a line longer than MAX_LOG_LINE, `F` for the piece that ends it.
 */
export class CriLogWriter {
  private readonly out: WriteStream;
  private readonly pending: Promise<void>[] = [];
  private readonly anchor = { wall: BigInt(Date.now()) * 1_000_000n, mono: process.hrtime.bigint() };

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.out = createWriteStream(path, { flags: 'a' });
  }

  /** Copies one stream into the log until it ends. */
  pipe(name: 'stdout' | 'stderr', from: Readable): void {
    this.pending.push(
      new Promise<void>((resolve) => {
        let buf: Buffer = Buffer.alloc(0);
        let done = false;
        const entry = (tag: 'F' | 'P', content: Buffer) => {
          this.out.write(Buffer.concat([Buffer.from(`${criTimestamp(nowNanos(this.anchor))} ${name} ${tag} `), content, Buffer.from('\n')]));
        };
        from.on('data', (chunk: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
          let nl: number;
          while ((nl = buf.indexOf(0x0a)) >= 0) {
            let line = buf.subarray(0, nl);
            buf = buf.subarray(nl + 1);
            while (line.length > MAX_LOG_LINE) {
              entry('P', line.subarray(0, MAX_LOG_LINE));
              line = line.subarray(MAX_LOG_LINE);
            }
            entry('F', line);
          }
          while (buf.length > MAX_LOG_LINE) {
            entry('P', buf.subarray(0, MAX_LOG_LINE));
            buf = buf.subarray(MAX_LOG_LINE);
          }
        });
        const end = () => {
          if (done) return;
          done = true;
          // A last line without a newline is still a full entry (containerd does the same at EOF).
          if (buf.length) entry('F', buf);
          buf = Buffer.alloc(0);
          resolve();
        };
        from.once('end', end);
        from.once('error', end);
        from.once('close', end);
      }),
    );
  }

  /** Resolves once every piped stream has ended and the file is flushed and closed. */
  async close(): Promise<void> {
    await Promise.all(this.pending);
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}

/** Maps a path as the container sees it to the host path behind it (through the longest matching mount). */
export function hostPathOf(containerPath: string, mounts: Mount[]): string {
  let best: Mount | undefined;
  for (const m of mounts) {
    const cp = posix.normalize(m.containerPath);
    if ((containerPath === cp || containerPath.startsWith(cp.endsWith('/') ? cp : `${cp}/`)) && (!best || cp.length > best.containerPath.length)) best = m;
  }
  return best ? join(best.hostPath, containerPath.slice(posix.normalize(best.containerPath).length)) : containerPath;
}

/**
 * Resolves argv[0] the way runc's exec does inside the container (PATH from the
 * container environment, paths seen through the container's mounts); returns
 * the container path to exec, or throws StartError with runc's message.
 */
export function resolveCommand(argv0: string, env: Record<string, string>, workingDir: string, mounts: Mount[]): string {
  const fail = (detail: string) => new StartError('RunContainerError', `failed to start container process: exec: ${JSON.stringify(argv0)}: ${detail}`);
  if (argv0.includes('/')) {
    const p = posix.resolve(workingDir, argv0);
    const host = hostPathOf(p, mounts);
    let isFile: boolean;
    try {
      isFile = statSync(host).isFile();
    } catch {
      throw fail(`stat ${argv0}: no such file or directory`);
    }
    if (!isFile || !isExecutable(host)) throw fail('permission denied');
    return p;
  }
  for (const dir of (env.PATH ?? DEFAULT_PATH).split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = posix.join(dir, argv0);
    const host = hostPathOf(p, mounts);
    try {
      if (statSync(host).isFile() && isExecutable(host)) return p;
    } catch {
      /* next PATH entry */
    }
  }
  throw fail('executable file not found in $PATH');
}

/**
 * The first process of every container: joins the cgroup (before anything
 * allocates), sets the pod's hostname in its own UTS namespace, bind-mounts
 * volumes, changes directory and execs the command. Arguments are positional:
 * `<n> <procs>… <hostname|""> <m> (<d|f> <src> <dst> <dir> <ro|rw>)… <cwd> <argv>…`,
 * so no user string is ever interpreted by the shell.
 */
const INIT_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 126; shift; n=$((n-1)); done',
  'if [ -n "$1" ]; then echo "$1" > /proc/sys/kernel/hostname || exit 126; fi; shift',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  "$MKDIR" -p "$4" || exit 126',
  '  if [ "$1" = f ] && [ ! -e "$3" ]; then : > "$3" || exit 126; fi',
  '  "$MOUNT" --bind "$2" "$3" || exit 126',
  '  if [ "$5" = ro ]; then "$MOUNT" -o remount,bind,ro "$3" || exit 126; fi',
  '  shift 5; n=$((n-1))',
  'done',
  'cd "$1" || exit 126; shift',
  'unset MKDIR MOUNT',
  'exec "$@"',
].join('\n');

/** What the runtime remembers about a sandbox it created. */
interface SandboxState {
  cfg: SandboxConfig;
}

/** What the runtime remembers about a running container. */
interface ContainerState {
  child: ChildProcess;
  exited: Promise<ExitStatus>;
  stopping?: boolean;
}

/** Host paths of the tools the runtime execs, resolved once. */
interface Tools {
  sh: string;
  nsenter?: string;
  unshare?: string;
  mount?: string;
  mkdir?: string;
}

/** The process runtime (see the module comment). */
export class ProcessRuntime implements Runtime {
  readonly version = `kite-process://${KITE_VERSION}`;
  private readonly sandboxes = new Map<string, SandboxState>();
  private readonly containers = new Map<string, ContainerState>();
  private readonly root = isRoot();
  private tools: Tools = { sh: '/bin/sh' };
  private network?: PodNetwork;
  private cgroups?: CgroupManager;
  private mountsEnabled = false;

  constructor(private readonly opts: ProcessRuntimeOptions) {}

  /** The node IP host-network pods get. */
  get nodeIp(): string {
    return this.opts.nodeIp ?? firstHostIPv4() ?? '127.0.0.1';
  }

  /** Whether containers get cgroup limits (root, and a usable hierarchy). */
  get cgroupsEnabled(): boolean {
    return this.cgroups !== undefined;
  }

  /** Whether pods get their own network namespace and IP. */
  get podNetworkEnabled(): boolean {
    return this.network !== undefined;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    this.tools = {
      sh: lookPath('sh') ?? '/bin/sh',
      nsenter: lookPath('nsenter'),
      unshare: lookPath('unshare'),
      mount: lookPath('mount'),
      mkdir: lookPath('mkdir'),
    };
    if (!this.root) {
      log('process runtime: not running as root: pods share the host network, volumes are not mounted at their mountPath and no cgroup limits are enforced');
      return;
    }
    this.mountsEnabled = !!(this.tools.unshare && this.tools.mount && this.tools.mkdir);
    if (!this.mountsEnabled) log('process runtime: unshare/mount not found (install util-linux): volumes are not mounted at their mountPath');

    const hierarchy = detectCgroups();
    if (!hierarchy) log('process runtime: no usable cgroup hierarchy (memory controller) found: no cgroup limits are enforced');
    else {
      const cg = new CgroupManager({ hierarchy, name: this.opts.cgroupName ?? 'kite', log });
      try {
        await cg.start();
        this.cgroups = cg;
      } catch (e) {
        await cg.stop().catch(() => {});
        log(`process runtime: cannot create the cgroup root (${(e as Error).message}): no cgroup limits are enforced`);
      }
    }

    if (this.opts.hostNetworkOnly) log('process runtime: host network only: pods share the host network');
    else if (!this.tools.nsenter) log('process runtime: nsenter not found (install util-linux): pods share the host network');
    else {
      const net = new PodNetwork({ bridge: this.opts.bridge, podCidr: this.opts.podCidr, ipamDir: join(this.opts.dataDir, 'ipam'), log });
      try {
        await net.start();
        this.network = net;
      } catch (e) {
        await net.stop().catch(() => {});
        log(`process runtime: cannot set up the pod network (${(e as Error).message}): pods share the host network`);
      }
    }
  }

  async stop(): Promise<void> {
    const running = [...this.containers.values()];
    await Promise.all(running.map((c) => this.kill(c, 0)));
    await this.network?.stop();
    this.network = undefined;
    await this.cgroups?.stop();
    this.cgroups = undefined;
  }

  async createSandbox(cfg: SandboxConfig): Promise<Sandbox> {
    const id = sandboxId(cfg.podUid);
    if (cfg.hostNetwork || !this.network) {
      this.sandboxes.set(id, { cfg });
      return { id, ip: this.nodeIp };
    }
    const { ip, netnsPath } = await this.network.setup(id);
    this.sandboxes.set(id, { cfg });
    return { id, ip, netnsPath };
  }

  async removeSandbox(sandbox: Sandbox): Promise<void> {
    this.sandboxes.delete(sandbox.id);
    await this.network?.teardown(sandbox.id);
  }

  async startContainer(sandbox: Sandbox, cfg: ContainerConfig): Promise<RunningContainer> {
    if (cfg.argv.length === 0) throw new StartError('RunContainerError', 'failed to start container process: no command specified');
    const mounts = this.mountsEnabled ? [...cfg.mounts].sort((a, b) => posix.normalize(a.containerPath).length - posix.normalize(b.containerPath).length) : [];
    for (const m of mounts) {
      if (!isAbsolute(m.containerPath)) throw new StartError('RunContainerError', `mount destination ${JSON.stringify(m.containerPath)} is not absolute`);
    }
    const env: Record<string, string> = { ...cfg.env };
    // What runc/containerd add when the image and pod set none.
    env.PATH ??= DEFAULT_PATH;
    env.HOME ??= '/root';
    const hostname = this.sandboxes.get(sandbox.id)?.cfg.hostname;
    if (hostname) env.HOSTNAME ??= hostname;

    const cwd = cfg.workingDir || '/';
    if (!isAbsolute(cwd)) throw new StartError('RunContainerError', `failed to start container process: working directory ${JSON.stringify(cwd)} is not absolute`);
    let cwdIsDir = false;
    try {
      cwdIsDir = statSync(hostPathOf(cwd, mounts)).isDirectory();
    } catch {
      /* reported below */
    }
    if (!cwdIsDir) throw new StartError('RunContainerError', `failed to start container process: chdir to cwd (${JSON.stringify(cwd)}) set in config.json failed: no such file or directory`);
    const command = resolveCommand(cfg.argv[0]!, env, cwd, mounts);

    const id = randomBytes(32).toString('hex');
    let cgroup: ContainerCgroup | undefined;
    if (this.cgroups) {
      try {
        cgroup = await this.cgroups.create(id, cfg);
      } catch (e) {
        throw new StartError('RunContainerError', `failed to create container cgroup: ${(e as Error).message}`);
      }
    }

    // Pods with their own network also get their own hostname (a UTS namespace per container, all set alike).
    const uts = sandbox.netnsPath !== undefined && hostname !== undefined && hostname !== '' && this.tools.unshare !== undefined;
    const initArgs: string[] = [String(cgroup?.procsFiles.length ?? 0), ...(cgroup?.procsFiles ?? []), uts ? hostname : '', String(mounts.length)];
    for (const m of mounts) {
      let dir: boolean;
      try {
        dir = statSync(m.hostPath).isDirectory();
      } catch {
        await cgroup?.remove();
        throw new StartError('RunContainerError', `failed to start container process: error mounting ${JSON.stringify(m.hostPath)} to rootfs at ${JSON.stringify(m.containerPath)}: stat ${m.hostPath}: no such file or directory`);
      }
      const dst = posix.normalize(m.containerPath);
      initArgs.push(dir ? 'd' : 'f', m.hostPath, dst, dir ? dst : posix.dirname(dst), m.readOnly ? 'ro' : 'rw');
    }
    initArgs.push(cwd, command, ...cfg.argv.slice(1));

    let argv = [this.tools.sh, '-c', INIT_SCRIPT, 'kite-init', ...initArgs];
    if (mounts.length || uts) argv = [this.tools.unshare!, ...(mounts.length ? ['--mount', '--propagation', 'private'] : []), ...(uts ? ['--uts'] : []), '--', ...argv];
    if (sandbox.netnsPath) argv = [this.tools.nsenter!, `--net=${sandbox.netnsPath}`, '--', ...argv];

    const log = new CriLogWriter(cfg.logPath);
    const startedAt = new Date();
    // detached: its own session and process group, so stopping it never signals the agent.
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...env, MKDIR: this.tools.mkdir ?? 'mkdir', MOUNT: this.tools.mount ?? 'mount' },
      cwd: '/',
      detached: true,
      stdio: [cfg.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const spawnError = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (e) => resolve(e));
    });
    if (spawnError || child.pid === undefined) {
      await log.close();
      await cgroup?.remove();
      throw new StartError('RunContainerError', `failed to start container process: ${spawnError?.message ?? 'no pid'}`);
    }
    const pid = child.pid;
    log.pipe('stdout', child.stdout!);
    log.pipe('stderr', child.stderr!);

    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', async (code, signal) => {
        // As when a PID namespace's init exits: nothing else of the container survives it.
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* group already empty */
        }
        const oom = (cgroup?.oomKills() ?? 0) > 0;
        await cgroup?.remove().catch((e: Error) => this.opts.log(`process runtime: ${e.message}`));
        // A process that escaped the container (no cgroup to find it) may hold the pipes open: stop reading after a while.
        const drain = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 2000);
        await log.close();
        clearTimeout(drain);
        this.containers.delete(id);
        const exitCode = code ?? 128 + signalNumber(signal);
        resolve({
          exitCode,
          ...(signal ? { signal } : {}),
          reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: new Date(),
        });
      });
    });
    this.containers.set(id, { child, exited });
    return { id, pid, startedAt, exited };
  }

  async stopContainer(c: RunningContainer, graceSeconds: number): Promise<ExitStatus> {
    const state = this.containers.get(c.id);
    if (!state) return c.exited;
    return this.kill(state, graceSeconds);
  }

  async exec(_sandbox: Sandbox, _c: RunningContainer, _req: ExecRequest): Promise<StreamSession> {
    throw new StartError('RunContainerError', 'exec is not supported by this runtime yet');
  }

  async attach(_c: RunningContainer, _req: { stdin: boolean; tty: boolean }): Promise<StreamSession> {
    throw new StartError('RunContainerError', 'attach is not supported by this runtime yet');
  }

  async portForward(sandbox: Sandbox, port: number): Promise<Socket> {
    return connectTcp(sandbox.ip, port);
  }

  /** SIGTERM to the container's main process (as the runtime signals a container's PID 1), SIGKILL to all of it after the grace period. */
  private async kill(state: ContainerState, graceSeconds: number): Promise<ExitStatus> {
    const pid = state.child.pid!;
    const signal = (sig: NodeJS.Signals, group: boolean) => {
      try {
        process.kill(group ? -pid : pid, sig);
      } catch {
        /* already exited */
      }
    };
    if (graceSeconds <= 0) signal('SIGKILL', true);
    else if (!state.stopping) signal('SIGTERM', false);
    state.stopping = true;
    const timer = graceSeconds > 0 ? setTimeout(() => signal('SIGKILL', true), graceSeconds * 1000) : undefined;
    try {
      return await state.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The sandbox id (and network namespace name) of a pod: `kite-` and the first 12 characters of its uid. */
export function sandboxId(podUid: string): string {
  return `kite-${podUid.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12)}`;
}

/** The number of a signal (for the shell convention exit code 128+n). */
function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (osConstants.signals[signal] ?? 0) : 0;
}

/** Connects to host:port; resolves once connected, rejects with the connection error. */
function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function firstHostIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
