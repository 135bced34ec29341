import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulingQueue } from './queue.js';

function pod(name: string, priority?: number, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'v1' as const, kind: 'Pod' as const, metadata: { name, namespace: 'd', ...extra }, spec: { containers: [], priority } };
}

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('pods pop by priority, then first in first out', async () => {
  const q = new SchedulingQueue();
  try {
    q.add(pod('a', 0));
    q.add(pod('b', 100));
    q.add(pod('c', 0));
    q.add(pod('d', 100));
    const order = [];
    for (let i = 0; i < 4; i++) order.push((await q.pop())!.podInfo.key);
    assert.deepEqual(order, ['d/b', 'd/d', 'd/a', 'd/c']);
  } finally {
    q.close();
  }
});

test('pop waits for a pod, and resolves undefined once closed', async () => {
  const q = new SchedulingQueue();
  const waiting = q.pop();
  q.add(pod('late'));
  assert.equal((await waiting)!.podInfo.key, 'd/late');
  const pending = q.pop();
  q.close();
  assert.equal(await pending, undefined);
});

test('backoff doubles from 1 s to at most 10 s per attempt (upstream defaults)', () => {
  const q = new SchedulingQueue();
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => q.backoffDuration(n)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  q.close();
});

test('an unschedulable pod waits for a cluster change, then honours its backoff', async () => {
  const clock = manualClock();
  const q = new SchedulingQueue({ clock });
  try {
    q.add(pod('p'));
    const qp = (await q.pop())!;
    q.requeue(qp, true);
    assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 1, inFlight: 0 });
    // A change right away: still backing off (1 s after the first failure), so it waits in backoff.
    q.moveAllToActiveOrBackoff();
    assert.equal(q.stats().backoff, 1);
    clock.advance(1001);
    q.flushBackoffCompleted();
    assert.equal(q.stats().active, 1);
    assert.equal((await q.pop())!.attempts, 2);
  } finally {
    q.close();
  }
});

test('activation without backoff takes waiting pods straight to the active heap, also one still in flight', async () => {
  const clock = manualClock();
  const q = new SchedulingQueue({ clock });
  try {
    q.add(pod('first'));
    q.add(pod('second'));
    const first = (await q.pop())!;
    const second = (await q.pop())!;
    q.requeue(first, true);
    // With backoff honoured, the waiting pod would sit out its second in backoff.
    q.activate(['d/first']);
    assert.deepEqual(q.stats(), { active: 0, backoff: 1, unschedulable: 0, inFlight: 1 });
    // Without: active at once, from backoff; the pod in flight follows when its attempt ends.
    q.activate(['d/first', 'd/second'], true);
    assert.deepEqual(q.stats(), { active: 1, backoff: 0, unschedulable: 0, inFlight: 1 });
    q.requeue(second, true);
    assert.deepEqual(q.stats(), { active: 2, backoff: 0, unschedulable: 0, inFlight: 0 });
    assert.deepEqual([(await q.pop())!.podInfo.key, (await q.pop())!.podInfo.key].sort(), ['d/first', 'd/second']);
    // The backoff heap's stale entry for the first pod is not served again.
    clock.advance(10_000);
    q.flushBackoffCompleted();
    assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 0, inFlight: 2 });
  } finally {
    q.close();
  }
});

test('a status-only update leaves an unschedulable pod waiting; a spec change retries it', async () => {
  const clock = manualClock();
  const q = new SchedulingQueue({ clock });
  try {
    q.add(pod('p'));
    q.requeue((await q.pop())!, true);
    clock.advance(5000);
    q.update(pod('p'), false);
    assert.equal(q.stats().unschedulable, 1);
    q.update(pod('p', 0, { labels: { fixed: 'yes' } }), true);
    assert.equal(q.stats().active, 1);
    assert.deepEqual((await q.pop())!.podInfo.pod.metadata?.labels, { fixed: 'yes' });
  } finally {
    q.close();
  }
});

test('unschedulable pods are retried after maxUnschedulableMs without any event; errors go straight to backoff', async () => {
  const clock = manualClock();
  const q = new SchedulingQueue({ clock, maxUnschedulableMs: 60_000 });
  try {
    q.add(pod('stuck'));
    q.add(pod('broken'));
    q.requeue((await q.pop())!, true);
    q.requeue((await q.pop())!, false);
    assert.deepEqual(q.stats(), { active: 0, backoff: 1, unschedulable: 1, inFlight: 0 });
    clock.advance(30_000);
    q.flushUnschedulableLeftover();
    assert.equal(q.stats().unschedulable, 1, 'not yet');
    clock.advance(31_000);
    q.flushUnschedulableLeftover();
    q.flushBackoffCompleted();
    assert.deepEqual(q.stats(), { active: 2, backoff: 0, unschedulable: 0, inFlight: 0 });
  } finally {
    q.close();
  }
});

test('a pod deleted while in flight is not requeued', async () => {
  const q = new SchedulingQueue();
  try {
    q.add(pod('gone'));
    const qp = (await q.pop())!;
    q.delete(pod('gone'));
    q.requeue(qp, true);
    assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 0, inFlight: 0 });
  } finally {
    q.close();
  }
});
