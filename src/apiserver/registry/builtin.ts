/**
 * Strategies of the built-in resources: what each kind does beyond the
 * generic store (upstream's pkg/registry/<group>/<resource>/strategy.go).
 */
import { ApiError, errors, field } from '../../api/errors.js';
import type { Strategy } from './strategy.js';
import type { CustomResourceDefinition, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, Secret } from '../../api/generated/types.js';
import { parseQuantity, type Quantity } from '../../api/quantity.js';
import { deepEqual } from '../../util/json.js';
import { NODE_PORT_RANGE, RangeAllocator, ipToNumber, numberToIp, parseCidr, serviceIpAllocator } from './ipalloc.js';

/** Resources whose metadata.generation follows spec changes. */
const TRACK_GENERATION = new Set([
  'apps/deployments',
  'apps/replicasets',
  'apps/statefulsets',
  'apps/daemonsets',
  'batch/jobs',
  'batch/cronjobs',
  '/replicationcontrollers',
  'autoscaling/horizontalpodautoscalers',
  'policy/poddisruptionbudgets',
  'networking.k8s.io/ingresses',
  'networking.k8s.io/networkpolicies',
  'apiextensions.k8s.io/customresourcedefinitions',
  // upstream endpointslice strategy: generation moves when endpoints, ports or addressType change.
  'discovery.k8s.io/endpointslices',
]);

/** Resources that accept PUT of an object that does not exist yet. */
const CREATE_ON_UPDATE = new Set(['/events', 'events.k8s.io/events', '/endpoints', 'discovery.k8s.io/endpointslices', 'coordination.k8s.io/leases']);

/** upstream qos.GetPodQOS: Guaranteed, Burstable or BestEffort. */
export function podQosClass(pod: any): string {
  const containers = [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])];
  // Sums per resource over all containers; only cpu and memory count, and only positive amounts.
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  const add = (into: Map<string, Quantity>, list: Record<string, unknown> | undefined, found?: Set<string>) => {
    for (const [name, v] of Object.entries(list ?? {})) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const q = quantityOrUndefined(v);
      if (!q || q.cmp(ZERO) <= 0) continue;
      found?.add(name);
      const cur = into.get(name);
      into.set(name, cur ? cur.add(q) : q);
    }
  };
  let guaranteed = true;
  for (const c of containers) {
    add(requests, c?.resources?.requests);
    const found = new Set<string>();
    add(limits, c?.resources?.limits, found);
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (!lim || lim.cmp(req) !== 0) guaranteed = false;
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

const ZERO = parseQuantity('0');

function quantityOrUndefined(v: unknown): Quantity | undefined {
  try {
    return typeof v === 'string' || typeof v === 'number' ? parseQuantity(v) : undefined;
  } catch {
    return undefined;
  }
}

/** upstream DefaultTolerationSeconds admission: the taints a pod tolerates for 300 s unless it says otherwise. */
const DEFAULT_TOLERATION_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];
const DEFAULT_TOLERATION_SECONDS = 300;

/** Admission defaults of a new pod: upstream's ServiceAccount (without the token volume) and DefaultTolerationSeconds plugins. */
export function admitPod(pod: any): void {
  const spec = (pod.spec ??= {});
  // ServiceAccount admission: mirror pods (static pods the kubelet reports) get no service account.
  if (!pod.metadata?.annotations?.['kubernetes.io/config.mirror']) {
    if (!spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount || 'default';
    // v1 conversion keeps the deprecated field equal to serviceAccountName.
    spec.serviceAccount = spec.serviceAccountName;
  }
  const tolerations: any[] = spec.tolerations ?? [];
  for (const key of DEFAULT_TOLERATION_TAINTS) {
    // A toleration with this key (or an empty key) and effect NoExecute (or any effect) already covers the taint.
    const covered = tolerations.some((t) => (!t?.key || t.key === key) && (!t?.effect || t.effect === 'NoExecute'));
    if (!covered) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS });
  }
  if (tolerations.length) spec.tolerations = tolerations;
}

