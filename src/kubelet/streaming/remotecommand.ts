/**
 * The server side of exec and attach (upstream kubelet
 * cri/streaming/remotecommand): the streams a client asked for (stdin,
 * stdout, stderr, a resize stream with a TTY, and always the error stream)
 * over either transport — WebSocket channels or SPDY streams — wired to a
 * runtime session, and the final status on the error stream: a metav1
 * Status in JSON from protocol v4 on (`NonZeroExitCode` with an `ExitCode`
 * cause for a failing command), plain text before.
 */
import { Readable, type Writable } from 'node:stream';
import type { StreamSession, TerminalSize } from '../runtime/runtime.js';
import { headerValue, RstStatus, type SpdySession, type SpdyStream } from './spdy.js';
import { Channel, ChannelConnection, WsProtocol } from './wsstream.js';

/** SPDY remote command protocols, newest first (X-Stream-Protocol-Version). */
export const SPDY_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** WebSocket remote command protocols ('' is the unnamed binary protocol of old clients). */
export const WS_COMMAND_PROTOCOLS = [WsProtocol.v5, WsProtocol.v4, WsProtocol.v4Base64, WsProtocol.v1, WsProtocol.v1Base64, ''];

/** How long a SPDY client has to open the streams it asked for (upstream DefaultStreamCreationTimeout). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** After a command exits, how long output held open by its leftover children is still copied. */
const OUTPUT_DRAIN_MS = 2_000;

/** The streams a remote command request asks for (upstream remotecommand.Options). */
export interface CommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A bad exec/attach request (the kubelet answers 400 with the message). */
export class CommandRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandRequestError';
  }
}

/** Reads the stream flags the API server passes (`1` means on); stderr is dropped with a TTY, as upstream. */
export function parseCommandOptions(q: URLSearchParams): CommandOptions {
  const on = (k: string) => q.get(k) === '1';
  const tty = on('tty');
  const opts = { stdin: on('stdin'), stdout: on('stdout'), stderr: on('stderr') && !tty, tty };
  if (!opts.stdin && !opts.stdout && !opts.stderr) throw new CommandRequestError('you must specify at least 1 of stdin, stdout, stderr');
  return opts;
}

/** A metav1 Status as the error stream carries it (no kind/apiVersion, as upstream marshals it). */
export interface ChannelStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message?: string }[] };
  code?: number;
}

/** The status of a command that finished with exit code 0 (or an attach that ended). */
export function successStatus(): ChannelStatus {
  return { metadata: {}, status: 'Success' };
}

