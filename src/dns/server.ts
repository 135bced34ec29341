/**
 * The cluster DNS server (what CoreDNS is in a kubeadm cluster): UDP and
 * TCP on one address and port, answering the cluster zone from informer
 * caches (see zone.ts) and forwarding every other name to the host's
 * resolvers (see forward.ts). UDP answers larger than the client accepts
 * (512 bytes, or its EDNS(0) size) are truncated with TC set. A Prometheus
 * text endpoint (CoreDNS's :9153/metrics) counts requests and responses.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import type { Client } from '../client/client.js';
import { InformerFactory } from '../client/factory.js';
import { R } from '../client/client.js';
import { ENDPOINT_SLICES } from '../controllers/endpointsutil.js';
import { Forwarder, parseUpstream, type Upstream } from './forward.js';
import { readResolvConf } from './resolvconf.js';
import {
  CLASS_IN,
  DnsFormatError,
  MAX_UDP_SIZE,
  RCODE,
  RCODE_NAMES,
  TYPE,
  TYPE_NAMES,
  decodeHeader,
  decodeMessage,
  ednsOf,
  encodeMessage,
  flags,
  optRecord,
  type Message,
} from './wire.js';
import { ClusterZone } from './zone.js';

/** The largest UDP answer Kite sends, whatever a client advertises (the common EDNS buffer size ceiling). */
const MAX_EDNS_SIZE = 4096;
/** How long an idle TCP connection stays open (CoreDNS: 10 s read timeout). */
const TCP_IDLE_MS = 10_000;

/** Configuration of the cluster DNS server. */
export interface ClusterDnsConfig {
  client: Client;
  /** Shared informers (default: the server's own, stopped with it). */
  informers?: InformerFactory;
  /** The cluster domain (kubelet --cluster-domain), e.g. `cluster.local`. */
  clusterDomain: string;
  /** Address to listen on, UDP and TCP. */
  address: string;
  /** Port (default 53; 0 picks a free one, the same for UDP and TCP). */
  port?: number;
  /** Upstream resolvers, `ip[:port]` (default: the nameservers of `resolvConf`). */
  upstreams?: string[];
  /** The host's resolver configuration (default /etc/resolv.conf). */
  resolvConf?: string;
  /** The cluster DNS Service address (`ns.dns.<zone>`, NS glue). */
  dnsIp?: string;
  /** Record TTL (default 5, CoreDNS's). */
  ttl?: number;
  /** Port of the Prometheus endpoint on `address` (CoreDNS 9153); undefined for none, 0 for a free one. */
  metricsPort?: number;
  /** How long one upstream gets to answer (default 2 s). */
  forwardTimeoutMs?: number;
  log: (msg: string) => void;
}

/** A running cluster DNS server. */
export class ClusterDns {
  private readonly informers: InformerFactory;
  private readonly ownInformers: boolean;
  readonly zone: ClusterZone;
  private forwarder?: Forwarder;
  private udp?: Socket;
  private tcp?: Server;
  private http?: HttpServer;
  private readonly conns = new Set<TcpSocket>();
  private boundPort = 0;
  private boundMetricsPort = 0;
  /** Counters behind /metrics: `proto|type` → requests, `rcode` → responses. */
  private readonly requests = new Map<string, number>();
  private readonly responses = new Map<string, number>();

  constructor(private readonly cfg: ClusterDnsConfig) {
    this.ownInformers = !cfg.informers;
    this.informers = cfg.informers ?? new InformerFactory(cfg.client);
    this.zone = new ClusterZone(
      { services: this.informers.informer(R.services), slices: this.informers.informer(ENDPOINT_SLICES), namespaces: this.informers.informer(R.namespaces) },
      { domain: cfg.clusterDomain, ttl: cfg.ttl, dnsIp: cfg.dnsIp },
    );
  }

  /** The port served (UDP and TCP). */
  get port(): number {
    return this.boundPort;
  }

  /** The metrics port (0 when not served). */
  get metricsPort(): number {
    return this.boundMetricsPort;
  }

  /** The upstream resolvers in use. */
  get upstreams(): readonly Upstream[] {
    return this.forwarder?.upstreams ?? [];
  }

