import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/memory.js';
import { Registry } from '../../apiserver/registry/registry.js';
import { CustomResources } from '../../apiserver/customresources.js';
import { InProcessClient } from '../../client/inprocess.js';
import { InformerFactory } from '../../client/factory.js';
import { EventRecorder } from '../../client/events.js';
import { R, type Client } from '../../client/client.js';
import { eventually } from '../../controllers/testenv.js';
import { ensurePodGroupCRD } from '../../controllers/podgroup.js';
import { POD_GROUP_LABEL, PODGROUPS } from '../../api/podgroup.js';
import { Scheduler } from '../scheduler.js';
import { newNodeInfo, addPod, newPodInfo } from '../nodeinfo.js';
import { inTreeRegistry } from './registry.js';
import { NAME, clusterResourceGap, coschedulingWith, type CoschedulingArgs } from './coscheduling.js';

/** A real in-memory API server serving the PodGroup CRD, and a scheduler whose Coscheduling has `args`. */
async function setup(args: CoschedulingArgs = {}, opts: { startScheduler?: boolean } = {}) {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const crs = new CustomResources(registry);
  await crs.start();
  const client = new InProcessClient(registry, { name: 'test', groups: ['system:masters'] }, 'test');
  await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await ensurePodGroupCRD(client);
  const informers = new InformerFactory(client);
  const plugins = new Map(inTreeRegistry()).set(NAME, coschedulingWith(args));
  // Short pod backoff keeps retries quick; the order of things is what is tested, not the timing.
  const scheduler = new Scheduler({ client, informers, events: new EventRecorder(client, 'default-scheduler'), registry: plugins, queue: { initialBackoffMs: 50, maxBackoffMs: 200 } });
  if (opts.startScheduler !== false) await scheduler.start();
  return {
    client,
    scheduler,
    async close() {
      scheduler.stop();
      await scheduler.bindingsSettled();
      informers.stop();
      crs.stop();
      registry.stop();
      await backend.close();
    },
  };
}

function node(name: string, cpu: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: { allocatable: { pods: '110', cpu, memory: '16Gi' }, capacity: { pods: '110', cpu, memory: '16Gi' } },
  };
}

function podGroup(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name, namespace: 'default' }, spec };
}

function member(name: string, group: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { [POD_GROUP_LABEL]: group } },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '1' } } }], ...spec },
  };
}

async function bound(client: Client, prefix: string): Promise<string[]> {
  const pods = await client.list<any>(R.pods, 'default');
  return pods.items.filter((p) => p.metadata.name.startsWith(prefix) && p.spec.nodeName).map((p) => p.metadata.name).sort();
}

async function eventFor(client: Client, name: string, pred: (msg: string) => boolean = () => true): Promise<any> {
  return eventually(async () => (await client.list<any>(R.events, 'default')).items.find((e) => e.involvedObject.name === name && e.reason === 'FailedScheduling' && pred(e.message)), `a FailedScheduling event for ${name}`);
}

async function scheduledCondition(client: Client, group: string, status: 'True' | 'False'): Promise<any> {
  return eventually(async () => {
    const pg = await client.get<any>(PODGROUPS, 'default', group);
    return (pg.status?.conditions ?? []).find((c: any) => c.type === 'Scheduled' && c.status === status);
  }, `PodGroup ${group} Scheduled=${status}`);
}

test('a gang waits whole until minMember pods exist, then is bound all together', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('n1', '8'));
    await env.client.create(PODGROUPS, 'default', podGroup('train', { minMember: 3 }));
    await env.client.create(R.pods, 'default', member('train-0', 'train'));
    await env.client.create(R.pods, 'default', member('train-1', 'train'));
    const ev = await eventFor(env.client, 'train-1', (m) => m.includes('current pods number: 2'));
    // As upstream: PostFilter runs after a PreFilter rejection too, and every rejecting PostFilter plugin's reason is listed.
    assert.equal(
      ev.message,
      '0/1 nodes are available: pre-filter pod train-1 cannot find enough sibling pods, current pods number: 2, minMember of group: 3. ' +
        'preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling., PodGroup default/train gets rejected due to Pod train-1 is unschedulable even after PostFilter',
    );
    assert.deepEqual(await bound(env.client, 'train-'), [], 'no member is bound while the gang is incomplete');
    await env.client.create(R.pods, 'default', member('train-2', 'train'));
    await eventually(async () => (await bound(env.client, 'train-')).length === 3, 'all three members bound');
    const cond = await scheduledCondition(env.client, 'train', 'True');
    assert.equal(cond.reason, 'Scheduled');
    assert.equal(cond.message, 'all 3 pods the group needs are placed');
  } finally {
    await env.close();
  }
});

