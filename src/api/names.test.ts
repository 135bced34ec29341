import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDNS1123Label, isDNS1123Subdomain, isDNS1035Label, isQualifiedName, nameValidatorFor, validatePathSegmentName } from './names.js';

test('DNS-1123 subdomain message', () => {
  assert.deepEqual(isDNS1123Subdomain('example.com'), []);
  assert.deepEqual(isDNS1123Subdomain('Bad_Name'), [
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  ]);
  assert.equal(isDNS1123Subdomain('a'.repeat(254))[0], 'must be no more than 253 characters');
});

test('DNS-1123 label and DNS-1035 label messages', () => {
  assert.deepEqual(isDNS1123Label('my-name'), []);
  assert.deepEqual(isDNS1123Label('a.b'), ['must not contain dots']);
  assert.deepEqual(isDNS1123Label('-x'), [
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
  ]);
  assert.deepEqual(isDNS1035Label('1abc'), [
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
  ]);
});

test('qualified names', () => {
  assert.deepEqual(isQualifiedName('example.com/MyName'), []);
  assert.deepEqual(isQualifiedName('/x'), ['prefix part must be non-empty']);
  assert.match(isQualifiedName('a/b/c')[0]!, /^a qualified name must consist of/);
});

test('per-resource name validators', () => {
  assert.deepEqual(nameValidatorFor('', 'namespaces')('a.b', false), ['must not contain dots']);
  assert.match(nameValidatorFor('', 'services')('1svc', false)[0]!, /^a DNS-1035 label/);
  assert.deepEqual(nameValidatorFor('', 'pods')('a.b', false), []);
  assert.deepEqual(nameValidatorFor('rbac.authorization.k8s.io', 'clusterroles')('system:admin', false), []);
  assert.deepEqual(validatePathSegmentName('a/b', false), ["may not contain '/'"]);
  assert.deepEqual(validatePathSegmentName('..', false), ["may not be '..'"]);
  // generateName may end with a dash
  assert.deepEqual(nameValidatorFor('', 'pods')('web-', true), []);
});
