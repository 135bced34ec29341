import { test } from 'node:test';
import assert from 'node:assert/strict';
import { managedHostsFile } from './hosts.js';

test('the managed hosts file names the pod by its IP, with its FQDN under a subdomain, then host aliases', () => {
  const plain = managedHostsFile({ metadata: { name: 'web-1', namespace: 'ml' }, spec: {} }, '10.244.0.7');
  assert.ok(plain.startsWith('# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n'));
  assert.ok(plain.endsWith('10.244.0.7\tweb-1\n'));
  const sub = managedHostsFile(
    { metadata: { name: 'p', namespace: 'ml' }, spec: { hostname: 'worker-0', subdomain: 'trainers', hostAliases: [{ ip: '10.0.0.9', hostnames: ['db', 'db.local'] }] } },
    '10.244.0.8',
  );
  assert.match(sub, /\n10\.244\.0\.8\tworker-0\.trainers\.ml\.svc\.cluster\.local\tworker-0\n/);
  assert.match(sub, /# Entries added by HostAliases\.\n10\.0\.0\.9\tdb\tdb\.local\n$/);
});
