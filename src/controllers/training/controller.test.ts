import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomResources } from '../../apiserver/customresources.js';
import { R } from '../../client/client.js';
import { EventRecorder } from '../../client/events.js';
import { ensureTrainingCRDs } from '../../api/kubeflow-crds.js';
import { trainingResource } from '../../api/kubeflow.js';
import { POD_GROUP_LABEL, PODGROUPS } from '../../api/podgroup.js';
import { ensurePodGroupCRD } from '../podgroup.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from '../testenv.js';
import { TrainingJobController } from './controller.js';

const PYTORCHJOBS = trainingResource('PyTorchJob');

async function setup(clock?: { now: Date }) {
  const cluster = await startTestCluster();
  const crs = new CustomResources(cluster.registry);
  await crs.start();
  await cluster.namespace('ml');
  await ensurePodGroupCRD(cluster.client);
  await ensureTrainingCRDs(cluster.client);
  const controller = new TrainingJobController({
    client: cluster.client,
    informers: cluster.informers,
    events: (component) => new EventRecorder(cluster.client, component),
    now: clock ? () => clock.now : undefined,
  });
  await controller.start();
  return {
    c: cluster,
    controller,
    async close() {
      controller.stop();
      crs.stop?.();
      await cluster.close();
    },
  };
}

const replica = (replicas: number, command: string[], extra: Record<string, unknown> = {}) => ({
  replicas,
  template: { spec: { containers: [{ name: 'pytorch', image: 'pytorch', command, resources: { requests: { cpu: '1' } } }] } },
  ...extra,
});

function pytorchJob(name: string, spec: Record<string, unknown> = {}, workers = 2, workerExtra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'PyTorchJob',
    metadata: { name, namespace: 'ml' },
    spec: { pytorchReplicaSpecs: { Master: replica(1, ['python', 'train.py']), Worker: replica(workers, ['python', 'train.py'], workerExtra) }, ...spec },
  };
}

async function podsOf(c: TestCluster, job: string): Promise<any[]> {
  return (await c.client.list(R.pods, 'ml', { labelSelector: `training.kubeflow.org/job-name=${job}` })).items;
}

async function waitPods(c: TestCluster, job: string, n: number): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => (found = await podsOf(c, job)).length === n, `${n} pods of ${job}`);
  return found.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** Sets a pod's phase (and the default container's state), as the kubelet would. */
async function setPod(c: TestCluster, name: string, phase: string, container: Record<string, unknown> = {}) {
  const pod = await c.client.get<any>(R.pods, 'ml', name);
  pod.status = { ...pod.status, phase, containerStatuses: [{ name: 'pytorch', ready: phase === 'Running', restartCount: 0, image: 'pytorch', imageID: '', state: {}, ...container }] };
  await c.client.update(R.pods, 'ml', pod, { subresource: 'status' });
}

async function jobStatus(c: TestCluster, name: string, pred: (s: any) => boolean, what: string): Promise<any> {
  return eventually(async () => {
    const j = await c.client.get<any>(PYTORCHJOBS, 'ml', name);
    return j.status && pred(j.status) ? j.status : undefined;
  }, what);
}

const current = (s: any) => s.conditions?.at(-1);

