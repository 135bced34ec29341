/**
 * Pod start latency with the `cri` runtime, next to containerd doing the
 * same work without Kite, on the same containerd (the node agent's own) and
 * the same machine. A docker-registry on loopback serves a busybox image
 * built here; then three ways of starting `sleep 3600` from it:
 *
 *   1. `ctr run -d` (containerd alone: a container, no pod sandbox, no CNI);
 *   2. the CRI calls a pod needs — RunPodSandbox (pause + CNI on the node
 *      bridge), CreateContainer, StartContainer — straight to containerd:
 *      containerd's own cost of a pod;
 *   3. a pod through Kite: create → Running and Ready on the watch (API
 *      server, scheduler, node agent, containerd).
 *
 * P of each one at a time (the three interleaved, so load on the machine
 * falls on all alike), then P of each at once. Kite's overhead is (3) − (2)
 * at p99, one at a time (target < 100 ms); all at once it also shows the
 * node agent's queueing. It prints a table; it asserts nothing. Skips itself
 * when containerd, the registry or root is missing.
 *
 *   npm run build && node dist/bench/cristart.bench.js [--pods 20]
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { R, type Client, type ClientWatch } from '../src/client/client.js';
import { CriClient } from '../src/kubelet/runtime/cri/client.js';
import { CTR_BIN } from '../src/kubelet/runtime/cri/containerd.js';
import { containerdVersion, criUnavailable } from '../src/kubelet/runtime/cri/cri.js';
import { LocalRegistry, REGISTRY_BIN, busyboxImage } from '../src/kubelet/runtime/cri/testimages.js';
import { summarize, type LatencySummary } from './stats.js';
import { fmt, printTable, type Row } from './table.js';
import { startBenchServer, until, type BenchServer } from './server.js';

const NODE_NAME = 'bench-cri-node';
const NAMESPACE = 'bench-cristart';
/** containerd namespace of the `ctr run` containers (apart from the CRI's k8s.io). */
const CTR_NAMESPACE = 'kite-bench';
const TARGET_OVERHEAD_P99_MS = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const lat = (s: LatencySummary) => `p50 ${fmt(s.p50, 0)} ms, p99 ${fmt(s.p99, 0)} ms, max ${fmt(s.max, 0)} ms (n=${s.count})`;

/** Runs a program; resolves with its exit code, stderr and how long it took. */
function timed(cmd: string, args: string[]): Promise<{ code: number | null; ms: number; stderr: string }> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('exit', (code) => done({ code, ms: performance.now() - t0, stderr }));
  });
}

/** A `kite server --runtime cri` child on a bridge and pod CIDR of its own. */
interface Server extends BenchServer {
  bridge: string;
}

async function startServer(): Promise<Server> {
  const bridge = `ktc${randomBytes(3).toString('hex')}`;
  const args = ['--node-name', NODE_NAME, '--runtime', 'cri', '--bridge', bridge, '--pod-cidr', `10.244.${250 + Math.floor(Math.random() * 5)}.0/24`];
  return { ...(await startBenchServer({ name: 'cristart', args })), bridge };
}

const runningAndReady = (p: any) => p?.status?.phase === 'Running' && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

function benchPod(name: string, image: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE },
    spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: 2, containers: [{ name: 'sleep', image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  };
}

/** (3) Creates pods all at once; resolves with each one's create → Running+Ready time from the watch. */
async function kitePods(client: Client, names: string[], image: string): Promise<number[]> {
  const sent = new Map<string, number>();
  const ready = new Map<string, number>();
  let all!: () => void;
  const done = new Promise<void>((r) => (all = r));
  const list = await client.list(R.pods, NAMESPACE);
  const watch: ClientWatch = await client.watch(R.pods, NAMESPACE, { resourceVersion: list.resourceVersion }, (ev) => {
    const name = ev.object?.metadata?.name as string | undefined;
    if (!name || !sent.has(name) || ready.has(name)) return;
    if ((ev.type === 'ADDED' || ev.type === 'MODIFIED') && runningAndReady(ev.object)) {
      ready.set(name, performance.now());
      if (ready.size === names.length) all();
    }
  });
  await Promise.all(
    names.map(async (n) => {
      sent.set(n, performance.now());
      await client.create(R.pods, NAMESPACE, benchPod(n, image));
    }),
  );
  const timer = setTimeout(() => all(), 120_000);
  await done;
  clearTimeout(timer);
  watch.stop();
  if (ready.size < names.length) throw new Error(`only ${ready.size} of ${names.length} pods became Running and Ready within 120 s`);
  return names.map((n) => ready.get(n)! - sent.get(n)!);
}

