/**
 * The queueing API of Kueue, `kueue.x-k8s.io/v1beta1`: ResourceFlavor,
 * ClusterQueue, LocalQueue and Workload as kubernetes-sigs/kueue defines them
 * (apis/kueue/v1beta1), the job label that names a job's LocalQueue, and the
 * CustomResourceDefinitions Kite serves them by — upstream's group, names,
 * short names and printer columns, so manifests and `kubectl` habits written
 * for Kueue work unchanged. Kite implements a core of Kueue: nominal quotas
 * per flavor, StrictFIFO and BestEffortFIFO ordering by priority and creation
 * time, whole-workload admission. `cohort`, `borrowingLimit`, `lendingLimit`,
 * preemption and fair sharing are accepted and stored but have no effect: a
 * ClusterQueue never lends or borrows quota. These kinds are not Kubernetes
 * built-ins, so their types are written here rather than generated.
 */
import type { ResourceRef } from '../client/client.js';
import type { ObjectMeta, PodTemplateSpec, Taint, Toleration } from './generated/types.js';

/** The API group of Kueue (upstream GroupVersion.Group). */
export const KUEUE_GROUP = 'kueue.x-k8s.io';
/** The version Kite serves. */
export const KUEUE_VERSION = 'v1beta1';
/** `kueue.x-k8s.io/v1beta1`. */
export const KUEUE_API_VERSION = `${KUEUE_GROUP}/${KUEUE_VERSION}`;
/** The job label naming the LocalQueue (in the job's namespace) the job is submitted to (upstream constants.QueueLabel). */
export const QUEUE_NAME_LABEL = 'kueue.x-k8s.io/queue-name';
/** The pod set name of a job with a single kind of pod (upstream DefaultPodSetName). */
export const DEFAULT_POD_SET_NAME = 'main';
/** The Workload label holding the owning job's uid (upstream controllerconsts.JobUIDLabel). */
export const JOB_UID_LABEL = 'kueue.x-k8s.io/job-uid';

/** The four resources as a client addresses them. */
export const RESOURCEFLAVORS = { group: KUEUE_GROUP, version: KUEUE_VERSION, resource: 'resourceflavors' } as const satisfies ResourceRef;
/** ClusterQueues (cluster-scoped). */
export const CLUSTERQUEUES = { group: KUEUE_GROUP, version: KUEUE_VERSION, resource: 'clusterqueues' } as const satisfies ResourceRef;
/** LocalQueues (namespaced). */
export const LOCALQUEUES = { group: KUEUE_GROUP, version: KUEUE_VERSION, resource: 'localqueues' } as const satisfies ResourceRef;
/** Workloads (namespaced). */
export const WORKLOADS = { group: KUEUE_GROUP, version: KUEUE_VERSION, resource: 'workloads' } as const satisfies ResourceRef;

/** Workload condition types (upstream Workload* constants). */
export const WorkloadCondition = {
  /** Quota is reserved in a ClusterQueue. */
  QuotaReserved: 'QuotaReserved',
  /** Quota is reserved and every admission check passed; the job may run. */
  Admitted: 'Admitted',
  /** The job finished (succeeded or failed); its quota is released. */
  Finished: 'Finished',
  /** The workload lost its admission. */
  Evicted: 'Evicted',
} as const;

/** How a ClusterQueue orders its pending workloads (upstream QueueingStrategy). */
export type QueueingStrategy = 'StrictFIFO' | 'BestEffortFIFO';

/** A condition in the shape of metav1.Condition. */
export interface KueueCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A kind of node (upstream ResourceFlavor): the node labels, taints and tolerations that a quota applies to. */
export interface ResourceFlavor {
  apiVersion?: typeof KUEUE_API_VERSION;
  kind?: 'ResourceFlavor';
  metadata?: ObjectMeta;
  spec?: { nodeLabels?: Record<string, string>; nodeTaints?: Taint[]; tolerations?: Toleration[]; topologyName?: string };
}

/** One resource's quota in one flavor (upstream ResourceQuota). */
export interface FlavorResourceQuota {
  name: string;
  nominalQuota: string | number;
  /** Accepted and ignored: Kite does not borrow within cohorts. */
  borrowingLimit?: string | number;
  /** Accepted and ignored: Kite does not lend within cohorts. */
  lendingLimit?: string | number;
}

/** The resources of a group that one flavor provides (upstream FlavorQuotas). */
export interface FlavorQuotas {
  name: string;
  resources: FlavorResourceQuota[];
}

/** Resources quota'd together; flavors are tried in order (upstream ResourceGroup). */
export interface ResourceGroup {
  coveredResources: string[];
  flavors: FlavorQuotas[];
}

