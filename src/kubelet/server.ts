/**
 * The kubelet's streaming server (upstream pkg/kubelet/server): HTTPS on the
 * node, serving `/containerLogs/<ns>/<pod>/<container>` (what the API
 * server's `pods/log` proxies to; a deleted pod's kept logs too), `/retainedPods/<ns>/<pod>`
 * (which deleted pods' logs this node keeps), `/healthz`, and the upgraded
 * `/exec`, `/attach` and `/portForward` streams (streaming/upgrade.ts).
 * Clients must present a certificate of the cluster CA when one is configured.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readLogs, type LogReadOptions } from './logs.js';
import { LogRequestError, type LogSource } from './pods.js';
import type { Duplex } from 'node:stream';
import type { StreamingHost } from './streaming/host.js';
import { parseStreamingPath, refuse, serveStreamingUpgrade } from './streaming/upgrade.js';

/** Serving certificate and key of the node, and the CA its clients' certificates must chain to. */
export interface StreamingTls {
  cert: string;
  key: string;
  ca: string;
}

/** Configuration of the streaming server. */
export interface KubeletServerConfig {
  tls: StreamingTls;
  /** Port to listen on (0: any free port). */
  port: number;
  address?: string;
  /** Where a container's log request reads from; throws LogRequestError. */
  logSource(namespace: string, pod: string, container: string, previous: boolean): LogSource;
  /** The pod object whose logs this node keeps after its deletion (`/retainedPods/<ns>/<pod>`); absent: that path answers 404. */
  retainedPod?(namespace: string, pod: string): unknown;
  /** Where exec/attach/port-forward requests go; absent: those paths answer 404. */
  streaming?: StreamingHost;
  /** The Summary API document (`/stats/summary`); absent where the node does not measure usage. */
  summary?: () => Promise<unknown>;
  log: (msg: string) => void;
}

/** Parses the PodLogOptions query of a log request (upstream's validation messages). */
export function parseLogQuery(q: URLSearchParams, now: Date): LogReadOptions & { previous: boolean } {
  const bool = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
  const int = (k: string): number | undefined => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    if (!/^-?\d+$/.test(v)) throw new LogRequestError(400, `${k}: Invalid value: ${JSON.stringify(v)}: must be an integer`);
    return Number(v);
  };
  const tailLines = int('tailLines');
  const limitBytes = int('limitBytes');
  const sinceSeconds = int('sinceSeconds');
  const sinceTime = q.get('sinceTime');
  if (tailLines !== undefined && tailLines < 0) throw new LogRequestError(400, 'tailLines: Invalid value: must be greater than or equal to 0');
  if (limitBytes !== undefined && limitBytes < 1) throw new LogRequestError(400, 'limitBytes: Invalid value: must be greater than 0');
  if (sinceSeconds !== undefined && sinceSeconds < 1) throw new LogRequestError(400, 'sinceSeconds: Invalid value: must be greater than 0');
  if (sinceSeconds !== undefined && sinceTime) throw new LogRequestError(400, 'at most one of `sinceTime` or `sinceSeconds` may be specified');
  let since: Date | undefined;
  if (sinceSeconds !== undefined) since = new Date(now.getTime() - sinceSeconds * 1000);
  else if (sinceTime) {
    since = new Date(sinceTime);
    if (Number.isNaN(since.getTime())) throw new LogRequestError(400, `sinceTime: Invalid value: ${JSON.stringify(sinceTime)}`);
  }
  return { follow: bool('follow'), previous: bool('previous'), timestamps: bool('timestamps'), tailLines, limitBytes, since };
}

/** The node's HTTPS streaming endpoint. */
export class KubeletServer {
  private server?: Server;
  /** Upgraded connections (exec, attach, port-forward): the server no longer tracks them. */
  private readonly upgraded = new Set<Duplex>();
  /** The port actually bound. */
  port = 0;

  constructor(private readonly cfg: KubeletServerConfig) {}

  /** Listens; resolves once bound. */
  async start(): Promise<void> {
    const { tls } = this.cfg;
    this.server = createServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => void this.serve(req, res));
    this.server.requestTimeout = 0;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const streaming = this.cfg.streaming;
      if (!streaming) return refuse(socket, 404, '404 page not found\n');
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      void serveStreamingUpgrade(req, socket, head, streaming, this.cfg.log);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.cfg.port, this.cfg.address ?? '0.0.0.0', () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.cfg.port;
  }

  /** Stops listening and ends open streams. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
      for (const sock of this.upgraded) sock.destroy();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const text = (code: number, body: string): void => {
      if (res.headersSent) {
        res.end();
        return;
      }
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    try {
      if (url.pathname === '/healthz') return text(200, 'ok');
      if (url.pathname === '/stats/summary' || url.pathname === '/stats/summary/') {
        if (!this.cfg.summary) return text(404, '404 page not found\n');
        if (req.method !== 'GET') return text(405, 'Method Not Allowed\n');
        const body = JSON.stringify(await this.cfg.summary());
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
        return;
      }
      // Streams need an upgrade (handled in the 'upgrade' listener); a plain request cannot carry them.
      if (parseStreamingPath(url.pathname) && this.cfg.streaming) return text(400, 'unable to upgrade: missing upgrade headers in request\n');
      // Kite's own: which deleted pods' logs this node keeps (the API server's pods/log looks them up here).
      const kept = /^\/retainedPods\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
      if (kept) {
        if (req.method !== 'GET') return text(405, 'Method Not Allowed\n');
        const pod = this.cfg.retainedPod?.(decodeURIComponent(kept[1]!), decodeURIComponent(kept[2]!));
        if (!pod) return text(404, '404 page not found\n');
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(pod));
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
      if (!m) return text(404, '404 page not found\n');
      if (req.method !== 'GET') return text(405, 'Method Not Allowed\n');
      const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const opts = parseLogQuery(url.searchParams, new Date());
      const source = this.cfg.logSource(ns, pod, container, opts.previous);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      // Headers go out at once so a following client sees the stream open before the first line.
      res.flushHeaders();
      await readLogs(source.path, opts, {
        signal: abort.signal,
        stillRunning: () => source.running(),
        write: (chunk) =>
          new Promise<void>((resolve) => {
            if (abort.signal.aborted || res.write(chunk)) return resolve();
            res.once('drain', resolve);
            res.once('close', resolve);
          }),
      });
      res.end();
    } catch (e) {
      if (e instanceof LogRequestError) return text(e.code, e.message);
      this.cfg.log(`kubelet: serving ${url.pathname}: ${(e as Error).message}`);
      return text(500, (e as Error).message);
    }
  }
}
