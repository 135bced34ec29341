/**
 * The API server: HTTPS listener, authentication, authorization, and routing
 * of discovery, OpenAPI, health, version and resource requests.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { ApiError, errors } from '../api/errors.js';
import type { Backend } from '../storage/backend.js';
import { definitions } from '../api/generated/schema.js';
import { parseRequestInfo, type RequestInfo } from './requestinfo.js';
import { sendError, sendJson } from './http.js';
import { aggregatedDiscovery, aggregatedMediaType, groupDocument, groupList, legacyCoreVersions, resourceList, wantsAggregated } from './discovery.js';
import { OpenApiDocuments, openApiResponse } from './openapi.js';
import { Registry } from './registry/registry.js';
import { ResourceHandler, type ResourceHelpers } from './handler.js';
import type { UserInfo } from './registry/strategy.js';
import { userFromCertificate, type ClusterPki } from './auth/certs.js';
import { Authorizer } from './auth/authorizer.js';
import { ReviewHandler } from './auth/reviews.js';
import { managerFromUserAgent } from './fieldmanager/index.js';
import { printerFor } from './printers/index.js';
import { decodeAgainstSchema } from './decode.js';
import { CustomResources } from './customresources.js';
import { bootstrap } from './bootstrap.js';
import { KITE_VERSION, KUBERNETES_VERSION } from '../version.js';
import { MetricsApi, METRICS_RESOURCES } from './metrics/api.js';
import { MetricsScraper } from './metrics/scraper.js';
import { MetricsStorage } from './metrics/storage.js';
import type { InProcessApis } from '../client/inprocess.js';
import type { Duplex } from 'node:stream';
import { upgradeResponse } from './streaming/connect.js';
import type { NodeJoinHandler } from './join.js';

/** Configuration of the API server. */
export interface ApiServerConfig {
  backend: Backend;
  pki: ClusterPki;
  /** Bearer tokens accepted, mapped to users. */
  tokens: Map<string, UserInfo>;
  port: number;
  bindAddress: string;
  /** Address clients should use (for discovery's serverAddressByClientCIDRs and the kubernetes Service). */
  advertiseAddress: string;
  serviceCidr: string;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (upstream: about a minute). */
  bookmarkIntervalMs?: number;
  /** How often node usage is scraped for metrics.k8s.io (metrics-server --metric-resolution, default 15 s). */
  metricResolutionMs?: number;
  log?: (msg: string) => void;
  /** The node join endpoints (`/kite/v1/`), served before authentication: the join token is their credential. */
  nodeJoin?: NodeJoinHandler;
}

/** The running API server. */
export class ApiServer {
  readonly registry: Registry;
  private server?: Server;
  private readonly openapi = new OpenApiDocuments(definitions, { version: `v${KUBERNETES_VERSION}` });
  private readonly handler: ResourceHandler;
  private readonly authorizer: Authorizer;
  private readonly reviews: ReviewHandler;
  private readonly crs: CustomResources;
  private ready = false;
  /** metrics.k8s.io, fed by scraping the kubelets (what metrics-server adds to a cluster). */
  private readonly metrics: MetricsApi;
  private readonly scraper: MetricsScraper;
  /** Upgraded connections (exec, attach, port-forward), which the HTTP server no longer tracks: closed on stop. */
  private readonly upgraded = new Set<Duplex>();
  /** The user of each TLS connection's client certificate (null: none). */
  private readonly certUsers = new WeakMap<TLSSocket, UserInfo | null>();
  /** The port actually bound (useful with port 0). */
  port = 0;

