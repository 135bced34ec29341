/**
 * A node: the kubelet with its container runtime and GPUs, the service
 * proxy, the Ingress controller and the route syncer, each talking to the API
 * server through a client it is given. `kite server` runs one beside the
 * control plane (in-process clients); `kite agent` runs one on another
 * machine (HTTPS clients with the node's certificate).
 */
import { networkInterfaces } from 'node:os';
import type { Client } from '../client/client.js';
import { InformerFactory } from '../client/factory.js';
import { Kubelet } from '../kubelet/kubelet.js';
import type { StreamingTls } from '../kubelet/server.js';
import { ProcessRuntime } from '../kubelet/runtime/process.js';
import { CriRuntime } from '../kubelet/runtime/cri/cri.js';
import { discoverGpus, simulatedGpus } from '../kubelet/devices/nvidia.js';
import { isRoot } from '../kubelet/runtime/sys.js';
import { ServiceProxy, clusterCidrFor, proxyTableName } from '../proxy/proxier.js';
import { IngressController } from '../ingress/controller.js';
import { RouteSyncer } from './routes.js';
import { runAll } from '../util/teardown.js';

/** Configuration of a node. */
export interface NodeConfig {
  nodeName: string;
  /** Node-local state: pod directories, IPAM records, logs. */
  dataDir: string;
  /** The node's InternalIP (what the API server and other nodes reach it at). */
  nodeIp: string;
  /** The node's pod CIDR (a /24 of the cluster CIDR). */
  podCidr: string;
  /** Name of the pod bridge (default kite0). */
  bridge?: string;
  /** `process` (host processes, default) or `cri` (containerd, OCI images). */
  runtime?: 'process' | 'cri';
  /** `host:port` of registries the cri runtime reaches over plain HTTP. */
  insecureRegistries?: string[];
  /** Serving certificate of the kubelet's streaming server and the CA its clients present certificates of. */
  streamingTls: StreamingTls;
  /** The cluster's Service range (the proxy's). */
  serviceCidr: string;
  /** Nameservers of ClusterFirst pods. */
  clusterDns: string[];
  clusterDomain: string;
  /** HTTP port of the Ingress controller (default 80; 0 picks a free port; -1 disables it). */
  ingressPort?: number;
  /** This many simulated GPUs instead of those nvidia-smi finds. */
  simulatedGpus?: number;
  /** How long the logs of deleted training pods stay readable (kite server's --retain-training-logs; 0: not kept). */
  retainTrainingLogsMs?: number;
  log: (msg: string) => void;
}

/** A client for a node component, by the user it acts as (`system:node:<name>`, `system:kube-proxy`, …). */
export type ClientFor = (user: string) => Client;

/** A running node. */
export interface RunningNode {
  nodeName: string;
  kubelet: Kubelet;
  /** The port the Ingress controller serves HTTP on, when it runs. */
  ingressPort?: number;
  /** Stops the Ingress controller, the kubelet (and with it every pod), the proxy and the route syncer, in that order. */
  stop(): Promise<void>;
}

