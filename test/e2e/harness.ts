/**
 * End-to-end harness: starts the real `kite server` (the built bin/kite.js)
 * on a free port with a temporary data dir, and runs the real kubectl
 * against it. Every server started is stopped by its own pid.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

/** Repository root (dist/test/e2e/ → ../../..). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The kubectl every test drives. */
export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

/** Output of one command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running `kite server` for one test file. */
export class KiteServer {
  proc?: ChildProcess;
  readonly dataDir: string;
  kubeconfig = '';
  log = '';
  /** Files written for this server's tests, removed by cleanup(). */
  private readonly files: string[] = [];

  constructor(
    readonly opts: {
      datastore?: 'sqlite' | 'memory';
      dataDir?: string;
      extraArgs?: string[];
      /** run the local node agent (default: control plane only) */
      agent?: boolean;
      /** options for node itself, e.g. `--cpu-prof` */
      nodeArgs?: string[];
    } = {},
  ) {
    this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kite-e2e-'));
  }

  /** Starts the server and waits until its kubeconfig is written (it is written once /readyz is ok). */
  async start(): Promise<void> {
    const kc = join(this.dataDir, 'kubeconfig.yaml');
    if (existsSync(kc)) rmSync(kc);
    this.log = '';
    const args = [...(this.opts.nodeArgs ?? []), join(ROOT, 'bin', 'kite.js'), 'server', '--data-dir', this.dataDir, '--port', '0', '--bind-address', '127.0.0.1', '--datastore', this.opts.datastore ?? 'sqlite', ...(this.opts.agent ? this.podNetworkArgs() : ['--disable-agent', '--disable-scheduler', '--controllers=namespace-controller,garbage-collector-controller']), ...(this.opts.extraArgs ?? [])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.log += d));
    proc.stderr!.on('data', (d) => (this.log += d));
    // Ready when the server prints its ready line (after the kubeconfig is written).
    await waitForOutput(proc, () => this.log, 'control plane is ready', 'kite server');
    this.kubeconfig = kc;
  }

  /**
   * A bridge name and pod CIDR of this server's own (kept across restarts), so test
   * clusters never share the network of a `kite up` running on the same machine.
   */
  private podNetworkArgs(): string[] {
    this.net ??= {
      bridge: `kt${randomBytes(3).toString('hex')}`,
      cidr: `10.244.${100 + Math.floor(Math.random() * 150)}.0/24`,
      // A service CIDR of its own, outside 10.96.0.0/12 (a `kite up` on this machine proxies that one).
      serviceCidr: `10.${112 + Math.floor(Math.random() * 88)}.${Math.floor(Math.random() * 256)}.0/24`,
    };
    // Any free port for the Ingress controller: port 80 may belong to a `kite up` or another test server.
    return ['--bridge', this.net.bridge, '--pod-cidr', this.net.cidr, '--service-cidr', this.net.serviceCidr, '--ingress-port', '0'];
  }

  private net?: { bridge: string; cidr: string; serviceCidr: string };

  /** The bridge and pod CIDR of this server's node (agent servers, once started). */
  get podNetwork(): { bridge: string; cidr: string } | undefined {
    return this.net && { bridge: this.net.bridge, cidr: this.net.cidr };
  }

  /** Stops the server with a signal and waits for it to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = once(p, 'exit');
    p.kill(signal);
    const [code] = (await exited) as [number | null];
    this.proc = undefined;
    return code;
  }

  /** Stops the server (if running) and removes its data dir and the files written with file(). */
  async cleanup(): Promise<void> {
    await this.stop();
    for (const f of this.files) rmSync(dirname(f), { recursive: true, force: true });
    if (!this.opts.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Writes a manifest (or any file) for a test; cleanup() removes it. */
  file(name: string, content: string): string {
    const p = tempFile(name, content);
    this.files.push(p);
    return p;
  }

  /** Runs kubectl against this server. */
  kubectl(args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(KUBECTL, args, { input: opts.input, timeoutMs: opts.timeoutMs, env: { KUBECONFIG: this.kubeconfig, ...(opts.env ?? {}) } });
  }

  /** Runs kubectl and fails with its output unless it exits 0; returns stdout. */
  async k(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Creates a namespace with `kubectl create -f` (a manifest, not the generator), so a test works in its own. */
  async namespace(name: string): Promise<void> {
    await this.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  }

  /** The Ingress controller's HTTP port on the node, from the server's log (agent servers only). */
  ingressPort(): number {
    const m = /Ingress controller serving HTTP on port (\d+)/.exec(this.log);
    if (!m) throw new Error(`the server did not start an Ingress controller:\n${this.log}`);
    return Number(m[1]);
  }

  /** The server's base URL from its kubeconfig. */
  serverUrl(): string {
    const m = /server: (\S+)/.exec(readFileSync(this.kubeconfig, 'utf8'));
    return m ? m[1] : '';
  }
}

/**
 * A `kite agent` joined to a KiteServer, as another machine's node would be:
 * its own data dir, node name, bridge `kt<hex>` and pod CIDR out of
 * 10.244.100–249.0/24 (unless it is to wait for the server's node-ipam
 * allocation), and a free Ingress port. stop() ends it by pid and checks
 * that its bridge, nftables table, pod network namespaces and cgroups are gone.
 */
export class KiteAgent {
  proc?: ChildProcess;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'kite-e2e-agent-'));
  readonly nodeName: string;
  readonly bridge = `kt${randomBytes(3).toString('hex')}`;
  readonly podCidr?: string;
  log = '';
  /** Pod network namespaces this agent made (read from its IPAM records), checked gone after stop(). */
  private netns = new Set<string>();

  constructor(
    readonly server: KiteServer,
    readonly opts: { nodeName?: string; token?: string; allocatedPodCidr?: boolean; extraArgs?: string[] } = {},
  ) {
    this.nodeName = opts.nodeName ?? `agent-${randomBytes(3).toString('hex')}`;
    const taken = server.podNetwork?.cidr;
    if (!opts.allocatedPodCidr) {
      do this.podCidr = `10.244.${100 + Math.floor(Math.random() * 150)}.0/24`;
      while (this.podCidr === taken);
    }
  }

  /** The server's node join token, as `kite token` prints it. */
  async token(): Promise<string> {
    const r = await run(process.execPath, [join(ROOT, 'bin', 'kite.js'), 'token', '--data-dir', this.server.dataDir]);
    if (r.code !== 0) throw new Error(`kite token failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  private async args(): Promise<string[]> {
    return [
      join(ROOT, 'bin', 'kite.js'), 'agent', '--server', this.server.serverUrl(), '--token', this.opts.token ?? (await this.token()),
      '--node-name', this.nodeName, '--data-dir', this.dataDir, '--bridge', this.bridge, '--ingress-port', '0',
      ...(this.podCidr ? ['--pod-cidr', this.podCidr] : []), ...(this.opts.extraArgs ?? []),
    ];
  }

  /** Starts the agent; resolves when it prints its ready line (`waitReady: false`: once spawned). */
  async start(opts: { waitReady?: boolean } = {}): Promise<void> {
    this.log = '';
    const proc = spawn(process.execPath, await this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.log += d));
    proc.stderr!.on('data', (d) => (this.log += d));
    if (opts.waitReady === false) return;
    await this.waitForLog('Kite agent is ready');
  }

  /** Resolves once the agent's output contains `text`; rejects if it exits first. */
  waitForLog(text: string): Promise<void> {
    return waitForOutput(this.proc!, () => this.log, text, 'kite agent');
  }

  /** Runs the agent to its exit (for runs that must fail); returns its exit code and output. */
  async runToExit(timeoutMs = 30_000): Promise<RunResult> {
    return run(process.execPath, await this.args(), { timeoutMs });
  }

  /** Stops the agent by pid with SIGTERM, waits for it, and checks that it left no network or cgroup behind. */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p) return null;
    this.rememberNetns();
    let code = p.exitCode;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = once(p, 'exit');
      p.kill('SIGTERM');
      [code] = (await exited) as [number | null];
    }
    this.proc = undefined;
    const left: string[] = [];
    if ((await run('ip', ['link', 'show', 'dev', this.bridge])).code === 0) left.push(`bridge ${this.bridge}`);
    if ((await run('nft', ['list', 'table', 'ip', `kite-${this.bridge}`])).code === 0) left.push(`nftables table ip kite-${this.bridge}`);
    for (const ns of this.netns) if (existsSync(join('/var/run/netns', ns))) left.push(`network namespace ${ns}`);
    for (const ctrl of ['memory', 'cpu', 'cpuacct', 'pids']) if (existsSync(join('/sys/fs/cgroup', ctrl, this.bridge))) left.push(`cgroup ${ctrl}/${this.bridge}`);
    if (left.length) throw new Error(`kite agent left behind: ${left.join(', ')}\n${this.log}`);
    return code;
  }

  /** Notes the pod network namespaces the agent has made so far (its IPAM records name them). */
  rememberNetns(): void {
    const dir = join(this.dataDir, 'agent', 'ipam');
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) this.netns.add(readFileSync(join(dir, f), 'utf8').trim());
  }

  /** Stops the agent (if running) and removes its data dir. */
  async cleanup(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Resolves once a child's collected output (`output()`) contains `text`; rejects if the child exits first. */
function waitForOutput(proc: ChildProcess, output: () => string, text: string, who: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (output().includes(text)) {
        done();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`${who} exited (${code}) before printing "${text}":\n${output()}`));
    };
    const done = () => {
      proc.stdout!.off('data', onData);
      proc.stderr!.off('data', onData);
      proc.off('exit', onExit);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', onExit);
    onData();
  });
}

/** Runs a program and collects its output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: { ...process.env, ...(opts.env ?? {}) }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, cwd: opts.cwd },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin?.end();
  });
}

/** Writes a file into a fresh temp dir and returns its path. */
export function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kite-e2e-file-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Polls `check` until it returns a truthy value (for conditions that have no watch to await). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
