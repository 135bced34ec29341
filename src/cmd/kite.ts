/** The `kite` command: dispatches to its subcommands. */
import { serverCommand } from './server.js';
import { upCommand } from './up.js';
import { agentCommand } from './agent.js';
import { tokenCommand } from './token.js';
import { KITE_VERSION, KUBERNETES_VERSION } from '../version.js';

const HELP = `Kite: a Kubernetes-compatible cluster for machine-learning work.

Usage: kite <command> [options]

Commands:
  up        start a one-node cluster here and point kubectl at it
  server    start the control plane and this machine's node
  agent     join this machine to a cluster as another node
  token     print the token that joins machines to this server's cluster
  version   print Kite's version

Run 'kite <command> --help' for a command's options.
`;

/** Entry point; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'server':
      return serverCommand(rest);
    case 'up':
      return upCommand(rest);
    case 'agent':
      return agentCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case 'version':
    case '--version':
      process.stdout.write(`kite ${KITE_VERSION} (Kubernetes API ${KUBERNETES_VERSION})\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`kite: unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}
