/**
 * The server side of port-forward (upstream kubelet cri/streaming/portforward).
 * Over SPDY (what kubectl uses, directly or tunnelled in a WebSocket), every
 * forwarded connection is a pair of streams with the same `requestid`: an
 * error stream and a data stream, both naming the `port`. Over the older
 * WebSocket channel protocol, the ports come from the query and each gets a
 * data and an error channel whose first message is the port number.
 */
import type { Duplex } from 'node:stream';
import { headerValue, RstStatus, type SpdyStream } from './spdy.js';
import { ChannelConnection, WsProtocol } from './wsstream.js';

/** The SPDY port-forward protocol (X-Stream-Protocol-Version). */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** WebSocket protocols of the channel port-forward ('' is the unnamed binary one). */
export const WS_PORT_FORWARD_PROTOCOLS = [WsProtocol.v4, WsProtocol.v4Base64, ''];

/** How long the second stream of a pair may take (upstream streamCreationTimeout). */
const PAIR_TIMEOUT_MS = 30_000;

/** Opens a connection to a port inside the pod; rejects with the runtime's error. */
export type PortDialer = (port: number) => Promise<Duplex>;

/** Who is being forwarded to, for error messages (`error forwarding port P to pod X, uid U: …`). */
export interface ForwardTarget {
  pod: string;
  uid: string;
}

/** A bad port-forward request (the kubelet answers 400 with the message). */
export class PortForwardRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortForwardRequestError';
  }
}

/** Parses one port as upstream does (strconv.ParseUint(s, 10, 16), then > 0); returns the error text on failure. */
export function parsePort(s: string): number | string {
  if (!/^\d+$/.test(s)) return `unable to parse ${JSON.stringify(s)} as a port: strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`;
  const n = Number(s);
  if (n > 65535) return `unable to parse ${JSON.stringify(s)} as a port: strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`;
  if (n < 1) return `port ${JSON.stringify(s)} must be > 0`;
  return n;
}

/** The `ports` query of a WebSocket port-forward (upstream NewV4Options). */
export function parsePortsQuery(q: URLSearchParams): number[] {
  const values = q.getAll('port');
  if (values.length === 0) throw new PortForwardRequestError('query parameter "port" is required');
  const ports: number[] = [];
  for (const v of values) {
    if (v === '') throw new PortForwardRequestError('query parameter "port" cannot be empty');
    for (const p of v.split(',')) {
      const r = parsePort(p);
      if (typeof r === 'string') throw new PortForwardRequestError(r.startsWith('port ') ? r : r.replace(JSON.stringify(p), JSON.stringify(v)));
      ports.push(r);
    }
  }
  return ports;
}

/** The message a failed forward leaves on the error stream. */
export function forwardError(port: number, target: ForwardTarget, err: Error): string {
  return `error forwarding port ${port} to pod ${target.pod}, uid ${target.uid}: ${err.message}`;
}

/**
 * Copies between a client stream and the pod connection until the pod side
 * ends (upstream returns when the copy from the pod finishes); the client's
 * half-close half-closes the pod connection. Rejects on a connection error.
 */
export function forward(client: Duplex, pod: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      client.unpipe(pod);
      pod.unpipe(client);
      if (err) reject(err);
      else resolve();
    };
    client.pipe(pod);
    pod.pipe(client, { end: false });
    pod.once('end', () => finish());
    pod.once('close', () => finish());
    pod.once('error', (e) => finish(e));
    // The client went away (reset or connection lost): the pod connection is dropped.
    client.once('close', () => {
      pod.destroy();
      finish();
    });
    client.on('error', () => pod.destroy());
  });
}

