/**
 * The one conformance suite every Client transport runs (in-process and
 * HTTP): the same operations against a real API server must give the same
 * objects, the same watch events and the same ApiErrors. A transport's test
 * file calls {@link clientConformance} with a way to start its server.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { R, type Client, type ClientWatch, type ClientWatchEvent, type ResourceRef } from './client.js';

/** A transport under test, connected to a fresh API server. */
export interface ClientFixture {
  client: Client;
  /** Events each resource's watch cache keeps: this many writes and a version is too old to watch from. */
  watchWindow: number;
  close(): Promise<void>;
}

/** What an awaited call rejected with. */
async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

/** Asserts an ApiError with this code, reason and message. */
function assertApiError(e: any, code: number, reason: string, message: string | RegExp): void {
  assert.equal(e?.name, 'ApiError', `an ApiError, got ${e?.stack ?? e}`);
  assert.equal(e.code, code);
  assert.equal(e.reason, reason);
  if (typeof message === 'string') assert.equal(e.message, message);
  else assert.match(e.message, message);
}

/** Collects watch events and lets a test await a condition on them. */
class Recorder<T = any> {
  readonly events: ClientWatchEvent<T>[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly onEvent = (ev: ClientWatchEvent<T>) => {
    this.events.push(ev);
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  };
  until(check: (evs: ClientWatchEvent<T>[]) => boolean): Promise<void> {
    if (check(this.events)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ check: () => check(this.events), resolve }));
  }
}

function configMap(name: string, data: Record<string, string> = {}, labels?: Record<string, string>): any {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data };
}

function deployment(name: string): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'main', image: 'busybox', env: [{ name: 'A', value: '1' }] },
            { name: 'side', image: 'busybox' },
          ],
        },
      },
    },
  };
}

function pod(name: string): any {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
}

const CM = R.configmaps;
const DEPLOY: ResourceRef = R.deployments;

