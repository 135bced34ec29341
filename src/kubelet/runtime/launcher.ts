/**
 * Spawns host processes from a small resident helper process. libuv's spawn
 * blocks the calling thread until the child has exec'd, and forking the node
 * agent (whose heap holds the cluster's objects) costs several milliseconds
 * each — the agent shares its event loop with the API server, controllers
 * and scheduler, and with fifty pods starting at once those milliseconds add
 * up to most of a second. The helper (launcher-worker.ts, a Node process of a
 * few tens of MB) forks about four times faster, owns the container pipes,
 * writes the CRI logs and reports exits; this side keeps pids, promises and
 * the attach fan-out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { CommandError, type RunResult } from './sys.js';

/** Messages to the helper process. */
export type LauncherRequest =
  | { t: 'run'; id: number; cmd: string; args: string[]; input?: string; timeoutMs: number }
  | { t: 'start'; id: number; cmd: string; args: string[]; env: Record<string, string>; logPath: string; stdin: boolean; tty?: TtySpec }
  | { t: 'stdin'; id: number; data?: Uint8Array }
  | { t: 'resize'; id: number; width: number; height: number }
  | { t: 'watch'; id: number; on: boolean };

/** Messages from the helper process. */
export type LauncherReply =
  | { t: 'ran'; id: number; code: number | null; stdout: string; stderr: string; error?: string; errno?: string }
  | { t: 'started'; id: number; pid: number }
  | { t: 'startFailed'; id: number; message: string }
  | { t: 'exited'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'output'; id: number; stream: 'stdout' | 'stderr'; data: Uint8Array };

/**
 * A container on a terminal: `cmd` runs util-linux `script` (which holds the
 * pseudo-terminal's master end, its pipes held by the helper) and the command
 * inside writes `<its pid> <its terminal>` to fd 4 before it execs (see
 * exec.ts ttyArgv). That pid is the container's: signals go to it, and its
 * session is swept when it ends.
 */
export interface TtySpec {
  /** coreutils stty, to resize the terminal (`stty -F`); absent: resizes are ignored. */
  stty?: string;
}

/** What to start: a command whose stdout/stderr go to a CRI log file. */
export interface LaunchSpec {
  cmd: string;
  args: string[];
  env: Record<string, string>;
  logPath: string;
  /** Keep a pipe to its stdin (for attach). */
  stdin: boolean;
  /** Run on a pseudo-terminal: one output stream (logged as stdout, as containerd does for a TTY), stdin always open, resizable. */
  tty?: TtySpec;
}

/** A process started by the launcher. */
export interface LaunchedProcess {
  pid: number;
  /** Settles once it has exited and its output is flushed to the log. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Writes to its stdin (when started with `stdin`); no data ends the stream. */
  writeStdin(data?: Uint8Array): void;
  /** Its output from now on, until `unsubscribe` or exit. */
  subscribe(): { stdout: Readable; stderr: Readable; unsubscribe(): void };
  /** Sets its terminal's size (started with `tty`; otherwise absent). */
  resize?(size: { width: number; height: number }): void;
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

interface Live {
  pid?: number;
  exited: (v: { code: number | null; signal: NodeJS.Signals | null }) => void;
  subscribers: Set<{ stdout: PassThrough; stderr: PassThrough }>;
}

/** The launcher: one helper process, started with start() and ended with stop(). */
export class Launcher {
  private helper?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Map<number, Live>();

