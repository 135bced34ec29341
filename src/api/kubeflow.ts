/**
 * The Kubeflow training API, `kubeflow.org/v1`: PyTorchJob, TFJob, PaddleJob
 * and XGBoostJob as the Kubeflow training operator defines them
 * (pkg/apis/kubeflow.org/v1), with the labels and defaults its controllers
 * use, so manifests written for the operator run on Kite unchanged. These
 * kinds are not Kubernetes built-ins, so their types are written here rather
 * than generated from the Kubernetes OpenAPI spec.
 */
import type { ResourceRef } from '../client/client.js';
import type { LabelSelector, ObjectMeta, PodTemplateSpec } from './generated/types.js';

/** The API group of the training jobs. */
export const KUBEFLOW_GROUP = 'kubeflow.org';
/** Their only version. */
export const KUBEFLOW_VERSION = 'v1';

/** How a replica's pods restart (upstream RestartPolicy; ExitCode restarts on retryable exit codes only). */
export type TrainingRestartPolicy = 'Always' | 'OnFailure' | 'Never' | 'ExitCode';

/** One replica type's pods: how many, from which template, restarting how. */
export interface ReplicaSpec {
  replicas?: number;
  template?: PodTemplateSpec;
  restartPolicy?: TrainingRestartPolicy;
}

/** Which pods are deleted once a job finishes (upstream CleanPodPolicy). */
export type CleanPodPolicy = 'All' | 'Running' | 'None';

/** Gang-scheduling and queueing wishes of a job (upstream SchedulingPolicy). */
export interface SchedulingPolicy {
  minAvailable?: number;
  queue?: string;
  minResources?: Record<string, string | number>;
  priorityClass?: string;
  scheduleTimeoutSeconds?: number;
}

/** Lifecycle policy shared by every training job kind (upstream RunPolicy). */
export interface RunPolicy {
  cleanPodPolicy?: CleanPodPolicy;
  ttlSecondsAfterFinished?: number;
  activeDeadlineSeconds?: number;
  backoffLimit?: number;
  schedulingPolicy?: SchedulingPolicy;
  suspend?: boolean;
  managedBy?: string;
}

/** The condition types of a training job, in the order a job passes through them. */
export type JobConditionType = 'Created' | 'Running' | 'Restarting' | 'Succeeded' | 'Suspended' | 'Failed';

