/**
 * Conditions of a training job (upstream pkg/util/status.go, with one
 * change users asked for): the list reads as a history whose last entry is
 * the job's current state. A condition turning True moves to the end, and
 * the state it replaces (Running, Restarting or Suspended) is set False
 * rather than removed, so `status.conditions[-1]` and `kubectl wait
 * --for=condition=…` both tell the truth. Created stays True; nothing
 * changes once the job has Failed, as upstream.
 */
import type { JobCondition, JobConditionType, TrainingJobStatus } from '../../api/kubeflow.js';

/** The conditions that describe what a live job is doing; only one of them is True at a time. */
const STATES: ReadonlySet<JobConditionType> = new Set(['Running', 'Restarting', 'Suspended']);

/** True when the job has this condition with status True. */
export function hasCondition(status: TrainingJobStatus | undefined, type: JobConditionType): boolean {
  return (status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** upstream IsFinished: Succeeded or Failed. */
export function isFinished(status: TrainingJobStatus | undefined): boolean {
  return hasCondition(status, 'Succeeded') || hasCondition(status, 'Failed');
}

/**
 * upstream UpdateJobConditions/setCondition on `status` (changed in place):
 * no-op on a Failed job or when type, status, reason and message are
 * unchanged; lastTransitionTime moves only when the status does.
 */
export function setCondition(
  status: TrainingJobStatus,
  type: JobConditionType,
  value: JobCondition['status'],
  reason: string,
  message: string,
  now: string,
): void {
  if (hasCondition(status, 'Failed')) return;
  const conditions = (status.conditions ??= []);
  const i = conditions.findIndex((c) => c.type === type);
  const cur = i >= 0 ? conditions[i] : undefined;
  if (cur && cur.status === value && cur.reason === reason && cur.message === message) return;
  const next: JobCondition = {
    type,
    status: value,
    reason,
    message,
    lastUpdateTime: now,
    lastTransitionTime: cur && cur.status === value && cur.lastTransitionTime ? cur.lastTransitionTime : now,
  };
  if (value !== 'True') {
    // A condition going False (or Unknown) stays where it is: it is no longer the current state.
    if (cur) conditions[i] = next;
    else conditions.push(next);
    return;
  }
  if (cur) conditions.splice(i, 1);
  // upstream: Succeeded and Failed end Running; Running and Restarting replace each other. Kite keeps the replaced state, set False.
  const ends = STATES.has(type) || type === 'Succeeded' || type === 'Failed';
  if (ends) {
    for (let j = 0; j < conditions.length; j++) {
      const c = conditions[j]!;
      if (STATES.has(c.type) && c.status === 'True') conditions[j] = { ...c, status: 'False', lastUpdateTime: now, lastTransitionTime: now };
    }
  }
  conditions.push(next);
}
