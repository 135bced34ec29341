/**
 * Validation of the Kubeflow training jobs at create and update, as the
 * training operator's validating webhooks do it (training-operator v1.9
 * pkg/webhooks/{pytorch,tensorflow,paddlepaddle,xgboost}): the job name must
 * be a DNS-1035 label (it names the jobs' Services), the replica specs must be
 * present, of the kind's replica types, each with a container of the kind's
 * default name and an image; a Master (PyTorch, XGBoost) runs exactly one
 * replica; an XGBoostJob has a Master; a TFJob at most one Chief or Master;
 * an elastic PyTorchJob has Workers; `runPolicy.managedBy` names a known
 * controller and never changes.
 *
 * The operator returns these field errors from a webhook as one aggregate
 * error, which controller-runtime turns into a denial: clients see 403
 * Forbidden with `admission webhook "validator.<kind>.training-operator.
 * kubeflow.org" denied the request: <errors>`. Kite answers the same; the
 * field paths ride along as the Status's causes.
 *
 * The CRD's one CEL rule (the scheduling queue is immutable) is checked here
 * too, as the 422 Invalid that upstream's CRD validation gives.
 */
import { ApiError, errors, field, fieldErrorMessage, type FieldError } from '../../api/errors.js';
import { KUBEFLOW_GROUP, TRAINING_KINDS, type TrainingKind } from '../../api/kubeflow.js';
import { isDNS1035Label } from '../../api/names.js';

/** The controllers `runPolicy.managedBy` may name (upstream util.supportedJobControllers). */
export const SUPPORTED_JOB_CONTROLLERS = ['kubeflow.org/training-operator', 'kueue.x-k8s.io/multikueue'] as const;

/** What validating one job found: field errors (the request is denied) and warnings (it is not). */
export interface TrainingJobVerdict {
  errors: FieldError[];
  warnings: string[];
}

/** The training kind a resource of kubeflow.org serves, or undefined for another resource. */
export function trainingKindOf(group: string, resource: string): TrainingKind | undefined {
  if (group !== KUBEFLOW_GROUP) return undefined;
  return (Object.keys(TRAINING_KINDS) as TrainingKind[]).find((k) => TRAINING_KINDS[k].plural === resource);
}

/** upstream's per-kind validate<Kind>Job: the webhook's checks of a new job (`old` on update). */
export function validateTrainingJob(kind: TrainingKind, job: any, old?: any): TrainingJobVerdict {
  const errs: FieldError[] = [];
  const warnings: string[] = [];
  const name: string = job?.metadata?.name ?? '';
  const nameErrs = isDNS1035Label(name);
  if (nameErrs.length > 0) errs.push(field.invalid('metadata.name', name, `should match: ${nameErrs.join(',')}`));
  const spec = isObject(job?.spec) ? job.spec : {};
  if (old) errs.push(...validateRunPolicyUpdate(old?.spec?.runPolicy, spec.runPolicy));
  errs.push(...validateRunPolicy(spec.runPolicy));
  if (kind === 'PyTorchJob') errs.push(...validatePyTorchElastic(spec, warnings));
  errs.push(...validateReplicaSpecs(kind, spec[TRAINING_KINDS[kind].replicaSpecsField]));
  return { errors: errs, warnings };
}

/** upstream util.ValidateRunPolicy: managedBy, when set, names a supported controller. */
function validateRunPolicy(runPolicy: any): FieldError[] {
  const managedBy = isObject(runPolicy) ? runPolicy.managedBy : undefined;
  if (managedBy === undefined || managedBy === null) return [];
  if ((SUPPORTED_JOB_CONTROLLERS as readonly string[]).includes(managedBy)) return [];
  return [field.notSupported('spec.runPolicy.managedBy', managedBy, SUPPORTED_JOB_CONTROLLERS)];
}

/** upstream util.ValidateRunPolicyUpdate: managedBy is immutable (ValidateImmutableField; an unset side prints "null"). */
function validateRunPolicyUpdate(oldPolicy: any, newPolicy: any): FieldError[] {
  const before = isObject(oldPolicy) ? (oldPolicy.managedBy ?? undefined) : undefined;
  const after = isObject(newPolicy) ? (newPolicy.managedBy ?? undefined) : undefined;
  if (before === after) return [];
  return [field.invalid('spec.runPolicy.managedBy', after ?? 'null', 'field is immutable')];
}

/** upstream pytorch validateSpec: an elastic job needs Workers; nProcPerNode moved to spec.nprocPerNode. */
function validatePyTorchElastic(spec: any, warnings: string[]): FieldError[] {
  const elastic = spec.elasticPolicy;
  if (elastic === undefined || elastic === null) return [];
  const errs: FieldError[] = [];
  const replicaSpecs = isObject(spec.pytorchReplicaSpecs) ? spec.pytorchReplicaSpecs : {};
  if (!('Worker' in replicaSpecs)) errs.push(field.required('spec.pytorchReplicaSpecs[Worker]', 'must be configured if elastic policy is used'));
  if (isObject(elastic) && elastic.nProcPerNode !== undefined && elastic.nProcPerNode !== null) {
    warnings.push('spec.elasticPolicy.nProcPerNode is deprecated, use spec.nprocPerNode instead');
    if (spec.nprocPerNode !== undefined && spec.nprocPerNode !== null) {
      errs.push(field.forbidden('spec.elasticPolicy.nProcPerNode', 'must not be used with spec.nprocPerNode'));
    }
  }
  return errs;
}

