import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/memory.js';
import type { WatchEvent } from '../../storage/backend.js';
import { CacheSet, ResourceCache, TooOldError, type CacheEvent } from './cache.js';

const PREFIX = '/registry/core/configmaps/';

function cm(ns: string, name: string, data: Record<string, string> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns, name }, data });
}

/** A backend event as the storage layer reports it. */
function put(key: string, value: string, rev: number, created = rev): WatchEvent {
  return { type: created === rev ? 'create' : 'update', kv: { key, value, createRevision: created, modRevision: rev } } as WatchEvent;
}
function del(key: string, prevValue: string, rev: number): WatchEvent {
  return {
    type: 'delete',
    kv: { key, value: '', createRevision: 1, modRevision: rev },
    prev: { key, value: prevValue, createRevision: 1, modRevision: rev - 1 },
  } as WatchEvent;
}

test('ResourceCache turns backend events into ADDED/MODIFIED/DELETED with the previous object and resourceVersion', () => {
  const c = new ResourceCache(PREFIX, 0);
  const k = `${PREFIX}ns/a`;
  const added = c.apply(put(k, cm('ns', 'a', { v: '1' }), 1));
  assert.equal(added.type, 'ADDED');
  assert.equal(added.obj.metadata.resourceVersion, '1');
  assert.equal(added.prev, undefined);
  const modified = c.apply(put(k, cm('ns', 'a', { v: '2' }), 2, 1));
  assert.equal(modified.type, 'MODIFIED');
  assert.equal(modified.obj.data.v, '2');
  assert.equal(modified.prev.data.v, '1');
  assert.equal(modified.obj.metadata.resourceVersion, '2');
  const deleted = c.apply(del(k, cm('ns', 'a', { v: '2' }), 3));
  assert.equal(deleted.type, 'DELETED');
  // a DELETED event carries the last state of the object at the delete's revision
  assert.equal(deleted.obj.data.v, '2');
  assert.equal(deleted.obj.metadata.resourceVersion, '3');
  assert.equal(c.items.size, 0);
});

test('ResourceCache lists by prefix in key order, including after later inserts', () => {
  const c = new ResourceCache(PREFIX, 0);
  let rev = 0;
  for (const [ns, n] of [['b', 'x'], ['a', 'z'], ['a', 'y'], ['ab', 'q']]) c.apply(put(`${PREFIX}${ns}/${n}`, cm(ns, n), ++rev));
  assert.deepEqual(c.list(PREFIX).map((o) => o.key.slice(PREFIX.length)), ['a/y', 'a/z', 'ab/q', 'b/x']);
  // namespace "a" must not include namespace "ab"
  assert.deepEqual(c.list(`${PREFIX}a/`).map((o) => o.obj.metadata.name), ['y', 'z']);
  c.apply(put(`${PREFIX}a/a`, cm('a', 'a'), ++rev));
  assert.deepEqual(c.list(`${PREFIX}a/`).map((o) => o.obj.metadata.name), ['a', 'y', 'z']);
  c.apply(del(`${PREFIX}a/y`, cm('a', 'y'), ++rev));
  assert.deepEqual(c.list(`${PREFIX}a/`).map((o) => o.obj.metadata.name), ['a', 'z']);
});

test('eventsSince returns events strictly after the revision, filtered by prefix', () => {
  const c = new ResourceCache(PREFIX, 0);
  c.apply(put(`${PREFIX}a/1`, cm('a', '1'), 1));
  c.apply(put(`${PREFIX}b/1`, cm('b', '1'), 2));
  c.apply(put(`${PREFIX}a/2`, cm('a', '2'), 3));
  assert.deepEqual(c.eventsSince(1, PREFIX).map((e) => e.rev), [2, 3]);
  assert.deepEqual(c.eventsSince(0, `${PREFIX}a/`).map((e) => e.rev), [1, 3]);
  assert.deepEqual(c.eventsSince(3, PREFIX), []);
});

