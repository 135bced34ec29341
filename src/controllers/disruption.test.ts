import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { DisruptionController, PDB_RESOURCE } from './disruption.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

interface Env {
  c: TestCluster;
  controller: DisruptionController;
}

async function withEnv(fn: (env: Env) => Promise<void>, opts: { deletionTimeoutMs?: number; stalePodDisruptionTimeoutMs?: number } = {}): Promise<void> {
  const c = await startTestCluster();
  await c.namespace('ns');
  const controller = new DisruptionController({ client: c.client, informers: c.informers, events: new EventRecorder(c.client, 'controllermanager'), resources: () => c.registry.resources(), ...opts });
  await controller.start();
  try {
    await fn({ c, controller });
  } finally {
    controller.stop();
    await c.close();
  }
}

async function readyPod(client: Client, name: string, labels: Record<string, string>, owner?: any): Promise<any> {
  const meta: any = { name, labels };
  if (owner) meta.ownerReferences = [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }];
  const p = await client.create<any>(R.pods, 'ns', { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  return client.update(R.pods, 'ns', p, { subresource: 'status' });
}

function pdb(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec } };
}

/** The budget once its status satisfies `pred`. */
async function status(client: Client, name: string, pred: (st: any) => boolean, what: string): Promise<any> {
  return eventually(async () => {
    const st = (await client.get<any>(PDB_RESOURCE, 'ns', name)).status;
    return pred(st) ? st : undefined;
  }, what);
}

test('an integer minAvailable counts the matching pods; disruptionsAllowed and the condition follow readiness', async () => {
  await withEnv(async ({ c }) => {
    await readyPod(c.client, 'a', { app: 'web' });
    await readyPod(c.client, 'b', { app: 'web' });
    await readyPod(c.client, 'other', { app: 'db' });
    const created = await c.client.create<any>(PDB_RESOURCE, 'ns', pdb('web', { minAvailable: 1 }));
    assert.deepEqual(created.status, { currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 });
    const st = await status(c.client, 'web', (s) => s.observedGeneration === 1, 'the budget to be counted');
    assert.deepEqual(
      { currentHealthy: st.currentHealthy, desiredHealthy: st.desiredHealthy, expectedPods: st.expectedPods, disruptionsAllowed: st.disruptionsAllowed },
      { currentHealthy: 2, desiredHealthy: 1, expectedPods: 2, disruptionsAllowed: 1 },
    );
    const cond = st.conditions.find((x: any) => x.type === 'DisruptionAllowed');
    assert.deepEqual([cond.status, cond.reason, cond.observedGeneration], ['True', 'SufficientPods', 1]);
    // A pod that stops being ready is no longer healthy.
    const b = await c.client.get<any>(R.pods, 'ns', 'b');
    b.status.conditions = [{ type: 'Ready', status: 'False' }];
    await c.client.update(R.pods, 'ns', b, { subresource: 'status' });
    const after = await status(c.client, 'web', (s) => s.currentHealthy === 1, 'the unready pod to be seen');
    assert.equal(after.disruptionsAllowed, 0);
    assert.deepEqual(
      after.conditions.filter((x: any) => x.type === 'DisruptionAllowed').map((x: any) => [x.status, x.reason]),
      [['False', 'InsufficientPods']],
    );
  });
});

