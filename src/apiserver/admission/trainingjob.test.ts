import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorMessage } from '../../api/errors.js';
import { admitTrainingJob, trainingJobDenied, trainingKindOf, validateTrainingJob } from './trainingjob.js';

const container = (name: string, image = 'python:3') => ({ name, image });
const replica = (replicas: number | undefined, ...containers: object[]) => ({ ...(replicas === undefined ? {} : { replicas }), template: { spec: { containers } } });
const job = (kind: string, spec: object, name = 'train') => ({ apiVersion: 'kubeflow.org/v1', kind, metadata: { name, namespace: 'default' }, spec });

/** The messages upstream's field.Error.Error() prints for a job's errors. */
function messages(kind: Parameters<typeof validateTrainingJob>[0], obj: unknown, old?: unknown): string[] {
  return validateTrainingJob(kind, obj, old).errors.map(fieldErrorMessage);
}

test('trainingKindOf maps the kubeflow.org resources to their kinds and nothing else', () => {
  assert.equal(trainingKindOf('kubeflow.org', 'pytorchjobs'), 'PyTorchJob');
  assert.equal(trainingKindOf('kubeflow.org', 'xgboostjobs'), 'XGBoostJob');
  assert.equal(trainingKindOf('kubeflow.org', 'mpijobs'), undefined);
  assert.equal(trainingKindOf('batch', 'jobs'), undefined);
});

test('a valid job of each kind passes', () => {
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', { pytorchReplicaSpecs: { Master: replica(1, container('pytorch')), Worker: replica(3, container('pytorch'), container('sidecar')) } })), []);
  assert.deepEqual(messages('TFJob', job('TFJob', { tfReplicaSpecs: { Chief: replica(1, container('tensorflow')), PS: replica(2, container('tensorflow')), Worker: replica(4, container('tensorflow')) } })), []);
  assert.deepEqual(messages('PaddleJob', job('PaddleJob', { paddleReplicaSpecs: { Worker: replica(2, container('paddle')) } })), []);
  assert.deepEqual(messages('XGBoostJob', job('XGBoostJob', { xgbReplicaSpecs: { Master: replica(1, container('xgboost')), Worker: replica(2, container('xgboost')) } })), []);
});

test('the replica specs must be present', () => {
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', {})), ['spec.pytorchReplicaSpecs: Required value: must be required']);
  assert.deepEqual(messages('TFJob', job('TFJob', { runPolicy: {} })), ['spec.tfReplicaSpecs: Required value: must be required']);
  // An XGBoostJob without replica specs also lacks its Master.
  assert.deepEqual(messages('XGBoostJob', job('XGBoostJob', {})), ['spec.xgbReplicaSpecs: Required value: must be required', 'spec.xgbReplicaSpecs[Master]: Required value: must be present']);
});

test('replica types, containers, images and the default container name are checked per kind', () => {
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', { pytorchReplicaSpecs: { Chief: replica(1, container('pytorch')) } })), [
    'spec.pytorchReplicaSpecs[Chief]: Unsupported value: "Chief": supported values: "Master", "Worker"',
  ]);
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', { pytorchReplicaSpecs: { Worker: replica(2) } })), [
    'spec.pytorchReplicaSpecs[Worker].template.spec.containers: Required value: must be specified',
    'spec.pytorchReplicaSpecs[Worker].template.spec.containers: Required value: must have at least one container with name pytorch',
  ]);
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', { pytorchReplicaSpecs: { Worker: replica(2, { name: 'pytorch' }) } })), [
    'spec.pytorchReplicaSpecs[Worker].template.spec.containers[0].image: Required value: must be required',
  ]);
  // The PaddleJob webhook quotes the container name.
  assert.deepEqual(messages('PaddleJob', job('PaddleJob', { paddleReplicaSpecs: { Worker: replica(2, container('main')) } })), [
    'spec.paddleReplicaSpecs[Worker].template.spec.containers: Required value: must have at least one container with name "paddle"',
  ]);
  // The TFJob webhook does not restrict replica types.
  assert.deepEqual(messages('TFJob', job('TFJob', { tfReplicaSpecs: { Custom: replica(1, container('tensorflow')) } })), []);
  assert.deepEqual(messages('TFJob', job('TFJob', { tfReplicaSpecs: { Worker: replica(1, container('tf')) } })), [
    'spec.tfReplicaSpecs[Worker].template.spec.containers: Required value: must have at least one container with name tensorflow',
  ]);
});

test('replica counts: one Master for PyTorch and XGBoost, PyTorch Workers at least 1, one Chief or Master for TF', () => {
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', { pytorchReplicaSpecs: { Master: replica(2, container('pytorch')), Worker: replica(0, container('pytorch')) } })), [
    'spec.pytorchReplicaSpecs[Master].replicas: Forbidden: must be 1',
    'spec.pytorchReplicaSpecs[Worker].replicas: Forbidden: must be at least 1',
  ]);
  // upstream: a Master with no replicas count is refused too (the webhook sees the job before any defaulting).
  assert.deepEqual(messages('XGBoostJob', job('XGBoostJob', { xgbReplicaSpecs: { Master: replica(undefined, container('xgboost')) } })), ['spec.xgbReplicaSpecs[Master].replicas: Forbidden: must be 1']);
  assert.deepEqual(messages('XGBoostJob', job('XGBoostJob', { xgbReplicaSpecs: { Worker: replica(2, container('xgboost')) } })), ['spec.xgbReplicaSpecs[Master]: Required value: must be present']);
  assert.deepEqual(messages('TFJob', job('TFJob', { tfReplicaSpecs: { Chief: replica(1, container('tensorflow')), Master: replica(1, container('tensorflow')) } })), [
    'spec.tfReplicaSpecs: Forbidden: must not have more than 1 Chief or Master role',
  ]);
  // PaddleJob replica counts are the controller's business.
  assert.deepEqual(messages('PaddleJob', job('PaddleJob', { paddleReplicaSpecs: { Master: replica(3, container('paddle')) } })), []);
});

