/**
 * Images and a registry for tests of the `cri` runtime, with no public
 * registry in reach: Debian's `docker-registry` started on loopback with its
 * own config and storage (optionally behind htpasswd basic auth), and images
 * assembled from files here (busybox-static as the only program) pushed to
 * it over the registry HTTP API v2. Not used outside tests and benchmarks.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountsUnder, pidsWithArg, portmapCleanupScript } from './containerd.js';
import type { CriRuntimeOptions } from './cri.js';
import { BUSYBOX, IMAGE_PATH_ENV, buildImage, busyboxLayer, type Blob, type ImageRunConfig, type LayerEntry, type OciImage } from './oci.js';

/** Where Debian's docker-registry and apache2-utils put their programs. */
export const REGISTRY_BIN = '/usr/bin/docker-registry';
const HTPASSWD_BIN = '/usr/bin/htpasswd';

/** Why CRI tests cannot run here (a missing program or not root), or undefined when they can. */
export function criTestSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (containerd, runc, CNI)';
  for (const [bin, pkg] of [
    ['/usr/bin/containerd', 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
    [REGISTRY_BIN, 'docker-registry'],
    [BUSYBOX, 'busybox-static'],
    ['/usr/bin/ctr', 'containerd'],
  ] as const) {
    if (!existsSync(bin)) return `needs ${bin} (Debian package ${pkg})`;
  }
  return false;
}

/** A free TCP port on `address` (the registry takes no port 0 it would report back). */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, address, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Basic-auth credentials of a registry. */
export interface RegistryAuth {
  username: string;
  password: string;
}

/** Debian's docker-registry (on 127.0.0.1 unless told another address) with its own storage, stopped by pid. */
export class LocalRegistry {
  private proc?: ChildProcess;
  private dir?: string;
  private output = '';
  /** `<address>:<port>`, the registry part of image references, once started. */
  host = '';

  constructor(private readonly opts: { auth?: RegistryAuth; address?: string } = {}) {}

