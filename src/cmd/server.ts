/** `kite server`: runs the control plane (and, unless --disable-agent, the local node) until SIGINT/SIGTERM. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane, type ControlPlaneConfig } from '../controlplane/index.js';
import { parseDuration } from '../api/protobuf.js';

const HELP = `Usage: kite server [options]

Starts the Kite control plane (API server on embedded storage, controllers,
scheduler) and a node agent for this machine, and writes an admin kubeconfig
to <data-dir>/kubeconfig.yaml once it is ready.

Options:
  --data-dir DIR          where state, certificates and the kubeconfig live (default ~/.kite)
  --port PORT             HTTPS port of the API server (default 6443; 0 picks a free port)
  --bind-address ADDR     address to listen on (default 0.0.0.0)
  --advertise-address IP  address other machines use to reach this server
  --datastore KIND        sqlite (default, durable) or memory (throwaway)
  --service-cidr CIDR     range for Service cluster IPs (default 10.96.0.0/12)
  --disable-agent         run no node on this machine (control plane only)
  --node-name NAME        name of the local node (default: the host name)
  --controllers LIST      controllers to run, as kube-controller-manager's flag: '*' for all
                          (default), 'name' to enable, '-name' to disable; empty for none
  --disable-scheduler     run no scheduler in this process
  --runtime KIND          container runtime of the local node: process (default; containers
                          are host processes) or cri (containerd with OCI images; needs
                          Debian's containerd, runc, containernetworking-plugins, busybox-static)
  --insecure-registries LIST  registries (host:port, comma-separated) the cri runtime pulls
                          from over plain HTTP; loopback registries always are
  --cluster-dns IPS       nameservers of pods with dnsPolicy ClusterFirst, comma-separated
                          (default: the 10th address of --service-cidr, the kube-dns Service)
  --cluster-domain DOMAIN the cluster's DNS domain (default cluster.local)
  --ingress-port PORT     HTTP port of the built-in Ingress controller (default 80;
                          0 picks a free port; -1 disables it)
  --simulated-gpus N      give the local node N simulated nvidia.com/gpu devices instead of
                          the GPUs nvidia-smi finds (labelled kite.io/simulated-gpus=true)
  --retain-training-logs DURATION  keep the logs of deleted training pods (label
                          training.kubeflow.org/job-name) readable with kubectl logs this
                          long (default 24h; 0 keeps none)
  -h, --help              show this help
`;

/** Options shared by `kite server` and `kite up`. */
export const SERVER_OPTIONS = {
  'data-dir': { type: 'string' },
  port: { type: 'string' },
  'bind-address': { type: 'string' },
  'advertise-address': { type: 'string' },
  datastore: { type: 'string' },
  'service-cidr': { type: 'string' },
  'disable-agent': { type: 'boolean' },
  'node-name': { type: 'string' },
  controllers: { type: 'string' },
  // Hidden: the local node's pod network (bridge name and /24), so several test clusters can share a machine.
  'pod-cidr': { type: 'string' },
  bridge: { type: 'string' },
  'disable-scheduler': { type: 'boolean' },
  runtime: { type: 'string' },
  'insecure-registries': { type: 'string' },
  'cluster-dns': { type: 'string' },
  'cluster-domain': { type: 'string' },
  'ingress-port': { type: 'string' },
  'simulated-gpus': { type: 'string' },
  'retain-training-logs': { type: 'string' },
  // Hidden (advanced): register N simulated nodes (kwok-style) for scale tests.
  'hollow-nodes': { type: 'string' },
  // Hidden (not in HELP): seconds between watch BOOKMARK events, for tests; upstream sends them about every minute.
  'watch-bookmark-interval': { type: 'string' },
  // Hidden, for tests: metrics-server's --metric-resolution and kube-controller-manager's HPA sync period (Go durations).
  'metric-resolution': { type: 'string' },
  'horizontal-pod-autoscaler-sync-period': { type: 'string' },
  // Hidden, for tests: kube-controller-manager's --node-monitor-grace-period (a Go duration; upstream 50s).
  'node-monitor-grace-period': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A progress line on stderr. */
export const log = (m: string): void => void process.stderr.write(`kite: ${m}\n`);

/** A Go duration flag in ms; NaN (refused by validation) when it does not parse. */
export function durationMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return Number(parseDuration(v) / 1_000_000n);
  } catch {
    return Number.NaN;
  }
}

