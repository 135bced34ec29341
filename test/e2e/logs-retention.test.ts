/**
 * Logs of finished training pods stay readable after the pods are deleted
 * (as a training job's cleanPodPolicy deletes them): `kite server
 * --retain-training-logs` keeps the logs of pods labelled
 * training.kubeflow.org/job-name on their node for that long, and the real
 * kubectl reads them with `kubectl logs` as if the pod were there. Pods
 * without the label, and kept logs whose time is up, are NotFound as upstream.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KiteServer, eventually } from './harness.js';

const NS = 'training';
/** Long enough for the reads below on a loaded machine, short enough to see it pass. */
const RETAIN_SECONDS = 25;
let server: KiteServer;

const pod = (name: string, labels: Record<string, string>, containers: { name: string; script: string }[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { restartPolicy: 'Never', containers: containers.map((c) => ({ name: c.name, image: 'python', command: ['sh', '-c', c.script] })) },
});

before(async () => {
  server = new KiteServer({ agent: true, extraArgs: ['--retain-training-logs', `${RETAIN_SECONDS}s`] });
  await server.start();
  await server.namespace(NS);
  const job = { 'training.kubeflow.org/job-name': 'mnist' };
  await server.k(
    ['apply', '-n', NS, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        pod('mnist-master-0', { ...job, 'training.kubeflow.org/replica-type': 'master' }, [{ name: 'pytorch', script: 'echo "epoch 1 loss 0.50"; echo "epoch 2 loss 0.25"; echo "saved model" >&2' }]),
        pod('mnist-worker-0', { ...job, 'training.kubeflow.org/replica-type': 'worker' }, [
          { name: 'pytorch', script: 'echo "worker 0 done"' },
          { name: 'metrics', script: 'echo "accuracy 0.97"' },
        ]),
        pod('plain', {}, [{ name: 'main', script: 'echo "not a training pod"' }]),
      ],
    }),
  );
  for (const p of ['mnist-master-0', 'mnist-worker-0', 'plain']) await server.k(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Succeeded', `pod/${p}`, '--timeout=60s']);
});

after(async () => {
  await server?.cleanup();
});

const kubectl = (args: string[]) => server.kubectl(['-n', NS, ...args]);

test('kubectl logs reads a deleted training pod, and stops once the retention time is up', { timeout: 180_000 }, async () => {
  const live = await kubectl(['logs', 'mnist-master-0']);
  assert.equal(live.stdout, 'epoch 1 loss 0.50\nepoch 2 loss 0.25\nsaved model\n');
  // What a training job's cleanPodPolicy does once the job is done.
  await server.k(['delete', '-n', NS, 'pod', 'mnist-master-0', 'mnist-worker-0', 'plain']);
  const deletedAt = Date.now();

  // The pod is gone from the API, as upstream…
  const get = await kubectl(['get', 'pod', 'mnist-master-0']);
  assert.equal(get.stderr, 'Error from server (NotFound): pods "mnist-master-0" not found\n');

  // …and its logs read as they did while it was there, nothing added.
  const logs = await kubectl(['logs', 'mnist-master-0']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout, 'epoch 1 loss 0.50\nepoch 2 loss 0.25\nsaved model\n');
  assert.equal(logs.stderr, '');
  assert.equal((await kubectl(['logs', 'mnist-master-0', '--tail=1'])).stdout, 'saved model\n');
  assert.match((await kubectl(['logs', 'mnist-master-0', '--timestamps'])).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z epoch 1 loss 0\.50\n/);
  assert.equal((await kubectl(['logs', 'mnist-worker-0', '-c', 'metrics'])).stdout, 'accuracy 0.97\n');
  assert.equal((await kubectl(['logs', 'pod/mnist-worker-0', '-c', 'pytorch'])).stdout, 'worker 0 done\n');
  // The pods/log API itself (what client libraries call) serves them too.
  assert.equal(await server.k(['get', '--raw', `/api/v1/namespaces/${NS}/pods/mnist-worker-0/log?container=metrics`]), 'accuracy 0.97\n');
  // A container the pod never had: kubectl's own check (it has the kept pod), and the API server's BadRequest.
  const bad = await kubectl(['logs', 'mnist-worker-0', '-c', 'nope']);
  assert.equal(bad.stderr, 'error: container nope is not valid for pod mnist-worker-0\n');
  const badRaw = await kubectl(['get', '--raw', `/api/v1/namespaces/${NS}/pods/mnist-worker-0/log?container=nope`]);
  assert.equal(badRaw.stderr, 'Error from server (BadRequest): container nope is not valid for pod mnist-worker-0\n');
  assert.ok(Date.now() - deletedAt < RETAIN_SECONDS * 1000, 'the reads above ran within the retention time (raise RETAIN_SECONDS if this machine is slower)');

  // A pod without the training label keeps upstream behaviour: its logs go with it.
  const plain = await kubectl(['logs', 'plain']);
  assert.equal(plain.code, 1);
  assert.equal(plain.stderr, `error: error from server (NotFound): pods "plain" not found in namespace "${NS}"\n`);
  const plainRaw = await kubectl(['get', '--raw', `/api/v1/namespaces/${NS}/pods/plain/log`]);
  assert.equal(plainRaw.stderr, 'Error from server (NotFound): pods "plain" not found\n');

  // Once the retention time has passed, the node removes them: NotFound, and nothing left on disk.
  const kept = join(server.dataDir, 'agent', 'retained-logs', NS);
  assert.ok(existsSync(kept));
  await eventually(async () => !existsSync(kept), (RETAIN_SECONDS + 30) * 1000, 'the kept logs removed');
  const after = await kubectl(['logs', 'mnist-master-0']);
  assert.equal(after.code, 1);
  assert.equal(after.stderr, `error: error from server (NotFound): pods "mnist-master-0" not found in namespace "${NS}"\n`);
});
