/**
 * Per-kind validation entry point. The API server calls validateObject on
 * every create (old undefined) and update (old given), after decoding and
 * defaulting and before storing; ObjectMeta is validated separately by
 * validateObjectMeta / validateObjectMetaUpdate.
 */
import type { FieldError } from '../errors.js';
import * as core from './core.js';
import * as batch from './batch.js';
import * as others from './others.js';
import * as wl from './workloads.js';
import { validatePod, validatePodTemplateSpec, validatePodUpdate } from './pod.js';
import type { Obj } from './meta.js';

export { validateObjectMeta, validateObjectMetaUpdate, validateLabels, validateAnnotations, validateLabelSelector, selectorMatches } from './meta.js';
export type { ObjectMetaOptions } from './meta.js';
export { cronScheduleError } from '../cron.js';

type Validator = (obj: Obj, old?: Obj) => FieldError[];

/** group/kind → validator; update rules run when `old` is given. */
const VALIDATORS: Record<string, Validator> = {
  '/Pod': (o, old) => (old ? validatePodUpdate(o, old) : validatePod(o)),
  '/PodTemplate': (o) => validatePodTemplateSpec(o.template, 'template'),
  '/ReplicationController': (o) => wl.validateReplicationController(o),
  '/Service': (o, old) => (old ? core.validateServiceUpdate(o, old) : core.validateService(o)),
  '/ConfigMap': (o, old) => (old ? core.validateConfigMapUpdate(o, old) : core.validateConfigMap(o)),
  '/Secret': (o, old) => (old ? core.validateSecretUpdate(o, old) : core.validateSecret(o)),
  '/Namespace': (o) => core.validateNamespace(o),
  '/PersistentVolumeClaim': (o, old) => (old ? core.validatePVCUpdate(o, old) : core.validatePVCSpec(o.spec)),
  '/PersistentVolume': (o) => core.validatePV(o),
  '/ResourceQuota': (o) => core.validateResourceQuota(o),
  '/LimitRange': (o) => core.validateLimitRange(o),
  '/Node': (o, old) => (old ? core.validateNodeUpdate(o, old) : core.validateNode(o)),
  '/Endpoints': (o) => core.validateEndpoints(o),
  'apps/Deployment': (o, old) => [...wl.validateDeployment(o), ...(old ? wl.validateSelectorImmutable(o, old) : [])],
  'apps/ReplicaSet': (o, old) => [...wl.validateReplicaSet(o), ...(old ? wl.validateSelectorImmutable(o, old) : [])],
  'apps/DaemonSet': (o, old) => [...wl.validateDaemonSet(o), ...(old ? wl.validateSelectorImmutable(o, old) : [])],
  'apps/StatefulSet': (o, old) => (old ? wl.validateStatefulSetUpdate(o, old) : wl.validateStatefulSet(o)),
  'apps/ControllerRevision': (o, old) => wl.validateControllerRevision(o, old),
  'batch/Job': (o, old) => (old ? batch.validateJobUpdate(o, old) : batch.validateJob(o)),
  'batch/CronJob': (o, old) => batch.validateCronJob(o, old),
  'networking.k8s.io/Ingress': (o) => others.validateIngress(o),
  'networking.k8s.io/NetworkPolicy': (o) => others.validateNetworkPolicy(o),
  'policy/PodDisruptionBudget': (o) => others.validatePDB(o),
  'autoscaling/HorizontalPodAutoscaler': (o) => others.validateHPA(o),
  'rbac.authorization.k8s.io/Role': (o) => others.validateRole(o, true),
  'rbac.authorization.k8s.io/ClusterRole': (o) => others.validateRole(o, false),
  'rbac.authorization.k8s.io/RoleBinding': (o, old) => (old ? others.validateRoleBindingUpdate(o, old, true) : others.validateRoleBinding(o, true)),
  'rbac.authorization.k8s.io/ClusterRoleBinding': (o, old) =>
    old ? others.validateRoleBindingUpdate(o, old, false) : others.validateRoleBinding(o, false),
  'scheduling.k8s.io/PriorityClass': (o, old) => (old ? others.validatePriorityClassUpdate(o, old) : others.validatePriorityClass(o)),
  'storage.k8s.io/StorageClass': (o, old) => (old ? others.validateStorageClassUpdate(o, old) : others.validateStorageClass(o)),
  'coordination.k8s.io/Lease': (o) => others.validateLease(o),
  'discovery.k8s.io/EndpointSlice': (o, old) => (old ? others.validateEndpointSliceUpdate(o, old) : others.validateEndpointSlice(o)),
};

/** Validates one object of a built-in kind (create when `old` is undefined, update otherwise); kinds not covered yield []. */
export function validateObject(group: string, kind: string, obj: any, old?: any): FieldError[] {
  const v = VALIDATORS[`${group}/${kind}`];
  return v ? v(obj ?? {}, old) : [];
}