const podStrategy = {
  prepareForCreate(pod) {
    admitPod(pod);
    pod.status = { phase: 'Pending', qosClass: podQosClass(pod) };
  },
  gracePeriod(pod, requested) {
    // upstream pod CheckGracefulDelete: unscheduled or finished pods go at once.
    if (!pod.spec?.nodeName) return 0;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 0;
    if (requested !== undefined) return Math.max(0, requested);
    return pod.spec?.terminationGracePeriodSeconds ?? 30;
  },
} satisfies Strategy<Pod>;

/** upstream PodDisruptionBudget PrepareForCreate: a new budget starts with an all-zero status (it allows no disruption until counted). */
const pdbStrategy: Strategy = {
  prepareForCreate(pdb) {
    pdb.status = { currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 };
  },
};

/** Namespaces that may not be deleted (upstream NamespaceLifecycle's immortal namespaces). */
const IMMORTAL_NAMESPACES = ['default', 'kube-system', 'kube-public'];

const namespaceStrategy = {
  prepareForCreate(ns) {
    ns.status = { phase: 'Active' };
    ns.spec = { ...(ns.spec ?? {}), finalizers: ['kubernetes'] };
  },
  // NamespaceLifecycle admission: the namespaces the system relies on are immortal.
  validateDelete(ns) {
    const name = ns.metadata?.name ?? '';
    if (IMMORTAL_NAMESPACES.includes(name)) {
      throw errors.forbidden({ group: '', resource: 'namespaces' }, name, 'this namespace may not be deleted');
    }
  },
  // spec.finalizers change only through the finalize subresource (upstream namespace strategy).
  prepareForUpdate(ns, old, _ctx, subresource) {
    if (subresource !== 'finalize') {
      if (old.spec?.finalizers) ns.spec = { ...(ns.spec ?? {}), finalizers: old.spec.finalizers };
      else if (ns.spec) delete ns.spec.finalizers;
    }
  },
  // spec.finalizers (the namespace controller's "kubernetes") hold a deleting namespace until its content is gone.
  holdsDeletion: (ns) => (ns.spec?.finalizers?.length ?? 0) > 0,
  markDeleting(ns) {
    ns.status = { ...(ns.status ?? {}), phase: 'Terminating' };
  },
} satisfies Strategy<Namespace>;

/** upstream v1 Secret conversion: stringData is write-only and merged into data (its keys win). */
function mergeStringData(secret: any): void {
  if (!secret || secret.stringData === undefined) return;
  const data: Record<string, string> = { ...(secret.data ?? {}) };
  for (const [k, v] of Object.entries((secret.stringData ?? {}) as Record<string, unknown>)) data[k] = Buffer.from(String(v)).toString('base64');
  secret.data = data;
  delete secret.stringData;
}

const secretStrategy = {
  prepareForCreate: (secret) => mergeStringData(secret),
  prepareForUpdate: (secret) => mergeStringData(secret),
} satisfies Strategy<Secret>;

/** Where apps/v1 keeps a DaemonSet's template generation (upstream appsv1.DeprecatedTemplateGeneration). */
export const DAEMONSET_TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

function templateGeneration(ds: any): number {
  const n = Number(ds?.metadata?.annotations?.[DAEMONSET_TEMPLATE_GENERATION_ANNOTATION]);
  return Number.isInteger(n) ? n : 0;
}

function setTemplateGeneration(ds: any, n: number): void {
  const md = (ds.metadata ??= {});
  md.annotations = { ...(md.annotations ?? {}), [DAEMONSET_TEMPLATE_GENERATION_ANNOTATION]: String(n) };
}

/**
 * upstream daemonset strategy: spec.templateGeneration starts at 1 and grows
 * by one with every template change; clients cannot set it. apps/v1 carries
 * it in an annotation, which the DaemonSet controller copies into its pods'
 * `pod-template-generation` label.
 */
