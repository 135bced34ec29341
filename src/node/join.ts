/**
 * The agent's side of joining a cluster: fetch the cluster CA, check it
 * against the hash the token carries (so a token never goes to a server that
 * is not the one it was made for), then post the join with the token's
 * secret over a connection verified by that CA, and keep the credentials
 * the server answers in the agent's data dir.
 */
import { request as httpsRequest } from 'node:https';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { responseError } from '../client/http.js';
import { caHash, parseJoinToken } from '../apiserver/jointoken.js';
import { CACERTS_PATH, JOIN_PATH, type JoinRequest, type NodeCredentials } from '../apiserver/join.js';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.js';

/** A join that cannot go on; the message says why and what to do. */
export class JoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JoinError';
  }
}

/** What joining needs. */
export interface JoinOptions {
  /** The API server's base URL, `https://HOST:PORT`. */
  server: string;
  token: string;
  request: JoinRequest;
  log: (msg: string) => void;
  /** How long each request may take (default 30 s). */
  timeoutMs?: number;
}

/** One HTTPS exchange; rejects with a JoinError that names the server when it cannot be reached. */
function exchange(server: string, path: string, opts: { method: string; ca?: string; headers?: Record<string, string>; body?: string; timeoutMs: number }): Promise<{ code: number; body: string }> {
  const url = new URL(path, server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || 443,
        path: url.pathname,
        method: opts.method,
        headers: { Accept: 'application/json', ...(opts.headers ?? {}) },
        // Before the CA is known the connection cannot be verified; what it answers is checked against the token instead.
        ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
        timeout: opts.timeoutMs,
      },
      (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', (e) => reject(new JoinError(`reading the answer of ${server}: ${e.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)));
    req.on('error', (e) => reject(new JoinError(`cannot reach the Kite server at ${server}: ${e.message}`)));
    req.end(opts.body);
  });
}

/** The first problem with a server URL and token, before anything is sent; undefined when they can be used. */
export function joinProblem(server: string, token: string): string | undefined {
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:') return `--server must be the API server's https:// URL, such as https://10.0.0.1:6443 (got "${server}")`;
  if (!parseJoinToken(token)) return 'the token is not a Kite node token: pass what "kite token" prints on the server (K10<ca hash>::node:<secret>)';
  return undefined;
}

/** Joins the cluster: returns the node's credentials (a JoinError says why it could not). */
export async function joinCluster(opts: JoinOptions): Promise<NodeCredentials> {
  const problem = joinProblem(opts.server, opts.token);
  if (problem) throw new JoinError(problem);
  const token = parseJoinToken(opts.token)!;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ca = await exchange(opts.server, CACERTS_PATH, { method: 'GET', timeoutMs });
  if (ca.code !== 200 || !ca.body.includes('BEGIN CERTIFICATE')) {
    throw new JoinError(`${opts.server} did not answer a cluster CA at ${CACERTS_PATH} (HTTP ${ca.code}): is it a Kite server?`);
  }
  let hash: string;
  try {
    hash = caHash(ca.body);
  } catch (e) {
    throw new JoinError(`the CA certificate ${opts.server} answered cannot be read: ${(e as Error).message}`);
  }
  if (token.caHash === undefined) {
    opts.log(`the token carries no CA hash: trusting the CA that ${opts.server} presents (sha256 ${hash}) without checking it; use the full token from "kite token" to have it checked`);
  } else if (token.caHash !== hash) {
    throw new JoinError(
      `the cluster CA of ${opts.server} (sha256 ${hash}) is not the one the token was made for (sha256 ${token.caHash}): ` +
        'the token belongs to another server, or something between here and the server is impersonating it; not joining',
    );
  }
  const res = await exchange(opts.server, JOIN_PATH, {
    method: 'POST',
    ca: ca.body,
    headers: { Authorization: `Bearer ${token.secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(opts.request),
    timeoutMs,
  });
  if (res.code === 401) {
    const err = responseError(res.code, res.body);
    throw new JoinError(`the server refused the join token (401 Unauthorized: ${err.message}); run "kite token" on the server and pass what it prints with --token`);
  }
  if (res.code !== 200) {
    const err = responseError(res.code, res.body);
    throw new JoinError(`the server refused to join node ${opts.request.nodeName} (${res.code} ${err.reason}: ${err.message})`);
  }
  const creds = JSON.parse(res.body) as NodeCredentials;
  if (creds.kind !== 'NodeCredentials' || !creds.client?.cert || !creds.serving?.cert) throw new JoinError(`${opts.server} answered the join with something other than node credentials`);
  return creds;
}

/**
 * Keeps the credentials in `<dataDir>/tls/` (ca.crt, client.crt/key for the API
 * server, serving.crt/key for the kubelet) and a kubeconfig of the node's
 * identity at `<dataDir>/kubeconfig.yaml`, owner-only.
 */
export function saveCredentials(dataDir: string, server: string, creds: NodeCredentials): string {
  const tls = join(dataDir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  writeFileSync(join(tls, 'ca.crt'), creds.ca, { mode: 0o644 });
  writeFileSync(join(tls, 'client.crt'), creds.client.cert, { mode: 0o644 });
  writeFileSync(join(tls, 'client.key'), creds.client.key, { mode: 0o600 });
  writeFileSync(join(tls, 'serving.crt'), creds.serving.cert, { mode: 0o644 });
  writeFileSync(join(tls, 'serving.key'), creds.serving.key, { mode: 0o600 });
  const kubeconfig = join(dataDir, 'kubeconfig.yaml');
  writeKubeconfig(kubeconfig, {
    server,
    caPem: creds.ca,
    clusterName: 'kite',
    userName: `system:node:${creds.nodeName}`,
    contextName: 'kite-node',
    clientCertPem: creds.client.cert,
    clientKeyPem: creds.client.key,
  });
  return kubeconfig;
}
