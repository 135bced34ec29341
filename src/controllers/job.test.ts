import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { JOB_TRACKING_FINALIZER, JobController, TTLAfterFinishedController, formatIndexes, parseIndexes, type Clock } from './job.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';
import { getFresh } from './controllerutil.js';

const NS = 'default';

/** A clock the test moves by hand. */
function fakeClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

async function setup(clock?: Clock) {
  const cluster = await startTestCluster();
  await cluster.namespace(NS);
  // No batching or failure back-off: the tests drive pod phases directly.
  const controller = new JobController({ client: cluster.client, informers: cluster.informers, clock, syncBatchMs: 0, podFailureBackoffMs: 0 });
  await controller.start();
  return {
    cluster,
    controller,
    async close() {
      controller.stop();
      await cluster.close();
    },
  };
}

const job = (name: string, spec: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name },
  spec: {
    template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'] }], ...podSpec } },
    ...spec,
  },
});

async function podsOf(c: TestCluster, jobName: string): Promise<any[]> {
  return (await c.client.list(R.pods, NS, { labelSelector: `batch.kubernetes.io/job-name=${jobName}` })).items;
}

async function waitPods(c: TestCluster, jobName: string, pred: (pods: any[]) => boolean, what: string): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => pred((found = await podsOf(c, jobName))), what);
  return found;
}

const activeOnly = (pods: any[]) => pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');

/** Plays the kubelet: the pod ends with this phase and exit code. */
async function finish(c: TestCluster, pod: any, phase: 'Succeeded' | 'Failed', exitCode = phase === 'Succeeded' ? 0 : 1) {
  const fresh = await c.client.get(R.pods, NS, pod.metadata.name);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  fresh.status = {
    ...fresh.status,
    phase,
    containerStatuses: [
      {
        name: 'main',
        image: 'busybox',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode, reason: phase === 'Succeeded' ? 'Completed' : 'Error', startedAt: now, finishedAt: now } },
      },
    ],
  };
  await c.client.update(R.pods, NS, fresh, { subresource: 'status' });
}

async function getJob(c: TestCluster, name: string): Promise<any> {
  return c.client.get(R.jobs, NS, name);
}

function cond(j: any, type: string): any {
  return (j.status?.conditions ?? []).find((x: any) => x.type === type);
}

async function events(c: TestCluster, reason: string, name?: string): Promise<any[]> {
  return (await c.client.list(R.events, NS)).items.filter((e: any) => e.reason === reason && (!name || e.involvedObject?.name === name));
}

test('completed indexes are written as upstream compresses them', () => {
  assert.equal(formatIndexes(parseIndexes('0,1,2,4,6,7', 10)), '0-2,4,6,7');
  assert.equal(formatIndexes(parseIndexes('3-5,9-12', 11)), '3-5,9,10');
});

