/**
 * The `pods/exec`, `pods/attach` and `pods/portforward` connect subresources
 * (upstream pkg/registry/core/pod/rest/subresources.go and
 * pod.ExecLocation/AttachLocation/PortForwardLocation): the request is
 * checked against the pod (container, node), then its upgrade is proxied
 * to the kubelet of the pod's node — WebSocket or SPDY bytes pass through
 * unchanged, the kubelet speaking every protocol kubectl does. As upstream's
 * stream translator (on for `v5.channel.k8s.io`), a refusal by the kubelet
 * reaches a v5 client as an InternalError status on the error channel of an
 * accepted WebSocket, not as a failed upgrade.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ApiError, errors } from '../../api/errors.js';
import { sendError } from '../http.js';
import { logContainer, type KubeletClientConfig } from '../podlogs.js';
import type { RequestInfo } from '../requestinfo.js';
import type { Store } from '../registry/store.js';

/** The connect subresources of pods this module serves. */
export const POD_CONNECT_SUBRESOURCES: readonly string[] = ['exec', 'attach', 'portforward'];

/** Whether a request addresses pods/exec, pods/attach or pods/portforward. */
export function isPodConnect(info: Pick<RequestInfo, 'group' | 'resource' | 'subresource' | 'name'>): boolean {
  return info.group === '' && info.resource === 'pods' && !!info.name && POD_CONNECT_SUBRESOURCES.includes(info.subresource);
}

/** Where a connect request goes: the kubelet's address and the path with its query. */
export interface ConnectLocation {
  host: string;
  port: number;
  path: string;
}