  /** Starts the helper process; resolves once it is running. */
  async start(): Promise<void> {
    if (this.helper) return;
    // No inherited flags (a --cpu-prof of the agent, say): the helper is plain Node. Buffers cross the channel as such.
    const w = fork(new URL('./launcher-worker.js', import.meta.url), [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    w.on('message', (m: LauncherReply) => this.onMessage(m));
    w.on('error', (e) => this.failAll(e));
    w.on('exit', () => {
      if (this.helper === w) this.helper = undefined;
      this.failAll(new Error('the launcher process exited'));
    });
    await new Promise<void>((resolve, reject) => {
      w.once('spawn', resolve);
      w.once('error', reject);
    });
    this.helper = w;
    this.updateRef();
  }

  /** Ends the helper process; processes it started keep running (stop them first). */
  async stop(): Promise<void> {
    const w = this.helper;
    this.helper = undefined;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    // Waiting for its exit must keep this process alive (it may be unref'd while idle).
    w.ref();
    w.disconnect();
    await exited;
  }

  /** Runs a host command (no shell) off the main thread; rejects with CommandError as sys.run does. */
  run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return this.request<Extract<LauncherReply, { t: 'ran' }>>({ t: 'run', id: 0, cmd, args, input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 }).then((r) => {
      if (r.errno === 'ENOENT') throw new CommandError([cmd, ...args], null, `${cmd} not found on this host`);
      if (r.error || r.code !== 0) throw new CommandError([cmd, ...args], r.code, r.stderr || r.error || '');
      return { stdout: r.stdout, stderr: r.stderr };
    });
  }

  /** Starts a container process; rejects with the spawn error's message when it cannot start. */
  async launch(spec: LaunchSpec): Promise<LaunchedProcess> {
    const id = this.nextId++;
    let onExit!: Live['exited'];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (onExit = r));
    const live: Live = { exited: onExit, subscribers: new Set() };
    this.live.set(id, live);
    let started: Extract<LauncherReply, { t: 'started' }>;
    try {
      started = await this.request({ t: 'start', id, ...spec }, id);
    } catch (e) {
      this.live.delete(id);
      this.updateRef();
      throw e;
    }
    live.pid = started.pid;
    const post = (m: LauncherRequest) => this.helper?.send(m);
    return {
      pid: started.pid,
      exited,
      writeStdin: (data) => post({ t: 'stdin', id, data }),
      ...(spec.tty ? { resize: (size: { width: number; height: number }) => post({ t: 'resize', id, width: size.width, height: size.height }) } : {}),
      subscribe: () => {
        const sub = { stdout: new PassThrough(), stderr: new PassThrough() };
        if (live.subscribers.size === 0) post({ t: 'watch', id, on: true });
        live.subscribers.add(sub);
        return {
          ...sub,
          unsubscribe: () => {
            if (!live.subscribers.delete(sub)) return;
            sub.stdout.end();
            sub.stderr.end();
            if (live.subscribers.size === 0) post({ t: 'watch', id, on: false });
          },
        };
      },
    };
  }

  /**
   * Keeps the process alive while something is asked of the helper or one of
   * its processes runs (as their own handles would on the main thread), and
   * not otherwise.
   */
  private updateRef(): void {
    const w = this.helper;
    if (!w) return;
    if (this.pending.size + this.live.size > 0) {
      w.ref();
      w.channel?.ref();
    } else {
      w.unref();
      w.channel?.unref();
    }
  }

  private request<T>(msg: LauncherRequest, id = this.nextId++): Promise<T> {
    const w = this.helper;
    if (!w) return Promise.reject(new Error('launcher is not started'));
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRef();
      w.send({ ...msg, id });
    });
  }

  private onMessage(m: LauncherReply): void {
    this.dispatch(m);
    this.updateRef();
  }

  private dispatch(m: LauncherReply): void {
    switch (m.t) {
      case 'ran':
      case 'started': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m);
        return;
      }
      case 'startFailed': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(new Error(m.message));
        return;
      }
      case 'output': {
        const live = this.live.get(m.id);
        for (const s of live?.subscribers ?? []) s[m.stream].write(Buffer.from(m.data));
        return;
      }
      case 'exited': {
        const live = this.live.get(m.id);
        this.live.delete(m.id);
        for (const s of live?.subscribers ?? []) {
          s.stdout.end();
          s.stderr.end();
        }
        live?.exited({ code: m.code, signal: m.signal });
        return;
      }
    }
  }

  /**
   * The helper is gone: what was asked fails, and its containers are ended
   * (their pipes went with it, so nothing would log or report their exit) —
   * the node agent sees them exit and restarts them per their policy.
   */
  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const [id, live] of this.live) {
      if (live.pid) {
        try {
          process.kill(-live.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      this.live.delete(id);
      live.exited({ code: null, signal: 'SIGKILL' });
    }
  }
}