/** The status of a command that exited non-zero: kubectl turns it into `command terminated with exit code N` and that exit code. */
export function exitCodeStatus(argv: readonly string[], exitCode: number): ChannelStatus {
  return {
    metadata: {},
    status: 'Failure',
    // The CRI runtime's exit error, wrapped by the streaming server (Go prints argv as [a b c]).
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** An InternalError status (apierrors.NewInternalError). */
export function internalErrorStatus(message: string): ChannelStatus {
  return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', details: { causes: [{ message }] }, code: 500 };
}

/** What protocols before v4 write on the error stream: nothing on success, the error text otherwise. */
export function legacyStatusText(s: ChannelStatus): string | undefined {
  return s.status === 'Success' ? undefined : (s.message ?? '');
}

/** The streams of one exec/attach request, whatever carries them. */
export interface CommandTransport {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** JSON terminal sizes, one object after another. */
  resize?: Readable;
  /** The client asked for a terminal: one output stream. */
  tty: boolean;
  writeStatus(status: ChannelStatus): Promise<void>;
  /** Ends the transport once the status is written. */
  close(): void;
  /** Resolves when the client has gone. */
  closed: Promise<void>;
}

/**
 * Splits a byte stream of concatenated JSON objects (what Go's json.Decoder
 * reads from the resize stream) into parsed objects.
 */
export class JsonObjectSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;

  /** Adds text and returns the objects now complete; malformed ones are skipped. */
  push(text: string): unknown[] {
    const out: unknown[] = [];
    const base = this.buf.length;
    this.buf += text;
    for (let i = base; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{') {
        if (this.depth++ === 0) this.start = i;
      } else if (c === '}' && this.depth > 0 && --this.depth === 0) {
        try {
          out.push(JSON.parse(this.buf.slice(this.start, i + 1)));
        } catch {
          /* not an object: skipped */
        }
        this.start = -1;
      }
    }
    if (this.depth === 0) this.buf = '';
    else if (this.start > 0) {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
    }
    return out;
  }
}

/** Reads terminal sizes (`{"Width":80,"Height":24}`) from a resize stream. */
export function onResize(stream: Readable, apply: (size: TerminalSize) => void): void {
  const split = new JsonObjectSplitter();
  stream.on('data', (chunk: Buffer) => {
    for (const o of split.push(chunk.toString('utf8'))) {
      const { Width, Height } = (o ?? {}) as { Width?: unknown; Height?: unknown };
      if (typeof Width === 'number' && typeof Height === 'number' && Width >= 0 && Height >= 0) apply({ width: Width, height: Height });
    }
  });
}

/** What is running the request: exec (its argv names the command in the exit status) or attach. */
export type CommandKind = { kind: 'exec'; argv: readonly string[] } | { kind: 'attach' };

/**
 * Runs one exec/attach request over a transport: opens the runtime session,
 * copies the streams, and writes the final status (upstream ServeExec /
 * ServeAttach). A runtime error becomes an InternalError status
 * (`error executing command in container: …`).
 */
export async function serveCommand(t: CommandTransport, what: CommandKind, open: () => Promise<StreamSession>, log: (msg: string) => void): Promise<void> {
  const prefix = what.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
  const failed = async (e: unknown) => {
    const msg = `${prefix}: ${(e as Error).message}`;
    log(`kubelet: ${msg}`);
    await t.writeStatus(internalErrorStatus(msg)).catch(() => undefined);
    t.close();
  };
  let session: StreamSession;
  try {
    session = await open();
  } catch (e) {
    return failed(e);
  }
  let clientGone = false;
  void t.closed.then(() => {
    clientGone = true;
    session.close();
  });

  if (t.stdin && session.stdin) {
    const to = session.stdin;
    to.on('error', () => undefined);
    t.stdin.pipe(to);
  } else t.stdin?.resume();
  if (t.resize) {
    if (session.resize) onResize(t.resize, (s) => session.resize!(s));
    else t.resize.resume();
  }

  // A session without a terminal of its own still has a second stream; a terminal client reads one.
  const copies = [copyOut(session.stdout, t.stdout), ...(session.stderr ? [copyOut(session.stderr, t.stderr ?? (t.tty ? t.stdout : undefined))] : [])];
  // A runtime that learns only later that the command could not run (CRI streaming) rejects `exited`.
  let exit: { exitCode: number };
  try {
    exit = await session.exited;
  } catch (e) {
    return failed(e);
  }
  // Output still in flight is copied; output a leftover child keeps open is cut off after a while.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(copies), new Promise<void>((r) => (timer = setTimeout(r, OUTPUT_DRAIN_MS)))]);
  clearTimeout(timer);
  if (clientGone) return;
  const status = what.kind === 'exec' && exit.exitCode !== 0 ? exitCodeStatus(what.argv, exit.exitCode) : successStatus();
  await t.writeStatus(status).catch(() => undefined);
  t.close();
}

/** Copies a session's output to the client (or discards it when the client did not ask for it); resolves at its end. */
function copyOut(from: NodeJS.ReadableStream, to: Writable | undefined): Promise<void> {
  return new Promise((resolve) => {
    const src = from as Readable;
    const done = () => resolve();
    src.once('end', done);
    src.once('close', done);
    src.once('error', done);
    if (!to) {
      src.resume();
      return;
    }
    to.on('error', () => src.resume());
    src.pipe(to, { end: false });
  });
}

/** The transport of a WebSocket request: channels 0–4, an empty first message so the client knows the stream is up. */
export function webSocketTransport(conn: ChannelConnection, opts: CommandOptions): CommandTransport {
  const legacy = conn.protocol !== WsProtocol.v5 && conn.protocol !== WsProtocol.v4 && conn.protocol !== WsProtocol.v4Base64;
  // upstream: an empty message on the lowest writable channel tells the client the connection is established.
  void conn.send(opts.stdout ? Channel.stdout : opts.stderr ? Channel.stderr : Channel.error, Buffer.alloc(0)).catch(() => undefined);
  return {
    stdin: opts.stdin ? conn.input(Channel.stdin) : undefined,
    stdout: opts.stdout ? conn.output(Channel.stdout) : undefined,
    stderr: opts.stderr ? conn.output(Channel.stderr) : undefined,
    resize: opts.tty ? conn.input(Channel.resize) : undefined,
    tty: opts.tty,
    writeStatus: async (s) => {
      const body = legacy ? legacyStatusText(s) : JSON.stringify(s);
      if (body !== undefined) await conn.send(Channel.error, Buffer.from(body));
    },
    close: () => conn.close(),
    closed: conn.closed,
  };
}

/**
 * Collects the SPDY streams a client opens for a request (one per stream
 * type, each answered as it arrives) and resolves with the transport once
 * all expected streams are there; rejects after the creation timeout.
 */
export function spdyTransport(session: SpdySession, incoming: AsyncIterable<SpdyStream>, protocol: string, opts: CommandOptions, timeoutMs = STREAM_CREATION_TIMEOUT_MS): Promise<CommandTransport> {
  const v4 = protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io';
  const resizes = protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io';
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(opts.tty && resizes);
  const got: Partial<Record<'error' | 'stdin' | 'stdout' | 'stderr' | 'resize', SpdyStream>> = {};
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('timed out waiting for client to create streams'));
      void session.close();
    }, timeoutMs);
    void (async () => {
      let count = 0;
      for await (const s of incoming) {
        const type = headerValue(s.headers, 'streamType');
        await s.reply();
        if (type !== 'error' && type !== 'stdin' && type !== 'stdout' && type !== 'stderr' && type !== 'resize') continue;
        got[type] = s;
        if (++count < expected) continue;
        clearTimeout(timer);
        // v1 clients never send stdin data (upstream closes it at once).
        if (protocol === 'channel.k8s.io') got.stdin?.resume();
        const mine = [got.stdout, got.stderr, got.error].filter((x): x is SpdyStream => x !== undefined);
        resolve({
          stdin: protocol === 'channel.k8s.io' ? undefined : got.stdin,
          stdout: got.stdout,
          stderr: got.stderr,
          resize: got.resize,
          tty: opts.tty,
          writeStatus: async (st) => {
            const body = v4 ? JSON.stringify(st) : legacyStatusText(st);
            if (body !== undefined && got.error) await new Promise<void>((r) => got.error!.write(Buffer.from(body), () => r()));
          },
          close: () => {
            // FIN on every stream we write, then GOAWAY: the client reads each to its end.
            for (const m of mine) if (!m.writableEnded && !m.destroyed) m.end();
            void Promise.all(mine.map((m) => new Promise((r) => (m.writableFinished || m.destroyed ? r(undefined) : m.once('finish', r).once('close', r))))).then(() => session.close());
          },
          closed: session.closed,
        });
        return;
      }
      clearTimeout(timer);
      reject(new Error('connection closed before the client created its streams'));
    })().catch((e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A queue of a session's incoming streams as an async iterable (streams arrive through a callback). */
export class StreamInbox implements AsyncIterable<SpdyStream> {
  private readonly items: SpdyStream[] = [];
  private waiter?: () => void;
  private ended = false;

  /** Adds a stream the peer opened. */
  add(s: SpdyStream): void {
    if (this.ended) return s.reset(RstStatus.refusedStream);
    this.items.push(s);
    this.waiter?.();
  }

  /** No more streams will come. */
  end(): void {
    this.ended = true;
    this.waiter?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SpdyStream> {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }
}
