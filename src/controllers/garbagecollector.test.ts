import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client, type ResourceRef } from '../client/client.js';
import { GarbageCollector } from './garbagecollector.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';
import { getFresh } from './controllerutil.js';

const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } };

function ownerRef(obj: any, controller = true) {
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, uid: obj.metadata.uid, controller, blockOwnerDeletion: true };
}

/** Deployment → ReplicaSet → two Pods, linked by ownerReferences as the workload controllers link them. */
async function chain(client: Client, ns: string, podExtra: Record<string, unknown> = {}) {
  const deploy = await client.create<any>(R.deployments, ns, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'web' } }, template },
  });
  const rs = await client.create<any>(R.replicasets, ns, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-1', ownerReferences: [ownerRef(deploy)] },
    spec: { selector: { matchLabels: { app: 'web' } }, template },
  });
  const pods = [];
  for (const name of ['web-1-a', 'web-1-b']) {
    pods.push(
      await client.create<any>(R.pods, ns, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: 'web' }, ownerReferences: [ownerRef(rs)] },
        spec: { containers: [{ name: 'c', image: 'x' }], ...podExtra },
      }),
    );
  }
  return { deploy, rs, pods };
}

async function setup(t: { after(fn: () => Promise<void> | void): void }): Promise<{ env: TestCluster; gc: GarbageCollector }> {
  const env = await startTestCluster();
  await env.namespace('ns');
  const gc = new GarbageCollector({ client: env.client, informers: env.informers, resources: () => env.registry.resources() });
  await gc.start();
  t.after(async () => {
    gc.stop();
    await env.close();
  });
  return { env, gc };
}

const gone = (c: Client, ref: ResourceRef, ns: string, name: string) => async () => (await getFresh<any>(c, ref, ns, name)) === undefined;

test('background deletion of a Deployment removes its ReplicaSets and their pods', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t);
  const c = env.client;
  await chain(c, 'ns');
  await c.delete(R.deployments, 'ns', 'web', { propagationPolicy: 'Background' });
  await eventually(gone(c, R.replicasets, 'ns', 'web-1'), 'the ReplicaSet to be collected');
  await eventually(gone(c, R.pods, 'ns', 'web-1-a'), 'pod a to be collected');
  await eventually(gone(c, R.pods, 'ns', 'web-1-b'), 'pod b to be collected');
});

test('a dependent with another live owner is kept; only the dangling reference is removed', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t);
  const c = env.client;
  const a = await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner-a' } });
  const b = await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner-b' } });
  await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', ownerReferences: [ownerRef(a), ownerRef(b, false)] } });
  await c.delete(R.configmaps, 'ns', 'owner-a');
  const shared = await eventually(async () => {
    const o = await c.get(R.configmaps, 'ns', 'shared');
    return o.metadata.ownerReferences?.length === 1 ? o : undefined;
  }, 'the dangling reference to be removed');
  assert.equal(shared.metadata.ownerReferences[0].uid, b.metadata.uid);
  await c.delete(R.configmaps, 'ns', 'owner-b');
  await eventually(gone(c, R.configmaps, 'ns', 'shared'), 'the dependent to go with its last owner');
});

test('an owner recreated under the same name but another uid counts as gone', { timeout: 20_000 }, async (t) => {
  const { env, gc } = await setup(t);
  const c = env.client;
  const old = await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
  await c.delete(R.configmaps, 'ns', 'owner');
  await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
  await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dep', ownerReferences: [ownerRef(old)] } });
  await eventually(gone(c, R.configmaps, 'ns', 'dep'), 'the dependent of the old owner to be collected');
  await gc.idle();
  assert.ok(await getFresh<any>(c, R.configmaps, 'ns', 'owner'), 'the new owner stays');
});

test('foreground deletion deletes dependents first, then the owner', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t);
  const c = env.client;
  // Pods bound to a node are held by their grace period until the (absent) kubelet confirms: the chain must wait.
  await chain(c, 'ns', { nodeName: 'node-1' });
  await c.delete(R.deployments, 'ns', 'web', { propagationPolicy: 'Foreground' });
  const pods = await eventually(async () => {
    const list = await c.list(R.pods, 'ns');
    return list.items.length === 2 && list.items.every((p: any) => p.metadata.deletionTimestamp) ? list.items : undefined;
  }, 'pods to be marked for deletion');
  assert.equal(pods.length, 2);
  const deploy = await c.get(R.deployments, 'ns', 'web');
  assert.deepEqual(deploy.metadata.finalizers, ['foregroundDeletion']);
  const rs = await c.get(R.replicasets, 'ns', 'web-1');
  assert.ok(rs.metadata.deletionTimestamp, 'the ReplicaSet is being deleted in the foreground too');
  assert.deepEqual(rs.metadata.finalizers, ['foregroundDeletion']);
  // What the kubelet does once the containers stopped.
  for (const p of pods) await c.delete(R.pods, 'ns', p.metadata.name, { gracePeriodSeconds: 0 });
  await eventually(gone(c, R.replicasets, 'ns', 'web-1'), 'the ReplicaSet to go after its pods');
  await eventually(gone(c, R.deployments, 'ns', 'web'), 'the Deployment to go last');
});

test('orphan deletion removes the owner and leaves its dependents without the reference', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t);
  const c = env.client;
  const { deploy } = await chain(c, 'ns');
  await c.delete(R.deployments, 'ns', 'web', { propagationPolicy: 'Orphan' });
  await eventually(gone(c, R.deployments, 'ns', 'web'), 'the Deployment to go once orphaning is done');
  const rs = await c.get(R.replicasets, 'ns', 'web-1');
  assert.equal(rs.metadata.ownerReferences, undefined);
  assert.equal(rs.metadata.deletionTimestamp, undefined);
  for (const name of ['web-1-a', 'web-1-b']) {
    const p = await c.get(R.pods, 'ns', name);
    assert.equal(p.metadata.ownerReferences[0].name, 'web-1', 'pods keep their (live) ReplicaSet owner');
  }
  assert.ok(deploy.metadata.uid);
});

test('dependents created while the collector was not running are collected at start', { timeout: 20_000 }, async (t) => {
  const env = await startTestCluster();
  await env.namespace('ns');
  const c = env.client;
  const owner = await c.create<any>(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
  await c.create<any>(R.secrets, 'ns', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', ownerReferences: [ownerRef(owner)] } });
  await c.delete(R.configmaps, 'ns', 'owner');
  const gc = new GarbageCollector({ client: c, informers: env.informers, resources: () => env.registry.resources() });
  t.after(async () => {
    gc.stop();
    await env.close();
  });
  await gc.start();
  await eventually(gone(c, R.secrets, 'ns', 's'), 'the orphaned secret to be collected');
});
