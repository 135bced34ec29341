import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../api/errors.js';
import { MemoryBackend } from '../storage/memory.js';
import { systemContext } from '../apiserver/bootstrap.js';
import { Registry } from '../apiserver/registry/registry.js';
import type { CacheEvent } from '../apiserver/registry/cache.js';
import type { Store } from '../apiserver/registry/store.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { NamespaceController } from './namespace.js';

async function setup() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const store = (group: string, resource: string): Store => registry.lookup(group, 'v1', resource)!;
  const namespaces = store('', 'namespaces');

  /** Resolves on the first event of `s` (under `prefix`) that satisfies `pred`. */
  const nextEvent = (s: Store, pred: (ev: CacheEvent) => boolean): Promise<CacheEvent> => {
    const cache = registry.caches.cache(s.prefix);
    return new Promise((resolve) => {
      const l = {
        prefix: s.prefix,
        onEvent: (ev: CacheEvent) => {
          if (!pred(ev)) return;
          cache.listeners.delete(l);
          resolve(ev);
        },
      };
      cache.listeners.add(l);
    });
  };
  const nsGone = (name: string) => nextEvent(namespaces, (ev) => ev.type === 'DELETED' && ev.obj.metadata.name === name);

  let controller: NamespaceController | undefined;
  const client = new InProcessClient(registry, { name: 'system:kube-controller-manager', groups: [] }, 'namespace-controller');
  const informers = new InformerFactory(client);
  return {
    registry,
    store,
    namespaces,
    nextEvent,
    nsGone,
    async startController() {
      controller = new NamespaceController({ client, informers, resources: () => registry.resources(), retryMs: 50 });
      await controller.start();
    },
    async close() {
      controller?.stop();
      informers.stop();
      registry.stop();
      await backend.close();
    },
  };
}

const cm = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { k: 'v' } });

async function isGone(s: Store, ns: string, name: string): Promise<boolean> {
  try {
    await s.get(ns, name);
    return false;
  } catch (e) {
    if (e instanceof ApiError && e.code === 404) return true;
    throw e;
  }
}

test('deleting a namespace deletes its content, then the namespace', { timeout: 20_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.startController();
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keep' } });
  const configmaps = env.store('', 'configmaps');
  const deployments = env.store('apps', 'deployments');
  await configmaps.create(systemContext('team'), cm('a'));
  await configmaps.create(systemContext('team'), cm('b'));
  await configmaps.create(systemContext('keep'), cm('a'));
  await deployments.create(systemContext('team'), {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
  });

  const gone = env.nsGone('team');
  const d = await env.namespaces.delete(systemContext(), 'team', {});
  assert.equal(d.obj.status.phase, 'Terminating');
  await gone;

  assert.deepEqual((await configmaps.list('team', {})).items, []);
  assert.deepEqual((await deployments.list('team', {})).items, []);
  assert.equal(await isGone(env.namespaces, '', 'team'), true);
  // other namespaces are untouched
  assert.deepEqual((await configmaps.list('keep', {})).items.map((o) => o.metadata.name), ['a']);
  assert.equal(await isGone(env.namespaces, '', 'keep'), false);
});

test('a namespace waits for content held by finalizers and goes once it is released', { timeout: 20_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.startController();
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  const configmaps = env.store('', 'configmaps');
  await configmaps.create(systemContext('team'), cm('held', { finalizers: ['example.com/hold'] }));

  const marked = env.nextEvent(configmaps, (ev) => ev.type === 'MODIFIED' && !!ev.obj.metadata.deletionTimestamp);
  const gone = env.nsGone('team');
  await env.namespaces.delete(systemContext(), 'team', {});
  await marked;
  // the controller has asked for the content to go; the namespace must still be there while it is held
  const ns = await env.namespaces.get('', 'team');
  assert.equal(ns.status.phase, 'Terminating');
  assert.deepEqual(ns.spec.finalizers, ['kubernetes']);

  const held = await configmaps.get('team', 'held');
  held.metadata.finalizers = [];
  await configmaps.update(systemContext('team'), 'held', held);
  await gone;
  assert.equal(await isGone(configmaps, 'team', 'held'), true);
});

test('running pods hold the namespace until their node confirms deletion', { timeout: 20_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.startController();
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  const pods = env.store('', 'pods');
  await pods.create(systemContext('team'), {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'x' }] },
  });
  const terminating = env.nextEvent(pods, (ev) => ev.type === 'MODIFIED' && !!ev.obj.metadata.deletionTimestamp);
  const gone = env.nsGone('team');
  await env.namespaces.delete(systemContext(), 'team', {});
  const ev = await terminating;
  assert.equal(ev.obj.metadata.deletionGracePeriodSeconds, 30);
  assert.equal(await isGone(env.namespaces, '', 'team'), false);
  // what the kubelet does once the containers are stopped
  await pods.delete(systemContext('team'), 'p', { gracePeriodSeconds: 0 });
  await gone;
});

test('a namespace already terminating when the controller starts is finalized', { timeout: 20_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'old' } });
  await env.store('', 'configmaps').create(systemContext('old'), cm('a'));
  await env.namespaces.delete(systemContext(), 'old', {});
  await env.registry.caches.fresh();
  assert.equal(await isGone(env.namespaces, '', 'old'), false, 'nothing finalizes without the controller');
  const gone = env.nsGone('old');
  await env.startController();
  await gone;
  assert.deepEqual((await env.store('', 'configmaps').list('old', {})).items, []);
});

test('a terminating namespace reports what remains in upstream status conditions', { timeout: 20_000 }, async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.startController();
  await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  const configmaps = env.store('', 'configmaps');
  await configmaps.create(systemContext('team'), cm('held', { finalizers: ['example.com/hold'] }));
  const reported = env.nextEvent(env.namespaces, (ev) =>
    ev.type === 'MODIFIED' && (ev.obj.status?.conditions ?? []).some((c: any) => c.type === 'NamespaceFinalizersRemaining' && c.status === 'True'),
  );
  await env.namespaces.delete(systemContext(), 'team', {});
  const ns = (await reported).obj;
  const byType = Object.fromEntries(ns.status.conditions.map((c: any) => [c.type, c]));
  assert.deepEqual(
    { status: byType.NamespaceContentRemaining.status, reason: byType.NamespaceContentRemaining.reason, message: byType.NamespaceContentRemaining.message },
    { status: 'True', reason: 'SomeResourcesRemain', message: 'Some resources are remaining: configmaps. has 1 resource instances' },
  );
  assert.equal(byType.NamespaceFinalizersRemaining.reason, 'SomeFinalizerRemain');
  assert.equal(byType.NamespaceFinalizersRemaining.message, 'Some finalizers are remaining: example.com/hold in 1 resource instances');
  assert.equal(byType.NamespaceDeletionContentFailure.status, 'False');
  assert.equal(byType.NamespaceDeletionContentFailure.reason, 'ContentDeleted');
  assert.equal(byType.NamespaceDeletionDiscoveryFailure.message, 'All resources successfully discovered');
});
