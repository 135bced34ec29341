/**
 * The distributed-training examples (examples/ml-training/README.md) as a user
 * runs them with the real kubectl on a real node: the PyTorchJob's four pods
 * rendezvous over the pod network and end with the same weights on every rank
 * (in their logs and on the shared claim); the TFJob's and PaddleJob's pods
 * find a consistent TF_CONFIG / PADDLE_* and reach their peers at the
 * addresses in it; the nightly CronJob carries its schedule and a run started
 * from it retrains; the README's delete removes it all.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { KiteServer, ROOT, eventually } from './harness.js';

const EXAMPLE = join(ROOT, 'examples', 'ml-training');
const file = (name: string) => join(EXAMPLE, name);

/** The `done in …: final loss L weights sha256 H` line of one rank's log. */
function finalLine(log: string, rank: number, world: number): { loss: number; checksum: string } {
  const m = new RegExp(`^rank ${rank}/${world}: done in [0-9.]+ s: final loss ([0-9.]+) weights sha256 ([0-9a-f]{64})$`, 'm').exec(log);
  assert.ok(m, `no final line of rank ${rank}/${world} in:\n${log}`);
  return { loss: Number(m[1]), checksum: m[2] };
}

before(() => {
  // The pods run the host's python3 (the container default PATH): without PyTorch nothing below can pass, so say why once.
  const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed as d; assert d.is_gloo_available()'], { encoding: 'utf8' });
  assert.equal(torch.status, 0, `python3 cannot use torch.distributed with gloo (apt-get install -y python3-torch):\n${torch.stderr}`);
});

