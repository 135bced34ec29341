import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomResources } from '../apiserver/customresources.js';
import { defaultCRD, validateCRD } from '../apiserver/crd/index.js';
import { startTestCluster } from '../controllers/testenv.js';
import { ensureTrainingCRDs, trainingCRDName, trainingCRDs } from './kubeflow-crds.js';
import { TRAINING_KINDS, trainingResource, type TrainingKind } from './kubeflow.js';

const CRDS = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };
const KINDS = Object.keys(TRAINING_KINDS) as TrainingKind[];

function crdOf(kind: TrainingKind): any {
  const crd = trainingCRDs().find((c: any) => c.spec.names.kind === kind);
  assert.ok(crd, `a CRD for ${kind}`);
  return crd;
}

/** The pod template schema of a kind's replica specs. */
function templateOf(kind: TrainingKind): any {
  const spec = crdOf(kind).spec.versions[0].schema.openAPIV3Schema.properties.spec;
  return spec.properties[TRAINING_KINDS[kind].replicaSpecsField].additionalProperties.properties.template;
}

test('each training kind has a namespaced kubeflow.org/v1 CRD with the names, columns and subresources of the operator', () => {
  assert.deepEqual(trainingCRDs().map((c: any) => c.metadata.name), KINDS.map(trainingCRDName));
  for (const kind of KINDS) {
    const info = TRAINING_KINDS[kind];
    const crd = crdOf(kind);
    assert.equal(crd.spec.group, 'kubeflow.org');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.names, { kind, listKind: `${kind}List`, plural: info.plural, singular: info.singular });
    assert.equal(crd.spec.versions.length, 1);
    const v = crd.spec.versions[0];
    assert.deepEqual([v.name, v.served, v.storage], ['v1', true, true]);
    assert.deepEqual(v.additionalPrinterColumns, [
      { name: 'State', type: 'string', jsonPath: '.status.conditions[-1:].type' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ]);
    assert.deepEqual(v.subresources.status, {});
    assert.deepEqual(v.schema.openAPIV3Schema.properties.spec.required, [info.replicaSpecsField]);
  }
  // The operator marks scale on the kinds whose Workers scale: PyTorchJob and PaddleJob.
  assert.deepEqual(crdOf('PyTorchJob').spec.versions[0].subresources.scale, {
    specReplicasPath: '.spec.pytorchReplicaSpecs.Worker.replicas',
    statusReplicasPath: '.status.replicaStatuses.Worker.active',
    labelSelectorPath: '.status.replicaStatuses.Worker.selector',
  });
  assert.equal(crdOf('PaddleJob').spec.versions[0].subresources.scale.specReplicasPath, '.spec.paddleReplicaSpecs.Worker.replicas');
  assert.equal(crdOf('TFJob').spec.versions[0].subresources.scale, undefined);
  assert.equal(crdOf('XGBoostJob').spec.versions[0].subresources.scale, undefined);
});

