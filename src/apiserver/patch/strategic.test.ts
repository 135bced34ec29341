import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { definitions } from '../../api/generated/schema.js';
import { SchemaResolver } from '../../api/schema.js';
import { applyStrategicMergePatch } from './strategic.js';

const resolver = new SchemaResolver(definitions);
const POD = { $ref: '#/definitions/io.k8s.api.core.v1.Pod' };
const DEPLOYMENT = { $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' };

/** Applies a patch to a Pod and checks that neither input was touched. */
function patchPod(doc: unknown, patch: unknown): any {
  return patchChecked(doc, patch, POD);
}

function patchChecked(doc: unknown, patch: unknown, schema: { $ref: string }): any {
  const docCopy = structuredClone(doc);
  const patchCopy = structuredClone(patch);
  const out = applyStrategicMergePatch(doc, patch, resolver, schema);
  assert.deepEqual(doc, docCopy, 'document was mutated');
  assert.deepEqual(patch, patchCopy, 'patch was mutated');
  return out;
}

function assertApiError(fn: () => unknown, code: number, reason: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.reason, reason);
    assert.equal(e.message, message);
    return true;
  });
}

const pod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web', tier: 'frontend' }, finalizers: ['a/one', 'b/two'] },
  spec: {
    containers: [
      {
        name: 'app',
        image: 'nginx:1.25',
        env: [
          { name: 'MODE', value: 'prod' },
          { name: 'DEBUG', value: '0' },
        ],
        ports: [
          { containerPort: 80, protocol: 'TCP', name: 'http' },
          { containerPort: 443, protocol: 'TCP', name: 'https' },
        ],
      },
      { name: 'sidecar', image: 'envoy:1' },
    ],
    volumes: [
      { name: 'cache', emptyDir: {} },
      { name: 'conf', configMap: { name: 'web-conf' } },
    ],
    tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }],
    nodeSelector: { zone: 'a', disk: 'ssd' },
  },
});