test('of two gangs that cannot both fit, one is bound whole and the other waits whole, holding nothing, then runs', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('n1', '4')); // room for 4 of the 6 pods
    for (const g of ['alpha', 'beta']) await env.client.create(PODGROUPS, 'default', podGroup(g, { minMember: 3 }));
    await Promise.all(['alpha', 'beta'].flatMap((g) => [0, 1, 2].map((i) => env.client.create(R.pods, 'default', member(`${g}-${i}`, g)))));
    const cond = await scheduledCondition(env.client, 'beta', 'False').catch(() => scheduledCondition(env.client, 'alpha', 'False'));
    assert.equal(cond.reason, 'Unschedulable');
    assert.match(cond.message, /cannot be placed, so none of the 3 pods the group needs are bound: 0\/1 nodes are available: 1 Insufficient cpu\.$/);
    const [winner, loser] = (await bound(env.client, 'alpha-')).length === 3 ? ['alpha', 'beta'] : ['beta', 'alpha'];
    await eventually(async () => (await bound(env.client, `${winner}-`)).length === 3, `${winner} bound whole`);
    assert.deepEqual(await bound(env.client, `${loser}-`), [], `${loser} has no member bound`);
    // The waiting gang keeps no member reserved on the node: nothing of it is assumed.
    await eventually(() => [0, 1, 2].every((i) => !env.scheduler.cache.isAssumed(`default/${loser}-${i}`)), `${loser} holds nothing`);
    const ev = await eventFor(env.client, `${loser}-0`);
    assert.match(ev.message, /^0\/1 nodes are available: /);
    // The winner finishes: its pods go, and the other gang is placed whole.
    for (const i of [0, 1, 2]) await env.client.delete(R.pods, 'default', `${winner}-${i}`, { gracePeriodSeconds: 0 });
    await eventually(async () => (await bound(env.client, `${loser}-`)).length === 3, `${loser} bound whole after ${winner} left`, 15_000);
    await scheduledCondition(env.client, loser, 'True');
  } finally {
    await env.close();
  }
});

test('interleaved gangs that cannot both fit do not deadlock: the first to fail is released and the other is bound', async () => {
  const env = await setup({}, { startScheduler: false });
  try {
    await env.client.create(R.nodes, '', node('n1', '4'));
    // Priorities interleave the gangs in the queue (a-0, b-0, a-1, b-1, a-2, b-2), so each gets two members placed first.
    const order = ['a-0', 'b-0', 'a-1', 'b-1', 'a-2', 'b-2'];
    for (const [i, name] of order.entries()) {
      await env.client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: `p${i}` }, value: 100 - i });
    }
    for (const g of ['a', 'b']) await env.client.create(PODGROUPS, 'default', podGroup(g, { minMember: 3 }));
    for (const [i, name] of order.entries()) await env.client.create(R.pods, 'default', member(name, name[0]!, { priorityClassName: `p${i}` }));
    await env.scheduler.start();
    // a-2 fits nowhere while a-0, a-1, b-0, b-1 hold the node: gang a is released, b-2 fits, gang b is bound.
    await eventually(async () => (await bound(env.client, 'b-')).length === 3, 'gang b bound whole');
    assert.deepEqual(await bound(env.client, 'a-'), []);
    const ev = await eventFor(env.client, 'a-2', (m) => m.includes('PodGroup default/a gets rejected'));
    assert.equal(
      ev.message,
      '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod., ' +
        'PodGroup default/a gets rejected due to Pod a-2 is unschedulable even after PostFilter',
    );
    const released = await eventFor(env.client, 'a-0', (m) => m.includes('optimistic rejection'));
    assert.equal(released.message, '0/1 nodes are available: 1 optimistic rejection in PostFilter.');
  } finally {
    await env.close();
  }
});