test('once the window has moved past a revision, resuming from it is TooOld', () => {
  const c = new ResourceCache(PREFIX, 0, 3);
  for (let rev = 1; rev <= 5; rev++) c.apply(put(`${PREFIX}ns/o${rev}`, cm('ns', `o${rev}`), rev));
  // events 3,4,5 are kept: a watch from 2 still sees every later event
  assert.deepEqual(c.eventsSince(2, PREFIX).map((e) => e.rev), [3, 4, 5]);
  assert.throws(() => c.eventsSince(1, PREFIX), (e: unknown) => e instanceof TooOldError && e.requested === 1 && e.oldest === 2);
  // the latest objects are all still there
  assert.equal(c.items.size, 5);
});

test('a cache started at a revision cannot replay history from before it', () => {
  const c = new ResourceCache(PREFIX, 10);
  assert.throws(() => c.eventsSince(5, PREFIX), TooOldError);
  assert.deepEqual(c.eventsSince(10, PREFIX), []);
});

test('listeners get only events under their prefix, in order', () => {
  const c = new ResourceCache(PREFIX, 0);
  const seen: CacheEvent[] = [];
  c.listeners.add({ prefix: `${PREFIX}a/`, onEvent: (e) => seen.push(e) });
  c.apply(put(`${PREFIX}a/1`, cm('a', '1'), 1));
  c.apply(put(`${PREFIX}b/1`, cm('b', '1'), 2));
  c.apply(put(`${PREFIX}a/1`, cm('a', '1', { x: 'y' }), 3, 1));
  assert.deepEqual(seen.map((e) => [e.type, e.rev]), [
    ['ADDED', 1],
    ['MODIFIED', 3],
  ]);
});

test('CacheSet loads what is stored, then follows writes; fresh() waits for acknowledged writes', async () => {
  const backend = new MemoryBackend();
  await backend.start();
  await backend.create(`${PREFIX}ns/before`, cm('ns', 'before'));
  await backend.create('/registry/apps/deployments/ns/d', JSON.stringify({ metadata: { name: 'd', namespace: 'ns' } }));
  const caches = new CacheSet(backend);
  await caches.start();
  try {
    const cms = caches.cache(PREFIX);
    assert.deepEqual([...cms.items.keys()], [`${PREFIX}ns/before`]);
    assert.equal(cms.items.get(`${PREFIX}ns/before`)!.obj.metadata.resourceVersion, '1');
    assert.equal(caches.cache('/registry/apps/deployments/').items.size, 1);

    const kv = await backend.create(`${PREFIX}ns/after`, cm('ns', 'after'));
    await caches.fresh();
    assert.ok(caches.rev >= kv.modRevision);
    assert.equal(cms.items.get(`${PREFIX}ns/after`)!.rev, kv.modRevision);

    const upd = await backend.update(`${PREFIX}ns/after`, cm('ns', 'after', { k: 'v' }), kv.modRevision);
    await caches.waitFor(upd.modRevision);
    assert.equal(cms.items.get(`${PREFIX}ns/after`)!.obj.data.k, 'v');
  } finally {
    caches.stop();
    await backend.close();
  }
});

test('CacheSet window: a watch resume point older than the window is TooOld', async () => {
  const backend = new MemoryBackend();
  await backend.start();
  const caches = new CacheSet(backend, 2);
  await caches.start();
  try {
    const revs: number[] = [];
    for (let i = 0; i < 4; i++) revs.push((await backend.create(`${PREFIX}ns/o${i}`, cm('ns', `o${i}`))).modRevision);
    await caches.fresh();
    const c = caches.cache(PREFIX);
    assert.deepEqual(c.eventsSince(revs[1], PREFIX).map((e) => e.rev), [revs[2], revs[3]]);
    assert.throws(() => c.eventsSince(revs[0], PREFIX), TooOldError);
  } finally {
    caches.stop();
    await backend.close();
  }
});

test('stop() releases anyone waiting for a revision that will never come', async () => {
  const backend = new MemoryBackend();
  await backend.start();
  const caches = new CacheSet(backend);
  await caches.start();
  const waiting = caches.waitFor(1000);
  caches.stop();
  await waiting;
  await backend.close();
});
