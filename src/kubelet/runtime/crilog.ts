/**
 * Container logs in the CRI format that containerd writes and kubelet's log
 * reader (`kubectl logs`) parses. Used by the process runtime's launcher,
 * which pipes each container's stdout and stderr into one file.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';

/** Longest line containerd writes as one log entry; longer lines become partial (`P`) entries. */
export const MAX_LOG_LINE = 16 * 1024;

/** Nanoseconds since the epoch: wall clock anchored once, advanced by the monotonic clock (Date has only milliseconds). */
function nowNanos(anchor: { wall: bigint; mono: bigint }): bigint {
  return anchor.wall + (process.hrtime.bigint() - anchor.mono);
}

/** Formats a timestamp as containerd's CRI logger does: RFC 3339, UTC, always nine fractional digits. */
export function criTimestamp(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

/**
 * Writes a container's stdout and stderr to one file in the CRI log format
 * (`<RFC3339Nano> <stream> <F|P> <content>`), which kubelet's log reader
 * (`kubectl logs`) parses: one entry per line, `P` for the leading pieces of
 * a line longer than MAX_LOG_LINE, `F` for the piece that ends it.
 */
export class CriLogWriter {
  private readonly out: WriteStream;
  private readonly pending: Promise<void>[] = [];
  private readonly anchor = { wall: BigInt(Date.now()) * 1_000_000n, mono: process.hrtime.bigint() };

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.out = createWriteStream(path, { flags: 'a' });
  }

  /** Copies one stream into the log until it ends. */
  pipe(name: 'stdout' | 'stderr', from: Readable): void {
    this.pending.push(
      new Promise<void>((resolve) => {
        let buf: Buffer = Buffer.alloc(0);
        let done = false;
        const entry = (tag: 'F' | 'P', content: Buffer) => {
          this.out.write(Buffer.concat([Buffer.from(`${criTimestamp(nowNanos(this.anchor))} ${name} ${tag} `), content, Buffer.from('\n')]));
        };
        from.on('data', (chunk: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
          let nl: number;
          while ((nl = buf.indexOf(0x0a)) >= 0) {
            // A line ends at LF or CRLF (containerd reads lines with Go's bufio ReadLine): a terminal's CRLF is logged as one end of line.
            let line = buf.subarray(0, nl > 0 && buf[nl - 1] === 0x0d ? nl - 1 : nl);
            buf = buf.subarray(nl + 1);
            while (line.length > MAX_LOG_LINE) {
              entry('P', line.subarray(0, MAX_LOG_LINE));
              line = line.subarray(MAX_LOG_LINE);
            }
            entry('F', line);
          }
          while (buf.length > MAX_LOG_LINE) {
            entry('P', buf.subarray(0, MAX_LOG_LINE));
            buf = buf.subarray(MAX_LOG_LINE);
          }
        });
        const end = () => {
          if (done) return;
          done = true;
          // A last line without a newline is still a full entry (containerd does the same at EOF).
          if (buf.length) entry('F', buf);
          buf = Buffer.alloc(0);
          resolve();
        };
        from.once('end', end);
        from.once('error', end);
        from.once('close', end);
      }),
    );
  }

  /** Resolves once every piped stream has ended and the file is flushed and closed. */
  async close(): Promise<void> {
    await Promise.all(this.pending);
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