test('a Job runs pods up to parallelism until completions succeed, then completes', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('pi', { completions: 3, parallelism: 2 }));
  const created = await getJob(c, 'pi');
  const first = await waitPods(c, 'pi', (p) => p.length === 2, 'two pods');
  for (const p of first) {
    assert.match(p.metadata.name, /^pi-[a-z0-9]{5}$/);
    assert.equal(p.metadata.labels['batch.kubernetes.io/controller-uid'], created.metadata.uid);
    assert.equal(p.metadata.labels['controller-uid'], created.metadata.uid);
    assert.equal(p.metadata.labels['batch.kubernetes.io/job-name'], 'pi');
    assert.equal(p.metadata.labels['job-name'], 'pi');
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'Job', name: 'pi', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(p.metadata.finalizers, [JOB_TRACKING_FINALIZER]);
  }
  await eventually(async () => (await getJob(c, 'pi')).status?.active === 2, 'status.active=2');
  assert.ok((await getJob(c, 'pi')).status.startTime);

  await finish(c, first[0], 'Succeeded');
  // The finished pod is counted, loses its finalizer, and a third pod starts.
  await waitPods(c, 'pi', (p) => p.length === 3 && activeOnly(p).length === 2, 'a replacement for the succeeded pod');
  await eventually(async () => (await getJob(c, 'pi')).status?.succeeded === 1, 'succeeded=1');
  const counted = await c.client.get(R.pods, NS, first[0].metadata.name);
  assert.deepEqual(counted.metadata.finalizers ?? [], []);

  for (const p of activeOnly(await podsOf(c, 'pi'))) await finish(c, p, 'Succeeded');
  const done = await eventually(async () => {
    const j = await getJob(c, 'pi');
    return cond(j, 'Complete')?.status === 'True' && j;
  }, 'Complete');
  assert.equal(done.status.succeeded, 3);
  assert.equal(done.status.active, undefined, 'a zero count is omitted, as upstream');
  assert.equal(done.status.failed ?? 0, 0);
  assert.ok(done.status.completionTime);
  const met = cond(done, 'SuccessCriteriaMet');
  assert.deepEqual([met.status, met.reason, met.message], ['True', 'CompletionsReached', 'Reached expected number of succeeded pods']);
  assert.deepEqual([cond(done, 'Complete').reason, cond(done, 'Complete').message], ['CompletionsReached', 'Reached expected number of succeeded pods']);
  // SuccessCriteriaMet comes before Complete.
  assert.ok(done.status.conditions.findIndex((x: any) => x.type === 'SuccessCriteriaMet') < done.status.conditions.findIndex((x: any) => x.type === 'Complete'));
  assert.deepEqual(done.status.uncountedTerminatedPods ?? {}, {});
  assert.equal((await podsOf(c, 'pi')).length, 3);
  await eventually(async () => (await events(c, 'Completed', 'pi')).length === 1, 'Completed event');
  const created3 = await events(c, 'SuccessfulCreate', 'pi');
  assert.equal(created3.length, 3);
  assert.match(created3[0].message, /^Created pod: pi-/);
  assert.equal((await events(c, 'Completed', 'pi'))[0].message, 'Job completed');
});

test('a pod deleted right after it finished is still counted (tracking finalizer)', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('quick', { completions: 1 }));
  const [pod] = await waitPods(c, 'quick', (p) => p.length === 1, 'one pod');
  await finish(c, pod, 'Succeeded');
  await c.client.delete(R.pods, NS, pod.metadata.name);
  const done = await eventually(async () => {
    const j = await getJob(c, 'quick');
    return cond(j, 'Complete')?.status === 'True' && j;
  }, 'Complete');
  assert.equal(done.status.succeeded, 1);
  // Once counted, the finalizer is gone and so is the pod.
  await eventually(async () => !(await getFresh<any>(c.client, R.pods, NS, pod.metadata.name)), 'pod gone');
  assert.equal((await podsOf(c, 'quick')).length, 0);
});

test('failed pods are replaced until backoffLimit is exceeded, then the Job fails', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('flaky', { backoffLimit: 1 }));
  const [p1] = await waitPods(c, 'flaky', (p) => p.length === 1, 'first pod');
  await finish(c, p1, 'Failed');
  const p2 = activeOnly(await waitPods(c, 'flaky', (p) => activeOnly(p).length === 1 && p.length === 2, 'replacement pod'))[0];
  await eventually(async () => (await getJob(c, 'flaky')).status?.failed === 1, 'failed=1');
  assert.equal(cond(await getJob(c, 'flaky'), 'Failed'), undefined);
  await finish(c, p2, 'Failed');
  const failed = await eventually(async () => {
    const j = await getJob(c, 'flaky');
    return cond(j, 'Failed')?.status === 'True' && j;
  }, 'Failed');
  assert.equal(failed.status.failed, 2);
  assert.equal(failed.status.active, undefined, 'a zero count is omitted, as upstream');
  for (const type of ['FailureTarget', 'Failed']) {
    assert.deepEqual([cond(failed, type).reason, cond(failed, type).message], ['BackoffLimitExceeded', 'Job has reached the specified backoff limit']);
  }
  assert.equal(failed.status.completionTime, undefined);
  assert.equal((await podsOf(c, 'flaky')).length, 2, 'no third pod');
  await eventually(async () => (await events(c, 'BackoffLimitExceeded', 'flaky')).length === 1, 'BackoffLimitExceeded event');
  const ev = (await events(c, 'BackoffLimitExceeded', 'flaky'))[0];
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.message, 'Job has reached the specified backoff limit');
});

