/**
 * The REST routes Kite serves, described once in a format-neutral model
 * (paths, operations, parameters, bodies, responses) that the swagger 2.0
 * and OpenAPI 3.0 renderers both read. Shapes, names and parameters follow
 * upstream's endpoint installer (`apiserver/pkg/endpoints/installer.go`) and
 * operation naming (`apiserver/pkg/endpoints/openapi.GetOperationIDAndTags`).
 */
import type { ResourceInfo } from '../../api/resources.js';
import type { SchemaNode } from '../../api/schema.js';

/** A group/version/kind as written in `x-kubernetes-group-version-kind`. */
export interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** A non-body parameter (path or query). */
export interface RouteParam {
  name: string;
  in: 'path' | 'query';
  type: 'string' | 'integer' | 'boolean';
  required?: boolean;
}

/** One HTTP operation on a path. Schemas use `#/definitions/<name>` refs. */
export interface RouteOperation {
  method: 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options';
  operationId: string;
  /** `x-kubernetes-action`; absent on discovery endpoints. */
  action?: string;
  gvk?: Gvk;
  tag: string;
  params: RouteParam[];
  body?: { schema: SchemaNode; required: boolean };
  consumes: string[];
  produces: string[];
  responses: { code: string; description: string; schema?: SchemaNode }[];
}

/** A path with its operations and the parameters shared by all of them (hoisted as upstream does). */
export interface RoutePath {
  path: string;
  params: RouteParam[];
  operations: RouteOperation[];
}

/** The routes of one OpenAPI v3 document, keyed by its prefix (`api/v1`, `apis/apps/v1`, `apis`, ...). */
export interface RouteGroup {
  prefix: string;
  paths: RoutePath[];
}

const JSON_MIME = 'application/json';
const YAML_MIME = 'application/yaml';
/** What Kite serves objects as (no protobuf, no CBOR). */
const OBJECT_PRODUCES = [JSON_MIME, YAML_MIME];
const WATCH_PRODUCES = [JSON_MIME, YAML_MIME, 'application/json;stream=watch'];
/** PATCH content types; custom resources have no strategic merge patch (upstream CRD handler). */
const PATCH_CONSUMES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];
const CR_PATCH_CONSUMES = PATCH_CONSUMES.filter((c) => c !== 'application/strategic-merge-patch+json');

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const ref = (name: string): SchemaNode => ({ $ref: `#/definitions/${name}` });

/**
 * Built-in resources whose DELETE answers with the deleted object instead of a
 * Status (upstream stores with `ReturnDeletedObject`), keyed `group/resource`.
 */
const DELETE_RETURNS_OBJECT = new Set([
  '/persistentvolumeclaims',
  '/pods',
  '/podtemplates',
  '/resourcequotas',
  '/serviceaccounts',
  '/services',
  '/persistentvolumes',
  'storage.k8s.io/csidrivers',
  'storage.k8s.io/csinodes',
  'storage.k8s.io/storageclasses',
  'storage.k8s.io/volumeattachments',
]);

const q = (name: string, type: RouteParam['type'] = 'string'): RouteParam => ({ name, in: 'query', type });
const PRETTY = q('pretty');
const WRITE_PARAMS = [q('dryRun'), q('fieldManager'), q('fieldValidation')];
const PATCH_PARAMS = [...WRITE_PARAMS, q('force', 'boolean')];
const LIST_PARAMS = [
  q('allowWatchBookmarks', 'boolean'),
  q('continue'),
  q('fieldSelector'),
  q('labelSelector'),
  q('limit', 'integer'),
  q('resourceVersion'),
  q('resourceVersionMatch'),
  q('sendInitialEvents', 'boolean'),
  q('timeoutSeconds', 'integer'),
  q('watch', 'boolean'),
];
const DELETE_PARAMS = [
  q('dryRun'),
  q('gracePeriodSeconds', 'integer'),
  q('ignoreStoreReadErrorWithClusterBreakingPotential', 'boolean'),
  q('orphanDependents', 'boolean'),
  q('propagationPolicy'),
];
const DELETE_COLLECTION_PARAMS = [
  ...DELETE_PARAMS,
  ...LIST_PARAMS.filter((p) => p.name !== 'allowWatchBookmarks' && p.name !== 'watch'),
];
const STREAM_PARAMS = [q('container'), q('stderr', 'boolean'), q('stdin', 'boolean'), q('stdout', 'boolean'), q('tty', 'boolean')];
/** Query parameters of connect subresources (from the `*Options` kinds upstream converts to query parameters). */
const CONNECT_PARAMS: Record<string, RouteParam[]> = {
  exec: [q('command'), ...STREAM_PARAMS],
  attach: STREAM_PARAMS,
  portforward: [q('ports', 'integer')],
  proxy: [q('path')],
};
const LOG_PARAMS = [
  q('container'),
  q('follow', 'boolean'),
  q('insecureSkipTLSVerifyBackend', 'boolean'),
  q('limitBytes', 'integer'),
  q('previous', 'boolean'),
  q('sinceSeconds', 'integer'),
  q('stream'),
  q('tailLines', 'integer'),
  q('timestamps', 'boolean'),
];
const PROXY_METHODS = ['delete', 'get', 'head', 'options', 'patch', 'post', 'put'] as const;

