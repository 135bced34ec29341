import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomResources } from '../../apiserver/customresources.js';
import { EventRecorder } from '../../client/events.js';
import { R } from '../../client/client.js';
import { CLUSTERQUEUES, LOCALQUEUES, QUEUE_NAME_LABEL, RESOURCEFLAVORS, WORKLOADS, type ClusterQueue, type LocalQueue, type Workload } from '../../api/kueue.js';
import { eventually, startTestCluster, type TestCluster } from '../testenv.js';
import { ensureKueueCRDs } from './crds.js';
import { QueueController } from './index.js';
import { workloadName } from './jobs.js';

function job(name: string, cpu: string, queue?: string): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', ...(queue ? { labels: { [QUEUE_NAME_LABEL]: queue } } : {}) },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'], resources: { requests: { cpu } } }] } },
    },
  };
}

async function setup(): Promise<{ c: TestCluster; crs: CustomResources; controller: QueueController }> {
  const c = await startTestCluster();
  const crs = new CustomResources(c.registry);
  await crs.start();
  await c.namespace('default');
  await ensureKueueCRDs(c.client);
  await c.client.create(RESOURCEFLAVORS, '', { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'ResourceFlavor', metadata: { name: 'default-flavor' } });
  await c.client.create(CLUSTERQUEUES, '', {
    apiVersion: 'kueue.x-k8s.io/v1beta1',
    kind: 'ClusterQueue',
    metadata: { name: 'cluster-queue' },
    spec: { namespaceSelector: {}, resourceGroups: [{ coveredResources: ['cpu'], flavors: [{ name: 'default-flavor', resources: [{ name: 'cpu', nominalQuota: 2 }] }] }] },
  });
  await c.client.create(LOCALQUEUES, 'default', { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'LocalQueue', metadata: { name: 'user-queue', namespace: 'default' }, spec: { clusterQueue: 'cluster-queue' } });
  const controller = new QueueController({ client: c.client, informers: c.informers, events: (component) => new EventRecorder(c.client, component) });
  await controller.start();
  return { c, crs, controller };
}

async function teardown(s: { c: TestCluster; crs: CustomResources; controller: QueueController }): Promise<void> {
  s.controller.stop();
  s.crs.stop();
  await s.c.close();
}

test('a job naming a queue is created suspended; a job without the label is untouched', async () => {
  const s = await setup();
  try {
    const queued = await s.c.client.create<any>(R.jobs, 'default', job('queued', '1', 'user-queue'));
    assert.equal(queued.spec.suspend, true);
    const plain = await s.c.client.create<any>(R.jobs, 'default', job('plain', '1'));
    assert.notEqual(plain.spec.suspend, true);
    await s.controller.idle();
    const wls = await s.c.client.list<Workload>(WORKLOADS, 'default');
    assert.deepEqual(wls.items.map((w) => w.metadata?.name), [workloadName('Job', 'batch', 'queued', queued.metadata.uid)], 'only the queued job gets a Workload');
  } finally {
    await teardown(s);
  }
});

