import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { builtinScale } from '../apiserver/server.js';
import { HPA_RESOURCE, HorizontalController, scaleClient } from './podautoscaler.js';
import type { ResourceMetricsClient } from './podautoscaler-replicas.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

const NS = 'hpa';

/** A resource metrics API answering with whatever the test set last, recording every request. */
class RecordedMetrics implements ResourceMetricsClient {
  readonly asked: { namespace: string; selector: string }[] = [];
  /** Millicores per pod name. */
  usage = new Map<string, number>();
  async listPodMetrics(namespace: string, selector: string): Promise<any[]> {
    this.asked.push({ namespace, selector });
    return [...this.usage].map(([name, m]) => ({
      metadata: { name, namespace },
      timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      window: '15s',
      containers: [{ name: 'main', usage: { cpu: `${m}m`, memory: '1Mi' } }],
    }));
  }
}

/** A settable clock for the stabilization windows and policy periods. */
class Clock {
  ms = Date.now();
  now = () => new Date(this.ms);
}

interface Env {
  cluster: TestCluster;
  metrics: RecordedMetrics;
  clock: Clock;
  controller: HorizontalController;
  close(): Promise<void>;
}

async function setup(): Promise<Env> {
  const cluster = await startTestCluster();
  await cluster.namespace(NS);
  // The in-process transport reaches scale subresources as the API server maps them.
  const client = new InProcessClient(cluster.registry, { name: 'hpa', groups: ['system:masters'] }, 'horizontal-pod-autoscaler', {
    scaleMapping: (s) => builtinScale(s.info.group, s.info.resource),
    readOnly: () => undefined,
  });
  const informers = new InformerFactory(client);
  const metrics = new RecordedMetrics();
  const clock = new Clock();
  const controller = new HorizontalController({
    client,
    informers,
    events: new EventRecorder(client, 'horizontal-pod-autoscaler'),
    resources: () => cluster.registry.resources(),
    metrics,
    syncPeriodMs: 30,
    now: clock.now,
  });
  await controller.start();
  return {
    cluster,
    metrics,
    clock,
    controller,
    async close() {
      controller.stop();
      informers.stop();
      await cluster.close();
    },
  };
}

async function deployment(c: TestCluster, name: string, replicas: number): Promise<void> {
  await c.client.create(R.deployments, NS, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m' } } }] } },
    },
  });
}

