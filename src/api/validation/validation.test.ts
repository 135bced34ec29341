import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorMessage, type FieldError } from '../errors.js';
import { nameValidatorFor } from '../names.js';
import { applyDefaults } from '../defaults/index.js';
import { validateObject, validateObjectMeta, validateObjectMetaUpdate, cronScheduleError } from './index.js';

const msgs = (errs: FieldError[]) => errs.map(fieldErrorMessage);

/** A valid object of the kind after defaulting, with `mutate` applied, then validated. */
function check(group: string, kind: string, obj: any, old?: any): string[] {
  applyDefaults(group, kind, obj);
  if (old) applyDefaults(group, kind, old);
  return msgs(validateObject(group, kind, obj, old));
}

const pod = (spec: any = {}) => ({ metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }], ...spec } });
const template = (labels: any = { app: 'a' }, spec: any = {}) => ({ metadata: { labels }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }], ...spec } });

test('object meta: name required, bad names, namespace scope', () => {
  const opts = { namespaced: true, nameValidator: nameValidatorFor('', 'pods') };
  assert.deepEqual(msgs(validateObjectMeta({ namespace: 'default' }, opts)), ['metadata.name: Required value: name or generateName is required']);
  assert.deepEqual(msgs(validateObjectMeta({ name: 'Bad_Name', namespace: 'default' }, opts)), [
    `metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  ]);
  assert.deepEqual(msgs(validateObjectMeta({ name: 'x' }, opts)), ['metadata.namespace: Required value']);
  const cluster = { namespaced: false, nameValidator: nameValidatorFor('', 'nodes') };
  assert.deepEqual(msgs(validateObjectMeta({ name: 'x', namespace: 'a' }, cluster)), ['metadata.namespace: Forbidden: not allowed on this type']);
  assert.deepEqual(msgs(validateObjectMeta({ name: 'x', namespace: 'd', labels: { 'a/b/c': 'v' } }, opts)).length, 1);
  assert.deepEqual(msgs(validateObjectMeta({ name: 'x', namespace: 'd', annotations: { k: 'x'.repeat(262144) } }, opts)), [
    'metadata.annotations: Too long: may not be more than 262144 bytes',
  ]);
});

test('object meta update: immutable name and uid', () => {
  const errs = msgs(validateObjectMetaUpdate({ name: 'b', uid: 'u2', resourceVersion: '2' }, { name: 'a', uid: 'u1', resourceVersion: '1' }));
  assert.deepEqual(errs, ['metadata.name: Invalid value: "b": field is immutable', 'metadata.uid: Invalid value: "u2": field is immutable']);
});

test('pod: containers required, image required, duplicate names', () => {
  assert.deepEqual(check('', 'Pod', pod({ containers: [] })), ['spec.containers: Required value']);
  assert.deepEqual(check('', 'Pod', pod({ containers: [{ name: 'c' }] })), ['spec.containers[0].image: Required value']);
  assert.deepEqual(check('', 'Pod', pod({ containers: [{ name: 'c', image: 'x' }, { name: 'c', image: 'y' }] })), [
    'spec.containers[1].name: Duplicate value: "c"',
  ]);
  assert.deepEqual(check('', 'Pod', pod()), []);
});

test('pod: ports, restartPolicy, dnsPolicy, volumes and mounts', () => {
  assert.deepEqual(check('', 'Pod', pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 70000, protocol: 'HTTP' }] }] })), [
    'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
  ]);
  assert.deepEqual(check('', 'Pod', pod({ restartPolicy: 'Sometimes' })), [
    'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  ]);
  assert.deepEqual(check('', 'Pod', pod({ dnsPolicy: 'Bogus' })), [
    'spec.dnsPolicy: Unsupported value: "Bogus": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"',
  ]);
  assert.deepEqual(
    check('', 'Pod', pod({ containers: [{ name: 'c', image: 'x', volumeMounts: [{ name: 'missing', mountPath: '/m' }] }] })),
    ['spec.containers[0].volumeMounts[0].name: Not found: "missing"'],
  );
  assert.deepEqual(check('', 'Pod', pod({ volumes: [{ name: 'v', emptyDir: {}, hostPath: { path: '/x' } }] })), [
    'spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type',
  ]);
  assert.deepEqual(check('', 'Pod', pod({ volumes: [{ name: 'v', emptyDir: {} }, { name: 'v', emptyDir: {} }] })), ['spec.volumes[1].name: Duplicate value: "v"']);
  assert.deepEqual(check('', 'Pod', pod({ containers: [{ name: 'c', image: 'x', env: [{ name: 'A=B' }] }] })), [
    `spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
  ]);
});

