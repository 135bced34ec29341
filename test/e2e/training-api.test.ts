/**
 * The Kubeflow training API as kubectl sees it on a fresh Kite server: the
 * four kubeflow.org/v1 kinds are served out of the box with the training
 * operator's schemas (`kubectl explain`), printer columns (`kubectl get`),
 * status and scale subresources (`kubectl scale`), and its webhooks'
 * validation (`kubectl apply` of a bad manifest is refused with the
 * operator's message). The server runs no training controller, so the
 * status written here stays as written.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer } from './harness.js';

let server: KiteServer;
const NS = 'training-api';

/** A PyTorchJob as the operator's examples write them (image aside). */
const PYTORCH_JOB = `apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: pytorch-simple
  namespace: ${NS}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      restartPolicy: OnFailure
      template:
        spec:
          containers:
          - name: pytorch
            image: python:3.11
            imagePullPolicy: IfNotPresent
            command: ["python3", "/opt/mnist/mnist.py", "--epochs=1"]
    Worker:
      replicas: 1
      restartPolicy: OnFailure
      template:
        metadata:
          labels:
            team: vision
        spec:
          containers:
          - name: pytorch
            image: python:3.11
            imagePullPolicy: IfNotPresent
            command: ["python3", "/opt/mnist/mnist.py", "--epochs=1"]
            resources:
              limits:
                cpu: 500m
                memory: 1Gi
`;

const TF_JOB = `apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: tf-dist
  namespace: ${NS}
spec:
  runPolicy:
    cleanPodPolicy: None
    backoffLimit: 3
  tfReplicaSpecs:
    PS:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: python:3.11
            ports:
            - name: tfjob-port
              containerPort: 2222
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: python:3.11
`;

const PADDLE_JOB = `apiVersion: kubeflow.org/v1
kind: PaddleJob
metadata:
  name: paddle-simple
  namespace: ${NS}
spec:
  paddleReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: OnFailure
      template:
        spec:
          containers:
          - name: paddle
            image: python:3.11
            command: ["python", "-m", "paddle.distributed.launch", "train.py"]
`;

const XGBOOST_JOB = `apiVersion: kubeflow.org/v1
kind: XGBoostJob
metadata:
  name: xgboost-iris
  namespace: ${NS}
spec:
  xgbReplicaSpecs:
    Master:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: xgboost
            image: python:3.11
            ports:
            - containerPort: 9991
              name: xgboostjob-port
    Worker:
      replicas: 2
      restartPolicy: ExitCode
      template:
        spec:
          containers:
          - name: xgboost
            image: python:3.11
`;

/** The rows of kubectl's table output, split on runs of spaces (empty cells are kept by position). */
function table(out: string): string[][] {
  const lines = out.trimEnd().split('\n');
  const header = lines[0]!;
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index!);
  return lines.map((l) => starts.map((s, i) => l.slice(s, starts[i + 1] ?? l.length).trim()));
}

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  await server.namespace(NS);
});

after(async () => {
  await server?.cleanup();
});

test('kubectl api-resources lists the four kinds of kubeflow.org/v1, namespaced, without short names', async () => {
  const rows = table(await server.k(['api-resources', '--api-group=kubeflow.org']));
  assert.deepEqual(rows, [
    ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'],
    ['paddlejobs', '', 'kubeflow.org/v1', 'true', 'PaddleJob'],
    ['pytorchjobs', '', 'kubeflow.org/v1', 'true', 'PyTorchJob'],
    ['tfjobs', '', 'kubeflow.org/v1', 'true', 'TFJob'],
    ['xgboostjobs', '', 'kubeflow.org/v1', 'true', 'XGBoostJob'],
  ]);
});

