/**
 * Reading container logs (upstream pkg/kubelet/kuberuntime/logs): the
 * runtime writes CRI-format files (`<RFC3339Nano> <stream> <F|P> <content>`);
 * kubectl logs gets the decoded text, with tailLines, since, timestamps,
 * limitBytes and follow applied as kubelet applies them. Also the logs kept
 * after a pod is gone (RetainedLogs).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { splitKey } from '../client/informer.js';
import { LogRequestError } from './pods.js';

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

/** Configuration of RetainedLogs. */
export interface RetainedLogsConfig {
  /** Where kept logs live: `<dir>/<namespace>/<pod>/<container>/<attempt>.log`, with `retained.json` beside them. */
  dir: string;
  /** How long they are kept after the pod is gone (0: nothing is kept). */
  ttlMs: number;
  /** Pods carrying this label have their logs kept. */
  label: string;
  now?: () => Date;
  log: (msg: string) => void;
}

/** What `retained.json` records of a kept pod. */
interface RetainedRecord {
  /** When the logs are removed (RFC 3339). */
  expiresAt: string;
  /** The pod as last seen on the node (spec and final status): which containers it had, and on which node. */
  pod: any;
}

const ATTEMPT_LOG = /^(\d+)\.log$/;
/** setTimeout's longest delay; a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Logs of deleted pods that a label marks for keeping (training pods, whose
 * cleanPodPolicy removes them when the job ends): when the node forgets such
 * a pod, its containers' log files move under `dir` instead of being removed,
 * and stay readable for `ttlMs`. Kite's own addition: upstream kubelet removes
 * a pod's logs with the pod. One timer, set for the earliest expiry, removes
 * them; what was kept survives a restart of the node agent (start() reads
 * `dir` back).
 */
export class RetainedLogs {
  /** `namespace/name` → expiry (ms since the epoch). */
  private readonly expiries = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly cfg: RetainedLogsConfig) {}

  private now(): number {
    return (this.cfg.now?.() ?? new Date()).getTime();
  }

  private podDir(namespace: string, name: string): string {
    return join(this.cfg.dir, namespace, name);
  }

  /** Reads back what an earlier run kept, removes what has expired and arms the timer. */
  start(): void {
    this.stopped = false;
    let namespaces: string[] = [];
    try {
      namespaces = readdirSync(this.cfg.dir);
    } catch {
      /* nothing kept yet */
    }
    for (const ns of namespaces) {
      let names: string[] = [];
      try {
        names = readdirSync(join(this.cfg.dir, ns));
      } catch {
        continue;
      }
      for (const name of names) {
        const rec = this.record(ns, name);
        const at = rec ? Date.parse(rec.expiresAt) : Number.NaN;
        // Unreadable leftovers (a crash mid-move) go at once.
        this.expiries.set(`${ns}/${name}`, Number.isNaN(at) ? 0 : at);
      }
    }
    this.expire();
  }

  /** Stops the timer (kept logs stay on disk for the next start). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Keeps the logs of a pod the node is forgetting, if its label asks for it:
   * moves `<podDir>/<container>/<attempt>.log` of each of its containers. An
   * earlier pod of the same name kept before is replaced. Never throws (the
   * pod's removal goes on; the logs go with it).
   */
  retain(pod: any, podDir: string): void {
    if (this.cfg.ttlMs <= 0 || this.stopped) return;
    if (pod?.metadata?.labels?.[this.cfg.label] === undefined) return;
    const namespace: string = pod.metadata.namespace ?? '';
    const name: string = pod.metadata.name ?? '';
    if (!namespace || !name) return;
    const target = this.podDir(namespace, name);
    try {
      rmSync(target, { recursive: true, force: true });
      let kept = 0;
      for (const c of podContainers(pod)) {
        let files: string[];
        try {
          files = readdirSync(join(podDir, c)).filter((f) => ATTEMPT_LOG.test(f));
        } catch {
          continue;
        }
        if (!files.length) continue;
        mkdirSync(join(target, c), { recursive: true });
        // Same filesystem as the pod directory (both under the node's data dir): a rename, whatever the size.
        for (const f of files) renameSync(join(podDir, c, f), join(target, c, f));
        kept++;
      }
      if (!kept) {
        rmSync(target, { recursive: true, force: true });
        return;
      }
      const expiresAt = this.now() + this.cfg.ttlMs;
      const rec: RetainedRecord = { expiresAt: new Date(expiresAt).toISOString(), pod };
      writeFileSync(join(target, 'retained.json'), JSON.stringify(rec));
      this.expiries.set(`${namespace}/${name}`, expiresAt);
      this.arm();
    } catch (e) {
      this.cfg.log(`kubelet: keeping the logs of ${namespace}/${name}: ${(e as Error).message}`);
      rmSync(target, { recursive: true, force: true });
    }
  }

  /** The kept pod object (as last seen on the node), or undefined. */
  pod(namespace: string, name: string): any {
    if (!this.expiries.has(`${namespace}/${name}`)) return undefined;
    return this.record(namespace, name)?.pod;
  }

  /**
   * The log file a `/containerLogs` request for a kept pod reads: the last
   * attempt of the container, or with `previous` the one before (upstream's
   * messages when there is none). Undefined when the pod's logs are not kept.
   */
  source(namespace: string, name: string, container: string, previous: boolean): { path: string; running(): boolean } | undefined {
    const pod = this.pod(namespace, name);
    if (!pod) return undefined;
    if (!podContainers(pod).includes(container)) throw new LogRequestError(404, `container "${container}" not found in pod "${name}"`);
    const dir = join(this.podDir(namespace, name), container);
    let attempts: number[] = [];
    try {
      attempts = readdirSync(dir)
        .map((f) => ATTEMPT_LOG.exec(f)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
    } catch {
      /* the container never logged */
    }
    const pick = attempts[attempts.length - (previous ? 2 : 1)];
    if (pick === undefined) {
      if (previous) throw new LogRequestError(400, `previous terminated container "${container}" in pod "${name}" not found`);
      throw new LogRequestError(400, `container "${container}" in pod "${name}" is terminated`);
    }
    return { path: join(dir, `${pick}.log`), running: () => false };
  }

  private record(namespace: string, name: string): RetainedRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.podDir(namespace, name), 'retained.json'), 'utf8')) as RetainedRecord;
    } catch {
      return undefined;
    }
  }

  /** Removes what has expired, then sets the one timer for the next expiry. */
  private expire(): void {
    const now = this.now();
    for (const [key, at] of this.expiries) {
      if (at > now) continue;
      this.expiries.delete(key);
      const { namespace, name } = splitKey(key);
      rmSync(this.podDir(namespace, name), { recursive: true, force: true });
      // An empty namespace directory goes too.
      try {
        rmdirSync(join(this.cfg.dir, namespace));
      } catch {
        /* others kept there */
      }
    }
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || this.expiries.size === 0) return;
    const next = Math.min(...this.expiries.values());
    this.timer = setTimeout(() => this.expire(), Math.min(MAX_TIMER_MS, Math.max(0, next - this.now())));
    // Kept logs never hold the node agent up.
    this.timer.unref();
  }
}

/** Names of a pod's init and app containers (those that write logs). */
function podContainers(pod: any): string[] {
  return [...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])].map((c: any) => c.name as string);
}