test('containers merge by name: a patched container changes, the others stay', () => {
  const out = patchPod(pod(), { spec: { containers: [{ name: 'sidecar', image: 'envoy:2' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => [c.name, c.image]),
    [
      ['app', 'nginx:1.25'],
      ['sidecar', 'envoy:2'],
    ],
  );
  assert.equal(out.spec.containers[0].env.length, 2, 'untouched container keeps its fields');
});

test('env merges by name and ports by containerPort', () => {
  const out = patchPod(pod(), {
    spec: {
      containers: [
        {
          name: 'app',
          env: [{ name: 'DEBUG', value: '1' }, { name: 'NEW', value: 'x' }],
          ports: [{ containerPort: 443, name: 'tls' }],
        },
      ],
    },
  });
  const app = out.spec.containers[0];
  assert.deepEqual(
    app.env.map((e: any) => [e.name, e.value]).sort(),
    [
      ['DEBUG', '1'],
      ['MODE', 'prod'],
      ['NEW', 'x'],
    ],
  );
  assert.deepEqual(app.ports, [
    { containerPort: 80, protocol: 'TCP', name: 'http' },
    { containerPort: 443, protocol: 'TCP', name: 'tls' },
  ]);
});

test('$patch: delete removes a container by name', () => {
  const out = patchPod(pod(), { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['app'],
  );
});

test('the patch kubectl apply sends to drop an env var and change the image', () => {
  // What `kubectl apply` computes when DEBUG is removed from the manifest and the image bumped.
  const patch = {
    spec: {
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [
        {
              '$setElementOrder/env': [{ name: 'MODE' }],
          env: [{ $patch: 'delete', name: 'DEBUG' }],
          image: 'nginx:1.27',
          name: 'app',
        },
      ],
    },
  };
  const out = patchPod(pod(), patch);
  assert.equal(out.spec.containers[0].image, 'nginx:1.27');
  assert.deepEqual(out.spec.containers[0].env, [{ name: 'MODE', value: 'prod' }]);
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['app', 'sidecar'],
  );
  assert.ok(!JSON.stringify(out).includes('$'), 'no directive is left in the result');
});

test('$setElementOrder orders the merged list; a server-only item stays before the live items it preceded', () => {
  const doc = pod();
  doc.spec.containers.splice(1, 0, { name: 'injected', image: 'mesh:1' }); // live: app, injected, sidecar
  const kept = patchPod(doc, { spec: { '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }] } });
  assert.deepEqual(
    kept.spec.containers.map((c: any) => c.name),
    ['app', 'injected', 'sidecar'],
  );
  const reordered = patchPod(doc, {
    spec: {
      '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'app' }, { name: 'extra' }],
      containers: [{ name: 'extra', image: 'busybox' }],
    },
  });
  assert.deepEqual(
    reordered.spec.containers.map((c: any) => c.name),
    // upstream's mergeSortedSlice: injected preceded sidecar in the live list, so it goes first.
    ['injected', 'sidecar', 'app', 'extra'],
  );
});

test('without $setElementOrder, new list items are placed before the live ones (upstream order rule)', () => {
  const out = patchPod(pod(), { spec: { containers: [{ name: 'extra', image: 'busybox' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['extra', 'app', 'sidecar'],
  );
});

test('volumes merge by name and $retainKeys switches the volume source', () => {
  const out = patchPod(pod(), {
    spec: { volumes: [{ name: 'cache', $retainKeys: ['configMap', 'name'], configMap: { name: 'cache-cm' } }] },
  });
  assert.deepEqual(out.spec.volumes, [
    { name: 'cache', configMap: { name: 'cache-cm' } },
    { name: 'conf', configMap: { name: 'web-conf' } },
  ]);
});

test('deployment strategy: $retainKeys drops rollingUpdate when switching to Recreate', () => {
  const deploy = {
    spec: {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    },
  };
  const withRetain = patchChecked(deploy, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, DEPLOYMENT);
  assert.deepEqual(withRetain.spec.strategy, { type: 'Recreate' });
  // A plain patch (kubectl patch) only merges, exactly as upstream: rollingUpdate survives.
  const plain = patchChecked(deploy, { spec: { strategy: { type: 'Recreate' } } }, DEPLOYMENT);
  assert.deepEqual(plain.spec.strategy, { type: 'Recreate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
  assert.equal(plain.spec.replicas, 2);
});

test('labels: null deletes a key, new keys are added, others kept', () => {
  const out = patchPod(pod(), { metadata: { labels: { tier: null, env: 'prod', missing: null } } });
  assert.deepEqual(out.metadata.labels, { app: 'web', env: 'prod' });
});

test('tolerations have no merge strategy: the patch list replaces the live one', () => {
  const out = patchPod(pod(), { spec: { tolerations: [{ key: 'spot', operator: 'Exists' }] } });
  assert.deepEqual(out.spec.tolerations, [{ key: 'spot', operator: 'Exists' }]);
});

test('finalizers (merge strategy, primitives) are unioned and $deleteFromPrimitiveList removes items', () => {
  const added = patchPod(pod(), { metadata: { finalizers: ['b/two', 'c/three'] } });
  assert.deepEqual(added.metadata.finalizers, ['a/one', 'b/two', 'c/three']);
  const removed = patchPod(pod(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['a/one', 'zzz'] } });
  assert.deepEqual(removed.metadata.finalizers, ['b/two']);
  const both = patchPod(pod(), {
    metadata: { '$setElementOrder/finalizers': ['c/three', 'b/two'], '$deleteFromPrimitiveList/finalizers': ['a/one'], finalizers: ['c/three'] },
  });
  assert.deepEqual(both.metadata.finalizers, ['c/three', 'b/two']);
});

test('maps declared atomic (nodeSelector) are still merged key by key, as upstream SMP does', () => {
  const out = patchPod(pod(), { spec: { nodeSelector: { zone: 'b' } } });
  assert.deepEqual(out.spec.nodeSelector, { zone: 'b', disk: 'ssd' });
});

test('$patch: replace replaces a map or a list instead of merging', () => {
  const map = patchPod(pod(), { metadata: { labels: { $patch: 'replace', only: 'this' } } });
  assert.deepEqual(map.metadata.labels, { only: 'this' });
  const list = patchPod(pod(), { spec: { containers: [{ $patch: 'replace' }, { name: 'solo', image: 'x' }] } });
  assert.deepEqual(list.spec.containers, [{ name: 'solo', image: 'x' }]);
});

test('$patch: delete on a map empties it', () => {
  const out = patchPod(pod(), { spec: { nodeSelector: { $patch: 'delete' } } });
  assert.deepEqual(out.spec.nodeSelector, {});
});

test('null deletes a field; nulls inside a newly added value are dropped', () => {
  const out = patchPod(pod(), { spec: { tolerations: null, securityContext: { runAsUser: 1000, fsGroup: null } } });
  assert.equal('tolerations' in out.spec, false);
  assert.deepEqual(out.spec.securityContext, { runAsUser: 1000 });
});

test('fields unknown to the schema merge like JSON merge patch', () => {
  const doc = { spec: { containers: [] }, extra: { a: 1, b: { c: 2 } } };
  const out = patchPod(doc, { extra: { b: { d: 3 }, a: null }, other: [1] });
  assert.deepEqual(out.extra, { b: { c: 2, d: 3 } });
  assert.deepEqual(out.other, [1]);
});

test('a null patch leaves the document unchanged', () => {
  assert.deepEqual(patchPod(pod(), null), pod());
});

test('malformed directives are 400 with mergepatch error text', () => {
  assertApiError(
    () => patchPod(pod(), { spec: { volumes: [{ name: 'cache', $retainKeys: 'name' }] } }),
    400,
    'BadRequest',
    'invalid patch format of retainKeys',
  );
  assertApiError(
    () => patchPod(pod(), { spec: { volumes: [{ name: 'cache', $retainKeys: ['name'], hostPath: { path: '/x' } }] } }),
    400,
    'BadRequest',
    'invalid patch format of retainKeys',
  );
  assertApiError(
    () => patchPod(pod(), { metadata: { $deleteFromPrimitiveListfinalizers: ['a/one'] } }),
    400,
    'BadRequest',
    'invalid patch format of primitive list',
  );
  assertApiError(
    () => patchPod(pod(), { spec: { $setElementOrdercontainers: [] } }),
    400,
    'BadRequest',
    'invalid patch format of setElementOrder list',
  );
});

test('unknown $patch values and missing merge keys fail as upstream internal errors (500)', () => {
  assertApiError(
    () => patchPod(pod(), { spec: { containers: [{ name: 'app', $patch: 'frob' }] } }),
    500,
    '',
    'unknown patch type: frob in map: map[$patch:frob name:app]',
  );
  assertApiError(
    () => patchPod(pod(), { spec: { containers: [{ name: 'app', $patch: 'merge' }] } }),
    500,
    '',
    'merging lists cannot yet be specified in the patch',
  );
  assertApiError(
    () => patchPod(pod(), { spec: { containers: [{ image: 'x' }] } }),
    500,
    '',
    'map: map[image:x] does not contain declared merge key: name',
  );
  assertApiError(
    () => patchPod(pod(), { metadata: { labels: { $patch: 'merge' } } }),
    500,
    '',
    'unknown patch type: merge in map: map[$patch:merge]',
  );
});

test('a $setElementOrder list that contradicts the patch order is rejected', () => {
  assertApiError(
    () =>
      patchPod(pod(), {
        spec: { '$setElementOrder/containers': [{ name: 'app' }], containers: [{ name: 'sidecar', image: 'y' }] },
      }),
    500,
    '',
    "The order in patch list:\n[map[image:y name:sidecar]]\n doesn't match $setElementOrder list:\n[map[name:app]]\n",
  );
});

test('lists of lists are 422', () => {
  assertApiError(
    () => patchPod({ metadata: { finalizers: [['a']] } }, { metadata: { finalizers: [['b']] } }),
    422,
    'Invalid',
    'the server rejected our request due to an error in our request',
  );
});
