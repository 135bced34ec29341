import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from './auth/certs.js';
import { Authorizer, type Attributes } from './auth/authorizer.js';
import { caHash, ensureNodeToken, formatJoinToken, nodeTokenPath, parseJoinToken, readNodeToken } from './jointoken.js';
import { ensureNodeRbac, parseJoinRequest } from './join.js';
import { startTestCluster } from '../controllers/testenv.js';
import { ApiError } from '../api/errors.js';

test('the node token is made once per data dir, owner-only, and carries the CA hash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createCa('kite-ca');
  const token = ensureNodeToken(dir, ca.cert);
  assert.match(token, /^K10[0-9a-f]{64}::node:[0-9a-f]{48}$/);
  assert.equal(ensureNodeToken(dir, ca.cert), token, 'a restart keeps the token');
  assert.equal(readNodeToken(dir), token);
  assert.equal(statSync(nodeTokenPath(dir)).mode & 0o777, 0o600);
  assert.deepEqual(parseJoinToken(token), { caHash: caHash(ca.cert), secret: token.split(':').at(-1) });
  // A new CA (the tls dir replaced): same secret, new hash.
  const other = await createCa('kite-ca');
  const again = ensureNodeToken(dir, other.cert);
  assert.equal(parseJoinToken(again)!.secret, parseJoinToken(token)!.secret);
  assert.equal(readFileSync(nodeTokenPath(dir), 'utf8').trim(), formatJoinToken(other.cert, parseJoinToken(token)!.secret));
});

test('parseJoinToken takes the full and the bare form and nothing else', () => {
  const hash = 'a'.repeat(64);
  assert.deepEqual(parseJoinToken(`K10${hash}::node:s3cr3t-s3cr3t-s3cr3t`), { caHash: hash, secret: 's3cr3t-s3cr3t-s3cr3t' });
  assert.deepEqual(parseJoinToken(' 0123456789abcdef0123 \n'), { secret: '0123456789abcdef0123' });
  for (const bad of ['', 'short', `K10${hash.slice(1)}::node:x`, 'has spaces in it, sixteen+', `K10${hash}::node:`]) assert.equal(parseJoinToken(bad), undefined, bad);
});

test('a join request needs a DNS-1123 node name and IP addresses (422 with field causes)', () => {
  assert.deepEqual(parseJoinRequest(Buffer.from('{"nodeName":"worker-1","addresses":["10.0.0.7"]}')), { nodeName: 'worker-1', addresses: ['10.0.0.7'] });
  assert.throws(() => parseJoinRequest(Buffer.from('{')), (e: ApiError) => e.code === 400 && /not JSON/.test(e.message));
  assert.throws(
    () => parseJoinRequest(Buffer.from('{"nodeName":"Worker_1","addresses":["10.0.0.300"]}')),
    (e: ApiError) => {
      assert.equal(e.code, 422);
      assert.match(e.message, /^NodeJoin\.kite\.io "Worker_1" is invalid: \[nodeName: Invalid value: "Worker_1": a lowercase RFC 1123 subdomain/);
      assert.deepEqual(e.toStatus().details?.causes?.map((c) => c.field), ['nodeName', 'addresses[0]']);
      return true;
    },
  );
  assert.throws(() => parseJoinRequest(Buffer.from('{}')), (e: ApiError) => e.toStatus().details?.causes?.[0]?.field === 'nodeName' && e.toStatus().details?.causes?.[0]?.reason === 'FieldValueRequired');
});

test('system:nodes may do what a node does and no more', async (t) => {
  const env = await startTestCluster();
  t.after(() => env.close());
  await ensureNodeRbac(env.client);
  // Idempotent: a restart brings the role back to the defaults.
  await ensureNodeRbac(env.client);
  await env.registry.caches.fresh();
  const authz = new Authorizer(env.registry);
  const node = { name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] };
  const can = (verb: string, resource: string, extra: Partial<Attributes> = {}) =>
    authz.authorize(node, { verb, group: '', resource, subresource: '', namespace: '', name: '', ...extra }).allowed;
  assert.ok(can('create', 'nodes'));
  assert.ok(can('patch', 'nodes', { subresource: 'status', name: 'w1' }));
  assert.ok(can('watch', 'pods'));
  assert.ok(can('patch', 'pods', { subresource: 'status', namespace: 'default' }));
  assert.ok(can('update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }));
  assert.ok(can('list', 'endpointslices', { group: 'discovery.k8s.io' }));
  assert.ok(can('create', 'events', { namespace: 'default' }));
  assert.ok(!can('delete', 'namespaces'));
  assert.ok(can('get', 'secrets', { namespace: 'default', name: 'pull-secret' }));
  assert.ok(!can('list', 'secrets', { namespace: 'default' }));
  assert.ok(!can('create', 'secrets', { namespace: 'default' }));
  assert.ok(!can('create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }));
  assert.ok(!can('create', 'pods', { subresource: 'exec', namespace: 'default' }));
  assert.ok(!authz.authorize({ name: 'mallory', groups: ['system:authenticated'] }, { verb: 'get', group: '', resource: 'pods', subresource: '', namespace: 'default', name: '' }).allowed);
});
