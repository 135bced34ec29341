import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { CRONJOB_SCHEDULED_TIMESTAMP, CronJobController, rfc3339InZone } from './cronjob.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

const NS = 'default';
const MINUTE = 60_000;

/** A clock the test sets by hand. */
function settableClock(start: number) {
  let t = start;
  return { now: () => new Date(t), set: (ms: number) => (t = ms) };
}

async function setup() {
  const cluster = await startTestCluster();
  await cluster.namespace(NS);
  const clock = settableClock(Date.now());
  const controller = new CronJobController({ client: cluster.client, informers: cluster.informers, clock });
  await controller.start();
  return {
    cluster,
    controller,
    clock,
    /** Creates a CronJob and returns the first schedule boundary after its creation. */
    async create(name: string, spec: Record<string, unknown> = {}): Promise<number> {
      const cj = await cluster.client.create<any>(R.cronjobs, NS, {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name },
        spec: {
          schedule: '* * * * *',
          timeZone: 'UTC',
          jobTemplate: {
            metadata: { labels: { team: 'ml' } },
            spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'] }] } } },
          },
          ...spec,
        },
      });
      await eventually(() => cluster.informers.informer(R.cronjobs).get(NS, name), 'CronJob in cache');
      return Math.floor(Date.parse(cj.metadata.creationTimestamp) / MINUTE) * MINUTE + MINUTE;
    },
    /** Moves the clock and lets the controller look at the CronJob. */
    async at(ms: number, name: string) {
      // Let the controller's cache catch up with the CronJob's last status write first.
      const rv = (await cluster.client.get(R.cronjobs, NS, name)).metadata.resourceVersion;
      await eventually(() => cluster.informers.informer(R.cronjobs).get(NS, name)?.metadata.resourceVersion === rv, 'CronJob cache current');
      clock.set(ms);
      controller.enqueue(`${NS}/${name}`);
      await controller.idle();
    },
    async close() {
      controller.stop();
      await cluster.close();
    },
  };
}

async function jobs(c: TestCluster): Promise<any[]> {
  return (await c.client.list(R.jobs, NS)).items.sort((a: any, b: any) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

async function events(c: TestCluster, reason: string): Promise<any[]> {
  return (await c.client.list(R.events, NS)).items.filter((e: any) => e.reason === reason);
}

const rfc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Plays the Job controller: the Job ends Complete or Failed. */
async function finishJob(c: TestCluster, name: string, type: 'Complete' | 'Failed', startedAt: number) {
  const j = await c.client.get(R.jobs, NS, name);
  const start = rfc(startedAt);
  const end = rfc(startedAt + 1000);
  const target = type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget';
  const reason = type === 'Complete' ? 'CompletionsReached' : 'BackoffLimitExceeded';
  j.status = {
    startTime: start,
    ...(type === 'Complete' ? { completionTime: end, succeeded: 1 } : { failed: 1 }),
    conditions: [
      { type: target, status: 'True', reason, message: 'm', lastProbeTime: end, lastTransitionTime: end },
      { type, status: 'True', reason, message: 'm', lastProbeTime: end, lastTransitionTime: end },
    ],
  };
  await c.client.update(R.jobs, NS, j, { subresource: 'status' });
  await eventually(() => c.informers.informer(R.jobs).get(NS, name)?.status?.conditions?.length === 2, 'finished Job in cache');
}

test('a CronJob creates its Job at the scheduled time, named after the minute', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.cluster;
  const first = await env.create('hello');
  await env.at(first - 1000, 'hello');
  assert.equal((await jobs(c)).length, 0, 'nothing before the schedule');

  await env.at(first + 5000, 'hello');
  const [job] = await jobs(c);
  const cj = await c.client.get(R.cronjobs, NS, 'hello');
  assert.equal(job.metadata.name, `hello-${first / MINUTE}`);
  assert.equal(job.metadata.annotations[CRONJOB_SCHEDULED_TIMESTAMP], rfc(first));
  assert.equal(job.metadata.labels.team, 'ml');
  assert.deepEqual(job.metadata.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'hello', uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(
    cj.status.active.map((r: any) => [r.kind, r.name, r.uid]),
    [['Job', job.metadata.name, job.metadata.uid]],
  );
  assert.equal(cj.status.lastScheduleTime, rfc(first));
  assert.equal((await events(c, 'SuccessfulCreate'))[0].message, `Created job ${job.metadata.name}`);

  // The same schedule time is never started twice.
  await env.at(first + 20_000, 'hello');
  assert.equal((await jobs(c)).length, 1);
  // Allow (the default): the next minute starts another Job beside the running one.
  await env.at(first + MINUTE + 1000, 'hello');
  assert.deepEqual(
    (await jobs(c)).map((j) => j.metadata.name),
    [`hello-${first / MINUTE}`, `hello-${first / MINUTE + 1}`],
  );
});

test('concurrencyPolicy Forbid skips a run while the previous Job is active', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.cluster;
  const first = await env.create('solo', { concurrencyPolicy: 'Forbid' });
  await env.at(first + 1000, 'solo');
  await env.at(first + MINUTE + 1000, 'solo');
  assert.equal((await jobs(c)).length, 1, 'no second Job while the first runs');
  const skipped = await events(c, 'JobAlreadyActive');
  assert.equal(skipped[0].message, 'Not starting job because prior execution is running and concurrency policy is Forbid');

  await finishJob(c, `solo-${first / MINUTE}`, 'Complete', first + 2000);
  // Once the first Job finished, the skipped (still most recent) schedule time runs.
  await env.at(first + MINUTE + 2000, 'solo');
  const cj = await c.client.get(R.cronjobs, NS, 'solo');
  assert.deepEqual(
    cj.status.active.map((r: any) => r.name),
    [`solo-${first / MINUTE + 1}`],
  );
  assert.equal(cj.status.lastSuccessfulTime, rfc(first + 3000));
  assert.equal(cj.status.lastScheduleTime, rfc(first + MINUTE));
  assert.equal((await events(c, 'SawCompletedJob'))[0].message, `Saw completed job: solo-${first / MINUTE}, status: Complete`);
  assert.equal((await jobs(c)).length, 2);
});

test('concurrencyPolicy Replace deletes the running Job and starts the new one', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.cluster;
  const first = await env.create('swap', { concurrencyPolicy: 'Replace' });
  await env.at(first + 1000, 'swap');
  await env.at(first + MINUTE + 1000, 'swap');
  const names = (await jobs(c)).map((j) => j.metadata.name);
  assert.deepEqual(names, [`swap-${first / MINUTE + 1}`]);
  const cj = await c.client.get(R.cronjobs, NS, 'swap');
  assert.deepEqual(
    cj.status.active.map((r: any) => r.name),
    [`swap-${first / MINUTE + 1}`],
  );
  assert.equal((await events(c, 'SuccessfulDelete'))[0].message, `Deleted job swap-${first / MINUTE}`);
});

