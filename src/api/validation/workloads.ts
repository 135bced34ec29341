/**
 * Validation of the workload kinds (apps/v1 Deployment, ReplicaSet,
 * StatefulSet, DaemonSet; core/v1 ReplicationController) after upstream
 * pkg/apis/apps/validation and core's ValidateReplicationController.
 */
import { field, type FieldError } from '../errors.js';
import { isValidPercent } from '../names.js';
import { validatePodTemplateSpec } from './pod.js';
import {
  deepEqual,
  selectorIsEmpty,
  selectorMatches,
  validateImmutableField,
  validateLabelSelector,
  validateNonnegative,
  type Obj,
} from './meta.js';

/** The message upstream uses when a controller's selector does not select its own template. */
export const SELECTOR_MISMATCH = '`selector` does not match template `labels`';

/** ValidatePodTemplateSpecForReplicaSet and kin: selector match, template, restartPolicy Always, no activeDeadlineSeconds. */
function validateTemplateForController(template: Obj | undefined, selector: Obj | undefined, path: string, what: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!template) return [field.required(path, '')];
  if (selector && !selectorIsEmpty(selector) && !selectorMatches(selector, template.metadata?.labels)) {
    errs.push(field.invalid(`${path}.metadata.labels`, template.metadata?.labels ?? {}, SELECTOR_MISMATCH));
  }
  errs.push(...validatePodTemplateSpec(template, path));
  const rp = template.spec?.restartPolicy;
  if (rp !== 'Always') errs.push(field.notSupported(`${path}.spec.restartPolicy`, rp ?? '', ['Always']));
  if (template.spec?.activeDeadlineSeconds !== undefined && template.spec?.activeDeadlineSeconds !== null) {
    errs.push(field.forbidden(`${path}.spec.activeDeadlineSeconds`, `activeDeadlineSeconds in ${what} is not Supported`));
  }
  return errs;
}

/** Selector required, valid, and not empty (`empty selector is invalid for <what>`). */
function validateSelector(selector: Obj | undefined, path: string, what: string): FieldError[] {
  if (!selector) return [field.required(path, '')];
  const errs = validateLabelSelector(selector, path);
  if (selectorIsEmpty(selector)) errs.push(field.invalid(path, selector, `empty selector is invalid for ${what}`));
  return errs;
}

/** IntOrString as upstream's getIntOrPercentValue (percent strings give their number). */
function intOrPercent(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[0-9]+%$/.test(v)) return Number(v.slice(0, -1));
  return 0;
}

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent (the latter when `cap100`). */
function validateIntOrPercent(v: unknown, path: string, cap100: boolean): FieldError[] {
  if (v === undefined || v === null) return [];
  const errs: FieldError[] = [];
  if (typeof v === 'string') for (const m of isValidPercent(v)) errs.push(field.invalid(path, v, m));
  else errs.push(...validateNonnegative(v, path));
  if (cap100 && typeof v === 'string' && /^[0-9]+%$/.test(v) && intOrPercent(v) > 100) errs.push(field.invalid(path, v, 'must not be greater than 100%'));
  return errs;
}

