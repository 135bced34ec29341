/**
 * The `process` runtime: containers are host processes. As root, each pod
 * gets its own network namespace on the node bridge, each container its own
 * mount namespace (volumes bind-mounted at their mountPath) and its own cgroup
 * with the container's limits. Without root (or with `hostNetworkOnly`), pods
 * share the host network.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync, type WriteStream } from 'node:fs';
import { constants as osConstants, networkInterfaces } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { KITE_VERSION } from '../../version.js';
import { CgroupManager, detectCgroups, type ContainerCgroup } from './cgroups.js';
import { PodNetwork } from './network.js';
import { Launcher, type LaunchedProcess } from './launcher.js';
import { ContainerIo, dialInPod, execInContainer, ttyArgv, type ContainerProcess } from './exec.js';
import { StartError, type ContainerConfig, type ExecRequest, type StreamSession, type ExitStatus, type Mount, type Runtime, type RunningContainer, type Sandbox, type SandboxConfig, type ContainerStats } from './runtime.js';
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

export { CriLogWriter, MAX_LOG_LINE, criTimestamp } from './crilog.js';

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
 * so no user string is ever interpreted by the shell. Just before the exec it
 * writes a byte to fd 3 and closes it: the runtime reports the container
 * started only then (as runc's start returns once the user process runs), so
 * an exec right after start (a postStart hook) finds the container's
 * namespaces, not the host's.
 */
const INIT_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 126; shift; n=$((n-1)); done',
  'if [ -n "$1" ]; then echo "$1" > /proc/sys/kernel/hostname || exit 126; fi; shift',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  // Builtins first: every program exec'd here is paid per container start (fifty at once is normal).
  '  [ -d "$4" ] || "$MKDIR" -p "$4" || exit 126',
  '  if [ "$1" = f ] && [ ! -e "$3" ]; then : > "$3" || exit 126; fi',
  // util-linux mount does the read-only remount of a bind mount itself when given both options.
  '  if [ "$5" = ro ]; then "$MOUNT" --bind -o ro "$2" "$3" || exit 126; else "$MOUNT" --bind "$2" "$3" || exit 126; fi',
  '  shift 5; n=$((n-1))',
  'done',
  'cd "$1" || exit 126; shift',
  'unset MKDIR MOUNT',
  'printf x >&3; exec 3>&-',
  'exec "$@"',
].join('\n');

/** What the runtime remembers about a sandbox it created. */
interface SandboxState {
  cfg: SandboxConfig;
}

/** What the runtime remembers about a running container. */
interface ContainerState {
  pid: number;
  proc: LaunchedProcess;
  exited: Promise<ExitStatus>;
  stopping?: boolean;
  /** What exec needs: its namespaces (pid), env, working dir, mounts, cgroup. */
  exec: ContainerProcess;
  /** attach's view of its stdio. */
  io: ContainerIo;
}

/** Host paths of the tools the runtime execs, resolved once. */
interface Tools {
  sh: string;
  nsenter?: string;
  unshare?: string;
  mount?: string;
  mkdir?: string;
  /** exec -t (util-linux), terminal resize (coreutils), port-forward into a pod network. */
  script?: string;
  stty?: string;
  socat?: string;
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
  private readonly launcher = new Launcher();
  /** Mount points of running containers (path → how many use it). */
  private readonly mountsInUse = new Map<string, number>();
  /** Paths this runtime created on the node's filesystem as mount points (removed when no container needs them). */
  private readonly createdMountPoints = new Set<string>();
  private ttyWarned = false;

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
    await this.launcher.start();
    this.tools = {
      sh: lookPath('sh') ?? '/bin/sh',
      nsenter: lookPath('nsenter'),
      unshare: lookPath('unshare'),
      mount: lookPath('mount'),
      mkdir: lookPath('mkdir'),
      script: lookPath('script'),
      stty: lookPath('stty'),
      socat: lookPath('socat'),
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
      const net = new PodNetwork({ bridge: this.opts.bridge, podCidr: this.opts.podCidr, ipamDir: join(this.opts.dataDir, 'ipam'), log, run: (cmd, args) => this.launcher.run(cmd, args) });
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
    await this.launcher.stop();
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
    // containerd's WithTTY: a terminal container gets TERM=xterm unless it sets one.
    const tty = cfg.tty === true && this.ttyAvailable();
    if (tty) env.TERM ??= 'xterm';

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
        // Containers of one gang share a CPU cgroup (see CpuGroup).
        cgroup = await this.cgroups.create(id, cfg, this.sandboxes.get(sandbox.id)?.cfg.cpuGroup);
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
    // A TTY: the init runs on a new terminal, inside the namespaces (its pid, reported on fd 4, is the container's).
    if (tty) argv = ttyArgv(this.tools.script!, argv, env, { fd: 4, pid: true });
    if (mounts.length || uts) argv = [this.tools.unshare!, ...(mounts.length ? ['--mount', '--propagation', 'private'] : []), ...(uts ? ['--uts'] : []), '--', ...argv];
    if (sandbox.netnsPath) argv = [this.tools.nsenter!, `--net=${sandbox.netnsPath}`, '--', ...argv];

    const startedAt = new Date();
    const dsts = this.claimMountPoints(mounts);
    let proc: LaunchedProcess;
    try {
      proc = await this.launcher.launch({
        cmd: argv[0]!,
        args: argv.slice(1),
        env: { ...env, MKDIR: this.tools.mkdir ?? 'mkdir', MOUNT: this.tools.mount ?? 'mount', ...(tty ? { SHELL: this.tools.sh } : {}) },
        logPath: cfg.logPath,
        stdin: cfg.stdin === true,
        ...(tty ? { tty: { stty: this.tools.stty } } : {}),
      });
    } catch (e) {
      await cgroup?.remove();
      this.releaseMountPoints(dsts);
      throw new StartError('RunContainerError', `failed to start container process: ${(e as Error).message}`);
    }
    const pid = proc.pid;
    const exited = proc.exited.then(async ({ code, signal }): Promise<ExitStatus> => {
      const oom = (cgroup?.oomKills() ?? 0) > 0;
      await cgroup?.remove().catch((e: Error) => this.opts.log(`process runtime: ${e.message}`));
      this.releaseMountPoints(dsts);
      this.containers.delete(id);
      const exitCode = code ?? 128 + signalNumber(signal);
      return {
        exitCode,
        ...(signal ? { signal } : {}),
        reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: new Date(),
      };
    });
    this.containers.set(id, {
      pid,
      proc,
      exited,
      exec: { pid, env, workingDir: cwd, mounts, cgroupProcs: cgroup?.procsFiles ?? [] },
      io: new ContainerIo(proc, { stdin: cfg.stdin === true, stdinOnce: cfg.stdinOnce === true, tty }),
    });
    return { id, pid, startedAt, exited };
  }

