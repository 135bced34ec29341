/**
 * What survives a restart of `kite server`: a clean stop (SIGTERM) on the same
 * data dir keeps every object unchanged; a crash (SIGKILL) in the middle of a
 * write burst keeps every write that was acknowledged; and the `memory`
 * datastore, as documented, keeps nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer } from './harness.js';
import { apiClient, type ApiClient } from './apiclient.js';

let server: KiteServer;
let api: ApiClient;

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  api = apiClient(server.kubeconfig);
});

after(async () => {
  await server?.cleanup();
});

/** Restarts the server on the same data dir (new port) and reconnects the client. */
async function restart(signal: NodeJS.Signals): Promise<number | null> {
  const code = await server.stop(signal);
  await server.start();
  api = apiClient(server.kubeconfig);
  return code;
}

/** Creates a namespace through the API. */
async function namespace(name: string): Promise<void> {
  const r = await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  assert.equal(r.status, 201, r.body);
}

/** The ConfigMaps of a namespace as name → {uid, resourceVersion, data}. */
async function configMaps(ns: string): Promise<Map<string, { uid: string; rv: string; data: unknown }>> {
  const r = await api.request('GET', `/api/v1/namespaces/${ns}/configmaps`);
  assert.equal(r.status, 200, r.body);
  return new Map(r.json().items.map((o: any) => [o.metadata.name, { uid: o.metadata.uid, rv: o.metadata.resourceVersion, data: o.data }]));
}

test('a SIGTERM restart on the same data dir keeps every object with its uid and resourceVersion', async () => {
  const ns = 'du-restart';
  await namespace(ns);
  const created = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const r = await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { i: String(i) } });
      assert.equal(r.status, 201, r.body);
      return r.json();
    }),
  );
  // One of them updated, so a kept resourceVersion is not just the creation's.
  const upd = await api.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/cm-7`, { data: { i: 'seven' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(upd.status, 200, upd.body);
  const beforeRestart = await configMaps(ns);
  assert.equal(beforeRestart.size, 50);

  assert.equal(await restart('SIGTERM'), 0, 'a clean shutdown exits 0');

  const afterRestart = await configMaps(ns);
  assert.deepEqual(afterRestart, beforeRestart);
  for (const c of created) assert.equal(afterRestart.get(c.metadata.name)?.uid, c.metadata.uid);
  assert.equal(afterRestart.get('cm-7')?.rv, upd.json().metadata.resourceVersion);
  // What a user sees through kubectl after the restart.
  const names = (await server.k(['get', 'cm', '-n', ns, '-o', 'name'])).trim().split('\n');
  assert.equal(names.length, 50);
  assert.ok(names.includes('configmap/cm-49'));
  // New writes continue after the restored revisions.
  const next = await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' } });
  assert.equal(next.status, 201, next.body);
  assert.ok(Number(next.json().metadata.resourceVersion) > Math.max(...[...beforeRestart.values()].map((v) => Number(v.rv))));
});

test('a SIGKILL during a write burst loses no acknowledged write', async () => {
  const ns = 'du-crash';
  await namespace(ns);
  const acked: string[] = [];
  let attempted = 0;
  let killed = false;
  let killing: Promise<number | null> | undefined;
  // Eight concurrent writers; each records the names the server acknowledged (201).
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; ; i++) {
      if (killed) return;
      const name = `burst-${w}-${i}`;
      attempted++;
      let status: number;
      try {
        status = (await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { w: String(w), i: String(i) } })).status;
      } catch {
        return; // the server is gone: this write was never acknowledged
      }
      if (status !== 201) return;
      acked.push(name);
      // Kill mid-burst, while the other writers still have requests in flight.
      if (acked.length === 300 && !killing) killing = server.stop('SIGKILL');
    }
  });
  await Promise.all(writers);
  assert.ok(killing, `the burst reached 300 acknowledged writes (got ${acked.length})`);
  await killing;
  killed = true;
  assert.ok(attempted > acked.length, 'some writes were in flight or refused when the server died');

  await server.start();
  api = apiClient(server.kubeconfig);
  const stored = await configMaps(ns);
  const missing = acked.filter((n) => !stored.has(n));
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged writes were lost`);
  // Whatever was stored is whole: each object has its data.
  for (const [name, v] of stored) {
    const [, w, i] = /^burst-(\d+)-(\d+)$/.exec(name)!;
    assert.deepEqual(v.data, { w, i });
  }
});

test('--datastore memory keeps nothing after a restart (documented behaviour)', async () => {
  const mem = new KiteServer({ datastore: 'memory' });
  try {
    await mem.start();
    assert.match(mem.log, /in-memory storage \(nothing is kept after exit\)/);
    await mem.k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ephemeral', namespace: 'default' }, data: { a: '1' } }));
    assert.match(await mem.k(['get', 'cm', 'ephemeral', '-o', 'name']), /^configmap\/ephemeral$/m);
    assert.equal(await mem.stop('SIGTERM'), 0);
    await mem.start();
    const r = await mem.kubectl(['get', 'cm', 'ephemeral']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /configmaps "ephemeral" not found/);
    // The cluster itself is back (fresh): the default namespaces exist again.
    assert.match(await mem.k(['get', 'ns', 'default', '-o', 'name']), /^namespace\/default$/m);
  } finally {
    await mem.cleanup();
  }
});
