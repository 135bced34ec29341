import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/memory.js';
import { bootstrap, systemContext } from '../bootstrap.js';
import { Registry } from '../registry/registry.js';
import type { UserInfo } from '../registry/strategy.js';
import { Authorizer, rulesAllow, type Attributes } from './authorizer.js';

const RBAC = 'rbac.authorization.k8s.io';

/** A bootstrapped registry (default roles included) with namespaces a and b, and an Authorizer over it. */
async function setup() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  await bootstrap(registry, { advertiseAddress: '127.0.0.1', port: 6443 });
  const ns = registry.lookup('', 'v1', 'namespaces')!;
  for (const name of ['a', 'b']) await ns.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const create = async (resource: string, obj: any) => {
    await registry.lookup(RBAC, 'v1', resource)!.create(systemContext(obj.metadata.namespace ?? ''), obj);
    // the authorizer reads the watch cache: let it catch up
    await registry.caches.fresh();
  };
  return {
    authz: new Authorizer(registry),
    create,
    async close() {
      registry.stop();
      await backend.close();
    },
  };
}

const alice: UserInfo = { name: 'alice', groups: ['system:authenticated'] };
const bob: UserInfo = { name: 'bob', groups: ['system:authenticated', 'devs'] };

function req(verb: string, resource: string, namespace = '', extra: Partial<Attributes> = {}): Attributes {
  return { verb, group: '', resource, subresource: '', namespace, name: '', ...extra };
}

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleKind: string, role: string, subjects: any[], namespace?: string): any {
  return {
    apiVersion: `${RBAC}/v1`,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: RBAC, kind: roleKind, name: role },
    subjects,
  };
}

const user = (name: string) => ({ kind: 'User', apiGroup: RBAC, name });

test('system:masters may do anything', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const admin: UserInfo = { name: 'kite-admin', groups: ['system:masters'] };
  assert.equal(env.authz.authorize(admin, req('delete', 'nodes')).allowed, true);
  assert.equal(env.authz.authorize(admin, req('create', 'pods', 'a')).allowed, true);
  assert.equal(env.authz.authorize(admin, { ...req('get', ''), path: '/metrics' }).allowed, true);
});

test('a user with no bindings is denied', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const d = env.authz.authorize(alice, req('list', 'pods', 'a'));
  assert.equal(d.allowed, false);
});

test('a user bound to the view ClusterRole can read pods everywhere but not write them or read secrets', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.create('clusterrolebindings', binding('ClusterRoleBinding', 'alice-view', 'ClusterRole', 'view', [user('alice')]));
  for (const verb of ['get', 'list', 'watch']) assert.equal(env.authz.authorize(alice, req(verb, 'pods', 'a')).allowed, true, verb);
  assert.equal(env.authz.authorize(alice, req('list', 'pods')).allowed, true, 'all namespaces');
  assert.equal(env.authz.authorize(alice, req('get', 'pods', 'b', { subresource: 'log', name: 'p' })).allowed, true);
  const d = env.authz.authorize(alice, req('list', 'deployments', 'a', { group: 'apps' }));
  assert.equal(d.allowed, true);
  assert.match(d.reason, /alice-view/);
  for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
    assert.equal(env.authz.authorize(alice, req(verb, 'pods', 'a')).allowed, false, verb);
  }
  assert.equal(env.authz.authorize(alice, req('get', 'secrets', 'a')).allowed, false);
  assert.equal(env.authz.authorize(alice, req('create', 'pods', 'a', { subresource: 'exec', name: 'p' })).allowed, false);
  // an rbac group is not the core group
  assert.equal(env.authz.authorize(alice, req('list', 'pods', 'a', { group: 'apps' })).allowed, false);
});

test('a RoleBinding grants its ClusterRole only inside its own namespace', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.create('rolebindings', binding('RoleBinding', 'alice-edit', 'ClusterRole', 'edit', [user('alice')], 'a'));
  assert.equal(env.authz.authorize(alice, req('create', 'pods', 'a')).allowed, true);
  assert.equal(env.authz.authorize(alice, req('get', 'secrets', 'a')).allowed, true);
  assert.equal(env.authz.authorize(alice, req('create', 'pods', 'b')).allowed, false);
  assert.equal(env.authz.authorize(alice, req('list', 'pods')).allowed, false, 'not across all namespaces');
  assert.equal(env.authz.authorize(alice, req('list', 'nodes')).allowed, false, 'not cluster-scoped resources');
});

