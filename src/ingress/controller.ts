/**
 * Kite's built-in Ingress controller: an HTTP reverse proxy on the node's
 * HTTP port that serves the Ingresses of class `kite` (the default class).
 * Routes come from Ingresses, backends from Services and their
 * EndpointSlices — all from informers, so a request never reads the API —
 * and requests go straight to a ready endpoint (round robin), as ingress-nginx
 * does, not through the Service's virtual IP. Served Ingresses get the node's
 * address in `status.loadBalancer.ingress`.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { R, isStatus, type Client } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { DEFAULT_CLASS_ANNOTATION, INGRESS_CLASS, INGRESS_CONTROLLER, buildRoutes, route, servedByKite, type Backend, type RouteTable } from './routes.js';

/** Configuration of the Ingress controller. */
export interface IngressControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** The node address written into served Ingresses' status. */
  nodeIp: string;
  /** HTTP port to serve on (80 upstream-style; 0 picks a free one). */
  port: number;
  bindAddress?: string;
  log: (msg: string) => void;
}

/** How long a backend may take to answer before the client gets 504. */
const UPSTREAM_TIMEOUT_MS = 60_000;
/** Hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate'];

/** The Ingress controller (see the module comment). */
export class IngressController {
  private server?: Server;
  private table: RouteTable = { routes: [] };
  private readonly ingresses: Informer;
  private readonly classes: Informer;
  private readonly services: Informer;
  private readonly slices: Informer;
  private readonly next = new Map<string, number>();
  private rebuildQueued = false;
  /** The port actually bound. */
  port = 0;

  constructor(private readonly cfg: IngressControllerConfig) {
    this.ingresses = cfg.informers.informer(R.ingresses);
    this.classes = cfg.informers.informer(R.ingressclasses);
    this.services = cfg.informers.informer(R.services);
    this.slices = cfg.informers.informer(R.endpointslices);
  }

  /** Starts serving once the informers have synced; rejects when the port cannot be bound. */
  async start(): Promise<void> {
    const rebuild = { onAdd: () => this.queueRebuild(), onUpdate: () => this.queueRebuild(), onDelete: () => this.queueRebuild() };
    this.ingresses.addHandlers(rebuild);
    this.classes.addHandlers(rebuild);
    await this.ensureClass();
    await this.cfg.informers.start();
    this.rebuild();
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.cfg.port, this.cfg.bindAddress ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops serving; open connections are closed. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /**
   * Creates the `kite` IngressClass, marked default, unless it exists (an
   * administrator may have changed it, e.g. removed the default mark: kept).
   */
  private async ensureClass(): Promise<void> {
    try {
      await this.cfg.client.create(R.ingressclasses, '', {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: INGRESS_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' }, labels: { 'app.kubernetes.io/managed-by': 'kite' } },
        spec: { controller: INGRESS_CONTROLLER },
      });
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
  }

  /** Whether the `kite` IngressClass is marked default (or no class is, in which case Kite serves class-less Ingresses too). */
  private kiteIsDefault(): boolean {
    const classes = this.classes.list();
    const defaults = classes.filter((c: any) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
    return defaults.length === 0 ? true : defaults.some((c: any) => c.metadata?.name === INGRESS_CLASS);
  }

  private queueRebuild(): void {
    if (this.rebuildQueued) return;
    this.rebuildQueued = true;
    queueMicrotask(() => {
      this.rebuildQueued = false;
      this.rebuild();
    });
  }

  private rebuild(): void {
    const isDefault = this.kiteIsDefault();
    const served = this.ingresses.list().filter((i: any) => servedByKite(i, isDefault));
    this.table = buildRoutes(served);
    for (const ing of served) void this.publishStatus(ing);
  }

  /** Writes the node address into an Ingress's status when it is not there yet. */
  private async publishStatus(ing: any): Promise<void> {
    const want = [{ ip: this.cfg.nodeIp }];
    if (JSON.stringify(ing.status?.loadBalancer?.ingress ?? []) === JSON.stringify(want)) return;
    try {
      await this.cfg.client.patch(R.ingresses, ing.metadata.namespace, ing.metadata.name, 'merge', { status: { loadBalancer: { ingress: want } } }, { subresource: 'status' });
    } catch (e) {
      this.cfg.log(`ingress: cannot update the status of ${ing.metadata.namespace}/${ing.metadata.name}: ${(e as Error).message}`);
    }
  }

  /** A ready endpoint `ip:port` for a backend (round robin), or why there is none. */
  private pick(b: Backend): { host: string; port: number } | { error: string } {
    const svc: any = this.services.get(b.namespace, b.service);
    if (!svc) return { error: `service "${b.namespace}/${b.service}" not found` };
    const sp = (svc.spec?.ports ?? []).find((p: any) => (b.port.name ? p.name === b.port.name : p.port === b.port.number));
    if (!sp) return { error: `service "${b.namespace}/${b.service}" has no port ${b.port.name ?? b.port.number}` };
    const candidates: { host: string; port: number }[] = [];
    for (const slice of this.slices.list(b.namespace, (s: any) => s.metadata?.labels?.['kubernetes.io/service-name'] === b.service)) {
      const port = (slice.ports ?? []).find((p: any) => (p.name ?? '') === (sp.name ?? ''))?.port;
      if (!port) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const address of ep.addresses ?? []) candidates.push({ host: address, port });
      }
    }
    if (candidates.length === 0) return { error: `no ready endpoints for service "${b.namespace}/${b.service}"` };
    const k = `${b.namespace}/${b.service}/${sp.name ?? sp.port}`;
    const i = (this.next.get(k) ?? 0) % candidates.length;
    this.next.set(k, i + 1);
    return candidates[i]!;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const backend = route(this.table, req.headers.host, path);
    if (!backend) return plain(res, 404, '404 page not found\n');
    const target = this.pick(backend);
    if ('error' in target) return plain(res, 503, `503 Service Unavailable: ${target.error}\n`);
    const headers: Record<string, string | string[] | undefined> = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const client = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${client}` : client;
    headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-proto'] = 'http';
    headers['x-real-ip'] = client;
    const upstream = httpRequest({ host: target.host, port: target.port, method: req.method, path: req.url, headers, timeout: UPSTREAM_TIMEOUT_MS }, (up) => {
      const out: Record<string, string | string[] | number | undefined> = { ...up.headers };
      for (const h of HOP_BY_HOP) delete out[h];
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (e) => {
      if (!res.headersSent) plain(res, (e as Error).message === 'upstream timed out' ? 504 : 502, `${(e as Error).message === 'upstream timed out' ? '504 Gateway Timeout' : '502 Bad Gateway'}: ${e.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  }
}

function plain(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
