import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeKubernetesProtobuf, encodeKubernetesProtobuf, formatDuration, isKubernetesProtobuf, parseDuration,
} from './protobuf.js';

// Request bodies captured from kubectl v1.32 (`kubectl create ...` against a recording server),
// each with the JSON the same command prints under `--dry-run=client -o json`.
const CAPTURED: Record<string, { body: string; json: unknown }> = {
  'kubectl create deployment web --image=nginx:1.27 --replicas=0 --port=8080': {
    body: 'azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50Er4BCh8KA3dlYhIAGgAiACoAMgA4AEIAWgoKA2FwcBIDd2ViEowBCAASDAoKCgNhcHASA3dlYhpyChwKABIAGgAiACoAMgA4AEIAWgoKA2FwcBIDd2ViElISNAoFbmdpbngSCm5naW54OjEuMjcqADILCgAQABiQPyIAKgBCAGoAcgCAAQCIAQCQAQCiAQAaADIAQgBKAFIAWABgAGgAggEAigEAmgEAwgEAIgIKACgAOAAaDAgAEAAYACAAKAA4ABoAIgA=',
    json: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'web', creationTimestamp: null, labels: { app: 'web' } }, spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 8080 }], resources: {} }] } }, strategy: {} }, status: {} },
  },
  'kubectl create secret generic creds --from-literal=user=admin --from-literal=pass=s3cr3t!': {
    body: 'azhzAAoMCgJ2MRIGU2VjcmV0EjkKFQoFY3JlZHMSABoAIgAqADIAOABCABIPCgRwYXNzEgdzM2NyM3QhEg0KBHVzZXISBWFkbWluGgAaACIA',
    json: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'creds', creationTimestamp: null }, data: { pass: 'czNjcjN0IQ==', user: 'YWRtaW4=' } },
  },
  'kubectl create service clusterip web --tcp=80:8080 --tcp=443:https': {
    body: 'azhzAAoNCgJ2MRIHU2VydmljZRKNAQofCgN3ZWISABoAIgAqADIAOABCAFoKCgNhcHASA3dlYhJmChsKBzgwLTgwODASA1RDUBhQIgcIABCQPxoAKAAKIgoJNDQzLWh0dHBzEgNUQ1AYuwMiCwgBEAAaBWh0dHBzKAASCgoDYXBwEgN3ZWIaACIJQ2x1c3RlcklQOgBCAFIAWgBgAGgAGgIKABoAIgA=',
    json: { kind: 'Service', apiVersion: 'v1', metadata: { name: 'web', creationTimestamp: null, labels: { app: 'web' } }, spec: { ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }, { name: '443-https', protocol: 'TCP', port: 443, targetPort: 'https' }], selector: { app: 'web' }, type: 'ClusterIP' }, status: { loadBalancer: {} } },
  },
  "kubectl create cronjob tick --image=busybox '--schedule=*/5 * * * *' -- date": {
    body: 'azhzAAoTCghiYXRjaC92MRIHQ3JvbkpvYhKqAQoUCgR0aWNrEgAaACIAKgAyADgAQgASjwEKCyovNSAqICogKiAqGgAqfgoUCgR0aWNrEgAaACIAKgAyADgAQgASZjJkChAKABIAGgAiACoAMgA4AEIAElASKQoEdGljaxIHYnVzeWJveBoEZGF0ZSoAQgBqAHIAgAEAiAEAkAEAogEAGglPbkZhaWx1cmUyAEIASgBSAFgAYABoAIIBAIoBAJoBAMIBABoAGgAiAA==',
    json: { kind: 'CronJob', apiVersion: 'batch/v1', metadata: { name: 'tick', creationTimestamp: null }, spec: { schedule: '*/5 * * * *', jobTemplate: { metadata: { name: 'tick', creationTimestamp: null }, spec: { template: { metadata: { creationTimestamp: null }, spec: { containers: [{ name: 'tick', image: 'busybox', command: ['date'], resources: {} }], restartPolicy: 'OnFailure' } } } } }, status: {} },
  },
  'kubectl create configmap cfg --from-literal=a=1 --from-literal=b=two': {
    body: 'azhzAAoPCgJ2MRIJQ29uZmlnTWFwEicKEwoDY2ZnEgAaACIAKgAyADgAQgASBgoBYRIBMRIICgFiEgN0d28aACIA',
    json: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'cfg', creationTimestamp: null }, data: { a: '1', b: 'two' } },
  },
  'kubectl create namespace team-a': {
    body: 'azhzAAoPCgJ2MRIJTmFtZXNwYWNlEh4KFgoGdGVhbS1hEgAaACIAKgAyADgAQgASABoCCgAaACIA',
    json: { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'team-a', creationTimestamp: null }, spec: {}, status: {} },
  },
  'kubectl create token bot --duration=10m --audience=api': {
    body: 'azhzAAooChhhdXRoZW50aWNhdGlvbi5rOHMuaW8vdjESDFRva2VuUmVxdWVzdBIiChAKABIAGgAiACoAMgA4AEIAEggKA2FwaSDYBBoECgASABoAIgA=',
    json: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { creationTimestamp: null }, spec: { audiences: ['api'], expirationSeconds: 600 }, status: { token: '', expirationTimestamp: null } },
  },
};