/** Upstream's `ToValidOperationID`: keeps letters, `_` and non-leading digits, upper-casing after dropped characters. */
export function toValidOperationId(s: string, capitalizeFirst: boolean): string {
  let out = '';
  let capitalize = capitalizeFirst;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/[A-Za-z_]/.test(c) || (i !== 0 && /[0-9]/.test(c))) {
      out += capitalize ? c.toUpperCase() : c;
      capitalize = false;
    } else {
      capitalize = true;
    }
  }
  return out;
}

/** The group part of operation ids and tags: `core`, `apps`, `rbacAuthorization`, `stableExampleCom`. */
function groupId(group: string): string {
  return toValidOperationId(group ? group.replace(/\.k8s\.io$/, '') : 'core', false);
}

const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** The definition name for a resource's object schema: its `$ref` target, or upstream's CRD naming (`com.example.stable.v1.CronTab`). */
export function resourceDefinitionName(r: ResourceInfo): string {
  const target = r.schema?.$ref;
  if (target && !r.custom) return target.slice(target.lastIndexOf('/') + 1);
  return customDefinitionName(r.group, r.version, r.kind);
}

/** Upstream's CRD definition name: reversed group, version, kind. */
export function customDefinitionName(group: string, version: string, kind: string): string {
  const reversed = group.split('.').reverse().join('.');
  return `${reversed}.${version}.${kind}`;
}

/** The list definition name for a resource (`io.k8s.api.core.v1.PodList`). */
export function listDefinitionName(r: ResourceInfo): string {
  const name = resourceDefinitionName(r);
  return name.slice(0, name.length - r.kind.length) + r.listKind;
}

