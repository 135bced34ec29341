import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { errors } from '../api/errors.js';
import { EventRecorder } from '../client/events.js';
import { ReplicaSetController, ReplicationManager } from './replicaset.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

async function setup(kind: 'rs' | 'rc' = 'rs') {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  const events = new EventRecorder(cluster.client, kind === 'rs' ? 'replicaset-controller' : 'replication-controller');
  const config = { client: cluster.client, informers: cluster.informers, events };
  const controller = kind === 'rs' ? new ReplicaSetController(config) : new ReplicationManager(config);
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

const template = (labels: Record<string, string>) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'app', image: 'busybox', command: ['sleep', '3600'] }] },
});

const replicaSet = (name: string, replicas: number, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: template({ app: name }), ...extra },
});

async function pods(c: TestCluster, selector: string) {
  return (await c.client.list(R.pods, 'default', { labelSelector: selector })).items;
}

/** The pods matching `selector` once there are exactly `n` of them. */
async function waitPods(c: TestCluster, selector: string, n: number): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => (found = await pods(c, selector)).length === n, `${n} pods matching ${selector}`);
  return found;
}

async function markReady(c: TestCluster, pod: any, at = new Date()) {
  const fresh = await c.client.get(R.pods, 'default', pod.metadata.name);
  fresh.status = {
    ...fresh.status,
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z') }],
  };
  await c.client.update(R.pods, 'default', fresh, { subresource: 'status' });
}

async function events(c: TestCluster, reason: string): Promise<any[]> {
  return (await c.client.list(R.events, 'default')).items.filter((e: any) => e.reason === reason);
}

/** The events with this reason once there are `n` of them. */
async function waitEvents(c: TestCluster, reason: string, n: number): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => (found = await events(c, reason)).length === n, `${n} ${reason} events`);
  return found;
}