test('an Indexed Job gives each pod its index and tracks completed indexes', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('idx', { completions: 3, parallelism: 3, completionMode: 'Indexed' }));
  const pods = await waitPods(c, 'idx', (p) => p.length === 3, 'three pods');
  const byIndex = new Map<number, any>();
  for (const p of pods) {
    const ix = Number(p.metadata.annotations['batch.kubernetes.io/job-completion-index']);
    byIndex.set(ix, p);
    assert.equal(p.metadata.labels['batch.kubernetes.io/job-completion-index'], String(ix));
    assert.match(p.metadata.name, new RegExp(`^idx-${ix}-[a-z0-9]{5}$`));
    assert.equal(p.spec.hostname, `idx-${ix}`);
    assert.deepEqual(
      p.spec.containers[0].env.find((e: any) => e.name === 'JOB_COMPLETION_INDEX'),
      { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']" } } },
    );
  }
  assert.deepEqual([...byIndex.keys()].sort(), [0, 1, 2]);
  await finish(c, byIndex.get(0), 'Succeeded');
  await finish(c, byIndex.get(2), 'Succeeded');
  await eventually(async () => (await getJob(c, 'idx')).status?.completedIndexes === '0,2', 'completedIndexes 0,2');
  // A failed index gets a new pod with the same index.
  await finish(c, byIndex.get(1), 'Failed');
  const again = await waitPods(c, 'idx', (p) => activeOnly(p).length === 1 && p.length === 4, 'index 1 recreated');
  const retry = activeOnly(again)[0];
  assert.equal(retry.metadata.annotations['batch.kubernetes.io/job-completion-index'], '1');
  await finish(c, retry, 'Succeeded');
  const done = await eventually(async () => {
    const j = await getJob(c, 'idx');
    return cond(j, 'Complete')?.status === 'True' && j;
  }, 'Complete');
  assert.equal(done.status.completedIndexes, '0-2');
  assert.equal(done.status.succeeded, 3);
  assert.equal(done.status.failed, 1);
});

test('suspend deletes active pods and resume starts them again', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('sus', { suspend: true, parallelism: 2, completions: 2 }));
  const suspended = await eventually(async () => {
    const j = await getJob(c, 'sus');
    return cond(j, 'Suspended')?.status === 'True' && j;
  }, 'Suspended condition');
  assert.deepEqual([cond(suspended, 'Suspended').reason, cond(suspended, 'Suspended').message], ['JobSuspended', 'Job suspended']);
  assert.equal(suspended.status.startTime, undefined);
  assert.equal((await podsOf(c, 'sus')).length, 0);

  await c.client.patch(R.jobs, NS, 'sus', 'merge', { spec: { suspend: false } });
  await waitPods(c, 'sus', (p) => activeOnly(p).length === 2, 'two pods after resume');
  const resumed = await eventually(async () => {
    const j = await getJob(c, 'sus');
    return cond(j, 'Suspended')?.status === 'False' && j;
  }, 'Suspended=False');
  assert.equal(cond(resumed, 'Suspended').reason, 'JobResumed');
  assert.ok(resumed.status.startTime);

  await c.client.patch(R.jobs, NS, 'sus', 'merge', { spec: { suspend: true } });
  await waitPods(c, 'sus', (p) => p.length === 0, 'pods deleted on suspend');
  await eventually(async () => (await getJob(c, 'sus')).status?.active === undefined, 'no active pods');
  assert.equal(cond(await getJob(c, 'sus'), 'Failed'), undefined);
  assert.ok((await events(c, 'SuccessfulDelete', 'sus')).length >= 2);
});

test('a Job active longer than activeDeadlineSeconds fails with DeadlineExceeded', { timeout: 30_000 }, async (t) => {
  const clock = fakeClock();
  const env = await setup(clock);
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('slow', { activeDeadlineSeconds: 60 }));
  await waitPods(c, 'slow', (p) => p.length === 1, 'one pod');
  await eventually(async () => (await getJob(c, 'slow')).status?.active === 1, 'active=1');
  clock.advance(61_000);
  env.controller.enqueue(`${NS}/slow`);
  const failed = await eventually(async () => {
    const j = await getJob(c, 'slow');
    return cond(j, 'Failed')?.status === 'True' && j;
  }, 'Failed');
  assert.deepEqual([cond(failed, 'Failed').reason, cond(failed, 'Failed').message], ['DeadlineExceeded', 'Job was active longer than specified deadline']);
  assert.equal(failed.status.active, undefined, 'a zero count is omitted, as upstream');
  assert.equal(failed.status.failed, 1, 'the running pod counts as failed');
  await waitPods(c, 'slow', (p) => p.length === 0, 'pod deleted');
  await eventually(async () => (await events(c, 'DeadlineExceeded', 'slow')).length === 1, 'DeadlineExceeded event');
});