for (const [command, { body, json }] of Object.entries(CAPTURED)) {
  test(`decodes the body of \`${command}\` to the JSON kubectl would send`, () => {
    const decoded = decodeKubernetesProtobuf(Buffer.from(body, 'base64'));
    assert.deepEqual(decoded.object, json);
    assert.equal(decoded.apiVersion, (json as { apiVersion: string }).apiVersion);
    assert.equal(decoded.kind, (json as { kind: string }).kind);
  });
}

test('recognises the protobuf content type with or without parameters', () => {
  assert.equal(isKubernetesProtobuf('application/vnd.kubernetes.protobuf'), true);
  assert.equal(isKubernetesProtobuf('Application/VND.Kubernetes.Protobuf; charset=binary'), true);
  assert.equal(isKubernetesProtobuf('application/json'), false);
  assert.equal(isKubernetesProtobuf('application/vnd.kubernetes.protobuf.foo'), false);
});

test('a Deployment round-trips with zero replicas, quantities, env, ports and a label selector', () => {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'train', namespace: 'ml', labels: { app: 'train' }, creationTimestamp: '2024-01-02T03:04:05Z', generation: 3 },
    spec: {
      replicas: 0,
      revisionHistoryLimit: 0,
      selector: { matchLabels: { app: 'train' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'train' } },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [{
            name: 'main',
            image: 'python:3.12',
            args: ['train.py', '--epochs=3'],
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }, { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { 'nvidia.com/gpu': '1' } },
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
          }],
          volumes: [{ name: 'data', emptyDir: { sizeLimit: '10Gi' } }, { name: 'cfg', configMap: { name: 'cfg', defaultMode: 420 } }],
        },
      },
    },
  };
  const { object } = decodeKubernetesProtobuf(encodeKubernetesProtobuf(deployment));
  assert.deepEqual(object, deployment);
});

test('omits zero values of omitempty fields but keeps zero values of pointer fields', () => {
  // Go writes non-pointer fields even when zero; encoding/json leaves out the omitempty ones.
  const body = encodeKubernetesProtobuf({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'x', namespace: '', uid: '', generation: 0 },
    spec: { replicas: 0, minReadySeconds: 0, paused: false, template: { spec: { containers: [{ name: '', image: '' }] } } },
  });
  const { object } = decodeKubernetesProtobuf(body);
  assert.deepEqual(object.metadata, { name: 'x' });
  assert.equal(object.spec.replicas, 0);
  assert.equal('minReadySeconds' in object.spec, false);
  assert.equal('paused' in object.spec, false);
  // Container.name has no omitempty, so JSON shows it even when empty.
  assert.deepEqual(object.spec.template.spec.containers, [{ name: '' }]);
});

test('Secret data bytes become base64, including non-UTF-8 bytes', () => {
  const bytes = Buffer.from([0, 255, 128, 10]).toString('base64');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', immutable: false, data: { bin: bytes, empty: '' } };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(secret)).object, secret);
});

test('a map key named __proto__ stays an ordinary data key', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: JSON.parse('{"__proto__":"x","b":"y"}') };
  const { object } = decodeKubernetesProtobuf(encodeKubernetesProtobuf(cm));
  assert.deepEqual(Object.keys(object.data), ['__proto__', 'b']);
  assert.equal(Object.getPrototypeOf(object.data), Object.prototype);
  assert.equal(object.data.__proto__, 'x');
});

test('Time, MicroTime and Duration take their JSON string forms', () => {
  const event = {
    apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', creationTimestamp: '2024-01-02T03:04:05Z' },
    eventTime: '2024-05-06T07:08:09.123456Z', reason: 'Started', note: 'n', type: 'Normal', action: 'Start',
    reportingController: 'kite', reportingInstance: 'kite-1',
    series: { count: 2, lastObservedTime: '2024-05-06T07:08:10.000001Z' },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(event)).object, event);
  const hpa = {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' },
    spec: { scaleTargetRef: { kind: 'Deployment', name: 'd', apiVersion: 'apps/v1' }, minReplicas: 1, maxReplicas: 4 },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(hpa)).object, hpa);
  const lease = {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' },
    spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2024-01-02T03:04:05.500000Z' },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(lease)).object, lease);
});

test('Go duration strings format and parse as time.Duration does', () => {
  assert.equal(formatDuration(0n), '0s');
  assert.equal(formatDuration(60_000_000_000n), '1m0s');
  assert.equal(formatDuration(3_723_500_000_000n), '1h2m3.5s');
  assert.equal(formatDuration(300_000_000n), '300ms');
  assert.equal(formatDuration(1_500n), '1.5µs');
  assert.equal(formatDuration(-2_000_000_000n), '-2s');
  assert.equal(parseDuration('1h30m'), 5_400_000_000_000n);
  assert.equal(parseDuration('1.5s'), 1_500_000_000n);
  assert.throws(() => parseDuration('5 minutes'), /invalid duration/);
});

