import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { DeploymentController } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';
import { computeHash } from './controllerutil.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

/** The cluster with both controllers running; `clock` moves the Deployment controller's time. */
async function setup() {
  const c = await startTestCluster();
  await c.namespace('default');
  let offsetMs = 0;
  const rsc = new ReplicaSetController({ client: c.client, informers: c.informers, events: new EventRecorder(c.client, 'replicaset-controller') });
  const dc = new DeploymentController({
    client: c.client,
    informers: c.informers,
    events: new EventRecorder(c.client, 'deployment-controller'),
    now: () => new Date(Date.now() + offsetMs),
  });
  await rsc.start();
  await dc.start();
  return {
    c,
    advance(ms: number) {
      offsetMs += ms;
    },
    async close() {
      dc.stop();
      rsc.stop();
      await c.close();
    },
  };
}

const deployment = (name: string, replicas: number, spec: Record<string, unknown> = {}, annotations?: Record<string, string>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: annotations ? { name, annotations } : { name },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.0' }] } },
    ...spec,
  },
});

const getD = (c: TestCluster, name: string) => c.client.get<any>(R.deployments, 'default', name);
const listRS = async (c: TestCluster, app: string) => (await c.client.list<any>(R.replicasets, 'default', { labelSelector: `app=${app}` })).items;
const listPods = async (c: TestCluster, app: string) => (await c.client.list<any>(R.pods, 'default', { labelSelector: `app=${app}` })).items;
const cond = (d: any, type: string) => d.status?.conditions?.find((x: any) => x.type === type);

/** Plays the kubelet: marks every pod of `app` that is not yet ready as Running and Ready. */
async function readyAll(c: TestCluster, app: string): Promise<void> {
  for (const cached of await listPods(c, app)) {
    if (cached.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')) continue;
    const p = structuredClone(cached); // listed objects are shared with the API server's cache
    p.status = { ...p.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] };
    try {
      await c.client.update(R.pods, 'default', p, { subresource: 'status' });
    } catch {
      // deleted or changed meanwhile: the next round sees it again
    }
  }
}

/** Keeps marking pods ready until the Deployment reports a finished rollout; returns it. */
async function rolledOut(c: TestCluster, name: string, replicas: number): Promise<any> {
  let d: any;
  await eventually(async () => {
    await readyAll(c, name);
    d = await getD(c, name);
    const st = d.status ?? {};
    return (
      st.observedGeneration === d.metadata.generation &&
      st.updatedReplicas === replicas &&
      st.replicas === replicas &&
      st.availableReplicas === replicas &&
      cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable'
    );
  }, `${name} rolled out`);
  return d;
}

async function eventMessages(c: TestCluster, reason: string): Promise<string[]> {
  return (await c.client.list<any>(R.events, 'default')).items.filter((e) => e.reason === reason).map((e) => e.message);
}