test('the job name must be a DNS-1035 label, as it names the Services of the job', () => {
  assert.deepEqual(messages('TFJob', job('TFJob', { tfReplicaSpecs: { Worker: replica(1, container('tensorflow')) } }, '1st-run')), [
    `metadata.name: Invalid value: "1st-run": should match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
  ]);
});

test('elastic PyTorchJobs need Workers and warn about the deprecated nProcPerNode', () => {
  const elastic = (spec: object) => validateTrainingJob('PyTorchJob', job('PyTorchJob', spec));
  const noWorkers = elastic({ elasticPolicy: { minReplicas: 1 }, pytorchReplicaSpecs: { Master: replica(1, container('pytorch')) } });
  assert.deepEqual(noWorkers.errors.map(fieldErrorMessage), ['spec.pytorchReplicaSpecs[Worker]: Required value: must be configured if elastic policy is used']);
  const both = elastic({ elasticPolicy: { nProcPerNode: 2 }, nprocPerNode: '2', pytorchReplicaSpecs: { Worker: replica(2, container('pytorch')) } });
  assert.deepEqual(both.warnings, ['spec.elasticPolicy.nProcPerNode is deprecated, use spec.nprocPerNode instead']);
  assert.deepEqual(both.errors.map(fieldErrorMessage), ['spec.elasticPolicy.nProcPerNode: Forbidden: must not be used with spec.nprocPerNode']);
});

test('runPolicy.managedBy names a known controller and cannot change', () => {
  const spec = (managedBy?: string) => ({ runPolicy: managedBy === undefined ? {} : { managedBy }, pytorchReplicaSpecs: { Worker: replica(1, container('pytorch')) } });
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', spec('me'))), [
    'spec.runPolicy.managedBy: Unsupported value: "me": supported values: "kubeflow.org/training-operator", "kueue.x-k8s.io/multikueue"',
  ]);
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', spec('kueue.x-k8s.io/multikueue')), job('PyTorchJob', spec())), [
    'spec.runPolicy.managedBy: Invalid value: "kueue.x-k8s.io/multikueue": field is immutable',
  ]);
  assert.deepEqual(messages('PyTorchJob', job('PyTorchJob', spec()), job('PyTorchJob', spec('kubeflow.org/training-operator'))), ['spec.runPolicy.managedBy: Invalid value: "null": field is immutable']);
});

test('a refused job gets the webhook denial: 403 Forbidden, errors aggregated, field paths as causes', () => {
  const bad = job('PyTorchJob', { pytorchReplicaSpecs: { Master: replica(2, container('main')) } }, 'bad');
  assert.throws(
    () => admitTrainingJob('PyTorchJob', bad, undefined),
    (e: any) => {
      const s = e.toStatus();
      assert.equal(s.code, 403);
      assert.equal(s.reason, 'Forbidden');
      assert.equal(
        s.message,
        'admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: [spec.pytorchReplicaSpecs[Master].template.spec.containers: Required value: must have at least one container with name pytorch, spec.pytorchReplicaSpecs[Master].replicas: Forbidden: must be 1]',
      );
      assert.deepEqual(s.details.causes, [
        { reason: 'FieldValueRequired', message: 'Required value: must have at least one container with name pytorch', field: 'spec.pytorchReplicaSpecs[Master].template.spec.containers' },
        { reason: 'FieldValueForbidden', message: 'Forbidden: must be 1', field: 'spec.pytorchReplicaSpecs[Master].replicas' },
      ]);
      return true;
    },
  );
  // The same message twice is shown once (upstream's aggregate de-duplicates).
  const dup = trainingJobDenied('TFJob', [
    { type: 'FieldValueRequired', field: 'spec.tfReplicaSpecs', detail: 'must be required' },
    { type: 'FieldValueRequired', field: 'spec.tfReplicaSpecs', detail: 'must be required' },
  ]);
  assert.equal(dup.message, 'admission webhook "validator.tfjob.training-operator.kubeflow.org" denied the request: spec.tfReplicaSpecs: Required value: must be required');
});

test('the scheduling queue cannot change once set (the CRD rule), as 422 Invalid', () => {
  const withQueue = (queue?: string) => job('PyTorchJob', { runPolicy: { schedulingPolicy: queue === undefined ? {} : { queue } }, pytorchReplicaSpecs: { Worker: replica(1, container('pytorch')) } });
  assert.deepEqual(admitTrainingJob('PyTorchJob', withQueue('a'), withQueue('a')), []);
  assert.deepEqual(admitTrainingJob('PyTorchJob', withQueue('a'), withQueue()), [], 'setting the queue the first time is allowed');
  assert.throws(
    () => admitTrainingJob('PyTorchJob', withQueue('b'), withQueue('a')),
    (e: any) =>
      e.code === 422 &&
      e.message === 'PyTorchJob.kubeflow.org "train" is invalid: spec.runPolicy.schedulingPolicy.queue: Invalid value: "string": spec.runPolicy.schedulingPolicy.queue is immutable',
  );
});
