/**
 * The node agent (upstream pkg/kubelet): registers the node and heartbeats,
 * runs the pods bound to it through a container runtime, reports their
 * status and serves their logs.
 */
import { EventRecorder } from '../client/events.js';
import { Informer, objectKey } from '../client/informer.js';
import { R, type Client } from '../client/client.js';
import { createCa, issueCert } from '../apiserver/auth/certs.js';
import { machineInfo, NodeStatusManager } from './node.js';
import { LogRequestError, PodWorkers, type ContainerBackoff, type LogSource } from './pods.js';
import { RetainedLogs } from './logs.js';
import { TrainingLabels } from '../api/kubeflow.js';
import { join } from 'node:path';
import { needsReadinessReconcile } from './status.js';
import type { Runtime } from './runtime/runtime.js';
import { KubeletServer, type StreamingTls } from './server.js';
import { RuntimeIndex } from './streaming/containers.js';
import { PodStreams } from './streaming/host.js';
import { SummaryProvider } from './stats.js';
import { deepEqual } from '../util/json.js';
import { NodeDns } from '../dns/kubedns.js';
import { InformerFactory } from '../client/factory.js';
import { ENDPOINT_SLICES } from '../controllers/endpointsutil.js';
import { RendezvousGate } from './rendezvous.js';
import { defaultResolvConf, podDnsHook } from './dns.js';
import { gatewayOf, parseCidr } from './runtime/network.js';
import { NodeGpus } from './devices/gpus.js';
import type { GpuInventory } from './devices/nvidia.js';

/** Whether an update changes what the node agent acts on (upstream podsDifferSemantically, in small). */
function podsDiffer(a: any, b: any): boolean {
  const view = (p: any) => ({
    uid: p.metadata?.uid,
    labels: p.metadata?.labels,
    annotations: p.metadata?.annotations,
    deletionTimestamp: p.metadata?.deletionTimestamp,
    deletionGracePeriodSeconds: p.metadata?.deletionGracePeriodSeconds,
    spec: p.spec,
  });
  return !deepEqual(view(a), view(b));
}

/** Configuration of a Kubelet. */
export interface KubeletConfig {
  client: Client;
  nodeName: string;
  /** Node-local state: pod directories (volumes, logs) live under `<dataDir>/pods/<uid>`. */
  dataDir: string;
  /** Started by Kubelet.start and stopped by Kubelet.stop. */
  runtime: Runtime;
  podCidr: string;
  nodeIp: string;
  /** Wall clock for timestamps and back-off (default: the system clock). */
  clock?: () => Date;
  log: (msg: string) => void;
  /** Serving certificate of the streaming server and the CA its clients (the API server) present certificates of. */
  streamingTls?: StreamingTls;
  /** Streaming server port (upstream 10250; 0 picks a free one). */
  port?: number;
  /** Extra node capacity, e.g. `{ 'nvidia.com/gpu': '2' }`. */
  extendedResources?: Record<string, string>;
  /**
   * The node's GPUs (devices/nvidia.ts discovers or simulates them), advertised as `nvidia.com/gpu` and given
   * to containers whole; `hostDevices` where containers are host processes (they then also get CUDA_VISIBLE_DEVICES).
   */
  gpus?: { inventory: GpuInventory; hostDevices: boolean };
  /** Heartbeat intervals (upstream: lease 10 s, status 10 s, unchanged status re-posted every 5 min). */
  intervals?: { leaseMs?: number; nodeStatusMs?: number; nodeReportMs?: number };
  /** Crash-loop back-off (upstream: 10 s doubling to 5 min). */
  backoff?: ContainerBackoff;
  /** Retry delay for pods waiting on volumes or container config (default 2 s). */
  retryMs?: number;
  /**
   * Cluster DNS (upstream --cluster-dns, --cluster-domain, --resolv-conf, the last defaulting to the host's file as
   * kubeadm picks it); `serve` runs the node's DNS server on the pod bridge gateway (ports: 53 and 9153 unless given).
   */
  dns?: { clusterDns: string[]; clusterDomain: string; resolvConf?: string; serve?: boolean; port?: number; metricsPort?: number };
  /** How long the logs of deleted training pods (label training.kubeflow.org/job-name) stay readable (default 24 h; 0: not kept). */
  retainTrainingLogsMs?: number;
}

