import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchemaResolver } from '../api/schema.js';
import { definitions } from '../api/generated/schema.js';
import { decodeAgainstSchema } from './decode.js';

const resolver = new SchemaResolver(definitions);
const DEPLOYMENT = { $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' };
const POD = { $ref: '#/definitions/io.k8s.api.core.v1.Pod' };

function deployment(spec: Record<string, unknown>): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      ...spec,
    },
  };
}

test('a valid object decodes with no findings and is left untouched', () => {
  const obj = deployment({ replicas: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } } });
  const before = structuredClone(obj);
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, obj, true);
  assert.deepEqual(f, { unknown: [], typeErrors: [] });
  assert.deepEqual(obj, before);
});

test('a string where an int32 belongs is reported in Go wording', () => {
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, deployment({ replicas: 'three' }), false);
  assert.deepEqual(f.typeErrors, ['json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32']);
});

test('type errors inside lists name the innermost struct and a path without indices, as Go does', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', 1200] }] },
  };
  const f = decodeAgainstSchema(resolver, POD, pod, false);
  assert.deepEqual(f.typeErrors, ['json: cannot unmarshal number into Go struct field Container.spec.containers.command of type string']);

  const d = deployment({});
  d.spec.template.spec.containers[0].ports = { containerPort: 80 };
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, d, false).typeErrors, [
    'json: cannot unmarshal object into Go struct field Container.spec.template.spec.containers.ports of type []v1.ContainerPort',
  ]);
  const d2 = deployment({});
  d2.spec.template.spec.containers[0].ports = ['80'];
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, d2, false).typeErrors, [
    'json: cannot unmarshal string into Go struct field Container.spec.template.spec.containers.ports of type v1.ContainerPort',
  ]);
});

test('label maps: a list is not a map, and values must be strings', () => {
  const a = deployment({});
  a.metadata.labels = ['app=web'];
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, a, false).typeErrors, [
    'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
  ]);
  const b = deployment({});
  b.metadata.labels = { tier: true };
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, b, false).typeErrors, [
    'json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string',
  ]);
});

test('numbers that do not fit the integer type are rejected with the number quoted', () => {
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, deployment({ replicas: 1.5 }), false).typeErrors, [
    'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32',
  ]);
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, deployment({ replicas: 3000000000 }), false).typeErrors, [
    'json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32',
  ]);
  // int64 fields take large values
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }], activeDeadlineSeconds: 3000000000 } };
  assert.deepEqual(decodeAgainstSchema(resolver, POD, pod, false).typeErrors, []);
});

test('an object where a struct belongs is reported with the struct type', () => {
  const d = deployment({});
  d.spec.template.spec.containers[0].livenessProbe = [{ exec: { command: ['true'] } }];
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, d, false).typeErrors, [
    'json: cannot unmarshal array into Go struct field Container.spec.template.spec.containers.livenessProbe of type v1.Probe',
  ]);
  const e = deployment({ paused: 'yes' });
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, e, false).typeErrors, [
    'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool',
  ]);
});

test('int-or-string fields accept both numbers and strings', () => {
  const obj = deployment({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '10%' } } });
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, obj, false).typeErrors, []);
});

test('unknown fields are reported with list indices and pruned when asked', () => {
  const obj = deployment({ bogus: 1 });
  obj.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
  obj.metadata.extra = 'x';
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, obj, true);
  assert.deepEqual(f.unknown.sort(), ['metadata.extra', 'spec.bogus', 'spec.template.spec.containers[0].imagePullPolicyy']);
  assert.deepEqual(f.typeErrors, []);
  assert.equal('bogus' in obj.spec, false);
  assert.equal('imagePullPolicyy' in obj.spec.template.spec.containers[0], false);
  assert.equal('extra' in obj.metadata, false);
  // what is known survives pruning
  assert.equal(obj.spec.template.spec.containers[0].image, 'nginx');
});

test('without prune, unknown fields are reported but kept', () => {
  const obj = deployment({ bogus: 1 });
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, obj, false);
  assert.deepEqual(f.unknown, ['spec.bogus']);
  assert.equal(obj.spec.bogus, 1);
});

test('map keys are never unknown fields', () => {
  const obj = deployment({});
  obj.metadata.annotations = { 'example.com/anything': 'v' };
  obj.spec.template.spec.nodeSelector = { 'kubernetes.io/os': 'linux' };
  obj.spec.template.spec.containers[0].resources = { limits: { 'nvidia.com/gpu': 1, cpu: '500m' } };
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, obj, true);
  assert.deepEqual(f, { unknown: [], typeErrors: [] });
});

test('quantities may be bare numbers (nvidia.com/gpu: 1) and are stored in canonical string form', () => {
  const obj = deployment({});
  obj.spec.template.spec.containers[0].resources = { limits: { 'nvidia.com/gpu': 1, cpu: 0.5, memory: '1Gi' }, requests: { cpu: '250m' } };
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, obj, true), { unknown: [], typeErrors: [] });
  assert.deepEqual(obj.spec.template.spec.containers[0].resources, { limits: { 'nvidia.com/gpu': '1', cpu: '500m', memory: '1Gi' }, requests: { cpu: '250m' } });
});

test('a malformed quantity fails decoding with ParseQuantity\'s message', () => {
  const obj = deployment({});
  obj.spec.template.spec.containers[0].resources = { limits: { cpu: 'lots' } };
  const f = decodeAgainstSchema(resolver, DEPLOYMENT, obj, true);
  assert.equal(f.typeErrors.length, 1);
  assert.match(f.typeErrors[0], /^quantities must match the regular expression/);
});

test('null values are accepted anywhere (they decode to the zero value)', () => {
  const obj = deployment({ replicas: null, strategy: null });
  assert.deepEqual(decodeAgainstSchema(resolver, DEPLOYMENT, obj, false), { unknown: [], typeErrors: [] });
});
