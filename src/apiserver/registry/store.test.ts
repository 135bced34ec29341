import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ApiError } from '../../api/errors.js';
import { parseLabelSelector } from '../../api/labels.js';
import { parseFieldSelector } from '../../api/fields.js';
import type { Backend } from '../../storage/backend.js';
import { MemoryBackend } from '../../storage/memory.js';
import { SqliteBackend } from '../../storage/sqlite.js';
import { applyPatch } from '../patch/index.js';
import { applyServerSide, updateManagedFields } from '../fieldmanager/index.js';
import { systemContext } from '../bootstrap.js';
import { Registry } from './registry.js';
import { CacheSet } from './cache.js';
import { Store, type WatchSink } from './store.js';

/** A started registry over `backend` with namespace `ns` created. */
async function startRegistry(backend: Backend = new MemoryBackend()) {
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const store = (group: string, version: string, resource: string): Store => {
    const s = registry.lookup(group, version, resource);
    assert.ok(s, `${group}/${version}/${resource} is served`);
    return s;
  };
  const namespaces = store('', 'v1', 'namespaces');
  try {
    await namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  } catch (e) {
    if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
  }
  return {
    backend,
    registry,
    store,
    configmaps: store('', 'v1', 'configmaps'),
    deployments: store('apps', 'v1', 'deployments'),
    namespaces,
    async close() {
      registry.stop();
      await backend.close();
    },
  };
}

const ctx = (ns = 'ns') => systemContext(ns);

function configMap(name: string, data: Record<string, string> = {}, labels?: Record<string, string>): any {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data };
}

function deployment(name: string, replicas = 1): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
  };
}