test('IntOrString, inline structs, RawExtension and FieldsV1 decode to their JSON forms', () => {
  const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'p' }, spec: { minAvailable: '50%', maxUnavailable: 1 } };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(pdb)).object, pdb);
  // Volume embeds VolumeSource with `json:",inline"`: its fields sit beside `name`.
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: 'p',
      managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': {} } } }],
    },
    spec: { containers: [{ name: 'c', image: 'i' }], volumes: [{ name: 'v', hostPath: { path: '/data', type: 'Directory' } }] },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(pod)).object, pod);
  const revision = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, data: { spec: { template: { x: [1, 'two', null] } } }, revision: 2 };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(revision)).object, revision);
});

test('slice wrapper types (ExtraValue) decode to bare arrays', () => {
  const review = {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: {},
    spec: { user: 'alice', groups: ['dev'], extra: { scopes: ['a', 'b'] }, resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'default' } },
    status: { allowed: true },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(review)).object, review);
});

test('CustomResourceDefinition schemas keep x-kubernetes-* names, JSON values and OrBool forms', () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'jobs.kubeflow.org' },
    spec: {
      group: 'kubeflow.org', scope: 'Namespaced',
      names: { plural: 'jobs', kind: 'Job' },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: {
          type: 'object', 'x-kubernetes-preserve-unknown-fields': true,
          properties: { spec: { type: 'object', additionalProperties: false, default: { replicas: 1 }, maximum: 2.5, enum: ['a', 3] } },
        } },
      }],
    },
  };
  assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(crd)).object, crd);
});

test('option kinds labelled with a typed client\'s group version resolve to meta/v1 DeleteOptions', () => {
  // DeleteOptions: gracePeriodSeconds = 1 (0), propagationPolicy = 4 ("Foreground").
  const raw = Buffer.concat([Buffer.from([0x08, 0x00, 0x22, 10]), Buffer.from('Foreground')]);
  const { object } = decodeKubernetesProtobuf(encodeWithEnvelope('apps/v1', 'DeleteOptions', raw));
  assert.deepEqual(object, { apiVersion: 'apps/v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, propagationPolicy: 'Foreground' });
});

test('packed repeated scalars, negative int64 and unknown fields are read correctly', () => {
  // PodSecurityContext (PodSpec field 14): supplementalGroups = 4 (repeated int64, packed here),
  // runAsUser = 2 (int64, -1 as a 10-byte varint), unknown field 99 (string) skipped.
  const negOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
  const psc = Buffer.from([0x22, 0x02, 0x05, 0x07, 0x10, ...negOne, 0x9a, 0x06, 0x01, 0x78]);
  const podSpec = Buffer.from([0x72, psc.length, ...psc]);
  const pod = Buffer.from([0x12, podSpec.length, ...podSpec]);
  const { object } = decodeKubernetesProtobuf(encodeWithEnvelope('v1', 'Pod', pod));
  assert.deepEqual(object, { apiVersion: 'v1', kind: 'Pod', spec: { securityContext: { supplementalGroups: [5, 7], runAsUser: -1 } } });
});

test('rejects bodies without the k8s magic, empty bodies, truncation and unknown kinds', () => {
  assert.throws(() => decodeKubernetesProtobuf(Buffer.from('{"kind":"Pod"}')), /expected prefix 6b 38 73 00/);
  assert.throws(() => decodeKubernetesProtobuf(Buffer.from('k8s\0', 'latin1')), /empty body/);
  const good = Buffer.from(CAPTURED['kubectl create namespace team-a'].body, 'base64');
  assert.throws(() => decodeKubernetesProtobuf(good.subarray(0, good.length - 12)), /unexpected end of data/);
  const noKind = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x12, 0x00])]);
  assert.throws(() => decodeKubernetesProtobuf(noKind), /Kind.*missing/);
  assert.throws(() => decodeKubernetesProtobuf(encodeWithEnvelope('example.com/v1', 'Widget', Buffer.alloc(0))), /no kind "Widget" is registered for version "example.com\/v1"/);
  // A string field whose wire type says varint.
  assert.throws(() => decodeKubernetesProtobuf(encodeWithEnvelope('v1', 'Namespace', Buffer.from([0x0a, 0x02, 0x08, 0x01]))), /metadata\.name has wire type 0, expected 2/);
});

/** Wraps raw message bytes in the magic + runtime.Unknown envelope. */
function encodeWithEnvelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const str = (no: number, s: Buffer) => Buffer.concat([Buffer.from([(no << 3) | 2, s.length]), s]);
  const typeMeta = Buffer.concat([str(1, Buffer.from(apiVersion)), str(2, Buffer.from(kind))]);
  let rawLen = raw.length;
  const lenBytes: number[] = [];
  do { lenBytes.push((rawLen & 0x7f) | (rawLen > 0x7f ? 0x80 : 0)); rawLen >>= 7; } while (rawLen > 0);
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), str(1, typeMeta), Buffer.from([0x12, ...lenBytes]), raw]);
}