/** Go's strconv.ParseBool. */
function parseBool(name: string, v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw errors.badRequest(`${name}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

/**
 * The kubelet query for the request's options (upstream streamParams):
 * stream flags as `1`, each command word, the ports joined with commas;
 * keys sorted as Go's url.Values.Encode writes them.
 */
export function kubeletQuery(sub: string, query: URLSearchParams): string {
  const params: [string, string][] = [];
  if (sub === 'portforward') {
    const ports: string[] = [];
    for (const v of query.getAll('ports')) {
      for (const p of v.split(',')) {
        if (!/^-?\d+$/.test(p)) throw errors.badRequest(`ports: strconv.ParseInt: parsing ${JSON.stringify(p)}: invalid syntax`);
        ports.push(String(Number(p)));
      }
    }
    if (ports.length) params.push(['port', ports.join(',')]);
  } else {
    for (const k of ['stdin', 'stdout', 'stderr', 'tty']) {
      const v = query.get(k);
      if (v !== null && v !== '' && parseBool(k, v)) params.push([k, '1']);
    }
    if (sub === 'exec') for (const c of query.getAll('command')) params.push(['command', c]);
  }
  params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new URLSearchParams(params).toString();
}

/**
 * Checks a connect request against the pod and finds its kubelet (upstream
 * streamLocation / PortForwardLocation, their messages): the container must
 * be the pod's (or the only one when none is named), the pod on a node.
 */
export async function connectLocation(pods: Store, kubelet: KubeletClientConfig | undefined, info: Pick<RequestInfo, 'namespace' | 'name' | 'subresource'>, query: URLSearchParams): Promise<ConnectLocation> {
  const pod = await pods.get(info.namespace, info.name);
  const sub = info.subresource;
  const container = sub === 'portforward' ? '' : logContainer(pod, query.get('container') ?? '');
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw errors.badRequest(`pod ${info.name} does not have a host assigned`);
  if (!kubelet) throw errors.internal(new Error('no kubelet client configured'));
  const node = await kubelet.nodes.get('', nodeName);
  const host = node.status?.addresses?.find((a: any) => a.type === 'InternalIP')?.address ?? node.status?.addresses?.[0]?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || !port) throw errors.internal(new Error(`node "${nodeName}" has no kubelet address`));
  const ns = encodeURIComponent(pod.metadata.namespace);
  const name = encodeURIComponent(pod.metadata.name);
  const base = sub === 'portforward' ? `/portForward/${ns}/${name}` : `/${sub}/${ns}/${name}/${encodeURIComponent(container)}`;
  const q = kubeletQuery(sub, query);
  return { host, port, path: q ? `${base}?${q}` : base };
}

/** Upgrade requests in flight: the raw socket and the bytes read past the head, kept for the connect handler. */
const upgrades = new WeakMap<IncomingMessage, { socket: Duplex; head: Buffer }>();

/**
 * Takes an upgrade request through the API server's normal request path
 * (authentication, authorization, routing, Status errors): returns the
 * response to serve it with, written to the raw socket; the connect handler
 * finds the socket again to proxy it.
 */
export function upgradeResponse(req: IncomingMessage, socket: Duplex, head: Buffer): ServerResponse {
  socket.on('error', () => undefined);
  upgrades.set(req, { socket, head });
  return responseOn(req, socket);
}

/**
 * Serves pods/exec, pods/attach or pods/portforward once authorized: checks
 * the request against the pod, then proxies its upgrade to the kubelet. A
 * request that is no upgrade gets upstream's `Upgrade request required`.
 */
export async function serveConnect(req: IncomingMessage, res: ServerResponse, pods: Store, info: Pick<RequestInfo, 'namespace' | 'name' | 'subresource'>, query: URLSearchParams, kubelet: KubeletClientConfig | undefined): Promise<void> {
  const loc = await connectLocation(pods, kubelet, info, query);
  const up = upgrades.get(req);
  if (!up || !kubelet) throw errors.badRequest('Upgrade request required');
  upgrades.delete(req);
  // From here on the socket is spoken to directly.
  res.detachSocket(up.socket as Socket);
  await proxyConnectUpgrade(req, up.socket, up.head, info.subresource, loc, kubelet.tls);
}

/** Writes an API error as a Status answer on a socket that was not upgraded, then closes it. */
export function refuseWithStatus(req: IncomingMessage, socket: Duplex, err: unknown): void {
  const res = responseOn(req, socket);
  sendError(res, err);
}

/**
 * A ServerResponse written straight to an upgrade request's socket (the
 * HTTP server hands such sockets over raw): for answering an upgrade
 * request like any other request. The connection closes after it.
 */
export function responseOn(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  return res;
}

/** Request headers not passed to the kubelet: the client's credentials are for the API server only. */
const DROPPED_HEADERS = new Set(['host', 'authorization', 'impersonate-user', 'impersonate-group', 'impersonate-uid', 'proxy-authorization']);

/** Whether the request is a WebSocket asking for v5 (what upstream's stream translator serves). */
function wantsTranslation(req: IncomingMessage, sub: string): boolean {
  if (sub === 'portforward' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  return offered.includes('v5.channel.k8s.io');
}

/** Reads an HTTP response head (through the blank line) from a socket; resolves with it and whatever followed. */
function readResponseHead(sock: TLSSocket): Promise<{ status: number; head: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 64 * 1024) fail(new Error('kubelet response head too large'));
        return;
      }
      cleanup();
      sock.pause();
      const head = buf.subarray(0, end + 4);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1] ?? 0);
      resolve({ status, head, rest: buf.subarray(end + 4) });
    };
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => fail(new Error('kubelet closed the connection before answering'));
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('error', fail);
      sock.off('end', onEnd);
    };
    sock.on('data', onData);
    sock.once('error', fail);
    sock.once('end', onEnd);
  });
}

/** Reads the rest of a refused upgrade's body (the kubelet closes after it). */
function readRefusal(sock: TLSSocket, first: Buffer, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve) => {
    const chunks = [first];
    let size = first.length;
    sock.on('data', (c: Buffer) => {
      if (size < limit) chunks.push(c);
      size += c.length;
    });
    const done = () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, limit));
    sock.once('end', done);
    sock.once('close', done);
    sock.once('error', done);
    sock.resume();
  });
}

/**
 * Proxies an authorized connect upgrade to the kubelet (upstream's
 * UpgradeAwareHandler, with the v5 stream translator's error behaviour);
 * answers errors before the upgrade as Status objects.
 */
export async function proxyConnectUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, sub: string, loc: ConnectLocation, tls: KubeletClientConfig['tls']): Promise<void> {
  const translate = wantsTranslation(req, sub);
  const hostPort = `${loc.host.includes(':') ? `[${loc.host}]` : loc.host}:${loc.port}`;
  let backend: TLSSocket;
  try {
    backend = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: loc.host, port: loc.port, ca: tls.ca, cert: tls.cert, key: tls.key, ...(/^[\d.]+$|:/.test(loc.host) ? {} : { servername: loc.host }) });
      s.once('secureConnect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  } catch (e) {
    const err = new Error(`error dialing backend: dial tcp ${hostPort}: ${describeDialError(e as NodeJS.ErrnoException)}`);
    if (translate) return translatedFailure(req, socket, head, errors.internal(err));
    return refuseWithStatus(req, socket, errors.internal(err));
  }
  backend.on('error', () => undefined);
  socket.on('error', () => undefined);
  const lines = [`${req.method ?? 'GET'} ${loc.path} HTTP/1.1`, `Host: ${hostPort}`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (!DROPPED_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
  }
  backend.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length) backend.write(head);

  let answer: Awaited<ReturnType<typeof readResponseHead>>;
  try {
    answer = await readResponseHead(backend);
  } catch (e) {
    backend.destroy();
    const err = errors.internal(new Error(`error proxying to the kubelet: ${(e as Error).message}`));
    return translate ? translatedFailure(req, socket, head, err) : refuseWithStatus(req, socket, err);
  }
  if (answer.status !== 101 && translate) {
    // upstream's translator: the WebSocket is accepted, the kubelet's refusal is the SPDY client's error.
    const body = (await readRefusal(backend, answer.rest)).trim();
    backend.destroy();
    let status: ApiError | undefined;
    try {
      const parsed = JSON.parse(body);
      if (parsed?.kind === 'Status') status = new ApiError(parsed.reason ?? 'InternalError', parsed.message ?? body, parsed.details, parsed.code);
    } catch {
      /* plain text */
    }
    return translatedFailure(req, socket, head, status ?? errors.internal(new Error(`unable to upgrade connection: ${body}`)));
  }
  // Everything else passes through as the kubelet answered: a switch of protocols, or its refusal.
  socket.write(answer.head);
  if (answer.rest.length) socket.write(answer.rest);
  backend.pipe(socket);
  socket.pipe(backend);
  backend.resume();
  const close = () => {
    backend.destroy();
    socket.destroy();
  };
  backend.once('close', close);
  socket.once('close', close);
}

/** Go's wording of a failed dial. */
function describeDialError(e: NodeJS.ErrnoException): string {
  if (e.code === 'ECONNREFUSED') return 'connect: connection refused';
  if (e.code === 'EHOSTUNREACH') return 'connect: no route to host';
  if (e.code === 'ETIMEDOUT') return 'i/o timeout';
  return e.message;
}

/** Accepts the v5 WebSocket and reports the failure as a Status on the error channel (3), then closes normally. */
function translatedFailure(req: IncomingMessage, socket: Duplex, head: Buffer, err: ApiError): void {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: () => 'v5.channel.k8s.io' });
  wss.handleUpgrade(req, socket, head, (ws) => {
    const { kind: _k, apiVersion: _a, ...status } = err.toStatus() as unknown as Record<string, unknown>;
    ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ ...status, metadata: {} }))]), { binary: true }, () => ws.close(1000));
  });
}
