/**
 * The HTTP transport: a Client that talks to a Kite (or any Kubernetes) API
 * server over HTTPS with keep-alive connections — what a component in another
 * process (e.g. `kite agent`) uses. URLs follow the Kubernetes REST scheme;
 * a non-2xx `Status` body becomes the same ApiError the server raised, and
 * watches are newline-delimited JSON streams parsed as they arrive.
 */
import { request as httpRequest, Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApiError, type StatusObject, type StatusReason } from '../api/errors.js';
import type { Client, ClientWatch, ClientWatchEvent, DeleteOpts, ListOpts, ObjectList, PatchType, ResourceRef, WatchOpts, WriteOpts } from './client.js';

/** Where the API server is and how to authenticate to it. PEM strings, not file names. */
export interface HttpClientConfig {
  /** Base URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** CA certificate(s) the server's certificate must chain to. */
  ca: string;
  /** Client certificate and key (mutual TLS), if the user authenticates that way. */
  cert?: string;
  key?: string;
  /** Bearer token, if the user authenticates that way. */
  token?: string;
  /** Sent as User-Agent; the server derives the default field manager from it. */
  userAgent?: string;
  /** Field manager for writes that do not name one (server-side apply needs one). */
  fieldManager?: string;
  /** How long establishing a connection (TCP and TLS) may take (default 10 s). */
  connectTimeoutMs?: number;
  /** How long a non-watch request may take in all (default: no limit). */
  requestTimeoutMs?: number;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** Reason (and message when there is no body to show) for a non-2xx answer that carries no Status (client-go's NewGenericServerResponse). */
const GENERIC_RESPONSES: Record<number, [StatusReason, string]> = {
  400: ['BadRequest', 'the server rejected our request for an unknown reason'],
  401: ['Unauthorized', 'the server has asked for the client to provide credentials'],
  403: ['Forbidden', 'the server does not allow access to the requested resource'],
  404: ['NotFound', 'the server could not find the requested resource'],
  405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
  406: ['NotAcceptable', 'the server was unable to respond with a content type that the client supports'],
  409: ['Conflict', 'the server reported a conflict'],
  410: ['Gone', 'the server reports that the requested resource is gone'],
  413: ['RequestEntityTooLarge', 'the server has received a request that is too large'],
  415: ['UnsupportedMediaType', 'the server was unable to respond with a content type that the client supports'],
  422: ['Invalid', 'the server rejected our request due to an error in our request'],
  429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
  500: ['InternalError', 'an error on the server has prevented the request from succeeding'],
  503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
};

/** The URL path of a resource collection or object: `/api/v1/...` for core, `/apis/<group>/<version>/...` otherwise. */
export function resourcePath(ref: ResourceRef, namespace: string, name?: string, subresource?: string): string {
  let p = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  // An empty namespace means a cluster-scoped resource, or all namespaces of a namespaced one.
  if (namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.resource}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** Turns a non-2xx answer into an ApiError: the server's own Status when it sent one. */
export function responseError(code: number, body: string): ApiError {
  let status: Partial<StatusObject> | undefined;
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && parsed.kind === 'Status') status = parsed;
  } catch {
    // not JSON: fall through to the generic error for the code
  }
  if (status) {
    return new ApiError(status.reason ?? '', status.message ?? '', status.details, typeof status.code === 'number' && status.code ? status.code : code);
  }
  const [reason, text] = GENERIC_RESPONSES[code] ?? ['', `an error on the server ("${body.trim()}") has prevented the request from succeeding`];
  const message = body.trim() && GENERIC_RESPONSES[code] ? `${text} (${body.trim().slice(0, 256)})` : text;
  return new ApiError(reason, message, undefined, code);
}

/** A Client over HTTPS to an API server. Call close() to drop idle connections. */
export class HttpClient implements Client {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpsRequest;

  constructor(private readonly config: HttpClientConfig) {
    this.url = new URL(config.server);
    const secure = this.url.protocol === 'https:';
    if (!secure && this.url.protocol !== 'http:') throw new Error(`unsupported server URL ${config.server}: want https:// or http://`);
    // Keep-alive: components make many small requests; idle sockets are unref'd by the agent and do not hold the process open.
    this.agent = secure
      ? new HttpsAgent({ keepAlive: true, ca: config.ca, cert: config.cert, key: config.key })
      : new HttpAgent({ keepAlive: true });
    this.send = (secure ? httpsRequest : httpRequest) as typeof httpsRequest;
  }

