/**
 * A `kite server` child process for the benchmarks that need a real node
 * (pod start, cri start, training): started from bin/kite.js on a free port,
 * ready once it prints that the control plane is ready, stopped with SIGTERM
 * (SIGKILL after a grace time) and its data dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpClient } from '../src/client/http.js';
import type { Client } from '../src/client/client.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package root: dist/bench/ when compiled, bench/ when run through tsx. */
const ROOT = HERE.endsWith(join('dist', 'bench')) ? resolve(HERE, '..', '..') : resolve(HERE, '..');

/** A started `kite server` with its local node. */
export interface BenchServer {
  child: ChildProcess;
  dataDir: string;
  client: Client;
  /** The last 20 kB the server wrote to stderr (for failure reports). */
  stderr: () => string;
  stop(): Promise<void>;
}

/** How to start one. */
export interface BenchServerOptions {
  /** Names the data dir and the client's user agent and field manager (`kite-<name>-bench`). */
  name: string;
  /** `kite server` flags beyond data dir, port and bind address. */
  args?: string[];
  /** Flags for node itself (e.g. --cpu-prof), before the script. */
  nodeArgs?: string[];
  /** How long a stop waits after SIGTERM before SIGKILL (default 60 s). */
  stopGraceMs?: number;
}

/** Starts a server and resolves once it is ready, with a client of its admin kubeconfig. */
export async function startBenchServer(o: BenchServerOptions): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), `kite-${o.name}-bench-`));
  const args = [...(o.nodeArgs ?? []), join(ROOT, 'bin', 'kite.js'), 'server', '--data-dir', dataDir, '--port', '0', '--bind-address', '127.0.0.1', ...(o.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((ready, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('Kite control plane is ready.')) ready();
    });
    child.once('exit', (code) => reject(new Error(`kite server exited (${code}) before it was ready:\n${err}`)));
  });
  const agent = `kite-${o.name}-bench`;
  const client = HttpClient.fromKubeconfig(join(dataDir, 'kubeconfig.yaml'), undefined, { userAgent: agent, fieldManager: agent });
  return {
    child,
    dataDir,
    client,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), o.stopGraceMs ?? 60_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `probe` is truthy or the time is up (for the few one-off waits of set-up). */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
