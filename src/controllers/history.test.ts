import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  controllerRevisionName,
  hashRevisionData,
  newControllerRevision,
  revisionsToPrune,
  sortRevisions,
  templateFromRevision,
  templateRevisionData,
} from './history.js';

/** A template as the API server stores it after defaulting a `kubectl create -f` manifest. */
const stored = {
  metadata: { labels: { app: 'web' }, annotations: {} },
  spec: {
    containers: [
      {
        name: 'app',
        image: 'busybox',
        command: ['sleep', '3600'],
        args: [],
        env: null,
        imagePullPolicy: 'Always',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    securityContext: {},
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
  },
};

test('revision data is the patch Go would encode: sorted keys, omitempty fields dropped, empty structs kept', () => {
  const data = templateRevisionData(stored);
  // What kubectl's getStatefulSetPatch / getDaemonSetPatch marshal for this template.
  assert.equal(
    JSON.stringify(data),
    '{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"command":["sleep","3600"],"image":"busybox","imagePullPolicy":"Always","name":"app","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}',
  );
  // The same template from a client that writes Go's zero values gives the same data (and hash).
  const goClient = structuredClone(stored) as any;
  goClient.metadata = { creationTimestamp: null, labels: { app: 'web' } };
  delete goClient.spec.containers[0].args;
  delete goClient.spec.containers[0].env;
  goClient.spec.containers[0].resources = {};
  assert.deepEqual(templateRevisionData(goClient), data);
  assert.equal(hashRevisionData(templateRevisionData(goClient), 0), hashRevisionData(data, 0));
  // Label values are map entries: an empty one stays.
  const empty = templateRevisionData({ metadata: { labels: { a: '' } }, spec: { containers: [] } }) as any;
  assert.deepEqual(empty.spec.template.metadata.labels, { a: '' });
});

test('templateFromRevision gives back the template without the patch directive', () => {
  const t = templateFromRevision({ data: templateRevisionData(stored) });
  assert.equal(t.$patch, undefined);
  assert.deepEqual(t.metadata, { creationTimestamp: null, labels: { app: 'web' } });
  assert.equal(t.spec.containers[0].image, 'busybox');
  assert.equal(templateFromRevision({ data: { x: 1 } }), undefined);
});

test('hashes are FNV-32 of the data and collision count, safe-encoded; names keep at most 223 characters of the owner', () => {
  const data = templateRevisionData(stored);
  const h0 = hashRevisionData(data, 0);
  assert.match(h0, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  assert.notEqual(hashRevisionData(data, 1), h0);
  assert.equal(hashRevisionData(data, 0), h0);
  assert.equal(controllerRevisionName('web', h0), `web-${h0}`);
  assert.equal(controllerRevisionName('x'.repeat(300), 'abc'), `${'x'.repeat(223)}-abc`);
});

test('a new revision carries the template labels, the hash label, the owner annotations and a controller reference', () => {
  const owner = {
    metadata: { name: 'web', namespace: 'ns', uid: 'u1', annotations: { 'kubernetes.io/change-cause': 'kubectl set image' } },
    spec: { template: { metadata: { labels: { app: 'web' } } } },
  };
  const rev = newControllerRevision({ owner, apiVersion: 'apps/v1', kind: 'StatefulSet', data: { a: 1 }, revision: 3, hash: 'h4sh' });
  assert.deepEqual(rev, {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: 'web-h4sh',
      namespace: 'ns',
      labels: { app: 'web', 'controller-revision-hash': 'h4sh' },
      annotations: { 'kubernetes.io/change-cause': 'kubectl set image' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }],
    },
    data: { a: 1 },
    revision: 3,
  });
});

test('revisions sort by number, then age, then name; pruning removes the oldest unused ones down to the limit', () => {
  const rev = (name: string, revision: number, created = '2025-01-01T00:00:00Z') => ({ metadata: { name, creationTimestamp: created }, revision });
  const sorted = sortRevisions([rev('c', 2), rev('b', 1, '2025-01-02T00:00:00Z'), rev('a', 1, '2025-01-02T00:00:00Z'), rev('z', 1)]);
  assert.deepEqual(sorted.map((r) => r.metadata.name), ['z', 'a', 'b', 'c']);

  const history = [rev('r1', 1), rev('r2', 2), rev('r3', 3), rev('r4', 4)];
  assert.deepEqual(revisionsToPrune(history, 2, () => false).map((r) => r.metadata.name), ['r1', 'r2']);
  // A revision still in use is skipped and the next one goes instead.
  assert.deepEqual(revisionsToPrune(history, 2, (r) => r.metadata.name === 'r1').map((r) => r.metadata.name), ['r2', 'r3']);
  assert.deepEqual(revisionsToPrune(history, 10, () => false), []);
  assert.deepEqual(revisionsToPrune(history, -1, () => false), []);
});