/** (1) and (2) on the node agent's containerd, with what they made, for cleanup. */
class Direct {
  private readonly ctrIds: string[] = [];
  private readonly sandboxes: string[] = [];

  constructor(
    private readonly socket: string,
    private readonly cri: CriClient,
    private readonly image: string,
    /** The node's cgroup root: what is started here goes under it, and the node agent removes it on stop. */
    private readonly cgroupRoot: string,
    /** Where the direct CRI pods' logs go. */
    private readonly logDir: string,
  ) {}

  private ctr(args: string[]) {
    return timed(CTR_BIN, ['--address', this.socket, '--namespace', CTR_NAMESPACE, ...args]);
  }

  /** Pulls the image into the ctr namespace (the content is shared with the CRI's). */
  async prepare(): Promise<void> {
    const r = await this.ctr(['images', 'pull', '--plain-http', this.image]);
    if (r.code !== 0) throw new Error(`ctr images pull: ${r.stderr.trim()}`);
  }

  /** (1) `ctr run -d`: creates the container and starts its task; ctr returns once it runs. */
  async ctrRun(): Promise<number> {
    const id = `ctr-bench-${randomBytes(4).toString('hex')}`;
    this.ctrIds.push(id);
    // Its runc state under the node's containerd state dir (the CRI's is there too); the node agent removes it on stop.
    const r = await this.ctr(['run', '-d', '--runc-root', join(dirname(this.socket), 'state', 'runc'), '--cgroup', `/${this.cgroupRoot}/${id}`, this.image, id, 'sleep', '3600']);
    if (r.code !== 0) throw new Error(`ctr run: ${r.stderr.trim()}`);
    return r.ms;
  }

  /** (2) RunPodSandbox, CreateContainer, StartContainer. */
  async criPod(): Promise<number> {
    const t0 = performance.now();
    const uid = randomUUID();
    const config = {
      metadata: { name: `direct-${uid.slice(0, 8)}`, uid, namespace: 'bench-direct' },
      hostname: `direct-${uid.slice(0, 8)}`,
      logDirectory: this.logDir,
      linux: { cgroupParent: `/${this.cgroupRoot}/direct${uid}`, securityContext: { namespaceOptions: { pid: 1 } } },
    };
    const sandbox = await this.cri.runPodSandbox(config);
    this.sandboxes.push(sandbox);
    const id = await this.cri.createContainer(sandbox, { metadata: { name: 'sleep' }, image: { image: this.image }, command: ['sleep', '3600'], logPath: `${uid}.log`, linux: { securityContext: { namespaceOptions: { pid: 1 } } } }, config);
    await this.cri.startContainer(id);
    return performance.now() - t0;
  }

