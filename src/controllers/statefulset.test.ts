import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { StatefulSetController } from './statefulset.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from './testenv.js';

async function setup(opts: { maxUnavailable?: boolean } = {}) {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  const controller = new StatefulSetController({
    client: cluster.client,
    informers: cluster.informers,
    events: new EventRecorder(cluster.client, 'statefulset-controller'),
    maxUnavailable: opts.maxUnavailable,
  });
  await controller.start();
  return {
    c: cluster,
    controller,
    async close() {
      controller.stop();
      await cluster.close();
    },
  };
}

const statefulSet = (name: string, replicas: number, extra: Record<string, unknown> = {}, image = 'busybox') => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name },
  spec: {
    replicas,
    serviceName: name,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image, command: ['sleep', '3600'] }] } },
    ...extra,
  },
});

const claimTemplate = { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };

async function pods(c: TestCluster, app: string): Promise<any[]> {
  const items = (await c.client.list(R.pods, 'default', { labelSelector: `app=${app}` })).items;
  return items.sort((a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name));
}

async function podNames(c: TestCluster, app: string): Promise<string[]> {
  return (await pods(c, app)).map((p) => p.metadata.name);
}

/** The pods' names once they are exactly `names`. */
async function waitNames(c: TestCluster, app: string, names: string[]): Promise<void> {
  await eventually(async () => (await podNames(c, app)).join() === names.join(), `pods ${names.join(',')}`);
}

/** Plays the kubelet: the pod runs and is ready. */
async function markReady(c: TestCluster, name: string): Promise<void> {
  const pod = await c.client.get(R.pods, 'default', name);
  pod.status = {
    ...pod.status,
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }],
  };
  await c.client.update(R.pods, 'default', pod, { subresource: 'status' });
}

/** Marks each pod ready as it appears, in order, until all `names` exist and are ready. */
async function bringUp(c: TestCluster, names: string[]): Promise<void> {
  for (const n of names) {
    await eventually(() => getOrUndefined(c.client, R.pods, 'default', n), `pod ${n}`);
    await markReady(c, n);
  }
}

async function status(c: TestCluster, name: string): Promise<any> {
  return (await c.client.get(R.statefulsets, 'default', name)).status ?? {};
}

async function events(c: TestCluster, reason: string): Promise<string[]> {
  return (await c.client.list(R.events, 'default')).items.filter((e: any) => e.reason === reason).map((e: any) => e.message);
}

async function revisions(c: TestCluster, app: string): Promise<any[]> {
  const items = (await c.client.list(R.controllerrevisions, 'default', { labelSelector: `app=${app}` })).items;
  return items.sort((a: any, b: any) => a.revision - b.revision);
}