/** A rolling update's maxUnavailable/maxSurge rules (Deployment and DaemonSet). */
function validateRollingUpdate(ru: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`, false));
  errs.push(...validateIntOrPercent(ru.maxSurge, `${path}.maxSurge`, false));
  if (intOrPercent(ru.maxUnavailable) === 0 && intOrPercent(ru.maxSurge) === 0) {
    errs.push(field.invalid(`${path}.maxUnavailable`, ru.maxUnavailable ?? 0, 'may not be 0 when `maxSurge` is 0'));
  }
  if (typeof ru.maxUnavailable === 'string' && intOrPercent(ru.maxUnavailable) > 100) {
    errs.push(field.invalid(`${path}.maxUnavailable`, ru.maxUnavailable, 'must not be greater than 100%'));
  }
  return errs;
}

/** ValidateDeploymentSpec. */
export function validateDeployment(d: Obj): FieldError[] {
  const s: Obj = d.spec ?? {};
  const errs: FieldError[] = [];
  errs.push(...validateNonnegative(s.replicas, 'spec.replicas'));
  errs.push(...validateSelector(s.selector, 'spec.selector', 'deployment'));
  errs.push(...validateTemplateForController(s.template, s.selector, 'spec.template', 'ReplicaSet'));
  const st: Obj = s.strategy ?? {};
  switch (st.type) {
    case 'Recreate':
      if (st.rollingUpdate) errs.push(field.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
      break;
    case 'RollingUpdate':
      if (!st.rollingUpdate) errs.push(field.required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
      else errs.push(...validateRollingUpdate(st.rollingUpdate, 'spec.strategy.rollingUpdate'));
      break;
    default:
      errs.push(field.notSupported('spec.strategy', st, ['Recreate', 'RollingUpdate']));
  }
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegative(s.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (typeof s.progressDeadlineSeconds === 'number') {
    errs.push(...validateNonnegative(s.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'));
    if (s.progressDeadlineSeconds <= (s.minReadySeconds ?? 0)) {
      errs.push(field.invalid('spec.progressDeadlineSeconds', s.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

/** ValidateReplicaSetSpec (also used for ReplicationController's shape, see below). */
export function validateReplicaSet(rs: Obj): FieldError[] {
  const s: Obj = rs.spec ?? {};
  const errs: FieldError[] = [];
  errs.push(...validateNonnegative(s.replicas, 'spec.replicas'));
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateSelector(s.selector, 'spec.selector', 'deployment'));
  errs.push(...validateTemplateForController(s.template, s.selector, 'spec.template', 'ReplicaSet'));
  return errs;
}

/** ValidateReplicationControllerSpec: a map selector that must be non-empty and match the template. */
export function validateReplicationController(rc: Obj): FieldError[] {
  const s: Obj = rc.spec ?? {};
  const errs: FieldError[] = [];
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  const selector: Obj = s.selector ?? {};
  if (Object.keys(selector).length === 0) errs.push(field.required('spec.selector', ''));
  errs.push(...validateNonnegative(s.replicas, 'spec.replicas'));
  const tmpl: Obj | undefined = s.template;
  if (!tmpl) errs.push(field.required('spec.template', ''));
  else {
    const labels: Obj = tmpl.metadata?.labels ?? {};
    if (Object.keys(selector).length > 0 && !Object.entries(selector).every(([k, v]) => labels[k] === v)) {
      errs.push(field.invalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
    }
    errs.push(...validatePodTemplateSpec(tmpl, 'spec.template'));
    if (tmpl.spec?.restartPolicy !== 'Always') errs.push(field.notSupported('spec.template.spec.restartPolicy', tmpl.spec?.restartPolicy ?? '', ['Always']));
    if (tmpl.spec?.activeDeadlineSeconds !== undefined) {
      errs.push(field.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicationController is not Supported'));
    }
  }
  return errs;
}

/** ValidateStatefulSetSpec. */
export function validateStatefulSet(ss: Obj): FieldError[] {
  const s: Obj = ss.spec ?? {};
  const errs: FieldError[] = [];
  const pmp = s.podManagementPolicy;
  if (pmp === undefined || pmp === '') errs.push(field.required('spec.podManagementPolicy', ''));
  else if (pmp !== 'OrderedReady' && pmp !== 'Parallel') errs.push(field.invalid('spec.podManagementPolicy', pmp, "must be 'OrderedReady' or 'Parallel'"));
  const us: Obj = s.updateStrategy ?? {};
  switch (us.type) {
    case 'RollingUpdate':
      if (us.rollingUpdate) {
        errs.push(...validateNonnegative(us.rollingUpdate.partition, 'spec.updateStrategy.rollingUpdate.partition'));
        if (us.rollingUpdate.maxUnavailable !== undefined) {
          errs.push(...validateIntOrPercent(us.rollingUpdate.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable', true));
          if (intOrPercent(us.rollingUpdate.maxUnavailable) === 0) {
            errs.push(field.invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', us.rollingUpdate.maxUnavailable, 'must be greater than 0'));
          }
        }
      }
      break;
    case 'OnDelete':
      if (us.rollingUpdate) errs.push(field.invalid('spec.updateStrategy.rollingUpdate', us.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"));
      break;
    case undefined:
    case '':
      errs.push(field.required('spec.updateStrategy', ''));
      break;
    default:
      errs.push(field.invalid('spec.updateStrategy', us, "must be 'RollingUpdate' or 'OnDelete'"));
  }
  const pol: Obj | undefined = s.persistentVolumeClaimRetentionPolicy;
  if (pol) {
    for (const k of ['whenDeleted', 'whenScaled']) {
      if (pol[k] !== 'Retain' && pol[k] !== 'Delete') errs.push(field.notSupported(`spec.persistentVolumeClaimRetentionPolicy.${k}`, pol[k] ?? '', ['Retain', 'Delete']));
    }
  }
  errs.push(...validateNonnegative(s.replicas, 'spec.replicas'));
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  if (s.ordinals) errs.push(...validateNonnegative(s.ordinals.start, 'spec.ordinals.start'));
  errs.push(...validateSelector(s.selector, 'spec.selector', 'statefulset'));
  // Containers may mount the claim templates: each pod gets them as persistentVolumeClaim volumes (replacing same-named ones).
  const claimNames = new Set(((s.volumeClaimTemplates ?? []) as Obj[]).map((t) => t?.metadata?.name));
  const claims = [...claimNames].map((name) => ({ name, persistentVolumeClaim: { claimName: name } }));
  const own = ((s.template?.spec?.volumes ?? []) as Obj[]).filter((v) => !claimNames.has(v?.name));
  const template = s.template && claims.length ? { ...s.template, spec: { ...(s.template.spec ?? {}), volumes: [...own, ...claims] } } : s.template;
  errs.push(...validateTemplateForController(template, s.selector, 'spec.template', 'StatefulSet'));
  return errs;
}

/** ValidateStatefulSetUpdate: only replicas, ordinals, template, updateStrategy, PVC retention policy and minReadySeconds may change. */
export function validateStatefulSetUpdate(ss: Obj, old: Obj): FieldError[] {
  const errs = validateStatefulSet(ss);
  const n: Obj = { ...(ss.spec ?? {}) };
  const o: Obj = { ...(old.spec ?? {}) };
  for (const k of ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds']) {
    delete n[k];
    delete o[k];
  }
  if (!deepEqual(n, o)) {
    errs.push(
      field.forbidden(
        'spec',
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    );
  }
  return errs;
}

/** ValidateDaemonSetSpec. */
export function validateDaemonSet(ds: Obj): FieldError[] {
  const s: Obj = ds.spec ?? {};
  const errs: FieldError[] = [];
  errs.push(...validateSelector(s.selector, 'spec.selector', 'daemonset'));
  errs.push(...validateTemplateForController(s.template, s.selector, 'spec.template', 'DaemonSet'));
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegative(s.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  const us: Obj = s.updateStrategy ?? {};
  switch (us.type) {
    case 'OnDelete':
      break;
    case 'RollingUpdate':
      if (!us.rollingUpdate) errs.push(field.required('spec.updateStrategy.rollingUpdate', ''));
      else errs.push(...validateRollingUpdate(us.rollingUpdate, 'spec.updateStrategy.rollingUpdate'));
      break;
    default:
      errs.push(field.notSupported('spec.updateStrategy', us, ['OnDelete', 'RollingUpdate']));
  }
  return errs;
}

/** ValidateControllerRevision: data is mandatory and revision not negative; on update, data is immutable. */
export function validateControllerRevision(cr: Obj, old?: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (cr.data === undefined || cr.data === null) errs.push(field.required('data', 'data is mandatory'));
  errs.push(...validateNonnegative(cr.revision, 'revision'));
  if (old) errs.push(...validateImmutableField(cr.data, old.data, 'data'));
  return errs;
}

/** apps/v1 update rule shared by Deployment, ReplicaSet and DaemonSet: spec.selector is immutable. */
export function validateSelectorImmutable(obj: Obj, old: Obj): FieldError[] {
  return validateImmutableField(obj.spec?.selector, old.spec?.selector, 'spec.selector');
}
