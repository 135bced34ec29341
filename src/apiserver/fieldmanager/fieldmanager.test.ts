import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definitions } from '../../api/generated/schema.js';
import { SchemaResolver } from '../../api/schema.js';
import { ApiError } from '../../api/errors.js';
import {
  applyServerSide,
  deepEqual,
  managerFromUserAgent,
  setFromFieldsV1,
  setToFieldsV1,
  updateManagedFields,
  validateApplyPatch,
  validatePatchOptions,
} from './index.js';

const resolver = new SchemaResolver(definitions);
const deploymentSchema = { $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' };
const base = { resolver, schema: deploymentSchema };
const T0 = '2025-01-01T00:00:00Z';
const T1 = '2025-01-01T00:01:00Z';
const T2 = '2025-01-01T00:02:00Z';

function deployment(): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'u1', labels: { app: 'web' }, finalizers: ['example.com/keep'] },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
      },
    },
  };
}

/** The manifest `kubectl apply --server-side` would send. */
function manifest(replicas?: number, extraLabels: Record<string, string> = {}): any {
  const m: any = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', ...extraLabels } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      },
    },
  };
  if (replicas !== undefined) m.spec.replicas = replicas;
  return m;
}

function entry(obj: any, manager: string): any {
  return obj.metadata.managedFields.find((e: any) => e.manager === manager);
}

function create(manager: string): any {
  const obj = deployment();
  updateManagedFields({ ...base, next: obj, manager, operation: 'Update', time: T0 });
  return obj;
}

function conflictOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail('expected a conflict');
}

test('create records FieldsV1 with upstream keys, order and "." markers', () => {
  const obj = create('kubectl-create');
  assert.equal(obj.metadata.managedFields.length, 1);
  const e = obj.metadata.managedFields[0];
  assert.deepEqual(Object.keys(e), ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1']);
  assert.equal(e.operation, 'Update');
  assert.equal(e.apiVersion, 'apps/v1');
  assert.equal(e.time, T0);
  const expected = {
    'f:metadata': {
      'f:finalizers': { '.': {}, 'v:"example.com/keep"': {} },
      'f:labels': { '.': {}, 'f:app': {} },
    },
    'f:spec': {
      'f:replicas': {},
      'f:selector': {},
      'f:strategy': { 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} },
      'f:template': {
        'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
        'f:spec': {
          'f:containers': {
            'k:{"name":"nginx"}': {
              '.': {},
              'f:image': {},
              'f:name': {},
              'f:ports': { '.': {}, 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:protocol': {} } },
              'f:resources': {},
            },
          },
        },
      },
    },
  };
  // Byte-exact JSON, so key order matters as well as content.
  assert.equal(JSON.stringify(e.fieldsV1), JSON.stringify(expected));
  // Decoding and re-encoding is lossless.
  assert.equal(JSON.stringify(setToFieldsV1(setFromFieldsV1(e.fieldsV1))), JSON.stringify(expected));
});

test('an update moves the changed fields to the updating manager', () => {
  const live = create('kubectl-create');
  const next = structuredClone(live);
  next.spec.replicas = 5;
  next.spec.template.spec.containers[0].image = 'nginx:1.28';
  updateManagedFields({ ...base, live, next, manager: 'kubectl-edit', operation: 'Update', time: T1 });
  const editor = entry(next, 'kubectl-edit');
  assert.deepEqual(editor.fieldsV1, {
    'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { 'f:image': {} } } } } },
  });
  const creator = entry(next, 'kubectl-create');
  assert.equal(creator.fieldsV1['f:spec']['f:replicas'], undefined);
  assert.equal(creator.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"nginx"}']['f:image'], undefined);
  assert.equal(creator.time, T0, 'untouched entry keeps its time');
  // Entries sort by time for the same operation.
  assert.deepEqual(next.metadata.managedFields.map((e: any) => e.manager), ['kubectl-create', 'kubectl-edit']);
});

test('an update that changes nothing leaves managedFields as they were', () => {
  const live = create('kubectl-create');
  const next = structuredClone(live);
  updateManagedFields({ ...base, live, next, manager: 'other', operation: 'Update', time: T1 });
  assert.deepEqual(next.metadata.managedFields, live.metadata.managedFields);
});

test('a write to /status records the subresource', () => {
  const live = create('kubectl-create');
  const next = structuredClone(live);
  next.status = { replicas: 2, readyReplicas: 2 };
  updateManagedFields({ ...base, live, next, manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', time: T1 });
  const e = entry(next, 'kube-controller-manager');
  assert.equal(e.subresource, 'status');
  assert.deepEqual(e.fieldsV1, { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } });
});

test('a binding attributes nothing: the entries stay as stored (upstream binds past the field manager)', () => {
  const live = create('kubectl-create');
  const next = structuredClone(live);
  next.spec.replicas = 9;
  next.metadata.managedFields = [];
  updateManagedFields({ ...base, live, next, manager: 'default-scheduler', operation: 'Update', subresource: 'binding', time: T1 });
  assert.deepEqual(next.metadata.managedFields, live.metadata.managedFields);
});

test('an object without managedFields stays untracked on update, and its first apply creates before-first-apply', () => {
  const live = deployment();
  const next = structuredClone(live);
  next.spec.replicas = 3;
  updateManagedFields({ ...base, live, next, manager: 'someone', operation: 'Update', time: T1 });
  assert.equal(next.metadata.managedFields, undefined);

  const applied = applyServerSide({ ...base, live: next, patch: manifest(), manager: 'kubectl', force: false, time: T2 });
  const managers = applied.metadata.managedFields.map((e: any) => `${e.manager}/${e.operation}`);
  assert.deepEqual(managers, ['kubectl/Apply', 'before-first-apply/Update']);
  assert.deepEqual(entry(applied, 'before-first-apply').fieldsV1['f:spec']['f:replicas'], {});
});

test('apply creates an object owned by the applier', () => {
  const obj = applyServerSide({ ...base, patch: manifest(3), manager: 'kubectl', force: false, time: T0 });
  assert.equal(obj.spec.replicas, 3);
  assert.equal(obj.metadata.managedFields.length, 1);
  const e = obj.metadata.managedFields[0];
  assert.equal(e.manager, 'kubectl');
  assert.equal(e.operation, 'Apply');
  assert.equal(e.time, T0);
  assert.deepEqual(e.fieldsV1, {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:selector': {},
      'f:template': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:containers': {
            // The port key includes the schema default protocol, as upstream's does.
            'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } } },
          },
        },
      },
    },
  });
});

