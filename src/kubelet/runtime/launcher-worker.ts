/**
 * The launcher's helper process (see launcher.ts): spawns host commands and
 * container processes, owns their pipes, writes container logs and reports
 * exits over its IPC channel. Spawning blocks the caller until the child has
 * exec'd, and forking a small process costs a fraction of forking the node
 * agent's (whose heap holds the cluster): doing it here keeps the agent's
 * event loop — shared with the API server, controllers and scheduler — free
 * while many pods start. It ends when the agent does (its channel closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CriLogWriter } from './crilog.js';
import type { LauncherReply, LauncherRequest } from './launcher.js';

/** Grace for a container's pipes after its main process exited (an escaped process may hold them open). */
const DRAIN_MS = 2000;

if (!process.send) throw new Error('launcher-worker runs as a child process with an IPC channel (see launcher.ts)');
const send = process.send.bind(process);
// The agent is gone (or stopped the launcher): nothing is left to report to. Containers live on, as with a restarted agent.
process.on('disconnect', () => process.exit(0));
const children = new Map<number, { child: ChildProcess; watching: boolean }>();

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
  // detached: its own session and process group, so stopping it never signals the agent.
  // fd 3: the container's init writes to it and closes it right before it execs the command.
  const child = spawn(req.cmd, req.args, { env: req.env, cwd: '/', detached: true, stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'] });
  child.once('error', (e) => {
    if (child.pid !== undefined) return;
    void log.close().then(() => reply({ t: 'startFailed', id: req.id, message: e.message }));
  });
  child.once('spawn', () => {
    const pid = child.pid!;
    const entry = { child, watching: false };
    children.set(req.id, entry);
    log.pipe('stdout', child.stdout!);
    log.pipe('stderr', child.stderr!);
    // Output for attached clients, forwarded only while someone watches.
    child.stdout!.on('data', (d: Buffer) => entry.watching && reply({ t: 'output', id: req.id, stream: 'stdout', data: d }));
    child.stderr!.on('data', (d: Buffer) => entry.watching && reply({ t: 'output', id: req.id, stream: 'stderr', data: d }));
    child.stdin?.on('error', () => {});
    child.once('exit', async (code, signal) => {
      // As when a PID namespace's init exits: nothing else of the container survives it.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* group already empty */
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
    let told = false;
    const tell = () => {
      if (told) return;
      told = true;
      reply({ t: 'started', id: req.id, pid });
      ready.removeAllListeners('data');
      ready.resume();
    };
    ready.once('data', tell);
    ready.once('end', tell);
    ready.once('close', tell);
    ready.once('error', tell);
  });
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
    case 'watch': {
      const e = children.get(req.id);
      if (e) e.watching = req.on;
      return;
    }
  }
});
