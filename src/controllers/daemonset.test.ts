import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { DaemonSetController, addDaemonTolerations, daemonNodeFit, nodeNameAffinity, targetNodeName } from './daemonset.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from './testenv.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { HollowNodes } from '../kubelet/hollow.js';

async function setup() {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  const controller = new DaemonSetController({ client: cluster.client, informers: cluster.informers, events: new EventRecorder(cluster.client, 'daemonset-controller') });
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

async function node(c: TestCluster, name: string, opts: { labels?: Record<string, string>; taints?: any[] } = {}): Promise<void> {
  await c.client.create(R.nodes, '', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(opts.labels ?? {}) } },
    spec: opts.taints ? { taints: opts.taints } : {},
    status: { conditions: [{ type: 'Ready', status: 'True' }], allocatable: { cpu: '4', memory: '8Gi', pods: '110' } },
  });
}

const daemonSet = (name: string, extra: { spec?: Record<string, unknown>; podSpec?: Record<string, unknown>; image?: string } = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'agent', image: extra.image ?? 'busybox', command: ['sleep', '3600'] }], ...(extra.podSpec ?? {}) } },
    ...(extra.spec ?? {}),
  },
});

async function pods(c: TestCluster, app: string): Promise<any[]> {
  return (await c.client.list(R.pods, 'default', { labelSelector: `app=${app}` })).items;
}

/** `node=image` of each live pod, sorted. */
async function placement(c: TestCluster, app: string): Promise<string[]> {
  return (await pods(c, app))
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => `${targetNodeName(p)}=${p.spec.containers[0].image}`)
    .sort();
}

async function waitPlacement(c: TestCluster, app: string, want: string[]): Promise<void> {
  await eventually(async () => (await placement(c, app)).join() === want.join(), `placement ${want.join(',')}`);
}

/** Plays the kubelet: the pod is bound, runs and is ready. */
async function markReady(c: TestCluster, pod: any): Promise<void> {
  const fresh = await c.client.get(R.pods, 'default', pod.metadata.name);
  fresh.status = { ...fresh.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] };
  await c.client.update(R.pods, 'default', fresh, { subresource: 'status' });
}

async function markAllReady(c: TestCluster, app: string): Promise<void> {
  for (const p of await pods(c, app)) if (!p.status?.conditions?.some((x: any) => x.type === 'Ready')) await markReady(c, p);
}

async function status(c: TestCluster, name: string): Promise<any> {
  return (await c.client.get(R.daemonsets, 'default', name)).status ?? {};
}

async function events(c: TestCluster, reason: string): Promise<string[]> {
  return (await c.client.list(R.events, 'default')).items.filter((e: any) => e.reason === reason).map((e: any) => e.message);
}

test('daemon pod tolerations, node fit and the node-name affinity follow upstream', () => {
  const spec: any = { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] };
  addDaemonTolerations(spec);
  assert.deepEqual(
    spec.tolerations.map((t: any) => `${t.key}:${t.effect}${t.tolerationSeconds ? `:${t.tolerationSeconds}` : ''}`),
    [
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
    ],
  );
  const host: any = { hostNetwork: true };
  addDaemonTolerations(host);
  assert.equal(host.tolerations.at(-1).key, 'node.kubernetes.io/network-unavailable');

  const ds: any = daemonSet('x', { podSpec: { nodeSelector: { role: 'worker' } } });
  const fit = daemonNodeFit(ds);
  const n = (labels: Record<string, string>, taints: any[] = []) => ({ metadata: { name: 'n', labels }, spec: { taints } }) as any;
  assert.deepEqual(fit(n({ role: 'worker' })), { shouldRun: true, shouldContinueRunning: true });
  assert.deepEqual(fit(n({})), { shouldRun: false, shouldContinueRunning: false });
  assert.deepEqual(fit(n({ role: 'worker' }, [{ key: 'gpu', effect: 'NoSchedule' }])), { shouldRun: false, shouldContinueRunning: true });
  assert.deepEqual(fit(n({ role: 'worker' }, [{ key: 'gpu', effect: 'NoExecute' }])), { shouldRun: false, shouldContinueRunning: false });
  assert.deepEqual(fit(n({ role: 'worker' }, [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }])), { shouldRun: true, shouldContinueRunning: true });

  const affinity = nodeNameAffinity(
    { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }] }, preferredDuringSchedulingIgnoredDuringExecution: [] } },
    'node-7',
  );
  assert.deepEqual(affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution, { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-7'] }] }] });
  assert.deepEqual(affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution, []);
  assert.equal(targetNodeName({ metadata: {}, spec: { affinity } }), 'node-7');
  assert.equal(targetNodeName({ metadata: {}, spec: { nodeName: 'bound', affinity } }), 'bound');
});

