/**
 * Small helpers for running the host tools the process runtime relies on
 * (`ip`, `mount`, `nsenter`, `unshare`) with errors that say what failed.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The default PATH of a container whose environment sets none (runc's and containerd's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Output of a finished host command. */
export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A host command that exited non-zero; the message names the command and carries its stderr. */
export class CommandError extends Error {
  constructor(readonly argv: string[], readonly exitCode: number | null, readonly stderr: string) {
    super(`${argv.join(' ')}: exited ${exitCode ?? 'by signal'}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Runs a host command (no shell) and resolves with its output; rejects with CommandError on failure. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string };
      if (e.code === 'ENOENT') return reject(new CommandError([cmd, ...args], null, `${cmd} not found on this host`));
      reject(new CommandError([cmd, ...args], typeof e.code === 'number' ? e.code : null, stderr || e.message));
    });
    if (opts.input !== undefined) {
      // A command that exits before reading its input (a netns already gone) must not turn EPIPE into a crash.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

/** Like `run` but resolves false instead of throwing (for probes and best-effort cleanup). */
export async function tryRun(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

/** True when this process runs as root (uid 0). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** True when `path` is a regular file (or link to one) this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a command name against a PATH string the way execvp does; undefined when not found. */
export function lookPath(name: string, pathEnv: string = process.env.PATH ?? DEFAULT_PATH): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of pathEnv.split(delimiter)) {
    const candidate = join(dir || '.', name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
