/** Informers over a real in-memory API server: the lister, handlers, re-listing after a broken watch, stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { R, type Client, type ClientWatch, type ClientWatchEvent, type ResourceRef, type WatchOpts } from './client.js';
import { Informer, objectKey, splitKey } from './informer.js';

/**
 * Passes everything to a real client, but can break its watches the way a
 * lost connection and a compacted history do: `deaf` drops events (they
 * happen, the informer never hears of them), `expire()` delivers the 410
 * ERROR an API server sends and ends the stream. Records lists and open watches.
 */
class BreakableClient implements Client {
  lists = 0;
  deaf = false;
  readonly open = new Set<{ inner: ClientWatch; onEvent: (ev: ClientWatchEvent) => void }>();
  constructor(private readonly inner: Client) {}
  get: Client['get'] = (...a) => this.inner.get(...a);
  create: Client['create'] = (...a) => this.inner.create(...a);
  update: Client['update'] = (...a) => this.inner.update(...a);
  patch: Client['patch'] = (...a) => this.inner.patch(...a);
  delete: Client['delete'] = (...a) => this.inner.delete(...a);
  list: Client['list'] = (...a) => {
    this.lists++;
    return this.inner.list(...a);
  };
  async watch<T>(ref: ResourceRef, ns: string, opts: WatchOpts, onEvent: (ev: ClientWatchEvent<T>) => void): Promise<ClientWatch> {
    const entry = { inner: undefined as unknown as ClientWatch, onEvent: onEvent as (ev: ClientWatchEvent) => void };
    entry.inner = await this.inner.watch<T>(ref, ns, opts, (ev) => {
      if (!this.deaf) onEvent(ev);
    });
    this.open.add(entry);
    void entry.inner.done.then(() => this.open.delete(entry));
    return entry.inner;
  }
  /** Ends every open watch as an API server does when the watched version is too old. */
  expire(): void {
    for (const w of this.open) {
      w.onEvent({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (2)', reason: 'Expired', code: 410 } });
      w.inner.stop();
    }
  }
}

/** Records handler calls as `add a`, `update a`, `delete a` and lets a test await them. */
function recordHandlers(inf: Informer) {
  const log: string[] = [];
  let waiters: { check: () => boolean; resolve: () => void }[] = [];
  const push = (s: string) => {
    log.push(s);
    waiters = waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  };
  inf.addHandlers({
    onAdd: (o) => push(`add ${o.metadata.name}`),
    onUpdate: (old, o) => push(`update ${o.metadata.name} ${old.data?.v ?? ''}->${o.data?.v ?? ''}`),
    onDelete: (o) => push(`delete ${o.metadata.name}`),
  });
  return {
    log,
    until(check: (log: string[]) => boolean): Promise<void> {
      if (check(log)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ check: () => check(log), resolve }));
    },
  };
}

const cm = (name: string, v: string, labels?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { v } });

async function setup(t: { after(fn: () => unknown): void }): Promise<{ cluster: TestCluster; client: BreakableClient }> {
  const cluster = await startTestCluster();
  t.after(() => cluster.close());
  await cluster.namespace('ns', 'other');
  return { cluster, client: new BreakableClient(cluster.client) };
}

test('objectKey and splitKey round-trip namespaced and cluster-scoped keys', () => {
  assert.equal(objectKey({ metadata: { namespace: 'ns', name: 'a' } }), 'ns/a');
  assert.equal(objectKey({ metadata: { name: 'node-1' } }), 'node-1');
  assert.deepEqual(splitKey('ns/a'), { namespace: 'ns', name: 'a' });
  assert.deepEqual(splitKey('node-1'), { namespace: '', name: 'node-1' });
});

test('the initial list fills the lister and marks it synced; existing objects reach handlers as adds', async (t) => {
  const { client } = await setup(t);
  await client.create(R.configmaps, 'ns', cm('a', '1', { app: 'x' }));
  await client.create(R.configmaps, 'other', cm('b', '1'));
  const inf = new Informer(client, R.configmaps);
  t.after(() => inf.stop());
  const h = recordHandlers(inf);
  assert.equal(inf.hasSynced(), false);
  await inf.start();
  assert.equal(inf.hasSynced(), true);
  assert.equal(inf.get('ns', 'a')?.data.v, '1');
  assert.equal(inf.get('ns', 'b'), undefined);
  assert.deepEqual(inf.list('other').map(objectKey), ['other/b']);
  assert.deepEqual(inf.list(undefined, (o) => o.metadata.labels?.app === 'x').map(objectKey), ['ns/a']);
  assert.deepEqual(h.log.filter((l) => / (a|b)$/.test(l)).sort(), ['add a', 'add b']);
  // A handler added after the sync is told about what is already cached.
  const late: string[] = [];
  inf.addHandlers({ onAdd: (o) => late.push(objectKey(o)) });
  assert.ok(late.includes('ns/a') && late.includes('other/b'));
});

