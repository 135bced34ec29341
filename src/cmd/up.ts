/** `kite up`: a one-node cluster on this machine, merged into your kubeconfig, ready for kubectl. */
import { homedir } from 'node:os';
import { join, delimiter } from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { mergeKubeconfig } from '../apiserver/auth/kubeconfig.js';
import { HttpClient } from '../client/http.js';
import { R } from '../client/client.js';
import { SERVER_OPTIONS, configFrom, log, runControlPlane, runUntilSignalled } from './server.js';
import { upDemo } from './demo.js';

const HELP = `Usage: kite up [options]

Starts a one-node Kite cluster on this machine (control plane and node agent
in one process), merges a "kite" context into your kubeconfig ($KUBECONFIG or
~/.kube/config) and waits until the node is Ready. Stop it with Ctrl-C.

Options are those of 'kite server' (see 'kite server --help'); --disable-agent
makes no sense here and is refused. In addition:
  --demo    once the node is Ready, run the ML demo: train a scikit-learn model
            in a Job, batch inference in another (examples/ml-demo), then serve
            it behind a Service, an Ingress and an autoscaler and make a
            prediction through the Ingress (examples/ml-serving); what npm start does
`;

/** The kubeconfig kubectl reads by default: the first entry of $KUBECONFIG, else ~/.kube/config. */
export function userKubeconfigPath(): string {
  const env = process.env.KUBECONFIG;
  if (env) return env.split(delimiter).find((p) => p) ?? join(homedir(), '.kube', 'config');
  return join(homedir(), '.kube', 'config');
}

/** Runs `kite up`. */
export async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...SERVER_OPTIONS, demo: { type: 'boolean' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values['disable-agent']) {
    log('kite up always runs the local node; use "kite server --disable-agent" for a control plane alone');
    return 2;
  }
  const started = Date.now();
  const cp = await runControlPlane(configFrom(values));
  const target = userKubeconfigPath();
  const own = YAML.parse(readFileSync(cp.kubeconfigPath, 'utf8'));
  mergeKubeconfig(target, {
    server: own.clusters[0].cluster.server,
    caPem: Buffer.from(own.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
    clusterName: 'kite',
    userName: 'kite-admin',
    contextName: 'kite',
    clientCertPem: Buffer.from(own.users[0].user['client-certificate-data'], 'base64').toString(),
    clientKeyPem: Buffer.from(own.users[0].user['client-key-data'], 'base64').toString(),
  });
  log(`merged context "kite" into ${target} and made it current`);
  log(`waiting for node ${cp.nodeName} to be Ready`);
  await waitForNodeReady(cp.kubeconfigPath, cp.nodeName!);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  // Ctrl-C already stops the cluster cleanly while the demo runs.
  const stopped = runUntilSignalled(cp);
  const ingressUrl = cp.ingressPort === undefined ? undefined : `http://127.0.0.1:${cp.ingressPort}`;
  if (values.demo && !(await upDemo(cp.kubeconfigPath, stopped, ingressUrl))) return stopped;
  process.stdout.write(
    [
      `Kite is up: node ${cp.nodeName} is Ready (${secs} s).`,
      '  kubectl get nodes',
      '  kubectl create deployment web --image=nginx -- python3 -m http.server 8080',
      '  kubectl apply -f examples/ml-demo/',
      ...(values.demo ? ['  kubectl apply -f examples/ml-serving/load/   # load for the autoscaler: kubectl get hpa --watch'] : []),
      // More machines join with the node token (k3s's server/agent split).
      `  kite token${values['data-dir'] ? ` --data-dir ${values['data-dir']}` : ''}   # prints the token that joins more machines; on each of them:`,
      `  kite agent --server https://<address of this machine>:${new URL(cp.serverUrl).port} --token <token>`,
      'Press Ctrl-C to stop the cluster.',
      '',
    ].join('\n'),
  );
  return stopped;
}

/** Resolves when the node reports Ready=True (watching, not polling). */
async function waitForNodeReady(kubeconfig: string, nodeName: string): Promise<void> {
  const client = HttpClient.fromKubeconfig(kubeconfig);
  const ready = (n: any) => (n?.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  const opts = { fieldSelector: `metadata.name=${nodeName}` };
  try {
    const list = await client.list(R.nodes, '', opts);
    if (list.items.some(ready)) return;
    let resolveReady!: () => void;
    const isReady = new Promise<void>((resolve) => (resolveReady = resolve));
    const watch = await client.watch(R.nodes, '', { ...opts, resourceVersion: list.resourceVersion }, (ev) => {
      if (ev.type !== 'DELETED' && ready(ev.object)) resolveReady();
    });
    await isReady;
    watch.stop();
  } finally {
    client.close();
  }
}