/** Per-flavor usage in a queue's status (upstream FlavorUsage). */
export interface FlavorUsage {
  name: string;
  resources: { name: string; total?: string; borrowed?: string }[];
}

/** A cluster-wide pool of quota that LocalQueues feed (upstream ClusterQueue). */
export interface ClusterQueue {
  apiVersion?: typeof KUEUE_API_VERSION;
  kind?: 'ClusterQueue';
  metadata?: ObjectMeta;
  spec?: {
    resourceGroups?: ResourceGroup[];
    /** Accepted and stored; Kite does not share quota within a cohort. */
    cohort?: string;
    queueingStrategy?: QueueingStrategy;
    /** Namespaces whose workloads may use this queue; absent selects none, `{}` selects all (upstream). */
    namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | null;
    stopPolicy?: 'None' | 'Hold' | 'HoldAndDrain';
    [k: string]: unknown;
  };
  status?: {
    flavorsReservation?: FlavorUsage[];
    flavorsUsage?: FlavorUsage[];
    pendingWorkloads?: number;
    reservingWorkloads?: number;
    admittedWorkloads?: number;
    conditions?: KueueCondition[];
  };
}

/** A namespace's entry point to a ClusterQueue (upstream LocalQueue). */
export interface LocalQueue {
  apiVersion?: typeof KUEUE_API_VERSION;
  kind?: 'LocalQueue';
  metadata?: ObjectMeta;
  spec?: { clusterQueue?: string; stopPolicy?: 'None' | 'Hold' | 'HoldAndDrain' };
  status?: {
    pendingWorkloads?: number;
    reservingWorkloads?: number;
    admittedWorkloads?: number;
    conditions?: KueueCondition[];
    flavorsReservation?: { name: string; resources: { name: string; total?: string }[] }[];
    flavorUsage?: { name: string; resources: { name: string; total?: string }[] }[];
  };
}

/** A set of identical pods of a workload (upstream PodSet). */
export interface PodSet {
  name: string;
  count: number;
  template: PodTemplateSpec;
  minCount?: number;
}

/** The flavors and usage a pod set was admitted with (upstream PodSetAssignment). */
export interface PodSetAssignment {
  name: string;
  flavors?: Record<string, string>;
  resourceUsage?: Record<string, string>;
  count?: number;
}

/** The unit of admission: a job's pods and the queue it waits in (upstream Workload). */
export interface Workload {
  apiVersion?: typeof KUEUE_API_VERSION;
  kind?: 'Workload';
  metadata?: ObjectMeta;
  spec?: {
    podSets?: PodSet[];
    queueName?: string;
    priorityClassName?: string;
    priority?: number;
    priorityClassSource?: string;
    active?: boolean;
  };
  status?: {
    admission?: { clusterQueue: string; podSetAssignments: PodSetAssignment[] } | null;
    conditions?: KueueCondition[];
    resourceRequests?: { name: string; resources?: Record<string, string> }[];
  };
}

/** The condition of this type, if any. */
export function findCondition(conds: readonly KueueCondition[] | undefined, type: string): KueueCondition | undefined {
  return conds?.find((c) => c.type === type);
}

/** True when the condition of this type is True (upstream apimeta.IsStatusConditionTrue). */
export function isConditionTrue(conds: readonly KueueCondition[] | undefined, type: string): boolean {
  return findCondition(conds, type)?.status === 'True';
}

/**
 * Sets a condition as apimeta.SetStatusCondition does: the transition time
 * changes only when the status does. Returns true when anything changed.
 */
export function setCondition(conds: KueueCondition[], c: Omit<KueueCondition, 'lastTransitionTime'>, now: string): boolean {
  const i = conds.findIndex((x) => x.type === c.type);
  if (i < 0) {
    conds.push({ ...c, lastTransitionTime: now });
    return true;
  }
  const old = conds[i]!;
  if (old.status === c.status && old.reason === c.reason && old.message === c.message && old.observedGeneration === c.observedGeneration) return false;
  conds[i] = { ...c, lastTransitionTime: old.status === c.status ? old.lastTransitionTime : now };
  return true;
}

/** True while a workload holds quota: reserved and not finished. */
export function holdsQuota(wl: Workload): boolean {
  return !!wl.status?.admission && isConditionTrue(wl.status.conditions, WorkloadCondition.QuotaReserved) && !isConditionTrue(wl.status.conditions, WorkloadCondition.Finished);
}

/** True while a workload waits for quota: neither reserved nor finished. */
export function isPending(wl: Workload): boolean {
  return !isConditionTrue(wl.status?.conditions, WorkloadCondition.QuotaReserved) && !isConditionTrue(wl.status?.conditions, WorkloadCondition.Finished);
}