/** Errors that mean the pod side hung up, not that forwarding failed (upstream keeps the connection for these). */
function isHangUp(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/**
 * Serves SPDY port-forward streams: validates each (port and stream type
 * headers, else the stream is refused), pairs them by request id and
 * forwards each complete pair.
 */
export class SpdyPortForwarder {
  private readonly pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream; timer: NodeJS.Timeout }>();

  constructor(
    private readonly dial: PortDialer,
    private readonly target: ForwardTarget,
    private readonly log: (msg: string) => void,
  ) {}

  /** Handles one stream the client opened. */
  onStream(s: SpdyStream): void {
    const portText = headerValue(s.headers, 'port');
    const type = headerValue(s.headers, 'streamType');
    let problem: string | undefined;
    if (!portText) problem = '"port" header is required';
    else if (typeof parsePort(portText) === 'string') problem = parsePort(portText) as string;
    else if (!type) problem = '"streamType" header is required';
    else if (type !== 'error' && type !== 'data') problem = `invalid stream type ${JSON.stringify(type)}`;
    if (problem) {
      this.log(`kubelet: port-forward stream rejected: ${problem}`);
      s.reset(RstStatus.refusedStream);
      return;
    }
    void s.reply();
    // Old clients send no request id: streams of one connection have consecutive odd ids (error, then data).
    const requestId = headerValue(s.headers, 'requestID') || String(type === 'error' ? s.id : s.id - 2);
    let pair = this.pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        const p = this.pairs.get(requestId);
        this.pairs.delete(requestId);
        p?.error?.end(`(request=${requestId}) timed out waiting for streams`);
        p?.data?.end();
      }, PAIR_TIMEOUT_MS);
      pair = { timer };
      this.pairs.set(requestId, pair);
    }
    const slot = type as 'error' | 'data';
    if (pair[slot]) {
      pair.error?.write(`error processing stream for request ${requestId}: ${slot} stream already assigned`);
      s.reset();
      return;
    }
    pair[slot] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      this.pairs.delete(requestId);
      void this.run(Number(portText), pair.data, pair.error);
    }
  }

  /** Stops pending pairs' timers (the session ended). */
  stop(): void {
    for (const p of this.pairs.values()) clearTimeout(p.timer);
    this.pairs.clear();
  }

  private async run(port: number, data: SpdyStream, error: SpdyStream): Promise<void> {
    // The client half-closes its error stream at once; it is only written to.
    error.resume();
    try {
      const conn = await this.dial(port);
      await forward(data, conn);
    } catch (e) {
      if (!isHangUp(e as Error)) {
        const msg = forwardError(port, this.target, e as Error);
        this.log(`kubelet: ${msg}`);
        if (!error.destroyed) error.write(msg);
      }
    } finally {
      if (!data.destroyed && !data.writableEnded) data.end();
      if (!error.destroyed && !error.writableEnded) error.end();
    }
  }
}

/**
 * Serves the WebSocket channel port-forward: channel 2i carries port i's
 * data, channel 2i+1 its errors; both start with the port (uint16, little
 * endian). One connection per port; the socket closes when all are done.
 */
export async function serveWebSocketPortForward(conn: ChannelConnection, ports: readonly number[], dial: PortDialer, target: ForwardTarget, log: (msg: string) => void): Promise<void> {
  const portBytes = (p: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(p);
    return b;
  };
  await Promise.all(
    ports.map(async (port, i) => {
      const dataCh = 2 * i;
      const errCh = 2 * i + 1;
      await conn.send(dataCh, portBytes(port)).catch(() => undefined);
      await conn.send(errCh, portBytes(port)).catch(() => undefined);
      try {
        const pod = await dial(port);
        const input = conn.input(dataCh);
        const output = conn.output(dataCh);
        await new Promise<void>((resolve, reject) => {
          input.pipe(pod);
          pod.pipe(output, { end: false });
          pod.once('end', () => resolve());
          pod.once('close', () => resolve());
          pod.once('error', reject);
          void conn.closed.then(() => {
            pod.destroy();
            resolve();
          });
        });
      } catch (e) {
        const msg = forwardError(port, target, e as Error);
        log(`kubelet: ${msg}`);
        await conn.send(errCh, Buffer.from(msg)).catch(() => undefined);
      }
    }),
  );
  conn.close();
}