test('a Deployment creates a ReplicaSet named by its pod-template-hash, its pods, and reports a finished rollout', async () => {
  const env = await setup();
  const { c } = env;
  try {
    const created = await c.client.create<any>(R.deployments, 'default', deployment('web', 3, {}, { 'kubernetes.io/change-cause': 'first' }));
    const d = await rolledOut(c, 'web', 3);
    const [rs] = await listRS(c, 'web');
    const hash = rs.metadata.labels['pod-template-hash'];
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.equal(hash, computeHash(created.spec.template, undefined));
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.equal(rs.spec.selector.matchLabels['pod-template-hash'], hash);
    assert.equal(rs.spec.template.metadata.labels['pod-template-hash'], hash);
    assert.deepEqual(rs.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    assert.equal(rs.metadata.annotations['deployment.kubernetes.io/revision'], '1');
    assert.equal(rs.metadata.annotations['deployment.kubernetes.io/desired-replicas'], '3');
    assert.equal(rs.metadata.annotations['deployment.kubernetes.io/max-replicas'], '4'); // 3 + ceil(25% of 3)
    assert.equal(rs.metadata.annotations['kubernetes.io/change-cause'], 'first');
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '1');
    const pods = await listPods(c, 'web');
    assert.equal(pods.length, 3);
    assert.ok(pods.every((p: any) => p.metadata.name.startsWith(`web-${hash}-`) && p.metadata.labels['pod-template-hash'] === hash));

    assert.deepEqual(
      { ...d.status, conditions: undefined },
      { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, conditions: undefined },
    );
    const available = cond(d, 'Available');
    assert.equal(available.status, 'True');
    assert.equal(available.reason, 'MinimumReplicasAvailable');
    assert.equal(available.message, 'Deployment has minimum availability.');
    const progressing = cond(d, 'Progressing');
    assert.equal(progressing.status, 'True');
    assert.equal(progressing.message, `ReplicaSet "web-${hash}" has successfully progressed.`);
    assert.deepEqual(await eventMessages(c, 'ScalingReplicaSet'), [`Scaled up replica set web-${hash} from 0 to 3`]);

    // kubectl scale: the one active set follows, and its annotations record the new size.
    await c.client.patch(R.deployments, 'default', 'web', 'merge', { spec: { replicas: 5 } });
    await rolledOut(c, 'web', 5);
    const [scaled] = await listRS(c, 'web');
    assert.equal(scaled.spec.replicas, 5);
    assert.equal(scaled.metadata.annotations['deployment.kubernetes.io/desired-replicas'], '5');
    assert.ok((await eventMessages(c, 'ScalingReplicaSet')).includes(`Scaled up replica set web-${hash} from 3 to 5`));
  } finally {
    await env.close();
  }
});

test('a template change rolls over within maxSurge and maxUnavailable at every step', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.deployments, 'default', deployment('api', 4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    await rolledOut(c, 'api', 4);
    const [first] = await listRS(c, 'api');

    // Watch every change: the ReplicaSets' desired sizes never exceed 4 + 1, and ready pods never drop below 4 - 1.
    const sizes = new Map<string, number>();
    const readyPods = new Set<string>();
    const violations: string[] = [];
    const rsWatch = await c.client.watch(R.replicasets, 'default', { resourceVersion: first.metadata.resourceVersion }, (ev) => {
      if (ev.type === 'DELETED') sizes.delete(ev.object.metadata.name);
      else if (ev.type !== 'BOOKMARK' && ev.type !== 'ERROR') sizes.set(ev.object.metadata.name, ev.object.spec.replicas);
      const total = [...sizes.values()].reduce((a, b) => a + b, 0);
      if (total > 5) violations.push(`${total} replicas desired`);
    });
    sizes.set(first.metadata.name, 4);
    for (const p of await listPods(c, 'api')) readyPods.add(p.metadata.name);
    const podWatch = await c.client.watch(R.pods, 'default', { resourceVersion: (await c.client.list(R.pods, 'default')).resourceVersion }, (ev) => {
      const p = ev.object;
      const ready = ev.type !== 'DELETED' && p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
      if (ready) readyPods.add(p.metadata.name);
      else readyPods.delete(p.metadata.name);
      if (readyPods.size < 3) violations.push(`${readyPods.size} ready pods`);
    });

    await c.client.patch(R.deployments, 'default', 'api', 'merge', { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:2.0' }] } } } });
    const d = await rolledOut(c, 'api', 4);
    rsWatch.stop();
    podWatch.stop();
    assert.deepEqual(violations, []);

    const sets = await listRS(c, 'api');
    const newRS = sets.find((rs: any) => rs.metadata.name !== first.metadata.name);
    const oldRS = sets.find((rs: any) => rs.metadata.name === first.metadata.name);
    assert.equal(newRS.spec.replicas, 4);
    assert.equal(oldRS.spec.replicas, 0);
    assert.equal(newRS.metadata.annotations['deployment.kubernetes.io/revision'], '2');
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2');
    assert.equal(cond(d, 'Progressing').message, `ReplicaSet "${newRS.metadata.name}" has successfully progressed.`);
    const pods = await listPods(c, 'api');
    assert.equal(pods.length, 4);
    assert.ok(pods.every((p: any) => p.spec.containers[0].image === 'nginx:2.0'));
    // The first step surges by one: the new set goes 0 → 1, the old one 4 → 3.
    const scaling = await eventMessages(c, 'ScalingReplicaSet');
    assert.ok(scaling.includes(`Scaled up replica set ${newRS.metadata.name} from 0 to 1`), scaling.join('\n'));
    assert.ok(scaling.includes(`Scaled down replica set ${first.metadata.name} from 4 to 3`), scaling.join('\n'));
  } finally {
    await env.close();
  }
});

test('Recreate removes every old pod before the new ReplicaSet gets any', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.deployments, 'default', deployment('batch', 2, { strategy: { type: 'Recreate' } }));
    await rolledOut(c, 'batch', 2);
    const mixed: string[] = [];
    const live = new Map<string, string>();
    for (const p of await listPods(c, 'batch')) live.set(p.metadata.name, p.spec.containers[0].image);
    const w = await c.client.watch(R.pods, 'default', { resourceVersion: (await c.client.list(R.pods, 'default')).resourceVersion }, (ev) => {
      if (ev.type === 'DELETED') live.delete(ev.object.metadata.name);
      else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') live.set(ev.object.metadata.name, ev.object.spec.containers[0].image);
      if (new Set(live.values()).size > 1) mixed.push([...live.entries()].join(' '));
    });
    await c.client.patch(R.deployments, 'default', 'batch', 'merge', { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:2.0' }] } } } });
    await rolledOut(c, 'batch', 2);
    w.stop();
    assert.deepEqual(mixed, []);
    const pods = await listPods(c, 'batch');
    assert.equal(pods.length, 2);
    assert.ok(pods.every((p: any) => p.spec.containers[0].image === 'nginx:2.0'));
  } finally {
    await env.close();
  }
});