/** Default of KubeletConfig.retainTrainingLogsMs: a day. */
export const DEFAULT_RETAIN_TRAINING_LOGS_MS = 24 * 3600 * 1000;

/** One node's agent. */
export class Kubelet {
  private readonly informer: Informer;
  private readonly workers: PodWorkers;
  private readonly nodeStatus: NodeStatusManager;
  private server?: KubeletServer;
  /** The sandboxes and running containers the pod workers created (what exec/attach/port-forward reach). */
  private readonly index = new RuntimeIndex();
  /** Usage of the node and its containers (the Summary API the metrics pipeline scrapes). */
  private readonly stats: SummaryProvider;
  private started = false;
  /** The cluster DNS server this node runs (when KubeletConfig.dns.serve). */
  private nodeDns?: NodeDns;
  private readonly resolvConf: string;
  /** The node's GPUs and their allocation to containers (when KubeletConfig.gpus). */
  private readonly gpus?: NodeGpus;
  /** Logs of deleted training pods, kept for a while under `<dataDir>/retained-logs`. */
  private readonly retained: RetainedLogs;
  /** Informers the node's parts share (EndpointSlices: cluster DNS and the rendezvous gate watch them once). */
  private readonly informers: InformerFactory;

  constructor(private readonly cfg: KubeletConfig) {
    const now = cfg.clock ?? (() => new Date());
    this.resolvConf = cfg.dns?.resolvConf ?? defaultResolvConf();
    // Machine facts change rarely; reading /proc and statfs for every pod start showed in profiles.
    let machine: { at: number; allocatable: Record<string, string> } | undefined;
    const allocatable = () => {
      if (!machine || Date.now() - machine.at > 10_000) machine = { at: Date.now(), allocatable: machineInfo(cfg.dataDir, cfg.runtime.version, extendedResources).allocatable };
      return machine.allocatable;
    };
    this.informer = new Informer(cfg.client, R.pods, { fieldSelector: `spec.nodeName=${cfg.nodeName}` });
    this.informers = new InformerFactory(cfg.client);
    if (cfg.gpus) this.gpus = new NodeGpus({ ...cfg.gpus, dataDir: cfg.dataDir, client: cfg.client, pods: this.informer, log: cfg.log });
    const extendedResources = { ...cfg.extendedResources, ...this.gpus?.capacity() };
    this.stats = new SummaryProvider({ nodeName: cfg.nodeName, runtime: cfg.runtime, pods: this.informer });
    this.retained = new RetainedLogs({ dir: join(cfg.dataDir, 'retained-logs'), ttlMs: cfg.retainTrainingLogsMs ?? DEFAULT_RETAIN_TRAINING_LOGS_MS, label: TrainingLabels.jobName, now, log: cfg.log });
    this.workers = new PodWorkers({
      client: cfg.client,
      runtime: this.index.wrap(cfg.runtime),
      recorder: new EventRecorder(cfg.client, 'kubelet', cfg.nodeName),
      pods: this.informer,
      nodeName: cfg.nodeName,
      nodeIp: cfg.nodeIp,
      dataDir: cfg.dataDir,
      allocatable,
      backoff: cfg.backoff ?? { initialMs: 10_000, maxMs: 300_000 },
      retryMs: cfg.retryMs ?? 2_000,
      now,
      log: cfg.log,
      devices: this.gpus,
      retainLogs: (pod, podDir) => this.retained.retain(pod, podDir),
      rendezvous: new RendezvousGate(this.informers.informer(ENDPOINT_SLICES), (key) => this.workers.enqueue(key)),
      dns:
        cfg.dns &&
        podDnsHook({ ...cfg.dns, resolvConf: this.resolvConf, nodeIps: [cfg.nodeIp] }, (reason, msg) =>
          void new EventRecorder(cfg.client, 'kubelet', cfg.nodeName).event({ apiVersion: 'v1', kind: 'Node', metadata: { name: cfg.nodeName } }, 'Warning', reason, msg),
        ),
    });
    this.nodeStatus = new NodeStatusManager({
      client: cfg.client,
      nodeName: cfg.nodeName,
      nodeIp: cfg.nodeIp,
      podCidr: cfg.podCidr,
      dataDir: cfg.dataDir,
      runtimeVersion: cfg.runtime.version,
      port: () => this.server?.port ?? 0,
      extendedResources,
      labels: this.gpus?.labels(),
      leaseIntervalMs: cfg.intervals?.leaseMs ?? 10_000,
      statusIntervalMs: cfg.intervals?.nodeStatusMs ?? 10_000,
      reportIntervalMs: cfg.intervals?.nodeReportMs ?? 300_000,
      now,
      log: cfg.log,
    });
  }