/** The first non-internal IPv4 address of this machine (what other machines most likely reach it at). */
export function defaultNodeIp(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Starts a node's components; resolves once the kubelet has registered the node and runs its pods. */
export async function startNode(config: NodeConfig, clientFor: ClientFor): Promise<RunningNode> {
  const { nodeName, podCidr, log } = config;
  const bridge = config.bridge ?? 'kite0';
  const dataDir = config.dataDir;
  // Simulated GPUs stand in for hardware so that scheduling and allocation can be tried anywhere; they are labelled as such.
  const gpus = config.simulatedGpus
    ? { devices: simulatedGpus(config.simulatedGpus, nodeName), simulated: true }
    : { devices: await discoverGpus({ log }), simulated: false };
  if (gpus.simulated) log(`GPUs: ${gpus.devices.length} simulated (node label kite.io/simulated-gpus=true)`);
  const kubelet = new Kubelet({
    client: clientFor(`system:node:${nodeName}`),
    nodeName,
    dataDir,
    runtime:
      config.runtime === 'cri'
        ? new CriRuntime({ dataDir, podCidr, bridge, cgroupName: config.bridge ?? 'kite', nodeIp: config.nodeIp, insecureRegistries: config.insecureRegistries, log })
        : new ProcessRuntime({ dataDir, podCidr, bridge, cgroupName: config.bridge ?? 'kite', nodeIp: config.nodeIp, log }),
    podCidr,
    nodeIp: config.nodeIp,
    log,
    // Process-runtime containers are host processes: only CUDA_VISIBLE_DEVICES keeps them to their GPUs.
    gpus: { inventory: gpus, hostDevices: config.runtime !== 'cri' },
    streamingTls: config.streamingTls,
    port: 0,
    // The node serves cluster DNS on its bridge gateway; pods reach it through the kube-dns Service address.
    dns: { clusterDns: config.clusterDns, clusterDomain: config.clusterDomain, serve: true },
    retainTrainingLogsMs: config.retainTrainingLogsMs,
  });
  await kubelet.start();
  let proxy: ServiceProxy | undefined;
  let proxyInformers: InformerFactory | undefined;
  let routes: RouteSyncer | undefined;
  if (!isRoot()) {
    log('Services are not proxied on this node: the service proxy programs nftables, which needs root');
  } else {
    proxyInformers = new InformerFactory(clientFor('system:kube-proxy'));
    try {
      proxy = new ServiceProxy({
        informers: proxyInformers,
        nodeName,
        nodeIps: [config.nodeIp],
        clusterCidr: clusterCidrFor(podCidr),
        serviceCidr: config.serviceCidr,
        bridge,
        table: proxyTableName(bridge),
        log,
      });
      await proxy.start();
      log(`Service proxy started (nftables table ip ${proxyTableName(bridge)})`);
    } catch (e) {
      // A node without working nftables still runs pods; only Service addresses stay dark.
      log(`Services are not proxied on this node: ${(e as Error).message}`);
      proxyInformers.stop();
      proxy = undefined;
    }
    // Pod traffic to other machines' nodes goes by host routes via their InternalIPs (flannel's host-gw).
    routes = new RouteSyncer({ client: clientFor('system:kite-route-syncer'), nodeName, nodeIps: [config.nodeIp], podCidr, clusterCidr: clusterCidrFor(podCidr), log });
    try {
      await routes.start();
    } catch (e) {
      log(`Pods on other machines are not routed from this node: ${(e as Error).message}`);
      routes.stop();
      routes = undefined;
    }
  }
  let ingress: IngressController | undefined;
  let ingressInformers: InformerFactory | undefined;
  if (config.ingressPort !== -1) {
    // The node's HTTP entry point for Ingresses (k3s ships one too); a taken port costs the Ingress feature, not the node.
    const client = clientFor('system:kite-ingress-controller');
    ingressInformers = new InformerFactory(client);
    ingress = new IngressController({ client, informers: ingressInformers, nodeIp: config.nodeIp, port: config.ingressPort ?? 80, log });
    try {
      await ingress.start();
      log(`Ingress controller serving HTTP on port ${ingress.port} (IngressClass kite)`);
    } catch (e) {
      log(`Ingress controller not started: ${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `port ${config.ingressPort ?? 80} is in use (choose another with --ingress-port)` : (e as Error).message}`);
      ingressInformers.stop();
      ingress = undefined;
    }
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // A broken kubelet must not leave the proxy's table or routes behind.
      await runAll([
        () => ingress?.stop(),
        () => ingressInformers?.stop(),
        () => kubelet.stop(),
        () => proxy?.stop(),
        () => proxyInformers?.stop(),
        () => routes?.stop(),
      ]);
    })());
  return { nodeName, kubelet, ingressPort: ingress?.port, stop };
}
