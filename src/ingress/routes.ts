/**
 * Ingress routing rules (networking.k8s.io/v1), as the Ingress API defines
 * them: which Ingresses the `kite` class serves, and for a request's host and
 * path which backend answers — precise hosts before wildcards, the longest
 * matching path first, Exact before Prefix at equal length, Prefix matched
 * element by element (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`).
 */

/** The IngressClass Kite's controller owns, and its `spec.controller`. */
export const INGRESS_CLASS = 'kite';
export const INGRESS_CONTROLLER = 'kite.io/ingress';
/** The annotation that makes an IngressClass the default (upstream's name). */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The legacy class annotation some manifests still carry. */
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** Where a matched request goes: a Service port in the Ingress's namespace. */
export interface Backend {
  namespace: string;
  service: string;
  port: { number?: number; name?: string };
}

/** One path rule of one Ingress. */
export interface Route {
  /** Lower-case host, `*.example.com`, or '' for any host. */
  host: string;
  path: string;
  pathType: 'Exact' | 'Prefix';
  backend: Backend;
  /** `namespace/name` of the Ingress (for ordering and messages). */
  ingress: string;
  createdAt: string;
}

/** Everything the controller routes by. */
export interface RouteTable {
  routes: Route[];
  /** `spec.defaultBackend` of the oldest Ingress that has one. */
  defaultBackend?: Backend;
}

/** Whether the `kite` controller should serve this Ingress (by class name, legacy annotation, or as the default class). */
export function servedByKite(ing: any, kiteIsDefault: boolean): boolean {
  const cls = ing?.spec?.ingressClassName ?? ing?.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  return cls === INGRESS_CLASS || (cls === undefined && kiteIsDefault);
}

/** Builds the route table from the Ingresses the controller serves (oldest first wins ties). */
export function buildRoutes(ingresses: readonly any[]): RouteTable {
  const sorted = [...ingresses].sort(
    (a, b) => String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) || key(a).localeCompare(key(b)),
  );
  const routes: Route[] = [];
  let defaultBackend: Backend | undefined;
  for (const ing of sorted) {
    const namespace = ing.metadata?.namespace ?? 'default';
    const toBackend = (b: any): Backend | undefined =>
      b?.service?.name ? { namespace, service: b.service.name, port: { number: b.service.port?.number, name: b.service.port?.name } } : undefined;
    defaultBackend ??= toBackend(ing.spec?.defaultBackend);
    for (const rule of ing.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const backend = toBackend(p.backend);
        if (!backend) continue;
        routes.push({
          host: String(rule.host ?? '').toLowerCase(),
          path: p.path || '/',
          // ImplementationSpecific is ours to define: Kite treats it as Prefix.
          pathType: p.pathType === 'Exact' ? 'Exact' : 'Prefix',
          backend,
          ingress: key(ing),
          createdAt: String(ing.metadata?.creationTimestamp ?? ''),
        });
      }
    }
  }
  return { routes, defaultBackend };
}

/** Whether a route's path matches a request path. */
export function pathMatches(route: Pick<Route, 'path' | 'pathType'>, path: string): boolean {
  if (route.pathType === 'Exact') return path === route.path;
  const prefix = route.path.replace(/\/+$/, '');
  if (prefix === '') return true;
  const p = path.replace(/\/+$/, '');
  return p === prefix || p.startsWith(`${prefix}/`);
}

/** Whether a rule's host matches a request host (a wildcard covers exactly one more label). */
export function hostMatches(ruleHost: string, host: string): boolean {
  if (ruleHost === '') return true;
  if (ruleHost.startsWith('*.')) {
    const suffix = ruleHost.slice(1);
    return host.endsWith(suffix) && !host.slice(0, -suffix.length).includes('.') && host.length > suffix.length;
  }
  return ruleHost === host;
}

/**
 * The backend for a request: among the routes whose host matches (precise
 * hosts, then wildcards, then rules without a host), the longest matching
 * path, Exact before Prefix; then the default backend.
 */
export function route(table: RouteTable, rawHost: string | undefined, path: string): Backend | undefined {
  const host = (rawHost ?? '').replace(/:\d+$/, '').toLowerCase();
  const hostRank = (r: Route) => (r.host === '' ? 0 : r.host.startsWith('*.') ? 1 : 2);
  let best: Route | undefined;
  for (const r of table.routes) {
    if (!hostMatches(r.host, host) || !pathMatches(r, path)) continue;
    if (!best) {
      best = r;
      continue;
    }
    const byHost = hostRank(r) - hostRank(best);
    const byLength = r.path.replace(/\/+$/, '').length - best.path.replace(/\/+$/, '').length;
    const byType = (r.pathType === 'Exact' ? 1 : 0) - (best.pathType === 'Exact' ? 1 : 0);
    if (byHost > 0 || (byHost === 0 && (byLength > 0 || (byLength === 0 && byType > 0)))) best = r;
  }
  return best?.backend ?? table.defaultBackend;
}

function key(o: any): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}