test('podFailurePolicy: Ignore does not count a failure, FailJob fails the Job at once', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  const podFailurePolicy = {
    rules: [
      { action: 'Ignore', onExitCodes: { operator: 'In', values: [42] } },
      { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [1] } },
    ],
  };
  await c.client.create(R.jobs, NS, job('pfp', { backoffLimit: 0, podFailurePolicy }));
  const [p1] = await waitPods(c, 'pfp', (p) => p.length === 1, 'first pod');
  await finish(c, p1, 'Failed', 42);
  // Ignored: a replacement pod and no failure counted, although backoffLimit is 0.
  const p2 = activeOnly(await waitPods(c, 'pfp', (p) => activeOnly(p).length === 1 && p.length === 2, 'replacement'))[0];
  const mid = await getJob(c, 'pfp');
  assert.equal(mid.status.failed ?? 0, 0);
  assert.equal(cond(mid, 'Failed'), undefined);
  await finish(c, p2, 'Failed', 1);
  const failed = await eventually(async () => {
    const j = await getJob(c, 'pfp');
    return cond(j, 'Failed')?.status === 'True' && j;
  }, 'Failed');
  const msg = `Container main for pod ${NS}/${p2.metadata.name} failed with exit code 1 matching FailJob rule at index 1`;
  assert.deepEqual([cond(failed, 'FailureTarget').reason, cond(failed, 'FailureTarget').message], ['PodFailurePolicy', msg]);
  assert.deepEqual([cond(failed, 'Failed').reason, cond(failed, 'Failed').message], ['PodFailurePolicy', msg]);
  assert.equal(failed.status.failed, 1);
});

test('restartPolicy OnFailure counts container restarts toward backoffLimit', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  await c.client.create(R.jobs, NS, job('crashy', { backoffLimit: 2 }, { restartPolicy: 'OnFailure' }));
  const [pod] = await waitPods(c, 'crashy', (p) => p.length === 1, 'one pod');
  const fresh = await c.client.get(R.pods, NS, pod.metadata.name);
  fresh.status = {
    ...fresh.status,
    phase: 'Running',
    containerStatuses: [{ name: 'main', image: 'busybox', imageID: '', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } }],
  };
  await c.client.update(R.pods, NS, fresh, { subresource: 'status' });
  const failed = await eventually(async () => {
    const j = await getJob(c, 'crashy');
    return cond(j, 'Failed')?.status === 'True' && j;
  }, 'Failed');
  assert.equal(cond(failed, 'Failed').reason, 'BackoffLimitExceeded');
});

test('ttlSecondsAfterFinished deletes a finished Job once the TTL passes', { timeout: 30_000 }, async (t) => {
  const clock = fakeClock();
  const env = await setup();
  t.after(() => env.close());
  const { cluster: c } = env;
  const ttl = new TTLAfterFinishedController({ client: c.client, informers: c.informers, clock });
  await ttl.start();
  t.after(() => ttl.stop());
  await c.client.create(R.jobs, NS, job('short', { ttlSecondsAfterFinished: 100 }));
  const [pod] = await waitPods(c, 'short', (p) => p.length === 1, 'one pod');
  await finish(c, pod, 'Succeeded');
  await eventually(async () => cond(await getJob(c, 'short'), 'Complete')?.status === 'True', 'Complete');
  ttl.enqueue(`${NS}/short`);
  await new Promise((r) => setImmediate(r));
  assert.equal((await getJob(c, 'short')).metadata.deletionTimestamp, undefined, 'not before the TTL');
  clock.advance(101_000);
  ttl.enqueue(`${NS}/short`);
  // Deleted in the foreground: gone, or held by foregroundDeletion until the garbage collector removes its pods.
  await eventually(async () => {
    const j = await getFresh<any>(c.client, R.jobs, NS, 'short');
    return !j || !!j.metadata.deletionTimestamp;
  }, 'Job deleted');
});