test('OrderedReady: pods are created one at a time with stable identities, claims and revision labels', async () => {
  const env = await setup();
  const { c } = env;
  try {
    const set = await c.client.create<any>(R.statefulsets, 'default', statefulSet('web', 3, { volumeClaimTemplates: [claimTemplate] }));
    await waitNames(c, 'web', ['web-0']);
    await env.controller.idle();
    // web-1 waits for web-0 to be Running and Ready.
    assert.deepEqual(await podNames(c, 'web'), ['web-0']);

    const [rev] = await eventually(async () => {
      const r = await revisions(c, 'web');
      return r.length === 1 ? r : undefined;
    }, 'one revision');
    assert.match(rev.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(rev.revision, 1);
    assert.equal(rev.metadata.labels['controller-revision-hash'], rev.metadata.name.slice('web-'.length));
    assert.equal(rev.metadata.ownerReferences[0].uid, set.metadata.uid);
    assert.equal(rev.data.spec.template.$patch, 'replace');
    assert.equal(rev.data.spec.template.spec.containers[0].image, 'busybox');

    const [p0] = await pods(c, 'web');
    assert.equal(p0.spec.hostname, 'web-0');
    assert.equal(p0.spec.subdomain, 'web');
    assert.deepEqual(p0.metadata.labels, {
      app: 'web',
      'statefulset.kubernetes.io/pod-name': 'web-0',
      'apps.kubernetes.io/pod-index': '0',
      'controller-revision-hash': rev.metadata.name,
    });
    assert.deepEqual(p0.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: set.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(
      p0.spec.volumes.find((v: any) => v.name === 'data'),
      { name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } },
    );
    const claim = await c.client.get(R.persistentvolumeclaims, 'default', 'data-web-0');
    assert.deepEqual(claim.metadata.labels, { app: 'web' });
    assert.equal(claim.spec.resources.requests.storage, '1Gi');
    // Retain/Retain: the claim outlives pod and set.
    assert.equal(claim.metadata.ownerReferences, undefined);

    await bringUp(c, ['web-0', 'web-1', 'web-2']);
    const st = await eventually(async () => {
      const s = await status(c, 'web');
      return s.readyReplicas === 3 && s;
    }, 'three ready replicas');
    assert.deepEqual(st, {
      observedGeneration: 1,
      replicas: 3,
      readyReplicas: 3,
      currentReplicas: 3,
      updatedReplicas: 3,
      currentRevision: rev.metadata.name,
      updateRevision: rev.metadata.name,
      collisionCount: 0,
      availableReplicas: 3,
    });
    assert.deepEqual((await events(c, 'SuccessfulCreate')).sort(), [
      'create Claim data-web-0 Pod web-0 in StatefulSet web success',
      'create Claim data-web-1 Pod web-1 in StatefulSet web success',
      'create Claim data-web-2 Pod web-2 in StatefulSet web success',
      'create Pod web-0 in StatefulSet web successful',
      'create Pod web-1 in StatefulSet web successful',
      'create Pod web-2 in StatefulSet web successful',
    ]);
  } finally {
    await env.close();
  }
});

test('OrderedReady scale-down removes the highest ordinal first and waits for it to go', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('db', 3));
    await bringUp(c, ['db-0', 'db-1', 'db-2']);
    await eventually(async () => (await status(c, 'db')).readyReplicas === 3, 'ready');
    // A finalizer keeps db-2 terminating: db-1 must not go meanwhile.
    await c.client.patch(R.pods, 'default', 'db-2', 'merge', { metadata: { finalizers: ['test.kite.io/hold'] } });
    await c.client.patch(R.statefulsets, 'default', 'db', 'merge', { spec: { replicas: 1 } });
    await eventually(async () => (await c.client.get(R.pods, 'default', 'db-2')).metadata.deletionTimestamp, 'db-2 terminating');
    await env.controller.idle();
    assert.deepEqual(await podNames(c, 'db'), ['db-0', 'db-1', 'db-2']);
    assert.deepEqual(await events(c, 'SuccessfulDelete'), ['delete Pod db-2 in StatefulSet db successful']);

    await c.client.patch(R.pods, 'default', 'db-2', 'merge', { metadata: { finalizers: null } });
    await waitNames(c, 'db', ['db-0']);
    assert.deepEqual((await events(c, 'SuccessfulDelete')).sort(), ['delete Pod db-1 in StatefulSet db successful', 'delete Pod db-2 in StatefulSet db successful']);
    await eventually(async () => (await status(c, 'db')).replicas === 1, 'status replicas 1');
  } finally {
    await env.close();
  }
});

test('Parallel creates every pod at once; spec.ordinals.start numbers them', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('par', 3, { podManagementPolicy: 'Parallel', ordinals: { start: 5 } }));
    await waitNames(c, 'par', ['par-5', 'par-6', 'par-7']);
    const list = await pods(c, 'par');
    assert.deepEqual(list.map((p) => p.metadata.labels['apps.kubernetes.io/pod-index']), ['5', '6', '7']);
    // Scaling down to 1 in Parallel removes both surplus pods without waiting.
    await c.client.patch(R.statefulsets, 'default', 'par', 'merge', { spec: { replicas: 1 } });
    await waitNames(c, 'par', ['par-5']);
  } finally {
    await env.close();
  }
});

test('a deleted pod comes back with the same name and the same claim', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('kv', 1, { volumeClaimTemplates: [claimTemplate] }));
    await bringUp(c, ['kv-0']);
    const before = await c.client.get(R.pods, 'default', 'kv-0');
    const claim = await c.client.get(R.persistentvolumeclaims, 'default', 'data-kv-0');
    await c.client.delete(R.pods, 'default', 'kv-0');
    const after = await eventually(async () => {
      const p = await getOrUndefined(c.client, R.pods, 'default', 'kv-0');
      return p && p.metadata.uid !== before.metadata.uid && p;
    }, 'kv-0 recreated');
    assert.equal(after.spec.volumes.find((v: any) => v.name === 'data').persistentVolumeClaim.claimName, 'data-kv-0');
    assert.equal((await c.client.get(R.persistentvolumeclaims, 'default', 'data-kv-0')).metadata.uid, claim.metadata.uid);
  } finally {
    await env.close();
  }
});

test('a failed pod is deleted and recreated', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('job', 1));
    await bringUp(c, ['job-0']);
    const before = await c.client.get(R.pods, 'default', 'job-0');
    before.status = { ...before.status, phase: 'Failed', conditions: [] };
    await c.client.update(R.pods, 'default', before, { subresource: 'status' });
    await eventually(async () => {
      const p = await getOrUndefined(c.client, R.pods, 'default', 'job-0');
      return p && p.metadata.uid !== before.metadata.uid;
    }, 'job-0 recreated');
    assert.deepEqual(await events(c, 'RecreatingFailedPod'), ['StatefulSet default/job is recreating failed Pod job-0']);
  } finally {
    await env.close();
  }
});

