import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePki } from '../apiserver/auth/certs.js';
import { NodeJoinHandler } from '../apiserver/join.js';
import { ensureNodeToken, formatJoinToken, parseJoinToken } from '../apiserver/jointoken.js';
import { HttpClient } from '../client/http.js';
import { JoinError, joinCluster, saveCredentials } from './join.js';

const CLUSTER = { serviceCidr: '10.96.0.0/12', clusterCidr: '10.244.0.0/16', clusterDns: ['10.96.0.10'], clusterDomain: 'cluster.local' };

/** A real HTTPS listener serving the join endpoints with the server's PKI, as the API server routes them. */
async function joinServer(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'kite-join-'));
  const pki = await ensurePki(join(dir, 'tls'));
  const token = ensureNodeToken(dir, pki.ca.cert);
  const logs: string[] = [];
  const handler = new NodeJoinHandler({ ca: pki.ca, token, cluster: CLUSTER, log: (m) => logs.push(m) });
  const server: Server = createServer({ cert: pki.serving.cert, key: pki.serving.key }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    if (handler.handles(path)) void handler.serve(req, res, path);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return { url, token, pki, logs, dir };
}

test('a node joins with the token: client certificate for system:node:<name> in system:nodes, a serving certificate, the cluster settings', async (t) => {
  const s = await joinServer(t);
  const logs: string[] = [];
  const creds = await joinCluster({ server: s.url, token: s.token, request: { nodeName: 'worker-1', addresses: ['192.0.2.7'] }, log: (m) => logs.push(m) });
  assert.deepEqual(logs, [], 'a full token checks the CA silently');
  assert.equal(creds.ca, s.pki.ca.cert);
  const ca = new X509Certificate(s.pki.ca.cert);
  const client = new X509Certificate(creds.client.cert);
  assert.ok(client.verify(ca.publicKey), 'signed by the cluster CA');
  assert.match(client.subject, /CN=system:node:worker-1/);
  assert.match(client.subject, /O=system:nodes/);
  const serving = new X509Certificate(creds.serving.cert);
  assert.ok(serving.verify(ca.publicKey));
  assert.equal(serving.checkIP('192.0.2.7'), '192.0.2.7');
  assert.equal(serving.checkHost('worker-1'), 'worker-1');
  assert.deepEqual(creds.cluster, CLUSTER);
  assert.deepEqual(s.logs, ['node worker-1 joined (client certificate system:node:worker-1)']);
  // The credentials are kept owner-only beside a kubeconfig of the node's identity that the HTTP client reads.
  const dir = mkdtempSync(join(tmpdir(), 'kite-agent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = saveCredentials(dir, s.url, creds);
  assert.equal(statSync(join(dir, 'tls', 'client.key')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'tls', 'serving.crt'), 'utf8'), creds.serving.cert);
  HttpClient.fromKubeconfig(kubeconfig).close();
});

test('a wrong secret is refused with 401 and a message that says what to do', async (t) => {
  const s = await joinServer(t);
  const wrong = formatJoinToken(s.pki.ca.cert, '0123456789abcdef0123456789abcdef');
  await assert.rejects(
    joinCluster({ server: s.url, token: wrong, request: { nodeName: 'w', addresses: [] }, log: () => undefined }),
    (e: Error) => {
      assert.ok(e instanceof JoinError);
      assert.equal(
        e.message,
        'the server refused the join token (401 Unauthorized: invalid node join token: use the token that "kite token" prints on the server); run "kite token" on the server and pass what it prints with --token',
      );
      return true;
    },
  );
  assert.deepEqual(s.logs, []);
});

test('a server whose CA is not the token\'s never sees the secret', async (t) => {
  const real = await joinServer(t);
  const impostor = await joinServer(t);
  await assert.rejects(
    joinCluster({ server: impostor.url, token: real.token, request: { nodeName: 'w', addresses: [] }, log: () => undefined }),
    /the cluster CA of https:\/\/127\.0\.0\.1:\d+ \(sha256 [0-9a-f]{64}\) is not the one the token was made for .*not joining$/,
  );
  assert.deepEqual(impostor.logs, [], 'no join request reached it');
});

test('the bare secret joins too, with a warning that the CA was not checked', async (t) => {
  const s = await joinServer(t);
  const logs: string[] = [];
  const creds = await joinCluster({ server: s.url, token: parseJoinToken(s.token)!.secret, request: { nodeName: 'w2', addresses: ['127.0.0.1'] }, log: (m) => logs.push(m) });
  assert.equal(creds.nodeName, 'w2');
  assert.match(logs[0]!, /^the token carries no CA hash: trusting the CA that https:\/\/127\.0\.0\.1:\d+ presents \(sha256 [0-9a-f]{64}\) without checking it/);
});

test('bad requests: unreachable server, not https, malformed token, invalid node name', async (t) => {
  const s = await joinServer(t);
  const join1 = (server: string, token: string, nodeName = 'w') => joinCluster({ server, token, request: { nodeName, addresses: [] }, log: () => undefined });
  await assert.rejects(join1('https://127.0.0.1:1', s.token), /^JoinError: cannot reach the Kite server at https:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
  await assert.rejects(join1(s.url.replace('https', 'http'), s.token), /--server must be the API server's https:\/\/ URL/);
  await assert.rejects(join1(s.url, 'nope'), /the token is not a Kite node token/);
  await assert.rejects(join1(s.url, s.token, 'Not_Valid'), /the server refused to join node Not_Valid \(422 Invalid: NodeJoin\.kite\.io "Not_Valid" is invalid: nodeName: Invalid value/);
});