test('a PyTorchJob gets one pod and one headless Service per replica, labelled, owned, with its environment and a PodGroup', async () => {
  const env = await setup();
  try {
    const { c } = env;
    const job = await c.client.create<any>(PYTORCHJOBS, 'ml', pytorchJob('mnist'));
    const pods = await waitPods(c, 'mnist', 3);
    assert.deepEqual(pods.map((p) => p.metadata.name), ['mnist-master-0', 'mnist-worker-0', 'mnist-worker-1']);
    const [master, w0, w1] = pods;
    assert.deepEqual(master.metadata.labels, {
      'training.kubeflow.org/operator-name': 'pytorchjob-controller',
      'training.kubeflow.org/job-name': 'mnist',
      'training.kubeflow.org/replica-type': 'master',
      'training.kubeflow.org/replica-index': '0',
      'training.kubeflow.org/job-role': 'master',
      [POD_GROUP_LABEL]: 'mnist',
    });
    assert.equal(w1.metadata.labels['training.kubeflow.org/job-role'], undefined);
    assert.deepEqual(master.metadata.ownerReferences, [{ apiVersion: 'kubeflow.org/v1', kind: 'PyTorchJob', name: 'mnist', uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(master.spec.restartPolicy, 'OnFailure');
    assert.equal(master.spec.hostname, 'mnist-master-0');
    assert.equal(master.spec.subdomain, 'mnist-master-0');
    const envOf = (p: any) => Object.fromEntries(p.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    assert.deepEqual([envOf(w1).MASTER_ADDR, envOf(w1).MASTER_PORT, envOf(w1).WORLD_SIZE, envOf(w1).RANK], ['mnist-master-0', '23456', '3', '2']);
    assert.deepEqual(master.spec.containers[0].ports, [{ name: 'pytorchjob-port', containerPort: 23456, protocol: 'TCP' }]);
    // Workers wait for the Master's Service to have a ready endpoint; the Master waits for nobody.
    assert.equal(master.metadata.annotations?.['kite.io/wait-for-service'], undefined);
    assert.equal(w0.metadata.annotations['kite.io/wait-for-service'], 'mnist-master-0');
    assert.equal(w1.metadata.annotations['kite.io/wait-for-service'], 'mnist-master-0');
    // No init container of the operator's: the node agent holds the Workers (kubelet/rendezvous.ts).
    assert.equal(w0.spec.initContainers, undefined);

    const services: any[] = await eventually(async () => {
      const items = (await c.client.list<any>(R.services, 'ml')).items.filter((s) => s.metadata.name.startsWith('mnist-'));
      return items.length === 3 ? items : undefined;
    }, '3 services');
    const svc = services.find((s: any) => s.metadata.name === 'mnist-worker-1');
    assert.equal(svc.spec.clusterIP, 'None');
    assert.deepEqual(svc.spec.selector, {
      'training.kubeflow.org/operator-name': 'pytorchjob-controller',
      'training.kubeflow.org/job-name': 'mnist',
      'training.kubeflow.org/replica-type': 'worker',
      'training.kubeflow.org/replica-index': '1',
    });
    assert.deepEqual(svc.spec.ports.map((p: any) => [p.name, p.port]), [['pytorchjob-port', 23456]]);

    const pg = await eventually(() => getOrUndefined<any>(c.client, PODGROUPS, 'ml', 'mnist'), 'the PodGroup');
    assert.equal(pg.spec.minMember, 3);
    assert.deepEqual(pg.spec.minResources, { cpu: '3' });
    assert.equal(pg.metadata.ownerReferences[0].uid, job.metadata.uid);

    const created = await jobStatus(c, 'mnist', (s) => s.conditions?.length, 'Created');
    assert.deepEqual([current(created).type, current(created).status, current(created).reason, current(created).message], ['Created', 'True', 'PyTorchJobCreated', 'PyTorchJob mnist is created.']);

    for (const p of pods) await setPod(c, p.metadata.name, 'Running', { state: { running: {} } });
    const running = await jobStatus(c, 'mnist', (s) => current(s)?.type === 'Running' && s.replicaStatuses?.Worker?.active === 2, 'Running');
    assert.equal(current(running).reason, 'PyTorchJobRunning');
    assert.deepEqual(running.replicaStatuses.Worker, { active: 2, selector: 'training.kubeflow.org/job-name=mnist,training.kubeflow.org/operator-name=pytorchjob-controller,training.kubeflow.org/replica-type=worker' });

    await setPod(c, 'mnist-master-0', 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    const done = await jobStatus(c, 'mnist', (s) => current(s)?.type === 'Succeeded', 'Succeeded');
    assert.deepEqual(done.conditions.map((x: any) => `${x.type}=${x.status}`), ['Created=True', 'Running=False', 'Succeeded=True']);
    assert.equal(current(done).message, 'PyTorchJob mnist is successfully completed.');
    assert.ok(done.completionTime);
    // Workers still running when the Master succeeded count as succeeded; cleanPodPolicy None keeps every pod.
    await jobStatus(c, 'mnist', (s) => s.replicaStatuses?.Worker?.succeeded === 2, 'workers counted as succeeded');
    assert.equal((await podsOf(c, 'mnist')).length, 3);
    await eventually(async () => !(await getOrUndefined(c.client, PODGROUPS, 'ml', 'mnist')), 'the PodGroup to go');
    const events = (await c.client.list<any>(R.events, 'ml')).items;
    assert.ok(events.some((e: any) => e.reason === 'SuccessfulCreatePod' && e.message === 'Created pod: mnist-worker-1' && e.source.component === 'pytorchjob-controller'));
    assert.ok(events.some((e: any) => e.reason === 'SuccessfulCreateService' && e.message === 'Created service: mnist-master-0'));
  } finally {
    await env.close();
  }
});

test('ExitCode: a retryable exit recreates the pod and says Restarting; a permanent one fails the job', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('ec', {}, 1, { restartPolicy: 'ExitCode' }));
    const [, worker] = await waitPods(c, 'ec', 2);
    assert.equal(worker.spec.restartPolicy, 'Never');
    await setPod(c, 'ec-worker-0', 'Failed', { state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } });
    const restarting = await jobStatus(c, 'ec', (s) => current(s)?.type === 'Restarting', 'Restarting');
    assert.equal(current(restarting).reason, 'PyTorchJobRestarting');
    const again = await eventually(async () => {
      const p = await getOrUndefined<any>(c.client, R.pods, 'ml', 'ec-worker-0');
      return p && p.metadata.uid !== worker.metadata.uid && p;
    }, 'a new worker pod');
    assert.equal(again.status?.phase ?? 'Pending', 'Pending');
    await setPod(c, 'ec-worker-0', 'Failed', { state: { terminated: { exitCode: 1, reason: 'Error' } } });
    const failed = await jobStatus(c, 'ec', (s) => current(s)?.type === 'Failed', 'Failed');
    assert.deepEqual([current(failed).reason, current(failed).message], ['PyTorchJobFailed', 'job "ec" is failing because "Worker" replica(s) failed.']);
    const exited = (await c.client.list<any>(R.events, 'ml')).items.filter((e: any) => e.reason === 'ExitedWithCode').map((e: any) => e.message);
    assert.ok(exited.includes('Pod: ml.ec-worker-0 exited with code 137'));
  } finally {
    await env.close();
  }
});

test('backoffLimit counts container restarts; past it the job fails and every pod and Service goes', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('bo', { runPolicy: { backoffLimit: 2, cleanPodPolicy: 'None' } }, 1));
    await waitPods(c, 'bo', 2);
    await setPod(c, 'bo-worker-0', 'Running', { restartCount: 1, state: { running: {} } });
    await jobStatus(c, 'bo', (s) => s.replicaStatuses?.Worker?.active === 1, 'worker active');
    await setPod(c, 'bo-worker-0', 'Running', { restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } });
    const failed = await jobStatus(c, 'bo', (s) => current(s)?.type === 'Failed', 'Failed');
    assert.deepEqual([current(failed).reason, current(failed).message], ['PyTorchJobFailed', 'Job bo has failed because it has reached the specified backoff limit']);
    await eventually(async () => (await podsOf(c, 'bo')).length === 0, 'pods deleted');
  } finally {
    await env.close();
  }
});