  /**
   * A client for a kubeconfig's context (its current context unless named):
   * the cluster's server and CA, the user's client certificate and key or token.
   * Inline `*-data` fields and file references (relative to the kubeconfig) both work.
   */
  static fromKubeconfig(path: string, context?: string, extra: Partial<HttpClientConfig> = {}): HttpClient {
    const kc = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as any;
    const ctxName = context ?? kc['current-context'];
    if (!ctxName) throw new Error(`${path}: no context given and no current-context set`);
    const ctx = (kc.contexts ?? []).find((c: any) => c?.name === ctxName)?.context;
    if (!ctx) throw new Error(`${path}: context "${ctxName}" does not exist`);
    const cluster = (kc.clusters ?? []).find((c: any) => c?.name === ctx.cluster)?.cluster;
    if (!cluster?.server) throw new Error(`${path}: cluster "${ctx.cluster}" of context "${ctxName}" does not exist or has no server`);
    const user = (kc.users ?? []).find((u: any) => u?.name === ctx.user)?.user ?? {};
    const base = dirname(path);
    const pem = (data: unknown, file: unknown): string | undefined => {
      if (typeof data === 'string' && data) return Buffer.from(data, 'base64').toString('utf8');
      if (typeof file === 'string' && file) return readFileSync(resolvePath(base, file), 'utf8');
      return undefined;
    };
    const ca = pem(cluster['certificate-authority-data'], cluster['certificate-authority']);
    const token = typeof user.token === 'string' && user.token ? user.token : typeof user.tokenFile === 'string' ? readFileSync(resolvePath(base, user.tokenFile), 'utf8').trim() : undefined;
    return new HttpClient({
      server: cluster.server,
      ca: ca ?? '',
      cert: pem(user['client-certificate-data'], user['client-certificate']),
      key: pem(user['client-key-data'], user['client-key']),
      token,
      ...extra,
    });
  }

  /** Closes idle keep-alive connections (running watches are left alone). */
  close(): void {
    this.agent.destroy();
  }

  async get<T = any>(ref: ResourceRef, namespace: string, name: string, subresource?: string): Promise<T> {
    return this.call('GET', resourcePath(ref, namespace, name, subresource));
  }

