/**
 * The official JavaScript client (`@kubernetes/client-node`) against a real
 * `kite server`: it loads the kubeconfig Kite writes, lists, watches, runs an
 * informer, and keeps its informer's cache current through a server restart
 * (list + watch again, including the 410 a resumed watch gets after it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { KiteServer } from './harness.js';

let server: KiteServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  await server?.cleanup();
});

/** A ConfigMap body. */
function cm(name: string, data: Record<string, string>): k8s.V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

/** A queue of events that a test can await one by one, in order. */
class EventQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((v: T) => void)[] = [];

  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }

  /** The next event (fails after 15 s). */
  next(what: string): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1);
        reject(new Error(`timed out waiting for ${what}`));
      }, 15_000);
      const done = (x: T) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(done);
    });
  }

  /** Skips events until one satisfies `pred`. */
  async until(pred: (v: T) => boolean, what: string): Promise<T> {
    for (;;) {
      const v = await this.next(what);
      if (pred(v)) return v;
    }
  }
}

test('loads the kubeconfig Kite writes and lists namespaces and configmaps', async () => {
  assert.equal(kc.getCurrentCluster()?.server, server.serverUrl());
  const nss = await core.listNamespace();
  const names = nss.items.map((n) => n.metadata?.name);
  for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(n), `${n} in ${names}`);
  assert.equal(nss.items.find((n) => n.metadata?.name === 'default')?.status?.phase, 'Active');

  await core.createNamespace({ body: { metadata: { name: 'cn-list' } } });
  const created = await core.createNamespacedConfigMap({ namespace: 'cn-list', body: cm('one', { a: '1' }) });
  assert.ok(created.metadata?.uid);
  const list = await core.listNamespacedConfigMap({ namespace: 'cn-list' });
  assert.deepEqual(list.items.map((c) => [c.metadata?.name, c.data]), [['one', { a: '1' }]]);
  assert.ok(Number(list.metadata?.resourceVersion) >= Number(created.metadata?.resourceVersion));
  // A typed error for a missing object: 404 with the upstream Status message.
  await assert.rejects(core.readNamespacedConfigMap({ namespace: 'cn-list', name: 'nope' }), (e: any) => {
    assert.equal(e.code, 404);
    assert.match(String(e.body), /configmaps \\?"nope\\?" not found/);
    return true;
  });
});

test('Watch on configmaps receives ADDED, MODIFIED and DELETED', async () => {
  const ns = 'cn-watch';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const start = await core.listNamespacedConfigMap({ namespace: ns });
  const events = new EventQueue<{ type: string; obj: any }>();
  const watch = new k8s.Watch(kc);
  const ended = new EventQueue<unknown>();
  const req = await watch.watch(
    `/api/v1/namespaces/${ns}/configmaps`,
    { resourceVersion: start.metadata?.resourceVersion },
    (type, obj) => events.push({ type, obj }),
    (err) => ended.push(err ?? 'closed'),
  );
  try {
    await core.createNamespacedConfigMap({ namespace: ns, body: cm('w', { v: '1' }) });
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'w', body: cm('w', { v: '2' }) });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'w' });
    const a = await events.next('ADDED');
    const m = await events.next('MODIFIED');
    const d = await events.next('DELETED');
    assert.deepEqual([a.type, m.type, d.type], ['ADDED', 'MODIFIED', 'DELETED']);
    assert.deepEqual([a.obj.data, m.obj.data], [{ v: '1' }, { v: '2' }]);
    assert.equal(d.obj.metadata.name, 'w');
    assert.ok(Number(m.obj.metadata.resourceVersion) > Number(a.obj.metadata.resourceVersion));
  } finally {
    req.abort();
  }
});

// Last in this file: it restarts the server.
test('an informer sees add, update and delete, and recovers across a server restart', async () => {
  const ns = 'cn-informer';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('existing', { a: '0' }) });
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
  const events = new EventQueue<{ type: string; obj: k8s.V1ConfigMap }>();
  informer.on('add', (obj) => events.push({ type: 'add', obj }));
  informer.on('update', (obj) => events.push({ type: 'update', obj }));
  informer.on('delete', (obj) => events.push({ type: 'delete', obj }));
  // client-node's informer stops on a connection error; as its docs show, the owner
  // restarts it. Restart at once while the server is up, or as soon as it is back.
  let serverUp = true;
  let restartPending = false;
  let stopped = false;
  const restartInformer = () => {
    if (stopped) return;
    if (serverUp) void informer.start().catch(() => undefined);
    else restartPending = true;
  };
  informer.on('error', restartInformer);
  await informer.start();
  try {
    const first = await events.next('the initial add');
    assert.deepEqual([first.type, first.obj.metadata?.name], ['add', 'existing']);

    await core.createNamespacedConfigMap({ namespace: ns, body: cm('x', { v: '1' }) });
    assert.deepEqual(await events.next('add x').then((e) => [e.type, e.obj.metadata?.name, e.obj.data]), ['add', 'x', { v: '1' }]);
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'x', body: cm('x', { v: '2' }) });
    assert.deepEqual(await events.next('update x').then((e) => [e.type, e.obj.metadata?.name, e.obj.data]), ['update', 'x', { v: '2' }]);
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'existing' });
    assert.deepEqual(await events.next('delete existing').then((e) => [e.type, e.obj.metadata?.name]), ['delete', 'existing']);
    assert.deepEqual(informer.list(ns).map((o) => o.metadata?.name), ['x']);

    // Restart on the same data dir and the same port, so the loaded kubeconfig stays valid.
    const port = new URL(server.serverUrl()).port;
    serverUp = false;
    assert.equal(await server.stop('SIGTERM'), 0);
    server.opts.extraArgs = ['--port', port];
    await server.start();
    assert.equal(new URL(server.serverUrl()).port, port);
    serverUp = true;
    if (restartPending) {
      restartPending = false;
      restartInformer();
    }

    // A change made after the restart reaches the informer's handlers and cache.
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'x', body: cm('x', { v: '3' }) });
    await core.createNamespacedConfigMap({ namespace: ns, body: cm('after-restart', { v: '1' }) });
    const upd = await events.until((e) => e.type === 'update' && e.obj.data?.v === '3', 'update x to v=3 after the restart');
    assert.equal(upd.obj.metadata?.name, 'x');
    await events.until((e) => e.type === 'add' && e.obj.metadata?.name === 'after-restart', 'add after-restart');
    assert.deepEqual(informer.list(ns).map((o) => o.metadata?.name).sort(), ['after-restart', 'x']);
    assert.equal(informer.get('x', ns)?.data?.v, '3');
  } finally {
    stopped = true;
    await informer.stop();
  }
});