test('RollingUpdate with a partition updates only ordinals at or above it, highest first; lowering it finishes the rollout', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('ru', 3));
    await bringUp(c, ['ru-0', 'ru-1', 'ru-2']);
    const s1 = await eventually(async () => {
      const s = await status(c, 'ru');
      return s.readyReplicas === 3 && s;
    }, 'ready');
    const rev1 = s1.currentRevision;

    await c.client.patch(R.statefulsets, 'default', 'ru', 'merge', {
      spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } }, template: { spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] } } },
    });
    const rev2 = await eventually(async () => {
      const s = await status(c, 'ru');
      return s.updateRevision !== rev1 && s.updateRevision;
    }, 'a new update revision');
    await eventually(async () => (await c.client.get(R.pods, 'default', 'ru-2')).metadata.labels['controller-revision-hash'] === rev2, 'ru-2 at the new revision');
    await markReady(c, 'ru-2');
    const st = await eventually(async () => {
      const s = await status(c, 'ru');
      return s.readyReplicas === 3 && s.updatedReplicas === 1 && s;
    }, 'partitioned rollout');
    assert.equal(st.currentRevision, rev1);
    assert.equal(st.currentReplicas, 2);
    await env.controller.idle();
    const images = async () => (await pods(c, 'ru')).map((p) => `${p.metadata.name}=${p.spec.containers[0].image}`);
    assert.deepEqual(await images(), ['ru-0=busybox', 'ru-1=busybox', 'ru-2=busybox:1.36']);

    await c.client.patch(R.statefulsets, 'default', 'ru', 'merge', { spec: { updateStrategy: { rollingUpdate: { partition: 0 } } } });
    // ru-1 goes next, and ru-0 only once ru-1 is back and ready.
    await eventually(async () => (await c.client.get(R.pods, 'default', 'ru-1')).metadata.labels['controller-revision-hash'] === rev2, 'ru-1 updated');
    await env.controller.idle();
    assert.equal((await c.client.get(R.pods, 'default', 'ru-0')).spec.containers[0].image, 'busybox');
    await markReady(c, 'ru-1');
    await eventually(async () => (await c.client.get(R.pods, 'default', 'ru-0')).metadata.labels['controller-revision-hash'] === rev2, 'ru-0 updated');
    await markReady(c, 'ru-0');
    const done = await eventually(async () => {
      const s = await status(c, 'ru');
      return s.currentRevision === rev2 && s;
    }, 'rollout complete');
    assert.deepEqual([done.currentReplicas, done.updatedReplicas, done.updateRevision], [3, 3, rev2]);
    assert.deepEqual(await images(), ['ru-0=busybox:1.36', 'ru-1=busybox:1.36', 'ru-2=busybox:1.36']);
    assert.deepEqual(
      (await revisions(c, 'ru')).map((r) => [r.metadata.name, r.revision]),
      [
        [rev1, 1],
        [rev2, 2],
      ],
    );
  } finally {
    await env.close();
  }
});

test('going back to an earlier template renumbers its revision instead of making a new one; the history is pruned to the limit', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('h', 1, { revisionHistoryLimit: 1 }));
    await bringUp(c, ['h-0']);
    const image = (img: string) => ({ spec: { template: { spec: { containers: [{ name: 'app', image: img, command: ['sleep', '3600'] }] } } } });
    const revs = async () => (await revisions(c, 'h')).map((r) => `${r.revision}:${r.data.spec.template.spec.containers[0].image}`);
    const waitRevs = (want: string[]) => eventually(async () => (await revs()).join() === want.join(), `revisions ${want.join(',')}`);
    await waitRevs(['1:busybox']);
    const first = (await revisions(c, 'h'))[0].metadata.name;

    await c.client.patch(R.statefulsets, 'default', 'h', 'merge', image('busybox:1'));
    await eventually(async () => (await c.client.get(R.pods, 'default', 'h-0')).spec.containers[0].image === 'busybox:1', 'h-0 at busybox:1');
    await markReady(c, 'h-0');
    await waitRevs(['1:busybox', '2:busybox:1']);

    await c.client.patch(R.statefulsets, 'default', 'h', 'merge', image('busybox'));
    await eventually(async () => (await c.client.get(R.pods, 'default', 'h-0')).spec.containers[0].image === 'busybox', 'h-0 back at busybox');
    await markReady(c, 'h-0');
    await waitRevs(['2:busybox:1', '3:busybox']);
    assert.equal((await revisions(c, 'h'))[1].metadata.name, first);

    await c.client.patch(R.statefulsets, 'default', 'h', 'merge', image('busybox:2'));
    await eventually(async () => (await c.client.get(R.pods, 'default', 'h-0')).spec.containers[0].image === 'busybox:2', 'h-0 at busybox:2');
    await markReady(c, 'h-0');
    // Limit 1: of the two unused revisions only the newest stays.
    await waitRevs(['3:busybox', '4:busybox:2']);
  } finally {
    await env.close();
  }
});