test('a RoleBinding to a Role uses that namespace\'s Role', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const role = (ns: string, verbs: string[]) => ({
    apiVersion: `${RBAC}/v1`,
    kind: 'Role',
    metadata: { name: 'cm', namespace: ns },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }],
  });
  await env.create('roles', role('a', ['get']));
  await env.create('roles', role('b', ['get', 'delete']));
  await env.create('rolebindings', binding('RoleBinding', 'cm', 'Role', 'cm', [user('alice')], 'a'));
  assert.equal(env.authz.authorize(alice, req('get', 'configmaps', 'a')).allowed, true);
  // the Role of the same name in b is not bound in a, and b has no binding
  assert.equal(env.authz.authorize(alice, req('delete', 'configmaps', 'a')).allowed, false);
  assert.equal(env.authz.authorize(alice, req('get', 'configmaps', 'b')).allowed, false);
});

test('group and service account subjects', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.create('rolebindings', binding('RoleBinding', 'devs', 'ClusterRole', 'view', [{ kind: 'Group', apiGroup: RBAC, name: 'devs' }], 'a'));
  await env.create('rolebindings', binding('RoleBinding', 'sa', 'ClusterRole', 'edit', [{ kind: 'ServiceAccount', name: 'builder', namespace: 'b' }], 'b'));
  assert.equal(env.authz.authorize(bob, req('list', 'pods', 'a')).allowed, true);
  assert.equal(env.authz.authorize(alice, req('list', 'pods', 'a')).allowed, false);
  const sa: UserInfo = { name: 'system:serviceaccount:b:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:b', 'system:authenticated'] };
  assert.equal(env.authz.authorize(sa, req('create', 'pods', 'b')).allowed, true);
  const other: UserInfo = { name: 'system:serviceaccount:a:builder', groups: ['system:serviceaccounts', 'system:authenticated'] };
  assert.equal(env.authz.authorize(other, req('create', 'pods', 'b')).allowed, false);
});

test('authenticated users may read discovery but not other non-resource URLs', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  for (const path of ['/api', '/apis', '/apis/apps/v1', '/version', '/healthz']) {
    assert.equal(env.authz.authorize(alice, { ...req('get', ''), path }).allowed, true, path);
  }
  assert.equal(env.authz.authorize(alice, { ...req('get', ''), path: '/metrics' }).allowed, false);
  assert.equal(env.authz.authorize(alice, { ...req('post', ''), path: '/api' }).allowed, false);
});

test('rulesFor lists what a user may do in a namespace', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await env.create('rolebindings', binding('RoleBinding', 'alice-view', 'ClusterRole', 'view', [user('alice')], 'a'));
  const inA = env.authz.rulesFor(alice, 'a');
  assert.ok(inA.some((r) => r.resources?.includes('pods') && r.verbs?.includes('list')));
  const inB = env.authz.rulesFor(alice, 'b');
  assert.ok(!inB.some((r) => r.resources?.includes('pods')));
  const masters = env.authz.rulesFor({ name: 'x', groups: ['system:masters'] }, 'b');
  assert.ok(masters.some((r) => r.verbs?.includes('*') && r.resources?.includes('*')));
});

test('rule matching: wildcards, resourceNames and subresources (upstream RuleAllows)', () => {
  const pods = req('get', 'pods', 'a', { name: 'p1' });
  assert.equal(rulesAllow([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], pods), true);
  assert.equal(rulesAllow([{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['p1'] }], pods), true);
  assert.equal(rulesAllow([{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['p2'] }], pods), false);
  // a rule for pods does not cover pods/status, and vice versa
  const status = req('update', 'pods', 'a', { subresource: 'status', name: 'p1' });
  assert.equal(rulesAllow([{ verbs: ['update'], apiGroups: [''], resources: ['pods'] }], status), false);
  assert.equal(rulesAllow([{ verbs: ['update'], apiGroups: [''], resources: ['pods/status'] }], status), true);
  assert.equal(rulesAllow([{ verbs: ['update'], apiGroups: [''], resources: ['*/status'] }], status), true);
  assert.equal(rulesAllow([{ verbs: ['update'], apiGroups: [''], resources: ['pods/status'] }], req('update', 'pods', 'a')), false);
  // non-resource rules only match non-resource requests, with a trailing * as prefix match
  assert.equal(rulesAllow([{ verbs: ['get'], nonResourceURLs: ['/logs/*'] }], { ...req('get', ''), path: '/logs/kubelet.log' }), true);
  assert.equal(rulesAllow([{ verbs: ['get'], nonResourceURLs: ['/logs/*'] }], req('get', 'pods', 'a')), false);
  assert.equal(rulesAllow([{ verbs: ['get'], apiGroups: ['*'], resources: ['*'] }], { ...req('get', ''), path: '/healthz' }), false);
  assert.equal(rulesAllow(undefined, pods), false);
});