test('kubectl explain walks the schemas, into the inlined pod template', async () => {
  const replicaSpecs = await server.k(['explain', 'pytorchjob.spec.pytorchReplicaSpecs']);
  assert.match(replicaSpecs, /^GROUP:\s+kubeflow\.org\nKIND:\s+PyTorchJob\nVERSION:\s+v1\n/);
  assert.match(replicaSpecs, /FIELD: pytorchReplicaSpecs <map\[string\]Object>/);
  for (const f of ['replicas\t<integer>', 'restartPolicy\t<string>', 'template\t<Object>']) assert.ok(replicaSpecs.includes(`  ${f}\n`), `${f} in:\n${replicaSpecs}`);

  const runPolicy = await server.k(['explain', 'tfjob.spec.runPolicy']);
  assert.match(runPolicy, /KIND:\s+TFJob/);
  assert.match(runPolicy, /FIELD: runPolicy <Object>/);
  const fields = [...runPolicy.matchAll(/^ {2}(\w+)\t<(\w+)>/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(fields, ['activeDeadlineSeconds integer', 'backoffLimit integer', 'cleanPodPolicy string', 'managedBy string', 'schedulingPolicy Object', 'suspend boolean', 'ttlSecondsAfterFinished integer']);

  const ports = await server.k(['explain', 'xgboostjob.spec.xgbReplicaSpecs.template.spec.containers.ports']);
  assert.match(ports, /FIELD: ports <\[\]Object>/);
  assert.match(ports, /containerPort\t<integer> -required-/);
});

test('kubectl get shows the upstream columns; STATE is the last condition once status has some', async () => {
  await server.k(['apply', '-f', '-'], PYTORCH_JOB);
  await server.k(['apply', '-f', '-'], TF_JOB);
  let rows = table(await server.k(['get', 'pytorchjobs', '-n', NS]));
  assert.deepEqual(rows[0], ['NAME', 'STATE', 'AGE']);
  assert.deepEqual(rows[1]!.slice(0, 2), ['pytorch-simple', '']);
  assert.match(rows[1]![2]!, /^\d+s$/);

  const status = {
    status: {
      conditions: [
        { type: 'Created', status: 'True', reason: 'PyTorchJobCreated', message: 'PyTorchJob pytorch-simple is created.' },
        { type: 'Running', status: 'True', reason: 'PyTorchJobRunning', message: 'PyTorchJob pytorch-simple is running.' },
      ],
    },
  };
  await server.k(['patch', 'pytorchjob', 'pytorch-simple', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  rows = table(await server.k(['get', 'pytorchjobs', '-n', NS]));
  assert.deepEqual(rows[1]!.slice(0, 2), ['pytorch-simple', 'Running']);
  // The template's labels and the quantities survive pruning; the status write left the spec alone.
  const job = JSON.parse(await server.k(['get', 'pytorchjob', 'pytorch-simple', '-n', NS, '-o', 'json']));
  assert.deepEqual(job.spec.pytorchReplicaSpecs.Worker.template.metadata.labels, { team: 'vision' });
  assert.deepEqual(job.spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].resources.limits, { cpu: '500m', memory: '1Gi' });
  assert.equal(job.status.conditions.length, 2);

  await server.k(['patch', 'tfjob', 'tf-dist', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [{ type: 'Created', status: 'True' }, { type: 'Running', status: 'False' }, { type: 'Succeeded', status: 'True' }] } })]);
  rows = table(await server.k(['get', 'tfjobs', '-n', NS]));
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [['NAME', 'STATE'], ['tf-dist', 'Succeeded']]);
});

test('manifests of every kind apply unchanged and read back as written', async () => {
  for (const [manifest, resource, name] of [[PADDLE_JOB, 'paddlejobs', 'paddle-simple'], [XGBOOST_JOB, 'xgboostjobs', 'xgboost-iris']] as const) {
    const out = await server.k(['apply', '-f', '-'], manifest);
    assert.equal(out.trim(), `${resource.replace(/s$/, '')}.kubeflow.org/${name} created`);
    const names = await server.k(['get', resource, '-n', NS, '-o', 'name']);
    assert.equal(names.trim(), `${resource.replace(/s$/, '')}.kubeflow.org/${name}`);
  }
  const xgb = JSON.parse(await server.k(['get', 'xgboostjob', 'xgboost-iris', '-n', NS, '-o', 'json']));
  assert.equal(xgb.spec.xgbReplicaSpecs.Worker.restartPolicy, 'ExitCode');
  // The schema's default for a port's protocol applies inside the template, as on upstream.
  assert.deepEqual(xgb.spec.xgbReplicaSpecs.Master.template.spec.containers[0].ports, [{ containerPort: 9991, name: 'xgboostjob-port', protocol: 'TCP' }]);
});

test('kubectl scale changes the Worker replicas of a PyTorchJob through the scale subresource', async () => {
  const selector = 'training.kubeflow.org/job-name=pytorch-simple,training.kubeflow.org/replica-type=worker';
  await server.k(['patch', 'pytorchjob', 'pytorch-simple', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { replicaStatuses: { Worker: { active: 1, selector } } } })]);
  assert.equal((await server.k(['scale', 'pytorchjob/pytorch-simple', '-n', NS, '--replicas=3'])).trim(), 'pytorchjob.kubeflow.org/pytorch-simple scaled');
  const job = JSON.parse(await server.k(['get', 'pytorchjob', 'pytorch-simple', '-n', NS, '-o', 'json']));
  assert.equal(job.spec.pytorchReplicaSpecs.Worker.replicas, 3);
  assert.equal(job.spec.pytorchReplicaSpecs.Master.replicas, 1);
  const scale = JSON.parse(await server.k(['get', 'pytorchjob', 'pytorch-simple', '-n', NS, '--subresource=scale', '-o', 'json']));
  assert.deepEqual([scale.kind, scale.spec, scale.status], ['Scale', { replicas: 3 }, { replicas: 1, selector }]);
  // A TFJob has no scale subresource upstream.
  const r = await server.kubectl(['scale', 'tfjob/tf-dist', '-n', NS, '--replicas=3']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the server could not find the requested resource/);
});

