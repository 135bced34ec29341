/**
 * The CronJob controller (upstream pkg/controller/cronjob, controller v2):
 * creates a Job named `<cronjob>-<scheduled minutes since the epoch>` for
 * each schedule time, honours concurrencyPolicy, startingDeadlineSeconds,
 * suspend and the history limits, keeps `status.active`,
 * `lastScheduleTime` and `lastSuccessfulTime`, and requeues each CronJob for
 * its next schedule time.
 */
import { R, isStatus, type Client } from '../client/client.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import type { InformerFactory } from '../client/factory.js';
import { WorkQueue } from '../client/workqueue.js';
import { EventRecorder } from '../client/events.js';
import { isKnownTimeZone, parseCronSchedule, type CronSchedule } from '../api/cron.js';
import { isJobFinished, realClock, type Clock } from './job.js';

type Obj = Record<string, any>;

/** Annotation on a CronJob's Job with its scheduled time (RFC 3339, in the CronJob's time zone). */
export const CRONJOB_SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

/** Padding added to a requeue so a slightly early wake-up still finds the schedule due (upstream nextScheduleDelta). */
const NEXT_SCHEDULE_DELTA_MS = 100;

/** Configuration of the CronJob controller. */
export interface CronJobControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Recorder for component `cronjob-controller` (one is made when absent). */
  events?: EventRecorder;
  clock?: Clock;
  workers?: number;
}

