/**
 * The control plane as one started component: storage, PKI, API server and
 * the admin kubeconfig. `kite server` (and later `kite up`) start it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { openBackend } from '../storage/index.js';
import type { Backend } from '../storage/backend.js';
import { ensurePki, issueCert } from '../apiserver/auth/certs.js';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.js';
import { ApiServer } from '../apiserver/server.js';
import type { UserInfo } from '../apiserver/registry/strategy.js';
import { CONTROLLERS, startControllers, type ControllerOptions } from '../controllers/manager.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { EventRecorder } from '../client/events.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { defaultClusterDnsIp } from '../dns/kubedns.js';
import { isDNS1123Subdomain } from '../api/names.js';
import { HollowNodes } from '../kubelet/hollow.js';
import { podGroupCRD } from '../api/podgroup.js';
import { kueueCRDs } from '../api/kueue.js';
import { ensureCRDs } from '../client/crds.js';
import { DEFAULT_CLUSTER_CIDR } from '../proxy/proxier.js';
import { NodeJoinHandler, ensureNodeRbac } from '../apiserver/join.js';
import { ensureNodeToken } from '../apiserver/jointoken.js';
import { defaultNodeIp, startNode, type RunningNode } from '../node/index.js';
import { trainingCRDs } from '../api/kubeflow-crds.js';
import { runAll } from '../util/teardown.js';

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
  /** The local node's container runtime: `process` (host processes, default) or `cri` (containerd, OCI images). */
  runtime?: 'process' | 'cri';
  /** `host:port` of registries the cri runtime reaches over plain HTTP (loopback ones always are). */
  insecureRegistries?: string[];
  /** HTTP port of the built-in Ingress controller on the local node (default 80; 0 picks a free port; -1 disables it). */
  ingressPort?: number;
  /** The local node's GPUs are this many simulated ones (labelled kite.io/simulated-gpus=true) instead of those nvidia-smi finds. */
  simulatedGpus?: number;
  /** Simulated (hollow, kwok-style) nodes to register for scale tests (default none). */
  hollowNodes?: number;
  /** kubelet --cluster-dns: the nameservers of ClusterFirst pods (default: the 10th service address, kube-dns's). */
  clusterDns?: string[];
  /** kubelet --cluster-domain (default cluster.local). */
  clusterDomain?: string;
  /** How often node usage is scraped for metrics.k8s.io (default 15 s, metrics-server's). */
  metricResolutionMs?: number;
  /** How long the local node keeps the logs of deleted training pods (default 24 h; 0: not kept). */
  retainTrainingLogsMs?: number;
  /** Controller tuning (kube-controller-manager flags), e.g. the HPA sync period. */
  controllerOptions?: ControllerOptions;
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
  /** The port the local node's Ingress controller serves HTTP on, when it runs. */
  ingressPort?: number;
  stop(): Promise<void>;
}

/** Checks a configuration and returns the first problem, if any. */
export function validateConfig(c: ControlPlaneConfig): string | undefined {
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) return `--port must be between 0 and 65535 (got ${c.port})`;
  if (c.datastore !== 'sqlite' && c.datastore !== 'memory') return `--datastore must be "sqlite" or "memory" (got "${c.datastore}")`;
  if (c.bookmarkIntervalMs !== undefined && !(c.bookmarkIntervalMs > 0)) return `--watch-bookmark-interval must be a positive number of seconds`;
  if (c.hollowNodes !== undefined && !(Number.isInteger(c.hollowNodes) && c.hollowNodes >= 0)) return `--hollow-nodes must be a non-negative integer`;
  if (c.simulatedGpus !== undefined && !(Number.isInteger(c.simulatedGpus) && c.simulatedGpus >= 0)) return `--simulated-gpus must be a non-negative integer`;
  if (c.ingressPort !== undefined && !(Number.isInteger(c.ingressPort) && c.ingressPort >= -1 && c.ingressPort <= 65535)) return `--ingress-port must be a port number, 0 for any free port, or -1 to disable the Ingress controller (got ${c.ingressPort})`;
  if (c.metricResolutionMs !== undefined && !(c.metricResolutionMs > 0)) return `--metric-resolution must be a positive duration`;
  if (c.retainTrainingLogsMs !== undefined && !(c.retainTrainingLogsMs >= 0)) return `--retain-training-logs must be a duration such as 24h, or 0 to keep none`;
  if (c.controllerOptions?.hpaSyncPeriodMs !== undefined && !(c.controllerOptions.hpaSyncPeriodMs > 0)) return `--horizontal-pod-autoscaler-sync-period must be a positive duration`;
  if (c.controllerOptions?.nodeMonitorGracePeriodMs !== undefined && !(c.controllerOptions.nodeMonitorGracePeriodMs > 0)) return `--node-monitor-grace-period must be a positive duration`;
  if (c.runtime !== undefined && c.runtime !== 'process' && c.runtime !== 'cri') return `--runtime must be "process" or "cri" (got "${c.runtime}")`;
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.serviceCidr)) return `--service-cidr must be an IPv4 CIDR such as 10.96.0.0/12 (got "${c.serviceCidr}")`;
  const badDns = c.clusterDns?.find((ip) => !isIP(ip));
  if (badDns !== undefined) return `--cluster-dns must be a comma-separated list of IP addresses (got "${badDns}")`;
  if (c.clusterDomain !== undefined && isDNS1123Subdomain(c.clusterDomain).length) return `--cluster-domain must be a DNS domain such as cluster.local (got "${c.clusterDomain}")`;
  return undefined;
}