test('add, update and delete each reach the handlers exactly once, and the lister follows', async (t) => {
  const { client } = await setup(t);
  const inf = new Informer(client, R.configmaps, { namespace: 'ns' });
  t.after(() => inf.stop());
  const h = recordHandlers(inf);
  await inf.start();
  await client.create(R.configmaps, 'ns', cm('a', '1'));
  await client.create(R.configmaps, 'other', cm('elsewhere', '1')); // outside the informer's namespace
  await h.until((l) => l.length >= 1);
  assert.equal(inf.get('ns', 'a')?.data.v, '1');
  await client.patch(R.configmaps, 'ns', 'a', 'merge', { data: { v: '2' } });
  await h.until((l) => l.length >= 2);
  assert.equal(inf.get('ns', 'a')?.data.v, '2');
  await client.delete(R.configmaps, 'ns', 'a');
  await h.until((l) => l.length >= 3);
  assert.equal(inf.get('ns', 'a'), undefined);
  // A write after the delete proves nothing else was pending for `a`.
  await client.create(R.configmaps, 'ns', cm('z', '1'));
  await h.until((l) => l.length >= 4);
  assert.deepEqual(h.log, ['add a', 'update a 1->2', 'delete a', 'add z']);
});

test('after a watch ends with 410 Expired the informer lists again and tells handlers what it missed', async (t) => {
  const { client } = await setup(t);
  await client.create(R.configmaps, 'ns', cm('gone', '1'));
  await client.create(R.configmaps, 'ns', cm('changed', '1'));
  await client.create(R.configmaps, 'ns', cm('same', '1'));
  const inf = new Informer(client, R.configmaps, { namespace: 'ns', retryMs: 1 });
  t.after(() => inf.stop());
  const h = recordHandlers(inf);
  await inf.start();
  assert.equal(client.lists, 1);
  h.log.length = 0;

  // The connection is lost: these changes never arrive as watch events.
  client.deaf = true;
  await client.delete(R.configmaps, 'ns', 'gone');
  await client.patch(R.configmaps, 'ns', 'changed', 'merge', { data: { v: '2' } });
  await client.create(R.configmaps, 'ns', cm('new', '1'));
  assert.equal(inf.get('ns', 'gone')?.data.v, '1', 'the cache has not seen the changes yet');
  client.deaf = false;
  client.expire();

  await h.until((l) => l.length >= 3);
  assert.deepEqual([...h.log].sort(), ['add new', 'delete gone', 'update changed 1->2']);
  assert.equal(client.lists, 2);
  assert.equal(inf.get('ns', 'gone'), undefined);
  assert.equal(inf.get('ns', 'changed')?.data.v, '2');
  assert.deepEqual(inf.list().map(objectKey).sort(), ['ns/changed', 'ns/new', 'ns/same']);

  // And it watches again: a later change arrives as an event.
  await client.patch(R.configmaps, 'ns', 'same', 'merge', { data: { v: '3' } });
  await h.until((l) => l.length >= 4);
  assert.equal(h.log[3], 'update same 1->3');
  assert.equal(client.lists, 2);
});

test('stop() closes the watch and no handler runs afterwards; stopping during start returns from start', async (t) => {
  const { client } = await setup(t);
  const inf = new Informer(client, R.configmaps, { namespace: 'ns' });
  const h = recordHandlers(inf);
  await inf.start();
  assert.equal(client.open.size, 1);
  inf.stop();
  await client.create(R.configmaps, 'ns', cm('after', '1'));
  await client.get(R.configmaps, 'ns', 'after');
  assert.equal(client.open.size, 0, 'the watch was stopped');
  assert.deepEqual(h.log, []);

  const racing = new Informer(client, R.configmaps, { namespace: 'ns' });
  const started = racing.start();
  racing.stop();
  await started;
  // The list in flight when stop() came may finish, but no watch is left open.
  await client.list(R.configmaps, 'ns');
  assert.equal(client.open.size, 0);
});
