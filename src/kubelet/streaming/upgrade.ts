/**
 * The kubelet's streaming endpoints (upstream pkg/kubelet/server):
 * `/exec/{ns}/{pod}[/{uid}]/{container}?command=…&stdin=1…`,
 * `/attach/{ns}/{pod}[/{uid}]/{container}` and `/portForward/{ns}/{pod}[/{uid}]`,
 * answered on an HTTP upgrade to WebSocket (channel protocols, or SPDY
 * tunnelled for port-forward) or to SPDY/3.1. Requests are checked before
 * any upgrade; refusals are plain-text HTTP answers, as kubelet writes them.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { CommandRequestError, parseCommandOptions, serveCommand, spdyTransport, SPDY_COMMAND_PROTOCOLS, StreamInbox, webSocketTransport, WS_COMMAND_PROTOCOLS, type CommandOptions } from './remotecommand.js';
import { parsePortsQuery, PortForwardRequestError, PORT_FORWARD_PROTOCOL, serveWebSocketPortForward, SpdyPortForwarder, WS_PORT_FORWARD_PROTOCOLS } from './portforward.js';
import { SpdySession } from './spdy.js';
import { Channel, ChannelConnection, negotiateWsProtocol, WsProtocol } from './wsstream.js';
import { StreamRequestError, type StreamingHost } from './host.js';

/** A streaming request's path, parsed. */
export type StreamingPath =
  | { op: 'exec' | 'attach'; namespace: string; pod: string; uid?: string; container: string }
  | { op: 'portForward'; namespace: string; pod: string; uid?: string };

/** Parses a streaming path; undefined when it is none of them. */
export function parseStreamingPath(pathname: string): StreamingPath | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [op, ...rest] = parts;
  if ((op === 'exec' || op === 'attach') && (rest.length === 3 || rest.length === 4)) {
    const [namespace, pod] = rest as [string, string];
    return rest.length === 3 ? { op, namespace, pod, container: rest[2]! } : { op, namespace, pod, uid: rest[2]!, container: rest[3]! };
  }
  if (op === 'portForward' && (rest.length === 2 || rest.length === 3)) {
    return { op, namespace: rest[0]!, pod: rest[1]!, ...(rest[2] ? { uid: rest[2] } : {}) };
  }
  return undefined;
}

/** The values of a comma-separable request header, in order. */
function headerList(req: IncomingMessage, name: string): string[] {
  const raw = req.headers[name.toLowerCase()];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** Whether the request asks to upgrade to a WebSocket. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && headerList(req, 'connection').some((c) => c.toLowerCase() === 'upgrade');
}