/** Asserts `p` rejects with an ApiError of this code (and message, if given). */
async function rejectsWith(p: Promise<unknown>, code: number, reason: string, message?: string | RegExp): Promise<ApiError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ApiError, `expected ApiError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.reason, reason);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  return caught;
}

/** A watch sink that records what it is sent. */
function recorder(): WatchSink & { events: { type: string; obj: any }[] } {
  const events: { type: string; obj: any }[] = [];
  return { events, send: (type, obj) => events.push({ type, obj }) };
}

test('create fills uid, creationTimestamp and resourceVersion, and get returns the stored object', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const created = await env.configmaps.create(ctx(), configMap('a', { k: 'v' }));
  assert.match(created.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(created.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(created.metadata.resourceVersion, /^\d+$/);
  assert.equal(created.metadata.namespace, 'ns');
  const got = await env.configmaps.get('ns', 'a');
  assert.equal(got.metadata.uid, created.metadata.uid);
  assert.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
  assert.deepEqual(got.data, { k: 'v' });
  // the client cannot choose system fields
  const other = await env.configmaps.create(ctx(), { ...configMap('b'), metadata: { name: 'b', uid: 'mine', resourceVersion: '999' } });
  assert.notEqual(other.metadata.uid, 'mine');
  assert.notEqual(other.metadata.resourceVersion, '999');
});

test('generateName gets five random characters appended', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.configmaps.create(ctx(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'job-' } });
  const b = await env.configmaps.create(ctx(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'job-' } });
  assert.match(a.metadata.name, /^job-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.notEqual(a.metadata.name, b.metadata.name);
  assert.equal(a.metadata.generateName, 'job-');
});

test('creating an existing name is 409 AlreadyExists', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a'));
  await rejectsWith(env.configmaps.create(ctx(), configMap('a')), 409, 'AlreadyExists', 'configmaps "a" already exists');
  await env.deployments.create(ctx(), deployment('web'));
  await rejectsWith(env.deployments.create(ctx(), deployment('web')), 409, 'AlreadyExists', 'deployments.apps "web" already exists');
});

test('an invalid object is 422 with upstream field messages', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const e = await rejectsWith(env.configmaps.create(ctx(), configMap('Bad_Name')), 422, 'Invalid');
  assert.match(e.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
});

test('deployment generation starts at 1 and moves only when the spec changes', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const d = await env.deployments.create(ctx(), deployment('web'));
  assert.equal(d.metadata.generation, 1);

  const labelled = structuredClone(d);
  labelled.metadata.labels = { team: 'a' };
  const r1 = (await env.deployments.update(ctx(), 'web', labelled)).obj;
  assert.equal(r1.metadata.generation, 1, 'metadata-only change keeps generation');
  assert.notEqual(r1.metadata.resourceVersion, d.metadata.resourceVersion);

  const scaled = structuredClone(r1);
  scaled.spec.replicas = 3;
  const r2 = (await env.deployments.update(ctx(), 'web', scaled)).obj;
  assert.equal(r2.metadata.generation, 2);

  const st = structuredClone(r2);
  st.status = { observedGeneration: 2, replicas: 3 };
  const r3 = (await env.deployments.update(ctx(), 'web', st, 'status')).obj;
  assert.equal(r3.metadata.generation, 2, 'status change keeps generation');
  assert.equal(r3.status.replicas, 3);
});

test('configmaps do not track generation', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const c = await env.configmaps.create(ctx(), { ...configMap('a'), metadata: { name: 'a', generation: 7 } });
  assert.equal(c.metadata.generation, undefined);
});

test('update with a stale resourceVersion is 409 Conflict with upstream text', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const d = await env.deployments.create(ctx(), deployment('web'));
  const first = structuredClone(d);
  first.spec.replicas = 2;
  await env.deployments.update(ctx(), 'web', first);
  const stale = structuredClone(d);
  stale.spec.replicas = 5;
  await rejectsWith(
    env.deployments.update(ctx(), 'web', stale),
    409,
    'Conflict',
    'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
  );
  assert.equal((await env.deployments.get('ns', 'web')).spec.replicas, 2);
});

test('update without a resourceVersion is unconditional', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a', { v: '1' }));
  const r = await env.configmaps.update(ctx(), 'a', configMap('a', { v: '2' }));
  assert.equal(r.created, false);
  assert.deepEqual((await env.configmaps.get('ns', 'a')).data, { v: '2' });
});

test('update of a missing object is 404, unless the resource allows create on update', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await rejectsWith(env.configmaps.update(ctx(), 'nope', configMap('nope')), 404, 'NotFound', 'configmaps "nope" not found');
  const leases = env.store('coordination.k8s.io', 'v1', 'leases');
  const r = await leases.update(ctx(), 'lock', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'lock' }, spec: { holderIdentity: 'me' } });
  assert.equal(r.created, true);
  assert.equal((await leases.get('ns', 'lock')).spec.holderIdentity, 'me');
});

test('the URL name and the body name must agree', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a'));
  await rejectsWith(
    env.configmaps.update(ctx(), 'a', configMap('b')),
    400,
    'BadRequest',
    'the name of the object (b) does not match the name on the URL (a)',
  );
});

test('an update that changes nothing is not a write: resourceVersion stays', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const c = await env.configmaps.create(ctx(), configMap('a', { k: 'v' }));
  const before = env.backend.currentRevision();
  const r = await env.configmaps.update(ctx(), 'a', structuredClone(c));
  assert.equal(r.obj.metadata.resourceVersion, c.metadata.resourceVersion);
  assert.equal(env.backend.currentRevision(), before);
});

test('a main-resource update cannot change status; the status subresource changes only status', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const d = await env.deployments.create(ctx(), { ...deployment('web'), status: { replicas: 9 } });
  assert.equal(d.status, undefined, 'status sent with create is dropped');

  const withStatus = structuredClone(d);
  withStatus.status = { replicas: 1, observedGeneration: 1 };
  const s1 = (await env.deployments.update(ctx(), 'web', withStatus, 'status')).obj;
  assert.deepEqual(s1.status, { replicas: 1, observedGeneration: 1 });

  const main = structuredClone(s1);
  main.spec.replicas = 4;
  main.status = { replicas: 100 };
  const m = (await env.deployments.update(ctx(), 'web', main)).obj;
  assert.equal(m.spec.replicas, 4);
  assert.deepEqual(m.status, { replicas: 1, observedGeneration: 1 }, 'status kept on main update');

  const viaStatus = structuredClone(m);
  viaStatus.spec.replicas = 50;
  viaStatus.metadata.labels = { sneaky: 'yes' };
  viaStatus.status = { replicas: 4, observedGeneration: 2 };
  const s2 = (await env.deployments.update(ctx(), 'web', viaStatus, 'status')).obj;
  assert.equal(s2.spec.replicas, 4, 'spec ignored on status update');
  assert.equal(s2.metadata.labels, undefined, 'labels ignored on status update');
  assert.deepEqual(s2.status, { replicas: 4, observedGeneration: 2 });
  assert.deepEqual((await env.deployments.get('ns', 'web')).status, { replicas: 4, observedGeneration: 2 });
});

test('patch: merge patch and strategic merge patch change the stored object', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.deployments.create(ctx(), deployment('web'));
  const r = await env.deployments.patchObject(ctx(), 'web', 'application/merge-patch+json', JSON.stringify({ spec: { replicas: 3 } }), '', { force: false });
  assert.equal(r.obj.spec.replicas, 3);
  assert.equal(r.obj.metadata.generation, 2);
  const sm = await env.deployments.patchObject(
    ctx(),
    'web',
    'application/strategic-merge-patch+json',
    JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } } } }),
    '',
    { force: false },
  );
  // strategic merge: containers merge by name
  assert.deepEqual(sm.obj.spec.template.spec.containers.map((c: any) => c.name).sort(), ['c', 'sidecar']);
  await rejectsWith(
    env.deployments.patchObject(ctx(), 'missing', 'application/merge-patch+json', '{}', '', { force: false }),
    404,
    'NotFound',
    'deployments.apps "missing" not found',
  );
});

test('server-side apply creates, then updates, an object', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const body = YAML.stringify(configMap('applied', { a: '1' }));
  const r1 = await env.configmaps.patchObject({ ...ctx(), fieldManager: 'me' }, 'applied', 'application/apply-patch+yaml', body, '', { force: false });
  assert.equal(r1.created, true);
  assert.equal(r1.obj.metadata.managedFields[0].manager, 'me');
  assert.equal(r1.obj.metadata.managedFields[0].operation, 'Apply');
  const r2 = await env.configmaps.patchObject(
    { ...ctx(), fieldManager: 'me' },
    'applied',
    'application/apply-patch+yaml',
    YAML.stringify(configMap('applied', { a: '2' })),
    '',
    { force: false },
  );
  assert.equal(r2.created, false);
  assert.deepEqual((await env.configmaps.get('ns', 'applied')).data, { a: '2' });
});

test('create records managedFields for the request\'s field manager', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const c = await env.configmaps.create({ ...ctx(), fieldManager: 'kubectl-create' }, configMap('a', { k: 'v' }));
  assert.equal(c.metadata.managedFields.length, 1);
  assert.equal(c.metadata.managedFields[0].manager, 'kubectl-create');
  assert.equal(c.metadata.managedFields[0].operation, 'Update');
  assert.ok(c.metadata.managedFields[0].fieldsV1['f:data']['f:k']);
});

test('delete without finalizers removes the object', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a'));
  const r = await env.configmaps.delete(ctx(), 'a', {});
  assert.equal(r.gone, true);
  await rejectsWith(env.configmaps.get('ns', 'a'), 404, 'NotFound', 'configmaps "a" not found');
  await rejectsWith(env.configmaps.delete(ctx(), 'a', {}), 404, 'NotFound');
});

test('delete of an object with finalizers sets deletionTimestamp; removing the last finalizer deletes it', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), { ...configMap('a'), metadata: { name: 'a', finalizers: ['example.com/one', 'example.com/two'] } });
  const r = await env.configmaps.delete(ctx(), 'a', {});
  assert.equal(r.gone, false);
  assert.ok(r.obj.metadata.deletionTimestamp);
  assert.equal(r.obj.metadata.deletionGracePeriodSeconds, 0);
  const cur = await env.configmaps.get('ns', 'a');
  assert.equal(cur.metadata.deletionTimestamp, r.obj.metadata.deletionTimestamp);

  // a second delete changes nothing
  const again = await env.configmaps.delete(ctx(), 'a', {});
  assert.equal(again.gone, false);
  assert.equal(again.obj.metadata.resourceVersion, cur.metadata.resourceVersion);

  // a client cannot clear deletionTimestamp
  const cleared = structuredClone(cur);
  delete cleared.metadata.deletionTimestamp;
  cleared.metadata.finalizers = ['example.com/two'];
  const one = (await env.configmaps.update(ctx(), 'a', cleared)).obj;
  assert.equal(one.metadata.deletionTimestamp, cur.metadata.deletionTimestamp);

  const last = structuredClone(one);
  last.metadata.finalizers = [];
  await env.configmaps.update(ctx(), 'a', last);
  await rejectsWith(env.configmaps.get('ns', 'a'), 404, 'NotFound');
});

test('delete preconditions on uid and resourceVersion', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const c = await env.configmaps.create(ctx(), configMap('a'));
  const e1 = await rejectsWith(env.configmaps.delete(ctx(), 'a', { preconditions: { uid: 'not-the-uid' } }), 409, 'Conflict');
  assert.match(e1.message, /Precondition failed: UID in precondition: not-the-uid, UID in object meta: /);
  const e2 = await rejectsWith(env.configmaps.delete(ctx(), 'a', { preconditions: { resourceVersion: '1' } }), 409, 'Conflict');
  assert.match(e2.message, /Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: \d+/);
  await env.configmaps.get('ns', 'a');
  const ok = await env.configmaps.delete(ctx(), 'a', { preconditions: { uid: c.metadata.uid, resourceVersion: c.metadata.resourceVersion } });
  assert.equal(ok.gone, true);
});

test('foreground and orphan propagation add their finalizers', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.deployments.create(ctx(), deployment('fg'));
  await env.deployments.create(ctx(), deployment('or'));
  const fg = await env.deployments.delete(ctx(), 'fg', { propagationPolicy: 'Foreground' });
  assert.equal(fg.gone, false);
  assert.deepEqual(fg.obj.metadata.finalizers, ['foregroundDeletion']);
  const or = await env.deployments.delete(ctx(), 'or', { propagationPolicy: 'Orphan' });
  assert.deepEqual(or.obj.metadata.finalizers, ['orphan']);
  assert.ok(or.obj.metadata.deletionTimestamp);
});

test('deleteCollection deletes only what the selector matches', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a', {}, { tier: 'web' }));
  await env.configmaps.create(ctx(), configMap('b', {}, { tier: 'db' }));
  await env.configmaps.create(ctx(), configMap('c', {}, { tier: 'web' }));
  const gone = await env.configmaps.deleteCollection(ctx(), { label: parseLabelSelector('tier=web') }, {});
  assert.deepEqual(gone.map((o) => o.metadata.name).sort(), ['a', 'c']);
  const left = await env.configmaps.list('ns', {});
  assert.deepEqual(left.items.map((o) => o.metadata.name), ['b']);
});

test('list paging: limit=2 over 5 objects chains continue tokens through all 5 from one snapshot', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  for (const n of ['a', 'b', 'c', 'd', 'e']) await env.configmaps.create(ctx(), configMap(n, { v: 'old' }));
  const p1 = await env.configmaps.list('ns', { limit: 2 });
  assert.deepEqual(p1.items.map((o) => o.metadata.name), ['a', 'b']);
  assert.ok(p1.continue);
  assert.equal(p1.remainingItemCount, 3);

  // writes between pages must not show up in the rest of the list
  await env.configmaps.create(ctx(), configMap('bb'));
  await env.configmaps.delete(ctx(), 'd', {});
  await env.configmaps.update(ctx(), 'c', configMap('c', { v: 'new' }));

  const p2 = await env.configmaps.list('ns', { limit: 2, continue: p1.continue });
  assert.deepEqual(p2.items.map((o) => o.metadata.name), ['c', 'd']);
  assert.equal(p2.items[0].data.v, 'old');
  assert.equal(p2.resourceVersion, p1.resourceVersion);
  assert.ok(p2.continue);
  const p3 = await env.configmaps.list('ns', { limit: 2, continue: p2.continue });
  assert.deepEqual(p3.items.map((o) => o.metadata.name), ['e']);
  assert.equal(p3.continue, undefined);
  assert.equal(p3.resourceVersion, p1.resourceVersion);

  // a fresh list sees the new state
  const now = await env.configmaps.list('ns', {});
  assert.deepEqual(now.items.map((o) => o.metadata.name), ['a', 'b', 'bb', 'c', 'e']);
  assert.equal(now.items.find((o) => o.metadata.name === 'c').data.v, 'new');
});

test('list paging with a label selector fills pages with matching objects only', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  for (const [n, tier] of [['a', 'x'], ['b', 'y'], ['c', 'x'], ['d', 'y'], ['e', 'x'], ['f', 'x']]) {
    await env.configmaps.create(ctx(), configMap(n, {}, { tier }));
  }
  const names: string[] = [];
  let cont: string | undefined;
  let pages = 0;
  do {
    const p = await env.configmaps.list('ns', { limit: 2, label: parseLabelSelector('tier=x'), continue: cont });
    assert.ok(p.items.length <= 2);
    names.push(...p.items.map((o) => o.metadata.name));
    cont = p.continue;
    assert.ok(++pages < 10);
  } while (cont);
  assert.deepEqual(names, ['a', 'c', 'e', 'f']);
});

test('a malformed continue token is 400', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await rejectsWith(env.configmaps.list('ns', { limit: 2, continue: 'garbage' }), 400, 'BadRequest', /continue key is not valid/);
});

test('list across namespaces and in one namespace', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
  await env.configmaps.create(ctx(), configMap('a'));
  await env.configmaps.create(ctx('other'), configMap('b'));
  assert.deepEqual((await env.configmaps.list('ns', {})).items.map((o) => o.metadata.name), ['a']);
  assert.deepEqual((await env.configmaps.list('', {})).items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ['ns/a', 'other/b']);
});

test('label and field selectors filter lists', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a', {}, { env: 'prod', tier: 'web' }));
  await env.configmaps.create(ctx(), configMap('b', {}, { env: 'dev', tier: 'web' }));
  await env.configmaps.create(ctx(), configMap('c', {}, { env: 'prod' }));
  const names = async (o: any) => (await env.configmaps.list('ns', o)).items.map((i) => i.metadata.name);
  assert.deepEqual(await names({ label: parseLabelSelector('env=prod') }), ['a', 'c']);
  assert.deepEqual(await names({ label: parseLabelSelector('env in (prod),tier') }), ['a']);
  assert.deepEqual(await names({ label: parseLabelSelector('!tier') }), ['c']);
  assert.deepEqual(await names({ field: parseFieldSelector('metadata.name=b') }), ['b']);
  assert.deepEqual(await names({ field: parseFieldSelector('metadata.name!=b'), label: parseLabelSelector('env=prod') }), ['a', 'c']);
  assert.deepEqual(await names({ field: parseFieldSelector('metadata.namespace=elsewhere') }), []);
});

test('a watch from a list\'s resourceVersion sees each later change exactly once', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('before'));
  const list = await env.configmaps.list('ns', {});
  // written after the list but before the watch starts: must be replayed
  await env.configmaps.create(ctx(), configMap('a'));
  const sink = recorder();
  const w = await env.configmaps.watch('ns', { resourceVersion: list.resourceVersion }, sink);
  t.after(() => w.stop());
  await env.configmaps.update(ctx(), 'a', configMap('a', { k: 'v' }));
  await env.configmaps.delete(ctx(), 'a', {});
  await env.registry.caches.fresh();
  assert.deepEqual(
    sink.events.map((e) => [e.type, e.obj.metadata.name]),
    [
      ['ADDED', 'a'],
      ['MODIFIED', 'a'],
      ['DELETED', 'a'],
    ],
  );
  const rvs = sink.events.map((e) => Number(e.obj.metadata.resourceVersion));
  assert.ok(rvs[0] > Number(list.resourceVersion) && rvs[0] < rvs[1] && rvs[1] < rvs[2]);
});

test('a watch without resourceVersion starts with ADDED for every existing object', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a'));
  await env.configmaps.create(ctx(), configMap('b'));
  const sink = recorder();
  const w = await env.configmaps.watch('ns', {}, sink);
  t.after(() => w.stop());
  await env.configmaps.create(ctx(), configMap('c'));
  await env.registry.caches.fresh();
  assert.deepEqual(sink.events.map((e) => `${e.type} ${e.obj.metadata.name}`), ['ADDED a', 'ADDED b', 'ADDED c']);
});

test('a stopped watch gets nothing more', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const sink = recorder();
  const w = await env.configmaps.watch('ns', {}, sink);
  await env.configmaps.create(ctx(), configMap('a'));
  await env.registry.caches.fresh();
  w.stop();
  await env.configmaps.create(ctx(), configMap('b'));
  await env.registry.caches.fresh();
  assert.deepEqual(sink.events.map((e) => e.obj.metadata.name), ['a']);
});

test('a label-selector watch turns MODIFIED into ADDED/DELETED as objects start/stop matching', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const start = await env.configmaps.list('ns', {});
  const sink = recorder();
  const w = await env.configmaps.watch('ns', { resourceVersion: start.resourceVersion, label: parseLabelSelector('app=x') }, sink);
  t.after(() => w.stop());
  await env.configmaps.create(ctx(), configMap('o', { n: '1' }, { app: 'y' }));
  await env.configmaps.update(ctx(), 'o', configMap('o', { n: '2' }, { app: 'x' }));
  await env.configmaps.update(ctx(), 'o', configMap('o', { n: '3' }, { app: 'x' }));
  const gone = (await env.configmaps.update(ctx(), 'o', configMap('o', { n: '4' }, { app: 'y' }))).obj;
  await env.configmaps.update(ctx(), 'o', configMap('o', { n: '5' }, { app: 'y' }));
  await env.registry.caches.fresh();
  assert.deepEqual(
    sink.events.map((e) => [e.type, e.obj.data.n]),
    [
      ['ADDED', '2'],
      ['MODIFIED', '3'],
      // upstream's cacher: the last state the watcher could see, at the change's resourceVersion
      ['DELETED', '3'],
    ],
  );
  assert.equal(sink.events[2].obj.metadata.resourceVersion, gone.metadata.resourceVersion);
});

test('a watch from a revision older than the cache window gets an ERROR event with 410 Expired', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const small = new CacheSet(env.backend, 2);
  await small.start();
  t.after(() => small.stop());
  const base = env.configmaps;
  const store = new Store(base.info, base.strategy, base.types, env.backend, small, { applyPatch, applyServerSide, updateManagedFields }, () => {});
  const first = await store.create(ctx(), configMap('a'));
  for (const n of ['b', 'c', 'd']) await store.create(ctx(), configMap(n));
  const sink = recorder();
  const w = await store.watch('ns', { resourceVersion: first.metadata.resourceVersion }, sink);
  w.stop();
  assert.equal(sink.events.length, 1);
  assert.equal(sink.events[0].type, 'ERROR');
  const status = sink.events[0].obj;
  assert.equal(status.kind, 'Status');
  assert.equal(status.status, 'Failure');
  assert.equal(status.code, 410);
  assert.equal(status.reason, 'Expired');
  assert.match(status.message, /^too old resource version: \d+ \(\d+\)$/);

  // a recent enough revision still resumes
  const list = await store.list('ns', {});
  const ok = recorder();
  const w2 = await store.watch('ns', { resourceVersion: list.resourceVersion }, ok);
  t.after(() => w2.stop());
  await store.create(ctx(), configMap('e'));
  await small.fresh();
  assert.deepEqual(ok.events.map((e) => `${e.type} ${e.obj.metadata.name}`), ['ADDED e']);
});

test('sendInitialEvents: existing objects, then a bookmark marking the end of the initial events', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.configmaps.create(ctx(), configMap('a'));
  const sink = recorder();
  const w = await env.configmaps.watch('ns', { sendInitialEvents: true, resourceVersion: '' }, sink);
  t.after(() => w.stop());
  assert.deepEqual(sink.events.map((e) => e.type), ['ADDED', 'BOOKMARK']);
  const bm = sink.events[1].obj;
  assert.equal(bm.kind, 'ConfigMap');
  assert.equal(bm.apiVersion, 'v1');
  assert.equal(bm.metadata.annotations['k8s.io/initial-events-end'], 'true');
  assert.match(bm.metadata.resourceVersion, /^\d+$/);
});

test('creating in a missing namespace is 404 namespaces "x" not found', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await rejectsWith(env.configmaps.create(ctx('x'), configMap('a')), 404, 'NotFound', 'namespaces "x" not found');
});

test('creating in a terminating namespace is 403 with upstream text', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
  const d = await env.namespaces.delete(systemContext(), 'doomed', {});
  assert.equal(d.gone, false);
  assert.equal(d.obj.status.phase, 'Terminating');
  await rejectsWith(
    env.configmaps.create(ctx('doomed'), configMap('a')),
    403,
    'Forbidden',
    'configmaps "a" is forbidden: unable to create new content in namespace doomed because it is being terminated',
  );
});

test('a body namespace that differs from the request namespace is 400', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await rejectsWith(
    env.configmaps.create(ctx(), { ...configMap('a'), metadata: { name: 'a', namespace: 'other' } }),
    400,
    'BadRequest',
    'the namespace of the provided object does not match the namespace sent on the request',
  );
});

test('dry run validates and answers but stores nothing', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const rev = env.backend.currentRevision();
  const r = await env.configmaps.create({ ...ctx(), dryRun: true }, configMap('a'));
  assert.equal(r.metadata.name, 'a');
  assert.equal(env.backend.currentRevision(), rev);
  await rejectsWith(env.configmaps.get('ns', 'a'), 404, 'NotFound');
});

test('objects and their resourceVersions survive a restart on SQLite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db');
  const env1 = await startRegistry(new SqliteBackend({ path }));
  const c = await env1.configmaps.create(ctx(), configMap('keep', { k: 'v' }));
  const d = await env1.deployments.create(ctx(), deployment('web', 2));
  await env1.close();

  const env2 = await startRegistry(new SqliteBackend({ path }));
  t.after(() => env2.close());
  const c2 = await env2.configmaps.get('ns', 'keep');
  assert.equal(c2.metadata.uid, c.metadata.uid);
  assert.equal(c2.metadata.resourceVersion, c.metadata.resourceVersion);
  assert.deepEqual(c2.data, { k: 'v' });
  const d2 = await env2.deployments.get('ns', 'web');
  assert.equal(d2.metadata.generation, 1);
  assert.equal(d2.spec.replicas, 2);
  // optimistic concurrency still holds with the stored resourceVersion
  const stale = structuredClone(d);
  const fresh = structuredClone(d2);
  fresh.spec.replicas = 3;
  await env2.deployments.update(ctx(), 'web', fresh);
  stale.spec.replicas = 4;
  await rejectsWith(env2.deployments.update(ctx(), 'web', stale), 409, 'Conflict');
});

test('a resourceVersion the store has not reached is refused with 504 Too large resource version', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const current = Number((await env.configmaps.list('ns', {})).resourceVersion);
  const future = String(current + 1000);
  const e = await rejectsWith(env.configmaps.watch('ns', { resourceVersion: future }, recorder()), 504, 'Timeout', `Too large resource version: ${future}, current: ${current}`);
  assert.deepEqual(e.details?.causes, [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }]);
  await rejectsWith(env.configmaps.list('ns', { resourceVersion: future }), 504, 'Timeout');
});