  /** Fills the caches, then listens; resolves once queries are answered. */
  async start(): Promise<void> {
    const { cfg } = this;
    await Promise.all([this.informers.informer(R.services).start(), this.informers.informer(ENDPOINT_SLICES).start(), this.informers.informer(R.namespaces).start()]);
    try {
      await this.listen(cfg.port ?? 53);
      const listed = cfg.upstreams ?? readResolvConf(cfg.resolvConf ?? '/etc/resolv.conf').nameservers;
      // Never forward to ourselves (CoreDNS's loop plugin stops on that).
      const upstreams = listed.map(parseUpstream).filter((u) => !(u.host === cfg.address && u.port === this.boundPort));
      if (upstreams.length === 0) cfg.log(`cluster DNS: no upstream resolvers (from ${cfg.resolvConf ?? '/etc/resolv.conf'}): names outside ${cfg.clusterDomain} get SERVFAIL`);
      const forwarder = new Forwarder(upstreams, cfg.forwardTimeoutMs ?? 2000);
      await forwarder.start();
      this.forwarder = forwarder;
      if (cfg.metricsPort !== undefined) await this.serveMetrics(cfg.metricsPort);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Stops listening and forwarding (and the informers it owns). */
  async stop(): Promise<void> {
    this.forwarder?.stop();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const closing: Promise<void>[] = [];
    if (this.udp) closing.push(new Promise((r) => this.udp!.close(() => r())));
    if (this.tcp) closing.push(new Promise((r) => this.tcp!.close(() => r())));
    if (this.http) {
      this.http.closeAllConnections();
      closing.push(new Promise((r) => this.http!.close(() => r())));
    }
    this.udp = this.tcp = this.http = undefined;
    await Promise.all(closing);
    if (this.ownInformers) this.informers.stop();
  }

  /** Binds TCP, then UDP on the same port (retrying with another free port when asked for any). */
  private async listen(port: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer((sock) => this.onTcp(sock));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: this.cfg.address, port }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      const bound = (tcp.address() as { port: number }).port;
      const udp = createSocket({ type: isIPv6(this.cfg.address) ? 'udp6' : 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(bound, this.cfg.address, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        await new Promise((r) => tcp.close(() => r(undefined)));
        udp.close();
        if (port === 0 && attempt < 5) continue;
        throw e;
      }
      udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo.address, rinfo.port));
      udp.on('error', (e) => this.cfg.log(`cluster DNS: UDP socket error: ${e.message}`));
      this.tcp = tcp;
      this.udp = udp;
      this.boundPort = bound;
      return;
    }
  }

  private onUdp(msg: Buffer, address: string, port: number): void {
    const reply = this.handle(msg, 'udp');
    const send = (b: Buffer | undefined) => {
      if (b && this.udp) this.udp.send(b, port, address);
    };
    if (reply instanceof Promise) reply.then(send, () => undefined);
    else send(reply);
  }