/** One condition of a training job (upstream JobCondition: it carries lastUpdateTime too). */
export interface JobCondition {
  type: JobConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/** Counts of one replica type's pods. */
export interface ReplicaStatus {
  active?: number;
  succeeded?: number;
  failed?: number;
  /** Deprecated upstream in favour of `selector`; still written. */
  labelSelector?: LabelSelector;
  /** The selector of this replica type's pods, as a string (the scale subresource's labelSelectorPath). */
  selector?: string;
}

/** Status shared by every training job kind (upstream JobStatus). */
export interface TrainingJobStatus {
  conditions?: JobCondition[];
  replicaStatuses?: Record<string, ReplicaStatus>;
  startTime?: string;
  completionTime?: string;
  lastReconcileTime?: string;
}

/** A rendezvous configuration entry of elastic PyTorch (upstream RDZVConf). */
export interface RDZVConf {
  key?: string;
  value?: string;
}

/** Elastic training of a PyTorchJob (upstream ElasticPolicy; `metrics` are autoscaling/v2 MetricSpecs). */
export interface ElasticPolicy {
  minReplicas?: number;
  maxReplicas?: number;
  rdzvBackend?: 'c10d' | 'etcd' | 'etcd-v2' | string;
  rdzvPort?: number;
  rdzvHost?: string;
  rdzvId?: string;
  rdzvConf?: RDZVConf[];
  standalone?: boolean;
  nProcPerNode?: number;
  maxRestarts?: number;
  metrics?: Record<string, unknown>[];
}

/** Elastic training of a PaddleJob (upstream PaddleElasticPolicy). */
export interface PaddleElasticPolicy {
  minReplicas?: number;
  maxReplicas?: number;
  maxRestarts?: number;
  metrics?: Record<string, unknown>[];
}

/** PyTorch distributed training: a Master and Workers (upstream PyTorchJobSpec). */
export interface PyTorchJobSpec {
  runPolicy?: RunPolicy;
  elasticPolicy?: ElasticPolicy;
  pytorchReplicaSpecs?: Record<string, ReplicaSpec>;
  nprocPerNode?: string;
}

/** TensorFlow distributed training: PS, Worker, Chief, Master, Evaluator (upstream TFJobSpec). */
export interface TFJobSpec {
  runPolicy?: RunPolicy;
  successPolicy?: '' | 'AllWorkers';
  tfReplicaSpecs?: Record<string, ReplicaSpec>;
  enableDynamicWorker?: boolean;
}

/** PaddlePaddle distributed training: Master and Workers (upstream PaddleJobSpec). */
export interface PaddleJobSpec {
  runPolicy?: RunPolicy;
  elasticPolicy?: PaddleElasticPolicy;
  paddleReplicaSpecs?: Record<string, ReplicaSpec>;
}

/** XGBoost distributed training: a Master and Workers (upstream XGBoostJobSpec). */
export interface XGBoostJobSpec {
  runPolicy?: RunPolicy;
  xgbReplicaSpecs?: Record<string, ReplicaSpec>;
}

/** A training job of any of the four kinds, as stored. */
export interface TrainingJob<S = PyTorchJobSpec | TFJobSpec | PaddleJobSpec | XGBoostJobSpec> {
  apiVersion?: 'kubeflow.org/v1';
  kind?: TrainingKind;
  metadata?: ObjectMeta;
  spec?: S;
  status?: TrainingJobStatus;
}

/** The four kinds. */
export type TrainingKind = 'PyTorchJob' | 'TFJob' | 'PaddleJob' | 'XGBoostJob';

/** What differs between the kinds: names, the replica-spec field, defaults of the main container. */
export interface TrainingKindInfo {
  kind: TrainingKind;
  /** The resource (plural). */
  plural: string;
  singular: string;
  shortNames: string[];
  /** The spec field holding the replica specs by replica type. */
  replicaSpecsField: 'pytorchReplicaSpecs' | 'tfReplicaSpecs' | 'paddleReplicaSpecs' | 'xgbReplicaSpecs';
  /** The replica types the kind accepts, in the operator's capitalisation. */
  replicaTypes: readonly string[];
  /** The container the operator configures (env, port) in each pod. */
  defaultContainerName: string;
  /** Name and number of the port the replicas talk on, when the container declares none. */
  defaultPortName: string;
  defaultPort: number;
  /** The operator name in the training.kubeflow.org/operator-name label. */
  operatorName: string;
}

/** The kinds' facts (upstream <kind>_types.go constants). */
export const TRAINING_KINDS: Readonly<Record<TrainingKind, TrainingKindInfo>> = {
  PyTorchJob: {
    kind: 'PyTorchJob',
    plural: 'pytorchjobs',
    singular: 'pytorchjob',
    shortNames: [],
    replicaSpecsField: 'pytorchReplicaSpecs',
    replicaTypes: ['Master', 'Worker'],
    defaultContainerName: 'pytorch',
    defaultPortName: 'pytorchjob-port',
    defaultPort: 23456,
    operatorName: 'pytorchjob-controller',
  },
  TFJob: {
    kind: 'TFJob',
    plural: 'tfjobs',
    singular: 'tfjob',
    shortNames: [],
    replicaSpecsField: 'tfReplicaSpecs',
    replicaTypes: ['PS', 'Worker', 'Chief', 'Master', 'Evaluator'],
    defaultContainerName: 'tensorflow',
    defaultPortName: 'tfjob-port',
    defaultPort: 2222,
    operatorName: 'tfjob-controller',
  },
  PaddleJob: {
    kind: 'PaddleJob',
    plural: 'paddlejobs',
    singular: 'paddlejob',
    shortNames: [],
    replicaSpecsField: 'paddleReplicaSpecs',
    replicaTypes: ['Master', 'Worker'],
    defaultContainerName: 'paddle',
    defaultPortName: 'master',
    defaultPort: 36543,
    operatorName: 'paddlejob-controller',
  },
  XGBoostJob: {
    kind: 'XGBoostJob',
    plural: 'xgboostjobs',
    singular: 'xgboostjob',
    shortNames: [],
    replicaSpecsField: 'xgbReplicaSpecs',
    replicaTypes: ['Master', 'Worker'],
    defaultContainerName: 'xgboost',
    defaultPortName: 'xgboostjob-port',
    defaultPort: 9999,
    operatorName: 'xgboostjob-controller',
  },
};

/** A kind's resource as a client addresses it. */
export function trainingResource(kind: TrainingKind): ResourceRef {
  return { group: KUBEFLOW_GROUP, version: KUBEFLOW_VERSION, resource: TRAINING_KINDS[kind].plural };
}

/** The replica specs of a job, whatever its kind ({} when it has none). */
export function replicaSpecsOf(kind: TrainingKind, job: TrainingJob): Record<string, ReplicaSpec> {
  const spec = (job.spec ?? {}) as Record<string, unknown>;
  return (spec[TRAINING_KINDS[kind].replicaSpecsField] as Record<string, ReplicaSpec> | undefined) ?? {};
}

/** Labels the operator puts on every pod and Service of a job (upstream kubeflow.org/v1 constants). */
export const TrainingLabels = {
  /** The job's name. */
  jobName: 'training.kubeflow.org/job-name',
  /** The replica type, lower-cased (`master`, `worker`…). */
  replicaType: 'training.kubeflow.org/replica-type',
  /** The replica's index within its type. */
  replicaIndex: 'training.kubeflow.org/replica-index',
  /** `master` on the pod that leads the job (Master/Chief replica 0). */
  jobRole: 'training.kubeflow.org/job-role',
  /** Which of the operator's controllers manages the pod. */
  operatorName: 'training.kubeflow.org/operator-name',
} as const;
