/** `kite server`: runs the control plane until SIGINT/SIGTERM. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../controlplane/index.js';

const HELP = `Usage: kite server [options]

Starts the Kite control plane (API server on embedded storage) and writes an
admin kubeconfig to <data-dir>/kubeconfig.yaml once it is ready.

Options:
  --data-dir DIR          where state, certificates and the kubeconfig live (default ~/.kite)
  --port PORT             HTTPS port of the API server (default 6443; 0 picks a free port)
  --bind-address ADDR     address to listen on (default 0.0.0.0)
  --advertise-address IP  address other machines use to reach this server
  --datastore KIND        sqlite (default, durable) or memory (throwaway)
  --service-cidr CIDR     range for Service cluster IPs (default 10.96.0.0/12)
  -h, --help              show this help
`;

/** Runs `kite server` with the given arguments. */
export async function serverCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      'bind-address': { type: 'string' },
      'advertise-address': { type: 'string' },
      datastore: { type: 'string' },
      'service-cidr': { type: 'string' },
      // Hidden (not in HELP): seconds between watch BOOKMARK events, for tests; upstream sends them about every minute.
      'watch-bookmark-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const started = Date.now();
  const log = (m: string) => process.stderr.write(`kite: ${m}\n`);
  // A failure inside one request or background task must not take the control plane down.
  process.on('unhandledRejection', (e) => log(`internal error (the server keeps running): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  const abort = new AbortController();
  const cp = await startControlPlane(
    {
      dataDir: values['data-dir'] ?? join(homedir(), '.kite'),
      port: values.port === undefined ? 6443 : Number(values.port),
      bindAddress: values['bind-address'] ?? '0.0.0.0',
      advertiseAddress: values['advertise-address'],
      datastore: (values.datastore ?? 'sqlite') as 'sqlite' | 'memory',
      serviceCidr: values['service-cidr'] ?? '10.96.0.0/12',
      bookmarkIntervalMs: values['watch-bookmark-interval'] === undefined ? undefined : Number(values['watch-bookmark-interval']) * 1000,
      log,
    },
    abort.signal,
  );
  log(`API server ready at ${cp.serverUrl} (${Date.now() - started} ms)`);
  process.stdout.write(`Kite control plane is ready.\n  export KUBECONFIG=${cp.kubeconfigPath}\n  kubectl get namespaces\n`);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log(`received ${sig}, shutting down`);
      resolve();
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  await cp.stop();
  log('stopped');
  return 0;
}