test('one pod per eligible node: selectors, taints and the tolerations daemon pods get decide; nodes coming and changing are followed', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await node(c, 'n1');
    await node(c, 'n2', { labels: { disk: 'ssd' } });
    await node(c, 'n3', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    await node(c, 'n4', { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] });
    await node(c, 'n5', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] });
    const ds = await c.client.create<any>(R.daemonsets, 'default', daemonSet('agent'));
    await c.client.create(R.daemonsets, 'default', daemonSet('ssd', { podSpec: { nodeSelector: { disk: 'ssd' } } }));

    await waitPlacement(c, 'agent', ['n1=busybox', 'n2=busybox', 'n4=busybox', 'n5=busybox']);
    await waitPlacement(c, 'ssd', ['n2=busybox']);
    const [p] = await pods(c, 'agent');
    assert.match(p.metadata.name, /^agent-[a-z0-9]{5}$/);
    assert.equal(p.spec.nodeName, undefined, 'the scheduler binds daemon pods');
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(p.metadata.labels['pod-template-generation'], '1');
    const [rev] = (await c.client.list(R.controllerrevisions, 'default', { labelSelector: 'app=agent' })).items;
    assert.equal(p.metadata.labels['controller-revision-hash'], rev.metadata.labels['controller-revision-hash']);
    assert.equal(rev.metadata.name, `agent-${rev.metadata.labels['controller-revision-hash']}`);
    assert.equal(rev.revision, 1);
    assert.ok(p.spec.tolerations.some((t: any) => t.key === 'node.kubernetes.io/unschedulable' && t.effect === 'NoSchedule'));
    // The not-ready toleration has no tolerationSeconds: daemon pods are not evicted from unhealthy nodes.
    assert.deepEqual(p.spec.tolerations.find((t: any) => t.key === 'node.kubernetes.io/not-ready'), { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' });
    assert.equal((await c.client.get(R.daemonsets, 'default', 'agent')).metadata.annotations['deprecated.daemonset.template.generation'], '1');

    const st = await eventually(async () => {
      const s = await status(c, 'agent');
      return s.desiredNumberScheduled === 4 && s.currentNumberScheduled === 4 && s;
    }, 'agent status');
    assert.deepEqual(st, { currentNumberScheduled: 4, numberMisscheduled: 0, desiredNumberScheduled: 4, numberReady: 0, observedGeneration: 1, updatedNumberScheduled: 4, numberUnavailable: 4 });
    await markAllReady(c, 'agent');
    await eventually(async () => (await status(c, 'agent')).numberAvailable === 4, 'four available');
    const created = await events(c, 'SuccessfulCreate');
    assert.equal(created.filter((m) => /^Created pod: agent-[a-z0-9]{5}$/.test(m)).length, 4);

    // A new node gets a pod; a node losing its label loses the selective one.
    await node(c, 'n6', { labels: { disk: 'ssd' } });
    await waitPlacement(c, 'agent', ['n1=busybox', 'n2=busybox', 'n4=busybox', 'n5=busybox', 'n6=busybox']);
    await waitPlacement(c, 'ssd', ['n2=busybox', 'n6=busybox']);
    await c.client.patch(R.nodes, '', 'n2', 'merge', { metadata: { labels: { disk: null } } });
    await waitPlacement(c, 'ssd', ['n6=busybox']);
    // An untolerated NoSchedule taint leaves the running pod (misscheduled); NoExecute removes it.
    await c.client.patch(R.nodes, '', 'n1', 'merge', { spec: { taints: [{ key: 'maintenance', effect: 'NoSchedule' }] } });
    await eventually(async () => (await status(c, 'agent')).numberMisscheduled === 1, 'n1 misscheduled');
    assert.ok((await placement(c, 'agent')).includes('n1=busybox'));
    await c.client.patch(R.nodes, '', 'n1', 'merge', { spec: { taints: [{ key: 'maintenance', effect: 'NoExecute' }] } });
    await waitPlacement(c, 'agent', ['n2=busybox', 'n4=busybox', 'n5=busybox', 'n6=busybox']);
    // A deleted node's pending pod goes too.
    await c.client.delete(R.nodes, '', 'n6');
    await waitPlacement(c, 'ssd', []);
  } finally {
    await env.close();
  }
});