  /** Starts the registry and resolves once `/v2/` answers. */
  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'kite-registry-'));
    const address = this.opts.address ?? '127.0.0.1';
    const port = await freePort(address);
    this.host = `${address}:${port}`;
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(this.dir, 'storage') }, delete: { enabled: true } },
      http: { addr: this.host },
    };
    if (this.opts.auth) {
      // The registry's htpasswd auth accepts bcrypt entries only (`htpasswd -B`).
      const line = execFileSync(HTPASSWD_BIN, ['-nbB', this.opts.auth.username, this.opts.auth.password], { encoding: 'utf8' }).trim();
      writeFileSync(join(this.dir, 'htpasswd'), `${line}\n`);
      config.auth = { htpasswd: { realm: 'kite-test', path: join(this.dir, 'htpasswd') } };
    }
    // JSON is YAML: the registry reads it as its config file.
    writeFileSync(join(this.dir, 'config.yml'), JSON.stringify(config));
    const proc = spawn(REGISTRY_BIN, ['serve', join(this.dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.output += d));
    proc.stderr!.on('data', (d) => (this.output += d));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited (${proc.exitCode}):\n${this.output}`);
      try {
        const r = await fetch(`http://${this.host}/v2/`);
        if (r.status === 200 || r.status === 401) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${this.host}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the registry (by its pid) and removes its storage. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    this.proc = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const a = this.opts.auth;
    return a ? { authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`, ...extra } : extra;
  }

  /** Uploads one blob unless the registry has it (monolithic upload: POST, then PUT with the digest). */
  private async pushBlob(repo: string, b: Blob): Promise<void> {
    const base = `http://${this.host}/v2/${repo}/blobs`;
    const head = await fetch(`${base}/${b.digest}`, { method: 'HEAD', headers: this.headers() });
    if (head.status === 200) return;
    const start = await fetch(`${base}/uploads/`, { method: 'POST', headers: this.headers() });
    if (start.status !== 202) throw new Error(`starting the upload of ${b.digest} to ${repo}: HTTP ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location')!, `http://${this.host}`);
    location.searchParams.set('digest', b.digest);
    const put = await fetch(location, { method: 'PUT', headers: this.headers({ 'content-type': 'application/octet-stream' }), body: new Uint8Array(b.data) });
    if (put.status !== 201) throw new Error(`uploading ${b.digest} to ${repo}: HTTP ${put.status} ${await put.text()}`);
  }

  /** Pushes an image as `<host>/<repo>:<tag>` and returns that reference. */
  async push(repo: string, tag: string, image: OciImage): Promise<string> {
    for (const b of [image.config, ...image.layers]) await this.pushBlob(repo, b);
    const r = await fetch(`http://${this.host}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT',
      headers: this.headers({ 'content-type': image.manifest.mediaType }),
      body: new Uint8Array(image.manifest.data),
    });
    if (r.status !== 201) throw new Error(`pushing the manifest of ${repo}:${tag}: HTTP ${r.status} ${await r.text()}`);
    return `${this.host}/${repo}:${tag}`;
  }
}

/**
 * A busybox image: every applet of Debian's busybox-static in /bin (sh,
 * sleep, wget, nc, httpd…), PATH set, `sh` as the default command, plus any
 * extra layer entries (e.g. a file to serve).
 */
export function busyboxImage(run: ImageRunConfig = {}, extra: LayerEntry[] = []): OciImage {
  const layers = [busyboxLayer()];
  if (extra.length) layers.push(extra);
  return buildImage(layers, { env: [IMAGE_PATH_ENV], cmd: ['sh'], ...run });
}

/**
 * Options for a throwaway cri runtime: its own data dir, a bridge `kt<hex>`,
 * a pod CIDR in 10.251.0.0/16 and a cgroup root `kitetest-<hex>`, random so
 * that parallel runs do not meet; `insecureRegistries` as given.
 */
export function testCriOptions(overrides: Partial<CriRuntimeOptions> = {}): CriRuntimeOptions & { cgroupName: string; logs: string[] } {
  const tag = randomBytes(4).toString('hex');
  const logs: string[] = [];
  return {
    dataDir: overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'kite-cri-')),
    podCidr: `10.251.${randomBytes(1)[0]}.0/24`,
    bridge: `kt${tag}`,
    cgroupName: `kitetest-${tag}`,
    log: (msg) => logs.push(msg),
    logs,
    ...overrides,
  };
}

/**
 * What a stopped cri runtime left on the host: containerd or shims serving
 * its socket, mounts under its data dir, its socket, network namespaces,
 * its bridge, its cgroup tree, CNI iptables chains. Empty when clean.
 */
export function criLeftovers(opts: { dataDir: string; bridge: string; cgroupName: string }): string[] {
  const out: string[] = [];
  const dir = join(opts.dataDir, 'containerd');
  const socket = join(dir, 'containerd.sock');
  for (const pid of pidsWithArg(socket)) out.push(`process ${pid} serving ${socket}`);
  for (const pid of pidsWithArg(join(dir, 'config.toml'))) out.push(`containerd ${pid}`);
  for (const mp of mountsUnder(opts.dataDir)) out.push(`mount ${mp}`);
  if (existsSync(socket)) out.push(`socket ${socket}`);
  const netnsDir = join(dir, 'state', 'io.containerd.grpc.v1.cri', 'netns');
  if (existsSync(netnsDir)) for (const n of readdirSync(netnsDir)) out.push(`netns ${n}`);
  if (existsSync(`/sys/class/net/${opts.bridge}`)) out.push(`bridge ${opts.bridge}`);
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', ctrl, opts.cgroupName);
    if (existsSync(d)) out.push(`cgroup ${d}`);
  }
  const ipt = (() => {
    try {
      return execFileSync('iptables-save', { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  // The portmap plugin's per-container chains name the container; its shared CNI-HOSTPORT-* chains stay only while some pod (perhaps another agent's) has host ports.
  for (const line of ipt.split('\n')) if (/^:CNI-DN-/.test(line)) out.push(`iptables chain ${line.slice(1).split(' ')[0]}`);
  if (portmapCleanupScript(ipt)) for (const line of ipt.split('\n')) if (/^:CNI-HOSTPORT-/.test(line)) out.push(`iptables chain ${line.slice(1).split(' ')[0]}`);
  return out;
}
