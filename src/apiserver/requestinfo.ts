/**
 * Parses a request path into what it addresses, following upstream's
 * RequestInfoFactory: API prefix, group, version, namespace, resource, name,
 * subresource and the verb (get/list/watch/create/update/patch/delete/deletecollection).
 */

/** What one API request addresses. */
export interface RequestInfo {
  /** True for `/api/...` and `/apis/...` resource requests; false for discovery and other paths. */
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix: 'api' | 'apis' | '';
  group: string;
  version: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path segments after `/api` or `/apis`. */
  parts: string[];
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Parses method + URL into a RequestInfo. `watch` is the `watch` query parameter. */
export function parseRequestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo {
  const info: RequestInfo = {
    isResourceRequest: false,
    path: pathname,
    verb: method.toLowerCase(),
    apiPrefix: '',
    group: '',
    version: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
  };
  let parts = pathname.split('/').filter((p) => p.length > 0).map(safeDecode);
  if (parts[0] !== 'api' && parts[0] !== 'apis') return info;
  info.apiPrefix = parts[0] as 'api' | 'apis';
  parts = parts.slice(1);
  info.parts = parts;
  if (info.apiPrefix === 'apis') {
    if (parts.length < 1) return info;
    info.group = parts[0];
    parts = parts.slice(1);
  }
  if (parts.length < 1) return info;
  info.version = parts[0];
  parts = parts.slice(1);
  if (parts.length < 1) return info;
  info.isResourceRequest = true;

  let watchPrefix = false;
  if (parts[0] === 'watch') {
    watchPrefix = true;
    parts = parts.slice(1);
  }
  if (parts[0] === 'namespaces' && parts.length > 1) {
    info.namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
  }
  info.resource = parts[0] ?? '';
  if (parts.length >= 2) info.name = parts[1];
  if (parts.length >= 3) info.subresource = parts[2];
  // namespaces/<name> addresses the Namespace object; upstream still reports its name as the
  // request's namespace, so a RoleBinding in namespace x can grant access to Namespace x.

  const m = method.toUpperCase();
  // upstream: `?watch` turns a collection GET (never a named one) into a watch.
  if (watchPrefix || (m === 'GET' && !info.name && query.has('watch') && isTrue(query.get('watch')))) {
    info.verb = 'watch';
  } else if (m === 'GET' || m === 'HEAD') {
    info.verb = info.name ? 'get' : 'list';
  } else if (m === 'POST') {
    info.verb = 'create';
  } else if (m === 'PUT') {
    info.verb = 'update';
  } else if (m === 'PATCH') {
    info.verb = 'patch';
  } else if (m === 'DELETE') {
    info.verb = info.name ? 'delete' : 'deletecollection';
  }
  // A watch of one object by name (`/watch/.../name`) is a watch with a name field selector.
  return info;
}

/** upstream's query-parameter bool conversion: everything but 0/f/false/n/no (any case) is true. */
function isTrue(v: string | null): boolean {
  return !['0', 'f', 'false', 'n', 'no'].includes((v ?? '').toLowerCase());
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
