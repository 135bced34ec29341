import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomResources } from '../apiserver/customresources.js';
import { R } from '../client/client.js';
import { POD_GROUP_LABEL, PODGROUPS, type PodGroup } from '../api/podgroup.js';
import { eventually, startTestCluster } from './testenv.js';
import { PodGroupController, ensurePodGroupCRD, nextPodGroupStatus } from './podgroup.js';

function member(name: string, group: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      labels: { [POD_GROUP_LABEL]: group },
      ownerReferences: [{ apiVersion: 'kubeflow.org/v1', kind: 'PyTorchJob', name: 'mnist', uid: 'u1', controller: true }],
    },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
}

test('the PodGroup controller moves a group from Pending to Scheduling to Running to Failed as its members do', async () => {
  const c = await startTestCluster();
  const crs = new CustomResources(c.registry);
  await crs.start();
  const controller = new PodGroupController({ client: c.client, informers: c.informers });
  try {
    await c.namespace('default', 'other');
    await ensurePodGroupCRD(c.client);
    const crdRef = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };
    const installed = await c.client.get<any>(crdRef, '', 'podgroups.scheduling.x-k8s.io');
    await ensurePodGroupCRD(c.client);
    assert.equal((await c.client.get<any>(crdRef, '', 'podgroups.scheduling.x-k8s.io')).metadata.resourceVersion, installed.metadata.resourceVersion, 'a second start leaves an up-to-date CRD alone');
    await controller.start();
    await c.client.create(PODGROUPS, 'default', { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name: 'mnist', namespace: 'default' }, spec: { minMember: 2 } });
    const status = (pred: (s: NonNullable<PodGroup['status']>) => boolean, what: string) =>
      eventually(async () => {
        const pg = await c.client.get<PodGroup>(PODGROUPS, 'default', 'mnist');
        return pg.status && pred(pg.status) ? pg.status : undefined;
      }, what);
    await status((s) => s.phase === 'Pending', 'Pending');
    // The scheduler's condition is not the controller's to touch.
    const scheduled = { type: 'Scheduled', status: 'False' as const, reason: 'Unschedulable', message: 'waiting' };
    await c.client.patch(PODGROUPS, 'default', 'mnist', 'merge', { status: { conditions: [scheduled] } }, { subresource: 'status' });
    // A same-named group label in another namespace is another group.
    await c.client.create(R.pods, 'other', { ...member('stranger', 'mnist'), metadata: { ...member('stranger', 'mnist').metadata, namespace: 'other' } });
    await c.client.create(R.pods, 'default', member('mnist-0', 'mnist'));
    await c.client.create(R.pods, 'default', member('mnist-1', 'mnist'));
    const scheduling = await status((s) => s.phase === 'Scheduling', 'Scheduling');
    assert.equal(scheduling.occupiedBy, 'default/mnist');
    assert.match(scheduling.scheduleStartTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    for (const name of ['mnist-0', 'mnist-1']) await c.client.patch(R.pods, 'default', name, 'merge', { status: { phase: 'Running' } }, { subresource: 'status' });
    const running = await status((s) => s.phase === 'Running', 'Running');
    assert.equal(running.running, 2);
    assert.equal(running.failed, undefined, 'zero counts are left out');
    await c.client.patch(R.pods, 'default', 'mnist-1', 'merge', { status: { phase: 'Failed' } }, { subresource: 'status' });
    const failed = await status((s) => s.phase === 'Failed', 'Failed');
    assert.equal(failed.running, 1);
    assert.equal(failed.failed, 1);
    assert.equal(failed.succeeded, undefined);
    assert.deepEqual(failed.conditions, [scheduled]);
  } finally {
    controller.stop();
    crs.stop();
    await c.close();
  }
});

test('the phase machine: Finished once minMember succeeded, Pending when members go missing, final phases stay', () => {
  const pg = (phase: string): PodGroup => ({ spec: { minMember: 2 }, status: { phase: phase as any } });
  const pods = (...phases: string[]) => phases.map((p, i) => ({ metadata: { name: `p${i}` }, status: { phase: p } }) as any);
  const now = new Date('2025-01-01T00:00:00Z');
  assert.equal(nextPodGroupStatus({ spec: { minMember: 2 } }, [], now)?.phase, 'Pending');
  assert.equal(nextPodGroupStatus(pg('Pending'), pods('Pending'), now)?.phase, 'Pending');
  assert.deepEqual(nextPodGroupStatus(pg('Pending'), pods('Pending', 'Pending'), now), { phase: 'Scheduling', scheduleStartTime: '2025-01-01T00:00:00Z' });
  assert.equal(nextPodGroupStatus(pg('Scheduling'), pods('Running', 'Pending'), now)?.phase, 'Scheduling');
  assert.equal(nextPodGroupStatus(pg('Running'), pods('Succeeded', 'Succeeded'), now)?.phase, 'Finished');
  assert.equal(nextPodGroupStatus(pg('Running'), pods('Running'), now)?.phase, 'Pending');
  assert.equal(nextPodGroupStatus(pg('Finished'), pods(), now), undefined);
  assert.equal(nextPodGroupStatus(pg('Failed'), pods('Running', 'Running'), now), undefined);
});

test('without the PodGroup CRD the controller starts and does nothing', async () => {
  const c = await startTestCluster();
  const controller = new PodGroupController({ client: c.client, informers: c.informers });
  try {
    await controller.start();
    await c.informers.start();
    await controller.idle();
  } finally {
    controller.stop();
    await c.close();
  }
});