test('a paused Deployment does not roll, still scales, and rolls once resumed', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.deployments, 'default', deployment('paused', 2));
    await rolledOut(c, 'paused', 2);
    await c.client.patch(R.deployments, 'default', 'paused', 'merge', { spec: { paused: true } });
    const d = await eventually(async () => {
      const cur = await getD(c, 'paused');
      return cond(cur, 'Progressing')?.reason === 'DeploymentPaused' && cur.status.observedGeneration === cur.metadata.generation && cur;
    }, 'the paused condition');
    assert.equal(cond(d, 'Progressing').status, 'Unknown');
    assert.equal(cond(d, 'Progressing').message, 'Deployment is paused');

    await c.client.patch(R.deployments, 'default', 'paused', 'merge', { spec: { replicas: 3, template: { spec: { containers: [{ name: 'app', image: 'nginx:2.0' }] } } } });
    await eventually(async () => {
      await readyAll(c, 'paused');
      const cur = await getD(c, 'paused');
      return cur.status.observedGeneration === cur.metadata.generation && cur.status.availableReplicas === 3;
    }, 'scaled while paused');
    const sets = await listRS(c, 'paused');
    assert.equal(sets.length, 1, 'no new ReplicaSet while paused');
    assert.equal(sets[0].spec.replicas, 3);
    assert.equal(sets[0].spec.template.spec.containers[0].image, 'nginx:1.0');

    await c.client.patch(R.deployments, 'default', 'paused', 'merge', { spec: { paused: false } });
    await rolledOut(c, 'paused', 3);
    const after = await listRS(c, 'paused');
    assert.equal(after.length, 2);
    assert.ok((await listPods(c, 'paused')).every((p: any) => p.spec.containers[0].image === 'nginx:2.0'));
  } finally {
    await env.close();
  }
});

