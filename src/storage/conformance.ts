/**
 * The one conformance suite for the storage contract in backend.ts. Every
 * backend's test file calls `runBackendConformance`, so memory, SQLite and
 * etcd are held to the same behaviour (in the spirit of upstream
 * apiserver/pkg/storage/testing store tests).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  type Backend,
  type KeyValue,
  type WatchEvent,
  type Watcher,
} from './backend.js';

/** What a backend factory hands the suite: a fresh, empty backend and how to remove its traces. */
export interface BackendUnderTest {
  backend: Backend;
  /** Called after `backend.close()`; removes files etc. */
  cleanup(): Promise<void>;
}

/**
 * Registers the conformance tests for one backend. `makeBackend` must return a
 * fresh empty backend each call; the suite calls `start()` and `close()` itself.
 */
export function runBackendConformance(name: string, makeBackend: () => Promise<BackendUnderTest>): void {
  /** Runs `fn` against a started fresh backend and always closes and cleans it up. */
  async function withBackend(fn: (b: Backend) => Promise<void>): Promise<void> {
    const { backend, cleanup } = await makeBackend();
    try {
      await backend.start();
      await fn(backend);
    } finally {
      await backend.close();
      await cleanup();
    }
  }
  const it = (title: string, fn: (b: Backend) => Promise<void>) =>
    test(title, { timeout: 30_000 }, () => withBackend(fn));

  describe(`${name} backend conformance`, () => {
    describe('writes and reads', () => {
      it('an empty store is at revision 0 and has no keys', async (b) => {
        assert.equal(b.currentRevision(), 0);
        assert.equal(b.compactedRevision(), 0);
        assert.equal(await b.get('/registry/pods/default/a'), null);
        assert.deepEqual(await b.list('/'), { items: [], revision: 0, more: false });
        assert.equal(await b.count(''), 0);
      });

      it('create returns the stored key with createRevision = modRevision = the new revision', async (b) => {
        const kv = await b.create('/registry/pods/default/a', 'v1');
        assert.deepEqual(kv, { key: '/registry/pods/default/a', value: 'v1', createRevision: 1, modRevision: 1 });
        assert.equal(b.currentRevision(), 1);
        assert.deepEqual(await b.get('/registry/pods/default/a'), kv);
      });

      it('update changes value and modRevision but keeps createRevision', async (b) => {
        await b.create('/other', 'x');
        const created = await b.create('/k', 'v1');
        const updated = await b.update('/k', 'v2', created.modRevision);
        assert.deepEqual(updated, { key: '/k', value: 'v2', createRevision: 2, modRevision: 3 });
        assert.deepEqual(await b.get('/k'), updated);
        const again = await b.update('/k', 'v3', updated.modRevision);
        assert.equal(again.createRevision, 2);
        assert.equal(again.modRevision, 4);
      });

      it('delete returns the last value with the delete revision and removes the key', async (b) => {
        const created = await b.create('/k', 'v1');
        const updated = await b.update('/k', 'v2', created.modRevision);
        const deleted = await b.delete('/k');
        assert.deepEqual(deleted, { key: '/k', value: 'v2', createRevision: 1, modRevision: 3 });
        assert.equal(b.currentRevision(), 3);
        assert.equal(await b.get('/k'), null);
        assert.equal(await b.count('/'), 0);
        assert.ok(updated.modRevision < deleted.modRevision);
      });

      it('a re-created key gets a new createRevision', async (b) => {
        await b.create('/k', 'v1');
        await b.delete('/k');
        const again = await b.create('/k', 'v2');
        assert.deepEqual(again, { key: '/k', value: 'v2', createRevision: 3, modRevision: 3 });
      });

      it('delete with the expected revision succeeds only at that revision', async (b) => {
        const kv = await b.create('/k', 'v1');
        const v2 = await b.update('/k', 'v2', kv.modRevision);
        await assert.rejects(b.delete('/k', kv.modRevision), (err: unknown) => {
          assert.ok(err instanceof RevisionMismatchError);
          assert.equal(err.key, '/k');
          assert.equal(err.expected, kv.modRevision);
          assert.equal(err.actual, v2.modRevision);
          return true;
        });
        assert.deepEqual(await b.get('/k'), v2);
        const deleted = await b.delete('/k', v2.modRevision);
        assert.equal(deleted.value, 'v2');
      });

      it('create of an existing key fails with KeyExistsError and writes nothing', async (b) => {
        const kv = await b.create('/k', 'v1');
        await assert.rejects(b.create('/k', 'v2'), (err: unknown) => err instanceof KeyExistsError && err.key === '/k');
        assert.equal(b.currentRevision(), 1);
        assert.deepEqual(await b.get('/k'), kv);
      });

      it('update and delete of a missing key fail with KeyNotFoundError', async (b) => {
        await b.create('/a', 'x');
        await assert.rejects(b.update('/missing', 'v', 1), (err: unknown) => err instanceof KeyNotFoundError && err.key === '/missing');
        await assert.rejects(b.delete('/missing'), (err: unknown) => err instanceof KeyNotFoundError);
        await assert.rejects(b.delete('/missing', 1), (err: unknown) => err instanceof KeyNotFoundError);
        await b.delete('/a');
        await assert.rejects(b.delete('/a'), (err: unknown) => err instanceof KeyNotFoundError);
        assert.equal(b.currentRevision(), 2);
      });

      it('update with a stale revision fails with RevisionMismatchError carrying both revisions', async (b) => {
        const kv = await b.create('/k', 'v1');
        const v2 = await b.update('/k', 'v2', kv.modRevision);
        await assert.rejects(b.update('/k', 'v3', kv.modRevision), (err: unknown) => {
          assert.ok(err instanceof RevisionMismatchError);
          assert.deepEqual([err.key, err.expected, err.actual], ['/k', 1, 2]);
          return true;
        });
        assert.deepEqual(await b.get('/k'), v2);
        assert.equal(b.currentRevision(), 2);
      });

      it('every successful write advances the revision by exactly one; failed writes do not', async (b) => {
        const seen: number[] = [];
        for (let i = 0; i < 5; i++) seen.push((await b.create(`/k${i}`, 'v')).modRevision);
        await assert.rejects(b.create('/k0', 'v'));
        seen.push((await b.update('/k1', 'w', 2)).modRevision);
        await assert.rejects(b.update('/k1', 'w', 2));
        seen.push((await b.delete('/k2')).modRevision);
        assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
        assert.equal(b.currentRevision(), 7);
      });

      it('of two concurrent updates with the same expected revision exactly one succeeds', async (b) => {
        const kv = await b.create('/k', 'v0');
        const results = await Promise.allSettled([b.update('/k', 'a', kv.modRevision), b.update('/k', 'b', kv.modRevision)]);
        const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<KeyValue>[];
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        assert.equal(ok.length, 1);
        assert.equal(failed.length, 1);
        assert.ok(failed[0]!.reason instanceof RevisionMismatchError);
        assert.deepEqual(await b.get('/k'), ok[0]!.value);
        assert.equal(b.currentRevision(), 2);
      });

      it('of concurrent creates of one key exactly one succeeds', async (b) => {
        const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => b.create('/k', `v${i}`)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof KeyExistsError);
        assert.equal(b.currentRevision(), 1);
      });

      it('concurrent writers to distinct keys each get a distinct revision', async (b) => {
        const kvs = await Promise.all(Array.from({ length: 64 }, (_, i) => b.create(`/c/${String(i).padStart(2, '0')}`, `v${i}`)));
        const revs = kvs.map((kv) => kv.modRevision).sort((x, y) => x - y);
        assert.deepEqual(revs, Array.from({ length: 64 }, (_, i) => i + 1));
        assert.equal(await b.count('/c/'), 64);
      });
    });

    describe('list and count', () => {
      const keys = [
        '/registry/pod',
        '/registry/pods/default/a',
        '/registry/pods/default/b',
        '/registry/pods/kube-system/c',
        '/registry/podsx/default/d',
        '/registry/services/default/e',
      ];
      const seed = async (b: Backend) => {
        // Created out of order: list order must be key order, not creation order.
        for (const k of [...keys].reverse()) await b.create(k, `value of ${k}`);
      };

      it('lists keys starting with the prefix, in key order, with values and revisions', async (b) => {
        await seed(b);
        const res = await b.list('/registry/pods/');
        assert.deepEqual(
          res.items.map((kv) => kv.key),
          ['/registry/pods/default/a', '/registry/pods/default/b', '/registry/pods/kube-system/c'],
        );
        assert.equal(res.revision, b.currentRevision());
        assert.equal(res.more, false);
        assert.deepEqual(res.items[0], await b.get('/registry/pods/default/a'));
        assert.equal(res.items[0]!.value, 'value of /registry/pods/default/a');
      });

      it('the prefix is a plain string prefix: "/registry/pods" also matches "/registry/podsx/…"', async (b) => {
        await seed(b);
        assert.deepEqual(
          (await b.list('/registry/pods')).items.map((kv) => kv.key),
          ['/registry/pods/default/a', '/registry/pods/default/b', '/registry/pods/kube-system/c', '/registry/podsx/default/d'],
        );
        assert.deepEqual((await b.list('/registry/podsx/')).items.map((kv) => kv.key), ['/registry/podsx/default/d']);
        assert.deepEqual((await b.list('/registry/pods/default/a')).items.map((kv) => kv.key), ['/registry/pods/default/a']);
        assert.deepEqual((await b.list('')).items.map((kv) => kv.key), keys);
        assert.deepEqual((await b.list('/registry/nodes/')).items, []);
        assert.deepEqual((await b.list('/registry/z')).items, []);
      });

      it('count counts live keys under the exact prefix', async (b) => {
        await seed(b);
        assert.equal(await b.count('/registry/pods/'), 3);
        assert.equal(await b.count('/registry/pods'), 4);
        assert.equal(await b.count('/registry/pods/default/'), 2);
        assert.equal(await b.count(''), 6);
        assert.equal(await b.count('/registry/nodes/'), 0);
        await b.delete('/registry/pods/default/a');
        assert.equal(await b.count('/registry/pods/'), 2);
      });

      it('deleted keys are not listed', async (b) => {
        await seed(b);
        await b.delete('/registry/pods/default/b');
        assert.deepEqual(
          (await b.list('/registry/pods/')).items.map((kv) => kv.key),
          ['/registry/pods/default/a', '/registry/pods/kube-system/c'],
        );
      });

      it('pages with limit and startAfter, reporting whether more keys remain', async (b) => {
        for (let i = 9; i >= 0; i--) await b.create(`/p/${i}`, `v${i}`);
        await b.create('/q/0', 'outside');
        const all = (await b.list('/p/')).items.map((kv) => kv.key);
        const pages: string[][] = [];
        let startAfter: string | undefined;
        for (;;) {
          const page = await b.list('/p/', { limit: 3, startAfter });
          pages.push(page.items.map((kv) => kv.key));
          assert.equal(page.revision, 11);
          if (!page.more) break;
          startAfter = page.items[page.items.length - 1]!.key;
        }
        assert.deepEqual(pages, [['/p/0', '/p/1', '/p/2'], ['/p/3', '/p/4', '/p/5'], ['/p/6', '/p/7', '/p/8'], ['/p/9']]);
        assert.deepEqual(pages.flat(), all);
        // A limit equal to the remaining count returns them all with more = false.
        assert.deepEqual(await b.list('/p/', { limit: 10 }).then((r) => [r.items.length, r.more]), [10, false]);
        assert.deepEqual(await b.list('/p/', { limit: 9 }).then((r) => [r.items.length, r.more]), [9, true]);
        // startAfter need not be an existing key; one before the prefix starts at the beginning.
        assert.deepEqual((await b.list('/p/', { startAfter: '/p/45' })).items.map((kv) => kv.key), ['/p/5', '/p/6', '/p/7', '/p/8', '/p/9']);
        assert.equal((await b.list('/p/', { startAfter: '/a' })).items.length, 10);
        assert.deepEqual(await b.list('/p/', { startAfter: '/p/9' }), { items: [], revision: 11, more: false });
        assert.equal((await b.list('/p/', { limit: 0 })).items.length, 10);
      });

      it('lists the state as of an older revision, paged or not', async (b) => {
        const a1 = await b.create('/r/a', 'a1');
        const b1 = await b.create('/r/b', 'b1');
        const c1 = await b.create('/r/c', 'c1');
        const at = b.currentRevision();
        await b.update('/r/a', 'a2', a1.modRevision);
        await b.delete('/r/b');
        await b.create('/r/d', 'd1');
        await b.delete('/r/c');
        await b.create('/r/c', 'c2');
        const old = await b.list('/r/', { revision: at });
        assert.deepEqual(old, { items: [a1, b1, c1], revision: at, more: false });
        const page1 = await b.list('/r/', { revision: at, limit: 2 });
        assert.deepEqual(page1, { items: [a1, b1], revision: at, more: true });
        const page2 = await b.list('/r/', { revision: at, limit: 2, startAfter: '/r/b' });
        assert.deepEqual(page2, { items: [c1], revision: at, more: false });
        // Between writes: after the delete of b, before d exists.
        assert.deepEqual((await b.list('/r/', { revision: at + 2 })).items.map((kv) => kv.value), ['a2', 'c1']);
        assert.deepEqual((await b.list('/r/', { revision: 1 })).items, [a1]);
        const now = await b.list('/r/', { revision: b.currentRevision() });
        assert.deepEqual(now.items.map((kv) => kv.value), ['a2', 'c2', 'd1']);
        assert.deepEqual(await b.list('/r/'), now);
      });

      it('a list at a revision not yet written fails with FutureRevisionError', async (b) => {
        await b.create('/k', 'v');
        await assert.rejects(b.list('/', { revision: 5 }), (err: unknown) => err instanceof FutureRevisionError && err.requested === 5);
      });
    });

    describe('watch', () => {
      it('a watch from now sees create, update and delete with previous values', async (b) => {
        await b.create('/w/before', 'x');
        const rec = record(b, '/w/', b.currentRevision());
        const c = await b.create('/w/k', 'v1');
        const u = await b.update('/w/k', 'v2', c.modRevision);
        const d = await b.delete('/w/k');
        await rec.until((evs) => evs.length >= 3);
        rec.watcher.stop();
        assert.deepEqual(rec.events, [
          { type: 'create', kv: c },
          { type: 'update', kv: u, prev: c },
          { type: 'delete', kv: d, prev: u },
        ]);
        // The delete event carries the last value and the delete's revision.
        assert.deepEqual(rec.events[2]!.kv, { key: '/w/k', value: 'v2', createRevision: 2, modRevision: 4 });
      });

      it('a watch from an older revision replays every later event, then streams live ones', async (b) => {
        const a = await b.create('/w/a', 'a1');
        const from = b.currentRevision();
        const a2 = await b.update('/w/a', 'a2', a.modRevision);
        const x = await b.create('/w/x', 'x1');
        const ad = await b.delete('/w/a');
        const rec = record(b, '/w/', from);
        const y = await b.create('/w/y', 'y1');
        await rec.until((evs) => evs.length >= 4);
        rec.watcher.stop();
        assert.deepEqual(rec.events, [
          { type: 'update', kv: a2, prev: a },
          { type: 'create', kv: x },
          { type: 'delete', kv: ad, prev: a2 },
          { type: 'create', kv: y },
        ]);
      });

      it('a watch from revision 0 replays the whole history', async (b) => {
        await b.create('/w/a', '1');
        await b.create('/w/b', '2');
        const rec = record(b, '/w/', 0);
        await rec.until((evs) => evs.length >= 2);
        rec.watcher.stop();
        assert.deepEqual(rec.events.map((e) => e.kv.modRevision), [1, 2]);
      });

      it('a watch from a future revision only sees events after that revision', async (b) => {
        await b.create('/w/a', '1');
        const rec = record(b, '/w/', 3);
        await b.create('/w/b', '2');
        await b.create('/w/c', '3');
        const d = await b.create('/w/d', '4');
        await rec.until((evs) => evs.length >= 1);
        rec.watcher.stop();
        assert.deepEqual(rec.events, [{ type: 'create', kv: d }]);
      });

      it('a watch only sees keys under its exact prefix', async (b) => {
        const pods = record(b, '/registry/pods/', 0);
        const all = record(b, '', 0);
        await b.create('/registry/podsx/a', 'no');
        await b.create('/registry/pods/a', 'yes');
        await b.create('/registry/pod', 'no');
        await b.create('/registry/pods/b', 'yes');
        await all.until((evs) => evs.length >= 4);
        await pods.until((evs) => evs.length >= 2);
        pods.watcher.stop();
        all.watcher.stop();
        assert.deepEqual(pods.events.map((e) => e.kv.key), ['/registry/pods/a', '/registry/pods/b']);
        assert.deepEqual(all.events.map((e) => e.kv.modRevision), [1, 2, 3, 4]);
      });

      it('no events are delivered after stop returns', async (b) => {
        const stopped = record(b, '/w/', 0);
        const witness = record(b, '/w/', 0);
        await b.create('/w/a', '1');
        await stopped.until((evs) => evs.length >= 1);
        await b.create('/w/b', '2');
        stopped.watcher.stop();
        await b.create('/w/c', '3');
        await witness.until((evs) => evs.length >= 3);
        witness.watcher.stop();
        assert.ok(stopped.events.length <= 2, 'no event after stop');
        assert.ok(stopped.events.every((e) => e.kv.key !== '/w/c'));
        // Stopping right after registering suppresses even the replay.
        const early = record(b, '/w/', 0);
        early.watcher.stop();
        await b.create('/w/d', '4');
        const last = record(b, '/w/', 0);
        await last.until((evs) => evs.length >= 4);
        last.watcher.stop();
        assert.deepEqual(early.events, []);
      });

      it('under concurrent writers no event is lost, duplicated or out of order', async (b) => {
        const writers = 8;
        const perWriter = 40;
        const fromStart = record(b, '/c/', 0);
        let midway: Recorder | undefined;
        let midwayFrom = 0;
        const total = writers * perWriter * 2;
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = 0; i < perWriter; i++) {
              const kv = await b.create(`/c/${w}/${i}`, `v${i}`);
              await b.update(kv.key, `u${i}`, kv.modRevision);
              if (w === 0 && i === perWriter / 2) {
                midwayFrom = b.currentRevision() - 5;
                midway = record(b, '/c/', midwayFrom);
              }
            }
          }),
        );
        const end = b.currentRevision();
        assert.equal(end, total);
        await fromStart.until((evs) => evs.length > 0 && evs[evs.length - 1]!.kv.modRevision === end);
        await midway!.until((evs) => evs.length > 0 && evs[evs.length - 1]!.kv.modRevision === end);
        fromStart.watcher.stop();
        midway!.watcher.stop();
        const range = (from: number) => Array.from({ length: end - from }, (_, i) => from + 1 + i);
        assert.deepEqual(fromStart.events.map((e) => e.kv.modRevision), range(0));
        assert.deepEqual(midway!.events.map((e) => e.kv.modRevision), range(midwayFrom));
        // Replaying the events reproduces the stored state.
        const state = new Map<string, string>();
        for (const e of fromStart.events) {
          if (e.type === 'delete') state.delete(e.kv.key);
          else state.set(e.kv.key, e.kv.value);
        }
        const listed = (await b.list('/c/')).items;
        assert.deepEqual(new Map(listed.map((kv) => [kv.key, kv.value])), state);
      });

      it('handlers get whole batches in revision order across many writes', async (b) => {
        const rec = record(b, '', 0);
        await Promise.all(Array.from({ length: 50 }, (_, i) => b.create(`/k/${i}`, 'v')));
        await rec.until((evs) => evs.length >= 50);
        rec.watcher.stop();
        const revs = rec.events.map((e) => e.kv.modRevision);
        assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
        assert.equal(new Set(revs).size, 50);
      });
    });

    describe('compaction', () => {
      it('drops history below the revision: old lists and watches fail with CompactedError', async (b) => {
        const a = await b.create('/k/a', 'a1');
        await b.create('/k/b', 'b1');
        const a2 = await b.update('/k/a', 'a2', a.modRevision);
        const bd = await b.delete('/k/b');
        const at = b.currentRevision();
        const c = await b.create('/k/c', 'c1');
        await b.compact(at);
        assert.equal(b.compactedRevision(), at);
        assert.equal(b.currentRevision(), at + 1, 'compaction does not change the revision');
        await assert.rejects(b.list('/k/', { revision: at - 1 }), (err: unknown) => {
          assert.ok(err instanceof CompactedError);
          assert.equal(err.requested, at - 1);
          assert.equal(err.compacted, at);
          return true;
        });
        // Latest values of live keys are kept, and the compacted revision itself stays readable.
        assert.deepEqual((await b.list('/k/')).items, [a2, c]);
        assert.deepEqual((await b.list('/k/', { revision: at })).items, [a2]);
        assert.deepEqual(await b.get('/k/a'), a2);
        const failed = record(b, '/k/', at - 1);
        const err = await failed.error();
        assert.ok(err instanceof CompactedError);
        assert.equal(failed.events.length, 0);
        // A watch from the compacted revision replays what came after it.
        const ok = record(b, '/k/', at);
        await ok.until((evs) => evs.length >= 1);
        ok.watcher.stop();
        assert.deepEqual(ok.events, [{ type: 'create', kv: c }]);
        assert.ok(bd.modRevision <= at);
      });

      it('events after the compacted revision keep their previous values', async (b) => {
        const a = await b.create('/k/a', 'a1');
        const x = await b.create('/k/x', 'x1');
        await b.create('/k/y', 'y1');
        const at = b.currentRevision();
        const a2 = await b.update('/k/a', 'a2', a.modRevision);
        const xd = await b.delete('/k/x');
        await b.compact(at);
        const rec = record(b, '/k/', at);
        await rec.until((evs) => evs.length >= 2);
        rec.watcher.stop();
        assert.deepEqual(rec.events, [
          { type: 'update', kv: a2, prev: a },
          { type: 'delete', kv: xd, prev: x },
        ]);
      });

      it('compacting again at a lower revision changes nothing; a future revision is refused', async (b) => {
        for (let i = 0; i < 5; i++) await b.create(`/k/${i}`, 'v');
        await b.compact(4);
        await b.compact(2);
        assert.equal(b.compactedRevision(), 4);
        await assert.rejects(b.compact(6), (err: unknown) => err instanceof FutureRevisionError);
        assert.equal(b.compactedRevision(), 4);
        await b.compact(5);
        assert.equal(b.compactedRevision(), 5);
        assert.equal((await b.list('')).items.length, 5);
      });

      it('the revision keeps increasing after compacting away deleted keys', async (b) => {
        await b.create('/k/a', 'v');
        await b.delete('/k/a');
        await b.compact(2);
        assert.deepEqual(await b.list(''), { items: [], revision: 2, more: false });
        const kv = await b.create('/k/a', 'v');
        assert.equal(kv.modRevision, 3);
        assert.equal(kv.createRevision, 3);
      });
    });
  });
}

