import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { ApiError } from '../api/errors.js';
import { EventRecorder } from '../client/events.js';
import { DisruptionController, PDB_RESOURCE } from '../controllers/disruption.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { evictPod } from './eviction.js';
import { systemContext } from './bootstrap.js';

async function withEnv(fn: (c: TestCluster) => Promise<void>, opts: { controller?: boolean } = {}): Promise<void> {
  const c = await startTestCluster();
  await c.namespace('ns');
  const controller = opts.controller === false ? undefined : new DisruptionController({ client: c.client, informers: c.informers, events: new EventRecorder(c.client, 'controllermanager') });
  await controller?.start();
  try {
    await fn(c);
  } finally {
    controller?.stop();
    await c.close();
  }
}

/** A running pod on a node, ready or not (bound pods are deleted gracefully; grace 0 makes them go at once). */
async function runningPod(client: Client, name: string, ready = true, labels: Record<string, string> = { app: 'web' }): Promise<any> {
  const p = await client.create<any>(R.pods, 'ns', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { nodeName: 'n1', terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'busybox' }] },
  });
  p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  return client.update(R.pods, 'ns', p, { subresource: 'status' });
}

function evict(client: Client, name: string, deleteOptions?: Record<string, unknown>) {
  const body: Record<string, unknown> = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'ns' } };
  if (deleteOptions) body.deleteOptions = deleteOptions;
  return client.create<any>(R.pods, 'ns', body, { subresource: 'eviction' });
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected the eviction to be refused');
}

async function budget(client: Client, spec: Record<string, unknown>, allowed: number): Promise<void> {
  await client.create(PDB_RESOURCE, 'ns', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec } });
  await eventually(async () => {
    const st = (await client.get<any>(PDB_RESOURCE, 'ns', 'web')).status;
    return st.observedGeneration === 1 && st.disruptionsAllowed === allowed;
  }, `the budget to allow ${allowed}`);
}

test('eviction without a budget deletes the pod after marking it DisruptionTarget', async () => {
  await withEnv(async ({ client }) => {
    const p = await runningPod(client, 'a');
    // A watch sees the condition before the delete.
    const seen: any[] = [];
    const w = await client.watch<any>(R.pods, 'ns', { resourceVersion: p.metadata.resourceVersion }, (ev) => seen.push(ev));
    assert.deepEqual(await evict(client, 'a'), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'a'), undefined);
    await eventually(() => seen.some((e) => e.type === 'DELETED'), 'the delete event');
    w.stop();
    const cond = seen[0].object.status.conditions.find((c: any) => c.type === 'DisruptionTarget');
    assert.deepEqual([cond.status, cond.reason, cond.message], ['True', 'EvictionByEvictionAPI', 'Eviction API: evicting']);
    const e = await refusal(evict(client, 'a'));
    assert.equal(e.message, 'pods "a" not found');
  });
});

test('a budget that allows no disruption refuses with 429 and the DisruptionBudget cause', async () => {
  await withEnv(async ({ client }) => {
    await runningPod(client, 'a');
    await budget(client, { minAvailable: 1 }, 0);
    const e = await refusal(evict(client, 'a'));
    assert.equal(e.code, 429);
    assert.equal(e.reason, 'TooManyRequests');
    assert.equal(e.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual(e.details?.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 1 healthy pods and has 1 currently' }]);
    assert.ok(await getOrUndefined(client, R.pods, 'ns', 'a'), 'the pod stays');
  });
});

test('a budget with room is decremented and records the pod; the next eviction is refused', async () => {
  await withEnv(async ({ client }) => {
    await runningPod(client, 'a');
    await runningPod(client, 'b');
    await runningPod(client, 'c');
    await budget(client, { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } }, 0);
    // maxUnavailable needs controllers; without them the expected count is 0: nothing may go.
    await client.delete(PDB_RESOURCE, 'ns', 'web');
    await budget(client, { minAvailable: 2 }, 1);
    // Dry runs change nothing.
    await evict(client, 'a', { dryRun: ['All'] });
    assert.ok(await getOrUndefined(client, R.pods, 'ns', 'a'));
    assert.equal((await client.get<any>(PDB_RESOURCE, 'ns', 'web')).status.disruptionsAllowed, 1);
    // The eviction records the pod in disruptedPods (the controller drops the entry once the pod is gone).
    const updates: any[] = [];
    const w = await client.watch<any>(PDB_RESOURCE, 'ns', { resourceVersion: (await client.get<any>(PDB_RESOURCE, 'ns', 'web')).metadata.resourceVersion }, (ev) => updates.push(ev.object));
    await evict(client, 'a');
    await eventually(() => updates.some((u) => u.status?.disruptedPods?.a), 'the disruptedPods entry');
    w.stop();
    const st = (await client.get<any>(PDB_RESOURCE, 'ns', 'web')).status;
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'a'), undefined);
    // Right after the eviction the budget is used up, whether or not the controller has caught up.
    assert.equal(st.disruptionsAllowed, 0);
    const e = await refusal(evict(client, 'b'));
    assert.equal(e.code, 429);
    assert.ok(await getOrUndefined(client, R.pods, 'ns', 'b'));
  });
});

