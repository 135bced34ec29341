/**
 * exec, attach and port-forward for the process runtime. exec enters the
 * container's namespaces (`nsenter -t <pid>` with the net, mount and uts
 * namespaces it has of its own), joins its cgroup and runs the command with
 * the container's environment and working directory, as `runc exec` does.
 * A TTY is a real pseudo-terminal from util-linux `script` (already a
 * dependency for nsenter/unshare, no native module to build); its size is set
 * with `stty -F` on the terminal, which signals SIGWINCH to the foreground
 * process as a terminal resize does. attach fans a container's output out to
 * every attached client and feeds its stdin; a `tty: true` container runs on
 * such a terminal from its start (the launcher holds it), and attach resizes it. Port-forward connects to
 * localhost inside the pod's network namespace (`nsenter --net` + `socat`,
 * as kubelet's docker integration did), so servers bound to 127.0.0.1 are
 * reachable like on a CRI runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readlinkSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { constants as osConstants } from 'node:os';
import { Duplex, PassThrough, Writable, type Readable } from 'node:stream';
import { StartError, type ExecRequest, type Mount, type StreamSession, type TerminalSize } from './runtime.js';
import { hostPathOf, resolveCommand } from './process.js';

/** What exec needs to know about a running container (recorded when it started). */
export interface ContainerProcess {
  /** The container's first process: its namespaces are the container's. */
  pid: number;
  env: Record<string, string>;
  workingDir: string;
  mounts: Mount[];
  /** cgroup.procs files an exec'd process joins (empty without cgroups). */
  cgroupProcs: string[];
}

/** Host paths of the tools exec and port-forward run (undefined where missing). */
export interface ExecTools {
  sh: string;
  nsenter?: string;
  script?: string;
  stty?: string;
  socat?: string;
}

/**
 * The process an exec starts inside the namespaces: joins the cgroup,
 * changes directory and execs the command. Positional arguments only:
 * `<n> <procs>… <cwd> <argv>…`, so no user string reaches the shell parser.
 */
const EXEC_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 126; shift; n=$((n-1)); done',
  'cd "$1" || exit 126; shift',
  'exec "$@"',
].join('\n');

/** Quotes a word for a POSIX shell (what `script -c` runs its command with). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The message runc gives, through containerd, when an exec cannot start (what kubectl shows after `error executing command in container:`). */
export function execStartMessage(execId: string, detail: string): string {
  return `failed to exec in container: failed to start exec ${JSON.stringify(execId)}: OCI runtime exec failed: exec failed: unable to start container process: ${detail}: unknown`;
}

/** Namespaces of `pid` that differ from this process's (the ones exec must enter). */
function ownNamespaces(pid: number): string[] {
  const out: string[] = [];
  for (const [ns, flag] of [
    ['net', '--net'],
    ['mnt', '--mount'],
    ['uts', '--uts'],
  ] as const) {
    let theirs: string;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
      throw new StartError('RunContainerError', 'failed to exec in container: container is in CONTAINER_EXITED state');
    }
    if (theirs !== readlinkSync(`/proc/self/ns/${ns}`)) out.push(flag);
  }
  return out;
}

/** The exit code a shell reports for a process ended by a signal (128+n). */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
}

/**
 * Resizes a terminal by its path (`stty -F`), once the path is known; sizes
 * asked for before then are applied when it is. Resizes run one at a time.
 */
class TerminalResizer {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly tty: Promise<string | undefined>,
    private readonly stty: string | undefined,
    private readonly log?: (msg: string) => void,
  ) {}

  resize(size: TerminalSize): void {
    if (!this.stty) return;
    this.chain = this.chain
      .then(async () => {
        const tty = await this.tty;
        if (tty) await this.apply(tty, size);
      })
      .catch((e: Error) => this.log?.(`exec: resizing terminal: ${e.message}`));
  }

  private apply(tty: string, size: TerminalSize): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn(this.stty!, ['-F', tty, 'rows', String(size.height), 'cols', String(size.width)], { stdio: 'ignore' });
      p.once('error', reject);
      p.once('exit', () => resolve());
    });
  }
}

/**
 * Wraps argv to run on a new pseudo-terminal (util-linux `script`), echoing
 * input as a terminal does, exiting with the command's code. The terminal's
 * path is written to fd `report.fd` (default 3) first, after the pid that
 * becomes the command's with `report.pid` (`<pid> <path>`), then that fd is
 * closed.
 */
export function ttyArgv(script: string, argv: readonly string[], env: Record<string, string>, report: { fd?: number; pid?: boolean } = {}): string[] {
  const fd = report.fd ?? 3;
  // script runs its command with $SHELL -c; the container's own SHELL is put back for the command.
  const restore = env.SHELL !== undefined ? `SHELL=${shellQuote(env.SHELL)}; export SHELL; ` : 'unset SHELL; ';
  const say = report.pid ? `echo "$$ $(tty)" >&${fd}` : `tty >&${fd}`;
  const cmd = `${say}; exec ${fd}>&-; ${restore}exec ${argv.map(shellQuote).join(' ')}`;
  return [script, '--quiet', '--return', '--echo', 'always', '--command', cmd, '/dev/null'];
}