/** The control-plane configuration from parsed options. */
export function configFrom(values: Record<string, string | boolean | undefined>): ControlPlaneConfig {
  const str = (k: string) => values[k] as string | undefined;
  const duration = (k: string): number | undefined => durationMs(str(k));
  const hpaSync = duration('horizontal-pod-autoscaler-sync-period');
  const nodeGrace = duration('node-monitor-grace-period');
  return {
    dataDir: str('data-dir') ?? join(homedir(), '.kite'),
    port: str('port') === undefined ? 6443 : Number(str('port')),
    bindAddress: str('bind-address') ?? '0.0.0.0',
    advertiseAddress: str('advertise-address'),
    datastore: (str('datastore') ?? 'sqlite') as 'sqlite' | 'memory',
    serviceCidr: str('service-cidr') ?? '10.96.0.0/12',
    bookmarkIntervalMs: str('watch-bookmark-interval') === undefined ? undefined : Number(str('watch-bookmark-interval')) * 1000,
    agent: !values['disable-agent'],
    scheduler: !values['disable-scheduler'],
    controllers: str('controllers') === undefined ? ['*'] : str('controllers')!.split(',').map((c) => c.trim()).filter(Boolean),
    nodeName: str('node-name'),
    podCidr: str('pod-cidr'),
    bridge: str('bridge'),
    runtime: str('runtime') as ControlPlaneConfig['runtime'],
    insecureRegistries: str('insecure-registries')?.split(',').map((s) => s.trim()).filter(Boolean),
    ingressPort: str('ingress-port') === undefined ? undefined : Number(str('ingress-port')),
    hollowNodes: str('hollow-nodes') === undefined ? undefined : Number(str('hollow-nodes')),
    simulatedGpus: str('simulated-gpus') === undefined ? undefined : Number(str('simulated-gpus')),
    clusterDns: str('cluster-dns') === undefined ? undefined : str('cluster-dns')!.split(',').map((s) => s.trim()).filter(Boolean),
    clusterDomain: str('cluster-domain'),
    metricResolutionMs: duration('metric-resolution'),
    retainTrainingLogsMs: duration('retain-training-logs'),
    ...(hpaSync === undefined && nodeGrace === undefined
      ? {}
      : { controllerOptions: { ...(hpaSync === undefined ? {} : { hpaSyncPeriodMs: hpaSync }), ...(nodeGrace === undefined ? {} : { nodeMonitorGracePeriodMs: nodeGrace }) } }),
    log,
  };
}

/** Starts the control plane with logging of internal errors; returns it running. */
export async function runControlPlane(config: ControlPlaneConfig): Promise<ControlPlane> {
  // A failure inside one request or background task must not take the control plane down.
  process.on('unhandledRejection', (e) => log(`internal error (the server keeps running): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  return startControlPlane(config);
}

/** Resolves on the first SIGINT/SIGTERM (calling onFirst then); later ones are only logged. */
export function waitForSignal(logLine: (m: string) => void = log, onFirst?: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      // A second Ctrl-C must not cut the shutdown short: pods, network and storage are being cleaned up.
      if (stopping) return logLine(`received ${sig} again; still shutting down`);
      stopping = true;
      logLine(`received ${sig}, shutting down`);
      onFirst?.();
      resolve();
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}

/** Waits for SIGINT/SIGTERM, then stops the control plane. */
export async function runUntilSignalled(cp: ControlPlane): Promise<number> {
  await waitForSignal();
  await cp.stop();
  log('stopped');
  return 0;
}

/** Runs `kite server` with the given arguments. */
export async function serverCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: SERVER_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const started = Date.now();
  const cp = await runControlPlane(configFrom(values));
  log(`API server ready at ${cp.serverUrl} (${Date.now() - started} ms)`);
  process.stdout.write(`Kite control plane is ready.\n  export KUBECONFIG=${cp.kubeconfigPath}\n  kubectl get namespaces\n`);
  return runUntilSignalled(cp);
}
