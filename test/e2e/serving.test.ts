/**
 * The serving example (examples/ml-serving/README.md) as a user runs it with
 * the real kubectl: the demo's model behind a Deployment whose readiness
 * probe waits for the model, a Service, an Ingress on the node's HTTP port,
 * and an autoscaler that scales the servers up under the example's load Job
 * (which reaches the Service by its DNS name) and back down after it.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KiteServer, ROOT, eventually } from './harness.js';
import { checkScikitLearn } from '../../src/cmd/demo.js';
import { heldOutDigits, postJson } from '../../src/cmd/serving.js';

const DEMO = join(ROOT, 'examples', 'ml-demo');
const SERVING = join(ROOT, 'examples', 'ml-serving');

describe('the serving example by hand with kubectl (examples/ml-serving/README.md)', () => {
  let server: KiteServer;

  before(async () => {
    assert.equal(checkScikitLearn(), undefined);
    // Metrics and autoscaler decisions every 2 s instead of 15 s, so scaling shows within the test's time.
    server = new KiteServer({ agent: true, extraArgs: ['--metric-resolution', '2s', '--horizontal-pod-autoscaler-sync-period', '2s'] });
    await server.start();
    await server.k(['apply', '-f', `${DEMO}/`]);
    await server.k(['wait', '--for=condition=complete', 'job/train', '--timeout=180s']);
  });

  after(async () => {
    await server?.cleanup();
  });

  test('the model server becomes Ready once its model is loaded, and answers through the Ingress', async () => {
    const applied = await server.k(['apply', '-f', `${SERVING}/`]);
    for (const line of ['configmap/model-server created', 'deployment.apps/digits-server created', 'service/digits created', 'ingress.networking.k8s.io/digits created', 'horizontalpodautoscaler.autoscaling/digits-server created']) {
      assert.ok(applied.includes(line), `"${line}" missing in:\n${applied}`);
    }
    assert.match(await server.k(['rollout', 'status', 'deployment/digits-server', '--timeout=120s']), /successfully rolled out/);
    // Ready only after the server logged that the model is loaded (the readiness probe asks the status call).
    assert.match(await server.k(['logs', 'deployment/digits-server']), /model digits loaded from \/models\/model\.pkl/);

    const ingress = `http://127.0.0.1:${server.ingressPort()}`;
    await eventually(async () => (await server.k(['get', 'ingress', 'digits', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim() !== '', 30_000, 'the Ingress address');
    const { instances, labels } = heldOutDigits(10);
    const answer = await eventually(async () => {
      const r = await postJson(`${ingress}/v1/models/digits:predict`, { instances });
      return r.status === 200 ? r : undefined;
    }, 30_000, 'a prediction through the Ingress');
    assert.equal(answer.body.predictions.length, 10);
    const right = answer.body.predictions.filter((p: number, i: number) => p === labels[i]).length;
    assert.ok(right >= 8, `${right}/10 held-out digits right`);
    assert.match(answer.body.served_by, /^digits-server-[a-z0-9]+-[a-z0-9]{5}$/);

    // Bad input gets the server's 400, a path outside the Ingress rules the controller's 404.
    const bad = await postJson(`${ingress}/v1/models/digits:predict`, { instances: [[1, 2, 3]] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /must be a list of 64 numbers/);
    const elsewhere = await postJson(`${ingress}/v1/other`, {});
    assert.equal(elsewhere.status, 404);
  });

  test('the autoscaler scales the servers up under load and back down after it', async () => {
    // The README's load Job, shortened: 40 s of requests to http://digits/… (cluster DNS and the Service's virtual IP).
    const manifest = readFileSync(join(SERVING, 'load', 'load-job.yaml'), 'utf8').replace(/name: LOAD_SECONDS\n(\s+)value: "90"/, 'name: LOAD_SECONDS\n$1value: "40"');
    assert.match(await server.k(['apply', '-f', server.file('load.yaml', manifest)]), /job\.batch\/model-load created/);
    const replicas = async () => Number((await server.k(['get', 'deployment', 'digits-server', '-o', 'jsonpath={.spec.replicas}'])).trim());
    await eventually(async () => (await replicas()) > 1, 90_000, 'the autoscaler to add model servers under load');
    // kubectl get hpa shows the target, the bounds and (from the next sync on) the new replica count.
    const row = /digits-server\s+Deployment\/digits-server\s+cpu: \d+%\/50%\s+1\s+4\s+[2-4]\s/;
    await eventually(async () => row.test(await server.k(['get', 'hpa', 'digits-server'])), 30_000, 'kubectl get hpa to show the new replica count');
    const events = await server.k(['get', 'events', '--field-selector', 'involvedObject.kind=HorizontalPodAutoscaler,reason=SuccessfulRescale', '-o', 'jsonpath={.items[*].message}']);
    assert.match(events, /New size: [2-4]; reason: cpu resource utilization \(percentage of request\) above target/);

    await server.k(['wait', '--for=condition=complete', 'job/model-load', '--timeout=120s']);
    const loadLog = await server.k(['logs', 'job/model-load']);
    const done = /^done: (\d+) requests in 40 s .*, (\d+) failed$/m.exec(loadLog);
    assert.ok(done, `no summary in the load Job's log:\n${loadLog}`);
    assert.ok(Number(done[1]) > 0, loadLog);
    assert.equal(Number(done[2]), 0, `requests failed while the servers scaled:\n${loadLog}`);
    // The load is gone: after the 30 s scale-down window the autoscaler goes back to one server.
    await eventually(async () => (await replicas()) === 1, 120_000, 'the autoscaler to scale back to 1 after the load');
  });
});