/** The first line a stream carries (the terminal path ttyArgv reports), or undefined if it ends first. */
function firstLine(from: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const done = (v: string | undefined) => {
      from.removeAllListeners('data');
      from.destroy();
      resolve(v);
    };
    from.setEncoding('utf8');
    from.on('data', (t: string) => {
      text += t;
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl).trim() || undefined);
    });
    from.once('end', () => done(undefined));
    from.once('error', () => done(undefined));
  });
}

/**
 * Runs a command in a running container (see the module comment). Throws
 * StartError with runc's message when the command or working directory is
 * missing or the container is gone.
 */
export async function execInContainer(proc: ContainerProcess, req: ExecRequest, tools: ExecTools, log?: (msg: string) => void): Promise<StreamSession> {
  const execId = randomBytes(32).toString('hex');
  const fail = (detail: string) => new StartError('RunContainerError', execStartMessage(execId, detail));
  if (req.argv.length === 0) throw fail('exec: "": executable file not found in $PATH');
  const cwd = proc.workingDir || '/';
  let cwdOk = false;
  try {
    cwdOk = statSync(hostPathOf(cwd, proc.mounts)).isDirectory();
  } catch {
    /* reported below */
  }
  if (!cwdOk) throw fail(`chdir to cwd (${JSON.stringify(cwd)}) set in config.json failed: no such file or directory`);
  let command: string;
  try {
    command = resolveCommand(req.argv[0]!, proc.env, cwd, proc.mounts);
  } catch (e) {
    // resolveCommand speaks for container start; exec reports the same detail in runc exec's words.
    throw fail((e as Error).message.replace(/^failed to start container process: /, ''));
  }
  const namespaces = ownNamespaces(proc.pid);
  if (namespaces.length && !tools.nsenter) throw fail('nsenter not found on this node (install util-linux)');
  if (req.tty && !tools.script) throw fail('script not found on this node (install util-linux): no terminal can be allocated');

  let argv = [tools.sh, '-c', EXEC_SCRIPT, 'kite-exec', String(proc.cgroupProcs.length), ...proc.cgroupProcs, cwd, command, ...req.argv.slice(1)];
  if (namespaces.length) argv = [tools.nsenter!, '-t', String(proc.pid), ...namespaces, '--', ...argv];
  const env: Record<string, string> = { ...proc.env };
  // containerd gives a terminal session TERM=xterm unless the container sets one.
  if (req.tty) env.TERM ??= 'xterm';
  if (req.tty) argv = ttyArgv(tools.script!, argv, env);

  // detached: its own process group, so close() can end it and whatever it started.
  const child = spawn(argv[0]!, argv.slice(1), {
    env: req.tty ? { ...env, SHELL: tools.sh } : env,
    cwd: '/',
    detached: true,
    // fd 3 brings back the terminal's path (see ttyArgv).
    stdio: [req.stdin || req.tty ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(req.tty ? (['pipe'] as const) : [])],
  });
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (e) => resolve(e));
  });
  if (spawnError) throw fail(spawnError.message);
  return childSession(child, req, tools, log);
}

/** The StreamSession of an exec'd child process. */
function childSession(child: ChildProcess, req: ExecRequest, tools: ExecTools, log?: (msg: string) => void): StreamSession {
  const exited = new Promise<{ exitCode: number; signal?: string }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ exitCode: exitCodeOf(code, signal), ...(signal ? { signal } : {}) }));
  });
  child.stdin?.on('error', () => undefined);
  let stdout: Readable = child.stdout!;
  if (req.tty) {
    // With a terminal everything is one stream; script's own complaints join it.
    const merged = new PassThrough();
    let open = 2;
    const end = () => --open === 0 && merged.end();
    child.stdout!.on('data', (c: Buffer) => merged.write(c)).once('end', end);
    child.stderr!.on('data', (c: Buffer) => merged.write(c)).once('end', end);
    stdout = merged;
  }
  const tty = req.tty ? firstLine(child.stdio[3] as Readable) : undefined;
  const resizer = tty ? new TerminalResizer(tty.then((t) => (t?.startsWith('/dev/') ? t : undefined)), tools.stty, log) : undefined;
  return {
    stdin: req.stdin ? child.stdin! : undefined,
    stdout,
    stderr: req.tty ? undefined : child.stderr!,
    resize: resizer ? (s) => resizer.resize(s) : undefined,
    exited,
    close: () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
  };
}

/** A started container process as attach reaches it (the launcher's handle). */
export interface AttachableProcess {
  pid: number;
  exited: Promise<unknown>;
  /** Writes to its stdin; no data ends it. */
  writeStdin(data?: Uint8Array): void;
  /** Its output from now on, until unsubscribe or exit. */
  subscribe(): { stdout: Readable; stderr: Readable; unsubscribe(): void };
  /** Sets its terminal's size (a TTY container). */
  resize?(size: TerminalSize): void;
}

