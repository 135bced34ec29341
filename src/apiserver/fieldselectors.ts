/**
 * Which field selectors each resource accepts and what an object's field set
 * is, as upstream 1.32 has them: the field label conversion funcs registered
 * per kind (pkg/apis/<group>/<version>/conversion.go, or
 * runtime.DefaultMetaV1FieldSelectorConversion where none is registered), and
 * the registries' GetAttrs/ToSelectableFields (pkg/registry/...).
 *
 * Labels are converted to upstream's internal names (Pod `spec.host` →
 * `spec.nodeName`, events.k8s.io `regarding.*` → `involvedObject.*`); the
 * field sets carry both spellings where they differ, so a selector matches
 * whether or not it went through `convertFieldSelector`.
 */
import { errors } from '../api/errors.js';
import { transformFieldSelector, type FieldSelector } from '../api/fields.js';

/** What a custom resource contributes (from its CRD): its scope and the version's `selectableFields` JSON paths. */
export interface CustomResourceFields {
  namespaced: boolean;
  /** `selectableFields[].jsonPath` of the served version, e.g. `.spec.color`. */
  selectableFields?: readonly string[];
}

/** Computes the field set of one object. */
export type FieldsFunc = (obj: any) => Record<string, string>;

interface FieldSupport {
  /** Accepted label → upstream's internal label. */
  readonly labels: ReadonlyMap<string, string>;
  /** Upstream's error text for a label the resource does not accept. */
  unsupported(label: string): string;
  fields: FieldsFunc;
}

const NAME = 'metadata.name';
const NAMESPACE = 'metadata.namespace';

const s = (v: unknown): string => (typeof v === 'string' ? v : '');

/** generic.ObjectMetaFieldsSet. */
function metaFields(obj: any, namespaced: boolean): Record<string, string> {
  const md = obj?.metadata;
  return namespaced ? { [NAME]: s(md?.name), [NAMESPACE]: s(md?.namespace) } : { [NAME]: s(md?.name) };
}

function identity(labels: readonly string[]): Map<string, string> {
  return new Map(labels.map((l) => [l, l]));
}

const notSupported = (label: string): string => `field label not supported: ${label}`;