const daemonSetStrategy: Strategy = {
  prepareForCreate(ds) {
    setTemplateGeneration(ds, Math.max(1, templateGeneration(ds)));
  },
  prepareForUpdate(ds, old) {
    const gen = templateGeneration(old);
    setTemplateGeneration(ds, deepEqual(ds.spec?.template, old.spec?.template) ? gen : gen + 1);
  },
};

const nodeStrategy: Strategy = {
  keepStatusOnCreate: true,
};

const pvStrategy = {
  prepareForCreate(pv) {
    pv.status = { phase: 'Pending' };
  },
} satisfies Strategy<PersistentVolume>;

/** The annotation that marks the default StorageClass (upstream storageutil.IsDefaultAnnotation). */
export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

/** upstream GetDefaultClass: of the classes marked default, the newest (then the first by name); undefined if none. */
export function pickDefaultStorageClass(classes: readonly any[]): string | undefined {
  const defaults = classes.filter((c) => c?.metadata?.annotations?.[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true');
  defaults.sort(
    (a, b) =>
      (Date.parse(b.metadata.creationTimestamp ?? '') || 0) - (Date.parse(a.metadata.creationTimestamp ?? '') || 0) ||
      String(a.metadata.name).localeCompare(String(b.metadata.name)),
  );
  return defaults[0]?.metadata?.name;
}

/** PVCs; `defaultStorageClass` (the DefaultStorageClass admission) names the class a claim without one gets. */
function pvcStrategy(defaultStorageClass?: () => string | undefined): Strategy<PersistentVolumeClaim> {
  return {
    prepareForCreate(pvc) {
      // DefaultStorageClass admission: only an absent storageClassName is defaulted ("" asks for no class).
      if (pvc.spec && (pvc.spec.storageClassName === undefined || pvc.spec.storageClassName === null)) {
        const name = defaultStorageClass?.();
        if (name) pvc.spec.storageClassName = name;
      }
      pvc.status = { phase: 'Pending' };
    },
  };
}

/** upstream CRD strategy: the storage version is always among status.storedVersions. */
function addStoredVersion(crd: any): void {
  const storage = (crd.spec?.versions ?? []).find((v: any) => v?.storage)?.name;
  crd.status ??= {};
  const stored: string[] = crd.status.storedVersions ?? [];
  if (storage && !stored.includes(storage)) crd.status.storedVersions = [...stored, storage];
}

const crdStrategy = {
  prepareForCreate(crd) {
    crd.status = {};
    addStoredVersion(crd);
  },
  prepareForUpdate(crd) {
    addStoredVersion(crd);
  },
  prepareForStatusUpdate(crd) {
    addStoredVersion(crd);
  },
  // upstream CRD REST Delete: the first DELETE only marks the CRD (Terminating, with the
  // customresourcecleanup finalizer); the CRD goes once its custom objects are deleted.
  holdsDeletion: (crd) => !crd.metadata?.deletionTimestamp,
  markDeleting(crd) {
    const m = (crd.metadata ??= {});
    if (!(m.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) m.finalizers = [...(m.finalizers ?? []), CRD_CLEANUP_FINALIZER];
    crd.status ??= {};
    const conditions = (crd.status.conditions ?? []).filter((c: any) => c.type !== 'Terminating');
    conditions.push({
      type: 'Terminating',
      status: 'True',
      lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reason: 'InstanceDeletionPending',
      message: 'CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon',
    });
    crd.status.conditions = conditions;
  },
} satisfies Strategy<CustomResourceDefinition>;

/** The finalizer that holds a deleting CRD until its custom objects are gone (upstream's name). */
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** Service cluster IP and node port allocation. */
export class ServiceAllocator {
  readonly ips: RangeAllocator;
  readonly nodePorts = new RangeAllocator(NODE_PORT_RANGE.first, NODE_PORT_RANGE.last);
  readonly cidrText: string;

  constructor(serviceCidr: string) {
    const cidr = parseCidr(serviceCidr);
    this.ips = serviceIpAllocator(cidr);
    this.cidrText = serviceCidr;
  }

  /** Marks what an existing (stored) Service holds. */
  restore(svc: any): void {
    const ip = ipToNumber(svc?.spec?.clusterIP ?? '');
    if (ip !== undefined && this.ips.contains(ip)) this.ips.claim(ip);
    for (const p of svc?.spec?.ports ?? []) if (p?.nodePort) this.nodePorts.claim(p.nodePort);
  }

  /** The strategy that allocates for Services. */
  strategy(): Strategy {
    return {
      allocate: (svc, old) => this.allocate(svc, old),
      release: (svc) => this.release(svc),
      prepareForUpdate(svc, old) {
        dropTypeDependentFields(svc, old);
        // clusterIP is immutable; an update that omits it keeps the allocated one (upstream).
        if (old.spec?.clusterIP && svc.spec && (svc.spec.clusterIP === undefined || svc.spec.clusterIP === '')) {
          svc.spec.clusterIP = old.spec.clusterIP;
          if (old.spec.clusterIPs && !svc.spec.clusterIPs) svc.spec.clusterIPs = old.spec.clusterIPs;
        }
        const oldPorts: any[] = old.spec?.ports ?? [];
        for (const p of svc.spec?.ports ?? []) {
          if (p.nodePort) continue;
          const same = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP') && o.nodePort);
          if (same && needsNodePorts(svc)) p.nodePort = same.nodePort;
        }
      },
    };
  }

  private allocate(svc: any, old: any | undefined): () => void {
    const claimed: { ip?: number; ports: number[] } = { ports: [] };
    const undo = () => {
      if (claimed.ip !== undefined) this.ips.release(claimed.ip);
      for (const p of claimed.ports) this.nodePorts.release(p);
    };
    const spec = (svc.spec ??= {});
    try {
      if (spec.type !== 'ExternalName' && spec.clusterIP !== 'None') {
        const oldIp = old?.spec?.clusterIP;
        if (!oldIp || oldIp === 'None') {
          if (spec.clusterIP) {
            const n = ipToNumber(spec.clusterIP);
            if (n === undefined || !this.ips.contains(n)) {
              throw invalidIp(svc, spec.clusterIP, `the provided IP (${spec.clusterIP}) is not in the valid range. The range of valid IPs is ${this.cidrText}`);
            }
            if (!this.ips.claim(n)) throw invalidIp(svc, spec.clusterIP, 'provided IP is already allocated');
            claimed.ip = n;
          } else {
            const n = this.ips.next();
            if (n === undefined) throw errors.internal(new Error('range is full'));
            claimed.ip = n;
            spec.clusterIP = numberToIp(n);
          }
          spec.clusterIPs = [spec.clusterIP];
        }
      }
      if (needsNodePorts(svc)) {
        const oldPorts = new Set<number>((old?.spec?.ports ?? []).map((p: any) => p.nodePort).filter(Boolean));
        (spec.ports ?? []).forEach((p: any, i: number) => {
          if (p.nodePort) {
            if (oldPorts.has(p.nodePort)) return;
            if (!this.nodePorts.contains(p.nodePort)) {
              throw errors.invalid('', 'Service', svc.metadata.name, [
                field.invalid(`spec.ports[${i}].nodePort`, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.first}-${NODE_PORT_RANGE.last}`),
              ]);
            }
            if (!this.nodePorts.claim(p.nodePort)) {
              throw errors.invalid('', 'Service', svc.metadata.name, [field.invalid(`spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated')]);
            }
            claimed.ports.push(p.nodePort);
          } else {
            const n = this.nodePorts.next();
            if (n === undefined) throw errors.internal(new Error('node port range is full'));
            claimed.ports.push(n);
            p.nodePort = n;
          }
        });
      }
      if (old) {
        // Ports no longer used by the updated Service go back to the pool.
        const now = new Set<number>((spec.ports ?? []).map((p: any) => p.nodePort).filter(Boolean));
        const gone: number[] = (old.spec?.ports ?? []).map((p: any) => p.nodePort).filter((p: number) => p && !now.has(p));
        for (const p of gone) this.nodePorts.release(p);
        return () => {
          undo();
          // The write failed: the old object still holds these ports.
          for (const p of gone) this.nodePorts.claim(p);
        };
      }
    } catch (e) {
      undo();
      throw e;
    }
    return undo;
  }

  private release(svc: any): void {
    const n = ipToNumber(svc?.spec?.clusterIP ?? '');
    if (n !== undefined) this.ips.release(n);
    for (const p of svc?.spec?.ports ?? []) if (p?.nodePort) this.nodePorts.release(p.nodePort);
  }
}

/**
 * Upstream's dropTypeDependentFields: when an update changes a Service's
 * type, fields that only the old type uses are cleared — but only where the
 * client left them as they were (a value the client set on purpose is
 * validated, and refused if wrong). So `type: ClusterIP` on a LoadBalancer
 * drops its node ports and external traffic policy instead of failing.
 */
function dropTypeDependentFields(svc: any, old: any): void {
  const spec = svc.spec;
  const was = old.spec ?? {};
  if (!spec || (spec.type ?? 'ClusterIP') === (was.type ?? 'ClusterIP')) return;
  if (!needsNodePorts(svc)) {
    for (const p of spec.ports ?? []) {
      const before = (was.ports ?? []).find((o: any) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (p.nodePort !== undefined && before?.nodePort === p.nodePort) delete p.nodePort;
    }
  }
  if (spec.type !== 'LoadBalancer') {
    for (const k of ['healthCheckNodePort', 'allocateLoadBalancerNodePorts', 'loadBalancerClass'] as const) {
      if (spec[k] !== undefined && spec[k] === was[k]) delete spec[k];
    }
  }
  const external = needsNodePorts(svc) || (spec.externalIPs ?? []).length > 0;
  if (!external && spec.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy === was.externalTrafficPolicy) delete spec.externalTrafficPolicy;
}

function needsNodePorts(svc: any): boolean {
  return svc?.spec?.type === 'NodePort' || svc?.spec?.type === 'LoadBalancer';
}

function invalidIp(svc: any, ip: string, why: string): ApiError {
  return errors.invalid('', 'Service', svc.metadata?.name ?? '', [field.invalid('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: ${why}`)]);
}

/** The strategy for a built-in resource (group '' is core). */
export function builtinStrategy(
  group: string,
  resource: string,
  extra: { services?: ServiceAllocator; jobSelector?: (job: any) => void; defaultStorageClass?: () => string | undefined },
): Strategy {
  const key = `${group}/${resource}`;
  let s: Strategy = {};
  switch (key) {
    case '/pods':
      s = { ...podStrategy, returnDeletedObject: true };
      break;
    case '/namespaces':
      s = { ...namespaceStrategy, returnDeletedObject: true };
      break;
    case '/secrets':
      s = secretStrategy;
      break;
    case '/nodes':
      s = nodeStrategy;
      break;
    case '/persistentvolumes':
      s = pvStrategy;
      break;
    case '/persistentvolumeclaims':
      s = pvcStrategy(extra.defaultStorageClass);
      break;
    case '/services':
      s = { ...(extra.services?.strategy() ?? {}), returnDeletedObject: true };
      break;
    case 'apiextensions.k8s.io/customresourcedefinitions':
      s = crdStrategy;
      break;
    case 'batch/jobs':
      s = { prepareForCreate: (job) => extra.jobSelector?.(job) };
      break;
    case 'policy/poddisruptionbudgets':
      s = pdbStrategy;
      break;
    case 'apps/daemonsets':
      s = daemonSetStrategy;
      break;
  }
  if (TRACK_GENERATION.has(key)) s.trackGeneration = true;
  if (CREATE_ON_UPDATE.has(key)) s.allowCreateOnUpdate = true;
  return s;
}
