/**
 * Helpers for node-agent tests: a command session on the host shaped like
 * what Runtime.exec returns, so probe and hook code can be tested against
 * real processes without a container. Not used outside tests.
 */
import { spawn } from 'node:child_process';
import type { StreamSession } from './runtime/runtime.js';

/** Runs argv on the host and returns its streams as a StreamSession (no stdin, no TTY). */
export async function hostSession(argv: string[]): Promise<StreamSession> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const exited = new Promise<{ exitCode: number; signal?: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ exitCode: code ?? 128, ...(signal ? { signal } : {}) })),
  );
  return {
    stdout: child.stdout!,
    stderr: child.stderr!,
    exited,
    close: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
  };
}
