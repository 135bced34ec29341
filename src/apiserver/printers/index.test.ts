import { test } from 'node:test';
import assert from 'node:assert/strict';

import { defaultPrinter, hasPrinter, printerFor } from './index.js';

const now = new Date('2024-06-01T12:00:00Z');

test('kinds without an upstream printer get the default Name / Created At table', () => {
  for (const [group, kind] of [
    ['rbac.authorization.k8s.io', 'Role'],
    ['rbac.authorization.k8s.io', 'ClusterRole'],
    ['', 'LimitRange'],
    ['apiextensions.k8s.io', 'CustomResourceDefinition'],
    ['kubeflow.org', 'PyTorchJob'],
  ]) {
    assert.equal(hasPrinter(group, kind), false, `${group}/${kind}`);
    const p = printerFor(group, kind);
    assert.deepEqual(
      p.columns.map((c) => [c.name, c.type, c.format, c.priority]),
      [['Name', 'string', 'name', 0], ['Created At', 'date', '', 0]],
    );
  }
  const crd = { metadata: { name: 'pytorchjobs.kubeflow.org', creationTimestamp: '2024-05-01T10:00:00Z' } };
  // the absolute RFC3339 time, not an age
  assert.deepEqual(printerFor('apiextensions.k8s.io', 'CustomResourceDefinition').row(crd, now), ['pytorchjobs.kubeflow.org', '2024-05-01T10:00:00Z']);
  assert.deepEqual(defaultPrinter.row({ metadata: { name: 'x', creationTimestamp: '2024-05-01T10:00:00.5+02:00' } }, now), ['x', '2024-05-01T08:00:00Z']);
  assert.deepEqual(defaultPrinter.row({ metadata: { name: 'y' } }, now), ['y', '0001-01-01T00:00:00Z']);
});

test('printers are keyed by group and kind; "core" aliases the empty group', () => {
  assert.equal(hasPrinter('', 'Pod'), true);
  assert.equal(printerFor('core', 'Pod'), printerFor('', 'Pod'));
  assert.notEqual(printerFor('apps', 'Pod'), printerFor('', 'Pod'));
  assert.equal(printerFor('apps', 'Pod'), defaultPrinter);
});

const ALL_KINDS: Array<[string, string]> = [
  ['', 'Pod'], ['', 'Namespace'], ['', 'PodTemplate'], ['', 'ReplicationController'], ['', 'Service'], ['', 'Endpoints'],
  ['', 'ConfigMap'], ['', 'Secret'], ['', 'ServiceAccount'], ['', 'PersistentVolume'], ['', 'PersistentVolumeClaim'],
  ['', 'Node'], ['', 'Event'], ['', 'ResourceQuota'], ['', 'LimitRange'],
  ['apps', 'Deployment'], ['apps', 'ReplicaSet'], ['apps', 'StatefulSet'], ['apps', 'DaemonSet'], ['apps', 'ControllerRevision'],
  ['batch', 'Job'], ['batch', 'CronJob'], ['autoscaling', 'HorizontalPodAutoscaler'], ['autoscaling', 'Scale'],
  ['policy', 'PodDisruptionBudget'], ['networking.k8s.io', 'Ingress'], ['networking.k8s.io', 'IngressClass'],
  ['networking.k8s.io', 'NetworkPolicy'], ['networking.k8s.io', 'ServiceCIDR'], ['networking.k8s.io', 'IPAddress'],
  ['rbac.authorization.k8s.io', 'RoleBinding'], ['rbac.authorization.k8s.io', 'ClusterRoleBinding'], ['rbac.authorization.k8s.io', 'Role'],
  ['coordination.k8s.io', 'Lease'], ['discovery.k8s.io', 'EndpointSlice'], ['events.k8s.io', 'Event'],
  ['scheduling.k8s.io', 'PriorityClass'], ['storage.k8s.io', 'StorageClass'], ['storage.k8s.io', 'VolumeAttachment'],
  ['storage.k8s.io', 'CSIDriver'], ['storage.k8s.io', 'CSINode'], ['storage.k8s.io', 'CSIStorageCapacity'],
  ['admissionregistration.k8s.io', 'MutatingWebhookConfiguration'], ['admissionregistration.k8s.io', 'ValidatingWebhookConfiguration'],
  ['admissionregistration.k8s.io', 'ValidatingAdmissionPolicy'], ['admissionregistration.k8s.io', 'ValidatingAdmissionPolicyBinding'],
  ['certificates.k8s.io', 'CertificateSigningRequest'], ['node.k8s.io', 'RuntimeClass'],
  ['flowcontrol.apiserver.k8s.io', 'FlowSchema'], ['flowcontrol.apiserver.k8s.io', 'PriorityLevelConfiguration'],
  ['apiextensions.k8s.io', 'CustomResourceDefinition'],
];

test('no object shape makes a printer throw, and every row has one cell per column', () => {
  const hostile = Object.defineProperty({}, 'metadata', {
    get() {
      throw new Error('boom');
    },
  });
  const shapes: unknown[] = [
    null,
    undefined,
    'a string',
    42,
    [],
    {},
    { metadata: null, spec: null, status: null },
    { metadata: { name: 'n', creationTimestamp: 12, labels: 'x', ownerReferences: [{ controller: true, apiVersion: 'a/b/c' }] }, spec: 'x', status: 7 },
    { metadata: { name: 'n' }, spec: { containers: 'x', initContainers: [null, 3], selector: { matchExpressions: 'bad' }, ports: [null], metrics: [null, { type: 'Resource' }], rules: 5, template: [] } },
    { metadata: { name: 'n' }, status: { containerStatuses: [null, { state: null }], initContainerStatuses: [{ state: { terminated: null } }], conditions: 'x', hard: { cpu: {} }, loadBalancer: { ingress: [null] } } },
    { metadata: { name: 'n' }, subsets: [{ addresses: 'x', ports: [{}] }], involvedObject: 5, series: {}, regarding: null, endpoints: [{ addresses: null }] },
    hostile,
  ];
  for (const [group, kind] of ALL_KINDS) {
    const p = printerFor(group, kind);
    for (const obj of shapes) {
      let cells: unknown[] = [];
      assert.doesNotThrow(() => {
        cells = p.row(obj, now);
      }, `${group}/${kind}`);
      assert.equal(cells.length, p.columns.length, `${group}/${kind} cell count`);
    }
  }
});

test('a printer failure still yields a row carrying the name', () => {
  // an ownerReference with a malformed apiVersion makes upstream's ControllerRevision printer error
  const cr = { metadata: { name: 'rev-1', ownerReferences: [{ controller: true, apiVersion: 'a/b/c', kind: 'X', name: 'y' }] } };
  assert.deepEqual(printerFor('apps', 'ControllerRevision').row(cr, now), ['rev-1', '<unknown>', '<unknown>', '<unknown>']);
});

test('every printer starts with a Name column and declares unique column names', () => {
  for (const [group, kind] of ALL_KINDS) {
    const cols = printerFor(group, kind).columns;
    const names = cols.map((c) => c.name);
    assert.equal(new Set(names).size, names.length, `${group}/${kind}`);
    if (!(group === '' && kind === 'Event') && !(group === 'events.k8s.io' && kind === 'Event')) assert.equal(names[0], 'Name', `${group}/${kind}`);
    for (const c of cols) assert.ok(c.priority === 0 || c.priority === 1);
  }
});