  private onTcp(sock: TcpSocket): void {
    this.conns.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    // Queries may be pipelined; answers go back as they are ready (each carries its ID).
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const write = (b: Buffer | undefined) => {
          if (!b || sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(b.length);
          sock.write(Buffer.concat([head, b]));
        };
        const reply = this.handle(Buffer.from(msg), 'tcp');
        if (reply instanceof Promise) reply.then(write, () => undefined);
        else write(reply);
      }
    });
  }

  private count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /**
   * Answers one raw query: synchronously for the cluster zone, through a
   * promise when it goes upstream. Undefined for what gets no answer (a
   * response, or a message too short to carry an ID).
   */
  handle(raw: Buffer, proto: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined> {
    let header: ReturnType<typeof decodeHeader>;
    try {
      header = decodeHeader(raw);
    } catch {
      return undefined;
    }
    if (header.flags.qr) return undefined;
    let query: Message;
    try {
      query = decodeMessage(raw);
    } catch (e) {
      if (e instanceof DnsFormatError) return this.reply({ id: header.id, flags: header.flags, questions: [], answers: [], authorities: [], additionals: [] }, RCODE.FORMERR, proto);
      throw e;
    }
    const q = query.questions[0];
    this.count(this.requests, `${proto}|${q ? (TYPE_NAMES[q.type] ?? String(q.type)) : 'none'}`);
    if (query.flags.opcode !== 0) return this.reply(query, RCODE.NOTIMP, proto);
    if (!q || query.questions.length !== 1) return this.reply(query, RCODE.FORMERR, proto);
    const lname = q.name.toLowerCase();
    if (this.zone.inZone(lname)) {
      if (q.class !== CLASS_IN || q.type === TYPE.AXFR || q.type === TYPE.IXFR) return this.reply(query, RCODE.REFUSED, proto);
    }
    let answer;
    try {
      answer = q.class === CLASS_IN ? this.zone.lookup(q.name, q.type) : undefined;
    } catch (e) {
      this.cfg.log(`cluster DNS: answering ${q.name} ${TYPE_NAMES[q.type] ?? q.type}: ${(e as Error).message}`);
      return this.reply(query, RCODE.SERVFAIL, proto);
    }
    if (!answer) return this.forward(query, raw, proto);
    const msg: Message = {
      id: query.id,
      flags: flags({ qr: true, aa: true, rd: query.flags.rd, cd: query.flags.cd }),
      questions: [q],
      answers: answer.answers,
      // NXDOMAIN and NODATA carry the zone's SOA, for negative caching (RFC 2308).
      authorities: answer.answers.length === 0 ? [this.zone.soa()] : [],
      additionals: answer.additionals,
    };
    if (answer.chase && this.forwarder) {
      return this.forwarder.resolve(answer.chase.name, answer.chase.type).then((ext) => {
        if (ext) msg.answers = [...msg.answers, ...ext.answers];
        return this.finish(query, msg, answer.rcode, proto);
      });
    }
    return this.finish(query, msg, answer.rcode, proto);
  }

  private forward(query: Message, raw: Buffer, proto: 'udp' | 'tcp'): Promise<Buffer | undefined> | Buffer {
    if (!this.forwarder) return this.reply(query, RCODE.SERVFAIL, proto);
    return this.forwarder.forward(raw, proto).then(
      (b) => {
        this.count(this.responses, RCODE_NAMES[b.length >= 4 ? b.readUInt16BE(2) & 0xf : 2] ?? 'OTHER');
        return b;
      },
      () => this.reply(query, RCODE.SERVFAIL, proto),
    );
  }

  /** An answer with no records and this rcode (question echoed). */
  private reply(query: Message, rcode: number, proto: 'udp' | 'tcp'): Buffer {
    const msg: Message = {
      id: query.id,
      flags: flags({ qr: true, opcode: query.flags.opcode, rd: query.flags.rd, ra: true }),
      questions: query.questions.slice(0, 1),
      answers: [],
      authorities: [],
      additionals: [],
    };
    return this.finish(query, msg, rcode, proto);
  }

  /** Sets the rcode, adds OPT when the query had one, and encodes within the UDP size the client accepts. */
  private finish(query: Message, msg: Message, rcode: number, proto: 'udp' | 'tcp'): Buffer {
    msg.flags.rcode = rcode;
    const edns = ednsOf(query);
    const size = edns ? Math.min(Math.max(edns.udpSize, MAX_UDP_SIZE), MAX_EDNS_SIZE) : MAX_UDP_SIZE;
    if (edns) msg.additionals = [...msg.additionals, optRecord(size, edns.dnssecOk)];
    this.count(this.responses, RCODE_NAMES[rcode] ?? String(rcode));
    return encodeMessage(msg, proto === 'udp' ? { maxSize: size } : {});
  }

  private async serveMetrics(port: number): Promise<void> {
    const server = createHttpServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.metricsText());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.cfg.address, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.http = server;
    this.boundMetricsPort = (server.address() as { port: number }).port;
  }

  /** The counters in Prometheus text format, under CoreDNS's metric names. */
  metricsText(): string {
    const server = `dns://${this.cfg.address}:${this.boundPort}`;
    const lines = [
      '# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.',
      '# TYPE coredns_dns_requests_total counter',
    ];
    for (const [k, n] of [...this.requests].sort()) {
      const [proto, type] = k.split('|');
      lines.push(`coredns_dns_requests_total{server="${server}",zone=".",proto="${proto}",type="${type}"} ${n}`);
    }
    lines.push('# HELP coredns_dns_responses_total Counter of response status codes.', '# TYPE coredns_dns_responses_total counter');
    for (const [rcode, n] of [...this.responses].sort()) lines.push(`coredns_dns_responses_total{server="${server}",zone=".",rcode="${rcode}"} ${n}`);
    return `${lines.join('\n')}\n`;
  }
}