/** Running, ready pods of a deployment's template, started long enough ago to be past the CPU initialization period. */
async function runningPods(c: TestCluster, app: string, n: number): Promise<string[]> {
  const long = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const pod = await c.client.create<any>(R.pods, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${app}-${i}`, labels: { app } },
      spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m' } } }] },
    });
    pod.status = { phase: 'Running', startTime: long, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: long }] };
    await c.client.update(R.pods, NS, pod, { subresource: 'status' });
    names.push(pod.metadata.name);
  }
  return names;
}

async function hpa(c: TestCluster, name: string, spec: Record<string, unknown>): Promise<void> {
  await c.client.create(HPA_RESOURCE, NS, {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: 4,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
      ...spec,
    },
  });
}

async function events(c: TestCluster, reason: string): Promise<any[]> {
  return (await c.client.list(R.events, NS)).items.filter((e: any) => e.reason === reason);
}

function condition(h: any, type: string): any {
  const c = h.status?.conditions?.find((x: any) => x.type === type);
  return c && { status: c.status, reason: c.reason, message: c.message };
}

async function replicasOf(c: TestCluster, name: string): Promise<number> {
  return (await c.client.get<any>(R.deployments, NS, name)).spec.replicas;
}

describe('HorizontalPodAutoscaler controller', () => {
  it('scales a Deployment up through its scale subresource, up to maxReplicas, and reports why', async () => {
    const env = await setup();
    try {
      const c = env.cluster;
      await deployment(c, 'web', 2);
      const pods = await runningPods(c, 'web', 2);
      for (const p of pods) env.metrics.usage.set(p, 150);
      await hpa(c, 'web', {});
      await eventually(async () => (await replicasOf(c, 'web')) === 4, 'the deployment to be scaled to 4');
      const [ev] = await eventually(async () => events(c, 'SuccessfulRescale'), 'a SuccessfulRescale event');
      assert.equal(ev.type, 'Normal');
      assert.equal(ev.message, 'New size: 4; reason: cpu resource utilization (percentage of request) above target');
      assert.equal(ev.source.component, 'horizontal-pod-autoscaler');
      assert.deepEqual(ev.involvedObject.kind, 'HorizontalPodAutoscaler');
      assert.deepEqual(env.metrics.asked[0], { namespace: NS, selector: 'app=web' });
      // The next sync sees the new size; 150% of the request still wants more than maxReplicas allows.
      const h = await eventually(async () => {
        const o = await c.client.get<any>(HPA_RESOURCE, NS, 'web');
        return o.status?.currentReplicas === 4 ? o : undefined;
      }, 'the HPA status to show 4 current replicas');
      assert.equal(h.status.desiredReplicas, 4);
      assert.ok(h.status.lastScaleTime);
      assert.deepEqual(h.status.currentMetrics, [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 150, averageValue: '150m' } } }]);
      assert.deepEqual(condition(h, 'AbleToScale'), { status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' });
      assert.deepEqual(condition(h, 'ScalingActive'), {
        status: 'True',
        reason: 'ValidMetricFound',
        message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)',
      });
      assert.deepEqual(condition(h, 'ScalingLimited'), { status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' });
    } finally {
      await env.close();
    }
  });

  it('without metrics it keeps the size and says why in conditions, status and events', async () => {
    const env = await setup();
    try {
      const c = env.cluster;
      await deployment(c, 'quiet', 2);
      await runningPods(c, 'quiet', 2);
      await hpa(c, 'quiet', {});
      const h = await eventually(async () => {
        const o = await c.client.get<any>(HPA_RESOURCE, NS, 'quiet');
        return condition(o, 'ScalingActive') ? o : undefined;
      }, 'the HPA status');
      assert.deepEqual(condition(h, 'ScalingActive'), {
        status: 'False',
        reason: 'FailedGetResourceMetric',
        message: 'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
      });
      assert.deepEqual(condition(h, 'AbleToScale'), { status: 'True', reason: 'SucceededGetScale', message: "the HPA controller was able to get the target's current scale" });
      assert.equal(h.status.currentReplicas, 2);
      assert.equal(h.status.desiredReplicas, 0);
      // upstream keeps one (empty) status per metric spec.
      assert.deepEqual(h.status.currentMetrics, [{ type: '' }]);
      const [failed] = await eventually(async () => events(c, 'FailedComputeMetricsReplicas'), 'a FailedComputeMetricsReplicas event');
      assert.equal(
        failed.message,
        'invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
      );
      assert.equal(failed.type, 'Warning');
      assert.equal((await events(c, 'FailedGetResourceMetric')).length, 1);
      assert.equal(await replicasOf(c, 'quiet'), 2);
    } finally {
      await env.close();
    }
  });

  it('refuses targets it cannot map or that have no scale subresource', async () => {
    const env = await setup();
    try {
      const c = env.cluster;
      await hpa(c, 'nokind', { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Nope', name: 'x' } });
      await hpa(c, 'pod', { scaleTargetRef: { apiVersion: 'v1', kind: 'Pod', name: 'x' } });
      const able = async (name: string) =>
        eventually(async () => condition(await c.client.get<any>(HPA_RESOURCE, NS, name), 'AbleToScale'), `the AbleToScale condition of ${name}`);
      assert.deepEqual(await able('nokind'), { status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: no matches for kind "Nope" in group "apps"` });
      assert.deepEqual(await able('pod'), {
        status: 'False',
        reason: 'FailedGetScale',
        message: "the HPA controller was unable to get the target's current scale: could not find scale subresource for /v1, Resource=pods in discovery information",
      });
      const ev = await eventually(async () => ((await events(c, 'FailedGetScale')).length >= 2 ? events(c, 'FailedGetScale') : undefined), 'FailedGetScale events');
      assert.deepEqual(ev.map((e) => e.message).sort(), ['could not find scale subresource for /v1, Resource=pods in discovery information', 'no matches for kind "Nope" in group "apps"']);
    } finally {
      await env.close();
    }
  });

  it('scales down only after the stabilization window, then at the rate the policy allows', async () => {
    const env = await setup();
    try {
      const c = env.cluster;
      await deployment(c, 'calm', 4);
      for (const p of await runningPods(c, 'calm', 4)) env.metrics.usage.set(p, 10);
      await hpa(c, 'calm', { behavior: { scaleDown: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } } });
      const get = () => c.client.get<any>(HPA_RESOURCE, NS, 'calm');
      const stabilized = await eventually(async () => {
        const h = await get();
        return condition(h, 'AbleToScale')?.reason === 'ScaleDownStabilized' ? h : undefined;
      }, 'the recommendation to be held by the stabilization window');
      assert.equal(condition(stabilized, 'AbleToScale').message, 'recent recommendations were higher than current one, applying the highest recent recommendation');
      assert.equal(await replicasOf(c, 'calm'), 4);
      // Past the window, 10% of the request wants 1 replica; the policy removes one per minute.
      env.clock.ms += 61_000;
      await eventually(async () => (await replicasOf(c, 'calm')) === 3, 'one replica removed');
      const limited = await eventually(async () => {
        const h = await get();
        return h.status?.currentReplicas === 3 ? h : undefined;
      }, 'the next sync at 3 replicas');
      assert.deepEqual(condition(limited, 'ScalingLimited'), { status: 'True', reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' });
      const [ev] = await events(c, 'SuccessfulRescale');
      assert.equal(ev.message, 'New size: 3; reason: All metrics below target');
      assert.equal(await replicasOf(c, 'calm'), 3, 'no further scale-down within the policy period');
      env.clock.ms += 61_000;
      await eventually(async () => (await replicasOf(c, 'calm')) === 2, 'the next replica removed a period later');
    } finally {
      await env.close();
    }
  });

  it('brings a target above maxReplicas down at once, and leaves one scaled to zero alone', async () => {
    const env = await setup();
    try {
      const c = env.cluster;
      await deployment(c, 'big', 6);
      await deployment(c, 'off', 0);
      await hpa(c, 'big', { maxReplicas: 3 });
      await hpa(c, 'off', {});
      await eventually(async () => (await replicasOf(c, 'big')) === 3, 'the deployment brought down to maxReplicas');
      const [ev] = await eventually(async () => events(c, 'SuccessfulRescale'), 'the rescale event');
      assert.equal(ev.message, 'New size: 3; reason: Current number of replicas above Spec.MaxReplicas');
      const off = await eventually(async () => {
        const h = await c.client.get<any>(HPA_RESOURCE, NS, 'off');
        return condition(h, 'ScalingActive') ? h : undefined;
      }, 'the status of the HPA of a target at zero');
      assert.deepEqual(condition(off, 'ScalingActive'), { status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' });
      assert.equal(await replicasOf(c, 'off'), 0);
      assert.equal(env.metrics.asked.length, 0, 'no metrics are needed for either');
    } finally {
      await env.close();
    }
  });
});

describe('scale client over the in-process transport', () => {
  it('reads and writes a Deployment through autoscaling/v1 Scale, and refuses what has no scale subresource', async () => {
    const cluster = await startTestCluster();
    try {
      await cluster.namespace(NS);
      const client = new InProcessClient(cluster.registry, { name: 't', groups: ['system:masters'] }, 't', { scaleMapping: (s) => builtinScale(s.info.group, s.info.resource), readOnly: () => undefined });
      await deployment(cluster, 'sc', 2);
      const scales = scaleClient(client);
      const s = await scales.get(R.deployments, NS, 'sc');
      assert.equal(s.kind, 'Scale');
      assert.deepEqual({ spec: s.spec, status: s.status }, { spec: { replicas: 2 }, status: { replicas: 0, selector: 'app=sc' } });
      const updated = await scales.update(R.deployments, NS, { ...s, spec: { replicas: 5 } });
      assert.equal(updated.spec.replicas, 5);
      assert.equal(await replicasOf(cluster, 'sc'), 5);
      await assert.rejects(scales.update(R.deployments, NS, { ...s, spec: { replicas: 1 } }), (e: any) => e.code === 409, 'a stale resourceVersion conflicts');
      await assert.rejects(scales.update(R.deployments, NS, { ...updated, spec: { replicas: -1 } }), { message: 'Scale.autoscaling "sc" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0' });
      await assert.rejects(scales.get(R.pods, NS, 'x'), { message: 'the server could not find the requested resource' });
    } finally {
      await cluster.close();
    }
  });
});