  /** Removes everything (1) and (2) started. */
  async cleanup(): Promise<void> {
    await Promise.all(
      this.ctrIds.splice(0).map(async (id) => {
        await this.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]);
        for (let i = 0; i < 100 && (await this.ctr(['tasks', 'delete', id])).code !== 0; i++) await sleep(50);
        await this.ctr(['containers', 'delete', id]);
      }),
    );
    await Promise.all(
      this.sandboxes.splice(0).map(async (s) => {
        await this.cri.stopPodSandbox(s);
        await this.cri.removePodSandbox(s);
      }),
    );
    await this.ctr(['images', 'remove', this.image]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pods: { type: 'string', default: '20' } } });
  const pods = Number(values.pods);
  const why = criUnavailable() ?? (existsSync(REGISTRY_BIN) ? undefined : `${REGISTRY_BIN} not found (install the Debian package docker-registry)`);
  if (why) {
    console.log(`cristart: skipped: ${why}`);
    return;
  }
  const started = performance.now();
  const rows: Row[] = [];
  const notes: string[] = [];
  const registry = new LocalRegistry();
  await registry.start();
  let srv: Server | undefined;
  let cri: CriClient | undefined;
  let direct: Direct | undefined;
  try {
    const image = await registry.push('bench/busybox', 'v1', busyboxImage());
    srv = await startServer();
    const client = srv.client;
    await until(`node ${NODE_NAME} Ready`, 60_000, async () => {
      const n = await client.get(R.nodes, '', NODE_NAME);
      return (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
    await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    await until('the default ServiceAccount', 30_000, () => client.get(R.serviceaccounts, NAMESPACE, 'default'));
    // One pod first: the node pulls the image and warms up, so no way below times a pull.
    const warm = await kitePods(client, ['warm-up'], image);
    notes.push(`warm-up pod (image pull included) ${fmt(warm[0]!, 0)} ms`);
    const socket = join(srv.dataDir, 'agent', 'containerd', 'containerd.sock');
    cri = new CriClient(socket);
    direct = new Direct(socket, cri, image, srv.bridge, join(srv.dataDir, 'direct-logs'));
    await direct.prepare();

    console.log(`cristart: ${pods} starts of each kind one at a time, interleaved ...`);
    const seq = { ctr: [] as number[], cri: [] as number[], kite: [] as number[] };
    for (let i = 0; i < pods; i++) {
      seq.ctr.push(await direct.ctrRun());
      seq.cri.push(await direct.criPod());
      seq.kite.push(...(await kitePods(client, [`seq-${i}`], image)));
    }
    await direct.cleanup();
    await direct.prepare();
    console.log(`cristart: ${pods} starts of each kind at once ...`);
    const burst = {
      ctr: await Promise.all(Array.from({ length: pods }, () => direct!.ctrRun())),
      cri: await Promise.all(Array.from({ length: pods }, () => direct!.criPod())),
      kite: await kitePods(client, Array.from({ length: pods }, (_, i) => `burst-${i}`), image),
    };

    for (const [label, m] of [['one at a time', seq], [`${pods} at once`, burst]] as const) {
      const ctrRun = summarize(m.ctr);
      const criPod = summarize(m.cri);
      const kite = summarize(m.kite);
      rows.push({ metric: `${label}: ctr run -d (no sandbox, no CNI), p50 / p99`, value: `${fmt(ctrRun.p50, 0)} / ${fmt(ctrRun.p99, 0)} ms` });
      rows.push({ metric: `${label}: CRI pod (sandbox + CNI + container), p50 / p99`, value: `${fmt(criPod.p50, 0)} / ${fmt(criPod.p99, 0)} ms` });
      rows.push({ metric: `${label}: Kite pod create -> Running+Ready, p50 / p99`, value: `${fmt(kite.p50, 0)} / ${fmt(kite.p99, 0)} ms` });
      rows.push({ metric: `${label}: Kite's overhead over the CRI pod, p50`, value: `${fmt(kite.p50 - criPod.p50, 0)} ms` });
      const overhead = kite.p99 - criPod.p99;
      rows.push({
        metric: `${label}: Kite's overhead over the CRI pod, p99`,
        value: `${fmt(overhead, 0)} ms`,
        ...(label === 'one at a time' ? { target: `< ${TARGET_OVERHEAD_P99_MS} ms`, ok: overhead < TARGET_OVERHEAD_P99_MS } : {}),
      });
      notes.push(`${label}: ctr run ${lat(ctrRun)}; CRI pod ${lat(criPod)}; kite ${lat(kite)}`);
    }
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack}${srv ? `\n--- server stderr (tail) ---\n${srv.stderr().slice(-3000)}` : ''}`);
    process.exitCode = 1;
  } finally {
    await direct?.cleanup().catch(() => undefined);
    cri?.close();
    // The node agent removes every sandbox of its containerd, these pods' among them, and stops it.
    await srv?.stop();
    await registry.stop();
  }
  console.log('');
  console.log(`Kite cri pod start benchmark (${containerdVersion()}, ${process.platform} ${process.arch}, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)})`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log(`- total bench time ${fmt((performance.now() - started) / 1000)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