test('members held past scheduleTimeoutSeconds are released together, and the gang is placed once complete', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('n1', '8'));
    await env.client.create(PODGROUPS, 'default', podGroup('slow', { minMember: 3, scheduleTimeoutSeconds: 1 }));
    // The third member exists but is gated: it counts for minMember, and cannot be placed yet.
    await env.client.create(R.pods, 'default', member('slow-2', 'slow', { schedulingGates: [{ name: 'example.com/wait' }] }));
    await env.client.create(R.pods, 'default', member('slow-0', 'slow'));
    await env.client.create(R.pods, 'default', member('slow-1', 'slow'));
    const timedOut = await eventually(async () => (await env.client.list<any>(R.events, 'default')).items.find((e) => e.reason === 'FailedScheduling' && e.message.includes('timeout')), 'a timeout');
    assert.equal(timedOut.message, '0/1 nodes are available: 1 rejected due to timeout after waiting 1s at plugin Coscheduling.');
    const sibling = timedOut.involvedObject.name === 'slow-0' ? 'slow-1' : 'slow-0';
    const other = await eventFor(env.client, sibling, (m) => m.includes('rejection in Unreserve'));
    assert.equal(other.message, '0/1 nodes are available: 1 rejection in Unreserve.');
    assert.deepEqual(await bound(env.client, 'slow-'), []);
    await eventually(() => !env.scheduler.cache.isAssumed('default/slow-0') && !env.scheduler.cache.isAssumed('default/slow-1'), 'released members unreserved');
    // Lifting the gate completes the gang: the first member placed calls the others back.
    const gated = await env.client.get<any>(R.pods, 'default', 'slow-2');
    await env.client.update(R.pods, 'default', { ...gated, spec: { ...gated.spec, schedulingGates: [] } });
    await eventually(async () => (await bound(env.client, 'slow-')).length === 3, 'the gang bound whole');
  } finally {
    await env.close();
  }
});

test('a gang whose minResources exceed what the cluster has free is turned away at PreFilter with the gap', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('n1', '4'));
    await env.client.create(PODGROUPS, 'default', podGroup('big', { minMember: 1, minResources: { cpu: '6', 'nvidia.com/gpu': 2 } }));
    await env.client.create(R.pods, 'default', member('big-0', 'big'));
    const ev = await eventFor(env.client, 'big-0');
    assert.equal(
      ev.message,
      '0/1 nodes are available: resource gap: map[cpu:2 nvidia.com/gpu:2]. ' +
        'preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling., PodGroup default/big gets rejected due to Pod big-0 is unschedulable even after PostFilter',
    );
    const pod = await env.client.get<any>(R.pods, 'default', 'big-0');
    assert.equal(pod.spec.nodeName, undefined);
  } finally {
    await env.close();
  }
});

test('a pod that names a missing PodGroup is not bound alone', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('n1', '4'));
    await env.client.create(R.pods, 'default', member('orphan', 'nowhere'));
    const ev = await eventFor(env.client, 'orphan');
    assert.equal(ev.message, '0/1 nodes are available: 1 PodGroup not found.');
    // Creating the group lets the pod in.
    await env.client.create(PODGROUPS, 'default', podGroup('nowhere', { minMember: 1 }));
    await eventually(async () => (await bound(env.client, 'orphan')).length === 1, 'the pod bound once its group exists');
  } finally {
    await env.close();
  }
});

test('clusterResourceGap sums free resources over nodes and leaves the group’s own pods out', () => {
  const a = newNodeInfo('a', node('a', '4') as any);
  const b = newNodeInfo('b', node('b', '4') as any);
  addPod(a, newPodInfo(member('other', 'x') as any)); // 1 cpu used by another group
  addPod(b, newPodInfo(member('mine', 'g') as any)); // counts as free for group g
  const want = new Map([['cpu', 7000], ['pods', 2]]);
  assert.equal(clusterResourceGap([a, b], want, 'default/g'), '');
  assert.equal(clusterResourceGap([a, b], new Map([['cpu', 8000]]), 'default/g'), 'resource gap: map[cpu:1]');
  assert.equal(clusterResourceGap([a, b], new Map([['cpu', 8000]]), 'default/x'), 'resource gap: map[cpu:1]');
  assert.equal(clusterResourceGap([a, b], new Map([['cpu', 8000], ['pods', 300]]), 'default/h'), 'resource gap: map[cpu:2 pods:82]');
});