test('pod: requests must not exceed limits; extended resources must be equal', () => {
  const c = (resources: any) => pod({ containers: [{ name: 'c', image: 'x', resources }] });
  assert.deepEqual(check('', 'Pod', c({ requests: { cpu: '2' }, limits: { cpu: '1' } })), [
    'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
  ]);
  assert.deepEqual(check('', 'Pod', c({ requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '2' } })), [
    'spec.containers[0].resources.requests: Invalid value: "1": must be equal to nvidia.com/gpu limit of 2',
  ]);
  assert.deepEqual(check('', 'Pod', c({ requests: { memory: '1.1.1' } })), [
    `spec.containers[0].resources.requests[memory]: Invalid value: "1.1.1": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
  ]);
});

test('pod update: only image and allowed fields may change', () => {
  const old = pod();
  assert.deepEqual(check('', 'Pod', { ...pod(), spec: { ...pod().spec, containers: [{ name: 'c', image: 'nginx:1.28' }] } }, old), []);
  const errs = check('', 'Pod', pod({ nodeName: 'other' }), pod());
  assert.equal(errs.length, 1);
  assert.ok(
    errs[0]!.startsWith(
      'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n',
    ),
  );
});

test('deployment: selector required and must match, restartPolicy Always, replicas ≥ 0, selector immutable', () => {
  const dep = (spec: any) => ({ metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'a' } }, template: template(), ...spec } });
  assert.deepEqual(check('apps', 'Deployment', dep({})), []);
  assert.deepEqual(check('apps', 'Deployment', dep({ selector: undefined })), ['spec.selector: Required value']);
  assert.deepEqual(check('apps', 'Deployment', dep({ template: template({ app: 'b' }) })), [
    'spec.template.metadata.labels: Invalid value: {"app":"b"}: `selector` does not match template `labels`',
  ]);
  assert.deepEqual(check('apps', 'Deployment', dep({ template: template({ app: 'a' }, { restartPolicy: 'Never' }) })), [
    'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
  ]);
  assert.deepEqual(check('apps', 'Deployment', dep({ replicas: -1 })), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
  const changed = dep({ selector: { matchLabels: { app: 'b' } }, template: template({ app: 'b' }) });
  assert.deepEqual(check('apps', 'Deployment', changed, dep({})), ['spec.selector: Invalid value: {"matchLabels":{"app":"b"}}: field is immutable']);
});

test('job: restartPolicy OnFailure|Never, completionMode enum, template immutable', () => {
  const job = (spec: any = {}, tspec: any = { restartPolicy: 'Never' }) => ({
    metadata: { name: 'j' },
    spec: { selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a' }, tspec), ...spec },
  });
  assert.deepEqual(check('batch', 'Job', job()), []);
  assert.deepEqual(check('batch', 'Job', job({}, {})), ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']);
  assert.deepEqual(check('batch', 'Job', job({ completionMode: 'Sometimes' })), [
    'spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"',
  ]);
  assert.deepEqual(check('batch', 'Job', job({ parallelism: -1 })), ['spec.parallelism: Invalid value: -1: must be greater than or equal to 0']);
  const changed = job({}, { restartPolicy: 'Never', containers: [{ name: 'c', image: 'other' }] });
  const errs = check('batch', 'Job', changed, job());
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /^spec\.template: Invalid value: .*: field is immutable$/);
  // A job that was suspended and never started may change its template and unsuspend in one update (upstream reads the old job).
  const unsuspended = job({ suspend: false }, { restartPolicy: 'Never', nodeSelector: { pool: 'a' } });
  assert.deepEqual(check('batch', 'Job', unsuspended, job({ suspend: true })), []);
  assert.equal(check('batch', 'Job', job({ suspend: true }, { restartPolicy: 'Never', nodeSelector: { pool: 'a' } }), job({ suspend: false })).length, 1);
});

test('cronjob schedule messages', () => {
  const cj = (schedule: string, extra: any = {}) => ({
    metadata: { name: 'c' },
    spec: { schedule, jobTemplate: { spec: { template: template({}, { restartPolicy: 'OnFailure' }) } }, ...extra },
  });
  assert.deepEqual(check('batch', 'CronJob', cj('@hourly')), []);
  assert.deepEqual(check('batch', 'CronJob', cj('*/5 * * * *')), []);
  assert.deepEqual(check('batch', 'CronJob', cj('bad')), ['spec.schedule: Invalid value: "bad": expected exactly 5 fields, found 1: [bad]']);
  assert.deepEqual(check('batch', 'CronJob', cj('61 * * * *')), ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']);
  assert.deepEqual(check('batch', 'CronJob', cj('CRON_TZ=UTC 0 * * * *')), [
    'spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead',
  ]);
  assert.deepEqual(check('batch', 'CronJob', cj('0 * * * *', { timeZone: 'Mars/Base' })), ['spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base']);
  assert.equal(cronScheduleError('0 0 * JAN-MAR mon'), undefined);
});

test('service: ports required, names required when several, type enum, nodePort range, clusterIP immutable', () => {
  const svc = (spec: any) => ({ metadata: { name: 's' }, spec });
  assert.deepEqual(check('', 'Service', svc({ selector: { app: 'a' } })), ['spec.ports: Required value']);
  assert.deepEqual(check('', 'Service', svc({ ports: [{ port: 80 }, { port: 81 }] })), [
    'spec.ports[0].name: Required value',
    'spec.ports[1].name: Required value',
  ]);
  assert.deepEqual(check('', 'Service', svc({ type: 'Weird', ports: [{ port: 80 }] })), [
    'spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
  ]);
  assert.deepEqual(check('', 'Service', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })), [
    'spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
  ]);
  assert.deepEqual(check('', 'Service', svc({ clusterIP: 'None' })), []);
  const errs = check('', 'Service', svc({ clusterIPs: ['10.96.0.2'], ports: [{ port: 80 }] }), svc({ clusterIPs: ['10.96.0.1'], ports: [{ port: 80 }] }));
  assert.deepEqual(errs, ['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.2"}: may not change once set']);
});

test('configmap and secret rules', () => {
  assert.deepEqual(check('', 'ConfigMap', { data: { 'bad key': 'x' } }), [
    `data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
  ]);
  assert.deepEqual(check('', 'ConfigMap', { immutable: true, data: { a: '2' } }, { immutable: true, data: { a: '1' } }), [
    'data: Forbidden: field is immutable when `immutable` is set',
  ]);
  assert.deepEqual(check('', 'Secret', { type: 'kubernetes.io/tls', data: {} }), ['data[tls.crt]: Required value', 'data[tls.key]: Required value']);
  assert.deepEqual(check('', 'Secret', { type: 'Opaque' }, { type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } }), [
    'type: Invalid value: "Opaque": field is immutable',
  ]);
});

