/**
 * `kite agent` as a started component: join the cluster with the token, then
 * run this machine's node against the remote API server over HTTPS with the
 * node's client certificate. Without a pod CIDR of its own the agent
 * registers its Node and waits for the node-ipam controller to give it one
 * before any pod can start, as a kubelet waits for its network to be ready.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { HttpClient } from '../client/http.js';
import { Informer } from '../client/informer.js';
import { R, isStatus, type Client } from '../client/client.js';
import { isDNS1123Subdomain } from '../api/names.js';
import { nodeLabels, goArch } from '../kubelet/node.js';
import { TAINT } from '../controllers/nodelifecycle.js';
import { metaTime } from '../kubelet/status.js';
import { lockDataDir } from '../controlplane/index.js';
import { KITE_VERSION, KUBERNETES_VERSION } from '../version.js';
import { defaultNodeIp, startNode, type RunningNode } from './index.js';
import { joinCluster, joinProblem, saveCredentials } from './join.js';

/** Validated configuration of an agent. */
export interface AgentConfig {
  /** The API server, `https://HOST:PORT`. */
  server: string;
  token: string;
  dataDir: string;
  /** Default: this machine's host name. */
  nodeName?: string;
  /** The node's InternalIP (default: the first non-internal IPv4 address). */
  advertiseAddress?: string;
  runtime?: 'process' | 'cri';
  insecureRegistries?: string[];
  /** A pod CIDR of the node's own instead of one from the node-ipam controller. */
  podCidr?: string;
  bridge?: string;
  ingressPort?: number;
  simulatedGpus?: number;
  /** How long the logs of deleted training pods stay readable (default a day; 0: not kept). */
  retainTrainingLogsMs?: number;
  log: (msg: string) => void;
}

/** A running agent. */
export interface Agent {
  nodeName: string;
  podCidr: string;
  /** The node's kubeconfig (its own identity, for diagnostics). */
  kubeconfigPath: string;
  ingressPort?: number;
  stop(): Promise<void>;
}

/** Checks a configuration and returns the first problem, if any. */
export function validateAgentConfig(c: AgentConfig): string | undefined {
  if (!c.server) return '--server is required: the URL of the Kite API server, such as https://10.0.0.1:6443';
  if (!c.token) return '--token is required: run "kite token" on the server and pass what it prints (or set KITE_TOKEN)';
  const target = joinProblem(c.server, c.token);
  if (target) return target;
  if (c.nodeName !== undefined && isDNS1123Subdomain(c.nodeName).length) return `--node-name must be a lowercase DNS name such as worker-1 (got "${c.nodeName}")`;
  if (c.advertiseAddress !== undefined && isIP(c.advertiseAddress) !== 4) return `--advertise-address must be an IPv4 address (got "${c.advertiseAddress}")`;
  if (c.runtime !== undefined && c.runtime !== 'process' && c.runtime !== 'cri') return `--runtime must be "process" or "cri" (got "${c.runtime}")`;
  if (c.podCidr !== undefined && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.podCidr)) return `--pod-cidr must be an IPv4 CIDR such as 10.244.1.0/24 (got "${c.podCidr}")`;
  if (c.ingressPort !== undefined && !(Number.isInteger(c.ingressPort) && c.ingressPort >= -1 && c.ingressPort <= 65535)) return `--ingress-port must be a port number, 0 for any free port, or -1 to disable the Ingress controller (got ${c.ingressPort})`;
  if (c.simulatedGpus !== undefined && !(Number.isInteger(c.simulatedGpus) && c.simulatedGpus >= 0)) return `--simulated-gpus must be a non-negative integer`;
  if (c.retainTrainingLogsMs !== undefined && !(c.retainTrainingLogsMs >= 0)) return `--retain-training-logs must be a duration such as 24h, or 0 to keep none`;
  return undefined;
}

/** The User-Agent of a node component (upstream's `<component>/<version> (<os>/<arch>) …`; the server derives field managers from it). */
function userAgent(user: string): string {
  const component = user.startsWith('system:node:') ? 'kubelet' : user.replace(/^system:/, '');
  return `${component}/v${KUBERNETES_VERSION} (linux/${goArch()}) kite/${KITE_VERSION}`;
}

