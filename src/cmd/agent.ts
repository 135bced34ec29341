/** `kite agent`: joins this machine to a Kite cluster as a node and runs it until SIGINT/SIGTERM. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent, type AgentConfig } from '../node/agent.js';
import { durationMs, waitForSignal } from './server.js';

const HELP = `Usage: kite agent --server https://HOST:6443 --token TOKEN [options]

Joins this machine to the Kite cluster whose API server is at --server and
runs a node here (kubelet, service proxy, cluster DNS, Ingress controller).
Get the token with "kite token" on the server. A full token
(K10<sha256 of the cluster CA>::node:<secret>) makes the agent refuse a server
whose CA certificate is not the one the token was made for, so the secret
never reaches an impostor; with the bare secret the CA is trusted unchecked.

Options:
  --server URL            the API server, e.g. https://10.0.0.1:6443 (required)
  --token TOKEN           the join token (required; or set KITE_TOKEN)
  --node-name NAME        name of this node (default: the host name)
  --data-dir DIR          where the node's certificates and pod state live (default ~/.kite-agent)
  --runtime KIND          process (default; containers are host processes) or cri
                          (containerd with OCI images)
  --advertise-address IP  this node's address, which the API server and other nodes
                          reach it at (default: the first non-loopback IPv4 address)
  --insecure-registries LIST  registries (host:port) the cri runtime pulls from over HTTP
  --ingress-port PORT     HTTP port of the node's Ingress controller (default 80;
                          0 picks a free port; -1 disables it)
  --simulated-gpus N      N simulated nvidia.com/gpu devices instead of those nvidia-smi finds
  --retain-training-logs DURATION  how long logs of deleted training-job pods stay readable
                          with kubectl logs (default 24h; 0 keeps none)
  -h, --help              show this help

The node's pod CIDR comes from the server (a /24 of 10.244.0.0/16); pods start
once it is assigned. Pods on other machines are reached by host routes via
their nodes' addresses, so the machines must reach each other directly.
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'node-name': { type: 'string' },
  'data-dir': { type: 'string' },
  runtime: { type: 'string' },
  'advertise-address': { type: 'string' },
  'insecure-registries': { type: 'string' },
  'ingress-port': { type: 'string' },
  'simulated-gpus': { type: 'string' },
  'retain-training-logs': { type: 'string' },
  // Hidden: the node's own bridge and pod CIDR instead of the server's allocation, so several test nodes can share a machine.
  'pod-cidr': { type: 'string' },
  bridge: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const log = (m: string): void => void process.stderr.write(`kite agent: ${m}\n`);

/** Runs `kite agent` with the given arguments. */
export async function agentCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const config: AgentConfig = {
    server: v.server ?? '',
    token: v.token ?? process.env.KITE_TOKEN ?? '',
    dataDir: v['data-dir'] ?? join(homedir(), '.kite-agent'),
    nodeName: v['node-name'],
    advertiseAddress: v['advertise-address'],
    runtime: v.runtime as AgentConfig['runtime'],
    insecureRegistries: v['insecure-registries']?.split(',').map((s) => s.trim()).filter(Boolean),
    ingressPort: num(v['ingress-port']),
    simulatedGpus: num(v['simulated-gpus']),
    retainTrainingLogsMs: durationMs(v['retain-training-logs']),
    podCidr: v['pod-cidr'],
    bridge: v.bridge,
    log,
  };
  // A failure inside one background task must not take the node down.
  process.on('unhandledRejection', (e) => log(`internal error (the agent keeps running): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  const stopping = new AbortController();
  const signalled = waitForSignal(log, () => stopping.abort());
  let agent;
  try {
    agent = await startAgent(config, stopping.signal);
  } catch (e) {
    if (stopping.signal.aborted) return 0;
    log((e as Error).message);
    return 1;
  }
  process.stdout.write(`Kite agent is ready: node ${agent.nodeName} (pod CIDR ${agent.podCidr}) joined ${config.server}.\n`);
  await signalled;
  await agent.stop();
  log('stopped');
  return 0;
}
