/**
 * What queueing needs to know about each kind of job it manages (Kueue's
 * GenericJob integrations, pkg/controller/jobs/job and jobs/kubeflow): its
 * pod sets, whether it is suspended, how to start it with the admitted
 * flavors' node labels, how to stop it, and whether it has finished. One
 * adapter for batch/v1 Job and one per Kubeflow training kind.
 */
import { createHash } from 'node:crypto';
import type { ResourceRef } from '../../client/client.js';
import { KUBEFLOW_GROUP, KUBEFLOW_VERSION, TRAINING_KINDS, replicaSpecsOf, trainingResource, type TrainingJob, type TrainingKind } from '../../api/kubeflow.js';
import { DEFAULT_POD_SET_NAME, type PodSet } from '../../api/kueue.js';
import { R } from '../../client/client.js';

/** A job of any managed kind, as cached. */
export type AnyJob = { apiVersion?: string; kind?: string; metadata?: any; spec?: any; status?: any };

/** How a job ended, when it has. */
export interface JobFinish {
  success: boolean;
  message: string;
}

/** The queueing view of one job kind (upstream GenericJob). */
export interface JobAdapter {
  ref: ResourceRef;
  apiVersion: string;
  kind: string;
  /** The job's pods as pod sets, in the order admission assigns them (upstream PodSets). */
  podSets(job: AnyJob): PodSet[];
  isSuspended(job: AnyJob): boolean;
  /** True while the job still has running pods (upstream IsActive). */
  isActive(job: AnyJob): boolean;
  /** The finish, or undefined while the job runs (upstream Finished). */
  finished(job: AnyJob): JobFinish | undefined;
  /** The PriorityClass the job's pods name, or '' (upstream PriorityClass). */
  priorityClass(job: AnyJob): string;
  /** A merge patch setting suspension. */
  suspendPatch(suspend: boolean): Record<string, unknown>;
  /** A merge patch setting each pod set's node selector (same order as podSets()). */
  nodeSelectorPatch(job: AnyJob, selectors: (Record<string, string> | null)[]): Record<string, unknown>;
}

/** The template-level pod spec fields Kueue copies into a pod set: everything but the job controller's own labels (upstream cleanManagedLabels). */
function cleanTemplate(template: any): any {
  const t = structuredClone(template ?? {});
  for (const l of ['job-name', 'controller-uid', 'batch.kubernetes.io/job-name', 'batch.kubernetes.io/controller-uid']) delete t.metadata?.labels?.[l];
  return t;
}

/** True when a condition of one of the types is True. */
function conditionTrue(job: AnyJob, types: string[]): { type: string; message?: string } | undefined {
  return (job.status?.conditions ?? []).find((c: any) => types.includes(c.type) && c.status === 'True');
}

/** batch/v1 Job (upstream jobs/job). */
export const BATCH_JOB: JobAdapter = {
  ref: R.jobs,
  apiVersion: 'batch/v1',
  kind: 'Job',
  podSets(job) {
    // upstream podsCount: parallelism, capped by completions.
    const parallelism = job.spec?.parallelism ?? 1;
    const completions = job.spec?.completions;
    const count = typeof completions === 'number' && completions < parallelism ? completions : parallelism;
    return [{ name: DEFAULT_POD_SET_NAME, count, template: cleanTemplate(job.spec?.template) }];
  },
  isSuspended: (job) => job.spec?.suspend === true,
  isActive: (job) => (job.status?.active ?? 0) !== 0,
  finished(job) {
    const c = conditionTrue(job, ['Complete', 'Failed']);
    return c ? { success: c.type !== 'Failed', message: c.message ?? '' } : undefined;
  },
  priorityClass: (job) => job.spec?.template?.spec?.priorityClassName ?? '',
  suspendPatch: (suspend) => ({ spec: { suspend } }),
  nodeSelectorPatch: (_job, selectors) => ({ spec: { template: { spec: { nodeSelector: selectors[0] ?? null } } } }),
};

/** Replica types in the order Kueue makes pod sets of them (upstream OrderedReplicaTypes). */
const ORDERED_REPLICA_TYPES: Readonly<Record<TrainingKind, readonly string[]>> = {
  PyTorchJob: ['Master', 'Worker'],
  TFJob: ['Chief', 'Master', 'PS', 'Worker', 'Evaluator'],
  PaddleJob: ['Master', 'Worker'],
  XGBoostJob: ['Master', 'Worker'],
};

/** The replica types a job has, in Kueue's order. */
function replicaTypes(kind: TrainingKind, job: TrainingJob): string[] {
  const specs = replicaSpecsOf(kind, job);
  return ORDERED_REPLICA_TYPES[kind].filter((t) => specs[t]);
}

/** A Kubeflow training kind (upstream jobs/kubeflow/kubeflowjob). */
export function trainingAdapter(kind: TrainingKind): JobAdapter {
  const field = TRAINING_KINDS[kind].replicaSpecsField;
  return {
    ref: trainingResource(kind),
    apiVersion: `${KUBEFLOW_GROUP}/${KUBEFLOW_VERSION}`,
    kind,
    podSets(job) {
      const specs = replicaSpecsOf(kind, job as TrainingJob);
      return replicaTypes(kind, job as TrainingJob).map((t) => ({ name: t.toLowerCase(), count: specs[t]!.replicas ?? 1, template: structuredClone(specs[t]!.template ?? {}) }));
    },
    isSuspended: (job) => job.spec?.runPolicy?.suspend === true,
    isActive: (job) => Object.values((job.status?.replicaStatuses ?? {}) as Record<string, { active?: number }>).some((s) => (s.active ?? 0) !== 0),
    finished(job) {
      const c = conditionTrue(job, ['Succeeded', 'Failed']);
      return c ? { success: c.type !== 'Failed', message: c.message ?? '' } : undefined;
    },
    priorityClass(job) {
      // upstream: the scheduling policy's class, else the first replica type's template class.
      const fromPolicy = job.spec?.runPolicy?.schedulingPolicy?.priorityClass;
      if (fromPolicy) return fromPolicy;
      const specs = replicaSpecsOf(kind, job as TrainingJob);
      for (const t of replicaTypes(kind, job as TrainingJob)) {
        const name = specs[t]?.template?.spec?.priorityClassName;
        if (name) return name;
      }
      return '';
    },
    suspendPatch: (suspend) => ({ spec: { runPolicy: { suspend } } }),
    nodeSelectorPatch(job, selectors) {
      const types = replicaTypes(kind, job as TrainingJob);
      const specs: Record<string, unknown> = {};
      types.forEach((t, i) => (specs[t] = { template: { spec: { nodeSelector: selectors[i] ?? null } } }));
      return { spec: { [field]: specs } };
    },
  };
}

/**
 * The name of a job's Workload (upstream GetWorkloadNameForOwnerWithGVK):
 * `<kind>-<job name>-<5 hex digits of a SHA-1 of kind, group, name and uid>`.
 */
export function workloadName(kind: string, group: string, jobName: string, uid: string): string {
  const hash = createHash('sha1').update(`${kind}\n${group}\n${jobName}\n${uid}`).digest('hex').slice(0, 5);
  return `${`${kind.toLowerCase()}-${jobName}`.slice(0, 252 - 5)}-${hash}`;
}
