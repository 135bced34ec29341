/**
 * The channel WebSocket protocols of Kubernetes streams (apimachinery
 * util/httpstream/wsstream): every message starts with a channel number
 * (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize for exec/attach; data and
 * error per port for port-forward) followed by the bytes. The `base64.`
 * variants send text messages with the channel as an ASCII digit and the
 * bytes base64-encoded. `v5.channel.k8s.io` adds channel 255: a message
 * `[255, n]` from the client half-closes channel n (stdin end of input).
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/** Subprotocol names (Sec-WebSocket-Protocol). */
export const WsProtocol = {
  v5: 'v5.channel.k8s.io',
  v4: 'v4.channel.k8s.io',
  v4Base64: 'v4.base64.channel.k8s.io',
  v1: 'channel.k8s.io',
  v1Base64: 'base64.channel.k8s.io',
  /** kubectl's port-forward: SPDY frames carried in binary messages. */
  spdyTunnel: 'SPDY/3.1+portforward.k8s.io',
} as const;

/** Channel numbers of exec/attach. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Whether a subprotocol sends base64 text messages. */
export function isBase64Protocol(protocol: string): boolean {
  return protocol === WsProtocol.v1Base64 || protocol === WsProtocol.v4Base64;
}

/**
 * Picks the subprotocol: the first the client offers that the server
 * supports (wsstream's handshake). An empty offer means the unnamed binary
 * protocol (''), accepted where '' is supported. Undefined when none fits.
 */
export function negotiateWsProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  if (offered.length === 0) return supported.includes('') ? '' : undefined;
  return offered.find((p) => p !== '' && supported.includes(p));
}

/** Encodes one message: channel byte and data, or (base64 protocols) digit and base64 text. */
export function encodeChannelMessage(channel: number, data: Buffer, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(48 + channel) + data.toString('base64');
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = channel;
  data.copy(out, 1);
  return out;
}

/** A decoded client message: data for a channel, or (v5) the half-close of one. */
export type ChannelMessage = { channel: number; data: Buffer } | { closeChannel: number } | undefined;

/** Decodes one client message; undefined for an empty one (ignored, as upstream). Throws on a malformed close signal. */
export function decodeChannelMessage(msg: Buffer, base64: boolean, closeSignal: boolean): ChannelMessage {
  if (msg.length === 0) return undefined;
  if (closeSignal && msg[0] === Channel.close) {
    if (msg.length !== 2) throw new Error(`single channel byte should follow stream close signal; got ${msg.length - 1} bytes`);
    return { closeChannel: msg[1]! };
  }
  if (base64) return { channel: msg[0]! - 48, data: Buffer.from(msg.subarray(1).toString('latin1'), 'base64') };
  return { channel: msg[0]!, data: msg.subarray(1) };
}

/**
 * A WebSocket speaking a channel protocol: `input(n)` is what the client
 * sends on channel n (ends on its v5 close signal or when the socket closes),
 * `output(n)` writes to channel n with backpressure from the socket.
 */
export class ChannelConnection {
  private readonly inputs = new Map<number, PassThrough>();
  private readonly base64: boolean;
  private readonly closeSignal: boolean;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: string,
    /** Channels the client may write to (others are dropped, as wsstream's IgnoreChannel). */
    readable: readonly number[],
  ) {
    this.base64 = isBase64Protocol(protocol);
    this.closeSignal = protocol === WsProtocol.v5;
    for (const n of readable) this.inputs.set(n, new PassThrough());
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
      const msg = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      let m: ChannelMessage;
      try {
        m = decodeChannelMessage(msg, this.base64, this.closeSignal);
      } catch {
        // upstream ends the connection on a malformed close signal.
        ws.terminate();
        return;
      }
      if (!m) return;
      if ('closeChannel' in m) this.inputs.get(m.closeChannel)?.end();
      else {
        const input = this.inputs.get(m.channel);
        if (input && !input.writableEnded) input.write(m.data);
      }
    });
    ws.once('close', () => {
      for (const i of this.inputs.values()) if (!i.writableEnded) i.end();
    });
    ws.on('error', () => undefined);
  }

  /** What the client sends on a channel. */
  input(channel: number): Readable {
    const i = this.inputs.get(channel);
    if (!i) throw new Error(`channel ${channel} is not readable`);
    return i;
  }

  /** A writable for one channel; each write becomes one message. */
  output(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => this.send(channel, chunk).then(() => cb(), cb),
    });
  }

  /** Sends one message on a channel; resolves once handed to the socket. */
  send(channel: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== this.ws.OPEN) return reject(new Error('websocket closed'));
      const msg = encodeChannelMessage(channel, data, this.base64);
      this.ws.send(msg, { binary: !this.base64 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Closes with a normal closure (1000), after which clients read EOF on every channel. */
  close(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
  }
}
