/**
 * Objects every cluster starts with, created (or brought up to date) at each
 * start: the four system namespaces, the `kubernetes` Service at the first
 * service IP with its Endpoints/EndpointSlice, the `kube-dns` Service at the
 * tenth, the system PriorityClasses and the default RBAC roles.
 */
import { ApiError } from '../api/errors.js';
import { defaultClusterDnsIp, kubeDnsService } from '../dns/kubedns.js';
import type { Registry } from './registry/registry.js';
import type { RequestContext } from './registry/strategy.js';

/** A request context for the API server's own writes. */
export function systemContext(namespace = ''): RequestContext {
  return {
    user: { name: 'system:apiserver', groups: ['system:masters'] },
    namespace,
    dryRun: false,
    fieldManager: 'kube-apiserver',
    warnings: [],
    now: new Date(),
  };
}

async function ensure(registry: Registry, group: string, resource: string, obj: any, update = false): Promise<void> {
  const store = registry.lookup(group, group === '' ? 'v1' : versionOf(group), resource);
  if (!store) return;
  const ns = obj.metadata.namespace ?? '';
  // On a restart the object is already stored: look first, because creating it again would
  // re-run allocation (the `kubernetes` Service's fixed clusterIP is already claimed) and
  // fail with Invalid before the name clash is seen.
  let cur = await store.get(ns, obj.metadata.name).catch((e) => {
    if (e instanceof ApiError && e.reason === 'NotFound') return undefined;
    throw e;
  });
  if (!cur) {
    try {
      await store.create(systemContext(ns), structuredClone(obj));
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
      cur = await store.get(ns, obj.metadata.name);
    }
  }
  if (update) {
    const next = { ...cur, ...structuredClone(obj), metadata: { ...cur.metadata, ...obj.metadata, resourceVersion: undefined } };
    await store.update(systemContext(ns), obj.metadata.name, next);
  }
}

function versionOf(group: string): string {
  return group === 'autoscaling' ? 'v2' : 'v1';
}

/** Creates the built-in objects. `port` is the API server's port. */
export async function bootstrap(registry: Registry, opts: { advertiseAddress: string; port: number }): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    await ensure(registry, '', 'namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const labels = { component: 'apiserver', provider: 'kubernetes' };
  await ensure(registry, '', 'services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels },
    spec: {
      type: 'ClusterIP',
      clusterIP: firstServiceIp(registry),
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: opts.port }],
      sessionAffinity: 'None',
    },
  }, true);
  await ensure(
    registry,
    '',
    'endpoints',
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets: [{ addresses: [{ ip: opts.advertiseAddress }], ports: [{ name: 'https', port: opts.port, protocol: 'TCP' }] }],
    },
    true,
  );
  await ensure(
    registry,
    'discovery.k8s.io',
    'endpointslices',
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [opts.advertiseAddress], conditions: { ready: true } }],
      ports: [{ name: 'https', port: opts.port, protocol: 'TCP' }],
    },
    true,
  );
  // kubeadm's cluster DNS Service at the 10th service address; node agents serve it and publish its endpoints.
  // An older data dir may have given that address to another Service: then there is none (nothing else breaks).
  try {
    await ensure(registry, '', 'services', kubeDnsService(defaultClusterDnsIp(registry.services.cidrText)));
  } catch (e) {
    if (!(e instanceof ApiError && e.reason === 'Invalid')) throw e;
  }
  for (const [name, value] of [
    ['system-node-critical', 2000001000],
    ['system-cluster-critical', 2000000000],
  ] as const) {
    await ensure(registry, 'scheduling.k8s.io', 'priorityclasses', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name },
      value,
      description: `Used for system critical pods that must not be moved from their current ${name === 'system-node-critical' ? 'node' : 'cluster'}.`,
    });
  }
  for (const role of defaultClusterRoles()) await ensure(registry, 'rbac.authorization.k8s.io', 'clusterroles', role);
  await ensure(registry, 'rbac.authorization.k8s.io', 'clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:masters' }],
  });
  for (const name of ['system:basic-user', 'system:public-info-viewer']) {
    await ensure(registry, 'rbac.authorization.k8s.io', 'clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    });
  }
  await ensure(registry, 'rbac.authorization.k8s.io', 'clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'system:discovery', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
  });
}

function firstServiceIp(registry: Registry): string {
  const n = registry.services.ips.first;
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

/** The user-facing default ClusterRoles (cluster-admin, admin, edit, view) and system:discovery. */
function defaultClusterRoles(): any[] {
  const meta = (name: string, extra: Record<string, string> = {}) => ({
    name,
    labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...extra },
    annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
  });
  const role = (name: string, rules: any[], extra: Record<string, string> = {}) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(name, extra),
    rules,
  });
  const workloads = [
    { apiGroups: [''], resources: ['pods', 'pods/log', 'pods/status', 'services', 'endpoints', 'configmaps', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'events', 'limitranges', 'resourcequotas', 'podtemplates'] },
    { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale', 'daemonsets', 'controllerrevisions'] },
    { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] },
    { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'] },
    { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'networkpolicies'] },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'] },
  ];
  return [
    role('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    role('view', [...workloads.map((r) => ({ ...r, verbs: READ })), { apiGroups: [''], resources: ['namespaces'], verbs: READ }, { apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: READ }], {
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
    }),
    role('edit', [
      ...workloads.map((r) => ({ ...r, verbs: [...READ, ...WRITE] })),
      { apiGroups: [''], resources: ['secrets'], verbs: [...READ, ...WRITE] },
      { apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: READ },
      { apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: READ },
    ], { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' }),
    role('admin', [
      ...workloads.map((r) => ({ ...r, verbs: [...READ, ...WRITE] })),
      { apiGroups: [''], resources: ['secrets'], verbs: [...READ, ...WRITE] },
      { apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], verbs: ['create', 'get'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: [...READ, ...WRITE] },
      { apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: READ },
      { apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: READ },
    ]),
    role('system:basic-user', [
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    role('system:public-info-viewer', [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
    // What metrics-server installs: read access to metrics.k8s.io for everyone with view, edit or admin (kubectl top).
    role('system:aggregated-metrics-reader', [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: READ }], {
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    }),
    role('system:discovery', [
      { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'], verbs: ['get'] },
    ]),
  ];
}