/** runtime.DefaultMetaV1FieldSelectorConversion: name and namespace, for namespaced and cluster-scoped kinds alike. */
const DEFAULT_SUPPORT: FieldSupport = {
  labels: identity([NAME, NAMESPACE]),
  unsupported: (label) => `${JSON.stringify(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
  // A cluster-scoped object's namespace is "", which is what upstream's missing field reads as.
  fields: (obj) => metaFields(obj, true),
};

/** Core and events.k8s.io Events share upstream's storage; read either shape into the internal field names. */
function eventFields(obj: any, withEventsV1Aliases: boolean): Record<string, string> {
  const ref = obj?.involvedObject ?? obj?.regarding ?? {};
  const reporting = s(obj?.reportingComponent) || s(obj?.reportingController);
  const f: Record<string, string> = {
    'involvedObject.kind': s(ref.kind),
    'involvedObject.namespace': s(ref.namespace),
    'involvedObject.name': s(ref.name),
    'involvedObject.uid': s(ref.uid),
    'involvedObject.apiVersion': s(ref.apiVersion),
    'involvedObject.resourceVersion': s(ref.resourceVersion),
    'involvedObject.fieldPath': s(ref.fieldPath),
    reason: s(obj?.reason),
    reportingComponent: reporting,
    // pkg/registry/core/event: source falls back to the reporting controller.
    source: s((obj?.source ?? obj?.deprecatedSource)?.component) || reporting,
    type: s(obj?.type),
    ...metaFields(obj, true),
  };
  if (withEventsV1Aliases) {
    for (const k of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) {
      f[`regarding.${k}`] = f[`involvedObject.${k}`];
    }
    f.reportingController = reporting;
  }
  return f;
}

const EVENT_LABELS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
  NAMESPACE,
  NAME,
];

/** Built-in resources with their own conversion func, keyed `group/resource`. */
const SUPPORT: ReadonlyMap<string, FieldSupport> = new Map<string, FieldSupport>([
  [
    '/pods',
    {
      labels: new Map([
        ...identity([
          NAME,
          NAMESPACE,
          'spec.nodeName',
          'spec.restartPolicy',
          'spec.schedulerName',
          'spec.serviceAccountName',
          'spec.hostNetwork',
          'status.phase',
          'status.podIP',
          'status.podIPs',
          'status.nominatedNodeName',
        ]),
        // Backwards compatibility with old v1 clients that send spec.host.
        ['spec.host', 'spec.nodeName'],
      ]),
      unsupported: notSupported,
      fields: (pod) => {
        const spec = pod?.spec ?? {};
        const status = pod?.status ?? {};
        // Upstream reads the first of status.podIPs (v1 status.podIP mirrors it); status.podIPs itself
        // is accepted but not in the set, so it reads as "".
        const podIP = s(status.podIPs?.[0]?.ip) || s(status.podIP);
        const nodeName = s(spec.nodeName);
        return {
          'spec.nodeName': nodeName,
          'spec.host': nodeName,
          'spec.restartPolicy': s(spec.restartPolicy),
          'spec.schedulerName': s(spec.schedulerName),
          'spec.serviceAccountName': s(spec.serviceAccountName),
          'spec.hostNetwork': spec.hostNetwork === true ? 'true' : 'false',
          'status.phase': s(status.phase),
          'status.podIP': podIP,
          'status.nominatedNodeName': s(status.nominatedNodeName),
          ...metaFields(pod, true),
        };
      },
    },
  ],
  [
    '/nodes',
    {
      // Node's conversion func does not accept metadata.namespace.
      labels: identity([NAME, 'spec.unschedulable']),
      unsupported: notSupported,
      fields: (node) => ({ ...metaFields(node, false), 'spec.unschedulable': node?.spec?.unschedulable === true ? 'true' : 'false' }),
    },
  ],
  [
    '/replicationcontrollers',
    {
      labels: identity([NAME, NAMESPACE, 'status.replicas']),
      unsupported: notSupported,
      fields: (rc) => ({ ...metaFields(rc, true), 'status.replicas': String(rc?.status?.replicas ?? 0) }),
    },
  ],
  ['/events', { labels: identity(EVENT_LABELS), unsupported: notSupported, fields: (ev) => eventFields(ev, false) }],
  [
    '/namespaces',
    {
      labels: identity(['status.phase', NAME]),
      unsupported: notSupported,
      fields: (ns) => ({ ...metaFields(ns, false), 'status.phase': s(ns?.status?.phase) }),
    },
  ],
  [
    '/secrets',
    {
      labels: identity(['type', NAMESPACE, NAME]),
      unsupported: notSupported,
      fields: (secret) => ({ ...metaFields(secret, true), type: s(secret?.type) }),
    },
  ],
  [
    '/services',
    {
      labels: identity([NAMESPACE, NAME, 'spec.clusterIP', 'spec.type']),
      unsupported: notSupported,
      fields: (svc) => ({ ...metaFields(svc, true), 'spec.clusterIP': s(svc?.spec?.clusterIP), 'spec.type': s(svc?.spec?.type) }),
    },
  ],
  [
    'events.k8s.io/events',
    {
      // pkg/apis/events/v1: the events.k8s.io names map onto the core field set; the core spellings are not accepted.
      labels: new Map([
        ['reason', 'reason'],
        ['regarding.kind', 'involvedObject.kind'],
        ['regarding.namespace', 'involvedObject.namespace'],
        ['regarding.name', 'involvedObject.name'],
        ['regarding.uid', 'involvedObject.uid'],
        ['regarding.apiVersion', 'involvedObject.apiVersion'],
        ['regarding.resourceVersion', 'involvedObject.resourceVersion'],
        ['regarding.fieldPath', 'involvedObject.fieldPath'],
        ['reportingController', 'reportingComponent'],
        ['source', 'source'],
        ['type', 'type'],
        [NAMESPACE, NAMESPACE],
        [NAME, NAME],
      ]),
      unsupported: notSupported,
      fields: (ev) => eventFields(ev, true),
    },
  ],
  [
    'batch/jobs',
    {
      labels: identity([NAME, NAMESPACE, 'status.successful']),
      unsupported: (label) => `field label ${JSON.stringify(label)} not supported for batchv1.Job`,
      fields: (job) => ({ ...metaFields(job, true), 'status.successful': String(job?.status?.succeeded ?? 0) }),
    },
  ],
  [
    'certificates.k8s.io/certificatesigningrequests',
    {
      labels: identity([NAME, 'spec.signerName']),
      unsupported: notSupported,
      fields: (csr) => ({ ...metaFields(csr, false), 'spec.signerName': s(csr?.spec?.signerName) }),
    },
  ],
]);

/** Splits a CRD selectableFields JSON path (`.spec.a`, `.spec['a.b']`) into property names. */
function jsonPathSegments(path: string): string[] {
  const segs: string[] = [];
  const re = /\.([^.[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) segs.push(m[1] ?? m[2] ?? m[3]);
  return segs;
}

/** Custom resources: name, namespace when namespaced, and the CRD's selectable fields (apiextensions crConverter). */
function customSupport(custom: CustomResourceFields): FieldSupport {
  const accepted = custom.namespaced ? [NAME, NAMESPACE] : [NAME];
  const selectable = (custom.selectableFields ?? []).map((p) => ({ name: p.replace(/^\./, ''), segs: jsonPathSegments(p) }));
  return {
    labels: identity([...accepted, ...selectable.map((f) => f.name)]),
    unsupported: notSupported,
    fields: (obj) => {
      const f = metaFields(obj, custom.namespaced);
      for (const { name, segs } of selectable) {
        let v: any = obj;
        for (const seg of segs) v = v == null ? undefined : v[seg];
        // Go's fmt.Sprint of the value; selectable fields are strings, integers or booleans.
        f[name] = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
      }
      return f;
    },
  };
}

function supportFor(group: string, resource: string, custom?: CustomResourceFields): FieldSupport {
  if (custom) return customSupport(custom);
  return SUPPORT.get(`${group}/${resource}`) ?? DEFAULT_SUPPORT;
}

/**
 * Upstream's Transform with the resource's field label conversion: every term
 * must name a field the resource supports; legacy names are rewritten to the
 * internal ones. Throws ApiError BadRequest with upstream's text (e.g.
 * `field label not supported: spec.foo`) for the first unsupported term.
 */
export function convertFieldSelector(group: string, resource: string, sel: FieldSelector, custom?: CustomResourceFields): FieldSelector {
  if (sel.empty()) return sel;
  const support = supportFor(group, resource, custom);
  return transformFieldSelector(sel, (label, value) => {
    const internal = support.labels.get(label);
    if (internal === undefined) throw errors.badRequest(support.unsupported(label));
    return { field: internal, value };
  });
}

/** Throws ApiError BadRequest with upstream text (`field label not supported: <x>`) if the selector uses a field the resource does not support. */
export function checkFieldSelector(group: string, resource: string, sel: FieldSelector, custom?: CustomResourceFields): void {
  convertFieldSelector(group, resource, sel, custom);
}

/** The field-set function of a resource, looked up once (for the watch path, which calls it per event). */
export function fieldsFunc(group: string, resource: string, custom?: CustomResourceFields): FieldsFunc {
  return supportFor(group, resource, custom).fields;
}

/** Field set of an object for field-selector matching. */
export function objectFields(group: string, resource: string, obj: any, custom?: CustomResourceFields): Record<string, string> {
  return supportFor(group, resource, custom).fields(obj);
}
