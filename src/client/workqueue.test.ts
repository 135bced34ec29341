/** The controller work queue: de-duplication, one worker per key, re-runs, retries with backoff, idle and stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.js';

/** A promise with its resolve function, to hold a reconcile until a test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/**
 * Awaits `p`, failing after `ms`. The queue's retry timers are unref'd (they
 * must not hold a process open), so a test waiting on a retry needs this
 * referenced timer to keep the event loop alive.
 */
async function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer!: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

test('a key added while it waits is queued once', async () => {
  const runs: string[] = [];
  const hold = gate();
  const q = new WorkQueue(
    async (key) => {
      runs.push(key);
      if (key === 'first') await hold.promise;
    },
    { workers: 1 },
  );
  q.add('first');
  q.add('b');
  q.add('b');
  q.add('c');
  q.add('b');
  assert.equal(q.length, 2, 'b and c wait behind first');
  hold.open();
  await q.idle();
  assert.deepEqual(runs, ['first', 'b', 'c']);
});

test('a key added while it is being processed runs again afterwards, never on two workers at once', async () => {
  let running = 0;
  let maxSameKey = 0;
  const runs: string[] = [];
  const holds = [gate(), gate()];
  let n = 0;
  const otherStarted = gate();
  const q = new WorkQueue(
    async (key) => {
      runs.push(key);
      if (key === 'other') {
        otherStarted.open();
        return;
      }
      running++;
      maxSameKey = Math.max(maxSameKey, running);
      await (holds[n++]?.promise ?? Promise.resolve());
      running--;
    },
    { workers: 4 },
  );
  q.add('a');
  q.add('a'); // while a runs: marked to run again, not started on a second worker
  q.add('a');
  q.add('other');
  await otherStarted.promise; // other workers are free and do run other keys
  assert.deepEqual(runs, ['a', 'other']);
  holds[0].open();
  holds[1].open();
  await q.idle();
  assert.deepEqual(runs, ['a', 'other', 'a']);
  assert.equal(maxSameKey, 1);
});

test('a failing key is retried with growing backoff until it succeeds, and errors are reported', async () => {
  const attempts: number[] = [];
  const errors: string[] = [];
  const done = gate();
  const q = new WorkQueue(
    async (key) => {
      attempts.push(Date.now());
      if (attempts.length < 4) throw new Error(`boom ${attempts.length}`);
      assert.equal(key, 'k');
      done.open();
    },
    { workers: 1, backoff: { baseMs: 20, maxMs: 40 }, onError: (key, err) => errors.push(`${key}: ${(err as Error).message}`) },
  );
  q.add('k');
  await within(done.promise, 'the fourth attempt');
  assert.deepEqual(errors, ['k: boom 1', 'k: boom 2', 'k: boom 3']);
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
  // 20, 40, then capped at 40 (timers may fire a millisecond early).
  assert.ok(gaps[0] >= 19, `first retry after ~20 ms, got ${gaps[0]}`);
  assert.ok(gaps[1] >= 39, `second retry after ~40 ms, got ${gaps[1]}`);
  assert.ok(gaps[2] >= 39 && gaps[2] < 1000, `third retry capped at ~40 ms, got ${gaps[2]}`);
  q.stop();
});

test('a success forgets earlier failures: the next failure starts from the base delay', async () => {
  const times: number[] = [];
  const waiters = new Map<number, () => void>();
  const reached = (n: number) => new Promise<void>((r) => (times.length >= n ? r() : waiters.set(n, r)));
  const q = new WorkQueue(
    async () => {
      times.push(Date.now());
      waiters.get(times.length)?.();
      // Calls 1 and 3 fail; 2 and 4 succeed.
      if (times.length === 1 || times.length === 3) throw new Error('once');
    },
    { workers: 1, backoff: { baseMs: 100, maxMs: 10_000 } },
  );
  q.add('k');
  await within(reached(2), 'the retry');
  await q.idle();
  q.add('k');
  await within(reached(4), 'the second retry');
  const gap = times[3] - times[2];
  // A remembered failure would double the delay to 200 ms.
  assert.ok(gap >= 99 && gap < 190, `retried after the base 100 ms, got ${gap} ms`);
  q.stop();
});

test('idle() resolves at once when empty, and after everything queued has run', async () => {
  const q = new WorkQueue(async () => {}, { workers: 2 });
  await q.idle();
  const seen: string[] = [];
  const slow = new WorkQueue(
    async (k) => {
      await new Promise((r) => setImmediate(r));
      seen.push(k);
    },
    { workers: 2 },
  );
  for (const k of ['a', 'b', 'c', 'd', 'e']) slow.add(k);
  await slow.idle();
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c', 'd', 'e']);
});

test('stop() drops waiting keys and pending retries, and ignores later adds', async () => {
  const runs: string[] = [];
  const hold = gate();
  const q = new WorkQueue(
    async (k) => {
      runs.push(k);
      if (k === 'first') await hold.promise;
    },
    { workers: 1 },
  );
  q.add('first');
  q.add('waiting');
  q.addAfter('later', 1);
  q.stop();
  q.add('after-stop');
  hold.open();
  await q.idle();
  // Give a dropped timer the chance to fire if it were still armed (nothing to await: it must not happen).
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(runs, ['first']);
  assert.equal(q.length, 0);
});

test('addAfter queues a key once its delay has passed', async () => {
  const done = gate();
  const at: number[] = [];
  const q = new WorkQueue(async () => {
    at.push(Date.now());
    done.open();
  });
  const start = Date.now();
  q.addAfter('k', 30);
  await within(done.promise, 'the delayed key');
  assert.ok(at[0] - start >= 29, `ran after ~30 ms, got ${at[0] - start}`);
  q.stop();
});