test('cleanPodPolicy Running deletes the pods still running when the job succeeds, and ttlSecondsAfterFinished deletes the job', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('clean', { runPolicy: { cleanPodPolicy: 'Running', ttlSecondsAfterFinished: 1 } }, 1));
    await waitPods(c, 'clean', 2);
    await setPod(c, 'clean-worker-0', 'Running', { state: { running: {} } });
    await setPod(c, 'clean-master-0', 'Succeeded', { state: { terminated: { exitCode: 0 } } });
    await eventually(async () => (await podsOf(c, 'clean')).map((p) => p.metadata.name).join() === 'clean-master-0', 'only the finished master left');
    await eventually(async () => !(await getOrUndefined(c.client, PYTORCHJOBS, 'ml', 'clean')), 'the job deleted after its TTL', 5_000);
  } finally {
    await env.close();
  }
});

test('suspend deletes pods and Services and says Suspended; resume recreates them and restarts the clock', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('sus', {}, 1));
    const pods = await waitPods(c, 'sus', 2);
    for (const p of pods) await setPod(c, p.metadata.name, 'Running', { state: { running: {} } });
    const running = await jobStatus(c, 'sus', (s) => current(s)?.type === 'Running', 'Running');
    await c.client.patch(PYTORCHJOBS, 'ml', 'sus', 'merge', { spec: { runPolicy: { suspend: true } } });
    const suspended = await jobStatus(c, 'sus', (s) => current(s)?.type === 'Suspended', 'Suspended');
    assert.deepEqual(suspended.conditions.map((x: any) => `${x.type}=${x.status}:${x.reason}`), ['Created=True:PyTorchJobCreated', 'Running=False:PyTorchJobSuspended', 'Suspended=True:PyTorchJobSuspended']);
    assert.equal(current(suspended).message, 'PyTorchJob sus is suspended.');
    await eventually(async () => (await podsOf(c, 'sus')).length === 0, 'pods deleted');
    await eventually(async () => (await c.client.list<any>(R.services, 'ml')).items.filter((s) => s.metadata.name.startsWith('sus-')).length === 0, 'services deleted');
    await c.client.patch(PYTORCHJOBS, 'ml', 'sus', 'merge', { spec: { runPolicy: { suspend: false } } });
    const resumed = await jobStatus(c, 'sus', (s) => s.conditions.find((x: any) => x.type === 'Suspended')?.status === 'False', 'resumed');
    assert.equal(resumed.conditions.find((x: any) => x.type === 'Suspended').reason, 'PyTorchJobResumed');
    assert.ok(Date.parse(resumed.startTime) >= Date.parse(running.startTime));
    await waitPods(c, 'sus', 2);
  } finally {
    await env.close();
  }
});