test('the pod template is inlined from the Kubernetes spec with types, list-map keys and defaults, without patch metadata or prose', () => {
  const template = templateOf('PyTorchJob');
  // generateEmbeddedObjectMeta: the template's metadata keeps labels and annotations through pruning.
  assert.deepEqual(Object.keys(template.properties.metadata.properties), ['annotations', 'finalizers', 'labels', 'name', 'namespace']);
  const pod = template.properties.spec;
  assert.equal(pod.type, 'object');
  assert.deepEqual(pod.required, ['containers']);
  const containers = pod.properties.containers;
  assert.equal(containers.type, 'array');
  assert.equal(containers['x-kubernetes-list-type'], 'map');
  assert.deepEqual(containers['x-kubernetes-list-map-keys'], ['name']);
  assert.equal(containers.description, undefined, 'no upstream prose');
  assert.equal(containers['x-kubernetes-patch-merge-key'], undefined, 'patch metadata is not part of a CRD schema');
  const c = containers.items.properties;
  assert.deepEqual(c.image, { type: 'string' });
  assert.deepEqual(c.ports['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  assert.equal(c.ports.items.properties.protocol.default, 'TCP');
  assert.deepEqual(c.ports.items.properties.containerPort, { type: 'integer', format: 'int32' });
  assert.deepEqual(c.env['x-kubernetes-list-map-keys'], ['name']);
  assert.equal(c.env.items.properties.valueFrom.properties.configMapKeyRef['x-kubernetes-map-type'], 'atomic');
  const limit = c.resources.properties.limits.additionalProperties;
  assert.deepEqual(limit.anyOf, [{ type: 'integer' }, { type: 'string' }]);
  assert.equal(limit['x-kubernetes-int-or-string'], true);
  assert.ok(limit.pattern, 'quantities carry their pattern');
  assert.deepEqual(c.livenessProbe.properties.httpGet.properties.port, { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true });
  assert.deepEqual(pod.properties.terminationGracePeriodSeconds, { type: 'integer', format: 'int64' });
  assert.equal(pod.properties.tolerations['x-kubernetes-list-type'], 'atomic');
  assert.deepEqual(pod.properties.volumes['x-kubernetes-list-map-keys'], ['name']);
  assert.equal(pod.properties.nodeSelector['x-kubernetes-map-type'], 'atomic');
  const json = JSON.stringify(pod);
  assert.ok(!json.includes('$ref'), 'every reference is inlined');
  assert.ok(!json.includes('x-kubernetes-patch'), 'no patch metadata anywhere');
  // Every kind embeds the same pod template.
  for (const kind of KINDS) assert.deepEqual(templateOf(kind), template);
});

test('the job fields follow the operator types: run policy, elastic policy, status with conditions and replica statuses', () => {
  const root = crdOf('PyTorchJob').spec.versions[0].schema.openAPIV3Schema;
  const spec = root.properties.spec.properties;
  assert.deepEqual(Object.keys(spec), ['elasticPolicy', 'nprocPerNode', 'pytorchReplicaSpecs', 'runPolicy']);
  const run = spec.runPolicy.properties;
  assert.deepEqual(Object.keys(run), ['activeDeadlineSeconds', 'backoffLimit', 'cleanPodPolicy', 'managedBy', 'schedulingPolicy', 'suspend', 'ttlSecondsAfterFinished']);
  assert.equal(run.activeDeadlineSeconds.format, 'int64');
  assert.equal(run.suspend.default, false);
  assert.equal(run.schedulingPolicy.properties.minResources.additionalProperties['x-kubernetes-int-or-string'], true);
  assert.deepEqual(run.schedulingPolicy.properties.queue['x-kubernetes-validations'], [{ rule: 'self == oldSelf', message: 'spec.runPolicy.schedulingPolicy.queue is immutable' }]);
  assert.deepEqual(Object.keys(spec.pytorchReplicaSpecs.additionalProperties.properties), ['replicas', 'restartPolicy', 'template']);
  const metric = spec.elasticPolicy.properties.metrics.items;
  assert.deepEqual(metric.required, ['type']);
  assert.ok(metric.properties.resource.properties.target.properties.averageValue['x-kubernetes-int-or-string']);
  const status = root.properties.status.properties;
  assert.deepEqual(status.conditions.items.required, ['status', 'type']);
  assert.deepEqual(status.conditions.items.properties.lastUpdateTime, { description: status.conditions.items.properties.lastUpdateTime.description, type: 'string', format: 'date-time' });
  const replicaStatus = status.replicaStatuses.additionalProperties.properties;
  assert.deepEqual(Object.keys(replicaStatus), ['active', 'failed', 'labelSelector', 'selector', 'succeeded']);
  assert.equal(replicaStatus.labelSelector['x-kubernetes-map-type'], 'atomic');
  assert.deepEqual(Object.keys(crdOf('TFJob').spec.versions[0].schema.openAPIV3Schema.properties.spec.properties), ['enableDynamicWorker', 'runPolicy', 'successPolicy', 'tfReplicaSpecs']);
  assert.deepEqual(Object.keys(crdOf('PaddleJob').spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.elasticPolicy.properties), ['maxReplicas', 'maxRestarts', 'metrics', 'minReplicas']);
});

test('the CRDs pass the API server CRD validation (structural schema, printer columns, scale paths)', () => {
  for (const crd of trainingCRDs()) {
    defaultCRD(crd);
    assert.deepEqual(validateCRD(crd, undefined), [], (crd as any).metadata.name);
  }
});

test('ensureTrainingCRDs installs the CRDs once, waits until they are served, and the jobs pass through validation', async () => {
  const c = await startTestCluster();
  const crs = new CustomResources(c.registry);
  await crs.start();
  try {
    await c.namespace('default');
    await ensureTrainingCRDs(c.client);
    const before = await c.client.get<any>(CRDS, '', 'pytorchjobs.kubeflow.org');
    assert.ok(before.status.conditions.some((x: any) => x.type === 'Established' && x.status === 'True'));
    await ensureTrainingCRDs(c.client);
    const after = await c.client.get<any>(CRDS, '', 'pytorchjobs.kubeflow.org');
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'an up-to-date CRD is left alone');
    const job = {
      apiVersion: 'kubeflow.org/v1',
      kind: 'PyTorchJob',
      metadata: { name: 'mnist', namespace: 'default' },
      spec: {
        pytorchReplicaSpecs: {
          Worker: {
            replicas: 2,
            template: { metadata: { labels: { app: 'mnist' } }, spec: { containers: [{ name: 'pytorch', image: 'python:3', ports: [{ containerPort: 23456 }] }] } },
          },
        },
      },
    };
    const created = await c.client.create<any>(trainingResource('PyTorchJob'), 'default', job);
    const worker = created.spec.pytorchReplicaSpecs.Worker;
    assert.deepEqual(worker.template.metadata.labels, { app: 'mnist' }, 'template labels survive pruning');
    assert.equal(worker.template.spec.containers[0].ports[0].protocol, 'TCP', 'schema defaults apply inside the template');
    assert.equal(created.spec.runPolicy?.suspend, undefined, 'defaults apply only where the parent object exists');
    await assert.rejects(
      c.client.create(trainingResource('PyTorchJob'), 'default', { ...job, metadata: { name: 'bad', namespace: 'default' }, spec: { pytorchReplicaSpecs: { Worker: { template: { spec: { containers: [{ name: 'main', image: 'python:3' }] } } } } } }),
      (e: any) =>
        e.code === 403 &&
        e.message ===
          'admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: spec.pytorchReplicaSpecs[Worker].template.spec.containers: Required value: must have at least one container with name pytorch',
    );
  } finally {
    crs.stop();
    await c.close();
  }
});
