import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../storage/memory.js';
import { Registry } from '../apiserver/registry/registry.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { EventRecorder } from '../client/events.js';
import { R, type Client, type ResourceRef } from '../client/client.js';
import { Scheduler, numFeasibleNodesToFind, selectHost } from './scheduler.js';
import { newNodeInfo } from './nodeinfo.js';

/** A real in-memory API server with a running scheduler. */
async function setup() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const client = new InProcessClient(registry, { name: 'test', groups: ['system:masters'] }, 'test');
  await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const informers = new InformerFactory(client);
  const scheduler = new Scheduler({ client, informers, events: new EventRecorder(client, 'default-scheduler') });
  await scheduler.start();
  return {
    client,
    scheduler,
    async close() {
      scheduler.stop();
      await scheduler.bindingsSettled();
      informers.stop();
      registry.stop();
      await backend.close();
    },
  };
}

/** Resolves with the first object (listed now or watched later) that satisfies `pred`. */
async function until<T = any>(client: Client, ref: ResourceRef, ns: string, pred: (o: T) => boolean, timeoutMs = 5000): Promise<T> {
  const list = await client.list<T>(ref, ns);
  const found = list.items.find(pred);
  if (found) return found;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      w.then((h) => h.stop());
      reject(new Error(`timed out waiting on ${ref.resource}`));
    }, timeoutMs);
    const w = client.watch<T>(ref, ns, { resourceVersion: list.resourceVersion }, (ev) => {
      if (done || (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') || !pred(ev.object)) return;
      done = true;
      clearTimeout(timer);
      w.then((h) => h.stop());
      resolve(ev.object);
    });
  });
}

function node(name: string, allocatable: Record<string, string>, extra: { taints?: any[]; labels?: Record<string, string> } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...extra.labels } },
    spec: extra.taints ? { taints: extra.taints } : {},
    status: { allocatable: { pods: '110', ...allocatable }, capacity: { pods: '110', ...allocatable } },
  };
}

function pod(name: string, requests: Record<string, string> = {}, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    // Extended resources cannot be overcommitted: their limit must equal the request.
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests, limits: extendedOnly(requests) } }], ...spec },
  };
}

function extendedOnly(requests: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(requests).filter(([k]) => k.includes('/')));
}

const CONTROL_PLANE_TAINT = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

test('numFeasibleNodesToFind follows upstream: all below 100 nodes, adaptive share above, at least 100', () => {
  assert.equal(numFeasibleNodesToFind(50), 50);
  assert.equal(numFeasibleNodesToFind(150), 100); // 48% of 150 = 72 → raised to 100
  assert.equal(numFeasibleNodesToFind(1000), 420); // 50 - 8 = 42%
  assert.equal(numFeasibleNodesToFind(5000), 500); // 50 - 40 = 10%
  assert.equal(numFeasibleNodesToFind(10_000), 500); // floor of 5%
  assert.equal(numFeasibleNodesToFind(5000, 100), 5000);
});

test('selectHost picks the highest total score', () => {
  const nodes = ['a', 'b', 'c'].map((n) => newNodeInfo(n));
  assert.equal(selectHost(nodes, [10, 30, 20]), 'b');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(selectHost(nodes, [5, 5, 1]));
  assert.deepEqual([...seen].sort(), ['a', 'b'], 'ties are broken randomly between the best nodes only');
});

test('a pod is bound to a fitting node, with a Scheduled event and PodScheduled=True', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('small', { cpu: '1', memory: '1Gi' }));
    await env.client.create(R.nodes, '', node('big', { cpu: '8', memory: '16Gi' }));
    await env.client.create(R.pods, 'default', pod('web', { cpu: '2', memory: '1Gi' }));
    const bound = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'web' && !!p.spec.nodeName);
    assert.equal(bound.spec.nodeName, 'big');
    const cond = bound.status.conditions.find((c: any) => c.type === 'PodScheduled');
    assert.equal(cond.status, 'True');
    // As upstream, the binding attributes no fields: the creator's entry is the only one.
    assert.deepEqual(bound.metadata.managedFields.map((e: any) => e.manager), ['test']);
    assert.equal(bound.metadata.managedFields[0].fieldsV1['f:spec']['f:nodeName'], undefined);
    const ev = await until(env.client, R.events, 'default', (e: any) => e.reason === 'Scheduled' && e.involvedObject.name === 'web');
    assert.equal(ev.message, 'Successfully assigned default/web to big');
    assert.equal(ev.type, 'Normal');
    assert.equal(ev.source.component, 'default-scheduler');
  } finally {
    await env.close();
  }
});