test('revisions, change-cause, revisionHistoryLimit cleanup and rollback to an old template', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.deployments, 'default', deployment('hist', 1, { revisionHistoryLimit: 1 }));
    await rolledOut(c, 'hist', 1);
    for (const [i, image] of ['nginx:2.0', 'nginx:3.0'].entries()) {
      await c.client.patch(R.deployments, 'default', 'hist', 'merge', {
        metadata: { annotations: { 'kubernetes.io/change-cause': `set image ${image}` } },
        spec: { template: { spec: { containers: [{ name: 'app', image }] } } },
      });
      await rolledOut(c, 'hist', 1);
      await eventually(async () => (await listRS(c, 'hist')).length === Math.min(i + 2, 2), 'old sets cleaned up to the limit');
    }
    // Revision 1 is gone (limit 1 old set); revision 2 and 3 remain, as `kubectl rollout history` lists them.
    const byRev = async () => new Map((await listRS(c, 'hist')).map((rs: any) => [rs.metadata.annotations['deployment.kubernetes.io/revision'], rs]));
    const sets = await byRev();
    assert.deepEqual([...sets.keys()].sort(), ['2', '3']);
    assert.equal(sets.get('3').metadata.annotations['kubernetes.io/change-cause'], 'set image nginx:3.0');
    assert.equal(sets.get('2').metadata.annotations['kubernetes.io/change-cause'], 'set image nginx:2.0');

    // kubectl rollout undo: the template of revision 2 (without its hash label) goes back on the Deployment.
    const rev2 = sets.get('2');
    const template = structuredClone(rev2.spec.template);
    delete template.metadata.labels['pod-template-hash'];
    const cur = await getD(c, 'hist');
    cur.spec.template = template;
    await c.client.update(R.deployments, 'default', cur);
    const d = await rolledOut(c, 'hist', 1);
    const after = await byRev();
    assert.deepEqual([...after.keys()].sort(), ['3', '4']);
    assert.equal(after.get('4').metadata.name, rev2.metadata.name, 'the old set is reused, not recreated');
    assert.equal(after.get('4').metadata.annotations['deployment.kubernetes.io/revision-history'], '2');
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '4');
    assert.ok((await listPods(c, 'hist')).every((p: any) => p.spec.containers[0].image === 'nginx:2.0'));
  } finally {
    await env.close();
  }
});

test('a rollout that makes no progress within progressDeadlineSeconds reports ProgressDeadlineExceeded', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await c.client.create(R.deployments, 'default', deployment('stuck', 2, { progressDeadlineSeconds: 60 }));
    // No pod ever becomes ready.
    const d0 = await eventually(async () => {
      const cur = await getD(c, 'stuck');
      return cur.status?.replicas === 2 && cur;
    }, 'the first rollout step');
    const rsName = (await listRS(c, 'stuck'))[0].metadata.name;
    assert.equal(cond(d0, 'Progressing').status, 'True');
    assert.match(cond(d0, 'Progressing').message, new RegExp(`^(Created new replica set "${rsName}"|ReplicaSet "${rsName}" is progressing\\.)$`));
    assert.equal(cond(d0, 'Available').status, 'False');
    assert.equal(cond(d0, 'Available').reason, 'MinimumReplicasUnavailable');
    assert.equal(cond(d0, 'Available').message, 'Deployment does not have minimum availability.');

    env.advance(61_000);
    // Any change makes the controller look again (upstream also requeues at the deadline).
    await c.client.patch(R.deployments, 'default', 'stuck', 'merge', { metadata: { labels: { poke: '1' } } });
    const d = await eventually(async () => {
      const cur = await getD(c, 'stuck');
      return cond(cur, 'Progressing')?.reason === 'ProgressDeadlineExceeded' && cur;
    }, 'the deadline');
    assert.equal(cond(d, 'Progressing').status, 'False');
    assert.equal(cond(d, 'Progressing').message, `ReplicaSet "${rsName}" has timed out progressing.`);
    assert.equal(d.status.unavailableReplicas, 2);
  } finally {
    await env.close();
  }
});
