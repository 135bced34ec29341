/**
 * SPDY/3.1 as Kubernetes streams use it (apimachinery util/httpstream/spdy on
 * top of moby/spdystream): a framed, multiplexed byte-stream protocol. Each
 * stream opens with SYN_STREAM carrying headers (`streamtype`, `port`,
 * `requestid`), is accepted with SYN_REPLY, carries DATA frames and ends with
 * a FIN flag or RST_STREAM. Header blocks are zlib-compressed with one
 * context per direction for the whole connection, primed with the SPDY/3
 * dictionary. Like spdystream, no flow control is applied (WINDOW_UPDATE and
 * SETTINGS are read and ignored).
 */
import { Duplex } from 'node:stream';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

/** Version number in every control frame. */
export const SPDY_VERSION = 3;

/** Control frame types (SPDY/3 section 2.6). */
export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** RST_STREAM status codes used here. */
export const RstStatus = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6 } as const;

/** Longest payload a frame's 24-bit length can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

const FLAG_FIN = 0x01;
const FLAG_UNIDIRECTIONAL = 0x02;

/** One decoded frame. Header blocks stay compressed here; the session inflates them in order. */
export type SpdyFrame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'synStream'; streamId: number; associatedId: number; priority: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { type: 'synReply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rstStream'; streamId: number; status: number }
  | { type: 'ping'; id: number }
  | { type: 'goAway'; lastGoodStreamId: number; status: number }
  | { type: 'settings' | 'windowUpdate' | 'unknown'; frameType: number; payload: Buffer };

/** A protocol violation that ends the connection. */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

/**
 * The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00,
 * section 2.6.10.1): length-prefixed common header names and values, then a
 * run of common status lines, dates and content types.
 */
export const HEADER_DICTIONARY: Buffer = (() => {
  const words = [
    'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
    'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
    'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
    'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
    'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
    'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
    'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
  ];
  const tail =
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  const parts: Buffer[] = [];
  for (const w of words) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
})();

/** Stream headers: lower-case names, each with its values (SPDY joins several with NUL). */
export type SpdyHeaders = Record<string, string[]>;

/** The first value of a header, or '' (Go's http.Header.Get). */
export function headerValue(h: SpdyHeaders, name: string): string {
  return h[name.toLowerCase()]?.[0] ?? '';
}

/** Serializes a header block before compression: count, then length-prefixed name and NUL-joined value per header. */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, values] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an inflated header block; throws SpdyProtocolError when it is malformed. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const need = (off: number, n: number) => {
    if (off + n > block.length) throw new SpdyProtocolError('truncated header block');
  };
  need(0, 4);
  const count = block.readUInt32BE(0);
  let off = 4;
  const out: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    need(off, 4);
    const nl = block.readUInt32BE(off);
    off += 4;
    need(off, nl);
    const name = block.toString('utf8', off, off + nl).toLowerCase();
    off += nl;
    need(off, 4);
    const vl = block.readUInt32BE(off);
    off += 4;
    need(off, vl);
    const values = block.toString('utf8', off, off + vl).split('\0');
    off += vl;
    (out[name] ??= []).push(...values);
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError('control frame too large');
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** Encodes one frame; header blocks must already be compressed. */
export function encodeFrame(f: SpdyFrame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError('data frame too large');
      const h = Buffer.alloc(8);
      h.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      h.writeUInt32BE(((f.fin ? FLAG_FIN : 0) << 24) | f.data.length, 4);
      return Buffer.concat([h, f.data]);
    }
    case 'synStream': {
      const p = Buffer.alloc(10);
      p.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      p.writeUInt32BE(f.associatedId & 0x7fffffff, 4);
      p.writeUInt8((f.priority & 0x7) << 5, 8);
      return controlFrame(FrameType.synStream, (f.fin ? FLAG_FIN : 0) | (f.unidirectional ? FLAG_UNIDIRECTIONAL : 0), Buffer.concat([p, f.headerBlock]));
    }
    case 'synReply':
    case 'headers':
      return controlFrame(f.type === 'synReply' ? FrameType.synReply : FrameType.headers, f.fin ? FLAG_FIN : 0, Buffer.concat([u32(f.streamId & 0x7fffffff), f.headerBlock]));
    case 'rstStream':
      return controlFrame(FrameType.rstStream, 0, Buffer.concat([u32(f.streamId & 0x7fffffff), u32(f.status)]));
    case 'ping':
      return controlFrame(FrameType.ping, 0, u32(f.id));
    case 'goAway':
      return controlFrame(FrameType.goAway, 0, Buffer.concat([u32(f.lastGoodStreamId & 0x7fffffff), u32(f.status)]));
    default:
      return controlFrame(f.type === 'settings' ? FrameType.settings : f.type === 'windowUpdate' ? FrameType.windowUpdate : f.frameType, 0, f.payload);
  }
}

