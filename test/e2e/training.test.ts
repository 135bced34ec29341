/**
 * Kubeflow training jobs on a real node: `kite server` with its node agent
 * runs PyTorchJob and TFJob manifests in the training operator's style,
 * driven by the real kubectl — pods and headless Services per replica, the
 * injected environment reaching real processes (a PyTorch-style rendezvous
 * over the pod network at MASTER_ADDR:MASTER_PORT), TF_CONFIG, backoff
 * failure, a gang that cannot fit explained by `kubectl describe`, and
 * suspend/resume with `kubectl patch`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await eventually(async () => (await server.k(['get', 'nodes', '-o', 'name'])).includes('node/'), 15_000, 'the node to register');
  await server.namespace('train');
});

after(async () => {
  await server?.cleanup();
});

/** The master accepts one connection per worker on MASTER_PORT, as torch's TCPStore does, then exits 0. */
const MASTER = `import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(os.environ["MASTER_PORT"]))); s.listen()
n = int(os.environ["WORLD_SIZE"]) - 1
for _ in range(n): s.accept()[0].close()
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "met", n, "workers", flush=True)`;

/** A worker says whether MASTER_ADDR resolved when it started, connects to MASTER_ADDR:MASTER_PORT (retrying while the master starts listening), then exits 0. */
const WORKER = `import os, socket, time
try:
    socket.gethostbyname(os.environ["MASTER_ADDR"]); print("master resolved at start", flush=True)
except OSError:
    print("master not resolved at start", flush=True)
for i in range(300):
    try:
        socket.create_connection((os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])), timeout=5).close(); break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("no master")
print("rank", os.environ["RANK"], "joined", os.environ["MASTER_ADDR"], flush=True)`;

function pytorchJob(name: string, opts: { workers?: number; workerCommand?: string[]; masterCommand?: string[]; runPolicy?: string; cpu?: string } = {}): string {
  const container = (cmd: string[]) => `
          containers:
          - name: pytorch
            image: docker.io/kubeflowkatib/pytorch-mnist:v1beta1-45c5727
            command: ${JSON.stringify(cmd)}${opts.cpu ? `\n            resources: {requests: {cpu: "${opts.cpu}"}}` : ''}`;
  return `apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: ${name}
  namespace: train
spec:
${opts.runPolicy ?? ''}  pytorchReplicaSpecs:
    Master:
      replicas: 1
      restartPolicy: OnFailure
      template:
        spec:${container(opts.masterCommand ?? ['python3', '-c', MASTER])}
    Worker:
      replicas: ${opts.workers ?? 2}
      restartPolicy: OnFailure
      template:
        spec:${container(opts.workerCommand ?? ['python3', '-c', WORKER])}
`;
}