/** The URL prefix (without leading slash) of a group/version: `api/v1` or `apis/apps/v1`. */
export function groupVersionPrefix(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** Finds the definition name of a built-in kind, e.g. `autoscaling/v1 Scale` → `io.k8s.api.autoscaling.v1.Scale`. */
export type DefinitionLookup = (gvk: Gvk) => string | undefined;

/** Builds the route groups (one per served group/version, plus the discovery roots) for a set of resources. */
export function buildRoutes(resources: readonly ResourceInfo[], lookup: DefinitionLookup): RouteGroup[] {
  const groups = new Map<string, RouteGroup>();
  const groupOf = (prefix: string): RouteGroup => {
    let g = groups.get(prefix);
    if (!g) groups.set(prefix, (g = { prefix, paths: [] }));
    return g;
  };
  const discovery = (operationId: string, tag: string, schema: string, produces = [JSON_MIME, YAML_MIME]): RouteOperation => ({
    method: 'get',
    operationId,
    tag,
    params: [],
    consumes: produces,
    produces,
    responses: [{ code: '200', description: 'OK', schema: ref(schema) }, { code: '401', description: 'Unauthorized' }],
  });

  groupOf('api').paths.push(path('/api/', [discovery('getCoreAPIVersions', 'core', `${META}.APIVersions`)]));
  groupOf('apis').paths.push(path('/apis/', [discovery('getAPIVersions', 'apis', `${META}.APIGroupList`)]));
  groupOf('version').paths.push(
    path('/version/', [discovery('getCodeVersion', 'version', 'io.k8s.apimachinery.pkg.version.Info', [JSON_MIME])]),
  );

  const byGv = new Map<string, ResourceInfo[]>();
  for (const r of resources) {
    const key = groupVersionPrefix(r.group, r.version);
    if (!byGv.has(key)) byGv.set(key, []);
    byGv.get(key)!.push(r);
  }
  for (const [prefix, rs] of byGv) {
    const { group, version } = rs[0]!;
    const gid = groupId(group);
    const gvId = upperFirst(gid) + toValidOperationId(version, true);
    const tag = `${gid}_${toValidOperationId(version, false)}`;
    if (group) {
      const groupPrefix = `apis/${group}`;
      if (!groups.has(groupPrefix)) {
        groupOf(groupPrefix).paths.push(path(`/${groupPrefix}/`, [discovery(`get${upperFirst(gid)}APIGroup`, gid, `${META}.APIGroup`)]));
      }
    }
    const g = groupOf(prefix);
    g.paths.push(path(`/${prefix}/`, [discovery(`get${gvId}APIResources`, tag, `${META}.APIResourceList`)]));
    for (const r of rs) g.paths.push(...resourcePaths(r, `/${prefix}`, gvId, tag, lookup));
  }
  for (const g of groups.values()) g.paths.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return [...groups.values()];
}

/** The paths of one resource and its subresources. */
function resourcePaths(r: ResourceInfo, base: string, gvId: string, tag: string, lookup: DefinitionLookup): RoutePath[] {
  const verbs = new Set(r.verbs);
  const gvk: Gvk = { group: r.group, version: r.version, kind: r.kind };
  const scope = r.namespaced ? 'Namespaced' : '';
  const nsParam: RouteParam[] = r.namespaced ? [{ name: 'namespace', in: 'path', type: 'string', required: true }] : [];
  const nameParam: RouteParam = { name: 'name', in: 'path', type: 'string', required: true };
  const collection = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
  const item = `${collection}/{name}`;
  const objectRef = ref(resourceDefinitionName(r));
  const listRef = ref(listDefinitionName(r));
  const patchConsumes = r.custom ? CR_PATCH_CONSUMES : PATCH_CONSUMES;
  const op = (o: Omit<RouteOperation, 'tag' | 'gvk' | 'consumes' | 'produces'> & Partial<RouteOperation>): RouteOperation => ({
    tag,
    gvk,
    consumes: ['*/*'],
    produces: OBJECT_PRODUCES,
    ...o,
  });
  const ok = (schema: SchemaNode, ...codes: ('201' | '202')[]): RouteOperation['responses'] => [
    { code: '200', description: 'OK', schema },
    ...codes.map((code) => ({ code, description: code === '201' ? 'Created' : 'Accepted', schema })),
    { code: '401', description: 'Unauthorized' },
  ];
  const name = (verb: string, suffix = ''): string => `${verb}${gvId}${scope}${r.kind}${suffix}`;
  const out: RoutePath[] = [];

  const collectionOps: RouteOperation[] = [];
  if (verbs.has('list')) {
    collectionOps.push(op({ method: 'get', operationId: name('list'), action: 'list', params: [PRETTY, ...LIST_PARAMS], produces: WATCH_PRODUCES, responses: ok(listRef) }));
  }
  if (verbs.has('create')) {
    collectionOps.push(op({ method: 'post', operationId: name('create'), action: 'post', params: [PRETTY, ...WRITE_PARAMS], body: { schema: objectRef, required: true }, responses: ok(objectRef, '201', '202') }));
  }
  if (verbs.has('deletecollection')) {
    collectionOps.push(op({
      method: 'delete',
      operationId: `delete${gvId}Collection${scope}${r.kind}`,
      action: 'deletecollection',
      params: [PRETTY, ...DELETE_COLLECTION_PARAMS],
      body: { schema: ref(`${META}.DeleteOptions`), required: false },
      responses: ok(ref(`${META}.Status`)),
    }));
  }
  if (collectionOps.length) out.push(path(collection, collectionOps, nsParam));

  const itemParams = [nameParam, ...nsParam];
  const itemOps: RouteOperation[] = [];
  if (verbs.has('get')) itemOps.push(op({ method: 'get', operationId: name('read'), action: 'get', params: [PRETTY], responses: ok(objectRef) }));
  if (verbs.has('update')) {
    itemOps.push(op({ method: 'put', operationId: name('replace'), action: 'put', params: [PRETTY, ...WRITE_PARAMS], body: { schema: objectRef, required: true }, responses: ok(objectRef, '201') }));
  }
  if (verbs.has('patch')) {
    itemOps.push(op({ method: 'patch', operationId: name('patch'), action: 'patch', params: [PRETTY, ...PATCH_PARAMS], body: { schema: ref(`${META}.Patch`), required: true }, consumes: patchConsumes, responses: ok(objectRef, '201') }));
  }
  if (verbs.has('delete')) {
    const deleted = DELETE_RETURNS_OBJECT.has(`${r.group}/${r.resource}`) && !r.custom ? objectRef : ref(`${META}.Status`);
    itemOps.push(op({ method: 'delete', operationId: name('delete'), action: 'delete', params: [PRETTY, ...DELETE_PARAMS], body: { schema: ref(`${META}.DeleteOptions`), required: false }, responses: ok(deleted, '202') }));
  }
  if (itemOps.length) out.push(path(item, itemOps, itemParams));

  if (verbs.has('list') && r.namespaced) {
    out.push(path(`${base}/${r.resource}`, [op({ method: 'get', operationId: `list${gvId}${r.kind}ForAllNamespaces`, action: 'list', params: [PRETTY, ...LIST_PARAMS], produces: WATCH_PRODUCES, responses: ok(listRef) })]));
  }
  if (verbs.has('watch')) {
    const watchEvent = ref(`${META}.WatchEvent`);
    const watch = (operationId: string, action: string): RouteOperation =>
      op({ method: 'get', operationId, action, params: [PRETTY, ...LIST_PARAMS], produces: WATCH_PRODUCES, responses: ok(watchEvent) });
    const watchBase = r.namespaced ? `${base}/watch/namespaces/{namespace}/${r.resource}` : `${base}/watch/${r.resource}`;
    out.push(path(watchBase, [watch(name('watch', 'List'), 'watchlist')], nsParam));
    out.push(path(`${watchBase}/{name}`, [watch(name('watch'), 'watch')], itemParams));
    if (r.namespaced) out.push(path(`${base}/watch/${r.resource}`, [watch(`watch${gvId}${r.kind}ListForAllNamespaces`, 'watchlist')]));
  }

  for (const sub of r.subresources) {
    const subPath = `${item}/${sub.name}`;
    const Sub = upperFirst(sub.name);
    const subGvk: Gvk = { group: sub.group, version: sub.version, kind: sub.kind };
    const subVerbs = new Set(sub.verbs);
    // Subresources served with the parent's kind reuse the parent's schema; others (Scale, Eviction, ...) are built-in kinds.
    const sameKind = sub.group === r.group && sub.version === r.version && sub.kind === r.kind;
    const subDefinition = sameKind ? undefined : lookup(subGvk);
    const subRef = subDefinition ? ref(subDefinition) : objectRef;
    const sop = (o: Omit<RouteOperation, 'tag' | 'gvk' | 'consumes' | 'produces'> & Partial<RouteOperation>): RouteOperation => op({ gvk: subGvk, ...o });
    if (subVerbs.has('connect')) {
      const params = CONNECT_PARAMS[sub.name] ?? [];
      const methods = sub.name === 'proxy' ? PROXY_METHODS : (['get', 'post'] as const);
      const connect = (withPath: string): RouteOperation[] =>
        methods.map((m) =>
          sop({ method: m, operationId: `connect${gvId}${upperFirst(m)}${scope}${r.kind}${Sub}${withPath}`, action: 'connect', params, produces: ['*/*'], responses: ok({ type: 'string' }) }),
        );
      out.push(path(subPath, connect(''), itemParams));
      if (sub.name === 'proxy') {
        out.push(path(`${subPath}/{path}`, connect('WithPath'), [...itemParams, { name: 'path', in: 'path', type: 'string', required: true }]));
      }
      continue;
    }
    const ops: RouteOperation[] = [];
    if (sub.name === 'log') {
      ops.push(sop({ method: 'get', operationId: name('read', Sub), action: 'get', params: [PRETTY, ...LOG_PARAMS], produces: ['text/plain', ...OBJECT_PRODUCES], responses: ok({ type: 'string' }) }));
    } else {
      if (subVerbs.has('get')) ops.push(sop({ method: 'get', operationId: name('read', Sub), action: 'get', params: [PRETTY], responses: ok(subRef) }));
      if (subVerbs.has('create')) {
        ops.push(sop({ method: 'post', operationId: name('create', Sub), action: 'post', params: [PRETTY, ...WRITE_PARAMS], body: { schema: subRef, required: true }, responses: ok(subRef, '201', '202') }));
      }
      if (subVerbs.has('update')) {
        ops.push(sop({ method: 'put', operationId: name('replace', Sub), action: 'put', params: [PRETTY, ...WRITE_PARAMS], body: { schema: subRef, required: true }, responses: ok(subRef, '201') }));
      }
      if (subVerbs.has('patch')) {
        ops.push(sop({ method: 'patch', operationId: name('patch', Sub), action: 'patch', params: [PRETTY, ...PATCH_PARAMS], body: { schema: ref(`${META}.Patch`), required: true }, consumes: patchConsumes, responses: ok(subRef, '201') }));
      }
    }
    if (ops.length) out.push(path(subPath, ops, itemParams));
  }
  return out;
}

/**
 * Assembles a path: parameters every operation shares (other than the body)
 * move to the path level, as upstream's OpenAPI builder does; the rest stay
 * on the operation. Parameters are sorted by name.
 */
function path(p: string, operations: RouteOperation[], pathParams: RouteParam[] = []): RoutePath {
  const key = (x: RouteParam): string => `${x.in}:${x.name}`;
  const shared = operations
    .map((o) => new Set(o.params.map(key)))
    .reduce((a, b) => new Set([...a].filter((k) => b.has(k))));
  const first = operations[0]!.params.filter((x) => shared.has(key(x)));
  const byName = (a: RouteParam, b: RouteParam): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.in < b.in ? -1 : 1);
  return {
    path: p,
    params: [...pathParams, ...first].sort(byName),
    operations: operations.map((o) => ({ ...o, params: o.params.filter((x) => !shared.has(key(x))).sort(byName) })),
  };
}