  constructor(private readonly config: ApiServerConfig) {
    this.registry = new Registry({ backend: config.backend, serviceCidr: config.serviceCidr });
    this.crs = new CustomResources(this.registry);
    const helpers: ResourceHelpers = {
      printer: (store) => this.crs.printer(store) ?? printerFor(store.info.group, store.info.kind),
      decode: (store, obj) => {
        if (store.info.custom) return this.crs.decode(store, obj);
        if (!store.info.schema) return { unknown: [], typeErrors: [] };
        return decodeAgainstSchema(store.types.resolver, store.info.schema, obj, true);
      },
      scale: (store) => this.crs.scale(store) ?? builtinScale(store.info.group, store.info.resource),
      managerFromUserAgent,
      pods: () => this.registry.lookup('', 'v1', 'pods')!,
      pdbs: () => this.registry.lookup('policy', 'v1', 'poddisruptionbudgets'),
      // The API server reaches kubelets with the admin client certificate and checks them against the cluster CA.
      kubelet: () => ({ nodes: this.registry.lookup('', 'v1', 'nodes')!, tls: { ca: config.pki.ca.cert, cert: config.pki.admin.cert, key: config.pki.admin.key } }),
    };
    this.handler = new ResourceHandler(helpers, config.bookmarkIntervalMs ?? 60_000);
    this.authorizer = new Authorizer(this.registry);
    this.reviews = new ReviewHandler(this.authorizer, config.tokens);
    const resolutionMs = config.metricResolutionMs ?? 15_000;
    const storage = new MetricsStorage(resolutionMs);
    const nodes = () => this.registry.lookup('', 'v1', 'nodes')!;
    this.metrics = new MetricsApi({ storage, nodes, pods: () => this.registry.lookup('', 'v1', 'pods')! });
    this.scraper = new MetricsScraper({
      storage,
      resolutionMs,
      nodes: async () => (await nodes().list('', {})).items,
      tls: { ca: config.pki.ca.cert, cert: config.pki.admin.cert, key: config.pki.admin.key },
      log: config.log ?? ((m) => process.stderr.write(`kite: ${m}\n`)),
    });
  }

  /** What the in-process transport reaches besides the stores: scale subresources and metrics.k8s.io. */
  inProcessApis(): InProcessApis {
    return {
      scaleMapping: (store) => this.crs.scale(store) ?? builtinScale(store.info.group, store.info.resource),
      readOnly: (ref) =>
        this.metrics.handles(ref)
          ? { get: (ns, name) => this.metrics.get(ref.resource, ns, name), list: (ns, opts) => this.metrics.list(ref.resource, ns, opts) }
          : undefined,
    };
  }

