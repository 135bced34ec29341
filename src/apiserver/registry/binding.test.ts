import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { MemoryBackend } from '../../storage/memory.js';
import { systemContext } from '../bootstrap.js';
import { Registry } from './registry.js';
import { bindPod } from './binding.js';

async function setup() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  await registry.lookup('', 'v1', 'namespaces')!.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  const pods = registry.lookup('', 'v1', 'pods')!;
  await pods.create(systemContext('ns'), {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });
  return { pods, close: async () => (registry.stop(), await backend.close()) };
}

const binding = (target: Record<string, string>, name = 'p') => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name }, target });

test('binding assigns the pod to the node and marks it PodScheduled', async (t) => {
  const env = await setup();
  t.after(env.close);
  await bindPod(env.pods, systemContext('ns'), binding({ kind: 'Node', name: 'node-1' }));
  const pod = await env.pods.get('ns', 'p');
  assert.equal(pod.spec.nodeName, 'node-1');
  assert.deepEqual(
    pod.status.conditions.map((c: any) => [c.type, c.status]),
    [['PodScheduled', 'True']],
  );
  assert.equal(pod.status.phase, 'Pending');
});

test('a pod already bound cannot be bound again (409 with upstream text)', async (t) => {
  const env = await setup();
  t.after(env.close);
  await bindPod(env.pods, systemContext('ns'), binding({ name: 'node-1' }));
  await assert.rejects(bindPod(env.pods, systemContext('ns'), binding({ name: 'node-2' })), (e: ApiError) => {
    assert.equal(e.code, 409);
    assert.equal(e.message, 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "node-1"');
    return true;
  });
  assert.equal((await env.pods.get('ns', 'p')).spec.nodeName, 'node-1');
});

test('a binding must target a Node by name', async (t) => {
  const env = await setup();
  t.after(env.close);
  await assert.rejects(bindPod(env.pods, systemContext('ns'), binding({ kind: 'Pod', name: 'x' })), (e: ApiError) => {
    assert.equal(e.code, 422);
    assert.match(e.message, /target\.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"/);
    return true;
  });
  await assert.rejects(bindPod(env.pods, systemContext('ns'), binding({})), /target\.name: Required value/);
  await assert.rejects(bindPod(env.pods, systemContext('ns'), binding({ name: 'n' }, 'missing')), /pods "missing" not found/);
  assert.equal((await env.pods.get('ns', 'p')).spec.nodeName, undefined);
});

test('a binding writes past the field manager and replaces a PodScheduled=False condition where it stands', async (t) => {
  const env = await setup();
  t.after(env.close);
  const ctx = systemContext('ns');
  const before = await env.pods.get('ns', 'p');
  // As the scheduler reports an unschedulable attempt, before a later one binds the pod.
  before.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available', lastProbeTime: null, lastTransitionTime: '2026-01-01T00:00:00Z' }, { type: 'Custom', status: 'True' }] };
  await env.pods.update({ ...ctx, fieldManager: 'default-scheduler' }, 'p', before, 'status');
  const managed = (await env.pods.get('ns', 'p')).metadata.managedFields;

  await bindPod(env.pods, { ...ctx, fieldManager: 'default-scheduler' }, { ...binding({ name: 'node-1' }), metadata: { name: 'p', annotations: { 'example.com/placed': 'yes' } } });
  const pod = await env.pods.get('ns', 'p');
  assert.equal(pod.spec.nodeName, 'node-1');
  assert.equal(pod.metadata.annotations['example.com/placed'], 'yes');
  assert.deepEqual(pod.status.conditions.map((c: any) => [c.type, c.status, c.reason]), [['PodScheduled', 'True', undefined], ['Custom', 'True', undefined]]);
  assert.notEqual(pod.status.conditions[0].lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.deepEqual(pod.metadata.managedFields, managed, 'a binding attributes no fields');
  assert.notEqual(pod.metadata.resourceVersion, before.metadata.resourceVersion);
});

test('a binding for another pod of the same name, or a gated pod, is refused and changes nothing', async (t) => {
  const env = await setup();
  t.after(env.close);
  const ctx = systemContext('ns');
  const uid = (await env.pods.get('ns', 'p')).metadata.uid;
  await assert.rejects(bindPod(env.pods, ctx, { ...binding({ name: 'node-1' }), metadata: { name: 'p', uid: 'not-this-one' } }), (e: ApiError) => {
    assert.equal(e.code, 409);
    assert.equal(e.message, `Operation cannot be fulfilled on pods "p": Precondition failed: UID in precondition: not-this-one, UID in object meta: ${uid}`);
    return true;
  });
  await env.pods.create(ctx, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gated' }, spec: { schedulingGates: [{ name: 'example.com/wait' }], containers: [{ name: 'c', image: 'busybox' }] } });
  await assert.rejects(bindPod(env.pods, ctx, binding({ name: 'node-1' }, 'gated')), (e: ApiError) => {
    assert.equal(e.code, 409);
    assert.equal(e.message, 'Operation cannot be fulfilled on pods/binding "gated": pod gated has non-empty .spec.schedulingGates');
    return true;
  });
  assert.equal((await env.pods.get('ns', 'p')).spec.nodeName, undefined);
  assert.equal((await env.pods.get('ns', 'gated')).spec.nodeName, undefined);
  // With the right uid it binds.
  await bindPod(env.pods, ctx, { ...binding({ name: 'node-1' }), metadata: { name: 'p', uid } });
  assert.equal((await env.pods.get('ns', 'p')).spec.nodeName, 'node-1');
});
