/**
 * The control plane as one started component: storage, PKI, API server and
 * the admin kubeconfig. `kite server` (and later `kite up`) start it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { openBackend } from '../storage/index.js';
import type { Backend } from '../storage/backend.js';
import { ensurePki, issueCert } from '../apiserver/auth/certs.js';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.js';
import { ApiServer } from '../apiserver/server.js';
import type { UserInfo } from '../apiserver/registry/strategy.js';
import { CONTROLLERS, startControllers } from '../controllers/manager.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { EventRecorder } from '../client/events.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Kubelet } from '../kubelet/kubelet.js';
import { ProcessRuntime } from '../kubelet/runtime/process.js';
import { HollowNodes } from '../kubelet/hollow.js';

/** Validated configuration of the control plane. */
export interface ControlPlaneConfig {
  dataDir: string;
  port: number;
  bindAddress: string;
  datastore: 'sqlite' | 'memory';
  advertiseAddress?: string;
  serviceCidr: string;
  /** Milliseconds between watch BOOKMARK events (default: the API server's, 60 s). */
  bookmarkIntervalMs?: number;
  /** Run a node agent in this process (the local node). */
  agent: boolean;
  /** Run the scheduler in this process (default true). */
  scheduler?: boolean;
  /** Controllers to run, kube-controller-manager style: `*`, `name`, `-name` (default `*`). */
  controllers?: string[];
  /** Name of the local node (default: the host name). */
  nodeName?: string;
  /** Pod CIDR of the local node (flannel-style /24 out of 10.244.0.0/16). */
  podCidr?: string;
  /** Name of the local node's bridge (default kite0). */
  bridge?: string;
  /** Simulated (hollow, kwok-style) nodes to register for scale tests (default none). */
  hollowNodes?: number;
  /** Progress lines for the user. */
  log: (msg: string) => void;
}

/** A running control plane. */
export interface ControlPlane {
  apiServer: ApiServer;
  backend: Backend;
  kubeconfigPath: string;
  serverUrl: string;
  /** The local node's name, when this process runs one. */
  nodeName?: string;
  stop(): Promise<void>;
}

/** Checks a configuration and returns the first problem, if any. */
export function validateConfig(c: ControlPlaneConfig): string | undefined {
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) return `--port must be between 0 and 65535 (got ${c.port})`;
  if (c.datastore !== 'sqlite' && c.datastore !== 'memory') return `--datastore must be "sqlite" or "memory" (got "${c.datastore}")`;
  if (c.bookmarkIntervalMs !== undefined && !(c.bookmarkIntervalMs > 0)) return `--watch-bookmark-interval must be a positive number of seconds`;
  if (c.hollowNodes !== undefined && !(Number.isInteger(c.hollowNodes) && c.hollowNodes >= 0)) return `--hollow-nodes must be a non-negative integer`;
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.serviceCidr)) return `--service-cidr must be an IPv4 CIDR such as 10.96.0.0/12 (got "${c.serviceCidr}")`;
  return undefined;
}

function defaultAdvertiseAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function adminToken(dataDir: string): string {
  const path = join(dataDir, 'tls', 'admin.token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const t = randomBytes(24).toString('hex');
  writeFileSync(path, `${t}\n`, { mode: 0o600 });
  return t;
}

/**
 * Makes sure only one server uses a data dir (two would corrupt each other's
 * view of the store): a pid file, taken over when its owner is gone.
 * Returns the release function.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'kite.pid');
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new Error(`data dir ${dataDir} is in use by another kite server (pid ${pid}); stop it or choose another --data-dir`);
    }
  }
  writeFileSync(path, `${process.pid}\n`);
  return () => {
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
    } catch {
      // already gone
    }
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Names of controllers not to run, from a kube-controller-manager style list:
 * `*` enables all, `name` enables one, `-name` disables one; without `*`
 * only the named ones run.
 */
export function disabledControllers(list: readonly string[]): string[] {
  const all = Object.keys(CONTROLLERS);
  const star = list.includes('*');
  const enabled = new Set(list.filter((c) => c !== '*' && !c.startsWith('-')));
  const off = new Set(list.filter((c) => c.startsWith('-')).map((c) => c.slice(1)));
  for (const c of [...enabled, ...off]) if (!all.includes(c)) throw new Error(`unknown controller "${c}"; known controllers: ${all.join(', ')}`);
  return all.filter((c) => off.has(c) || (!star && !enabled.has(c)));
}

/** How often storage history is compacted, and how many revisions are kept (kine keeps 1000). */
const COMPACT_INTERVAL_MS = 5 * 60 * 1000;
const COMPACT_KEEP = 10_000;

/** Starts the control plane; resolves once `/readyz` would answer ok and the kubeconfig is written. */
export async function startControlPlane(config: ControlPlaneConfig, signal?: AbortSignal): Promise<ControlPlane> {
  const problem = validateConfig(config);
  if (problem) throw new Error(problem);
  const { dataDir, log } = config;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const releaseLock = lockDataDir(dataDir);
  log('Preparing certificates');
  const pki = await ensurePki(join(dataDir, 'tls'));
  const token = adminToken(dataDir);
  const admin: UserInfo = { name: 'kite-admin', groups: ['system:masters', 'system:authenticated'] };
  const backend = openBackend(config.datastore === 'memory' ? { datastore: 'memory' } : { datastore: 'sqlite', path: join(dataDir, 'db', 'state.db') });
  log(config.datastore === 'memory' ? 'Opening in-memory storage (nothing is kept after exit)' : `Opening storage ${join(dataDir, 'db', 'state.db')}`);
  await backend.start();
  const advertiseAddress = config.advertiseAddress ?? defaultAdvertiseAddress();
  const apiServer = new ApiServer({
    backend,
    pki,
    tokens: new Map([[token, admin]]),
    port: config.port,
    bindAddress: config.bindAddress,
    advertiseAddress,
    serviceCidr: config.serviceCidr,
    bookmarkIntervalMs: config.bookmarkIntervalMs,
  });
  log('Starting the API server');
  try {
    await apiServer.start();
  } catch (e) {
    await backend.close();
    releaseLock();
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${config.port} on ${config.bindAddress} is already in use; stop what holds it or choose another with --port`);
    }
    throw e;
  }
  // Components share this process and talk to the API server through the in-process client.
  const as = (name: string) => new InProcessClient(apiServer.registry, { name, groups: ['system:masters'] }, name.replace(/^system:/, ''));
  log('Starting the controllers');
  const controllers = await startControllers({
    client: as('system:kube-controller-manager'),
    dataDir,
    caPem: pki.ca.cert,
    resources: () => apiServer.registry.resources(),
    disabled: disabledControllers(config.controllers ?? ['*']),
  });
  const schedulerClient = as('system:kube-scheduler');
  const schedulerInformers = new InformerFactory(schedulerClient);
  let scheduler: Scheduler | undefined;
  if (config.scheduler !== false) {
    log('Starting the scheduler');
    scheduler = new Scheduler({ client: schedulerClient, informers: schedulerInformers, events: new EventRecorder(schedulerClient, 'default-scheduler') });
    await scheduler.start();
  }
  let kubelet: Kubelet | undefined;
  if (config.agent) {
    const nodeName = config.nodeName ?? hostname().toLowerCase();
    log(`Starting the node agent (node ${nodeName})`);
    const streaming = await issueCert(pki.ca, { commonName: `system:node:${nodeName}`, usage: 'server', ips: [advertiseAddress, '127.0.0.1'], dnsNames: [nodeName, 'localhost'] });
    const podCidr = config.podCidr ?? '10.244.0.0/24';
    const agentDir = join(dataDir, 'agent');
    kubelet = new Kubelet({
      client: as(`system:node:${nodeName}`),
      nodeName,
      dataDir: agentDir,
      runtime: new ProcessRuntime({ dataDir: agentDir, podCidr, bridge: config.bridge ?? 'kite0', cgroupName: config.bridge ?? 'kite', nodeIp: advertiseAddress, log }),
      podCidr,
      nodeIp: advertiseAddress,
      log,
      streamingTls: { cert: streaming.cert, key: streaming.key, ca: pki.ca.cert },
      port: 0,
    });
    await kubelet.start();
  }
  let hollow: HollowNodes | undefined;
  if (config.hollowNodes) {
    log(`Registering ${config.hollowNodes} hollow nodes`);
    hollow = new HollowNodes({ client: as('system:kite-hollow-nodes'), count: config.hollowNodes, log });
    await hollow.start();
  }
  const serverUrl = `https://127.0.0.1:${apiServer.port}`;
  const kubeconfigPath = join(dataDir, 'kubeconfig.yaml');
  writeKubeconfig(kubeconfigPath, {
    server: serverUrl,
    caPem: pki.ca.cert,
    clusterName: 'kite',
    userName: 'kite-admin',
    contextName: 'kite',
    clientCertPem: pki.admin.cert,
    clientKeyPem: pki.admin.key,
  });
  const compactor = setInterval(() => {
    const rev = backend.currentRevision() - COMPACT_KEEP;
    if (rev > backend.compactedRevision()) backend.compact(rev).catch((e) => log(`compaction failed: ${(e as Error).message}`));
  }, COMPACT_INTERVAL_MS);
  compactor.unref();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      clearInterval(compactor);
      // Pods stop with the node; then nothing writes any more and the API server can go.
      await kubelet?.stop();
      hollow?.stop();
      scheduler?.stop();
      schedulerInformers.stop();
      controllers.stop();
      await apiServer.stop();
      await backend.close();
      releaseLock();
    })());
  signal?.addEventListener('abort', () => void stop(), { once: true });
  return { apiServer, backend, kubeconfigPath, serverUrl, stop, nodeName: kubelet ? (config.nodeName ?? hostname().toLowerCase()) : undefined };
}