test('re-applying the same manifest is a no-op', () => {
  const live = applyServerSide({ ...base, patch: manifest(3), manager: 'kubectl', force: false, time: T0 });
  const again = applyServerSide({ ...base, live, patch: manifest(3), manager: 'kubectl', force: false, time: T1 });
  assert.ok(deepEqual(again, live));
  assert.equal(again.metadata.managedFields[0].time, T0);
});

test('re-applying without a field removes it, unless another manager owns it', () => {
  const live = applyServerSide({ ...base, patch: manifest(3, { tier: 'frontend' }), manager: 'kubectl', force: false, time: T0 });
  assert.equal(live.metadata.labels.tier, 'frontend');
  const pruned = applyServerSide({ ...base, live, patch: manifest(3), manager: 'kubectl', force: false, time: T1 });
  assert.deepEqual(pruned.metadata.labels, { app: 'web' });
  assert.equal(entry(pruned, 'kubectl').fieldsV1['f:metadata']['f:labels']['f:tier'], undefined);
  assert.equal(pruned.metadata.managedFields[0].time, T1);

  // A field the manager stops applying but another applier also applied stays.
  const shared = applyServerSide({ ...base, live, patch: manifest(undefined, { tier: 'frontend' }), manager: 'other', force: false, time: T1 });
  const kept = applyServerSide({ ...base, live: shared, patch: manifest(3), manager: 'kubectl', force: false, time: T2 });
  assert.equal(kept.metadata.labels.tier, 'frontend');
});