test('a percentage is taken of the controllers\' scale, not of the pods that exist', async () => {
  await withEnv(async ({ c }) => {
    const rs = await c.client.create<any>(R.replicasets, 'ns', {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web' },
      spec: { replicas: 4, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    // Only 3 of its 4 pods exist; 50% of 4 must stay available.
    for (const n of ['a', 'b', 'c']) await readyPod(c.client, n, { app: 'web' }, rs);
    await c.client.create(PDB_RESOURCE, 'ns', pdb('half', { minAvailable: '50%' }));
    let st = await status(c.client, 'half', (s) => s.observedGeneration === 1, 'the budget to be counted');
    assert.deepEqual([st.expectedPods, st.desiredHealthy, st.currentHealthy, st.disruptionsAllowed], [4, 2, 3, 1]);
    await c.client.create(PDB_RESOURCE, 'ns', pdb('max1', { maxUnavailable: 1 }));
    st = await status(c.client, 'max1', (s) => s.observedGeneration === 1, 'the maxUnavailable budget to be counted');
    assert.deepEqual([st.expectedPods, st.desiredHealthy, st.currentHealthy, st.disruptionsAllowed], [4, 3, 3, 0]);
  });
});

test('pods without a controller make a percentage budget fail safe with SyncFailed', async () => {
  await withEnv(async ({ c }) => {
    await readyPod(c.client, 'orphan', { app: 'web' }, { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'gone', uid: 'nope' } });
    await c.client.create(PDB_RESOURCE, 'ns', pdb('web', { maxUnavailable: '10%' }));
    const st = await status(c.client, 'web', (s) => (s.conditions ?? []).some((x: any) => x.reason === 'SyncFailed'), 'the sync failure');
    const cond = st.conditions.find((x: any) => x.type === 'DisruptionAllowed');
    assert.deepEqual([cond.status, cond.message, st.disruptionsAllowed], ['False', 'found no controllers for pod "orphan"', 0]);
    const events = (await c.client.list(R.events, 'ns')).items.filter((e: any) => e.reason === 'CalculateExpectedPodCountFailed');
    assert.equal(events[0]?.message, 'Failed to calculate the number of expected pods: found no controllers for pod "orphan"');
  });
});

test('pods recorded as disrupted do not count as healthy until they are deleted or the timeout passes', async () => {
  await withEnv(
    async ({ c }) => {
      await readyPod(c.client, 'a', { app: 'web' });
      await readyPod(c.client, 'b', { app: 'web' });
      await c.client.create(PDB_RESOURCE, 'ns', pdb('web', { minAvailable: 1 }));
      const st = await status(c.client, 'web', (s) => s.disruptionsAllowed === 1, 'one disruption allowed');
      const cur = await c.client.get<any>(PDB_RESOURCE, 'ns', 'web');
      cur.status = { ...st, disruptionsAllowed: 0, disruptedPods: { a: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') } };
      await c.client.update(PDB_RESOURCE, 'ns', cur, { subresource: 'status' });
      // While the entry is fresh, "a" is not healthy; after the (shortened) DeletionTimeout it is again.
      const during = await status(c.client, 'web', (s) => s.currentHealthy === 1, 'the disrupted pod to be discounted');
      assert.ok(during.disruptedPods.a);
      const later = await status(c.client, 'web', (s) => s.currentHealthy === 2 && !s.disruptedPods, 'the entry to time out');
      assert.equal(later.disruptionsAllowed, 1);
      const ev = (await c.client.list(R.events, 'ns')).items.find((e: any) => e.reason === 'NotDeleted');
      assert.equal(ev?.message, "Pod was expected by PDB ns/ns to be deleted but it wasn't");
    },
    { deletionTimeoutMs: 1500 },
  );
});

test('a DisruptionTarget condition on a pod that was never deleted is reset after the timeout', async () => {
  await withEnv(
    async ({ c }) => {
      const p = await readyPod(c.client, 'a', { app: 'web' });
      p.status.conditions.push({ type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
      await c.client.update(R.pods, 'ns', p, { subresource: 'status' });
      const cond = await eventually(async () => {
        const got = (await c.client.get<any>(R.pods, 'ns', 'a')).status.conditions.find((x: any) => x.type === 'DisruptionTarget');
        return got.status === 'False' ? got : undefined;
      }, 'the stale condition to be reset');
      assert.equal(cond.reason, undefined);
    },
    { stalePodDisruptionTimeoutMs: 300 },
  );
});