/** Writes a plain-text HTTP answer on a socket that was not upgraded, and closes it. */
export function refuse(socket: Duplex, code: number, body: string, headers: Record<string, string | string[]> = {}): void {
  const lines = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`, 'Content-Type: text/plain; charset=utf-8', 'X-Content-Type-Options: nosniff', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * SPDY version negotiation (apimachinery httpstream.Handshake): the first
 * protocol the client lists that the server supports, or a refusal written
 * to the socket (400 without the header, 403 with the accepted list).
 */
function spdyHandshake(req: IncomingMessage, socket: Duplex, supported: readonly string[]): string | undefined {
  const offered = headerList(req, 'x-stream-protocol-version');
  if (offered.length === 0) {
    refuse(socket, 400, 'unable to upgrade: X-Stream-Protocol-Version is required');
    return undefined;
  }
  const chosen = offered.find((p) => supported.includes(p));
  if (!chosen) {
    refuse(socket, 403, `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]\n`, { 'X-Accepted-Stream-Protocol-Versions': [...supported] });
    return undefined;
  }
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (!headerList(req, 'connection').some((c) => c.toLowerCase() === 'upgrade') || !upgrade.includes('spdy/3.1')) {
    refuse(socket, 400, 'unable to upgrade: missing upgrade headers in request\n');
    return undefined;
  }
  return chosen;
}

/** Switches the socket to SPDY (101 with the negotiated protocol) and starts a server session on it. */
function acceptSpdy(socket: Duplex, head: Buffer, protocol: string, onStream: (s: import('./spdy.js').SpdyStream) => void, log: (msg: string) => void): SpdySession {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  if (head.length) socket.unshift(head);
  return new SpdySession(socket, { server: true, onStream, onError: (e) => log(`kubelet: spdy: ${e.message}`) });
}

/** Completes a WebSocket handshake with the chosen subprotocol. */
function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: () => protocol || false });
  return new Promise((resolve) => wss.handleUpgrade(req, socket, head, (ws) => resolve(ws)));
}

/**
 * Serves one upgrade request to a streaming path (anything else is refused
 * with 404). Resolves when the request has been accepted or refused; the
 * streams then run on their own.
 */
export async function serveStreamingUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, host: StreamingHost, log: (msg: string) => void): Promise<void> {
  socket.on('error', () => undefined);
  const url = new URL(req.url ?? '/', 'https://localhost');
  const path = parseStreamingPath(url.pathname);
  if (!path) return refuse(socket, 404, '404 page not found\n');
  try {
    if (path.op === 'portForward') return await servePortForward(req, socket, head, url, path, host, log);
    return await serveExecOrAttach(req, socket, head, url, path, host, log);
  } catch (e) {
    if (e instanceof StreamRequestError) return refuse(socket, e.code, e.message);
    if (e instanceof CommandRequestError || e instanceof PortForwardRequestError) return refuse(socket, 400, e.message);
    log(`kubelet: serving ${url.pathname}: ${(e as Error).message}`);
    if (!socket.destroyed) refuse(socket, 500, (e as Error).message);
  }
}

async function serveExecOrAttach(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  url: URL,
  path: Extract<StreamingPath, { op: 'exec' | 'attach' }>,
  host: StreamingHost,
  log: (msg: string) => void,
): Promise<void> {
  const requested = parseCommandOptions(url.searchParams);
  const target = host.container(path.namespace, path.pod, path.uid, path.container, path.op);
  // upstream: attach uses the terminal setting the container was started with.
  const opts: CommandOptions = path.op === 'attach' ? { ...requested, tty: target.tty, stderr: requested.stderr && !target.tty } : requested;
  const argv = url.searchParams.getAll('command');
  const what = path.op === 'exec' ? ({ kind: 'exec', argv } as const) : ({ kind: 'attach' } as const);
  const open = () => (path.op === 'exec' ? target.exec({ argv, tty: opts.tty, stdin: opts.stdin }) : target.attach({ stdin: opts.stdin, tty: opts.tty }));

  if (isWebSocketRequest(req)) {
    const protocol = negotiateWsProtocol(headerList(req, 'sec-websocket-protocol'), WS_COMMAND_PROTOCOLS);
    if (protocol === undefined) {
      return refuse(socket, 400, `requested protocol(s) are not supported: [${headerList(req, 'sec-websocket-protocol').join(' ')}]; supports [${WS_COMMAND_PROTOCOLS.filter(Boolean).join(' ')}]`);
    }
    const ws = await acceptWebSocket(req, socket, head, protocol);
    const conn = new ChannelConnection(ws, protocol, [Channel.stdin, Channel.resize]);
    void serveCommand(webSocketTransport(conn, opts), what, open, log);
    return;
  }
  const protocol = spdyHandshake(req, socket, SPDY_COMMAND_PROTOCOLS);
  if (!protocol) return;
  const inbox = new StreamInbox();
  const session = acceptSpdy(socket, head, protocol, (s) => inbox.add(s), log);
  void session.closed.then(() => inbox.end());
  void spdyTransport(session, inbox, protocol, opts).then(
    (t) => serveCommand(t, what, open, log),
    (e: Error) => {
      log(`kubelet: ${path.op}: ${e.message}`);
      void session.close();
    },
  );
}

async function servePortForward(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  url: URL,
  path: Extract<StreamingPath, { op: 'portForward' }>,
  host: StreamingHost,
  log: (msg: string) => void,
): Promise<void> {
  const target = host.portForward(path.namespace, path.pod, path.uid);
  if (isWebSocketRequest(req)) {
    const offered = headerList(req, 'sec-websocket-protocol');
    if (offered.includes(WsProtocol.spdyTunnel)) {
      // kubectl's port-forward: SPDY frames in binary WebSocket messages.
      const ws = await acceptWebSocket(req, socket, head, WsProtocol.spdyTunnel);
      const tunnel = createWebSocketStream(ws);
      tunnel.on('error', () => undefined);
      const forwarder = new SpdyPortForwarder(target.dial, target, log);
      const session = new SpdySession(tunnel, { server: true, onStream: (s) => forwarder.onStream(s), onError: (e) => log(`kubelet: port-forward: ${e.message}`) });
      void session.closed.then(() => forwarder.stop());
      return;
    }
    const ports = parsePortsQuery(url.searchParams);
    const protocol = negotiateWsProtocol(offered, WS_PORT_FORWARD_PROTOCOLS);
    if (protocol === undefined) return refuse(socket, 400, `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${WS_PORT_FORWARD_PROTOCOLS.filter(Boolean).join(' ')}]`);
    const ws = await acceptWebSocket(req, socket, head, protocol);
    const conn = new ChannelConnection(
      ws,
      protocol,
      ports.map((_, i) => 2 * i),
    );
    void serveWebSocketPortForward(conn, ports, target.dial, target, log);
    return;
  }
  const protocol = spdyHandshake(req, socket, [PORT_FORWARD_PROTOCOL]);
  if (!protocol) return;
  const forwarder = new SpdyPortForwarder(target.dial, target, log);
  const session = acceptSpdy(socket, head, protocol, (s) => forwarder.onStream(s), log);
  void session.closed.then(() => forwarder.stop());
}