/** Splits a byte stream into frames; keeps partial frames until the rest arrives. */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes and returns every frame now complete. */
  push(chunk: Buffer): SpdyFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: SpdyFrame[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      out.push(parseFrame(frame));
    }
    return out;
  }
}

function parseFrame(b: Buffer): SpdyFrame {
  const flags = b.readUInt8(4);
  const payload = b.subarray(8);
  if ((b.readUInt8(0) & 0x80) === 0) {
    return { type: 'data', streamId: b.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data: payload };
  }
  const version = b.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  const type = b.readUInt16BE(2);
  const need = (n: number) => {
    if (payload.length < n) throw new SpdyProtocolError(`control frame ${type} too short`);
  };
  switch (type) {
    case FrameType.synStream:
      need(10);
      return {
        type: 'synStream',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        associatedId: payload.readUInt32BE(4) & 0x7fffffff,
        priority: payload.readUInt8(8) >> 5,
        fin: (flags & FLAG_FIN) !== 0,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case FrameType.synReply:
    case FrameType.headers:
      need(4);
      return { type: type === FrameType.synReply ? 'synReply' : 'headers', streamId: payload.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, headerBlock: payload.subarray(4) };
    case FrameType.rstStream:
      need(8);
      return { type: 'rstStream', streamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
    case FrameType.ping:
      need(4);
      return { type: 'ping', id: payload.readUInt32BE(0) };
    case FrameType.goAway:
      need(4);
      return { type: 'goAway', lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.length >= 8 ? payload.readUInt32BE(4) : 0 };
    case FrameType.settings:
      return { type: 'settings', frameType: type, payload };
    case FrameType.windowUpdate:
      return { type: 'windowUpdate', frameType: type, payload };
    default:
      return { type: 'unknown', frameType: type, payload };
  }
}

/**
 * One direction's zlib context for header blocks: every block goes through
 * the same stream and ends with a sync flush, so the peer can inflate each
 * block as it arrives while the dictionary and history carry over.
 */
export class HeaderCodec {
  private readonly z: Deflate | Inflate;
  private queue: Promise<unknown> = Promise.resolve();
  private failed?: Error;

  constructor(mode: 'compress' | 'decompress') {
    this.z = mode === 'compress' ? createDeflate({ dictionary: HEADER_DICTIONARY }) : createInflate({ dictionary: HEADER_DICTIONARY });
    this.z.on('error', (e) => (this.failed = e));
  }

  /** Runs one block through the context; blocks are processed in call order. */
  process(input: Buffer): Promise<Buffer> {
    const run = () =>
      new Promise<Buffer>((resolve, reject) => {
        if (this.failed) return reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        const onError = (e: Error) => finish(e);
        const finish = (e?: Error) => {
          this.z.off('data', onData);
          this.z.off('error', onError);
          if (e) reject(new SpdyProtocolError(`header compression: ${e.message}`));
          else resolve(Buffer.concat(chunks));
        };
        this.z.on('data', onData);
        this.z.once('error', onError);
        this.z.write(input);
        this.z.flush(zc.Z_SYNC_FLUSH, () => {
          // Output still buffered in the readable side is handed out (as 'data') by read().
          while (this.z.readableLength > 0 && this.z.read() !== null);
          finish();
        });
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Frees the zlib context. */
  close(): void {
    this.z.destroy();
  }
}

/** Options of a SPDY session. */
export interface SpdySessionOptions {
  /** Server sessions accept odd stream ids and open even ones; clients the reverse. */
  server: boolean;
  /** A peer-initiated stream: accept it with stream.reply() or refuse it with stream.reset(). */
  onStream?(stream: SpdyStream): void;
  /** Protocol errors and the like (the session closes itself). */
  onError?(err: Error): void;
}

/**
 * One stream of a session: a Duplex whose readable side is the peer's DATA
 * and whose writable side becomes our DATA frames; ending it sends FIN.
 */
export class SpdyStream extends Duplex {
  /** Set once the peer's SYN_REPLY arrived (streams we opened) or we replied (streams the peer opened). */
  replied = false;
  private remoteClosed = false;
  private resetDone = false;
  /** Resolves when the peer answered a stream we opened; rejects when it reset it. */
  readonly ready: Promise<void>;
  private settleReady!: (err?: Error) => void;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true });
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => undefined);
  }

  /** Accepts a peer-initiated stream (SYN_REPLY with no headers, as apimachinery's server does). */
  reply(): Promise<void> {
    this.replied = true;
    return this.session.sendReply(this.id);
  }

  /** Aborts the stream (RST_STREAM CANCEL) and ends both sides locally. */
  reset(status: number = RstStatus.cancel): void {
    if (this.resetDone) return;
    this.resetDone = true;
    void this.session.sendReset(this.id, status);
    this.onRemoteReset();
  }

  override _read(): void {
    /* data is pushed as frames arrive */
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.resetDone) return cb(new Error('write on reset stream'));
    this.session.sendData(this.id, chunk, false).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.resetDone) return cb();
    this.session.sendData(this.id, Buffer.alloc(0), true).then(() => cb(), cb);
  }

  /** The peer's DATA for this stream. */
  onRemoteData(data: Buffer, fin: boolean): void {
    if (this.remoteClosed) return;
    if (data.length) this.push(data);
    if (fin) this.onRemoteFin();
  }

  /** The peer half-closed the stream. */
  onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
  }

  /** The peer answered a stream we opened. */
  onReply(fin: boolean): void {
    this.replied = true;
    this.settleReady();
    if (fin) this.onRemoteFin();
  }

  /** The peer reset the stream, or the session ended. */
  onRemoteReset(): void {
    this.resetDone = true;
    this.settleReady(new Error('stream reset'));
    this.onRemoteFin();
    if (!this.destroyed) this.destroy();
    this.session.forget(this.id);
  }
}