test('a job whose gang cannot be placed says why, from the PodGroup', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('big', {}, 1));
    await waitPods(c, 'big', 2);
    await eventually(() => getOrUndefined(c.client, PODGROUPS, 'ml', 'big'), 'the PodGroup');
    const why = '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.';
    await c.client.patch(PODGROUPS, 'ml', 'big', 'merge', { status: { conditions: [{ type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: why }] } }, { subresource: 'status' });
    const waiting = await jobStatus(c, 'big', (s) => current(s)?.reason === 'PyTorchJobUnschedulable', 'the waiting reason');
    assert.deepEqual([current(waiting).type, current(waiting).status], ['Running', 'False']);
    assert.equal(current(waiting).message, `PyTorchJob big is waiting for its pods to be scheduled: gang big cannot be placed: ${why}`);
  } finally {
    await env.close();
  }
});

test('activeDeadlineSeconds fails a job that ran too long', async () => {
  const clock = { now: new Date() };
  const env = await setup(clock);
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('slow', { runPolicy: { activeDeadlineSeconds: 60 } }, 1));
    await jobStatus(c, 'slow', (s) => s.startTime, 'startTime');
    clock.now = new Date(clock.now.getTime() + 61_000);
    await c.client.patch(PYTORCHJOBS, 'ml', 'slow', 'merge', { metadata: { labels: { poke: '1' } } });
    const failed = await jobStatus(c, 'slow', (s) => current(s)?.type === 'Failed', 'Failed');
    assert.equal(current(failed).message, 'Job slow has failed because it was active longer than specified deadline');
  } finally {
    await env.close();
  }
});

test('scaling Workers down removes the highest-index pods and Services', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(PYTORCHJOBS, 'ml', pytorchJob('sc', {}, 3));
    await waitPods(c, 'sc', 4);
    await c.client.patch(PYTORCHJOBS, 'ml', 'sc', 'merge', { spec: { pytorchReplicaSpecs: { Worker: { replicas: 1 } } } });
    await eventually(async () => (await podsOf(c, 'sc')).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort().join() === 'sc-master-0,sc-worker-0', 'two pods left');
    await eventually(async () => (await c.client.list<any>(R.services, 'ml')).items.filter((s) => s.metadata.name.startsWith('sc-')).length === 2, 'two services left');
  } finally {
    await env.close();
  }
});