/** Joins the cluster and starts the node; resolves once the node runs. */
export async function startAgent(config: AgentConfig, signal?: AbortSignal): Promise<Agent> {
  const problem = validateAgentConfig(config);
  if (problem) throw new Error(problem);
  const { log, dataDir } = config;
  const nodeName = config.nodeName ?? hostname().toLowerCase();
  const nodeIp = config.advertiseAddress ?? defaultNodeIp();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const releaseLock = lockDataDir(dataDir, 'kite agent');
  const clients: HttpClient[] = [];
  const closeClients = () => {
    for (const c of clients) c.close();
  };
  try {
    log(`Joining ${config.server} as node ${nodeName}`);
    const creds = await joinCluster({ server: config.server, token: config.token, request: { nodeName, addresses: [nodeIp] }, log });
    const kubeconfigPath = saveCredentials(dataDir, config.server, creds);
    const clientFor = (user: string): Client => {
      const c = new HttpClient({ server: config.server, ca: creds.ca, cert: creds.client.cert, key: creds.client.key, userAgent: userAgent(user) });
      clients.push(c);
      return c;
    };
    const podCidr = config.podCidr ?? (await waitForPodCidr(clientFor(`system:node:${nodeName}`), nodeName, log, signal));
    log(`Starting the node (pod CIDR ${podCidr}, InternalIP ${nodeIp})`);
    const node: RunningNode = await startNode(
      {
        nodeName,
        dataDir: join(dataDir, 'agent'),
        nodeIp,
        podCidr,
        bridge: config.bridge,
        runtime: config.runtime,
        insecureRegistries: config.insecureRegistries,
        streamingTls: { cert: creds.serving.cert, key: creds.serving.key, ca: creds.ca },
        serviceCidr: creds.cluster.serviceCidr,
        clusterDns: creds.cluster.clusterDns,
        clusterDomain: creds.cluster.clusterDomain,
        ingressPort: config.ingressPort,
        simulatedGpus: config.simulatedGpus,
        retainTrainingLogsMs: config.retainTrainingLogsMs,
        log,
      },
      clientFor,
    );
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        try {
          await node.stop();
        } finally {
          closeClients();
          releaseLock();
        }
      })());
    return { nodeName, podCidr, kubeconfigPath, ingressPort: node.ingressPort, stop };
  } catch (e) {
    closeClients();
    releaseLock();
    throw e;
  }
}

/**
 * Registers the Node if it is not there yet — as kubelet does, NotReady with
 * the `node.kubernetes.io/not-ready:NoSchedule` taint so nothing lands on it
 * before its network is ready — and resolves with its pod CIDR once the node-ipam
 * controller has set one (watching, not polling).
 */
export async function waitForPodCidr(client: Client, nodeName: string, log: (msg: string) => void, signal?: AbortSignal): Promise<string> {
  const now = metaTime(new Date());
  try {
    await client.create(R.nodes, '', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName, labels: nodeLabels(nodeName) },
      spec: { taints: [{ key: TAINT.notReady, effect: 'NoSchedule' }] },
      status: {
        conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready: the node has no pod CIDR yet', lastHeartbeatTime: now, lastTransitionTime: now }],
      },
    });
  } catch (e) {
    if (!isStatus(e, 409)) throw e;
  }
  const informer = new Informer<any>(client, R.nodes, { fieldSelector: `metadata.name=${nodeName}` });
  try {
    return await new Promise<string>((resolve, reject) => {
      const check = (n: any) => {
        const cidr = n?.spec?.podCIDRs?.[0] ?? n?.spec?.podCIDR;
        if (cidr) resolve(cidr);
      };
      informer.addHandlers({ onAdd: check, onUpdate: (_o, n) => check(n) });
      if (signal?.aborted) reject(new Error('stopped while waiting for a pod CIDR'));
      signal?.addEventListener('abort', () => reject(new Error('stopped while waiting for a pod CIDR')), { once: true });
      void informer.start().then(() => {
        if (!informer.get('', nodeName)?.spec?.podCIDR) log(`waiting for node ${nodeName} to be given a pod CIDR (by the node-ipam controller)`);
      });
    });
  } finally {
    informer.stop();
  }
}
