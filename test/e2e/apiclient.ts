/**
 * A small HTTPS client for protocol-level e2e checks (raw Status bodies,
 * watch semantics, content types) that kubectl hides. It authenticates with
 * the client certificate (or bearer token) from a kubeconfig written by
 * `kite server`.
 */
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingHttpHeaders, ClientRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** A fully read HTTP response. */
export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as text. */
  body: string;
  /** The body parsed as JSON (throws when it is not JSON). */
  json(): any;
}

/** One decoded watch event ({type, object}). */
export interface WatchEvent {
  type: string;
  object: any;
}

/** A running watch; `done` settles when the stream ends (by stop() or by the server). */
export interface WatchHandle {
  stop(): void;
  /** Resolves with the HTTP status once the stream has ended (0 when no response came). */
  done: Promise<number>;
  /** The response status, once headers arrived (resolves immediately after). */
  status: Promise<number>;
}

/** The client returned by {@link apiClient}. */
export interface ApiClient {
  /** The server URL from the kubeconfig, e.g. https://127.0.0.1:6443. */
  server: string;
  /** Sends one request; a string body is sent as is, anything else as JSON. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Opens a watch stream on `path` (add `?watch=1` yourself or use a `watch=true` URL) and calls onEvent per event. */
  watch(path: string, onEvent: (ev: WatchEvent) => void, headers?: Record<string, string>): WatchHandle;
}

interface Credentials {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
}

/** Reads the current context's server and credentials from a kubeconfig file. */
export function readKubeconfig(kubeconfigPath: string): Credentials {
  const kc = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as any;
  const ctxName = kc['current-context'] ?? kc.contexts?.[0]?.name;
  const ctx = (kc.contexts ?? []).find((c: any) => c.name === ctxName)?.context ?? kc.contexts?.[0]?.context ?? {};
  const cluster = ((kc.clusters ?? []).find((c: any) => c.name === ctx.cluster) ?? kc.clusters?.[0])?.cluster ?? {};
  const user = ((kc.users ?? []).find((u: any) => u.name === ctx.user) ?? kc.users?.[0])?.user ?? {};
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);
  return {
    server: new URL(cluster.server),
    ca: b64(cluster['certificate-authority-data']),
    cert: b64(user['client-certificate-data']),
    key: b64(user['client-key-data']),
    token: user.token,
  };
}

/** Creates an HTTPS client authenticated as the kubeconfig's current user. */
export function apiClient(kubeconfigPath: string): ApiClient {
  const creds = readKubeconfig(kubeconfigPath);
  // Requests are independent: no keep-alive so nothing holds the test process open.
  const agent = new Agent({ ca: creds.ca, cert: creds.cert, key: creds.key, keepAlive: false });

  function open(method: string, path: string, headers: Record<string, string>): ClientRequest {
    const url = new URL(path, creds.server);
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (creds.token && !h.Authorization) h.Authorization = `Bearer ${creds.token}`;
    return httpsRequest(url, { method, agent, headers: h });
  }

  return {
    server: creds.server.toString().replace(/\/$/, ''),

    request(method, path, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const h = { ...headers };
        let payload: Buffer | undefined;
        if (body !== undefined) {
          payload = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
          if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
          h['Content-Length'] = String(payload.length);
        }
        const req = open(method, path, h);
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
          });
        });
        // A server may answer (e.g. 413) and close before it reads the whole body; the
        // response still arrives, so write errors after that are not failures.
        if (payload) req.end(payload);
        else req.end();
      });
    },

    watch(path, onEvent, headers = {}) {
      const req = open('GET', path, headers);
      let resolveStatus!: (s: number) => void;
      const status = new Promise<number>((r) => (resolveStatus = r));
      // `done` never rejects (an unawaited rejection would crash the test run): a
      // connection error before any response settles both promises with 0.
      const done = new Promise<number>((resolve) => {
        req.on('error', () => {
          resolveStatus(0);
          resolve(0);
        });
        req.on('response', (res) => {
          const code = res.statusCode ?? 0;
          resolveStatus(code);
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            // The JSON watch stream is one event object per line.
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line) onEvent(JSON.parse(line) as WatchEvent);
            }
          });
          const finish = () => {
            const rest = buf.trim();
            buf = '';
            if (rest) {
              try {
                onEvent(JSON.parse(rest) as WatchEvent);
              } catch {
                // a partial line cut off by stop()
              }
            }
            resolve(code);
          };
          res.on('end', finish);
          res.on('close', finish);
          res.on('error', () => resolve(code));
        });
      });
      req.end();
      return {
        stop() {
          req.destroy();
        },
        done,
        status,
      };
    },
  };
}
