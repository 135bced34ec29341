import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrainingJob } from '../../api/kubeflow.js';
import type { PodSpec } from '../../api/generated/types.js';
import { setCondition } from './conditions.js';
import { isMasterRole, replicaName, setClusterSpec, statusChanges, tfConfig, withDefaults } from './frameworks.js';

const container = (name: string, ports?: { name: string; containerPort: number }[]) => ({ name, image: 'busybox', ...(ports ? { ports } : {}) });
const replica = (replicas: number, containerName: string, extra: Record<string, unknown> = {}) => ({ replicas, template: { spec: { containers: [container(containerName), container('sidecar')] } }, ...extra });

function job(kind: string, field: string, specs: Record<string, unknown>, spec: Record<string, unknown> = {}): TrainingJob {
  return { apiVersion: 'kubeflow.org/v1', kind: kind as TrainingJob['kind'], metadata: { name: 'mnist', namespace: 'ml' }, spec: { [field]: specs, ...spec } } as TrainingJob;
}

/** The env of `container` in the pod a replica of the defaulted job gets, as a name→value map. */
function envOf(kind: 'PyTorchJob' | 'TFJob' | 'PaddleJob' | 'XGBoostJob', j: TrainingJob, rtype: string, index: number, containerName: string): Record<string, string> {
  const d = withDefaults(kind, j);
  const field = Object.keys(d.spec ?? {}).find((k) => k.endsWith('ReplicaSpecs'))!;
  const spec = structuredClone((d.spec as any)[field][rtype].template.spec) as PodSpec;
  setClusterSpec(kind, d, spec, rtype, index);
  const c = spec.containers.find((x) => x.name === containerName)!;
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath}`]));
}

test('defaults follow the operator: canonical replica types, replicas 1, the kind restart policy, the default port, cleanPodPolicy None', () => {
  const d = withDefaults('PyTorchJob', job('PyTorchJob', 'pytorchReplicaSpecs', { master: { template: { spec: { containers: [container('pytorch')] } } }, WORKER: replica(2, 'pytorch') }));
  const specs = (d.spec as any).pytorchReplicaSpecs;
  assert.deepEqual(Object.keys(specs).sort(), ['Master', 'Worker']);
  assert.equal(specs.Master.replicas, 1);
  assert.equal(specs.Master.restartPolicy, 'OnFailure');
  assert.deepEqual(specs.Master.template.spec.containers[0].ports, [{ name: 'pytorchjob-port', containerPort: 23456 }]);
  assert.equal((d.spec as any).runPolicy.cleanPodPolicy, 'None');
  assert.equal((d.spec as any).nprocPerNode, 'auto');
  const tf = withDefaults('TFJob', job('TFJob', 'tfReplicaSpecs', { Worker: replica(1, 'tensorflow') }));
  assert.equal((tf.spec as any).tfReplicaSpecs.Worker.restartPolicy, 'Never');
  assert.equal((tf.spec as any).successPolicy, '');
  assert.equal(replicaName('mnist', 'Worker', 3), 'mnist-worker-3');
});

test('PyTorch: MASTER_ADDR/PORT, WORLD_SIZE, RANK and PET_* go into every container; workers rank after the master', () => {
  const j = job('PyTorchJob', 'pytorchReplicaSpecs', { Master: replica(1, 'pytorch'), Worker: replica(2, 'pytorch') });
  const master = envOf('PyTorchJob', j, 'Master', 0, 'pytorch');
  assert.deepEqual(master, {
    PYTHONUNBUFFERED: '1',
    MASTER_PORT: '23456',
    PET_MASTER_PORT: '23456',
    MASTER_ADDR: 'mnist-master-0',
    PET_MASTER_ADDR: 'mnist-master-0',
    WORLD_SIZE: '3',
    RANK: '0',
    PET_NODE_RANK: '0',
    PET_NPROC_PER_NODE: 'auto',
    PET_NNODES: '3',
  });
  assert.equal(envOf('PyTorchJob', j, 'Worker', 1, 'pytorch').RANK, '2');
  assert.equal(envOf('PyTorchJob', j, 'Worker', 1, 'sidecar').MASTER_ADDR, 'mnist-master-0', 'upstream sets every container');
  const n4 = job('PyTorchJob', 'pytorchReplicaSpecs', { Master: replica(1, 'pytorch'), Worker: replica(1, 'pytorch') }, { nprocPerNode: '4' });
  assert.equal(envOf('PyTorchJob', n4, 'Worker', 0, 'pytorch').WORLD_SIZE, '8');
});

test('PyTorch elastic: the rendezvous endpoint is worker 0, PET_NNODES is min:max, rdzv settings pass through', () => {
  const j = job('PyTorchJob', 'pytorchReplicaSpecs', { Worker: replica(2, 'pytorch') }, {
    elasticPolicy: { minReplicas: 1, maxReplicas: 4, maxRestarts: 3, rdzvId: 'r1', rdzvConf: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] },
  });
  const e = envOf('PyTorchJob', j, 'Worker', 0, 'pytorch');
  assert.equal(e.PET_RDZV_ENDPOINT, 'mnist-worker-0:23456');
  assert.equal(e.PET_RDZV_BACKEND, 'c10d');
  assert.equal(e.PET_NNODES, '1:4');
  assert.equal(e.PET_MAX_RESTARTS, '3');
  assert.equal(e.PET_RDZV_ID, 'r1');
  assert.equal(e.PET_RDZV_CONF, 'a=1,b=2');
  assert.equal(e.MASTER_ADDR, undefined, 'no Master, no MASTER_ADDR');
});

test('TF: TF_CONFIG lists every replica as <svc>.<ns>.svc:<port>, only in the tensorflow container, not for a single replica', () => {
  const j = job('TFJob', 'tfReplicaSpecs', { PS: replica(1, 'tensorflow'), Worker: replica(2, 'tensorflow') });
  const e = envOf('TFJob', j, 'Worker', 1, 'tensorflow');
  assert.deepEqual(JSON.parse(e.TF_CONFIG!), {
    cluster: { ps: ['mnist-ps-0.ml.svc:2222'], worker: ['mnist-worker-0.ml.svc:2222', 'mnist-worker-1.ml.svc:2222'] },
    task: { type: 'worker', index: 1 },
    environment: 'cloud',
  });
  assert.equal(envOf('TFJob', j, 'Worker', 1, 'sidecar').TF_CONFIG, undefined);
  assert.equal(tfConfig(withDefaults('TFJob', job('TFJob', 'tfReplicaSpecs', { Worker: replica(1, 'tensorflow') })), 'Worker', 0), undefined);
  const dyn = job('TFJob', 'tfReplicaSpecs', { PS: replica(1, 'tensorflow'), Worker: replica(2, 'tensorflow') }, { enableDynamicWorker: true });
  assert.deepEqual(JSON.parse(envOf('TFJob', dyn, 'Worker', 1, 'tensorflow').TF_CONFIG!), {
    cluster: { worker: { '1': 'mnist-worker-1.ml.svc:2222' }, ps: ['mnist-ps-0.ml.svc:2222'] },
    task: { type: 'worker', index: 1 },
  });
});

test('Paddle: master 0 advertises its pod IP, the others its Service; PS mode counts servers and trainers', () => {
  const j = job('PaddleJob', 'paddleReplicaSpecs', { Master: replica(1, 'paddle'), Worker: replica(2, 'paddle') });
  const m = envOf('PaddleJob', j, 'Master', 0, 'paddle');
  assert.equal(m.POD_IP_DUMMY, 'fieldRef:status.podIP');
  assert.equal(m.PADDLE_MASTER, '$(POD_IP_DUMMY):36543');
  assert.equal(m.PADDLE_SERVER_NUM, '1');
  const w = envOf('PaddleJob', j, 'Worker', 1, 'paddle');
  assert.deepEqual([w.PADDLE_MASTER, w.PADDLE_NNODES, w.PADDLE_JOB_ID, w.PADDLE_TRAINER_NUM], ['mnist-master-0:36543', '3', 'mnist', '1']);
  const collective = job('PaddleJob', 'paddleReplicaSpecs', { Worker: replica(2, 'paddle') });
  assert.equal(envOf('PaddleJob', collective, 'Worker', 1, 'paddle').PADDLE_MASTER, 'mnist-worker-0:36543');
});

test('XGBoost: RANK counts workers after the masters; WORKER_ADDRS names the workers', () => {
  const j = job('XGBoostJob', 'xgbReplicaSpecs', { Master: replica(1, 'xgboost'), Worker: replica(2, 'xgboost') });
  const w = envOf('XGBoostJob', j, 'Worker', 1, 'xgboost');
  assert.deepEqual(
    [w.MASTER_ADDR, w.MASTER_PORT, w.WORLD_SIZE, w.RANK, w.WORKER_PORT, w.WORKER_ADDRS],
    ['mnist-master-0', '9999', '3', '2', '9999', 'mnist-worker-0,mnist-worker-1'],
  );
});

test('the master role: PyTorch Master or worker 0, TF Chief/Master or worker 0', () => {
  assert.equal(isMasterRole('PyTorchJob', { Master: {}, Worker: {} }, 'Worker', 0), false);
  assert.equal(isMasterRole('PyTorchJob', { Worker: {} }, 'Worker', 0), true);
  assert.equal(isMasterRole('TFJob', { Chief: {}, Worker: {} }, 'Chief', 0), true);
  assert.equal(isMasterRole('TFJob', { PS: {}, Worker: {} }, 'Worker', 1), false);
});

test('status rules: PyTorch succeeds with its Master, TF with worker 0, failures restart or fail by restartPolicy', () => {
  const py = withDefaults('PyTorchJob', job('PyTorchJob', 'pytorchReplicaSpecs', { Master: replica(1, 'pytorch'), Worker: replica(2, 'pytorch') }));
  const specs = (py.spec as any).pytorchReplicaSpecs;
  const done = statusChanges({ kind: 'PyTorchJob', job: py, specs, replicaStatuses: { Master: { succeeded: 1 }, Worker: { active: 2 } }, worker0Completed: false });
  assert.deepEqual(done.map((c) => [c.type, c.reason, c.message]), [['Succeeded', 'PyTorchJobSucceeded', 'PyTorchJob mnist is successfully completed.']]);
  const restarting = statusChanges({ kind: 'PyTorchJob', job: py, specs, replicaStatuses: { Master: { active: 1 }, Worker: { active: 1, failed: 1 } }, worker0Completed: false });
  assert.deepEqual(restarting.map((c) => [c.type, c.message]), [
    ['Running', 'PyTorchJob mnist is running.'],
    ['Restarting', 'PyTorchJob mnist is restarting because 1 Worker replica(s) failed.'],
  ]);
  specs.Worker.restartPolicy = 'Never';
  const failed = statusChanges({ kind: 'PyTorchJob', job: py, specs, replicaStatuses: { Master: { active: 1 }, Worker: { active: 1, failed: 1 } }, worker0Completed: false });
  assert.deepEqual(failed.at(-1), {
    type: 'Failed',
    reason: 'PyTorchJobFailed',
    message: 'PyTorchJob mnist is failed because 1 Worker replica(s) failed.',
    complete: true,
    event: { type: 'Normal', reason: 'PyTorchJobFailed', message: 'PyTorchJob mnist is failed because 1 Worker replica(s) failed.' },
  });
  const tf = withDefaults('TFJob', job('TFJob', 'tfReplicaSpecs', { PS: replica(1, 'tensorflow'), Worker: replica(2, 'tensorflow') }));
  const tfSpecs = (tf.spec as any).tfReplicaSpecs;
  const tfDone = statusChanges({ kind: 'TFJob', job: tf, specs: tfSpecs, replicaStatuses: { PS: { active: 1 }, Worker: { active: 1, succeeded: 1 } }, worker0Completed: true });
  assert.deepEqual(tfDone.map((c) => [c.type, c.message]), [['Succeeded', 'TFJob ml/mnist successfully completed.']]);
  (tf.spec as any).successPolicy = 'AllWorkers';
  assert.deepEqual(statusChanges({ kind: 'TFJob', job: tf, specs: tfSpecs, replicaStatuses: { PS: { active: 1 }, Worker: { active: 1, succeeded: 1 } }, worker0Completed: true }).map((c) => c.type), ['Running']);
});

test('conditions read as a history: the last is the current state, the state it replaced turns False, Failed is final', () => {
  const st = {};
  setCondition(st, 'Created', 'True', 'PyTorchJobCreated', 'PyTorchJob mnist is created.', 't1');
  setCondition(st, 'Running', 'True', 'PyTorchJobRunning', 'PyTorchJob mnist is running.', 't2');
  setCondition(st, 'Restarting', 'True', 'PyTorchJobRestarting', 'restarting', 't3');
  setCondition(st, 'Running', 'True', 'PyTorchJobRunning', 'PyTorchJob mnist is running.', 't4');
  setCondition(st, 'Succeeded', 'True', 'PyTorchJobSucceeded', 'done', 't5');
  const conds = (st as any).conditions.map((c: any) => `${c.type}=${c.status}@${c.lastTransitionTime}`);
  assert.deepEqual(conds, ['Created=True@t1', 'Restarting=False@t4', 'Running=False@t5', 'Succeeded=True@t5']);
  const failed = {};
  setCondition(failed, 'Failed', 'True', 'PyTorchJobFailed', 'x', 't1');
  setCondition(failed, 'Running', 'True', 'PyTorchJobRunning', 'y', 't2');
  assert.deepEqual((failed as any).conditions.map((c: any) => c.type), ['Failed']);
});