test('a ReplicaSet creates its pods from the template with a controller reference, and reports status', async () => {
  const env = await setup();
  try {
    const { cluster: c } = env;
    const rs = await c.client.create<any>(R.replicasets, 'default', replicaSet('web', 3));
    const list = await waitPods(c, 'app=web', 3);
    for (const p of list) {
      assert.match(p.metadata.name, /^web-[a-z0-9]{5}$/);
      assert.equal(p.metadata.generateName, 'web-');
      assert.deepEqual(p.metadata.ownerReferences, [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
      assert.equal(p.spec.containers[0].image, 'busybox');
    }
    await env.controller.idle();
    // No more than asked for, even after every event has been handled.
    assert.equal((await pods(c, 'app=web')).length, 3);
    const created = await waitEvents(c, 'SuccessfulCreate', 3);
    assert.deepEqual(created.map((e: any) => e.message).sort(), list.map((p: any) => `Created pod: ${p.metadata.name}`).sort());
    assert.equal(created[0].involvedObject.kind, 'ReplicaSet');
    assert.equal(created[0].source.component, 'replicaset-controller');

    await markReady(c, list[0]);
    await markReady(c, list[1]);
    const st = await eventually(async () => {
      const cur = await c.client.get(R.replicasets, 'default', 'web');
      return cur.status?.readyReplicas === 2 && cur.status;
    }, 'readyReplicas 2');
    assert.deepEqual(st, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 });
  } finally {
    await env.close();
  }
});

test('scaling down deletes the least useful pods first: not ready before ready', async () => {
  const env = await setup();
  try {
    const { cluster: c } = env;
    await c.client.create<any>(R.replicasets, 'default', replicaSet('api', 4));
    const list = await waitPods(c, 'app=api', 4);
    await markReady(c, list[0]);
    await markReady(c, list[1]);
    await eventually(async () => (await c.client.get(R.replicasets, 'default', 'api')).status?.readyReplicas === 2, 'two ready');
    await c.client.patch(R.replicasets, 'default', 'api', 'merge', { spec: { replicas: 2 } });
    const left = await waitPods(c, 'app=api', 2);
    assert.deepEqual(left.map((p: any) => p.metadata.name).sort(), [list[0].metadata.name, list[1].metadata.name].sort());
    const deleted = await waitEvents(c, 'SuccessfulDelete', 2);
    assert.deepEqual(deleted.map((e: any) => e.message).sort(), [list[2], list[3]].map((p: any) => `Deleted pod: ${p.metadata.name}`).sort());
    await eventually(async () => (await c.client.get(R.replicasets, 'default', 'api')).status?.replicas === 2, 'status replicas 2');
  } finally {
    await env.close();
  }
});

test('a deleted pod is replaced', async () => {
  const env = await setup();
  try {
    const { cluster: c } = env;
    await c.client.create<any>(R.replicasets, 'default', replicaSet('db', 2));
    const list = await waitPods(c, 'app=db', 2);
    await c.client.delete(R.pods, 'default', list[0].metadata.name);
    let now: any[] = [];
    await eventually(async () => (now = await pods(c, 'app=db')).length === 2 && !now.some((x) => x.metadata.name === list[0].metadata.name), 'a replacement');
    assert.ok(now.some((p: any) => p.metadata.name === list[1].metadata.name));
  } finally {
    await env.close();
  }
});

test('a matching orphan pod is adopted instead of creating a new one; a pod that stops matching is released', async () => {
  const env = await setup();
  try {
    const { cluster: c } = env;
    await c.client.create(R.pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', labels: { app: 'cache' } }, spec: template({}).spec });
    const rs = await c.client.create<any>(R.replicasets, 'default', replicaSet('cache', 2));
    let list: any[] = [];
    await eventually(async () => (list = await pods(c, 'app=cache')).length === 2 && list.every((x) => x.metadata.ownerReferences?.length), 'two owned pods');
    const stray = list.find((p: any) => p.metadata.name === 'stray');
    assert.ok(stray, 'the orphan is one of the two');
    assert.deepEqual(stray.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cache', uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    await env.controller.idle();
    assert.equal((await events(c, 'SuccessfulCreate')).length, 1);

    // Relabel the adopted pod: the ReplicaSet lets go of it and makes another.
    await c.client.patch(R.pods, 'default', 'stray', 'merge', { metadata: { labels: { app: 'elsewhere' } } });
    const released = await eventually(async () => {
      const p = await c.client.get(R.pods, 'default', 'stray');
      return !p.metadata.ownerReferences?.length && p;
    }, 'release');
    assert.equal(released.metadata.labels.app, 'elsewhere');
    await eventually(async () => (await pods(c, 'app=cache')).length === 2, 'a replacement for the released pod');
  } finally {
    await env.close();
  }
});

test('a failing create sets the ReplicaFailure condition and records FailedCreate; success clears it', async () => {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  // The API server refuses pod creations as a ResourceQuota would, until `refuse` is turned off.
  let refuse = true;
  const client: Client = Object.create(cluster.client);
  client.create = async (ref: any, ns: string, obj: any, opts?: any) => {
    if (refuse && ref.resource === 'pods') throw errors.forbidden({ group: '', resource: 'pods' }, obj.metadata.generateName, 'exceeded quota: compute');
    return cluster.client.create(ref, ns, obj, opts);
  };
  const controller = new ReplicaSetController({ client, informers: cluster.informers, events: new EventRecorder(cluster.client, 'replicaset-controller') });
  await controller.start();
  try {
    const c = cluster;
    await c.client.create<any>(R.replicasets, 'default', replicaSet('broken', 1));
    const st = await eventually(async () => {
      const cur = await c.client.get(R.replicasets, 'default', 'broken');
      return cur.status?.conditions?.length && cur.status;
    }, 'a ReplicaFailure condition');
    assert.equal(st.conditions[0].type, 'ReplicaFailure');
    assert.equal(st.conditions[0].status, 'True');
    assert.equal(st.conditions[0].reason, 'FailedCreate');
    assert.match(st.conditions[0].message, /exceeded quota: compute/);
    const failed = await eventually(async () => (await events(c, 'FailedCreate'))[0], 'FailedCreate event');
    assert.equal(failed.type, 'Warning');
    assert.match(failed.message, /^Error creating: pods "broken-" is forbidden: exceeded quota: compute/);

    // The failure is retried with backoff; once creates succeed the condition goes away.
    refuse = false;
    const ok = await eventually(async () => {
      const cur = await c.client.get(R.replicasets, 'default', 'broken');
      return cur.status?.replicas === 1 && !cur.status.conditions && cur.status;
    }, 'recovery');
    assert.equal(ok.replicas, 1);
  } finally {
    controller.stop();
    await cluster.close();
  }
});

test('ReplicationControllers run through the same code with a map selector', async () => {
  const env = await setup('rc');
  try {
    const { cluster: c } = env;
    const rcRef = { group: '', version: 'v1', resource: 'replicationcontrollers' };
    const rc = await c.client.create<any>(rcRef, 'default', {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'legacy' },
      spec: { replicas: 2, selector: { app: 'legacy' }, template: template({ app: 'legacy' }) },
    });
    const list = await waitPods(c, 'app=legacy', 2);
    assert.equal(list[0].metadata.ownerReferences[0].kind, 'ReplicationController');
    assert.equal(list[0].metadata.ownerReferences[0].apiVersion, 'v1');
    assert.equal(list[0].metadata.ownerReferences[0].uid, rc.metadata.uid);
    await eventually(async () => (await c.client.get(rcRef, 'default', 'legacy')).status?.replicas === 2, 'rc status');
  } finally {
    await env.close();
  }
});