// ---- CustomResourceDefinitions ----------------------------------------------------------------

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const QUANTITY = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  'x-kubernetes-int-or-string': true,
};
const str = (description: string, extra: Record<string, unknown> = {}) => ({ type: 'string', description, ...extra });
const int32 = (description: string, extra: Record<string, unknown> = {}) => ({ type: 'integer', format: 'int32', description, ...extra });
const obj = (description: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', description, properties, ...extra });
const preserved = (description: string) => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
const quantity = (description: string) => ({ ...QUANTITY, description });
const conditions = (what: string) => ({
  type: 'array',
  description: `Observations of the ${what}, one per type.`,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: obj(
    'One observation.',
    {
      type: str('The kind of observation.'),
      status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
      reason: str('A one-word reason for the last transition.'),
      message: str('A human-readable account of the last transition.'),
      lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
      observedGeneration: { type: 'integer', format: 'int64', description: 'The generation of the object the condition was set for.' },
    },
    { required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'] },
  ),
});
const flavorUsage = (what: string, withBorrowed: boolean) => ({
  type: 'array',
  description: what,
  items: obj(
    'Usage in one flavor.',
    {
      name: str('The flavor.'),
      resources: {
        type: 'array',
        description: 'Usage per resource.',
        items: obj('Usage of one resource.', {
          name: str('The resource.'),
          total: quantity('The amount in use.'),
          ...(withBorrowed ? { borrowed: quantity('The amount borrowed from the cohort (always 0 in Kite).') } : {}),
        }, { required: ['name'] }),
      },
    },
    { required: ['name', 'resources'] },
  ),
});
const labelSelector = obj(
  'A label selector.',
  {
    matchLabels: { type: 'object', description: 'Labels that must all match.', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      description: 'Requirements that must all hold.',
      items: obj('One requirement.', { key: str('The label key.'), operator: str('In, NotIn, Exists or DoesNotExist.'), values: { type: 'array', items: { type: 'string' } } }, { required: ['key', 'operator'] }),
    },
  },
  { 'x-kubernetes-map-type': 'atomic' },
);

/** A CRD of the Kueue group around one version's schema. */
function kueueCRD(
  names: { kind: string; plural: string; singular: string; shortNames: string[] },
  scope: 'Namespaced' | 'Cluster',
  schema: Record<string, unknown>,
  columns: Record<string, unknown>[],
  status: boolean,
): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${KUEUE_GROUP}` },
    spec: {
      group: KUEUE_GROUP,
      names: { ...names, listKind: `${names.kind}List` },
      scope,
      versions: [
        {
          name: KUEUE_VERSION,
          served: true,
          storage: true,
          ...(status ? { subresources: { status: {} } } : {}),
          ...(columns.length ? { additionalPrinterColumns: columns } : {}),
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

/** The root schema of a kind: apiVersion, kind, metadata and the given spec/status. */
function root(description: string, props: Record<string, unknown>): Record<string, unknown> {
  return obj(description, {
    apiVersion: str(`The versioned schema of this object (${KUEUE_API_VERSION}).`),
    kind: str('The kind of this object.'),
    metadata: { type: 'object' },
    ...props,
  });
}

/**
 * The CustomResourceDefinitions of ResourceFlavor, ClusterQueue, LocalQueue
 * and Workload (upstream config/components/crd/bases, in Kite's words):
 * the same names, short names, scopes and printer columns.
 */
export function kueueCRDs(): Record<string, unknown>[] {
  const resourceFlavor = kueueCRD(
    { kind: 'ResourceFlavor', plural: 'resourceflavors', singular: 'resourceflavor', shortNames: ['flavor', 'flavors', 'rf'] },
    'Cluster',
    root('ResourceFlavor names a kind of node that quota can be given for.', {
      spec: obj('Which nodes the flavor stands for.', {
        nodeLabels: { type: 'object', description: 'Labels of the flavor\'s nodes; admitted pods get them as a node selector.', additionalProperties: { type: 'string' }, maxProperties: 8 },
        nodeTaints: { type: 'array', description: 'Taints of the flavor\'s nodes; a workload must tolerate them to get this flavor.', maxItems: 8, items: preserved('A taint.') },
        tolerations: { type: 'array', description: 'Tolerations added to admitted pods.', maxItems: 8, items: preserved('A toleration.') },
        topologyName: str('The topology of the flavor\'s nodes (not used by Kite).'),
      }),
    }),
    [],
    false,
  );
  const quotaItem = obj(
    'The quota of one resource in one flavor.',
    {
      name: str('The resource.'),
      nominalQuota: quantity('How much of the resource this ClusterQueue may admit in this flavor.'),
      borrowingLimit: quantity('How much more may be borrowed from the cohort (accepted; Kite does not borrow).'),
      lendingLimit: quantity('How much may be lent to the cohort (accepted; Kite does not lend).'),
    },
    { required: ['name', 'nominalQuota'] },
  );
  const clusterQueue = kueueCRD(
    { kind: 'ClusterQueue', plural: 'clusterqueues', singular: 'clusterqueue', shortNames: ['cq'] },
    'Cluster',
    root('ClusterQueue is a pool of quota that workloads from its LocalQueues are admitted against.', {
      spec: obj('The quota and how workloads are ordered.', {
        resourceGroups: {
          type: 'array',
          description: 'Groups of resources quota\'d together; within a group, flavors are tried in order.',
          maxItems: 16,
          items: obj(
            'Resources that share their flavors.',
            {
              coveredResources: { type: 'array', description: 'The resources the group covers.', minItems: 1, maxItems: 16, items: { type: 'string' } },
              flavors: {
                type: 'array',
                description: 'The flavors the group offers, in the order they are tried.',
                minItems: 1,
                maxItems: 16,
                items: obj(
                  'One flavor\'s quotas.',
                  {
                    name: str('The ResourceFlavor.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
                    resources: { type: 'array', description: 'Quota per covered resource.', minItems: 1, maxItems: 16, items: quotaItem },
                  },
                  { required: ['name', 'resources'] },
                ),
              },
            },
            { required: ['coveredResources', 'flavors'] },
          ),
        },
        cohort: str('The cohort the queue belongs to (accepted; Kite does not share quota between queues).', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
        queueingStrategy: str('StrictFIFO: the oldest workload of the highest priority blocks the rest until it fits. BestEffortFIFO: workloads that do not fit let the next ones try.', {
          enum: ['StrictFIFO', 'BestEffortFIFO'],
          default: 'BestEffortFIFO',
        }),
        namespaceSelector: { ...labelSelector, description: 'Namespaces whose workloads may use the queue; absent selects none, {} selects all.' },
        stopPolicy: str('Whether the queue admits workloads: None, Hold, or HoldAndDrain.', { enum: ['None', 'Hold', 'HoldAndDrain'], default: 'None' }),
        flavorFungibility: preserved('How flavors are tried when borrowing or preempting (accepted; not used by Kite).'),
        preemption: preserved('Preemption policy (accepted; Kite does not preempt).'),
        admissionChecks: { type: 'array', description: 'Admission checks (accepted; not used by Kite).', items: { type: 'string' } },
        fairSharing: preserved('Fair sharing weight (accepted; not used by Kite).'),
      }),
      status: obj('What the queue holds now.', {
        flavorsReservation: flavorUsage('Quota reserved by workloads, per flavor and resource.', true),
        flavorsUsage: flavorUsage('Quota used by admitted workloads, per flavor and resource.', true),
        pendingWorkloads: int32('Workloads waiting for quota.'),
        reservingWorkloads: int32('Workloads holding quota that have not finished.'),
        admittedWorkloads: int32('Admitted workloads that have not finished.'),
        conditions: conditions('queue'),
      }),
    }),
    [
      { name: 'Cohort', type: 'string', jsonPath: '.spec.cohort', description: 'The cohort of the queue.' },
      { name: 'Strategy', type: 'string', jsonPath: '.spec.queueingStrategy', priority: 1, description: 'How pending workloads are ordered.' },
      { name: 'Pending Workloads', type: 'integer', jsonPath: '.status.pendingWorkloads', description: 'Workloads waiting for quota.' },
      { name: 'Admitted Workloads', type: 'integer', jsonPath: '.status.admittedWorkloads', priority: 1, description: 'Admitted workloads that have not finished.' },
    ],
    true,
  );
  const localQueue = kueueCRD(
    { kind: 'LocalQueue', plural: 'localqueues', singular: 'localqueue', shortNames: ['queue', 'queues', 'lq'] },
    'Namespaced',
    root('LocalQueue is where a namespace\'s jobs are submitted; it feeds one ClusterQueue.', {
      spec: obj('The ClusterQueue the queue feeds.', {
        clusterQueue: str('The ClusterQueue.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
        stopPolicy: str('Whether the queue accepts workloads: None, Hold, or HoldAndDrain.', { enum: ['None', 'Hold', 'HoldAndDrain'], default: 'None' }),
      }),
      status: obj('What the queue holds now.', {
        pendingWorkloads: int32('Workloads waiting for quota.'),
        reservingWorkloads: int32('Workloads holding quota that have not finished.'),
        admittedWorkloads: int32('Admitted workloads that have not finished.'),
        conditions: conditions('queue'),
        flavorsReservation: flavorUsage('Quota reserved by this queue\'s workloads, per flavor.', false),
        flavorUsage: flavorUsage('Quota used by this queue\'s admitted workloads, per flavor.', false),
      }),
    }),
    [
      { name: 'ClusterQueue', type: 'string', jsonPath: '.spec.clusterQueue', description: 'The ClusterQueue the queue feeds.' },
      { name: 'Pending Workloads', type: 'integer', jsonPath: '.status.pendingWorkloads', description: 'Workloads waiting for quota.' },
      { name: 'Admitted Workloads', type: 'integer', jsonPath: '.status.admittedWorkloads', description: 'Admitted workloads that have not finished.' },
    ],
    true,
  );
  const workload = kueueCRD(
    { kind: 'Workload', plural: 'workloads', singular: 'workload', shortNames: ['wl'] },
    'Namespaced',
    root('Workload is a job\'s request for quota: its pods, and the queue it waits in.', {
      spec: obj('What the workload needs.', {
        podSets: {
          type: 'array',
          description: 'Sets of identical pods; the whole workload is admitted or none of it.',
          minItems: 1,
          maxItems: 8,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: obj(
            'A set of identical pods.',
            {
              name: str('The pod set\'s name.', { default: DEFAULT_POD_SET_NAME, maxLength: 63, pattern: DNS_LABEL }),
              count: int32('How many pods.', { default: 1, minimum: 0 }),
              minCount: int32('The fewest pods the workload accepts (partial admission; not used by Kite).', { minimum: 1 }),
              template: preserved('The pods\' template.'),
            },
            { required: ['count', 'template'] },
          ),
        },
        queueName: str('The LocalQueue the workload is submitted to.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
        priorityClassName: str('The PriorityClass the priority comes from.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
        priority: int32('Higher priorities are admitted first.'),
        priorityClassSource: str('Where priorityClassName is looked up.', { enum: ['kueue.x-k8s.io/workloadpriorityclass', 'scheduling.k8s.io/priorityclass', ''], default: '' }),
        active: { type: 'boolean', description: 'Whether the workload may be admitted.', default: true },
        maximumExecutionTimeSeconds: int32('How long the workload may stay admitted (not used by Kite).', { minimum: 1 }),
      }),
      status: obj('Where the workload is.', {
        admission: obj(
          'The ClusterQueue and flavors the workload was admitted with.',
          {
            clusterQueue: str('The ClusterQueue.'),
            podSetAssignments: {
              type: 'array',
              description: 'The admission of each pod set.',
              items: obj(
                'One pod set\'s admission.',
                {
                  name: str('The pod set.'),
                  flavors: { type: 'object', description: 'The flavor assigned to each resource.', additionalProperties: { type: 'string' } },
                  resourceUsage: { type: 'object', description: 'The resources all the pod set\'s pods take.', additionalProperties: QUANTITY },
                  count: int32('The pods counted at admission.', { minimum: 0 }),
                },
                { required: ['name'] },
              ),
            },
          },
          { required: ['clusterQueue', 'podSetAssignments'] },
        ),
        conditions: conditions('workload'),
        resourceRequests: {
          type: 'array',
          description: 'What each pod set requests in all, as last considered for admission.',
          items: obj('One pod set\'s requests.', { name: str('The pod set.'), resources: { type: 'object', additionalProperties: QUANTITY } }, { required: ['name'] }),
        },
        requeueState: preserved('Requeueing state (not used by Kite).'),
        reclaimablePods: { type: 'array', items: preserved('Pods no longer needing their quota (not used by Kite).') },
        admissionChecks: { type: 'array', items: preserved('An admission check\'s state (not used by Kite).') },
      }),
    }),
    [
      { name: 'Queue', type: 'string', jsonPath: '.spec.queueName', description: 'The LocalQueue the workload was submitted to.' },
      { name: 'Reserved in', type: 'string', jsonPath: '.status.admission.clusterQueue', description: 'The ClusterQueue the workload holds quota in.' },
      { name: 'Admitted', type: 'string', jsonPath: ".status.conditions[?(@.type=='Admitted')].status", description: 'Whether the workload is admitted.' },
      { name: 'Finished', type: 'string', jsonPath: ".status.conditions[?(@.type=='Finished')].status", description: 'Whether the workload finished.' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the workload was created.' },
    ],
    true,
  );
  return [resourceFlavor, clusterQueue, localQueue, workload];
}