test('jobs are admitted while their requests fit the quota; the rest wait, say why, and run once quota is released', async () => {
  const s = await setup();
  const { client } = s.c;
  try {
    const jobs: any[] = [];
    for (const n of ['a', 'b', 'c']) {
      jobs.push(await client.create(R.jobs, 'default', job(n, '1', 'user-queue')));
      // One at a time, so that queue order is creation order.
      await eventually(async () => (await client.list<Workload>(WORKLOADS, 'default')).items.length === jobs.length, `the Workload of job ${n}`);
    }
    const suspended = async () => (await client.list<any>(R.jobs, 'default')).items.filter((j) => j.spec.suspend).map((j) => j.metadata.name);
    await eventually(async () => (await suspended()).join() === 'c', 'jobs a and b to be started');
    const wlName = workloadName('Job', 'batch', 'c', jobs[2].metadata.uid);
    const pending = await eventually(async () => {
      const w = await client.get<Workload>(WORKLOADS, 'default', wlName);
      return w.status?.conditions?.find((x) => x.type === 'QuotaReserved' && x.status === 'False') ? w : undefined;
    }, 'the pending reason');
    const cond = pending.status!.conditions!.find((x) => x.type === 'QuotaReserved')!;
    assert.equal(cond.reason, 'Pending');
    assert.equal(cond.message, "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 1 more needed");
    assert.deepEqual(pending.status!.resourceRequests, [{ name: 'main', resources: { cpu: '1' } }]);
    const events = await eventually(async () => {
      const evs = (await client.list<any>(R.events, 'default')).items.filter((e) => e.involvedObject.name === 'c' && e.reason === 'Pending');
      return evs.length ? evs : undefined;
    }, 'a Pending event on job c');
    assert.equal(events[0].type, 'Warning');
    assert.equal(events[0].message, cond.message);

    const admitted = await client.get<Workload>(WORKLOADS, 'default', workloadName('Job', 'batch', 'a', jobs[0].metadata.uid));
    assert.deepEqual(admitted.status?.admission, {
      clusterQueue: 'cluster-queue',
      podSetAssignments: [{ name: 'main', flavors: { cpu: 'default-flavor' }, resourceUsage: { cpu: '1' }, count: 1 }],
    });
    assert.deepEqual(admitted.status?.conditions?.map((x) => [x.type, x.status, x.reason]), [['QuotaReserved', 'True', 'QuotaReserved'], ['Admitted', 'True', 'Admitted']]);
    const cq = await eventually(async () => {
      const q = await client.get<ClusterQueue>(CLUSTERQUEUES, '', 'cluster-queue');
      return q.status?.admittedWorkloads === 2 && q.status.pendingWorkloads === 1 ? q : undefined;
    }, 'ClusterQueue counts');
    assert.deepEqual(cq.status?.flavorsReservation, [{ name: 'default-flavor', resources: [{ name: 'cpu', total: '2', borrowed: '0' }] }]);
    assert.deepEqual(cq.status?.conditions?.map((x) => [x.type, x.status, x.reason, x.message]), [['Active', 'True', 'Ready', 'Can admit new workloads']]);
    const lq = await client.get<LocalQueue>(LOCALQUEUES, 'default', 'user-queue');
    assert.equal(lq.status?.pendingWorkloads, 1);
    assert.equal(lq.status?.admittedWorkloads, 2);

    // Job a completes: its Workload finishes, its quota goes to c.
    await client.patch(R.jobs, 'default', 'a', 'merge', { status: { conditions: [{ type: 'Complete', status: 'True', message: 'Reached expected number of succeeded pods' }] } }, { subresource: 'status' });
    await eventually(async () => (await suspended()).length === 0, 'job c to be started');
    const finished = await client.get<Workload>(WORKLOADS, 'default', workloadName('Job', 'batch', 'a', jobs[0].metadata.uid));
    const fin = finished.status?.conditions?.find((x) => x.type === 'Finished');
    assert.deepEqual([fin?.status, fin?.reason, fin?.message], ['True', 'Succeeded', 'Reached expected number of succeeded pods']);
    const started = (await client.list<any>(R.events, 'default')).items.find((e) => e.involvedObject.name === 'c' && e.reason === 'Started');
    assert.equal(started?.message, 'Admitted by clusterQueue cluster-queue');

    // Deleting a job's Workload (the garbage collector does it when the job goes) releases its quota too.
    await client.create(R.jobs, 'default', job('d', '1', 'user-queue'));
    await eventually(async () => (await suspended()).join() === 'd', 'job d to wait');
    await client.delete(WORKLOADS, 'default', workloadName('Job', 'batch', 'b', jobs[1].metadata.uid));
    await client.delete(R.jobs, 'default', 'b');
    await eventually(async () => (await suspended()).length === 0, 'job d to be started');
  } finally {
    await teardown(s);
  }
});

test('a workload whose LocalQueue does not exist says so; StrictFIFO holds a smaller job behind a larger one', async () => {
  const s = await setup();
  const { client } = s.c;
  try {
    await client.create(R.jobs, 'default', job('lost', '1', 'no-such-queue'));
    await eventually(async () => {
      const w = (await client.list<Workload>(WORKLOADS, 'default')).items[0];
      const c = w?.status?.conditions?.find((x) => x.type === 'QuotaReserved');
      return c?.reason === 'Inadmissible' && c.message === "LocalQueue no-such-queue doesn't exist";
    }, 'the Inadmissible condition');

    await client.patch(CLUSTERQUEUES, '', 'cluster-queue', 'merge', { spec: { queueingStrategy: 'StrictFIFO' } });
    await client.create(R.jobs, 'default', job('huge', '3', 'user-queue'));
    await eventually(async () => (await client.list<Workload>(WORKLOADS, 'default')).items.length === 2, 'the Workload of huge');
    await client.create(R.jobs, 'default', job('tiny', '1', 'user-queue'));
    await eventually(async () => {
      const q = await client.get<ClusterQueue>(CLUSTERQUEUES, '', 'cluster-queue');
      return q.status?.pendingWorkloads === 2;
    }, 'two pending workloads');
    await s.controller.idle();
    const tiny = await client.get<any>(R.jobs, 'default', 'tiny');
    assert.equal(tiny.spec.suspend, true, 'StrictFIFO: tiny waits behind huge');
    // BestEffortFIFO lets tiny pass.
    await client.patch(CLUSTERQUEUES, '', 'cluster-queue', 'merge', { spec: { queueingStrategy: 'BestEffortFIFO' } });
    await eventually(async () => (await client.get<any>(R.jobs, 'default', 'tiny')).spec.suspend === false, 'tiny to start');
    const huge = (await client.list<Workload>(WORKLOADS, 'default')).items.find((w) => w.metadata?.ownerReferences?.[0]?.name === 'huge');
    assert.equal(
      huge?.status?.conditions?.find((x) => x.type === 'QuotaReserved')?.message,
      "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default-flavor, request > maximum capacity (3 > 2)",
    );
  } finally {
    await teardown(s);
  }
});
