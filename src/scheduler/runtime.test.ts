import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUCCESS, unresolvable, unschedulable, wait, type FrameworkHandle, type Plugin, type PluginRegistry, type Status } from './framework.js';
import { newPodInfo } from './nodeinfo.js';
import { Framework } from './runtime.js';
import type { QueuedPodInfo } from './queue.js';

const handle = { client: {} as any, nodeInfos: () => [] } satisfies FrameworkHandle;

/** A framework of the given plugins, in order. */
function framework(...plugins: Plugin[]): Framework {
  const registry: PluginRegistry = new Map(plugins.map((p) => [p.name, () => p]));
  return new Framework(registry, { schedulerName: 'test', plugins: plugins.map((p) => ({ name: p.name })) }, handle);
}

function pod(name: string) {
  return newPodInfo({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { containers: [] } } as any);
}

/** A Permit plugin that answers `answer` and records the Unreserve calls. */
function permitter(name: string, answer: Status): Plugin & { unreserved: string[] } {
  const unreserved: string[] = [];
  return { name, unreserved, permit: () => answer, unreserve: (_s, p) => void unreserved.push(p.pod.metadata!.name!) };
}

test('Permit: a pod held by a plugin is bound only once every plugin that holds it allows it', async () => {
  const a = permitter('A', wait(60_000));
  const b = permitter('B', wait(60_000));
  const fw = framework(a, b);
  const p = pod('p');
  const s = fw.runPermit(new Map(), p, 'n1');
  assert.equal(s.code, 'Wait');
  const held: string[] = [];
  fw.iterateOverWaitingPods((wp) => held.push(`${wp.pod.key}@${wp.nodeName}`));
  assert.deepEqual(held, ['default/p@n1']);
  let outcome: Status | undefined;
  const done = fw.waitOnPermit(p).then((r) => (outcome = r));
  fw.iterateOverWaitingPods((wp) => wp.allow('A'));
  await new Promise((r) => setImmediate(r));
  assert.equal(outcome, undefined, 'B still holds the pod');
  fw.iterateOverWaitingPods((wp) => wp.allow('B'));
  await done;
  assert.deepEqual(outcome, SUCCESS);
  held.length = 0;
  fw.iterateOverWaitingPods((wp) => held.push(wp.pod.key));
  assert.deepEqual(held, [], 'a released pod is no longer held');
});

test('Permit: a rejection while held releases the pod at once and is the outcome', async () => {
  const fw = framework(permitter('Gang', wait(60_000)));
  const p = pod('p');
  let released = 0;
  fw.runPermit(new Map(), p, 'n1', () => released++);
  fw.iterateOverWaitingPods((wp) => wp.reject('Gang', 'optimistic rejection in PostFilter'));
  assert.equal(released, 1, 'the room is given back synchronously');
  fw.iterateOverWaitingPods((wp) => wp.reject('Gang', 'again'));
  assert.equal(released, 1, 'a second rejection does nothing');
  assert.deepEqual(await fw.waitOnPermit(p), { code: 'Unschedulable', reasons: ['optimistic rejection in PostFilter'], plugin: 'Gang' });
});

test('Permit: a held pod times out with upstream\'s message, and the first rejection in the profile wins over waits', async () => {
  const fw = framework(permitter('Gang', wait(50)));
  const p = pod('p');
  fw.runPermit(new Map(), p, 'n1');
  // The permit timer does not keep a process alive on its own (the scheduler's informers do): keep this one alive meanwhile.
  const alive = setInterval(() => {}, 1000);
  const timedOut = await fw.waitOnPermit(p).finally(() => clearInterval(alive));
  assert.deepEqual(timedOut, { code: 'Unschedulable', reasons: ['rejected due to timeout after waiting 50ms at plugin Gang'], plugin: 'Gang' });
  const fw2 = framework(permitter('Gang', wait(60_000)), permitter('Quota', unschedulable('over quota')));
  const q = pod('q');
  assert.deepEqual(fw2.runPermit(new Map(), q, 'n1'), { code: 'Unschedulable', reasons: ['over quota'], plugin: 'Quota' });
  const held: string[] = [];
  fw2.iterateOverWaitingPods((wp) => held.push(wp.pod.key));
  assert.deepEqual(held, [], 'a rejected pod is not held');
  assert.deepEqual(await fw2.waitOnPermit(q), SUCCESS, 'a pod that is not held does not wait');
});

test('a deleted held pod is rejected as "removed"; stop() rejects all held pods', async () => {
  const fw = framework(permitter('Gang', wait(60_000)));
  const p = pod('p');
  const q = pod('q');
  fw.runPermit(new Map(), p, 'n1');
  fw.runPermit(new Map(), q, 'n1');
  assert.equal(fw.rejectWaitingPod('uid-p'), true);
  assert.equal(fw.rejectWaitingPod('uid-nope'), false);
  assert.deepEqual(await fw.waitOnPermit(p), { code: 'Unschedulable', reasons: ['removed'], plugin: '' });
  fw.stop();
  assert.equal((await fw.waitOnPermit(q)).code, 'Unschedulable');
});

test('Unreserve runs for every plugin that has it, in reverse order', () => {
  const order: string[] = [];
  const mk = (name: string): Plugin => ({ name, unreserve: () => void order.push(name) });
  framework(mk('first'), mk('second'), mk('third')).runUnreserve(new Map(), pod('p'), 'n1');
  assert.deepEqual(order, ['third', 'second', 'first']);
});

test('PostFilter gathers every rejecting plugin\'s reasons; an unresolvable answer ends the run (upstream RunPostFilterPlugins)', () => {
  const post = (name: string, s: Status): Plugin => ({ name, postFilter: () => s });
  const d = { nodeToStatus: new Map(), unschedulablePlugins: new Set<string>() };
  assert.deepEqual(framework(post('P1', unschedulable('one')), post('P2', unschedulable('two'))).runPostFilter(new Map(), pod('p'), d), {
    code: 'Unschedulable',
    reasons: ['one', 'two'],
    plugin: 'P1',
  });
  assert.deepEqual(framework(post('P1', unresolvable('stop')), post('P2', unschedulable('two'))).runPostFilter(new Map(), pod('p'), d), {
    code: 'UnschedulableAndUnresolvable',
    reasons: ['stop'],
    plugin: 'P1',
  });
  assert.deepEqual(framework(post('P1', unschedulable('one')), post('P2', SUCCESS)).runPostFilter(new Map(), pod('p'), d), SUCCESS);
});

test('the profile\'s first QueueSort plugin orders the queue; without one the queue keeps PrioritySort', () => {
  assert.equal(framework(permitter('A', SUCCESS)).queueSort(), undefined);
  const byName: Plugin = { name: 'ByName', less: (x: QueuedPodInfo, y: QueuedPodInfo) => x.podInfo.key < y.podInfo.key };
  const less = framework(byName).queueSort()!;
  const qp = (name: string) => ({ podInfo: pod(name) }) as QueuedPodInfo;
  assert.equal(less(qp('a'), qp('b')), true);
  assert.equal(less(qp('b'), qp('a')), false);
});