test('OnDelete leaves pods alone until they are deleted, then recreates them at the update revision', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('od', 2, { updateStrategy: { type: 'OnDelete' } }));
    await bringUp(c, ['od-0', 'od-1']);
    await eventually(async () => (await status(c, 'od')).readyReplicas === 2, 'ready');
    await c.client.patch(R.statefulsets, 'default', 'od', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] } } },
    });
    const st = await eventually(async () => {
      const s = await status(c, 'od');
      return s.updateRevision !== s.currentRevision && s.observedGeneration === 2 && s;
    }, 'a new update revision');
    await env.controller.idle();
    assert.deepEqual((await pods(c, 'od')).map((p) => p.spec.containers[0].image), ['busybox', 'busybox']);
    await c.client.delete(R.pods, 'default', 'od-1');
    await eventually(async () => (await getOrUndefined(c.client, R.pods, 'default', 'od-1'))?.metadata.labels['controller-revision-hash'] === st.updateRevision, 'od-1 recreated');
    assert.equal((await c.client.get(R.pods, 'default', 'od-1')).spec.containers[0].image, 'busybox:1.36');
    assert.equal((await c.client.get(R.pods, 'default', 'od-0')).spec.containers[0].image, 'busybox');
  } finally {
    await env.close();
  }
});

test('persistentVolumeClaimRetentionPolicy Delete: claims are owned by the set, and by the pod once it is scaled away', async () => {
  const env = await setup();
  const { c } = env;
  try {
    const set = await c.client.create<any>(
      R.statefulsets,
      'default',
      statefulSet('pv', 2, { volumeClaimTemplates: [claimTemplate], persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' } }),
    );
    await bringUp(c, ['pv-0', 'pv-1']);
    const owners = async (claim: string) => ((await c.client.get(R.persistentvolumeclaims, 'default', claim)).metadata.ownerReferences ?? []).map((r: any) => `${r.kind}/${r.name}`);
    await eventually(async () => (await owners('data-pv-1')).join() === 'StatefulSet/pv', 'data-pv-1 owned by the set');
    assert.deepEqual(await owners('data-pv-0'), ['StatefulSet/pv']);
    const ref = (await c.client.get(R.persistentvolumeclaims, 'default', 'data-pv-0')).metadata.ownerReferences[0];
    assert.equal(ref.uid, set.metadata.uid);

    // A finalizer keeps pv-1 around so the hand-over of its claim can be seen.
    await c.client.patch(R.pods, 'default', 'pv-1', 'merge', { metadata: { finalizers: ['test.kite.io/hold'] } });
    await c.client.patch(R.statefulsets, 'default', 'pv', 'merge', { spec: { replicas: 1 } });
    await eventually(async () => (await owners('data-pv-1')).join() === 'Pod/pv-1', 'data-pv-1 owned by its pod');
    assert.deepEqual(await owners('data-pv-0'), ['StatefulSet/pv']);
    await c.client.patch(R.pods, 'default', 'pv-1', 'merge', { metadata: { finalizers: null } });
  } finally {
    await env.close();
  }
});

test('with the MaxUnavailableStatefulSet gate, a rolling update replaces up to maxUnavailable pods at once', async () => {
  const env = await setup({ maxUnavailable: true });
  const { c } = env;
  try {
    await c.client.create(R.statefulsets, 'default', statefulSet('mu', 3, { podManagementPolicy: 'Parallel' }));
    await bringUp(c, ['mu-0', 'mu-1', 'mu-2']);
    const rev1 = await eventually(async () => {
      const s = await status(c, 'mu');
      return s.readyReplicas === 3 && s.currentRevision;
    }, 'ready');
    await c.client.patch(R.statefulsets, 'default', 'mu', 'merge', {
      spec: {
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: 2 } },
        template: { spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] } },
      },
    });
    const updated = async () => (await pods(c, 'mu')).filter((p) => p.metadata.labels['controller-revision-hash'] !== rev1).map((p) => p.metadata.name);
    await eventually(async () => (await updated()).join() === 'mu-1,mu-2', 'two pods replaced together');
    await env.controller.idle();
    assert.deepEqual(await updated(), ['mu-1', 'mu-2']);
  } finally {
    await env.close();
  }
});
