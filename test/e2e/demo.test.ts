/**
 * The first ML use, as a user meets it: the examples/ml-demo walkthrough run
 * with the real kubectl exactly as its README says (train Job → model on a
 * claim → batch-inference Job → accuracy in its logs), and `kite up --demo`
 * (what `npm start` runs) as a child process, up to its accuracy line and a
 * clean Ctrl-C. One cluster at a time: each runs a real node agent.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { KiteServer, ROOT, KUBECTL, run } from './harness.js';
import { checkScikitLearn } from '../../src/cmd/demo.js';

const DEMO = join(ROOT, 'examples', 'ml-demo');

/** The number on a log's `accuracy: <n>` line. */
function accuracyOf(logText: string): number {
  const m = /^accuracy: ([0-9.]+)$/m.exec(logText);
  assert.ok(m, `no "accuracy: <n>" line in:\n${logText}`);
  return Number(m[1]);
}

before(() => {
  // The pods run the host's Python: without scikit-learn nothing below can pass, so say why once.
  assert.equal(checkScikitLearn(), undefined);
});

describe('the ML demo by hand with kubectl (examples/ml-demo/README.md)', () => {
  let server: KiteServer;

  before(async () => {
    server = new KiteServer({ agent: true });
    await server.start();
  });

  after(async () => {
    await server?.cleanup();
  });

  test('batch inference before training fails with a clear message instead of scoring nothing', async () => {
    await server.k(['apply', '-f', join(DEMO, '00-scripts.yaml'), '-f', join(DEMO, '10-model-volume.yaml'), '-f', join(DEMO, 'predict')]);
    await server.k(['wait', '--for=condition=failed', 'job/predict', '--timeout=60s']);
    const logs = await server.kubectl(['logs', 'job/predict']);
    assert.match(logs.stdout + logs.stderr, /error: no model at \/models\/model\.pkl: run the train job first/);
    assert.equal((await server.k(['get', 'pods', '-l', 'job-name=predict', '-o', 'jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}'])).trim(), '1');
    await server.k(['delete', 'job', 'predict', '--wait=true']);
  });

  test('apply, wait for training, run predict, read its accuracy', async () => {
    const applied = await server.k(['apply', '-f', `${DEMO}/`]);
    assert.match(applied, /configmap\/ml-demo-scripts (created|configured|unchanged)/);
    assert.match(applied, /persistentvolumeclaim\/models (created|configured|unchanged)/);
    assert.match(applied, /job\.batch\/train created/);
    // Training is the demo's only slow step; the first import of scikit-learn can take a while on a cold machine.
    await server.k(['wait', '--for=condition=complete', 'job/train', '--timeout=180s']);
    const trainLog = await server.k(['logs', 'job/train']);
    assert.match(trainLog, /training: 200\/200 trees/);
    assert.match(trainLog, /^train accuracy: (1\.000|0\.9\d\d)$/m);
    // The model is on the claim's volume, which the default StorageClass provisioned.
    assert.equal((await server.k(['get', 'pvc', 'models', '-o', 'jsonpath={.status.phase}/{.spec.storageClassName}'])).trim(), 'Bound/standard');

    assert.match(await server.k(['apply', '-f', `${DEMO}/predict/`]), /job\.batch\/predict created/);
    await server.k(['wait', '--for=condition=complete', 'job/predict', '--timeout=120s']);
    const predictLog = await server.k(['logs', 'job/predict']);
    assert.match(predictLog, /^predicted 450 held-out digits: \d+ correct$/m);
    const accuracy = accuracyOf(predictLog);
    assert.ok(accuracy >= 0.8 && accuracy <= 1, `accuracy ${accuracy}`);
    // The accuracy is the final line, where a user (or a pipeline) looks for it.
    assert.match(predictLog.trimEnd().split('\n').pop()!, /^accuracy: /);
  });
});