function adminToken(dataDir: string): string {
  const path = join(dataDir, 'tls', 'admin.token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const t = randomBytes(24).toString('hex');
  writeFileSync(path, `${t}\n`, { mode: 0o600 });
  return t;
}

/**
 * Makes sure only one server (or agent) uses a data dir (two would corrupt each other's
 * view of the store): a pid file, taken over when its owner is gone.
 * Returns the release function.
 */
export function lockDataDir(dataDir: string, what = 'kite server'): () => void {
  const path = join(dataDir, 'kite.pid');
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new Error(`data dir ${dataDir} is in use by another ${what} (pid ${pid}); stop it or choose another --data-dir`);
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
  // Joined agents reach the API server at the advertised address: the serving certificate must name it.
  const pki = await ensurePki(join(dataDir, 'tls'), { ips: config.advertiseAddress ? [config.advertiseAddress] : [] });
  const token = adminToken(dataDir);
  const nodeToken = ensureNodeToken(dataDir, pki.ca.cert);
  const clusterDns = config.clusterDns ?? [defaultClusterDnsIp(config.serviceCidr)];
  const clusterDomain = config.clusterDomain ?? 'cluster.local';
  const admin: UserInfo = { name: 'kite-admin', groups: ['system:masters', 'system:authenticated'] };
  const backend = openBackend(config.datastore === 'memory' ? { datastore: 'memory' } : { datastore: 'sqlite', path: join(dataDir, 'db', 'state.db') });
  log(config.datastore === 'memory' ? 'Opening in-memory storage (nothing is kept after exit)' : `Opening storage ${join(dataDir, 'db', 'state.db')}`);
  await backend.start();
  const advertiseAddress = config.advertiseAddress ?? defaultNodeIp();
  const apiServer = new ApiServer({
    backend,
    pki,
    tokens: new Map([[token, admin]]),
    port: config.port,
    bindAddress: config.bindAddress,
    advertiseAddress,
    serviceCidr: config.serviceCidr,
    bookmarkIntervalMs: config.bookmarkIntervalMs,
    metricResolutionMs: config.metricResolutionMs,
    log,
    // `kite agent` joins with the node token; it learns the cluster's network settings from the answer.
    nodeJoin: new NodeJoinHandler({ ca: pki.ca, token: nodeToken, cluster: { serviceCidr: config.serviceCidr, clusterCidr: DEFAULT_CLUSTER_CIDR, clusterDns, clusterDomain }, log }),
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
  const as = (name: string) => new InProcessClient(apiServer.registry, { name, groups: ['system:masters'] }, name.replace(/^system:/, ''), apiServer.inProcessApis());
  await ensureNodeRbac(as('system:apiserver'));
  // The ML APIs are served from the start, before the scheduler and controllers look for them: gang
  // scheduling's PodGroup, Kueue's queues (ResourceFlavor, ClusterQueue, LocalQueue, Workload) and the
  // Kubeflow training jobs as the training operator's CRDs define them. One wait covers all of them.
  await ensureCRDs(as('system:apiserver'), [podGroupCRD(), ...kueueCRDs(), ...trainingCRDs()]);
  log('Starting the controllers');
  const controllers = await startControllers({
    client: as('system:kube-controller-manager'),
    dataDir,
    caPem: pki.ca.cert,
    resources: () => apiServer.registry.resources(),
    disabled: disabledControllers(config.controllers ?? ['*']),
    options: config.controllerOptions,
  });
  const schedulerClient = as('system:kube-scheduler');
  const schedulerInformers = new InformerFactory(schedulerClient);
  let scheduler: Scheduler | undefined;
  if (config.scheduler !== false) {
    log('Starting the scheduler');
    scheduler = new Scheduler({ client: schedulerClient, informers: schedulerInformers, events: new EventRecorder(schedulerClient, 'default-scheduler') });
    await scheduler.start();
  }
  let node: RunningNode | undefined;
  if (config.agent) {
    const nodeName = config.nodeName ?? hostname().toLowerCase();
    log(`Starting the node agent (node ${nodeName})`);
    const streaming = await issueCert(pki.ca, { commonName: `system:node:${nodeName}`, usage: 'server', ips: [advertiseAddress, '127.0.0.1'], dnsNames: [nodeName, 'localhost'] });
    node = await startNode(
      {
        nodeName,
        dataDir: join(dataDir, 'agent'),
        nodeIp: advertiseAddress,
        podCidr: config.podCidr ?? '10.244.0.0/24',
        bridge: config.bridge,
        runtime: config.runtime,
        insecureRegistries: config.insecureRegistries,
        streamingTls: { cert: streaming.cert, key: streaming.key, ca: pki.ca.cert },
        serviceCidr: config.serviceCidr,
        clusterDns,
        clusterDomain,
        ingressPort: config.ingressPort,
        simulatedGpus: config.simulatedGpus,
        retainTrainingLogsMs: config.retainTrainingLogsMs,
        log,
      },
      as,
    );
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
      // A broken node agent must not leave the proxy's table, the API server's port or the storage behind.
      // Pods stop with the node; then nothing writes any more and the API server can go.
      try {
        await runAll([
          () => node?.stop(),
          () => hollow?.stop(),
          () => scheduler?.stop(),
          () => schedulerInformers.stop(),
          () => controllers.stop(),
          () => apiServer.stop(),
          () => backend.close(),
        ]);
      } finally {
        releaseLock();
      }
    })());
  signal?.addEventListener('abort', () => void stop(), { once: true });
  return { apiServer, backend, kubeconfigPath, serverUrl, stop, ingressPort: node?.ingressPort, nodeName: node?.nodeName };
}