  /** Loads storage, registers resources, listens, and resolves once ready. */
  async start(): Promise<void> {
    await this.registry.start();
    this.registry.onChange(() => this.openapi.setResources(this.registry.resources()));
    this.openapi.setResources(this.registry.resources());
    await this.crs.start();
    const { pki } = this.config;
    this.server = createHttpsServer(
      { cert: pki.serving.cert, key: pki.serving.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
      (req, res) => void this.serve(req, res),
    );
    this.server.keepAliveTimeout = 120_000;
    this.server.headersTimeout = 130_000;
    this.server.requestTimeout = 0;
    // Upgrade requests take the normal path (auth, routing, errors); pods/exec|attach|portforward then proxy the socket.
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      void this.serve(req, upgradeResponse(req, socket, head));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.port, this.config.bindAddress, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.config.port;
    await bootstrap(this.registry, { advertiseAddress: this.config.advertiseAddress, port: this.port });
    this.scraper.start();
    this.ready = true;
  }

  /** Stops listening and closes connections (including watches). */
  async stop(): Promise<void> {
    this.ready = false;
    await this.scraper.stop();
    this.crs.stop();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.upgraded) s.destroy();
    });
    this.registry.stop();
  }

  private authenticate(req: IncomingMessage): UserInfo | undefined {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      const token = auth.slice(7).trim();
      for (const [t, user] of this.config.tokens) {
        if (t.length === token.length && timingSafeEqual(Buffer.from(t), Buffer.from(token))) return user;
      }
      return undefined;
    }
    const sock = req.socket as TLSSocket;
    // A connection's client certificate does not change: read it once per connection.
    const known = this.certUsers.get(sock);
    if (known !== undefined) return known ?? undefined;
    let user: UserInfo | null = null;
    if (sock.authorized) {
      const cert = sock.getPeerCertificate();
      const u = userFromCertificate(cert?.subject as unknown as Record<string, string | string[]>);
      if (u) user = { name: u.name, groups: [...u.groups, 'system:authenticated'] };
    }
    this.certUsers.set(sock, user);
    return user ?? undefined;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'https://localhost');
      const path = url.pathname;
      // Health and version are open to everyone, as upstream's system:public-info-viewer allows.
      if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/readyz/') || path.startsWith('/livez/')) {
        const ok = path.startsWith('/readyz') ? this.ready : true;
        const kind = path.slice(1).split('/')[0];
        res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        if (url.searchParams.has('verbose')) {
          // upstream's verbose form: one line per check, then the verdict.
          const checks = ['ping', 'log', 'storage', ...(kind === 'readyz' ? ['informer-sync', 'shutdown'] : [])];
          const lines = checks.map((c) => (ok || c !== 'informer-sync' ? `[+]${c} ok` : `[-]${c} failed: reason withheld`));
          res.end(`${lines.join('\n')}\n${kind} check ${ok ? 'passed' : 'failed'}\n`);
        } else {
          res.end(ok ? 'ok' : `[-]informer-sync failed: reason withheld\n${kind} check failed`);
        }
        return;
      }
      if (path === '/version' || path === '/version/') return sendJson(res, 200, versionInfo());
      if (this.config.nodeJoin?.handles(path)) return await this.config.nodeJoin.serve(req, res, path);
      const authenticated = this.authenticate(req);
      if (!authenticated) {
        res.setHeader('WWW-Authenticate', 'Basic realm="kubernetes-master"');
        throw errors.unauthorized();
      }
      const user = this.impersonate(req, authenticated);
      const info = parseRequestInfo(req.method ?? 'GET', path, url.searchParams);
      if (!info.isResourceRequest) return this.nonResource(req, res, info, url);
      if (this.reviews.handles(info)) {
        await this.authorize(user, info);
        return await this.reviews.handle(req, res, info, user);
      }
      if (this.metrics.handles(info)) {
        await this.authorize(user, info);
        return await this.metrics.handle(req, res, info, url.searchParams);
      }
      const store = this.registry.lookup(info.group, info.version, info.resource);
      if (!store) throw new ApiError('NotFound', 'the server could not find the requested resource', {});
      await this.authorize(user, info);
      await this.handler.handle(req, res, info, url.searchParams, store, user);
    } catch (e) {
      sendError(res, e);
    }
  }

  /**
   * Applies `Impersonate-User`/`Impersonate-Group` headers (kubectl --as/--as-group):
   * the caller must be allowed the `impersonate` verb on users/groups, as upstream.
   */
  private impersonate(req: IncomingMessage, user: UserInfo): UserInfo {
    const asUser = req.headers['impersonate-user'];
    const asGroups = req.headers['impersonate-group'];
    if (asUser === undefined && asGroups === undefined) return user;
    const name = Array.isArray(asUser) ? asUser[0] : (asUser ?? '');
    if (!name) throw errors.badRequest('requested impersonation of groups without impersonating a user');
    const groups = (Array.isArray(asGroups) ? asGroups : asGroups ? asGroups.split(',') : []).map((g) => g.trim()).filter(Boolean);
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
    const checks: { resource: string; name: string; namespace: string }[] = [
      sa ? { resource: 'serviceaccounts', name: sa[2], namespace: sa[1] } : { resource: 'users', name, namespace: '' },
      ...groups.map((g) => ({ resource: 'groups', name: g, namespace: '' })),
    ];
    for (const c of checks) {
      const d = this.authorizer.authorize(user, { verb: 'impersonate', group: '', resource: c.resource, subresource: '', namespace: c.namespace, name: c.name });
      if (!d.allowed) {
        throw errors.forbidden({ group: '', resource: c.resource }, c.name, `User "${user.name}" cannot impersonate resource "${c.resource}" in API group "" at the cluster scope`);
      }
    }
    const all = [...groups];
    if (sa) all.push('system:serviceaccounts', `system:serviceaccounts:${sa[1]}`);
    if (name !== 'system:anonymous' && !all.includes('system:authenticated')) all.push('system:authenticated');
    return { name, groups: all };
  }

  private async authorize(user: UserInfo, info: RequestInfo): Promise<void> {
    const decision = this.authorizer.authorize(user, {
      verb: info.verb,
      group: info.group,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
    });
    if (!decision.allowed) {
      const what = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
      const scope = info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope';
      throw errors.forbidden(
        { group: info.group, resource: info.resource },
        info.name,
        `User "${user.name}" cannot ${info.verb} resource "${what}" in API group "${info.group}"${scope}`,
      );
    }
  }

  private nonResource(req: IncomingMessage, res: ServerResponse, info: RequestInfo, url: URL): void {
    const path = info.path.replace(/\/+$/, '') || '/';
    // metrics.k8s.io is listed as the aggregated metrics-server API would be.
    const resources = [...this.registry.resources(), ...METRICS_RESOURCES];
    const accept = req.headers.accept;
    if (path === '/api' || path === '/apis') {
      const agg = wantsAggregated(accept);
      if (agg) return sendJson(res, 200, aggregatedDiscovery(resources, path === '/api', agg), aggregatedMediaType(agg));
      return sendJson(res, 200, path === '/api' ? legacyCoreVersions(`${this.config.advertiseAddress}:${this.port}`) : groupList(resources));
    }
    if (info.apiPrefix === 'api' && info.version && !info.group) {
      const doc = resourceList(resources, '', info.version);
      if (doc) return sendJson(res, 200, doc);
    }
    if (info.apiPrefix === 'apis' && info.group && !info.version) {
      const doc = groupDocument(resources, info.group);
      if (doc) return sendJson(res, 200, doc);
    }
    if (info.apiPrefix === 'apis' && info.group && info.version) {
      const doc = resourceList(resources, info.group, info.version);
      if (doc) return sendJson(res, 200, doc);
    }
    if (path.startsWith('/openapi/')) {
      const r = openApiResponse(this.openapi, {
        path,
        hash: url.searchParams.get('hash') ?? undefined,
        accept,
        ifNoneMatch: req.headers['if-none-match'],
      });
      if (r) {
        res.writeHead(r.status, r.headers);
        res.end(r.body);
        return;
      }
    }
    if (path === '/') {
      return sendJson(res, 200, { paths: ['/api', '/api/v1', '/apis', ...groupPaths(resources), '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'] });
    }
    throw new ApiError('NotFound', 'the server could not find the requested resource', {});
  }
}

function groupPaths(resources: readonly { group: string; version: string }[]): string[] {
  const out = new Set<string>();
  for (const r of resources) if (r.group) out.add(`/apis/${r.group}/${r.version}`);
  return [...out];
}

/** Scale subresource paths of built-in workloads (the HTTP handler and the in-process client both use them). */
export function builtinScale(group: string, resource: string): { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string } | undefined {
  const key = `${group}/${resource}`;
  if (['apps/deployments', 'apps/replicasets', 'apps/statefulsets', '/replicationcontrollers'].includes(key)) {
    // upstream's scale strategies print the workload's own spec.selector into status.selector.
    return { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' };
  }
  return undefined;
}

/** The /version document. */
export function versionInfo(): object {
  const [major, minor] = KUBERNETES_VERSION.split('.');
  return {
    major,
    minor,
    gitVersion: `v${KUBERNETES_VERSION}+kite-${KITE_VERSION}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'kite',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
