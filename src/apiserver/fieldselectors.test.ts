import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../api/errors.js';
import { parseFieldSelector } from '../api/fields.js';
import { checkFieldSelector, convertFieldSelector, objectFields, fieldsFunc } from './fieldselectors.js';

function rejects(group: string, resource: string, sel: string, message: string, custom?: Parameters<typeof checkFieldSelector>[3]): void {
  assert.throws(
    () => checkFieldSelector(group, resource, parseFieldSelector(sel), custom),
    (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 400);
      assert.equal(e.reason, 'BadRequest');
      assert.equal(e.message, message);
      return true;
    },
    `${group}/${resource} ${sel}`,
  );
}

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'trainer-0', namespace: 'ml' },
  spec: { nodeName: 'gpu-1', restartPolicy: 'Never', schedulerName: 'default-scheduler', serviceAccountName: 'default', hostNetwork: true },
  status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }], nominatedNodeName: '' },
};

test('a Pod offers its upstream field set', () => {
  assert.deepEqual(
    { ...objectFields('', 'pods', pod) },
    {
      'metadata.name': 'trainer-0',
      'metadata.namespace': 'ml',
      'spec.nodeName': 'gpu-1',
      'spec.host': 'gpu-1',
      'spec.restartPolicy': 'Never',
      'spec.schedulerName': 'default-scheduler',
      'spec.serviceAccountName': 'default',
      'spec.hostNetwork': 'true',
      'status.phase': 'Running',
      'status.podIP': '10.244.1.5',
      'status.nominatedNodeName': '',
    },
  );
  const bare = objectFields('', 'pods', { metadata: { name: 'p' } });
  assert.equal(bare['spec.hostNetwork'], 'false');
  assert.equal(bare['spec.nodeName'], '');
});

test('pods are selected by node, phase and IP; unknown fields are rejected', () => {
  const fields = objectFields('', 'pods', pod);
  for (const [sel, want] of [
    ['spec.nodeName=gpu-1', true],
    ['spec.nodeName=', false],
    ['status.phase!=Running', false],
    ['spec.hostNetwork=true,status.podIP=10.244.1.5', true],
    ['metadata.namespace=ml,metadata.name=trainer-0', true],
  ] as const) {
    const s = convertFieldSelector('', 'pods', parseFieldSelector(sel));
    assert.equal(s.matches(fields), want, sel);
  }
  rejects('', 'pods', 'spec.containers=x', 'field label not supported: spec.containers');
  rejects('', 'pods', 'metadata.labels=x', 'field label not supported: metadata.labels');
});

test('status.podIPs is accepted but, as upstream, not part of the field set', () => {
  const s = convertFieldSelector('', 'pods', parseFieldSelector('status.podIPs=10.244.1.5'));
  assert.equal(s.matches(objectFields('', 'pods', pod)), false);
});

test('legacy spec.host is converted to spec.nodeName', () => {
  const s = convertFieldSelector('', 'pods', parseFieldSelector('spec.host=gpu-1'));
  assert.equal(s.toString(), 'spec.nodeName=gpu-1');
  assert.ok(s.matches(objectFields('', 'pods', pod)));
  // The unconverted selector matches too.
  assert.ok(parseFieldSelector('spec.host=gpu-1').matches(objectFields('', 'pods', pod)));
});

const event = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'trainer-0.17a', namespace: 'ml' },
  involvedObject: { kind: 'Pod', namespace: 'ml', name: 'trainer-0', uid: 'u-1', apiVersion: 'v1', resourceVersion: '42', fieldPath: 'spec.containers{main}' },
  reason: 'Scheduled',
  type: 'Normal',
  source: { component: 'default-scheduler' },
  reportingComponent: 'default-scheduler',
};

test('a core Event offers involvedObject.*, reason, source, type and reportingComponent', () => {
  assert.deepEqual(
    { ...objectFields('', 'events', event) },
    {
      'metadata.name': 'trainer-0.17a',
      'metadata.namespace': 'ml',
      'involvedObject.kind': 'Pod',
      'involvedObject.namespace': 'ml',
      'involvedObject.name': 'trainer-0',
      'involvedObject.uid': 'u-1',
      'involvedObject.apiVersion': 'v1',
      'involvedObject.resourceVersion': '42',
      'involvedObject.fieldPath': 'spec.containers{main}',
      reason: 'Scheduled',
      reportingComponent: 'default-scheduler',
      source: 'default-scheduler',
      type: 'Normal',
    },
  );
  // kubectl describe's query for a pod's events.
  const sel = convertFieldSelector(
    '',
    'events',
    parseFieldSelector('involvedObject.name=trainer-0,involvedObject.namespace=ml,involvedObject.kind=Pod,involvedObject.uid=u-1'),
  );
  assert.ok(sel.matches(objectFields('', 'events', event)));
  rejects('', 'events', 'message=x', 'field label not supported: message');
});

test('an Event without a source component is selected by its reporting controller', () => {
  const ev = { ...event, source: {}, reportingComponent: 'kubelet' };
  assert.equal(objectFields('', 'events', ev).source, 'kubelet');
});