/**
 * A SPDY/3.1 session over any byte stream (a socket after an HTTP upgrade,
 * or a WebSocket carrying SPDY, as kubectl's port-forward tunnels it).
 */
export class SpdySession {
  private readonly parser = new FrameParser();
  private readonly inflate = new HeaderCodec('decompress');
  private readonly deflate = new HeaderCodec('compress');
  private readonly streams = new Map<number, SpdyStream>();
  private inbound: Promise<void> = Promise.resolve();
  private outbound: Promise<void> = Promise.resolve();
  private nextId: number;
  private lastPeerId = 0;
  private goneAway = false;
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly sock: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    this.nextId = opts.server ? 2 : 1;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    sock.on('data', (chunk: Buffer) => {
      let frames: SpdyFrame[];
      try {
        frames = this.parser.push(chunk);
      } catch (e) {
        return this.fail(e as Error);
      }
      for (const f of frames) this.inbound = this.inbound.then(() => this.handle(f)).catch((e: Error) => this.fail(e));
    });
    sock.on('end', () => (this.inbound = this.inbound.then(() => this.terminate())));
    sock.on('close', () => (this.inbound = this.inbound.then(() => this.terminate())));
    sock.on('error', (e: Error) => this.fail(e));
  }

  /** Resolves once the underlying connection is gone. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /** Whether the session has ended. */
  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Opens a stream to the peer (SYN_STREAM); await `stream.ready` for its SYN_REPLY. */
  async openStream(headers: SpdyHeaders, fin = false): Promise<SpdyStream> {
    if (this.closedFlag || this.goneAway) throw new Error('session closed');
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, headers);
    this.streams.set(id, s);
    await this.queue(async () => {
      const headerBlock = await this.deflate.process(encodeHeaderBlock(headers));
      return encodeFrame({ type: 'synStream', streamId: id, associatedId: 0, priority: 0, fin, unidirectional: false, headerBlock });
    });
    if (fin) s.end();
    return s;
  }

  /** Sends PING (client sessions use odd ids, servers even). */
  ping(id: number): Promise<void> {
    return this.queue(async () => encodeFrame({ type: 'ping', id }));
  }

  /** Says goodbye (GOAWAY) and ends the connection once written. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    if (!this.goneAway) {
      this.goneAway = true;
      await this.queue(async () => encodeFrame({ type: 'goAway', lastGoodStreamId: this.lastPeerId, status: 0 })).catch(() => undefined);
    }
    this.sock.end();
    this.terminate();
  }

  /** @internal SYN_REPLY for a peer stream. */
  sendReply(id: number): Promise<void> {
    return this.queue(async () => encodeFrame({ type: 'synReply', streamId: id, fin: false, headerBlock: await this.deflate.process(encodeHeaderBlock({})) }));
  }

  /** @internal DATA, split at the frame size limit. */
  sendData(id: number, data: Buffer, fin: boolean): Promise<void> {
    return this.queue(async () => {
      if (data.length <= MAX_FRAME_PAYLOAD) return encodeFrame({ type: 'data', streamId: id, fin, data });
      const parts: Buffer[] = [];
      for (let off = 0; off < data.length; off += MAX_FRAME_PAYLOAD) {
        const piece = data.subarray(off, off + MAX_FRAME_PAYLOAD);
        parts.push(encodeFrame({ type: 'data', streamId: id, fin: fin && off + MAX_FRAME_PAYLOAD >= data.length, data: piece }));
      }
      return Buffer.concat(parts);
    });
  }

  /** @internal RST_STREAM. */
  sendReset(id: number, status: number): Promise<void> {
    return this.queue(async () => encodeFrame({ type: 'rstStream', streamId: id, status })).catch(() => undefined);
  }

  /** @internal Drops a finished stream from the table. */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /**
   * Writes frames in the order they were queued (header compression is
   * asynchronous, and the peer inflates blocks in wire order); resolves
   * once the socket took the bytes (backpressure for stream writers).
   */
  private queue(build: () => Promise<Buffer>): Promise<void> {
    const p = this.outbound.then(async () => {
      if (this.closedFlag) throw new Error('session closed');
      const bytes = await build();
      if (this.sock.write(bytes)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.sock.off('drain', done);
          this.sock.off('close', done);
          resolve();
        };
        this.sock.on('drain', done);
        this.sock.on('close', done);
      });
    });
    this.outbound = p.catch(() => undefined);
    return p;
  }

  private async handle(f: SpdyFrame): Promise<void> {
    if (this.closedFlag) return;
    switch (f.type) {
      case 'synStream': {
        const headers = decodeHeaderBlock(await this.inflate.process(f.headerBlock));
        const own = this.opts.server ? f.streamId % 2 === 0 : f.streamId % 2 === 1;
        // spdystream refuses ids that go backwards or that are ours (ProtocolError).
        if (own || f.streamId <= this.lastPeerId || this.goneAway) {
          await this.sendReset(f.streamId, this.goneAway ? RstStatus.refusedStream : RstStatus.protocolError);
          return;
        }
        this.lastPeerId = f.streamId;
        const s = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, s);
        if (f.fin) s.onRemoteFin();
        if (this.opts.onStream) this.opts.onStream(s);
        else s.reset(RstStatus.refusedStream);
        return;
      }
      case 'synReply': {
        await this.inflate.process(f.headerBlock);
        this.streams.get(f.streamId)?.onReply(f.fin);
        return;
      }
      case 'headers': {
        // Inflated only to keep the shared compression context in step.
        await this.inflate.process(f.headerBlock);
        if (f.fin) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        // spdystream drops data for streams it does not know or has not answered.
        if (s && s.replied) s.onRemoteData(f.data, f.fin);
        return;
      }
      case 'rstStream':
        this.streams.get(f.streamId)?.onRemoteReset();
        return;
      case 'ping': {
        // A ping with the peer's parity is echoed; one with ours answers our own.
        const peerParity = this.opts.server ? 1 : 0;
        if (f.id % 2 === peerParity) await this.queue(async () => encodeFrame(f));
        return;
      }
      case 'goAway':
        this.goneAway = true;
        this.sock.end();
        this.terminate();
        return;
      default:
        return;
    }
  }

  private fail(e: Error): void {
    if (this.closedFlag) return;
    this.opts.onError?.(e);
    this.sock.destroy();
    this.terminate();
  }

  private terminate(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const s of [...this.streams.values()]) s.onRemoteReset();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.resolveClosed();
  }
}