test('an unschedulable pod gets FailedScheduling with the upstream message, PodScheduled=False, and is placed when a node fits', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('cp-1', { cpu: '4', memory: '8Gi' }, { taints: [CONTROL_PLANE_TAINT] }));
    await env.client.create(R.nodes, '', node('cp-2', { cpu: '4', memory: '8Gi' }, { taints: [CONTROL_PLANE_TAINT] }));
    await env.client.create(R.nodes, '', node('worker', { cpu: '1', memory: '8Gi' }));
    await env.client.create(R.pods, 'default', pod('train', { cpu: '2' }));
    const expected =
      '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. ' +
      'preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.';
    const ev = await until(env.client, R.events, 'default', (e: any) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'train');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, expected);
    const pending = await until(env.client, R.pods, 'default', (p: any) =>
      p.metadata.name === 'train' && (p.status?.conditions ?? []).some((c: any) => c.type === 'PodScheduled' && c.status === 'False'),
    );
    const cond = pending.status.conditions.find((c: any) => c.type === 'PodScheduled');
    assert.equal(cond.reason, 'Unschedulable');
    assert.equal(cond.message, expected);
    assert.equal(pending.spec.nodeName, undefined);

    // A node that fits arrives: the pod leaves the unschedulable set and is bound there.
    await env.client.create(R.nodes, '', node('gpu-box', { cpu: '16', memory: '64Gi' }));
    const bound = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'train' && !!p.spec.nodeName);
    assert.equal(bound.spec.nodeName, 'gpu-box');
  } finally {
    await env.close();
  }
});

test('with no nodes the pod is reported as "no nodes available to schedule pods"', async () => {
  const env = await setup();
  try {
    await env.client.create(R.pods, 'default', pod('lonely'));
    const ev = await until(env.client, R.events, 'default', (e: any) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'lonely');
    assert.equal(ev.message, 'no nodes available to schedule pods');
    await env.client.create(R.nodes, '', node('n1', { cpu: '1', memory: '1Gi' }));
    const bound = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'lonely' && !!p.spec.nodeName, 15_000);
    assert.equal(bound.spec.nodeName, 'n1');
  } finally {
    await env.close();
  }
});

test('pods bound by the scheduler count against the node before the next pod is placed', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('a', { cpu: '1', memory: '4Gi', 'nvidia.com/gpu': '1' }));
    await env.client.create(R.nodes, '', node('b', { cpu: '1', memory: '4Gi', 'nvidia.com/gpu': '1' }));
    // Created back to back: the second pod is scheduled before the first binding shows up in the informer.
    await Promise.all(['g1', 'g2', 'g3'].map((n) => env.client.create(R.pods, 'default', pod(n, { cpu: '100m', 'nvidia.com/gpu': '1' }))));
    const b1 = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'g1' && !!p.spec.nodeName);
    const b2 = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'g2' && !!p.spec.nodeName);
    assert.notEqual(b1.spec.nodeName, b2.spec.nodeName, 'one GPU per node: the pods are spread');
    const ev = await until(env.client, R.events, 'default', (e: any) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'g3');
    assert.match(ev.message, /^0\/2 nodes are available: 2 Insufficient nvidia\.com\/gpu\. /);
    // Deleting a bound pod frees its GPU: the pending one takes it.
    await env.client.delete(R.pods, 'default', 'g1', { gracePeriodSeconds: 0 });
    const b3 = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'g3' && !!p.spec.nodeName, 15_000);
    assert.equal(b3.spec.nodeName, b1.spec.nodeName);
  } finally {
    await env.close();
  }
});

test('higher-priority pods are scheduled first, and pods for another scheduler are left alone', async () => {
  const env = await setup();
  try {
    await env.client.create(R.nodes, '', node('only', { cpu: '1', memory: '4Gi' }));
    env.scheduler.stop(); // hold scheduling while both pods queue up
    const informers = new InformerFactory(env.client);
    const second = new Scheduler({
      client: env.client,
      informers,
      events: new EventRecorder(env.client, 'default-scheduler'),
    });
    // Priority admission resolves spec.priority from the class name.
    for (const [name, value] of [['low', 1], ['high', 1000]] as const) {
      await env.client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value });
    }
    await env.client.create(R.pods, 'default', pod('low', { cpu: '1' }, { priorityClassName: 'low' }));
    await env.client.create(R.pods, 'default', pod('high', { cpu: '1' }, { priorityClassName: 'high' }));
    await env.client.create(R.pods, 'default', pod('other', {}, { schedulerName: 'my-scheduler' }));
    await second.start();
    const high = await until(env.client, R.pods, 'default', (p: any) => p.metadata.name === 'high' && !!p.spec.nodeName);
    assert.equal(high.spec.nodeName, 'only');
    const ev = await until(env.client, R.events, 'default', (e: any) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'low');
    assert.match(ev.message, /1 Insufficient cpu/);
    const other = await env.client.get(R.pods, 'default', 'other');
    assert.equal(other.spec.nodeName, undefined);
    assert.equal((other.status?.conditions ?? []).length, 0, 'no condition written on pods of another scheduler');
    second.stop();
    await second.bindingsSettled();
    informers.stop();
  } finally {
    await env.close();
  }
});