  /** The streaming server's port (once started). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Starts the runtime and the streaming server, registers the node, and begins running its pods; resolves when ready. */
  async start(): Promise<void> {
    const { cfg } = this;
    await cfg.runtime.start();
    this.retained.start();
    this.gpus?.start();
    if (cfg.dns?.serve) await this.startDns(cfg.dns);
    // EndpointSlices for rendezvous readiness (the DNS server, when it runs, already started their informer).
    await this.informers.start();
    let tls = cfg.streamingTls;
    if (!tls) {
      // Without cluster certificates the endpoint still runs, but no client can present a certificate it trusts.
      cfg.log('kubelet: no streaming TLS configured: container logs cannot be fetched through the API server');
      const ca = await createCa(`kubelet-${cfg.nodeName}-ca`);
      const serving = await issueCert(ca, { commonName: `system:node:${cfg.nodeName}`, ips: [cfg.nodeIp], dnsNames: [cfg.nodeName], usage: 'server' });
      tls = { cert: serving.cert, key: serving.key, ca: ca.cert };
    }
    this.server = new KubeletServer({
      tls,
      port: cfg.port ?? 10250,
      logSource: (ns, pod, container, previous) => this.logSource(ns, pod, container, previous),
      retainedPod: (ns, pod) => this.retained.pod(ns, pod),
      streaming: new PodStreams({ pods: this.informer, index: this.index, runtime: cfg.runtime }),
      summary: () => this.stats.summary(),
      log: cfg.log,
    });
    await this.server.start();
    await this.nodeStatus.start();
    this.informer.addHandlers({
      onAdd: (p) => this.workers.enqueue(objectKey(p)),
      // Status-only changes (mostly this agent's own writes) need no sync, as upstream's pod config ignores them.
      onUpdate: (o, p) => {
        // A readiness gate's condition written by someone else moves Ready too (upstream HandlePodReconcile).
        if (podsDiffer(o, p) || needsReadinessReconcile(p)) this.workers.enqueue(objectKey(p));
      },
      onDelete: (p) => this.workers.enqueue(objectKey(p)),
    });
    await this.informer.start();
    this.started = true;
  }

  /** Stops heartbeating and syncing, kills every container of this node and stops the runtime and the server. */
  async stop(): Promise<void> {
    this.informer.stop();
    this.workers.stop();
    this.nodeStatus.stop();
    await this.server?.stop();
    if (this.started) await this.workers.stopAll();
    await this.nodeDns?.stop();
    this.nodeDns = undefined;
    this.informers.stop();
    this.retained.stop();
    await this.cfg.runtime.stop();
    this.started = false;
  }

  /** A log request's file: the pod's on this node, else (the pod gone from the API) its kept logs. */
  private logSource(namespace: string, name: string, container: string, previous: boolean): LogSource {
    try {
      return this.workers.logSource(namespace, name, container, previous);
    } catch (e) {
      if (!(e instanceof LogRequestError) || e.code !== 404 || this.informer.get(namespace, name)) throw e;
      const kept = this.retained.source(namespace, name, container, previous);
      if (!kept) throw e;
      return kept;
    }
  }

  /** Serves cluster DNS on the pod bridge's gateway and publishes it as a kube-dns endpoint; a node without it still runs pods. */
  private async startDns(dns: NonNullable<KubeletConfig['dns']>): Promise<void> {
    const { cfg } = this;
    const address = gatewayOf(parseCidr(cfg.podCidr));
    const server = new NodeDns({
      client: cfg.client,
      nodeName: cfg.nodeName,
      address,
      clusterDomain: dns.clusterDomain,
      dnsIp: dns.clusterDns[0],
      resolvConf: this.resolvConf,
      port: dns.port,
      metricsPort: dns.metricsPort,
      log: cfg.log,
      informers: this.informers,
    });
    try {
      await server.start();
      this.nodeDns = server;
    } catch (e) {
      cfg.log(`kubelet: cluster DNS is not served on ${address}: ${(e as Error).message}`);
    }
  }

  /** Resolves when no pod sync is running or queued (for tests and orderly shutdown). */
  idle(): Promise<void> {
    return this.workers.idle();
  }
}