test('events.k8s.io accepts regarding.* and reportingController and maps them onto the core fields', () => {
  const v1 = {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: 'e', namespace: 'ml' },
    regarding: { kind: 'Pod', name: 'trainer-0', namespace: 'ml' },
    reportingController: 'kubelet',
    reason: 'Pulled',
    type: 'Normal',
  };
  const sel = convertFieldSelector('events.k8s.io', 'events', parseFieldSelector('regarding.name=trainer-0,reportingController=kubelet'));
  assert.equal(sel.toString(), 'involvedObject.name=trainer-0,reportingComponent=kubelet');
  assert.ok(sel.matches(objectFields('events.k8s.io', 'events', v1)));
  assert.ok(sel.matches(objectFields('events.k8s.io', 'events', event)) === false);
  assert.ok(parseFieldSelector('regarding.name=trainer-0').matches(objectFields('events.k8s.io', 'events', v1)));
  rejects('events.k8s.io', 'events', 'involvedObject.name=x', 'field label not supported: involvedObject.name');
});

test('resources without a conversion func accept only name and namespace, with the default message', () => {
  rejects('apps', 'replicasets', 'status.replicas=0', '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"');
  rejects('', 'configmaps', 'data.x=y', '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"');
  checkFieldSelector('', 'persistentvolumes', parseFieldSelector('metadata.namespace=,metadata.name=pv1'));
  const cm = { metadata: { name: 'c', namespace: 'default' } };
  assert.ok(parseFieldSelector('metadata.namespace!=kube-system').matches(objectFields('', 'configmaps', cm)));
});

test('per-kind fields: Node, Namespace, Secret, Service, ReplicationController, Job, CSR', () => {
  const cases: [string, string, unknown, string][] = [
    ['', 'nodes', { metadata: { name: 'n1' }, spec: { unschedulable: true } }, 'spec.unschedulable=true,metadata.name=n1'],
    ['', 'nodes', { metadata: { name: 'n1' }, spec: {} }, 'spec.unschedulable=false'],
    ['', 'namespaces', { metadata: { name: 'ml' }, status: { phase: 'Terminating' } }, 'status.phase=Terminating'],
    ['', 'secrets', { metadata: { name: 's', namespace: 'x' }, type: 'kubernetes.io/tls' }, 'type=kubernetes.io/tls'],
    ['', 'services', { metadata: { name: 's', namespace: 'x' }, spec: { clusterIP: 'None', type: 'ClusterIP' } }, 'spec.clusterIP=None,spec.type=ClusterIP'],
    ['', 'replicationcontrollers', { metadata: { name: 'rc' }, status: { replicas: 3 } }, 'status.replicas=3'],
    ['batch', 'jobs', { metadata: { name: 'j' }, status: { succeeded: 1 } }, 'status.successful=1'],
    ['batch', 'jobs', { metadata: { name: 'j' }, status: {} }, 'status.successful=0'],
    ['certificates.k8s.io', 'certificatesigningrequests', { metadata: { name: 'c' }, spec: { signerName: 'kubernetes.io/kubelet-serving' } }, 'spec.signerName=kubernetes.io/kubelet-serving'],
  ];
  for (const [group, resource, obj, sel] of cases) {
    const s = convertFieldSelector(group, resource, parseFieldSelector(sel));
    assert.ok(s.matches(objectFields(group, resource, obj)), `${resource}: ${sel}`);
  }
  rejects('', 'nodes', 'metadata.namespace=x', 'field label not supported: metadata.namespace');
  rejects('', 'namespaces', 'metadata.namespace=x', 'field label not supported: metadata.namespace');
  rejects('batch', 'jobs', 'status.active=1', 'field label "status.active" not supported for batchv1.Job');
});

test('the first unsupported term (in sorted order) is the one reported', () => {
  rejects('', 'secrets', 'zzz=1,aaa=2', 'field label not supported: aaa');
});

test('custom resources: name, namespace when namespaced, and declared selectableFields', () => {
  const crd = { namespaced: true, selectableFields: ['.spec.color', '.spec.replicas', '.status.ready'] };
  const obj = { metadata: { name: 'w', namespace: 'ml' }, spec: { color: 'blue', replicas: 3 }, status: { ready: true } };
  const fields = fieldsFunc('example.com', 'widgets', crd)(obj);
  assert.deepEqual(
    { ...fields },
    { 'metadata.name': 'w', 'metadata.namespace': 'ml', 'spec.color': 'blue', 'spec.replicas': '3', 'status.ready': 'true' },
  );
  const sel = convertFieldSelector('example.com', 'widgets', parseFieldSelector('spec.color=blue,spec.replicas=3,status.ready=true'), crd);
  assert.ok(sel.matches(fields));
  assert.equal(objectFields('example.com', 'widgets', { metadata: { name: 'w' } }, crd)['spec.color'], '');
  rejects('example.com', 'widgets', 'spec.size=1', 'field label not supported: spec.size', crd);
  rejects('example.com', 'clusterwidgets', 'metadata.namespace=x', 'field label not supported: metadata.namespace', { namespaced: false });
  checkFieldSelector('example.com', 'clusterwidgets', parseFieldSelector('metadata.name=x'), { namespaced: false });
});

test('an empty selector is valid for every resource', () => {
  checkFieldSelector('', 'nodes', parseFieldSelector(''));
  checkFieldSelector('example.com', 'widgets', parseFieldSelector(''), { namespaced: true });
});