test('RollingUpdate with maxUnavailable 1 replaces one pod at a time; the template generation and revisions follow', async () => {
  const env = await setup();
  const { c } = env;
  try {
    for (const n of ['a', 'b', 'c']) await node(c, n);
    await c.client.create(R.daemonsets, 'default', daemonSet('ru'));
    await waitPlacement(c, 'ru', ['a=busybox', 'b=busybox', 'c=busybox']);
    await markAllReady(c, 'ru');
    await eventually(async () => (await status(c, 'ru')).numberAvailable === 3, 'available');

    await c.client.patch(R.daemonsets, 'default', 'ru', 'strategic', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] } } } });
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      // Exactly one node is without an available old pod while its new pod comes up.
      const fresh = await eventually(async () => {
        const list = (await pods(c, 'ru')).filter((p) => !p.metadata.deletionTimestamp && p.spec.containers[0].image === 'busybox:1.36' && !p.status?.conditions);
        return list.length === 1 ? list[0] : undefined;
      }, `new pod ${round + 1}`);
      const stillOld = (await pods(c, 'ru')).filter((p) => p.spec.containers[0].image === 'busybox').length;
      assert.equal(stillOld, 2 - round);
      seen.add(targetNodeName(fresh)!);
      assert.equal(fresh.metadata.labels['pod-template-generation'], '2');
      await markReady(c, fresh);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
    const st = await eventually(async () => {
      const s = await status(c, 'ru');
      return s.updatedNumberScheduled === 3 && s.numberAvailable === 3 && s;
    }, 'rolled out');
    assert.equal(st.observedGeneration, 2);
    const ds = await c.client.get(R.daemonsets, 'default', 'ru');
    assert.equal(ds.metadata.annotations['deprecated.daemonset.template.generation'], '2');
    const revs = (await c.client.list(R.controllerrevisions, 'default', { labelSelector: 'app=ru' })).items.map((r: any) => `${r.revision}:${r.data.spec.template.spec.containers[0].image}`).sort();
    assert.deepEqual(revs, ['1:busybox', '2:busybox:1.36']);
    // Going back renumbers the first revision instead of making a third.
    await c.client.patch(R.daemonsets, 'default', 'ru', 'strategic', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'busybox' }] } } } });
    await eventually(async () => {
      const r = (await c.client.list(R.controllerrevisions, 'default', { labelSelector: 'app=ru' })).items.map((x: any) => `${x.revision}:${x.data.spec.template.spec.containers[0].image}`).sort();
      return r.join() === '2:busybox:1.36,3:busybox';
    }, 'revision 1 renumbered to 3');
  } finally {
    await env.close();
  }
});

test('RollingUpdate with maxSurge starts the new pod beside the old one and removes the old one once the new is available', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await node(c, 'a');
    await c.client.create(R.daemonsets, 'default', daemonSet('surge', { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } }));
    await waitPlacement(c, 'surge', ['a=busybox']);
    await markAllReady(c, 'surge');
    await eventually(async () => (await status(c, 'surge')).numberAvailable === 1, 'available');
    await c.client.patch(R.daemonsets, 'default', 'surge', 'strategic', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] } } } });
    await waitPlacement(c, 'surge', ['a=busybox', 'a=busybox:1.36']);
    await env.controller.idle();
    assert.deepEqual(await placement(c, 'surge'), ['a=busybox', 'a=busybox:1.36']);
    const fresh = (await pods(c, 'surge')).find((p) => p.spec.containers[0].image === 'busybox:1.36');
    await markReady(c, fresh);
    await waitPlacement(c, 'surge', ['a=busybox:1.36']);
  } finally {
    await env.close();
  }
});

