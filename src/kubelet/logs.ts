/**
 * Reading container logs (upstream pkg/kubelet/kuberuntime/logs): the
 * runtime writes CRI-format files (`<RFC3339Nano> <stream> <F|P> <content>`);
 * kubectl logs gets the decoded text, with tailLines, since, timestamps,
 * limitBytes and follow applied as kubelet applies them.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

/** One decoded CRI log entry. */
export interface CriLogEntry {
  /** The timestamp as written (RFC 3339 with nanoseconds). */
  timestamp: string;
  stream: 'stdout' | 'stderr';
  /** `P`: a piece of a longer line that continues in the next entry. */
  partial: boolean;
  content: Buffer;
}

/** Parses one line of a CRI log file (without its newline); undefined when malformed. */
export function parseCriLine(line: Buffer): CriLogEntry | undefined {
  const a = line.indexOf(0x20);
  const b = a < 0 ? -1 : line.indexOf(0x20, a + 1);
  if (b < 0) return undefined;
  const stream = line.subarray(a + 1, b).toString();
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // The tag field may carry more flags after the first, separated by ':' (the CRI spec leaves room); the first is P or F.
  const c = line.indexOf(0x20, b + 1);
  const tag = line.subarray(b + 1, c < 0 ? line.length : c).toString();
  return {
    timestamp: line.subarray(0, a).toString(),
    stream,
    partial: tag.split(':')[0] === 'P',
    content: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1),
  };
}

/** Go's time.RFC3339Nano form of a CRI timestamp: fractional trailing zeros trimmed (what kubelet prints with timestamps=true). */
export function rfc3339Nano(ts: string): string {
  return ts.replace(/\.(\d*?)0+Z$/, (_m, digits: string) => (digits ? `.${digits}Z` : 'Z'));
}

/** Milliseconds since the epoch of a CRI timestamp (sub-millisecond digits dropped). */
function timestampMs(ts: string): number {
  return Date.parse(ts.replace(/(\.\d{3})\d*Z$/, '$1Z'));
}

/** Options of a log read (upstream PodLogOptions as kubelet applies them). */
export interface LogReadOptions {
  follow?: boolean;
  /** Only the last N lines of the file (then new ones when following). */
  tailLines?: number;
  /** Only entries at or after this time. */
  since?: Date;
  timestamps?: boolean;
  /** Stop after this many bytes of output. */
  limitBytes?: number;
}

/** Where decoded output goes and when following stops. */
export interface LogSink {
  /** Writes a chunk; resolves when it may write more (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** While following: true as long as the container may still write to this file. */
  stillRunning(): boolean;
  /** Aborts the read (the client went away). */
  signal?: AbortSignal;
}

const CHUNK = 64 * 1024;

/** The offset where the last `n` lines of a file start (upstream findTailLineStartIndex). */
async function tailStart(fh: FileHandle, size: number, n: number): Promise<number> {
  if (n <= 0) return size;
  let pos = size;
  let newlines = 0;
  // A final newline ends the last line rather than starting an empty one.
  let skipFinal = true;
  const buf = Buffer.alloc(CHUNK);
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    await fh.read(buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      if (skipFinal && pos + i === size - 1) continue;
      newlines++;
      if (newlines === n) return pos + i + 1;
    }
    skipFinal = false;
  }
  return 0;
}

/**
 * Streams a container's log file to `sink`, decoded: each entry's content,
 * a newline after the piece that completes a line, and with `timestamps`
 * the entry's time before each line. With `follow`, waits for more until the
 * container has exited and the file is drained, or the sink aborts.
 */
export async function readLogs(path: string, opts: LogReadOptions, sink: LogSink): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    let offset = opts.tailLines !== undefined ? await tailStart(fh, size, opts.tailLines) : 0;
    const sinceMs = opts.since?.getTime();
    let remaining = opts.limitBytes ?? Infinity;
    let pending = Buffer.alloc(0);
    let midLine = false;
    const buf = Buffer.alloc(CHUNK);

    const emit = async (entry: CriLogEntry): Promise<boolean> => {
      if (sinceMs !== undefined && timestampMs(entry.timestamp) < sinceMs) return true;
      const parts: Buffer[] = [];
      if (opts.timestamps && !midLine) parts.push(Buffer.from(`${rfc3339Nano(entry.timestamp)} `));
      parts.push(entry.content);
      if (!entry.partial) parts.push(Buffer.from('\n'));
      midLine = entry.partial;
      let out = Buffer.concat(parts);
      if (out.length > remaining) out = out.subarray(0, remaining);
      remaining -= out.length;
      if (out.length) await sink.write(out);
      return remaining > 0;
    };

    for (;;) {
      if (sink.signal?.aborted) return;
      const { bytesRead } = await fh.read(buf, 0, CHUNK, offset);
      if (bytesRead > 0) {
        offset += bytesRead;
        pending = pending.length ? Buffer.concat([pending, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
        let nl: number;
        while ((nl = pending.indexOf(0x0a)) >= 0) {
          const entry = parseCriLine(pending.subarray(0, nl));
          pending = pending.subarray(nl + 1);
          if (entry && !(await emit(entry))) return;
        }
        continue;
      }
      if (!opts.follow) return;
      // Check liveness before the last look at the file, so nothing written just before exit is missed.
      const running = sink.stillRunning();
      if ((await stat(path)).size > offset) continue;
      if (!running) return;
      try {
        await delay(100, undefined, { signal: sink.signal });
      } catch {
        return;
      }
    }
  } finally {
    await fh.close();
  }
}