  async list<T = any>(ref: ResourceRef, namespace: string, opts: ListOpts = {}): Promise<ObjectList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.limit) q.set('limit', String(opts.limit));
    if (opts.continue) q.set('continue', opts.continue);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    const body = await this.call<any>('GET', resourcePath(ref, namespace), q);
    const out: ObjectList<T> = { items: body?.items ?? [], resourceVersion: body?.metadata?.resourceVersion ?? '' };
    if (body?.metadata?.continue) out.continue = body.metadata.continue;
    return out;
  }

  async watch<T = any>(ref: ResourceRef, namespace: string, opts: WatchOpts, onEvent: (ev: ClientWatchEvent<T>) => void): Promise<ClientWatch> {
    const q = new URLSearchParams({ watch: 'true' });
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    if (opts.allowWatchBookmarks) q.set('allowWatchBookmarks', 'true');
    if (opts.timeoutSeconds !== undefined) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    const req = this.open('GET', resourcePath(ref, namespace), q, undefined, true);
    req.end();
    const res = await responseOf(req);
    if (!ok(res.statusCode)) throw responseError(res.statusCode ?? 0, await readAll(res));

    let stopped = false;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const stop = () => {
      if (stopped) return;
      stopped = true;
      req.destroy();
      finish();
    };
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      // Each event is one JSON document followed by a newline; a chunk may end mid-document.
      let nl: number;
      while (!stopped && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let ev: ClientWatchEvent<T>;
        try {
          ev = JSON.parse(line);
        } catch {
          // A stream we cannot read any further is over; the caller lists and watches again.
          stop();
          return;
        }
        onEvent(ev);
      }
    });
    // The stream ends when the server closes it (timeout, after an ERROR event) or the connection breaks.
    res.on('end', stop);
    res.on('close', stop);
    res.on('error', stop);
    req.on('error', stop);
    return { stop, done };
  }

  async create<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T> {
    const sub = opts?.subresource;
    // POST to a subresource (pods/<name>/binding, pods/<name>/eviction) names the object in the path.
    const name = sub ? (obj as any)?.metadata?.name : undefined;
    return this.call('POST', resourcePath(ref, namespace, name, sub), this.writeQuery(opts), { type: 'application/json', body: JSON.stringify(obj) });
  }

  async update<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T> {
    const name = (obj as any)?.metadata?.name ?? '';
    return this.call('PUT', resourcePath(ref, namespace, name, opts?.subresource), this.writeQuery(opts), { type: 'application/json', body: JSON.stringify(obj) });
  }

  async patch<T = any>(
    ref: ResourceRef,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    opts?: WriteOpts & { force?: boolean },
  ): Promise<T> {
    const q = this.writeQuery(opts);
    // force is only meaningful (and only allowed) for apply patches.
    if (type === 'apply' && opts?.force) q.set('force', 'true');
    // JSON is YAML, so an apply patch given as an object is sent as JSON.
    const body = typeof patch === 'string' ? patch : JSON.stringify(patch);
    return this.call('PATCH', resourcePath(ref, namespace, name, opts?.subresource), q, { type: PATCH_CONTENT_TYPES[type], body });
  }

  async delete(ref: ResourceRef, namespace: string, name: string, opts: DeleteOpts = {}): Promise<void> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    await this.call('DELETE', resourcePath(ref, namespace, name), undefined, { type: 'application/json', body: JSON.stringify(body) });
  }

  private writeQuery(opts?: WriteOpts): URLSearchParams {
    const q = new URLSearchParams();
    const manager = opts?.fieldManager ?? this.config.fieldManager;
    if (manager) q.set('fieldManager', manager);
    if (opts?.dryRun) q.set('dryRun', 'All');
    return q;
  }

  /** One request-response exchange; resolves with the parsed body or rejects with an ApiError. */
  private async call<T>(method: string, path: string, query?: URLSearchParams, body?: { type: string; body: string }): Promise<T> {
    const payload = body ? Buffer.from(body.body, 'utf8') : undefined;
    const req = this.open(method, path, query, body?.type, false);
    // Explicit length: Node sends a DELETE body without one (and without chunking) otherwise.
    if (payload) req.setHeader('Content-Length', payload.length);
    req.end(payload);
    const res = await responseOf(req);
    const text = await readAll(res);
    if (!ok(res.statusCode)) throw responseError(res.statusCode ?? 0, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError('InternalError', `the server responded to ${method} ${path} with a body that is not JSON: ${text.slice(0, 128)}`, undefined, 500);
    }
  }

  private open(method: string, path: string, query: URLSearchParams | undefined, contentType: string | undefined, watch: boolean): ClientRequest {
    const qs = query && [...query.keys()].length ? `?${query}` : '';
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (contentType) headers['Content-Type'] = contentType;
    if (this.config.token) headers.Authorization = `Bearer ${this.config.token}`;
    headers['User-Agent'] = this.config.userAgent ?? 'kite';
    const req = this.send({
      protocol: this.url.protocol,
      hostname: this.url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
      method,
      path: `${this.url.pathname.replace(/\/$/, '')}${path}${qs}`,
      headers,
      agent: this.agent,
    });
    const connectMs = this.config.connectTimeoutMs ?? 10_000;
    req.on('socket', (socket) => {
      // A reused keep-alive socket is already connected; a new one must connect (and finish TLS) in time.
      if (!socket.connecting) return;
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${connectMs} ms connecting to ${this.config.server}`)), connectMs);
      const clear = () => clearTimeout(timer);
      socket.once(this.url.protocol === 'https:' ? 'secureConnect' : 'connect', clear);
      socket.once('close', clear);
    });
    if (!watch && this.config.requestTimeoutMs) {
      req.setTimeout(this.config.requestTimeoutMs, () => req.destroy(new Error(`timed out after ${this.config.requestTimeoutMs} ms waiting for ${method} ${path}`)));
    }
    return req;
  }
}

function ok(code: number | undefined): boolean {
  return code !== undefined && code >= 200 && code < 300;
}

/** The response of a sent request (rejects on a connection error). */
function responseOf(req: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
}

/** The whole body of a response as text. */
function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (d: Buffer) => parts.push(d));
    res.once('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    res.once('error', reject);
  });
}