describe('the distributed-training examples by hand with kubectl (examples/ml-training/README.md)', () => {
  let server: KiteServer;

  before(async () => {
    server = new KiteServer({ agent: true });
    await server.start();
  });

  after(async () => {
    await server?.cleanup();
  });

  test('the PyTorchJob: four pods rendezvous, all-reduce their gradients and end with the same weights on every rank', async () => {
    const applied = await server.k(['apply', '-f', file('00-scripts.yaml'), '-f', file('10-output-volume.yaml'), '-f', file('20-pytorchjob.yaml')]);
    assert.match(applied, /configmap\/ml-training-scripts created/);
    assert.match(applied, /persistentvolumeclaim\/training-output created/);
    assert.match(applied, /pytorchjob\.kubeflow\.org\/pytorch-ddp created/);
    await server.k(['wait', '--for=condition=Succeeded', 'pytorchjob/pytorch-ddp', '--timeout=300s']);
    assert.match(await server.k(['get', 'pytorchjobs']), /^pytorch-ddp\s+Succeeded\s/m);

    // One pod per replica, named <job>-<type>-<index>, each with its own IP on the node's pod network.
    const pods = (await server.k(['get', 'pods', '-l', 'training.kubeflow.org/job-name=pytorch-ddp', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.podIP}{"\\n"}{end}']))
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    assert.deepEqual(pods.map(([name, phase]) => `${name} ${phase}`).sort(), ['pytorch-ddp-master-0 Succeeded', 'pytorch-ddp-worker-0 Succeeded', 'pytorch-ddp-worker-1 Succeeded', 'pytorch-ddp-worker-2 Succeeded']);
    assert.equal(new Set(pods.map(([, , ip]) => ip)).size, 4, `pod IPs: ${pods.map((p) => p[2]).join(', ')}`);

    // Each pod's log shows its rank (Master 0, Worker i → i+1), the rendezvous through the Master's Service, and its final weights.
    const finals: { loss: number; checksum: string }[] = [];
    for (const [pod, rank] of [['pytorch-ddp-master-0', 0], ['pytorch-ddp-worker-0', 1], ['pytorch-ddp-worker-1', 2], ['pytorch-ddp-worker-2', 3]] as const) {
      const log = await server.k(['logs', pod]);
      assert.match(log, new RegExp(`^rank ${rank}/4: joining pytorch-ddp-master-0:23456 \\(gloo, 4 processes\\) on ${pod}$`, 'm'));
      assert.match(log, new RegExp(`^rank ${rank}/4: rendezvous complete$`, 'm'));
      assert.match(log, new RegExp(`^rank ${rank}/4: step 600/600 loss [0-9.]+$`, 'm'));
      const initial = Number(new RegExp(`^rank ${rank}/4: 2048 of 8192 samples, initial loss ([0-9.]+)$`, 'm').exec(log)?.[1]);
      const final = finalLine(log, rank, 4);
      assert.ok(final.loss < initial / 2, `rank ${rank}: the loss went from ${initial} to only ${final.loss}`);
      finals.push(final);
    }
    assert.equal(new Set(finals.map((f) => f.checksum)).size, 1, `the ranks ended with different weights: ${finals.map((f) => f.checksum).join(', ')}`);
    assert.equal(new Set(finals.map((f) => f.loss)).size, 1);
    assert.match(await server.k(['logs', 'pytorch-ddp-master-0']), /^rank 0\/4: saved model to \/output\/model\.pt$/m);

    // The claim, read by a pod of its own: one checksum per rank, all the weights the logs show, and the model.
    assert.match(await server.k(['apply', '-f', `${EXAMPLE}/inspect/`]), /pod\/training-output-reader created/);
    await server.k(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/training-output-reader', '--timeout=60s']);
    const onClaim = await server.k(['logs', 'training-output-reader']);
    const expected = [0, 1, 2, 3].map((r) => `/output/checksums/rank-${r}: ${finals[0].checksum}`);
    assert.deepEqual(onClaim.split('\n').filter((l) => l.startsWith('/output/checksums/')), expected);
    const size = /^\/output\/model\.pt: (\d+) bytes$/m.exec(onClaim);
    assert.ok(size && Number(size[1]) > 1000, `no saved model on the claim:\n${onClaim}`);
    await server.k(['delete', 'pod', 'training-output-reader']);
  });

  test('the TFJob: every task finds a consistent TF_CONFIG and reaches the others at its addresses', async () => {
    assert.match(await server.k(['apply', '-f', file('00-scripts.yaml'), '-f', file('30-tfjob.yaml')]), /tfjob\.kubeflow\.org\/tf-config-check created/);
    await server.k(['wait', '--for=condition=Succeeded', 'tfjob/tf-config-check', '--timeout=180s']);
    const cluster = {
      ps: ['tf-config-check-ps-0.default.svc:2222'],
      worker: ['tf-config-check-worker-0.default.svc:2222', 'tf-config-check-worker-1.default.svc:2222'],
    };
    for (const [type, index] of [['ps', 0], ['worker', 0], ['worker', 1]] as const) {
      const log = await server.k(['logs', `tf-config-check-${type}-${index}`]);
      const raw = /^TF_CONFIG=(.*)$/m.exec(log)?.[1];
      assert.ok(raw, log);
      const config = JSON.parse(raw);
      assert.deepEqual(config.cluster, cluster);
      assert.deepEqual(config.task, { type, index });
      assert.match(log, new RegExp(`^TF_CONFIG ok: task ${type}-${index} reached all 2 other tasks and heard from them$`, 'm'));
    }

    // The check is no rubber stamp: a task index outside the cluster is refused with the reason and exit code 1.
    const broken = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'tf-config-check-worker-5' },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'tensorflow', image: 'tensorflow/tensorflow:2.17.0', command: ['python3', '/scripts/check_tf_config.py'], env: [{ name: 'TF_CONFIG', value: JSON.stringify({ cluster, task: { type: 'worker', index: 5 } }) }], volumeMounts: [{ name: 'scripts', mountPath: '/scripts' }] }],
        volumes: [{ name: 'scripts', configMap: { name: 'ml-training-scripts' } }],
      },
    };
    await server.k(['create', '-f', '-'], JSON.stringify(broken));
    await server.k(['wait', '--for=jsonpath={.status.phase}=Failed', 'pod/tf-config-check-worker-5', '--timeout=60s']);
    assert.match((await server.kubectl(['logs', 'tf-config-check-worker-5'])).stdout, /^error: task index 5 is outside the 2 worker addresses$/m);
    assert.equal(await server.k(['get', 'pod', 'tf-config-check-worker-5', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}']), '1');
    await server.k(['delete', 'pod', 'tf-config-check-worker-5']);
  });

  test('the PaddleJob: PADDLE_* agrees with each pod, and the workers reach the rendezvous on worker 0', async () => {
    assert.match(await server.k(['apply', '-f', file('00-scripts.yaml'), '-f', file('40-paddlejob.yaml')]), /paddlejob\.kubeflow\.org\/paddle-env-check created/);
    await server.k(['wait', '--for=condition=Succeeded', 'paddlejob/paddle-env-check', '--timeout=180s']);
    // Worker 0's PADDLE_MASTER is its own pod IP; the other worker's is worker 0's Service.
    const ip = (await server.k(['get', 'pod', 'paddle-env-check-worker-0', '-o', 'jsonpath={.status.podIP}'])).trim();
    const first = await server.k(['logs', 'paddle-env-check-worker-0']);
    assert.match(first, /^PADDLE_JOB_ID=paddle-env-check$/m);
    assert.match(first, /^PADDLE_NNODES=2$/m);
    assert.ok(first.includes(`PADDLE_MASTER=${ip}:37777\n`), first);
    assert.ok(first.includes(`PADDLE_* ok: all 1 other nodes reached the rendezvous at ${ip}:37777\n`), first);
    const second = await server.k(['logs', 'paddle-env-check-worker-1']);
    assert.match(second, /^PADDLE_MASTER=paddle-env-check-worker-0:37777$/m);
    assert.match(second, /^PADDLE_\* ok: node-1 reached the rendezvous at paddle-env-check-worker-0:37777$/m);
  });

  test('the nightly CronJob: scheduled at 02:00, and a run started from it retrains onto the claim', async () => {
    const applied = await server.k(['apply', '-f', file('00-scripts.yaml'), '-f', file('10-output-volume.yaml'), '-f', file('50-nightly-cronjob.yaml')]);
    assert.match(applied, /cronjob\.batch\/pytorch-nightly created/);
    assert.match(await server.k(['get', 'cronjob', 'pytorch-nightly']), /^pytorch-nightly\s+0 2 \* \* \*\s+/m);

    assert.match(await server.k(['create', 'job', '--from=cronjob/pytorch-nightly', 'pytorch-nightly-manual']), /job\.batch\/pytorch-nightly-manual created/);
    await server.k(['wait', '--for=condition=complete', 'job/pytorch-nightly-manual', '--timeout=300s']);
    const log = await server.k(['logs', 'job/pytorch-nightly-manual']);
    assert.match(log, /^rank 0\/1: 8192 of 8192 samples, initial loss [0-9.]+$/m);
    assert.match(log, /^rank 0\/1: saved model to \/output\/nightly\/model\.pt$/m);
    finalLine(log, 0, 1);
  });

  test("the README's clean-up deletes the examples, their pods and the nightly run", async () => {
    const deleted = await server.k(['delete', '-f', `${EXAMPLE}/`, '-f', `${EXAMPLE}/inspect/`, '--ignore-not-found']);
    for (const line of ['configmap "ml-training-scripts" deleted', 'persistentvolumeclaim "training-output" deleted', 'pytorchjob.kubeflow.org "pytorch-ddp" deleted', 'tfjob.kubeflow.org "tf-config-check" deleted', 'paddlejob.kubeflow.org "paddle-env-check" deleted', 'cronjob.batch "pytorch-nightly" deleted']) {
      assert.ok(deleted.includes(line), `"${line}" missing in:\n${deleted}`);
    }
    // The garbage collector removes the jobs' pods and Services, and the manual run the CronJob owns.
    await eventually(async () => (await server.k(['get', 'pods,services,jobs', '-o', 'name'])).split('\n').filter((n) => n && n !== 'service/kubernetes').length === 0, 60_000, 'the pods, Services and Jobs of the examples to go');
  });
});