  /** Whether `tty: true` containers get a terminal (util-linux script); said once when they cannot. */
  private ttyAvailable(): boolean {
    if (this.tools.script) return true;
    if (!this.ttyWarned) this.opts.log('process runtime: script not found (install util-linux): tty containers run without a terminal');
    this.ttyWarned = true;
    return false;
  }

  /**
   * Notes the mount points a container is about to get. A volume mounted at a
   * path the node does not have makes the container's init create it (mkdir
   * works on the shared root filesystem even in a private mount namespace):
   * the first missing ancestor is remembered so it can be removed again.
   * Paths inside an earlier mount of the same container are the volume's
   * business and are left alone.
   */
  private claimMountPoints(mounts: Mount[]): string[] {
    const dsts: string[] = [];
    mounts.forEach((m, i) => {
      const dst = posix.normalize(m.containerPath);
      dsts.push(dst);
      this.mountsInUse.set(dst, (this.mountsInUse.get(dst) ?? 0) + 1);
      if (hostPathOf(dst, mounts.slice(0, i)) !== dst) return;
      let missing: string | undefined;
      for (let p = dst; p !== '/' && !existsSync(p); p = posix.dirname(p)) missing = p;
      if (missing) this.createdMountPoints.add(missing);
    });
    return dsts;
  }

  /**
   * Forgets a container's mount points and removes created paths that no
   * running container mounts at or below any more (never while one does:
   * removing a mount point on the host detaches it in every namespace).
   */
  private releaseMountPoints(dsts: string[]): void {
    for (const d of dsts) {
      const n = (this.mountsInUse.get(d) ?? 1) - 1;
      if (n > 0) this.mountsInUse.set(d, n);
      else this.mountsInUse.delete(d);
    }
    for (const top of [...this.createdMountPoints]) {
      const busy = [...this.mountsInUse.keys()].some((d) => d === top || d.startsWith(`${top}/`));
      if (busy) continue;
      this.createdMountPoints.delete(top);
      removeEmptyTree(top);
    }
  }

  async stopContainer(c: RunningContainer, graceSeconds: number): Promise<ExitStatus> {
    const state = this.containers.get(c.id);
    if (!state) return c.exited;
    return this.kill(state, graceSeconds);
  }

  async exec(_sandbox: Sandbox, c: RunningContainer, req: ExecRequest): Promise<StreamSession> {
    const state = this.containers.get(c.id);
    // containerd's answer for an exec into a container that has stopped.
    if (!state) throw new StartError('RunContainerError', 'failed to exec in container: container is in CONTAINER_EXITED state');
    return execInContainer(state.exec, req, this.tools, this.opts.log);
  }

  async attach(c: RunningContainer, req: { stdin: boolean; tty: boolean }): Promise<StreamSession> {
    const state = this.containers.get(c.id);
    if (!state) throw new StartError('RunContainerError', 'container is in CONTAINER_EXITED state');
    return state.io.attach(req);
  }

  async portForward(sandbox: Sandbox, port: number): Promise<Duplex> {
    return dialInPod(sandbox, port, this.tools);
  }

  /** Usage of every running container, read from its cgroup (none without cgroups). */
  async containerStats(): Promise<ContainerStats[]> {
    const timestamp = new Date();
    return [...(this.cgroups?.usage() ?? [])].map(([id, u]) => ({
      id,
      timestamp,
      cpuUsageCoreNanoSeconds: u.cpuUsageNanos,
      memoryWorkingSetBytes: u.workingSetBytes,
      memoryUsageBytes: u.memoryUsageBytes,
      memoryRssBytes: u.rssBytes,
      pageFaults: u.pageFaults,
      majorPageFaults: u.majorPageFaults,
    }));
  }

  /** SIGTERM to the container's main process (as the runtime signals a container's PID 1), SIGKILL to all of it after the grace period. */
  private async kill(state: ContainerState, graceSeconds: number): Promise<ExitStatus> {
    const pid = state.pid;
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

function firstHostIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** Removes empty directories and empty files under (and including) `path`; anything with content stays. */
function removeEmptyTree(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  try {
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) removeEmptyTree(join(path, name));
      rmdirSync(path);
    } else if (st.isFile() && st.size === 0) unlinkSync(path);
  } catch {
    /* not empty, or in use: left as it is */
  }
}
