/**
 * The resource registry: every REST resource Kite serves, built-in ones from
 * the generated upstream data plus the facts the spec does not carry (short
 * names, categories), and custom resources added at run time from CRDs.
 */
import { generatedResources, type GeneratedSubresource } from './generated/resources.js';
import type { SchemaNode } from './schema.js';

/** Everything the API server needs to know about one resource in one group/version. */
export interface ResourceInfo {
  group: string;
  version: string;
  /** Plural lowercase name used in URLs, e.g. `deployments`. */
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  verbs: readonly string[];
  shortNames: readonly string[];
  categories: readonly string[];
  subresources: readonly GeneratedSubresource[];
  /** Root schema of the object (a `$ref` into the built-in definitions, or a CRD's schema). */
  schema?: SchemaNode;
  /** True for resources defined by a CustomResourceDefinition. */
  custom?: boolean;
  /** The version objects are stored in, when it is not `version` (they are converted on every read and write). */
  storageVersion?: string;
}

/** group/version strings whose resources Kite serves, in discovery order (upstream's group priority order). */
export const SERVED_GROUP_VERSIONS: readonly string[] = [
  'v1',
  'apps/v1',
  'events.k8s.io/v1',
  'authentication.k8s.io/v1',
  'authorization.k8s.io/v1',
  'autoscaling/v2',
  'autoscaling/v1',
  'batch/v1',
  'networking.k8s.io/v1',
  'policy/v1',
  'rbac.authorization.k8s.io/v1',
  'storage.k8s.io/v1',
  'apiextensions.k8s.io/v1',
  'scheduling.k8s.io/v1',
  'coordination.k8s.io/v1',
  'discovery.k8s.io/v1',
];

/** Upstream short names (from each resource's ShortNamesProvider). */
const SHORT_NAMES: Record<string, string[]> = {
  '/pods': ['po'],
  '/services': ['svc'],
  '/endpoints': ['ep'],
  '/configmaps': ['cm'],
  '/serviceaccounts': ['sa'],
  '/persistentvolumes': ['pv'],
  '/persistentvolumeclaims': ['pvc'],
  '/nodes': ['no'],
  '/events': ['ev'],
  '/resourcequotas': ['quota'],
  '/limitranges': ['limits'],
  '/namespaces': ['ns'],
  '/replicationcontrollers': ['rc'],
  'apps/deployments': ['deploy'],
  'apps/replicasets': ['rs'],
  'apps/statefulsets': ['sts'],
  'apps/daemonsets': ['ds'],
  'batch/cronjobs': ['cj'],
  'autoscaling/horizontalpodautoscalers': ['hpa'],
  'networking.k8s.io/ingresses': ['ing'],
  'networking.k8s.io/networkpolicies': ['netpol'],
  'policy/poddisruptionbudgets': ['pdb'],
  'scheduling.k8s.io/priorityclasses': ['pc'],
  'storage.k8s.io/storageclasses': ['sc'],
  'apiextensions.k8s.io/customresourcedefinitions': ['crd', 'crds'],
  'events.k8s.io/events': ['ev'],
};

/** Upstream categories (from each resource's CategoriesProvider). */
const CATEGORIES: Record<string, string[]> = {
  '/pods': ['all'],
  '/services': ['all'],
  '/replicationcontrollers': ['all'],
  'apps/deployments': ['all'],
  'apps/replicasets': ['all'],
  'apps/statefulsets': ['all'],
  'apps/daemonsets': ['all'],
  'batch/jobs': ['all'],
  'batch/cronjobs': ['all'],
  'autoscaling/horizontalpodautoscalers': ['all'],
  'apiextensions.k8s.io/customresourcedefinitions': ['api-extensions'],
};

/** Resources present in the spec that Kite does not serve. */
const NOT_SERVED = new Set(['/componentstatuses']);

/** The built-in resources Kite serves, in discovery order. */
export function builtinResources(): ResourceInfo[] {
  const out: ResourceInfo[] = [];
  for (const gv of SERVED_GROUP_VERSIONS) {
    const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv];
    for (const r of generatedResources) {
      if (r.group !== group || r.version !== version) continue;
      const key = `${group}/${r.resource}`;
      if (NOT_SERVED.has(key)) continue;
      out.push({
        group,
        version,
        resource: r.resource,
        kind: r.kind,
        listKind: `${r.kind}List`,
        singular: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        verbs: r.verbs,
        shortNames: SHORT_NAMES[key] ?? [],
        categories: CATEGORIES[key] ?? [],
        subresources: r.subresources,
        schema: r.definition ? { $ref: `#/definitions/${r.definition}` } : undefined,
      });
    }
  }
  return out;
}

/**
 * Orders versions by upstream's version priority (CompareKubeAwareVersionStrings):
 * GA before beta before alpha, higher numbers first, and names that are not
 * Kubernetes versions last, alphabetically. Negative when `a` comes first.
 */
export function compareKubeAwareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    return { major: Number(m[1]), level: m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, minor: m[3] ? Number(m[3]) : 0 };
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) {
    if (pa) return -1;
    if (pb) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (pa.level !== pb.level) return pb.level - pa.level;
  if (pa.major !== pb.major) return pb.major - pa.major;
  return pb.minor - pa.minor;
}

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}
