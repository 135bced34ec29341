/**
 * The launcher's helper process (see launcher.ts): spawns host commands and
 * container processes, owns their pipes, writes container logs and reports
 * exits over its IPC channel. Spawning blocks the caller until the child has
 * exec'd, and forking a small process costs a fraction of forking the node
 * agent's (whose heap holds the cluster): doing it here keeps the agent's
 * event loop — shared with the API server, controllers and scheduler — free
 * while many pods start. A TTY container's terminal is resized here too.
 * It ends when the agent does (its channel closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CriLogWriter } from './crilog.js';
import type { LauncherReply, LauncherRequest } from './launcher.js';

/** Grace for a container's pipes after its main process exited (an escaped process may hold them open). */
const DRAIN_MS = 2000;

if (!process.send) throw new Error('launcher-worker runs as a child process with an IPC channel (see launcher.ts)');
const send = process.send.bind(process);
// The agent is gone (or stopped the launcher): nothing is left to report to. Containers live on, as with a restarted agent.
process.on('disconnect', () => process.exit(0));
/** A container process the helper started. */
interface Child {
  child: ChildProcess;
  watching: boolean;
  /** TTY: the command's pid (the session it leads on its terminal) and the terminal's path, once reported. */
  session?: number;
  terminal?: string;
  stty?: string;
  /** TTY: sizes asked for before the terminal was known. */
  sizes?: { width: number; height: number }[];
  /** TTY: the resize under way (they run in order). */
  resizing?: Promise<void>;
}

const children = new Map<number, Child>();

function reply(msg: LauncherReply): void {
  send(msg);
}

function runCommand(req: Extract<LauncherRequest, { t: 'run' }>): void {
  let child: ChildProcess;
  try {
    child = spawn(req.cmd, req.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    reply({ t: 'ran', id: req.id, code: null, stdout: '', stderr: '', error: (e as Error).message });
    return;
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), req.timeoutMs);
  let failed: NodeJS.ErrnoException | undefined;
  child.once('error', (e) => (failed = e));
  child.once('close', (code) => {
    clearTimeout(timer);
    reply({
      t: 'ran',
      id: req.id,
      code,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      ...(failed ? { error: failed.message, errno: failed.code } : {}),
    });
  });
  child.stdin!.on('error', () => {});
  child.stdin!.end(req.input ?? '');
}

function startContainer(req: Extract<LauncherRequest, { t: 'start' }>): void {
  const log = new CriLogWriter(req.logPath);
  const tty = req.tty !== undefined;
  // detached: its own session and process group, so stopping it never signals the agent.
  // fd 3: the container's init writes to it and closes it right before it execs the command.
  // fd 4 (TTY): the command's pid and terminal. A terminal's input stays open (EOF would end the shell on it, as a hangup does).
  const stdio = tty ? (['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] as const) : ([req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'] as const);
  const child = spawn(req.cmd, req.args, { env: req.env, cwd: '/', detached: true, stdio: [...stdio] });
  child.once('error', (e) => {
    if (child.pid !== undefined) return;
    void log.close().then(() => reply({ t: 'startFailed', id: req.id, message: e.message }));
  });
  child.once('spawn', () => {
    const entry: Child = { child, watching: false, stty: req.tty?.stty };
    children.set(req.id, entry);
    // With a terminal there is one stream (what `script` says of itself joins it), logged as stdout as containerd logs a TTY.
    const streams = [['stdout', child.stdout!], ['stderr', child.stderr!]] as const;
    for (const [name, from] of streams) {
      const as = tty ? 'stdout' : name;
      log.pipe(as, from);
      // Output for attached clients, forwarded only while someone watches.
      from.on('data', (d: Buffer) => entry.watching && reply({ t: 'output', id: req.id, stream: as, data: d }));
    }
    child.stdin?.on('error', () => {});
    child.once('exit', async (code, signal) => {
      // As when a PID namespace's init exits: nothing else of the container survives it.
      killGroup(child.pid!);
      // On a terminal the shell's background jobs have process groups of their own: the whole session goes.
      if (entry.session !== undefined) {
        killGroup(entry.session);
        killSession(entry.session);
      }
      const drain = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, DRAIN_MS);
      await log.close();
      clearTimeout(drain);
      children.delete(req.id);
      reply({ t: 'exited', id: req.id, code, signal });
    });
    // Started once the init is about to exec the command, or (failing before that) once it is gone.
    const ready = child.stdio[3] as NodeJS.ReadableStream;
    const ttyInfo = tty ? firstLine(child.stdio[4] as NodeJS.ReadableStream) : Promise.resolve(undefined);
    let told = false;
    const tell = () => {
      if (told) return;
      told = true;
      ready.removeAllListeners('data');
      ready.resume();
      void ttyInfo.then((line) => {
        const m = line ? /^(\d+) (\/dev\/\S+)$/.exec(line) : null;
        if (m) {
          entry.session = Number(m[1]);
          entry.terminal = m[2];
          for (const size of entry.sizes ?? []) resize(entry, size);
          entry.sizes = undefined;
        }
        reply({ t: 'started', id: req.id, pid: entry.session ?? child.pid! });
      });
    };
    ready.once('data', tell);
    ready.once('end', tell);
    ready.once('close', tell);
    ready.once('error', tell);
  });
}

/** SIGKILL to a process group, if any of it is left. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* group already empty */
  }
}

/** SIGKILL to every process of a session (a terminal's: job control puts each job in a group of its own). */
function killSession(sid: number): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): state ppid pgrp session …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // The leader itself is gone: a process with its pid is a newcomer that reused it.
      if (Number(fields[3]) === sid && Number(pid) !== sid) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

/** The first line of a stream (trimmed), or undefined if it ends first; the rest is drained. */
function firstLine(from: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      resolve(v);
    };
    from.setEncoding('utf8');
    from.on('data', (t: string) => {
      text += t;
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(text.slice(0, nl).trim());
    });
    from.once('end', () => finish(undefined));
    from.once('close', () => finish(undefined));
    from.once('error', () => finish(undefined));
  });
}

/** Sets a container terminal's size (`stty -F`, which signals SIGWINCH to its foreground job as a terminal resize does); one at a time, in order. */
function resize(entry: Child, size: { width: number; height: number }): void {
  if (!entry.stty) return;
  if (!entry.terminal) {
    // Asked before the terminal is known: applied once it is.
    (entry.sizes ??= []).push(size);
    return;
  }
  const { stty, terminal } = entry;
  entry.resizing = (entry.resizing ?? Promise.resolve()).then(
    () =>
      new Promise<void>((resolve) => {
        const p = spawn(stty, ['-F', terminal, 'rows', String(size.height), 'cols', String(size.width)], { stdio: 'ignore' });
        p.once('error', () => resolve());
        p.once('exit', () => resolve());
      }),
  );
}

process.on('message', (req: LauncherRequest) => {
  switch (req.t) {
    case 'run':
      return runCommand(req);
    case 'start':
      return startContainer(req);
    case 'stdin': {
      const c = children.get(req.id)?.child;
      if (req.data) c?.stdin?.write(req.data);
      else c?.stdin?.end();
      return;
    }
    case 'resize': {
      const e = children.get(req.id);
      if (e) resize(e, { width: req.width, height: req.height });
      return;
    }
    case 'watch': {
      const e = children.get(req.id);
      if (e) e.watching = req.on;
      return;
    }
  }
});
