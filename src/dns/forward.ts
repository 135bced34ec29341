/**
 * Forwarding of names outside the cluster zone to the host's resolvers
 * (CoreDNS `forward . /etc/resolv.conf`): a query goes out over the protocol
 * it came in on — UDP through one shared socket per address family, matched
 * by a fresh message ID, or a TCP connection — to the first upstream, and to
 * the next when one does not answer in time. The answer goes back with the
 * client's ID; a truncated UDP answer is passed on as is, so the client asks
 * again over TCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { decodeMessage, encodeMessage, queryMessage, type Message } from './wire.js';

/** An upstream resolver. */
export interface Upstream {
  host: string;
  port: number;
}

/** Parses `ip`, `ip:port`, `[v6]:port` or a bare IPv6 address (port 53 by default). */
export function parseUpstream(s: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : 53 };
  if (isIPv6(s)) return { host: s, port: 53 };
  const m = /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`invalid upstream resolver ${JSON.stringify(s)}`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 53 };
}

/** CoreDNS forward's max_concurrent in the kubeadm Corefile: more queries in flight are refused. */
export const MAX_CONCURRENT = 1000;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  upstream: Upstream;
}

/** Sends queries to upstream resolvers. */
export class Forwarder {
  private readonly sockets = new Map<'udp4' | 'udp6', Socket>();
  private readonly pending = new Map<number, Pending>();
  private inFlight = 0;
  private stopped = false;

  constructor(
    readonly upstreams: readonly Upstream[],
    private readonly timeoutMs = 2000,
  ) {}

  /** Opens the UDP sockets the upstreams need. */
  async start(): Promise<void> {
    for (const family of new Set(this.upstreams.map((u) => (isIPv6(u.host) ? 'udp6' : 'udp4') as 'udp4' | 'udp6'))) {
      const sock = createSocket(family);
      sock.on('message', (msg, rinfo) => this.onReply(msg, rinfo.address, rinfo.port));
      sock.on('error', () => {
        // A send to an unreachable resolver surfaces here; its query times out and the next one is tried.
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.unref();
      this.sockets.set(family, sock);
    }
  }

  /** Closes the sockets; queries in flight fail. */
  stop(): void {
    this.stopped = true;
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('forwarder stopped'));
      this.pending.delete(id);
    }
  }

  /** Queries in flight (for metrics and tests). */
  get active(): number {
    return this.inFlight;
  }

  /**
   * Forwards a raw query; resolves with the raw answer carrying the query's
   * ID. Rejects when no upstream answered (the server then answers SERVFAIL).
   */
  async forward(query: Buffer, proto: 'udp' | 'tcp'): Promise<Buffer> {
    if (this.upstreams.length === 0) throw new Error('no upstream resolvers configured');
    if (this.inFlight >= MAX_CONCURRENT) throw new Error('too many concurrent queries');
    this.inFlight++;
    try {
      let last: unknown;
      for (const u of this.upstreams.slice(0, 3)) {
        try {
          const answer = proto === 'udp' ? await this.viaUdp(query, u) : await this.viaTcp(query, u);
          const out = Buffer.from(answer);
          out.writeUInt16BE(query.readUInt16BE(0), 0);
          return out;
        } catch (e) {
          last = e;
          if (this.stopped) break;
        }
      }
      throw last instanceof Error ? last : new Error(String(last));
    } finally {
      this.inFlight--;
    }
  }

  /** Resolves one name upstream (for ExternalName targets); undefined when that fails. */
  async resolve(name: string, type: number): Promise<Message | undefined> {
    try {
      const q = encodeMessage(queryMessage(0, name, type, { udpSize: 1232 }));
      return decodeMessage(await this.forward(q, 'udp'));
    } catch {
      return undefined;
    }
  }

  private onReply(msg: Buffer, address: string, port: number): void {
    if (msg.length < 2) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    // Only the resolver the query went to may answer it.
    if (!p || p.upstream.port !== port || p.upstream.host.replace(/^::ffff:/, '') !== address.replace(/^::ffff:/, '')) return;
    this.pending.delete(msg.readUInt16BE(0));
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private viaUdp(query: Buffer, u: Upstream): Promise<Buffer> {
    const sock = this.sockets.get(isIPv6(u.host) ? 'udp6' : 'udp4');
    if (!sock) return Promise.reject(new Error('forwarder not started'));
    let id: number;
    do id = Math.floor(Math.random() * 0x10000);
    while (this.pending.has(id));
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${u.host}:${u.port} did not answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, upstream: u });
      sock.send(out, u.port, u.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private viaTcp(query: Buffer, u: Upstream): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: u.host, port: u.port });
      let buf = Buffer.alloc(0);
      const done = (e?: Error, b?: Buffer) => {
        clearTimeout(timer);
        sock.destroy();
        if (e) reject(e);
        else resolve(b!);
      };
      const timer = setTimeout(() => done(new Error(`${u.host}:${u.port} did not answer over TCP in ${this.timeoutMs} ms`)), this.timeoutMs);
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.on('error', (e) => done(e));
      sock.on('close', () => done(new Error(`${u.host}:${u.port} closed the TCP connection without an answer`)));
    });
  }
}
