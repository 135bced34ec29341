import { test } from 'node:test';
import assert from 'node:assert/strict';

import { printerFor } from './index.js';

const now = new Date('2024-06-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const HOUR = 3_600_000;
const meta = (name: string, extra: any = {}) => ({ name, creationTimestamp: ago(3 * HOUR), ...extra });

test('ingress: class, hosts (three at most), address, ports', () => {
  const p = printerFor('networking.k8s.io', 'Ingress');
  const ing = {
    metadata: meta('web'),
    spec: { ingressClassName: 'nginx', rules: [{ host: 'a.example.com' }, {}, { host: 'b.example.com' }], tls: [{ hosts: ['a.example.com'] }] },
    status: { loadBalancer: { ingress: [{ ip: '192.168.1.20' }] } },
  };
  assert.deepEqual(p.row(ing, now), ['web', 'nginx', 'a.example.com,b.example.com', '192.168.1.20', '80, 443', '3h']);
  const many = { metadata: meta('m'), spec: { rules: ['a', 'b', 'c', 'd', 'e'].map((h) => ({ host: `${h}.io` })) } };
  assert.deepEqual(p.row(many, now).slice(1, 5), ['<none>', 'a.io,b.io,c.io + 2 more...', '', '80']);
  assert.equal(p.row({ metadata: meta('x'), spec: { defaultBackend: {} } }, now)[2], '*');
});

test('ingress class parameters and network policy selector', () => {
  const ic = { metadata: meta('nginx'), spec: { controller: 'k8s.io/ingress-nginx', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } } };
  assert.deepEqual(printerFor('networking.k8s.io', 'IngressClass').row(ic, now), ['nginx', 'k8s.io/ingress-nginx', 'IngressParameters.k8s.example.com/external-lb', '3h']);
  const np = printerFor('networking.k8s.io', 'NetworkPolicy');
  assert.deepEqual(np.row({ metadata: meta('deny-all'), spec: { podSelector: {} } }, now), ['deny-all', '<none>', '3h']);
  assert.equal(np.row({ metadata: meta('web'), spec: { podSelector: { matchLabels: { app: 'web' } } } }, now)[1], 'app=web');
});

test('role bindings print Kind/name and subjects by kind', () => {
  const rb = {
    metadata: meta('read-pods'),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [
      { kind: 'User', name: 'jane' },
      { kind: 'Group', name: 'devs' },
      { kind: 'ServiceAccount', name: 'ci', namespace: 'build' },
      { kind: 'User', name: 'bob' },
    ],
  };
  assert.deepEqual(printerFor('rbac.authorization.k8s.io', 'RoleBinding').row(rb, now), ['read-pods', 'Role/pod-reader', '3h', 'jane, bob', 'devs', 'build/ci']);
  const crb = { metadata: meta('admin'), roleRef: { kind: 'ClusterRole', name: 'cluster-admin' } };
  assert.deepEqual(printerFor('rbac.authorization.k8s.io', 'ClusterRoleBinding').row(crb, now), ['admin', 'ClusterRole/cluster-admin', '3h', '', '', '']);
});

test('lease holder and endpoint slices', () => {
  assert.deepEqual(printerFor('coordination.k8s.io', 'Lease').row({ metadata: meta('node-1'), spec: { holderIdentity: 'node-1' } }, now), ['node-1', 'node-1', '3h']);
  const slice = {
    metadata: meta('web-abcde'),
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'metrics' }],
    endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2', '10.0.0.3'] }, { addresses: ['10.0.0.4'] }, { addresses: ['10.0.0.5'] }],
  };
  assert.deepEqual(printerFor('discovery.k8s.io', 'EndpointSlice').row(slice, now), ['web-abcde', 'IPv4', '80,metrics', '10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...', '3h']);
  assert.deepEqual(printerFor('discovery.k8s.io', 'EndpointSlice').row({ metadata: meta('empty'), addressType: 'IPv4' }, now).slice(2, 4), ['<unset>', '<unset>']);
});

test('events.k8s.io events print the same table as core events', () => {
  const ev = {
    metadata: meta('web-1.17a'),
    regarding: { kind: 'Pod', name: 'web-1', fieldPath: 'spec.containers{web}' },
    reason: 'Pulled',
    note: 'Successfully pulled image',
    type: 'Normal',
    eventTime: ago(2 * HOUR),
    reportingController: 'kubelet',
    reportingInstance: 'node-1',
    deprecatedCount: 3,
    deprecatedFirstTimestamp: ago(2 * HOUR),
    deprecatedLastTimestamp: ago(HOUR),
  };
  const p = printerFor('events.k8s.io', 'Event');
  assert.deepEqual(p.columns.map((c) => c.name), printerFor('', 'Event').columns.map((c) => c.name));
  assert.deepEqual(p.row(ev, now), ['60m', 'Normal', 'Pulled', 'pod/web-1', 'spec.containers{web}', 'kubelet, node-1', 'Successfully pulled image', '120m', 3, 'web-1.17a']);
});

test('priority class and storage class', () => {
  const pc = { metadata: meta('high'), value: 1000000, globalDefault: false, preemptionPolicy: 'PreemptLowerPriority' };
  assert.deepEqual(printerFor('scheduling.k8s.io', 'PriorityClass').row(pc, now), ['high', 1000000, false, '3h', 'PreemptLowerPriority']);
  const sc = { metadata: meta('local-path', { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } }), provisioner: 'rancher.io/local-path' };
  assert.deepEqual(printerFor('storage.k8s.io', 'StorageClass').row(sc, now), ['local-path (default)', 'rancher.io/local-path', 'Delete', 'Immediate', false, '3h']);
  const sc2 = { metadata: meta('fast'), provisioner: 'csi.example.com', reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer', allowVolumeExpansion: true };
  assert.deepEqual(printerFor('storage.k8s.io', 'StorageClass').row(sc2, now).slice(0, 5), ['fast', 'csi.example.com', 'Retain', 'WaitForFirstConsumer', true]);
});

test('webhook configurations and certificate signing requests', () => {
  assert.deepEqual(printerFor('admissionregistration.k8s.io', 'ValidatingWebhookConfiguration').row({ metadata: meta('v'), webhooks: [{}, {}] }, now), ['v', 2, '3h']);
  const csr = { metadata: meta('node-csr'), spec: { signerName: 'kubernetes.io/kubelet-serving', username: 'system:node:n1', expirationSeconds: 86400 }, status: { conditions: [{ type: 'Approved' }], certificate: 'LS0t' } };
  assert.deepEqual(printerFor('certificates.k8s.io', 'CertificateSigningRequest').row(csr, now), ['node-csr', '3h', 'kubernetes.io/kubelet-serving', 'system:node:n1', '24h', 'Approved,Issued']);
});