test('a PyTorchJob runs a master and two workers that meet at MASTER_ADDR:MASTER_PORT, and succeeds', async () => {
  await server.k(['apply', '-f', '-'], pytorchJob('mnist'));
  await server.k(['wait', '--for=condition=Succeeded', '-n', 'train', 'pytorchjob/mnist', '--timeout=120s']);
  const pods = (await server.k(['get', 'pods', '-n', 'train', '-l', 'training.kubeflow.org/job-name=mnist', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}'])).trim().split('\n').sort();
  assert.deepEqual(pods, ['mnist-master-0=Succeeded', 'mnist-worker-0=Succeeded', 'mnist-worker-1=Succeeded']);
  const services = (await server.k(['get', 'services', '-n', 'train', '-l', 'training.kubeflow.org/job-name=mnist', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.clusterIP}{"\\n"}{end}'])).trim().split('\n').sort();
  assert.deepEqual(services, ['mnist-master-0 None', 'mnist-worker-0 None', 'mnist-worker-1 None']);
  assert.match(await server.k(['logs', '-n', 'train', 'mnist-master-0']), /rank 0 of 3 met 2 workers/);
  assert.match(await server.k(['logs', '-n', 'train', 'mnist-worker-1']), /rank 2 joined mnist-master-0/);
  // Workers wait for the master's ready endpoint in the node agent, not in an init container of theirs.
  const worker = JSON.parse(await server.k(['get', 'pod', '-n', 'train', 'mnist-worker-0', '-o', 'json']));
  assert.equal(worker.metadata.annotations['kite.io/wait-for-service'], 'mnist-master-0');
  assert.equal(worker.spec.initContainers, undefined);
  const master = JSON.parse(await server.k(['get', 'pod', '-n', 'train', 'mnist-master-0', '-o', 'json']));
  assert.equal(master.metadata.annotations?.['kite.io/wait-for-service'], undefined);
  // So each worker started once the master's headless Service answered in cluster DNS (only ready endpoints do).
  for (const name of ['mnist-worker-0', 'mnist-worker-1']) assert.match(await server.k(['logs', '-n', 'train', name]), /^master resolved at start$/m);
  const conditions = await server.k(['get', 'pytorchjob', '-n', 'train', 'mnist', '-o', 'jsonpath={range .status.conditions[*]}{.type}={.status}:{.reason}{"\\n"}{end}']);
  assert.deepEqual(conditions.trim().split('\n'), ['Created=True:PyTorchJobCreated', 'Running=False:PyTorchJobRunning', 'Succeeded=True:PyTorchJobSucceeded']);
});

test('a TFJob gives every replica a TF_CONFIG naming the cluster and its own task', async () => {
  const replica = (count: number) => `
      replicas: ${count}
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: tensorflow/tensorflow:2.16.1
            command: ["sh", "-c", "echo \\"$TF_CONFIG\\""]`;
  await server.k(['apply', '-f', '-'], `apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: dist, namespace: train}
spec:
  tfReplicaSpecs:
    PS:${replica(1)}
    Worker:${replica(2)}
`);
  await server.k(['wait', '--for=condition=Succeeded', '-n', 'train', 'tfjob/dist', '--timeout=120s']);
  const cfg = JSON.parse((await server.k(['logs', '-n', 'train', 'dist-worker-1'])).trim());
  assert.deepEqual(cfg, {
    cluster: { ps: ['dist-ps-0.train.svc:2222'], worker: ['dist-worker-0.train.svc:2222', 'dist-worker-1.train.svc:2222'] },
    task: { type: 'worker', index: 1 },
    environment: 'cloud',
  });
  assert.equal(JSON.parse((await server.k(['logs', '-n', 'train', 'dist-ps-0'])).trim()).task.type, 'ps');
});

test('an XGBoostJob in the style of the operator\'s examples: the tracker on the Master, workers reach it with MASTER_* and WORKER_ADDRS, and it succeeds', async () => {
  // As the operator's examples/xgboost manifests write it, with a stand-in for the training script.
  const tracker = `import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(os.environ["MASTER_PORT"]))); s.listen()
ranks = sorted(int(s.accept()[0].makefile().readline()) for _ in range(int(os.environ["WORLD_SIZE"]) - 1))
print("tracker rank", os.environ["RANK"], "heard ranks", ranks, "workers", os.environ["WORKER_ADDRS"], flush=True)`;
  const worker = `import os, socket, time
for i in range(300):
    try:
        c = socket.create_connection((os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])), timeout=5); break
    except OSError:
        time.sleep(0.1)
c.sendall((os.environ["RANK"] + "\\n").encode()); c.close()
print("worker rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], flush=True)`;
  const replica = (count: number, script: string) => `
      replicas: ${count}
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: xgboost
            image: docker.io/kubeflow/xgboost-dist-iris:latest
            ports:
            - containerPort: 9991
              name: xgboostjob-port
            imagePullPolicy: Always
            command: ["python3", "-c", ${JSON.stringify(script)}]
            args: ["--job_type=Train", "--xgboost_parameter=objective:multi:softprob,num_class:3", "--n_estimators=10", "--learning_rate=0.1"]`;
  await server.k(['apply', '-f', '-'], `apiVersion: kubeflow.org/v1
kind: XGBoostJob
metadata:
  name: xgboost-dist-iris-test-train
  namespace: train
spec:
  xgbReplicaSpecs:
    Master:${replica(1, tracker)}
    Worker:${replica(2, worker)}
`);
  await server.k(['wait', '--for=condition=Succeeded', '-n', 'train', 'xgboostjob/xgboost-dist-iris-test-train', '--timeout=120s']);
  assert.match(await server.k(['get', 'xgboostjobs', '-n', 'train']), /^xgboost-dist-iris-test-train\s+Succeeded\s+\d+s$/m);
  assert.equal(
    (await server.k(['logs', '-n', 'train', 'xgboost-dist-iris-test-train-master-0'])).trim(),
    'tracker rank 0 heard ranks [1, 2] workers xgboost-dist-iris-test-train-worker-0,xgboost-dist-iris-test-train-worker-1',
  );
  assert.equal((await server.k(['logs', '-n', 'train', 'xgboost-dist-iris-test-train-worker-1'])).trim(), 'worker rank 2 of 3');
  // The port the manifest names is the one MASTER_PORT carries.
  const env = JSON.parse(await server.k(['get', 'pod', '-n', 'train', 'xgboost-dist-iris-test-train-worker-0', '-o', 'jsonpath={.spec.containers[0].env}']));
  assert.equal(env.find((e: any) => e.name === 'MASTER_PORT').value, '9991');
  assert.equal(env.find((e: any) => e.name === 'MASTER_ADDR').value, 'xgboost-dist-iris-test-train-master-0');
});

test('a worker that keeps failing under OnFailure fails the job once it passes backoffLimit', async () => {
  await server.k(['apply', '-f', '-'], pytorchJob('flaky', { workers: 1, workerCommand: ['sh', '-c', 'echo crash; exit 3'], masterCommand: ['python3', '-c', 'import time; time.sleep(600)'], runPolicy: '  runPolicy: {backoffLimit: 1}\n' }));
  await server.k(['wait', '--for=condition=Failed', '-n', 'train', 'pytorchjob/flaky', '--timeout=120s']);
  const reason = await server.k(['get', 'pytorchjob', '-n', 'train', 'flaky', '-o', 'jsonpath={.status.conditions[-1].reason}|{.status.conditions[-1].message}']);
  assert.equal(reason, 'PyTorchJobFailed|Job flaky has failed because it has reached the specified backoff limit');
  // The job failed on its limit, so its pods are gone whatever cleanPodPolicy says (as the operator does).
  await eventually(async () => (await server.k(['get', 'pods', '-n', 'train', '-l', 'training.kubeflow.org/job-name=flaky', '-o', 'name'])).trim() === '', 60_000, 'the pods to go');
});

test('kubectl describe explains a job whose gang cannot fit on the node', async () => {
  await server.k(['apply', '-f', '-'], pytorchJob('huge', { workers: 1, cpu: '5000' }));
  const described = await eventually(async () => {
    const out = await server.k(['describe', 'pytorchjob', '-n', 'train', 'huge']);
    return /waiting for its pods to be scheduled/.test(out) && out;
  }, 60_000, 'the waiting reason');
  assert.match(described, /PyTorchJobUnschedulable/);
  assert.match(described, /0\/1 nodes are available: resource gap: map\[cpu:/);
  assert.equal(await server.k(['get', 'podgroup', '-n', 'train', 'huge', '-o', 'jsonpath={.spec.minMember}']), '2');
  await server.k(['delete', 'pytorchjob', '-n', 'train', 'huge']);
});

test('kubectl patch suspends a running job (pods go, Suspended) and resumes it (pods come back)', async () => {
  await server.k(['apply', '-f', '-'], pytorchJob('pause', { workers: 1, masterCommand: ['python3', '-c', 'import time; time.sleep(600)'], workerCommand: ['python3', '-c', 'import time; time.sleep(600)'] }));
  await server.k(['wait', '--for=condition=Running', '-n', 'train', 'pytorchjob/pause', '--timeout=120s']);
  await server.k(['patch', 'pytorchjob', '-n', 'train', 'pause', '--type=merge', '-p', '{"spec":{"runPolicy":{"suspend":true}}}']);
  await server.k(['wait', '--for=condition=Suspended', '-n', 'train', 'pytorchjob/pause', '--timeout=60s']);
  await eventually(async () => (await server.k(['get', 'pods', '-n', 'train', '-l', 'training.kubeflow.org/job-name=pause', '-o', 'name'])).trim() === '', 60_000, 'the pods to go');
  await server.k(['patch', 'pytorchjob', '-n', 'train', 'pause', '--type=merge', '-p', '{"spec":{"runPolicy":{"suspend":false}}}']);
  await server.k(['wait', '--for=condition=Running', '-n', 'train', 'pytorchjob/pause', '--timeout=120s']);
  const suspended = await server.k(['get', 'pytorchjob', '-n', 'train', 'pause', '-o', 'jsonpath={.status.conditions[?(@.type=="Suspended")].status}:{.status.conditions[?(@.type=="Suspended")].reason}']);
  assert.equal(suspended, 'False:PyTorchJobResumed');
  await server.k(['delete', 'pytorchjob', '-n', 'train', 'pause', '--wait=true']);
});