describe('kite up --demo (npm start)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-e2e-up-demo-'));
  let child: ReturnType<typeof spawn> | undefined;

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts the cluster, trains, prints the accuracy and the next steps, and stops cleanly on Ctrl-C', async () => {
    const kubeconfig = join(dir, 'user-kubeconfig');
    // Its own bridge and /24 (out of the range the harness uses), so it never meets another test cluster's network.
    const net = [
      '--bridge',
      `ku${randomBytes(3).toString('hex')}`,
      '--pod-cidr',
      `10.244.${50 + Math.floor(Math.random() * 50)}.0/24`,
      // Its own service range and any free Ingress port, as the harness gives its servers.
      '--service-cidr',
      `10.${112 + Math.floor(Math.random() * 88)}.${Math.floor(Math.random() * 256)}.0/24`,
      '--ingress-port',
      '0',
    ];
    const args = [join(ROOT, 'bin', 'kite.js'), 'up', '--demo', '--data-dir', join(dir, 'data'), '--port', '0', '--bind-address', '127.0.0.1', ...net];
    const proc = spawn(process.execPath, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;

    // Read stdout until the demo's result and the "Kite is up" lines; fail early if it exits or the demo fails.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no demo result within 300 s:\n${stdout}\n${stderr}`)), 300_000);
      const check = () => {
        if (/the ML demo failed/.test(stderr)) return done(new Error(`demo failed:\n${stdout}\n${stderr}`));
        if (/answered by pod/.test(stdout) && /Press Ctrl-C to stop the cluster\./.test(stdout)) done();
      };
      const onExit = (code: number | null) => done(new Error(`kite up exited (${code}) before the demo finished:\n${stdout}\n${stderr}`));
      const done = (err?: Error) => {
        clearTimeout(timer);
        proc.stdout!.off('data', check);
        proc.stderr!.off('data', check);
        proc.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      proc.stdout!.on('data', check);
      proc.stderr!.on('data', check);
      proc.once('exit', onExit);
    });

    // Each step in order, training streamed from the train Job's logs, then the metrics, then the next steps.
    const steps = [
      '[1/6] creating the model volume… done',
      '[2/6] starting the training job… done',
      '      training: 200/200 trees',
      '[3/6] training… done in',
      '[4/6] batch inference… accuracy',
      'ML demo done in',
      '[5/6] serving the model (Deployment, Service, Ingress, autoscaler)… ready',
      '[6/6] predicting through the Ingress: POST http://127.0.0.1:',
      'Kite is up: node',
    ];
    let at = -1;
    for (const s of steps) {
      const i = stdout.indexOf(s, at + 1);
      assert.ok(i > at, `"${s}" missing or out of order in:\n${stdout}`);
      at = i;
    }
    assert.match(stdout, /\[3\/6\] training… done in \d+\.\d s \(train accuracy (1\.000|0\.9\d\d)\)/);
    const accuracy = Number(/\[4\/6\] batch inference… accuracy ([0-9.]+)/.exec(stdout)![1]);
    // The served model answers held-out digits through the Ingress, mostly right, from a pod of the Deployment.
    const served = /\/v1\/models\/digits:predict… (\d)\/5 right .*\n {6}predicted \[[\d,]+\], true \[[\d,]+\], answered by pod (digits-server-\S+)/.exec(stdout);
    assert.ok(served, `no prediction through the Ingress in:\n${stdout}`);
    assert.ok(Number(served[1]) >= 3, `only ${served[1]}/5 held-out digits right`);
    assert.ok(accuracy >= 0.8 && accuracy <= 1, `accuracy ${accuracy}`);

    // The next steps work as printed: kubectl on the merged context reads the same result from the cluster.
    const logs = await run(KUBECTL, ['logs', 'job/predict'], { env: { KUBECONFIG: kubeconfig } });
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(accuracyOf(logs.stdout), accuracy);
    assert.match(readFileSync(kubeconfig, 'utf8'), /current-context: kite/);

    proc.kill('SIGINT');
    const [code, signal] = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /received SIGINT, shutting down/);
  });
});