function ms(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

/** RFC 3339 with seconds in UTC, as metav1.Time serializes. */
function rfc3339(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Go's time.RFC3339 of an instant in a zone ('' = UTC): `2024-05-01T10:00:00+02:00`, `Z` for a zero offset. */
export function rfc3339InZone(t: number, tz: string): string {
  if (tz === '' || tz === 'UTC') return rfc3339(t);
  const parts: Record<string, string> = {};
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  for (const p of fmt.formatToParts(t)) parts[p.type] = p.value;
  const wallMs = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  const offsetMin = Math.round((wallMs - Math.floor(t / 1000) * 1000) / 60000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const offset = offsetMin === 0 ? 'Z' : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}

function jobCondition(job: Obj): string | undefined {
  const c = (job.status?.conditions ?? []).find((x: Obj) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  return c?.type;
}

function controllerRefOf(obj: Obj): Obj | undefined {
  return (obj.metadata?.ownerReferences ?? []).find((r: Obj) => r.controller === true);
}

function inActiveList(cj: Obj, uid: string): boolean {
  return (cj.status?.active ?? []).some((r: Obj) => r.uid === uid);
}

function deleteFromActiveList(cj: Obj, uid: string): void {
  cj.status ??= {};
  cj.status.active = (cj.status.active ?? []).filter((r: Obj) => r.uid !== uid);
}

/** The CronJob as the subject of an event. */
function cronJobRef(cj: Obj): Obj {
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: cj.metadata };
}

/** `<cronjob>-<minutes since the epoch>`: the same scheduled time always gives the same name. */
export function jobNameFor(cronJobName: string, scheduledTime: number): string {
  return `${cronJobName}-${Math.floor(scheduledTime / 60000)}`;
}

interface MostRecent {
  earliest: number;
  mostRecent?: number;
  missed: 'none' | 'few' | 'many';
  error?: string;
}

/**
 * mostRecentScheduleTime: the last schedule time (or creation), the most
 * recent time a Job should have started (undefined if none is due), and
 * whether schedules were missed.
 */
function mostRecentScheduleTime(cj: Obj, now: number, sched: CronSchedule, includeStartingDeadline: boolean): MostRecent {
  let earliest = ms(cj.status?.lastScheduleTime) ?? ms(cj.metadata?.creationTimestamp) ?? now;
  const sds = cj.spec?.startingDeadlineSeconds;
  if (includeStartingDeadline && typeof sds === 'number') {
    // Nothing before the starting deadline will be scheduled.
    earliest = Math.max(earliest, now - sds * 1000);
  }
  const tooClose = { earliest, missed: 'none' as const, error: 'time difference between two schedules is less than 1 second' };
  const t1 = sched.next(new Date(earliest))?.getTime();
  if (t1 === undefined) return tooClose;
  if (now < t1) return { earliest, missed: 'none' };
  const t2 = sched.next(new Date(t1))?.getTime();
  if (t2 === undefined) return tooClose;
  if (now < t2) return { earliest, mostRecent: t1, missed: 'none' };
  const between = Math.round((t2 - t1) / 1000);
  if (between < 1) return tooClose;
  // A rough count of the schedules that fit between t1 and now, then an exact walk over the last ones.
  const elapsed = Math.floor((now - t1) / 1000);
  const missedCount = Math.floor(elapsed / between) + 1;
  let mostRecent: number | undefined;
  const potentialEarliest = t1 + (missedCount - 2) * between * 1000;
  for (let t = sched.next(new Date(potentialEarliest))?.getTime(); t !== undefined && t <= now; t = sched.next(new Date(t))?.getTime()) mostRecent = t;
  const missed = missedCount > 100 ? 'many' : missedCount > 0 ? 'few' : 'none';
  return { earliest, mostRecent, missed };
}

/** nextScheduleTimeDuration: how long until the next schedule time after the last one, plus the padding. */
function nextScheduleDelay(cj: Obj, now: number, sched: CronSchedule): number {
  const r = mostRecentScheduleTime(cj, now, sched, false);
  let from: number;
  if (r.error) from = now;
  else if (r.mostRecent === undefined) from = r.missed === 'none' ? r.earliest : now;
  else from = r.mostRecent;
  const next = sched.next(new Date(from))?.getTime();
  // A schedule with no next time within five years is looked at again in a day.
  if (next === undefined) return 24 * 3600 * 1000;
  return next + NEXT_SCHEDULE_DELTA_MS - now;
}

/** Creates a CronJob's Jobs on schedule and cleans up after them. */
export class CronJobController {
  private readonly client: Client;
  private readonly cronJobs: Informer;
  private readonly jobs: Informer;
  private readonly events: EventRecorder;
  private readonly clock: Clock;
  private readonly queue: WorkQueue;

  constructor(config: CronJobControllerConfig) {
    this.client = config.client;
    this.cronJobs = config.informers.informer(R.cronjobs);
    this.jobs = config.informers.informer(R.jobs);
    this.events = config.events ?? new EventRecorder(config.client, 'cronjob-controller');
    this.clock = config.clock ?? realClock;
    this.queue = new WorkQueue((k) => this.reconcile(k), { workers: config.workers ?? 5 });
  }

  /** Registers informer handlers and returns once the caches are filled. */
  async start(): Promise<void> {
    this.cronJobs.addHandlers({
      onAdd: (cj) => this.queue.add(objectKey(cj)),
      onUpdate: (old, cur) => this.cronJobUpdated(old, cur),
      onDelete: (cj) => this.queue.add(objectKey(cj)),
    });
    const jobChanged = (job: Obj) => {
      const ref = controllerRefOf(job);
      const cj = ref && this.resolveControllerRef(job.metadata?.namespace, ref);
      if (cj) this.queue.add(objectKey(cj));
    };
    this.jobs.addHandlers({
      onAdd: jobChanged,
      onUpdate: (old, cur) => {
        if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return;
        const oldRef = controllerRefOf(old);
        if (oldRef && oldRef.uid !== controllerRefOf(cur)?.uid) jobChanged(old);
        jobChanged(cur);
      },
      onDelete: jobChanged,
    });
    await Promise.all([this.cronJobs.start(), this.jobs.start()]);
  }

  /** Stops the queue (the shared informers belong to the factory). */
  stop(): void {
    this.queue.stop();
  }

  /** Queues a CronJob for a sync now (e.g. after a test moved its clock). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when no sync is queued or running (delayed requeues may still be pending). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private resolveControllerRef(namespace: string, ref: Obj): Obj | undefined {
    if (ref.kind !== 'CronJob') return undefined;
    const cj = this.cronJobs.get(namespace, ref.name);
    return cj && cj.metadata?.uid === ref.uid ? cj : undefined;
  }

  /** A changed schedule or time zone requeues for the new next time; any other change syncs now. */
  private cronJobUpdated(old: Obj, cur: Obj): void {
    const key = objectKey(cur);
    if (old.spec?.schedule === cur.spec?.schedule && old.spec?.timeZone === cur.spec?.timeZone) {
      this.queue.add(key);
      return;
    }
    let sched: CronSchedule;
    try {
      sched = this.parse(cur);
    } catch {
      void this.events.event(cronJobRef(cur), 'Warning', 'UnParseableCronJobSchedule', `unparseable schedule for cronjob: ${cur.spec?.schedule}`);
      return;
    }
    this.queue.addAfter(key, nextScheduleDelay(cur, this.clock.now().getTime(), sched));
  }

  /** formatSchedule + cron.ParseStandard: spec.timeZone applies unless the schedule carries its own TZ. */
  private parse(cj: Obj): CronSchedule {
    const schedule: string = cj.spec?.schedule ?? '';
    const tz: string | undefined = cj.spec?.timeZone;
    if (schedule.includes('TZ') || tz === undefined || tz === null || !isKnownTimeZone(tz)) return parseCronSchedule(schedule);
    return parseCronSchedule(schedule, tz);
  }

  /** Converges one CronJob (upstream sync): history cleanup, then scheduling; requeues for the next time. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cj = this.cronJobs.get(namespace, name);
    if (!cj) return;
    // Jobs that name this CronJob as their controller, whatever their labels now say.
    const jobs = this.jobs.list(namespace, (j) => {
      const ref = controllerRefOf(j);
      return ref?.kind === 'CronJob' && ref.name === cj.metadata.name;
    });
    let copy: Obj = structuredClone(cj);
    copy.status ??= {};
    const cleaned = await this.cleanupFinishedJobs(copy, jobs);
    let result: { requeueMs?: number; update: boolean; copy: Obj };
    let syncErr: unknown;
    try {
      result = await this.syncCronJob(copy, jobs);
    } catch (e) {
      syncErr = e;
      result = { update: (e as { update?: boolean }).update ?? false, copy };
    }
    copy = result.copy;
    if (cleaned || result.update) {
      await this.client.update(R.cronjobs, namespace, copy, { subresource: 'status' });
    }
    if (result.requeueMs !== undefined) {
      this.queue.addAfter(key, result.requeueMs);
      return;
    }
    if (syncErr) throw syncErr;
  }

  /** syncCronJob: reconciles status.active with the Jobs, then starts the Job that is due, if any. */
  private async syncCronJob(cjIn: Obj, jobs: Obj[]): Promise<{ requeueMs?: number; update: boolean; copy: Obj }> {
    let cj = cjIn;
    const now = this.clock.now().getTime();
    let update = false;
    const fail = (e: unknown): never => {
      throw Object.assign(e instanceof Error ? e : new Error(String(e)), { update });
    };
    const children = new Set<string>();
    for (const j of jobs) {
      const uid = j.metadata.uid;
      children.add(uid);
      const found = inActiveList(cj, uid);
      if (!found && !isJobFinished(j)) {
        let fresh: Obj;
        try {
          fresh = await this.client.get(R.cronjobs, cj.metadata.namespace, cj.metadata.name);
        } catch (e) {
          return fail(e);
        }
        if (inActiveList(fresh, uid)) {
          cj = fresh;
          cj.status ??= {};
          continue;
        }
        // An unfinished Job of ours that is not in status.active: a crash after creating it, or someone else made it.
        await this.events.event(cronJobRef(cj), 'Warning', 'UnexpectedJob', `Saw a job that the controller did not create or forgot: ${j.metadata.name}`);
      } else if (found && isJobFinished(j)) {
        deleteFromActiveList(cj, uid);
        await this.events.event(cronJobRef(cj), 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata.name}, status: ${jobCondition(j)}`);
        update = true;
      } else if (jobCondition(j) === 'Complete') {
        // A succeeded Job need not be in the active list for its completion time to count.
        const done = ms(j.status?.completionTime);
        const last = ms(cj.status.lastSuccessfulTime);
        if (last === undefined || (done !== undefined && done > last)) {
          if (j.status?.completionTime) cj.status.lastSuccessfulTime = j.status.completionTime;
          update = true;
        }
      }
    }
    // Active entries whose Job is gone (checked against the API server, the cache may lag).
    for (const ref of [...(cj.status.active ?? [])]) {
      if (children.has(ref.uid)) continue;
      try {
        await this.client.get(R.jobs, ref.namespace ?? cj.metadata.namespace, ref.name);
      } catch (e) {
        if (!isStatus(e, 404)) return fail(e);
        await this.events.event(cronJobRef(cj), 'Normal', 'MissingJob', `Active job went missing: ${ref.name}`);
        deleteFromActiveList(cj, ref.uid);
        update = true;
      }
    }
    // A CronJob being deleted only gets its status brought up to date.
    if (cj.metadata?.deletionTimestamp) return { update, copy: cj };

    const tz = cj.spec?.timeZone;
    if (tz !== undefined && tz !== null && !isKnownTimeZone(tz)) {
      await this.events.event(cronJobRef(cj), 'Warning', 'UnknownTimeZone', `invalid timeZone: ${JSON.stringify(tz)}: unknown time zone ${tz}`);
      return { update, copy: cj };
    }
    if (cj.spec?.suspend === true) return { update, copy: cj };

    const schedule: string = cj.spec?.schedule ?? '';
    if (schedule.includes('TZ')) {
      await this.events.event(
        cronJobRef(cj),
        'Warning',
        'UnsupportedSchedule',
        `CRON_TZ or TZ used in schedule ${JSON.stringify(schedule)} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details`,
      );
    }
    let sched: CronSchedule;
    try {
      sched = this.parse(cj);
    } catch (e) {
      await this.events.event(cronJobRef(cj), 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(schedule)} : ${(e as Error).message}`);
      return { update, copy: cj };
    }

    const recent = mostRecentScheduleTime(cj, now, sched, true);
    if (recent.error && recent.mostRecent === undefined) {
      await this.events.event(cronJobRef(cj), 'Warning', 'InvalidSchedule', `invalid schedule: ${schedule} : ${recent.error}`);
      return { update, copy: cj };
    }
    const scheduled = recent.mostRecent;
    if (scheduled === undefined || scheduled > now) {
      return { requeueMs: nextScheduleDelay(cj, now, sched), update, copy: cj };
    }
    if (recent.missed === 'many') {
      await this.events.event(cronJobRef(cj), 'Warning', 'TooManyMissedTimes', 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew');
    }
    const sds = cj.spec?.startingDeadlineSeconds;
    if (typeof sds === 'number' && scheduled + sds * 1000 < now) {
      await this.events.event(cronJobRef(cj), 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${rfc1123z(scheduled)}`);
      return { requeueMs: nextScheduleDelay(cj, now, sched), update, copy: cj };
    }
    const jobName = jobNameFor(cj.metadata.name, scheduled);
    if ((cj.status.active ?? []).some((r: Obj) => r.name === jobName && (r.namespace ?? cj.metadata.namespace) === cj.metadata.namespace) || ms(cj.status.lastScheduleTime) === scheduled) {
      // This schedule time was already processed.
      return { requeueMs: nextScheduleDelay(cj, now, sched), update, copy: cj };
    }
    if (cj.spec?.concurrencyPolicy === 'Forbid' && (cj.status.active ?? []).length > 0) {
      await this.events.event(cronJobRef(cj), 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return { requeueMs: nextScheduleDelay(cj, now, sched), update, copy: cj };
    }
    if (cj.spec?.concurrencyPolicy === 'Replace') {
      for (const ref of [...(cj.status.active ?? [])]) {
        let job: Obj;
        try {
          job = await this.client.get(R.jobs, ref.namespace ?? cj.metadata.namespace, ref.name);
        } catch (e) {
          await this.events.event(cronJobRef(cj), 'Warning', 'FailedGet', `Get job: ${(e as Error).message}`);
          return fail(e);
        }
        if (!(await this.deleteJob(cj, job))) return fail(new Error(`could not replace job ${job.metadata.namespace}/${job.metadata.name}`));
        update = true;
      }
    }

    const req = this.jobFromTemplate(cj, scheduled);
    let created: Obj;
    try {
      created = await this.client.create(R.jobs, cj.metadata.namespace, req);
      await this.events.event(cronJobRef(cj), 'Normal', 'SuccessfulCreate', `Created job ${created.metadata.name}`);
    } catch (e) {
      if (!isStatus(e, 409) || (e as { reason?: string }).reason !== 'AlreadyExists') {
        if (!/being terminated/.test((e as Error).message ?? '')) {
          await this.events.event(cronJobRef(cj), 'Warning', 'FailedCreate', `Error creating job: ${(e as Error).message}`);
        }
        return fail(e);
      }
      // The Job exists: if we made it but lost the status update, record it as active now.
      let existing: Obj;
      try {
        existing = await this.client.get(R.jobs, cj.metadata.namespace, req.metadata.name);
      } catch (e2) {
        return fail(e2);
      }
      if (controllerRefOf(existing)?.uid !== cj.metadata.uid) return { update, copy: cj };
      if (inActiveList(cj, existing.metadata.uid)) return { update, copy: cj };
      created = existing;
    }
    cj.status.active = [
      ...(cj.status.active ?? []),
      { kind: 'Job', namespace: created.metadata.namespace, name: created.metadata.name, uid: created.metadata.uid, apiVersion: 'batch/v1', resourceVersion: created.metadata.resourceVersion },
    ];
    cj.status.lastScheduleTime = rfc3339(scheduled);
    update = true;
    return { requeueMs: nextScheduleDelay(cj, now, sched), update, copy: cj };
  }

  /** getJobFromTemplate2: the Job for one scheduled time. */
  private jobFromTemplate(cj: Obj, scheduled: number): Obj {
    const tmpl: Obj = cj.spec?.jobTemplate ?? {};
    const annotations: Record<string, string> = { ...(tmpl.metadata?.annotations ?? {}) };
    annotations[CRONJOB_SCHEDULED_TIMESTAMP] = rfc3339InZone(scheduled, cj.spec?.timeZone ?? '');
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: jobNameFor(cj.metadata.name, scheduled),
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        annotations,
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata.name, uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(tmpl.spec ?? {}),
    };
  }

  /** deleteJob: deletes a Job (its pods follow in the background) and drops it from status.active. */
  private async deleteJob(cj: Obj, job: Obj): Promise<boolean> {
    try {
      await this.client.delete(R.jobs, job.metadata.namespace, job.metadata.name, { propagationPolicy: 'Background' });
    } catch (e) {
      await this.events.event(cronJobRef(cj), 'Warning', 'FailedDelete', `Deleted job: ${(e as Error).message}`);
      return false;
    }
    deleteFromActiveList(cj, job.metadata.uid);
    await this.events.event(cronJobRef(cj), 'Normal', 'SuccessfulDelete', `Deleted job ${job.metadata.name}`);
    return true;
  }

  /** cleanupFinishedJobs: keeps at most the history limits of succeeded and failed Jobs, deleting the oldest. */
  private async cleanupFinishedJobs(cj: Obj, jobs: Obj[]): Promise<boolean> {
    const okLimit = cj.spec?.successfulJobsHistoryLimit;
    const failLimit = cj.spec?.failedJobsHistoryLimit;
    if (typeof okLimit !== 'number' && typeof failLimit !== 'number') return false;
    let update = false;
    const succeeded = jobs.filter((j) => jobCondition(j) === 'Complete');
    const failed = jobs.filter((j) => jobCondition(j) === 'Failed');
    if (typeof okLimit === 'number' && (await this.removeOldest(cj, succeeded, okLimit))) update = true;
    if (typeof failLimit === 'number' && (await this.removeOldest(cj, failed, failLimit))) update = true;
    return update;
  }

  private async removeOldest(cj: Obj, jobs: Obj[], max: number): Promise<boolean> {
    const n = jobs.length - max;
    if (n <= 0) return false;
    // byJobStartTime: started Jobs oldest first, unstarted ones last, names break ties.
    const sorted = [...jobs].sort((a, b) => {
      const sa = ms(a.status?.startTime);
      const sb = ms(b.status?.startTime);
      if (sa === undefined && sb !== undefined) return 1;
      if (sa !== undefined && sb === undefined) return -1;
      if (sa === sb) return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
      return sa! - sb!;
    });
    let update = false;
    for (let i = 0; i < n; i++) if (await this.deleteJob(cj, sorted[i]!)) update = true;
    return update;
  }
}

/** Go's time.RFC1123Z in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`. */
function rfc1123z(t: number): string {
  const d = new Date(t);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