test('kubectl apply of an invalid job is refused with the operator webhook message', async () => {
  const refused = async (manifest: string) => {
    const r = await server.kubectl(['apply', '-f', '-'], { input: manifest });
    assert.equal(r.code, 1, r.stdout);
    return r.stderr.trim();
  };
  const noDefaultContainer = PYTORCH_JOB.replace('name: pytorch-simple', 'name: bad-container').replaceAll('- name: pytorch\n', '- name: trainer\n');
  assert.equal(
    await refused(noDefaultContainer),
    'Error from server (Forbidden): error when creating "STDIN": admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: [spec.pytorchReplicaSpecs[Master].template.spec.containers: Required value: must have at least one container with name pytorch, spec.pytorchReplicaSpecs[Worker].template.spec.containers: Required value: must have at least one container with name pytorch]',
  );
  const twoMasters = PYTORCH_JOB.replace('name: pytorch-simple', 'name: two-masters').replace('replicas: 1', 'replicas: 2');
  assert.equal(
    await refused(twoMasters),
    'Error from server (Forbidden): error when creating "STDIN": admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: spec.pytorchReplicaSpecs[Master].replicas: Forbidden: must be 1',
  );
  const chiefAndMaster = TF_JOB.replace('name: tf-dist', 'name: tf-two-leaders').replace('    PS:\n', '    Chief:\n').replace('    Worker:\n', '    Master:\n');
  assert.equal(
    await refused(chiefAndMaster),
    'Error from server (Forbidden): error when creating "STDIN": admission webhook "validator.tfjob.training-operator.kubeflow.org" denied the request: spec.tfReplicaSpecs: Forbidden: must not have more than 1 Chief or Master role',
  );
  const badName = PADDLE_JOB.replace('name: paddle-simple', 'name: 2nd-run');
  assert.match(await refused(badName), /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "validator\.paddlejob\.training-operator\.kubeflow\.org" denied the request: metadata\.name: Invalid value: "2nd-run": should match: a DNS-1035 label must consist of/);
  // Without replica specs the CRD schema refuses it first (required), as upstream's apiserver does before webhooks.
  assert.equal(
    await refused(`apiVersion: kubeflow.org/v1\nkind: XGBoostJob\nmetadata:\n  name: empty\n  namespace: ${NS}\nspec: {}\n`),
    'The XGBoostJob "empty" is invalid: spec.xgbReplicaSpecs: Required value',
  );
  const names = await server.k(['get', 'pytorchjobs,tfjobs,paddlejobs,xgboostjobs', '-n', NS, '-o', 'name']);
  for (const n of ['bad-container', 'two-masters', 'tf-two-leaders', '2nd-run', 'empty']) assert.ok(!names.includes(`/${n}\n`), `${n} was not stored`);
});

test('updates are validated too: managedBy and the scheduling queue do not change once set', async () => {
  const patch = (p: object) => server.kubectl(['patch', 'pytorchjob', 'pytorch-simple', '-n', NS, '--type=merge', '-p', JSON.stringify(p)]);
  let r = await patch({ spec: { runPolicy: { managedBy: 'kueue.x-k8s.io/multikueue' } } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), 'Error from server (Forbidden): admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: spec.runPolicy.managedBy: Invalid value: "kueue.x-k8s.io/multikueue": field is immutable');
  r = await patch({ spec: { runPolicy: { schedulingPolicy: { queue: 'team-a' } } } });
  assert.equal(r.code, 0, r.stderr);
  r = await patch({ spec: { runPolicy: { schedulingPolicy: { queue: 'team-b' } } } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), 'The PyTorchJob "pytorch-simple" is invalid: spec.runPolicy.schedulingPolicy.queue: Invalid value: "string": spec.runPolicy.schedulingPolicy.queue is immutable');
  // A deprecated field passes with the operator's warning.
  r = await patch({ spec: { elasticPolicy: { minReplicas: 1, maxReplicas: 3, nProcPerNode: 1 } } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Warning: spec\.elasticPolicy\.nProcPerNode is deprecated, use spec\.nprocPerNode instead$/m);
});