test('history limits keep only the newest finished Jobs', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.cluster;
  const first = await env.create('hist', { successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 });
  for (let i = 0; i < 4; i++) await env.at(first + i * MINUTE + 1000, 'hist');
  const made = (await jobs(c)).map((j) => j.metadata.name);
  assert.equal(made.length, 4);
  await finishJob(c, made[0], 'Complete', first + 1000);
  await finishJob(c, made[1], 'Complete', first + MINUTE + 1000);
  await finishJob(c, made[2], 'Failed', first + 2 * MINUTE + 1000);
  await finishJob(c, made[3], 'Failed', first + 3 * MINUTE + 1000);
  await env.at(first + 3 * MINUTE + 30_000, 'hist');
  assert.deepEqual(
    (await jobs(c)).map((j) => j.metadata.name),
    [made[1], made[3]],
  );
  const cj = await c.client.get(R.cronjobs, NS, 'hist');
  assert.deepEqual(cj.status.active ?? [], []);
  assert.equal((await events(c, 'SuccessfulDelete')).length, 2);
});

test('a suspended CronJob, or one past its starting deadline, starts nothing', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.cluster;
  const first = await env.create('paused', { suspend: true });
  await env.at(first + 1000, 'paused');
  assert.equal((await jobs(c)).length, 0);

  env.clock.set(Date.now());
  const late = await env.create('late', { startingDeadlineSeconds: 10 });
  await env.at(late + 30_000, 'late');
  assert.equal((await jobs(c)).filter((j) => j.metadata.name.startsWith('late-')).length, 0, 'the start window has passed');
  await env.at(late + MINUTE + 5000, 'late');
  assert.deepEqual(
    (await jobs(c)).map((j) => j.metadata.name),
    [`late-${late / MINUTE + 1}`],
  );
});

test('the scheduled-timestamp annotation is written in the CronJob time zone', () => {
  assert.equal(rfc3339InZone(Date.parse('2024-07-01T08:00:00Z'), 'Europe/Berlin'), '2024-07-01T10:00:00+02:00');
  assert.equal(rfc3339InZone(Date.parse('2024-01-01T08:00:00Z'), 'America/New_York'), '2024-01-01T03:00:00-05:00');
  assert.equal(rfc3339InZone(Date.parse('2024-01-01T08:00:00Z'), ''), '2024-01-01T08:00:00Z');
});
