import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestInfo } from './requestinfo.js';

/** Parses a URL (path + query) the way the server does. */
function info(method: string, url: string) {
  const u = new URL(url, 'https://localhost');
  return parseRequestInfo(method, u.pathname, u.searchParams);
}

/** The fields authorization and routing depend on. */
function pick(method: string, url: string) {
  const i = info(method, url);
  return {
    verb: i.verb,
    apiPrefix: i.apiPrefix,
    group: i.group,
    version: i.version,
    namespace: i.namespace,
    resource: i.resource,
    name: i.name,
    subresource: i.subresource,
  };
}

test('a pod status request names the pod, its namespace and the status subresource', () => {
  assert.deepEqual(pick('GET', '/api/v1/namespaces/ns/pods/x/status'), {
    verb: 'get',
    apiPrefix: 'api',
    group: '',
    version: 'v1',
    namespace: 'ns',
    resource: 'pods',
    name: 'x',
    subresource: 'status',
  });
  assert.equal(pick('PUT', '/api/v1/namespaces/ns/pods/x/status').verb, 'update');
  assert.equal(pick('PATCH', '/api/v1/namespaces/ns/pods/x/status').verb, 'patch');
});

test('/api/v1/namespaces/x addresses the Namespace object x, not content of a namespace', () => {
  const i = pick('GET', '/api/v1/namespaces/x');
  assert.equal(i.resource, 'namespaces');
  assert.equal(i.name, 'x');
  assert.equal(i.subresource, '');
  assert.equal(i.verb, 'get');
  // as upstream: the Namespace's own name is the request's namespace (RBAC scoping)
  assert.equal(i.namespace, 'x');
  assert.equal(pick('DELETE', '/api/v1/namespaces/x').verb, 'delete');
});

test('namespace status and finalize are subresources of the Namespace', () => {
  for (const sub of ['status', 'finalize']) {
    const i = pick('PUT', `/api/v1/namespaces/x/${sub}`);
    assert.equal(i.resource, 'namespaces');
    assert.equal(i.name, 'x');
    assert.equal(i.subresource, sub);
    assert.equal(i.verb, 'update');
  }
});

test('listing namespaces and creating one', () => {
  const { verb, resource, name, namespace } = pick('GET', '/api/v1/namespaces');
  assert.deepEqual({ verb, resource, name, namespace }, { verb: 'list', resource: 'namespaces', name: '', namespace: '' });
  assert.equal(pick('POST', '/api/v1/namespaces').verb, 'create');
});

test('the /watch/ prefix makes a watch of a group resource in a namespace', () => {
  assert.deepEqual(pick('GET', '/apis/apps/v1/watch/namespaces/ns/deployments'), {
    verb: 'watch',
    apiPrefix: 'apis',
    group: 'apps',
    version: 'v1',
    namespace: 'ns',
    resource: 'deployments',
    name: '',
    subresource: '',
  });
  const named = pick('GET', '/apis/apps/v1/watch/namespaces/ns/deployments/web');
  assert.equal(named.verb, 'watch');
  assert.equal(named.name, 'web');
  assert.equal(pick('GET', '/api/v1/watch/pods').verb, 'watch');
  assert.equal(pick('GET', '/api/v1/watch/pods').namespace, '');
});

test('?watch=true on a collection GET is a watch; false-like values are a list', () => {
  assert.equal(pick('GET', '/api/v1/namespaces/ns/pods?watch=true').verb, 'watch');
  assert.equal(pick('GET', '/api/v1/pods?watch=1').verb, 'watch');
  // upstream's bool query conversion treats anything but 0/f/false/n/no as true
  assert.equal(pick('GET', '/api/v1/pods?watch=True').verb, 'watch');
  for (const v of ['false', '0', 'False', 'no']) assert.equal(pick('GET', `/api/v1/pods?watch=${v}`).verb, 'list', v);
  assert.equal(pick('GET', '/api/v1/pods').verb, 'list');
});

test('?watch=true on a named GET stays a get, as upstream', () => {
  assert.equal(pick('GET', '/api/v1/namespaces/ns/pods/x?watch=true').verb, 'get');
});

test('DELETE of a collection is deletecollection; of an object, delete', () => {
  assert.equal(pick('DELETE', '/api/v1/namespaces/ns/pods').verb, 'deletecollection');
  assert.equal(pick('DELETE', '/apis/apps/v1/namespaces/ns/deployments').verb, 'deletecollection');
  assert.equal(pick('DELETE', '/api/v1/namespaces/ns/pods/x').verb, 'delete');
  assert.equal(pick('DELETE', '/api/v1/nodes').verb, 'deletecollection');
});

test('cluster-scoped resources have no namespace', () => {
  const i = pick('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/view');
  assert.equal(i.group, 'rbac.authorization.k8s.io');
  assert.equal(i.namespace, '');
  assert.equal(i.resource, 'clusterroles');
  assert.equal(i.name, 'view');
  assert.equal(i.verb, 'get');
});

test('HEAD reads like GET', () => {
  assert.equal(pick('HEAD', '/api/v1/namespaces/ns/pods/x').verb, 'get');
  assert.equal(pick('HEAD', '/api/v1/namespaces/ns/pods').verb, 'list');
});

test('discovery and non-API paths are not resource requests', () => {
  for (const p of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/healthz', '/version', '/openapi/v2']) {
    assert.equal(info('GET', p).isResourceRequest, false, p);
  }
  const h = info('GET', '/healthz');
  assert.equal(h.verb, 'get');
  assert.equal(h.apiPrefix, '');
  assert.equal(info('GET', '/api/v1/pods').isResourceRequest, true);
});

test('percent-encoded path segments are decoded', () => {
  const i = pick('GET', '/api/v1/namespaces/ns/configmaps/a%3Ab');
  assert.equal(i.name, 'a:b');
});
