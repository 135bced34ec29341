/** `kite token`: prints the node join token of the server whose data dir this is. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeTokenPath, readNodeToken } from '../apiserver/jointoken.js';

const HELP = `Usage: kite token [--data-dir DIR]

Prints the token that joins more machines to this server's cluster:
  kite agent --server https://<this machine>:6443 --token <token>

The server creates it at first start in <data-dir>/tls/node.token. It has the
form K10<sha256 of the cluster CA>::node:<secret>: the agent checks that the
server it reaches presents that CA before it sends the secret. Keep it secret:
whoever has it can add nodes to the cluster.

Options:
  --data-dir DIR   the server's data dir (default ~/.kite)
  -h, --help       show this help
`;

/** Runs `kite token`. */
export async function tokenCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const dataDir = values['data-dir'] ?? join(homedir(), '.kite');
  const token = readNodeToken(dataDir);
  if (!token) {
    process.stderr.write(`kite token: no node token at ${nodeTokenPath(dataDir)}: start "kite server --data-dir ${dataDir}" first (it creates one)\n`);
    return 1;
  }
  process.stdout.write(`${token}\n`);
  return 0;
}