test('pvc, pdb, hpa, rbac, priorityclass, storageclass, endpointslice, lease, ingress', () => {
  assert.deepEqual(check('', 'PersistentVolumeClaim', { spec: {} }), [
    'spec.accessModes: Required value: at least 1 access mode is required',
    'spec.resources[storage]: Required value',
  ]);
  assert.deepEqual(check('policy', 'PodDisruptionBudget', { spec: { minAvailable: 1, maxUnavailable: 1 } }), [
    'spec: Invalid value: {"minAvailable":1,"maxUnavailable":1}: minAvailable and maxUnavailable cannot be both set',
  ]);
  assert.deepEqual(check('autoscaling', 'HorizontalPodAutoscaler', { spec: { scaleTargetRef: { kind: 'Deployment', name: 'd' }, minReplicas: 5, maxReplicas: 2 } }), [
    'spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`',
  ]);
  assert.deepEqual(check('autoscaling', 'HorizontalPodAutoscaler', { spec: { scaleTargetRef: { kind: 'Deployment', name: 'd' }, minReplicas: 0, maxReplicas: 2 } }), [
    'spec.minReplicas: Invalid value: 0: must be greater than or equal to 1',
  ]);
  assert.deepEqual(check('rbac.authorization.k8s.io', 'Role', { rules: [{ apiGroups: [''], resources: ['pods'] }] }), [
    'rules[0].verbs: Required value: verbs must contain at least one value',
  ]);
  const rb = (name: string) => ({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ kind: 'User', name: 'u' }] });
  assert.deepEqual(check('rbac.authorization.k8s.io', 'RoleBinding', rb('a')), []);
  assert.deepEqual(check('rbac.authorization.k8s.io', 'RoleBinding', rb('b'), rb('a')), [
    'roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"b"}: cannot change roleRef',
  ]);
  assert.deepEqual(check('scheduling.k8s.io', 'PriorityClass', { metadata: { name: 'high' }, value: 2000000000 }), [
    'value: Forbidden: maximum allowed value of a user defined priority is 1000000000',
  ]);
  assert.deepEqual(check('storage.k8s.io', 'StorageClass', {}), ['provisioner: Required value']);
  assert.deepEqual(check('discovery.k8s.io', 'EndpointSlice', { addressType: 'IPv5' }), [
    'addressType: Unsupported value: "IPv5": supported values: "IPv4", "IPv6", "FQDN"',
  ]);
  assert.deepEqual(check('coordination.k8s.io', 'Lease', { spec: { leaseDurationSeconds: 0 } }), ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0']);
  assert.deepEqual(
    check('networking.k8s.io', 'Ingress', { spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Wild', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } }),
    ['spec.rules[0].http.paths[0].pathType: Unsupported value: "Wild": supported values: "Exact", "ImplementationSpecific", "Prefix"'],
  );
  assert.deepEqual(validateObject('example.com', 'Widget', {}), []);
});