test('unready pods: evicted freely under AlwaysAllow, or while the budget is otherwise satisfied', async () => {
  await withEnv(async ({ client }) => {
    await runningPod(client, 'ready-1');
    await runningPod(client, 'ready-2');
    await runningPod(client, 'sick', false);
    await budget(client, { minAvailable: 2 }, 0);
    // currentHealthy (2) >= desiredHealthy (2): the unready pod costs the budget nothing.
    await evict(client, 'sick');
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'sick'), undefined);
    assert.equal((await refusal(evict(client, 'ready-1'))).code, 429);
  });
  await withEnv(async ({ client }) => {
    await runningPod(client, 'ready-1');
    await runningPod(client, 'sick', false);
    await budget(client, { minAvailable: 2, unhealthyPodEvictionPolicy: 'IfHealthyBudget' }, 0);
    // Only one healthy pod of the two wanted: IfHealthyBudget protects even the unready pod.
    assert.equal((await refusal(evict(client, 'sick'))).code, 429);
    const pdb = await client.get<any>(PDB_RESOURCE, 'ns', 'web');
    pdb.spec.unhealthyPodEvictionPolicy = 'AlwaysAllow';
    await client.update(PDB_RESOURCE, 'ns', pdb);
    await eventually(async () => (await client.get<any>(PDB_RESOURCE, 'ns', 'web')).status.observedGeneration === 2, 'the new generation to be observed');
    await evict(client, 'sick');
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'sick'), undefined);
  });
});

test('two budgets, a finished pod, a missing pod and a mismatched name are handled as upstream', async () => {
  await withEnv(async ({ client, registry }) => {
    await runningPod(client, 'a');
    await client.create(PDB_RESOURCE, 'ns', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'one' }, spec: { selector: { matchLabels: { app: 'web' } }, maxUnavailable: 0 } });
    await client.create(PDB_RESOURCE, 'ns', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'two' }, spec: { selector: { matchLabels: { app: 'web' } }, maxUnavailable: 0 } });
    let e = await refusal(evict(client, 'a'));
    assert.equal(e.code, 500);
    assert.equal(e.message, 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    await client.delete(PDB_RESOURCE, 'ns', 'two');
    // Finished pods go without asking the budget.
    const p = await client.get<any>(R.pods, 'ns', 'a');
    p.status.phase = 'Succeeded';
    await client.update(R.pods, 'ns', p, { subresource: 'status' });
    await evict(client, 'a');
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'a'), undefined);
    e = await refusal(evict(client, 'x'));
    assert.deepEqual([e.code, e.message], [404, 'pods "x" not found']);
    // The name in the URL and the Eviction's must agree.
    e = await refusal(evictPod({ pods: registry.lookup('', 'v1', 'pods')! }, systemContext('ns'), 'a', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'b' } }));
    assert.deepEqual([e.code, e.message], [400, 'name in URL does not match name in Eviction object']);
  });
});

test('a budget no controller has counted yet is "still being processed"', async () => {
  await withEnv(
    async ({ client }) => {
      await runningPod(client, 'a');
      await client.create(PDB_RESOURCE, 'ns', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'new' }, spec: { selector: { matchLabels: { app: 'web' } }, maxUnavailable: 1 } });
      const e = await refusal(evict(client, 'a'));
      assert.equal(e.code, 429);
      assert.deepEqual(e.details, { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget new is still being processed by the server.' }], retryAfterSeconds: 10 });
    },
    { controller: false },
  );
});

test("the Eviction's deleteOptions are honoured: grace period and preconditions", async () => {
  await withEnv(async ({ client }) => {
    const slow = await runningPod(client, 'slow');
    // A bound pod with a grace period is only marked for deletion (the kubelet finishes it), with the grace asked for.
    const graceful = await client.create<any>(R.pods, 'ns', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'graceful' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } });
    graceful.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    await client.update(R.pods, 'ns', graceful, { subresource: 'status' });
    await evict(client, 'graceful', { gracePeriodSeconds: 5 });
    const marked = await client.get<any>(R.pods, 'ns', 'graceful');
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 5);
    // A stale UID precondition is a conflict, and the pod stays.
    const e = await refusal(evict(client, 'slow', { preconditions: { uid: 'not-the-uid' } }));
    assert.equal(e.code, 409);
    assert.equal(e.message, `Operation cannot be fulfilled on Pod "slow": the UID in the precondition (not-the-uid) does not match the UID in record (${slow.metadata.uid}). The object might have been deleted and then recreated`);
    assert.ok(await getOrUndefined(client, R.pods, 'ns', 'slow'));
    await evict(client, 'slow', { preconditions: { uid: slow.metadata.uid } });
    assert.equal(await getOrUndefined(client, R.pods, 'ns', 'slow'), undefined);
  });
});
