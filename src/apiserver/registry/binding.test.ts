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