/** upstream validate<Kind>ReplicaSpecs. */
function validateReplicaSpecs(kind: TrainingKind, replicaSpecs: unknown): FieldError[] {
  const info = TRAINING_KINDS[kind];
  const base = `spec.${info.replicaSpecsField}`;
  const errs: FieldError[] = [];
  // Absent specs are reported and then checked as empty (an XGBoostJob still misses its Master), as upstream's nil map.
  if (replicaSpecs === undefined || replicaSpecs === null) errs.push(field.required(base, 'must be required'));
  const specs = isObject(replicaSpecs) ? replicaSpecs : {};
  let chiefOrMaster = 0;
  for (const [type, rs] of Object.entries(specs)) {
    const rolePath = `${base}[${type}]`;
    const containersPath = `${rolePath}.template.spec.containers`;
    // The TFJob webhook leaves unknown replica types to the controller; the other kinds refuse them.
    if (kind !== 'TFJob' && !info.replicaTypes.includes(type)) errs.push(field.notSupported(rolePath, type, info.replicaTypes));
    const containers: unknown[] = isObject(rs) && Array.isArray(rs.template?.spec?.containers) ? rs.template.spec.containers : [];
    if (containers.length === 0) errs.push(field.required(containersPath, 'must be specified'));
    let hasDefault = false;
    containers.forEach((c: any, i) => {
      if (!c?.image) errs.push(field.required(`${containersPath}[${i}].image`, 'must be required'));
      if (c?.name === info.defaultContainerName) hasDefault = true;
    });
    if (!hasDefault) {
      // The PaddleJob webhook quotes the name (%q); the others print it bare.
      const shown = kind === 'PaddleJob' ? JSON.stringify(info.defaultContainerName) : info.defaultContainerName;
      errs.push(field.required(containersPath, `must have at least one container with name ${shown}`));
    }
    const replicas = isObject(rs) ? rs.replicas : undefined;
    if ((kind === 'PyTorchJob' || kind === 'XGBoostJob') && type === 'Master') {
      if (replicas !== 1) errs.push(field.forbidden(`${rolePath}.replicas`, 'must be 1'));
    } else if (kind === 'PyTorchJob' && typeof replicas === 'number' && replicas < 1) {
      errs.push(field.forbidden(`${rolePath}.replicas`, 'must be at least 1'));
    }
    if (kind === 'TFJob' && (type === 'Chief' || type === 'Master')) chiefOrMaster++;
  }
  if (kind === 'TFJob' && chiefOrMaster > 1) errs.push(field.forbidden(base, 'must not have more than 1 Chief or Master role'));
  if (kind === 'XGBoostJob' && !('Master' in specs)) errs.push(field.required(`${base}[Master]`, 'must be present'));
  return errs;
}

/**
 * The denial a training-operator webhook's field errors become (controller-
 * runtime admission.Denied of the aggregate, wrapped by the API server's
 * webhook error): 403 Forbidden, duplicates shown once, several in brackets.
 */
export function trainingJobDenied(kind: TrainingKind, errs: readonly FieldError[]): ApiError {
  const msgs = [...new Set(errs.map(fieldErrorMessage))];
  const aggregate = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  const webhook = `validator.${kind.toLowerCase()}.training-operator.kubeflow.org`;
  return new ApiError('Forbidden', `admission webhook "${webhook}" denied the request: ${aggregate}`, {
    causes: errs.map((e) => ({ reason: e.type, message: fieldErrorMessage(e).slice(e.field.length + 2), field: e.field })),
  });
}

/**
 * The CRD's transition rule on `spec.runPolicy.schedulingPolicy.queue`
 * (`self == oldSelf`, checked only where both old and new set it), with the
 * message the CRD gives; Kite's CRD validation does not run CEL.
 */
export function validateQueueImmutable(job: any, old: any): FieldError[] {
  const before = old?.spec?.runPolicy?.schedulingPolicy?.queue;
  const after = job?.spec?.runPolicy?.schedulingPolicy?.queue;
  if (typeof before !== 'string' || typeof after !== 'string' || before === after) return [];
  // upstream's CEL errors show the value's type, not the value.
  return [field.invalid('spec.runPolicy.schedulingPolicy.queue', 'string', 'spec.runPolicy.schedulingPolicy.queue is immutable')];
}

/**
 * Admission of one training-job write of the main resource (not status or
 * scale, which upstream's webhooks do not match): throws the webhook's
 * denial, or 422 Invalid for the CRD's transition rule; returns the warnings
 * to pass on.
 */
export function admitTrainingJob(kind: TrainingKind, job: any, old: any | undefined): string[] {
  if (old) {
    const ruleErrs = validateQueueImmutable(job, old);
    if (ruleErrs.length > 0) throw errors.invalid(KUBEFLOW_GROUP, kind, job?.metadata?.name ?? '', ruleErrs);
  }
  const verdict = validateTrainingJob(kind, job, old);
  if (verdict.errors.length > 0) throw trainingJobDenied(kind, verdict.errors);
  return verdict.warnings;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