/** Registers the conformance tests for one transport. */
export function clientConformance(name: string, setup: () => Promise<ClientFixture>): void {
  describe(`Client conformance: ${name}`, () => {
    let f: ClientFixture;
    let c: Client;
    before(async () => {
      f = await setup();
      c = f.client;
    });
    after(() => f?.close());

    /** A fresh namespace for one test. */
    async function namespace(): Promise<string> {
      const ns = `t-${randomBytes(4).toString('hex')}`;
      await c.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      return ns;
    }

    test('create returns the stored object; get reads it back; a second create is 409 AlreadyExists', async () => {
      const ns = await namespace();
      const made = await c.create(CM, ns, configMap('a', { k: 'v' }));
      assert.equal(made.metadata.namespace, ns);
      assert.match(made.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.match(made.metadata.resourceVersion, /^\d+$/);
      const got = await c.get(CM, ns, 'a');
      assert.deepEqual(got.data, { k: 'v' });
      assert.equal(got.metadata.uid, made.metadata.uid);
      assert.equal(got.metadata.resourceVersion, made.metadata.resourceVersion);
      const e = await failure(c.create(CM, ns, configMap('a')));
      assertApiError(e, 409, 'AlreadyExists', 'configmaps "a" already exists');
      assert.equal(e.details.name, 'a');
      assert.equal(e.details.kind, 'configmaps');
    });

    test('a missing object is 404 NotFound with the group-qualified resource in the message', async () => {
      const ns = await namespace();
      assertApiError(await failure(c.get(CM, ns, 'nope')), 404, 'NotFound', 'configmaps "nope" not found');
      const e = await failure(c.get(DEPLOY, ns, 'nope'));
      assertApiError(e, 404, 'NotFound', 'deployments.apps "nope" not found');
      assert.equal(e.details.group, 'apps');
      assertApiError(await failure(c.delete(CM, ns, 'nope')), 404, 'NotFound', 'configmaps "nope" not found');
    });

    test('a dry-run create answers the object but stores nothing', async () => {
      const ns = await namespace();
      const out = await c.create(CM, ns, configMap('dry', { a: '1' }), { dryRun: true });
      assert.deepEqual(out.data, { a: '1' });
      assertApiError(await failure(c.get(CM, ns, 'dry')), 404, 'NotFound', 'configmaps "dry" not found');
    });

    test('list filters by label and field selectors, pages with limit/continue, and spans namespaces when none is given', async () => {
      const ns = await namespace();
      const other = await namespace();
      await c.create(CM, ns, configMap('a', {}, { tier: 'web' }));
      await c.create(CM, ns, configMap('b', {}, { tier: 'db' }));
      await c.create(CM, ns, configMap('c', {}, { tier: 'web' }));
      await c.create(CM, other, configMap('d', {}, { tier: 'web' }));
      const names = (l: { items: any[] }) => l.items.map((o) => o.metadata.name).sort();

      const web = await c.list(CM, ns, { labelSelector: 'tier=web' });
      assert.deepEqual(names(web), ['a', 'c']);
      assert.match(web.resourceVersion, /^\d+$/);
      assert.deepEqual(names(await c.list(CM, ns, { labelSelector: 'tier in (db)' })), ['b']);
      assert.deepEqual(names(await c.list(CM, ns, { fieldSelector: 'metadata.name=b' })), ['b']);
      assert.deepEqual(names(await c.list(CM, ns, { fieldSelector: 'metadata.name!=b' })), ['a', 'c']);

      const first = await c.list(CM, ns, { limit: 2 });
      assert.equal(first.items.length, 2);
      assert.ok(first.continue, 'a continue token for the rest');
      const rest = await c.list(CM, ns, { limit: 2, continue: first.continue });
      assert.equal(rest.continue, undefined);
      assert.deepEqual([...names(first), ...names(rest)].sort(), ['a', 'b', 'c']);

      // '' lists every namespace of a namespaced resource...
      const everywhere = await c.list(CM, '', { labelSelector: 'tier=web' });
      const mine = everywhere.items.filter((o) => o.metadata.namespace === ns || o.metadata.namespace === other);
      assert.deepEqual(mine.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort(), [`${ns}/a`, `${ns}/c`, `${other}/d`].sort());
      // ...and is the only namespace a cluster-scoped resource has.
      const nss = await c.list(R.namespaces, '', { fieldSelector: `metadata.name=${ns}` });
      assert.deepEqual(names(nss), [ns]);
    });

    test('update replaces the object; a stale resourceVersion is 409 Conflict', async () => {
      const ns = await namespace();
      const made = await c.create(CM, ns, configMap('a', { k: '1' }));
      const updated = await c.update(CM, ns, { ...made, data: { k: '2' } });
      assert.deepEqual(updated.data, { k: '2' });
      assert.notEqual(updated.metadata.resourceVersion, made.metadata.resourceVersion);
      assert.deepEqual(made.data, { k: '1' }, 'the object passed in is not modified');
      const e = await failure(c.update(CM, ns, { ...made, data: { k: '3' } }));
      assertApiError(
        e,
        409,
        'Conflict',
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again',
      );
      assert.deepEqual((await c.get(CM, ns, 'a')).data, { k: '2' });
    });

    test('the status subresource writes only status; the main resource ignores status', async () => {
      const ns = await namespace();
      const d = await c.create(DEPLOY, ns, deployment('web'));
      const withStatus = structuredClone(d);
      withStatus.status = { observedGeneration: 1, replicas: 1, updatedReplicas: 1 };
      withStatus.spec.replicas = 5; // ignored by a status write
      const out = await c.update(DEPLOY, ns, withStatus, { subresource: 'status' });
      assert.equal(out.status.observedGeneration, 1);
      assert.equal(out.status.replicas, 1);
      assert.equal(out.spec.replicas, 1);
      const viaSub = await c.get(DEPLOY, ns, 'web', 'status');
      assert.equal(viaSub.status.updatedReplicas, 1);

      const cur = await c.get(DEPLOY, ns, 'web');
      cur.status = { observedGeneration: 7 };
      cur.spec.replicas = 3;
      const main = await c.update(DEPLOY, ns, cur);
      assert.equal(main.spec.replicas, 3);
      assert.equal(main.status.observedGeneration, 1, 'a main-resource update keeps the stored status');
    });

    test('merge, strategic-merge and JSON patches apply with their own semantics', async () => {
      const ns = await namespace();
      await c.create(CM, ns, configMap('a', { keep: '1', drop: '2' }));
      const merged = await c.patch(CM, ns, 'a', 'merge', { data: { drop: null, add: '3' } });
      assert.deepEqual(merged.data, { keep: '1', add: '3' });
      const jsoned = await c.patch(CM, ns, 'a', 'json', [
        { op: 'replace', path: '/data/keep', value: 'x' },
        { op: 'remove', path: '/data/add' },
      ]);
      assert.deepEqual(jsoned.data, { keep: 'x' });

      await c.create(DEPLOY, ns, deployment('web'));
      // Strategic merge: containers merge by name, so `side` and main's env stay.
      const sp = await c.patch(DEPLOY, ns, 'web', 'strategic', { spec: { template: { spec: { containers: [{ name: 'main', image: 'nginx' }] } } } });
      const cs = sp.spec.template.spec.containers;
      assert.deepEqual(cs.map((x: any) => `${x.name}=${x.image}`), ['main=nginx', 'side=busybox']);
      assert.deepEqual(cs[0].env, [{ name: 'A', value: '1' }]);
      // The same body as a merge patch replaces the whole list.
      const mp = await c.patch(DEPLOY, ns, 'web', 'merge', { spec: { template: { spec: { containers: [{ name: 'only', image: 'nginx' }] } } } });
      assert.deepEqual(mp.spec.template.spec.containers.map((x: any) => x.name), ['only']);
      // A failing JSON patch test operation changes nothing.
      const e = await failure(c.patch(CM, ns, 'a', 'json', [{ op: 'test', path: '/data/keep', value: 'no' }, { op: 'remove', path: '/data/keep' }]));
      assert.equal(e.name, 'ApiError');
      assert.equal(e.code, 422);
      assert.equal(e.reason, 'Invalid');
      assert.deepEqual((await c.get(CM, ns, 'a')).data, { keep: 'x' });
    });

    test('server-side apply creates, records the manager, reports conflicts (409) and takes fields with force', async () => {
      const ns = await namespace();
      const first = await c.patch(CM, ns, 'cfg', 'apply', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '1' } }, { fieldManager: 'alice' });
      assert.deepEqual(first.data, { a: '1' });
      assert.ok(first.metadata.managedFields.some((m: any) => m.manager === 'alice' && m.operation === 'Apply'));
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '2' } };
      const e = await failure(c.patch(CM, ns, 'cfg', 'apply', body, { fieldManager: 'bob' }));
      assertApiError(e, 409, 'Conflict', /^Apply failed with 1 conflict: conflict with "alice": \.data\.a$/);
      assert.deepEqual(e.details.causes.map((x: any) => [x.reason, x.field]), [['FieldManagerConflict', '.data.a']]);
      const forced = await c.patch(CM, ns, 'cfg', 'apply', body, { fieldManager: 'bob', force: true });
      assert.deepEqual(forced.data, { a: '2' });
      const bob = forced.metadata.managedFields.find((m: any) => m.manager === 'bob');
      assert.ok(bob?.fieldsV1?.['f:data']?.['f:a'], 'bob now owns data.a');
      // A YAML body is sent as is.
      const yaml = await c.patch(CM, ns, 'cfg', 'apply', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: "2"\n  b: "3"\n', { fieldManager: 'bob' });
      assert.deepEqual(yaml.data, { a: '2', b: '3' });
    });

    test('delete removes the object; preconditions that do not match are 409 Conflict', async () => {
      const ns = await namespace();
      const made = await c.create(CM, ns, configMap('a'));
      const e = await failure(c.delete(CM, ns, 'a', { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } }));
      assertApiError(e, 409, 'Conflict', /^Operation cannot be fulfilled on configmaps "a": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: /);
      await c.delete(CM, ns, 'a', { preconditions: { uid: made.metadata.uid }, propagationPolicy: 'Background' });
      assertApiError(await failure(c.get(CM, ns, 'a')), 404, 'NotFound', 'configmaps "a" not found');
    });

    test('watch delivers ADDED, MODIFIED and DELETED in order after the listed version, filtered by selector; stop() settles done', async () => {
      const ns = await namespace();
      await c.create(CM, ns, configMap('before', {}, { w: 'yes' }));
      const list = await c.list(CM, ns);
      const all = new Recorder();
      const sel = new Recorder();
      const watches: ClientWatch[] = [];
      try {
        watches.push(await c.watch(CM, ns, { resourceVersion: list.resourceVersion }, all.onEvent));
        watches.push(await c.watch(CM, ns, { resourceVersion: list.resourceVersion, labelSelector: 'w=yes' }, sel.onEvent));
        const a = await c.create(CM, ns, configMap('a', {}, { w: 'yes' }));
        await c.create(CM, ns, configMap('b', {}, { w: 'no' }));
        const a2 = await c.patch(CM, ns, 'a', 'merge', { data: { x: '1' } });
        await c.delete(CM, ns, 'a');
        await all.until((evs) => evs.length >= 4);
        assert.deepEqual(
          all.events.map((e) => `${e.type} ${e.object.metadata.name}`),
          ['ADDED a', 'ADDED b', 'MODIFIED a', 'DELETED a'],
        );
        const rvs = all.events.map((e) => Number(e.object.metadata.resourceVersion));
        assert.deepEqual([...rvs].sort((x, y) => x - y), rvs, 'resourceVersions increase');
        assert.equal(all.events[0].object.metadata.resourceVersion, a.metadata.resourceVersion);
        assert.deepEqual(all.events[2].object.data, { x: '1' });
        assert.equal(all.events[2].object.metadata.resourceVersion, a2.metadata.resourceVersion);
        await sel.until((evs) => evs.length >= 3);
        assert.deepEqual(sel.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'MODIFIED a', 'DELETED a']);
      } finally {
        for (const w of watches) w.stop();
      }
      await Promise.all(watches.map((w) => w.done));
      // Nothing arrives after stop().
      const n = all.events.length;
      await c.create(CM, ns, configMap('after'));
      await c.get(CM, ns, 'after');
      assert.equal(all.events.length, n);
    });

    test('a watch from a version older than the watch cache window gets an ERROR 410 Expired event and then ends', async () => {
      const ns = await namespace();
      const first = await c.create(CM, ns, configMap('old'));
      // Enough writes to this resource that `first`'s version falls out of the window.
      const total = f.watchWindow + 2;
      for (let i = 0; i < total; i += 64) {
        await Promise.all(Array.from({ length: Math.min(64, total - i) }, (_, j) => c.create(CM, ns, configMap(`churn-${i + j}`))));
      }
      const rec = new Recorder();
      const w = await c.watch(CM, ns, { resourceVersion: first.metadata.resourceVersion }, rec.onEvent);
      await w.done; // ends by itself: no stop()
      assert.equal(rec.events.length, 1);
      const ev = rec.events[0];
      assert.equal(ev.type, 'ERROR');
      assert.equal(ev.object.kind, 'Status');
      assert.equal(ev.object.code, 410);
      assert.equal(ev.object.reason, 'Expired');
      assert.match(ev.object.message, new RegExp(`^too old resource version: ${first.metadata.resourceVersion} \\(\\d+\\)$`));
    });

    test('binding a pod sets spec.nodeName; binding it again is 409 Conflict', async () => {
      const ns = await namespace();
      await c.create(R.pods, ns, pod('p'));
      const binding = (node: string) => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: node } });
      const st = await c.create<any>(R.pods, ns, binding('node-1'), { subresource: 'binding' });
      assert.equal(st.kind, 'Status');
      assert.equal(st.status, 'Success');
      assert.equal((await c.get(R.pods, ns, 'p')).spec.nodeName, 'node-1');
      const e = await failure(c.create(R.pods, ns, binding('node-2'), { subresource: 'binding' }));
      assertApiError(e, 409, 'Conflict', 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "node-1"');
    });
  });
}