test('apply conflicting with an updater fails with upstream message and causes', () => {
  const live = create('kubectl-client-side-apply');
  const err = conflictOf(() => applyServerSide({ ...base, live, patch: manifest(5), manager: 'kubectl', force: false, time: T1 }));
  assert.equal(err.code, 409);
  assert.equal(err.reason, 'Conflict');
  assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  assert.deepEqual(err.details?.causes, [
    { reason: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' },
  ]);
});

test('several conflicts use the plural form grouped by manager', () => {
  const live = create('kubectl-create');
  const patch = manifest(5);
  patch.spec.template.spec.containers[0].image = 'nginx:1.28';
  const err = conflictOf(() => applyServerSide({ ...base, live, patch, manager: 'kubectl', force: false, time: T1 }));
  assert.equal(
    err.message,
    'Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name="nginx"].image',
  );
  assert.deepEqual(
    err.details?.causes?.map((c) => c.field),
    ['.spec.replicas', '.spec.template.spec.containers[name="nginx"].image'],
  );
});

test('kubectl may take over fields that still match its last-applied annotation', () => {
  const live = deployment();
  live.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(manifest(2)) };
  updateManagedFields({ ...base, next: live, manager: 'kubectl-client-side-apply', operation: 'Update', time: T0 });
  const out = applyServerSide({ ...base, live, patch: manifest(4), manager: 'kubectl', force: false, time: T1 });
  assert.equal(out.spec.replicas, 4);
  assert.deepEqual(entry(out, 'kubectl').fieldsV1['f:spec']['f:replicas'], {});
  // The annotation now mirrors what was applied.
  assert.equal(JSON.parse(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).spec.replicas, 4);
});

test('force moves ownership to the applier', () => {
  const live = create('kubectl-create');
  const out = applyServerSide({ ...base, live, patch: manifest(5), manager: 'kubectl', force: true, time: T1 });
  assert.equal(out.spec.replicas, 5);
  assert.deepEqual(entry(out, 'kubectl').fieldsV1['f:spec']['f:replicas'], {});
  assert.equal(entry(out, 'kubectl-create').fieldsV1['f:spec']['f:replicas'], undefined);
});

test('two appliers agreeing on a value share it without conflict', () => {
  const live = applyServerSide({ ...base, patch: manifest(3), manager: 'alice', force: false, time: T0 });
  const out = applyServerSide({ ...base, live, patch: manifest(3), manager: 'bob', force: false, time: T1 });
  assert.deepEqual(entry(out, 'alice').fieldsV1['f:spec']['f:replicas'], {});
  assert.deepEqual(entry(out, 'bob').fieldsV1['f:spec']['f:replicas'], {});
  // A different value from one of them is then a conflict with the other.
  const err = conflictOf(() => applyServerSide({ ...base, live: out, patch: manifest(4), manager: 'bob', force: false, time: T2 }));
  assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
});

test('apply merges associative lists by key and keeps other managers\' items', () => {
  const live = create('kubectl-create');
  const patch = manifest(2);
  patch.spec.template.spec.containers = [{ name: 'sidecar', image: 'busybox' }];
  const out = applyServerSide({ ...base, live, patch, manager: 'kubectl', force: false, time: T1 });
  assert.deepEqual(out.spec.template.spec.containers.map((c: any) => c.name), ['nginx', 'sidecar']);
});

test('apply patch validation follows upstream messages', () => {
  assert.throws(
    () => validateApplyPatch({ apiVersion: 'v1', kind: 'Pod' }, { apiVersion: 'apps/v1', kind: 'Deployment' }),
    (e: ApiError) => e.code === 400 && e.message === 'invalid object type: /v1, Kind=Pod',
  );
  assert.throws(
    () => validateApplyPatch({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { managedFields: [] } }, { apiVersion: 'apps/v1', kind: 'Deployment' }),
    (e: ApiError) => e.code === 400 && e.message === 'metadata.managedFields must be nil',
  );
  assert.throws(
    () => validatePatchOptions({ apply: true }),
    (e: ApiError) =>
      e.code === 422 &&
      e.message === 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
  );
  assert.throws(
    () => validatePatchOptions({ apply: false, force: true }),
    (e: ApiError) => e.message === 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
  );
  validatePatchOptions({ apply: true, fieldManager: 'kubectl', force: true });
});

test('default manager names come from the User-Agent', () => {
  assert.equal(managerFromUserAgent('kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd'), 'kubectl');
  assert.equal(managerFromUserAgent('kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:deployment-controller'), 'kube-controller-manager');
  assert.equal(managerFromUserAgent('Go-http-client/1.1'), 'Go-http-client');
  assert.equal(managerFromUserAgent('a\tb/1'), 'ab');
  assert.equal(managerFromUserAgent('x'.repeat(200)).length, 128);
});
