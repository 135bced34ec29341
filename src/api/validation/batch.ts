/**
 * Validation of batch/v1 Job and CronJob after upstream
 * pkg/apis/batch/validation; schedules are checked by the one cron parser
 * (src/api/cron.ts), whose error texts upstream reports verbatim.
 */
import { field, type FieldError } from '../errors.js';
import { deepEqual, selectorMatches, validateImmutableField, validateLabelSelector, validateNonnegative, type Obj } from './meta.js';
import { validatePodTemplateSpec } from './pod.js';
import { cronScheduleError, isKnownTimeZone } from '../cron.js';

const MAX_PARALLELISM_FOR_INDEXED_JOB = 100000;

/** validateTimeZone for CronJob spec.timeZone. */
function validateTimeZone(tz: unknown, path: string): FieldError[] {
  if (tz === undefined || tz === null) return [];
  const s = String(tz);
  if (s.length === 0) return [field.invalid(path, s, 'timeZone must be nil or non-empty string')];
  for (const part of s.split('/')) {
    if (part === '.' || part === '..' || part.startsWith('-') || !/^[A-Za-z\.\-_0-9+]{1,14}$/.test(part)) {
      return [field.invalid(path, s, `unknown time zone ${s}`)];
    }
  }
  if (s.toLowerCase() === 'local') return [field.invalid(path, s, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones')];
  if (!isKnownTimeZone(s)) return [field.invalid(path, s, `unknown time zone ${s}`)];
  return [];
}

/** validateJobSpec (shared by Job and CronJob's jobTemplate). */
export function validateJobSpec(spec: Obj | undefined, path: string, requireSelector: boolean): FieldError[] {
  const s: Obj = spec ?? {};
  const errs: FieldError[] = [];
  for (const k of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex', 'maxFailedIndexes']) {
    errs.push(...validateNonnegative(s[k], `${path}.${k}`));
  }
  if (s.completionMode !== undefined) {
    if (s.completionMode !== 'NonIndexed' && s.completionMode !== 'Indexed') {
      errs.push(field.notSupported(`${path}.completionMode`, s.completionMode, ['NonIndexed', 'Indexed']));
    }
    if (s.completionMode === 'Indexed') {
      if (s.completions === undefined || s.completions === null) errs.push(field.required(`${path}.completions`, 'when completion mode is Indexed'));
      if (typeof s.parallelism === 'number' && s.parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB) {
        errs.push(field.invalid(`${path}.parallelism`, s.parallelism, `must be less than or equal to ${MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed`));
      }
    }
  }
  if (s.backoffLimitPerIndex !== undefined && s.completionMode !== 'Indexed') {
    errs.push(field.forbidden(`${path}.backoffLimitPerIndex`, 'requires indexed completion mode'));
  }
  if (s.podReplacementPolicy !== undefined && s.podReplacementPolicy !== 'TerminatingOrFailed' && s.podReplacementPolicy !== 'Failed') {
    errs.push(field.notSupported(`${path}.podReplacementPolicy`, s.podReplacementPolicy, ['TerminatingOrFailed', 'Failed']));
  }
  if (s.podFailurePolicy) errs.push(...validatePodFailurePolicy(s.podFailurePolicy, `${path}.podFailurePolicy`));
  if (requireSelector) {
    if (!s.selector) errs.push(field.required(`${path}.selector`, ''));
    else errs.push(...validateLabelSelector(s.selector, `${path}.selector`));
  }
  if (s.selector && !selectorMatches(s.selector, s.template?.metadata?.labels)) {
    errs.push(field.invalid(`${path}.template.metadata.labels`, s.template?.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec(s.template, `${path}.template`));
  const rp = s.template?.spec?.restartPolicy;
  const rpPath = `${path}.template.spec.restartPolicy`;
  if (rp === 'Always' || rp === undefined || rp === '') errs.push(field.required(rpPath, 'valid values: "OnFailure", "Never"'));
  else if (rp !== 'OnFailure' && rp !== 'Never') errs.push(field.notSupported(rpPath, rp, ['OnFailure', 'Never']));
  else if (s.podFailurePolicy && rp !== 'Never') errs.push(field.invalid(rpPath, rp, 'only "Never" is supported when podFailurePolicy is specified'));
  return errs;
}

/** validatePodFailurePolicy basics: actions, operators, exactly one of onExitCodes/onPodConditions. */
function validatePodFailurePolicy(pfp: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const rules: Obj[] = pfp.rules ?? [];
  if (rules.length > 20) errs.push(field.tooMany(`${path}.rules`, rules.length, 20));
  rules.forEach((r, i) => {
    const p = `${path}.rules[${i}]`;
    const actions = ['Count', 'FailIndex', 'FailJob', 'Ignore'];
    if (!actions.includes(r.action)) errs.push(field.notSupported(`${p}.action`, r.action ?? '', actions));
    if (r.onExitCodes && r.onPodConditions) errs.push(field.invalid(p, r, 'specifying both OnExitCodes and OnPodConditions is not supported'));
    else if (!r.onExitCodes && !(r.onPodConditions?.length > 0)) errs.push(field.invalid(p, r, 'specifying one of OnExitCodes and OnPodConditions is required'));
    if (r.onExitCodes) {
      const op = r.onExitCodes.operator;
      if (op !== 'In' && op !== 'NotIn') errs.push(field.notSupported(`${p}.onExitCodes.operator`, op ?? '', ['In', 'NotIn']));
      const values: number[] = r.onExitCodes.values ?? [];
      if (values.length === 0) errs.push(field.required(`${p}.onExitCodes.values`, 'at least one value is required'));
      if (op === 'In') values.forEach((v, j) => v === 0 && errs.push(field.invalid(`${p}.onExitCodes.values[${j}]`, v, 'must not be 0 for the In operator')));
    }
  });
  return errs;
}

/** ValidateJob (create): the spec; the generated selector is added by the Job strategy (see jobGenerateSelector). */
export function validateJob(job: Obj): FieldError[] {
  return validateJobSpec(job.spec, 'spec', true);
}

/** ValidateJobUpdate: completions (unless elastic Indexed), selector, template, completionMode, podFailurePolicy… are immutable. */
export function validateJobUpdate(job: Obj, old: Obj): FieldError[] {
  const errs = validateJob(job);
  const s: Obj = job.spec ?? {};
  const o: Obj = old.spec ?? {};
  const indexed = s.completionMode === 'Indexed';
  if (!indexed) errs.push(...validateImmutableField(s.completions, o.completions, 'spec.completions'));
  else if (!deepEqual(s.completions, o.completions) && s.completions !== s.parallelism) {
    errs.push(field.invalid('spec.completions', s.completions ?? null, 'can only be modified in tandem with spec.parallelism'));
  }
  errs.push(...validateImmutableField(s.selector, o.selector, 'spec.selector'));
  // The template may only change while the job was suspended and has never started (upstream
  // validationOptionsForJob reads the old job: unsuspending and changing scheduling directives
  // may happen in one update, as queue controllers do); we allow that case wholesale.
  const mutableTemplate = o.suspend === true && !old.status?.startTime;
  if (!mutableTemplate) errs.push(...validateImmutableField(s.template, o.template, 'spec.template'));
  for (const k of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy', 'successPolicy']) {
    errs.push(...validateImmutableField(s[k], o[k], `spec.${k}`));
  }
  return errs;
}

/** ValidateCronJobCreate / Update (old given): schedule, timeZone, concurrencyPolicy, limits, jobTemplate, the 52-char name limit. */
export function validateCronJob(cj: Obj, old?: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s: Obj = cj.spec ?? {};
  if (!old && typeof cj.metadata?.name === 'string' && cj.metadata.name.length > 52) {
    // the controller appends an 11-character suffix (`-<timestamp>`) for job names, which are limited to 63
    errs.push(field.invalid('metadata.name', cj.metadata.name, 'must be no more than 52 characters'));
  }
  if (!s.schedule) errs.push(field.required('spec.schedule', ''));
  else {
    const allowTZ = old ? String(old.spec?.schedule ?? '').includes('TZ') : false;
    const msg = cronScheduleError(s.schedule);
    if (msg) errs.push(field.invalid('spec.schedule', s.schedule, msg));
    if (allowTZ && s.schedule.includes('TZ') && s.timeZone !== undefined && s.timeZone !== null) {
      errs.push(field.invalid('spec.schedule', s.schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'));
    } else if (!allowTZ && s.schedule.includes('TZ')) {
      errs.push(field.invalid('spec.schedule', s.schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
    }
  }
  errs.push(...validateNonnegative(s.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'));
  if (!old || s.timeZone !== old.spec?.timeZone) errs.push(...validateTimeZone(s.timeZone, 'spec.timeZone'));
  const cp = s.concurrencyPolicy;
  if (cp === undefined || cp === '') errs.push(field.required('spec.concurrencyPolicy', ''));
  else if (!['Allow', 'Forbid', 'Replace'].includes(cp)) errs.push(field.notSupported('spec.concurrencyPolicy', cp, ['Allow', 'Forbid', 'Replace']));
  const jt: Obj = s.jobTemplate ?? {};
  errs.push(...validateJobSpec(jt.spec, 'spec.jobTemplate.spec', false));
  errs.push(...validateNonnegative(s.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'));
  errs.push(...validateNonnegative(s.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'));
  return errs;
}
