import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerExpectations, EXPECTATIONS_TIMEOUT_MS, computeHash, podFromTemplate, podsToDelete, safeEncodeString } from './controllerutil.js';

test('computeHash: stable, key-order independent, changed by the collision count, in the SafeEncodeString alphabet', () => {
  const t1 = { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'a', image: 'x' }] } };
  const t2 = { spec: { containers: [{ image: 'x', name: 'a' }] }, metadata: { labels: { tier: 'fe', app: 'web' } } };
  const h = computeHash(t1);
  assert.equal(h, computeHash(t2));
  assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  assert.notEqual(computeHash(t1, 1), h);
  assert.notEqual(computeHash({ ...t1, spec: { containers: [{ name: 'a', image: 'y' }] } }), h);
  // upstream: the decimal digits of the FNV sum map to 4 5 6 7 8 9 b c d f.
  assert.equal(safeEncodeString('0123456789'), '456789bcdf');
});

test('podFromTemplate: generateName, labels, annotations and the controller reference', () => {
  const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true };
  const pod = podFromTemplate({ metadata: { labels: { app: 'web' }, annotations: { a: 'b' } }, spec: { containers: [] } }, { metadata: { name: 'web' } }, ref);
  assert.deepEqual(pod.metadata, { generateName: 'web-', labels: { app: 'web' }, annotations: { a: 'b' }, ownerReferences: [ref] });
  assert.throws(() => podFromTemplate({ metadata: {}, spec: {} }, { metadata: { name: 'web' } }, ref), /no labels/);
});

test('podsToDelete: unscheduled, then pending, then not ready, then doubled-up nodes, then the newest', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  const ready = { type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T10:00:00Z' };
  const pod = (name: string, nodeName: string, phase: string, isReady: boolean, created = '2025-01-01T09:00:00Z') => ({
    metadata: { name, uid: name, creationTimestamp: created },
    spec: { nodeName },
    status: { phase, conditions: isReady ? [ready] : [] },
  });
  const pods = [
    pod('ready-old', 'n1', 'Running', true, '2024-12-01T00:00:00Z'),
    pod('unscheduled', '', 'Pending', false),
    pod('ready-new', 'n2', 'Running', true, '2025-01-01T11:59:00Z'),
    pod('pending', 'n1', 'Pending', false),
    pod('notready', 'n2', 'Running', false),
  ];
  const order = podsToDelete(pods, pods, 4, now).map((p) => p.metadata.name);
  assert.deepEqual(order, ['unscheduled', 'pending', 'notready', 'ready-new']);
  // Two ready pods alike but for their node: the one sharing its node with more related pods goes first.
  const a = pod('a', 'crowded', 'Running', true);
  const b = pod('b', 'alone', 'Running', true);
  const related = [a, pod('c', 'crowded', 'Running', true), b];
  assert.deepEqual(podsToDelete([b, a], related, 1, now).map((p) => p.metadata.name), ['a']);
});

test('expectations hold a controller back until its creations and deletions are observed, or time out', () => {
  let now = 0;
  const e = new ControllerExpectations(() => now);
  assert.equal(e.satisfied('ns/rs'), true);
  e.expectCreations('ns/rs', 2);
  assert.equal(e.satisfied('ns/rs'), false);
  e.creationObserved('ns/rs');
  e.creationObserved('ns/rs');
  assert.equal(e.satisfied('ns/rs'), true);
  e.expectDeletions('ns/rs', ['ns/p1']);
  e.deletionObserved('ns/rs', 'ns/other');
  assert.equal(e.satisfied('ns/rs'), false);
  now += EXPECTATIONS_TIMEOUT_MS + 1;
  assert.equal(e.satisfied('ns/rs'), true);
});