test('OnDelete keeps old pods until they are deleted; a failed pod is killed and replaced', async () => {
  const env = await setup();
  const { c } = env;
  try {
    await node(c, 'a');
    await node(c, 'b');
    await c.client.create(R.daemonsets, 'default', daemonSet('od', { spec: { updateStrategy: { type: 'OnDelete' } } }));
    await waitPlacement(c, 'od', ['a=busybox', 'b=busybox']);
    await markAllReady(c, 'od');
    await c.client.patch(R.daemonsets, 'default', 'od', 'strategic', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] } } } });
    await eventually(async () => (await status(c, 'od')).observedGeneration === 2, 'generation 2 observed');
    await env.controller.idle();
    assert.deepEqual(await placement(c, 'od'), ['a=busybox', 'b=busybox']);
    assert.equal((await status(c, 'od')).updatedNumberScheduled, undefined);

    const onA = (await pods(c, 'od')).find((p) => targetNodeName(p) === 'a');
    await c.client.delete(R.pods, 'default', onA.metadata.name);
    await waitPlacement(c, 'od', ['a=busybox:1.36', 'b=busybox']);

    const onB = (await pods(c, 'od')).find((p) => targetNodeName(p) === 'b');
    const failed = await c.client.get(R.pods, 'default', onB.metadata.name);
    failed.status = { ...failed.status, phase: 'Failed', conditions: [] };
    await c.client.update(R.pods, 'default', failed, { subresource: 'status' });
    await eventually(async () => !(await getOrUndefined(c.client, R.pods, 'default', onB.metadata.name)), 'the failed pod deleted');
    await waitPlacement(c, 'od', ['a=busybox:1.36', 'b=busybox:1.36']);
    assert.deepEqual(await events(c, 'FailedDaemonPod'), [`Found failed daemon pod default/${onB.metadata.name} on node b, will try to kill it`]);
  } finally {
    await env.close();
  }
});

test('hollow nodes with the scheduler: one running pod per eligible node, and a rolling update across them', { timeout: 60_000 }, async () => {
  const env = await setup();
  const { c } = env;
  await c.namespace('kube-node-lease');
  const scheduler = new Scheduler({ client: c.client, informers: c.informers, events: new EventRecorder(c.client, 'default-scheduler') });
  const hollow = new HollowNodes({ client: c.client, count: 30, leaseIntervalMs: 0, podStartDelayMs: 1 });
  try {
    await scheduler.start();
    await hollow.start();
    // Every third node is reserved for other work and not tolerated by the agent.
    const reserved = hollow.names.filter((_, i) => i % 3 === 0);
    for (const n of reserved) await c.client.patch(R.nodes, '', n, 'merge', { spec: { taints: [{ key: 'reserved', effect: 'NoSchedule' }] } });
    await c.client.create(R.daemonsets, 'default', daemonSet('agent', { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } } } }));
    const st = await eventually(async () => {
      const s = await status(c, 'agent');
      return s.numberAvailable === 20 && s;
    }, '20 available daemon pods', 30_000);
    assert.deepEqual([st.desiredNumberScheduled, st.currentNumberScheduled, st.numberReady, st.numberMisscheduled], [20, 20, 20, 0]);
    const running = (await pods(c, 'agent')).filter((p) => p.status?.phase === 'Running');
    // Bound by the scheduler to the node the controller meant: one each, none on a reserved node.
    assert.deepEqual(running.map((p) => p.spec.nodeName).sort(), hollow.names.filter((n) => !reserved.includes(n)));
    for (const p of running) assert.equal(p.spec.nodeName, targetNodeName({ metadata: {}, spec: { affinity: p.spec.affinity } }));

    await c.client.patch(R.daemonsets, 'default', 'agent', 'strategic', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] } } } });
    const done = await eventually(async () => {
      const s = await status(c, 'agent');
      return s.observedGeneration === 2 && s.updatedNumberScheduled === 20 && s.numberAvailable === 20 && s;
    }, 'the rollout to finish', 30_000);
    assert.equal(done.numberUnavailable, undefined);
    await eventually(async () => (await pods(c, 'agent')).every((p) => p.spec.containers[0].image === 'busybox:1.36'), 'old pods gone');
  } finally {
    scheduler.stop();
    await scheduler.bindingsSettled();
    hollow.stop();
    await env.close();
  }
});