/** How a container was started, as far as attach cares. */
export interface ContainerIoOptions {
  /** The container keeps a stdin pipe (`stdin: true`). */
  stdin: boolean;
  /** The container runs on a terminal (`tty: true`): one output stream, resizable. */
  tty?: boolean;
  /** Close the container's stdin when the first attach that wrote to it detaches (CRI StdinOnce). */
  stdinOnce: boolean;
}

/**
 * A container's stdio as attach sees it: its output from now on (every
 * attached client gets all of it) and its stdin pipe when it keeps one.
 * A TTY container has one output stream and takes the client's terminal
 * size (the last resize of any attached client wins, as on containerd).
 */
export class ContainerIo {
  private ended = false;
  private stdinClosed = false;

  constructor(
    private readonly proc: AttachableProcess,
    private readonly opts: ContainerIoOptions,
  ) {
    void proc.exited.then(() => (this.ended = true));
  }

  /** Attaches a client: its streams end when the container exits or when it detaches (close). */
  attach(req: { stdin: boolean; tty: boolean }): StreamSession {
    if (this.ended) throw new StartError('RunContainerError', 'container is in CONTAINER_EXITED state');
    const sub = this.proc.subscribe();
    // The session ends when the container exits or the client detaches (an attach reports no exit code).
    let detach!: () => void;
    const detached = new Promise<void>((r) => (detach = r));
    const exited = Promise.race([this.proc.exited, detached]).then(() => ({ exitCode: 0 }));
    const stdin =
      req.stdin && this.opts.stdin && !this.stdinClosed
        ? new Writable({
            write: (chunk: Buffer, _enc, cb) => {
              if (!this.stdinClosed) this.proc.writeStdin(chunk);
              cb();
            },
            final: (cb) => {
              // upstream StdinOnce: the container's stdin closes when the first attach's input ends.
              if (this.opts.stdinOnce && !this.stdinClosed) {
                this.stdinClosed = true;
                this.proc.writeStdin();
              }
              cb();
            },
          })
        : undefined;
    // The container's own terminal decides, not the request: without one the two streams stay apart, with one stderr is part of stdout.
    const tty = this.opts.tty === true;
    if (tty) sub.stderr.resume();
    return {
      stdin,
      stdout: sub.stdout,
      stderr: tty ? undefined : sub.stderr,
      ...(tty && this.proc.resize ? { resize: (size: TerminalSize) => this.proc.resize!(size) } : {}),
      exited,
      close: () => {
        sub.unsubscribe();
        detach();
      },
    };
  }
}

/** Go's form of a socket error (`connect: connection refused`) from socat's or Node's text. */
function dialErrorText(e: string): string {
  return e.replace(/^.*\): /, '').toLowerCase();
}

/**
 * Opens a TCP connection to `port` on localhost inside the pod network
 * (the host's localhost for host-network pods). Rejects with containerd's
 * wording when nothing listens there.
 */
export function dialInPod(sandbox: { id: string; netnsPath?: string }, port: number, tools: ExecTools): Promise<Duplex> {
  const failure = (detail: string) =>
    new Error(
      sandbox.netnsPath
        ? `failed to execute portforward in network namespace ${JSON.stringify(sandbox.netnsPath)}: failed to connect to localhost:${port} inside namespace ${JSON.stringify(sandbox.id)}, IPv4: dial tcp4 127.0.0.1:${port}: ${detail} `
        : `failed to connect to localhost:${port} inside namespace ${JSON.stringify(sandbox.id)}, IPv4: dial tcp4 127.0.0.1:${port}: ${detail} `,
    );
  if (!sandbox.netnsPath) {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => reject(failure(`connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`)));
    });
  }
  if (!tools.nsenter || !tools.socat) return Promise.reject(failure('nsenter and socat are needed to reach the pod network (install util-linux and socat)'));
  return new Promise((resolve, reject) => {
    // -t: after one side ends, wait for the other (the client decides when a forwarded connection is over).
    const child = spawn(tools.nsenter!, [`--net=${sandbox.netnsPath}`, '--', tools.socat!, '-d', '-d', '-t', '86400', 'STDIO', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let errText = '';
    let connected = false;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => {
      if (connected) return;
      errText += t;
      if (errText.includes('starting data transfer loop')) {
        connected = true;
        const stream = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
        stream.once('close', () => child.kill('SIGKILL'));
        child.stdout!.once('end', () => child.kill('SIGTERM'));
        resolve(stream);
      }
    });
    child.stdin!.on('error', () => undefined);
    child.once('error', (e) => reject(failure(e.message)));
    child.once('exit', () => {
      if (connected) return;
      const line = errText.split('\n').find((l) => / E /.test(l));
      reject(failure(line ? `connect: ${dialErrorText(line)}` : 'connection failed'));
    });
  });
}