/** Events received by one watch, with helpers to await a condition on them. */
interface Recorder {
  events: WatchEvent[];
  watcher: Watcher;
  /** Resolves once `pred(events)` holds; rejects on a watch error or after a guard timeout. */
  until(pred: (events: WatchEvent[]) => boolean): Promise<void>;
  /** Resolves with the error the watch ended with (rejects after a guard timeout). */
  error(): Promise<Error>;
}

/** Starts a watch that records its events. */
function record(b: Backend, prefix: string, afterRevision: number): Recorder {
  const events: WatchEvent[] = [];
  let failure: Error | undefined;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const watcher = b.watch(prefix, afterRevision, {
    onEvents: (evs) => {
      events.push(...evs);
      notify();
    },
    onError: (err) => {
      failure = err;
      notify();
    },
  });
  // Guard against hangs only: the condition is awaited, this just turns a hang into a clear failure.
  const waitFor = <T>(check: () => T | undefined, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(l);
        reject(new Error(`timed out waiting for ${what}; got ${events.length} events: ${JSON.stringify(events.map((e) => [e.type, e.kv.key, e.kv.modRevision]))}`));
      }, 10_000);
      const l = () => {
        let r: T | undefined;
        try {
          r = check();
        } catch (err) {
          r = undefined;
          clearTimeout(timer);
          listeners.delete(l);
          reject(err);
          return;
        }
        if (r !== undefined) {
          clearTimeout(timer);
          listeners.delete(l);
          resolve(r);
        }
      };
      listeners.add(l);
      l();
    });
  return {
    events,
    watcher,
    until: (pred) =>
      waitFor(() => {
        if (failure) throw failure;
        return pred(events) ? true : undefined;
      }, 'watch events').then(() => undefined),
    error: () => waitFor(() => failure, 'watch error'),
  };
}
