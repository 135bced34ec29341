import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BEHAVIOR_ANNOTATION,
  CONDITIONS_ANNOTATION,
  METRIC_SPECS_ANNOTATION,
  METRIC_STATUSES_ANNOTATION,
  defaultHPAV1,
  hpaV1ToV2,
  hpaV2ToV1,
} from './autoscaling.js';
import { builtinConversion } from './index.js';

const ref = { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' };

function v1(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): any {
  return { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default' }, spec: { scaleTargetRef: ref, ...spec }, ...extra };
}

const cpu = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });
const memory = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };

test('targetCPUUtilizationPercentage becomes a cpu Utilization metric and back', () => {
  const v2 = hpaV1ToV2(v1({ minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 50 }));
  assert.equal(v2.apiVersion, 'autoscaling/v2');
  assert.deepEqual(v2.spec, { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 4, metrics: [cpu(50)] });
  assert.equal(v2.metadata.annotations, undefined);
  const back = hpaV2ToV1(v2);
  assert.equal(back.apiVersion, 'autoscaling/v1');
  assert.deepEqual(back.spec, { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 50 });
  assert.equal(back.metadata.annotations, undefined);
  assert.deepEqual(back.status, { currentReplicas: 0, desiredReplicas: 0 });
});

test('a v1 HPA without a CPU target gets the 80% default in v2; v1 defaults minReplicas to 1', () => {
  const obj = v1({ maxReplicas: 3 });
  defaultHPAV1(obj);
  assert.equal(obj.spec.minReplicas, 1);
  assert.deepEqual(hpaV1ToV2(obj).spec.metrics, [cpu(80)]);
  // The built-in conversion applies the v1 defaults without touching the caller's object.
  const input = v1({ maxReplicas: 3 });
  const stored = builtinConversion('autoscaling', 'v1', 'horizontalpodautoscalers')!.toStorage(input);
  assert.equal(stored.spec.minReplicas, 1);
  assert.equal(input.spec.minReplicas, undefined);
});

test('v2 metrics, behavior, current metrics and conditions survive a trip through v1 annotations', () => {
  const behavior = {
    scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] },
    scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  };
  const conditions = [{ type: 'AbleToScale', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }];
  const currentMetrics = [
    { type: 'Resource', resource: { name: 'memory', current: { averageValue: '50Mi' } } },
    { type: 'Resource', resource: { name: 'cpu', current: { averageValue: '100m', averageUtilization: 42 } } },
  ];
  const v2 = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default', annotations: { team: 'ml' } },
    spec: { scaleTargetRef: ref, minReplicas: 2, maxReplicas: 10, metrics: [memory, cpu(60)], behavior },
    status: { observedGeneration: 3, lastScaleTime: '2024-01-01T00:00:00Z', currentReplicas: 2, desiredReplicas: 3, currentMetrics, conditions },
  };
  const snapshot = JSON.stringify(v2);
  const one = hpaV2ToV1(v2);
  assert.equal(JSON.stringify(v2), snapshot, 'the stored object is not modified');
  assert.equal(one.spec.targetCPUUtilizationPercentage, 60);
  assert.deepEqual(one.status, { observedGeneration: 3, lastScaleTime: '2024-01-01T00:00:00Z', currentReplicas: 2, desiredReplicas: 3, currentCPUUtilizationPercentage: 42 });
  const ann = one.metadata.annotations;
  assert.equal(ann.team, 'ml');
  // The annotations hold upstream's encodings: v1 (v2beta1-style) metrics and the internal behavior type.
  assert.deepEqual(JSON.parse(ann[METRIC_SPECS_ANNOTATION]), [{ type: 'Resource', resource: { name: 'memory', targetAverageValue: '100Mi' } }]);
  assert.deepEqual(JSON.parse(ann[METRIC_STATUSES_ANNOTATION])[1], { type: 'Resource', resource: { name: 'cpu', currentAverageUtilization: 42, currentAverageValue: '100m' } });
  assert.deepEqual(JSON.parse(ann[BEHAVIOR_ANNOTATION]).ScaleUp, { StabilizationWindowSeconds: 0, SelectPolicy: 'Max', Policies: [{ Type: 'Pods', Value: 4, PeriodSeconds: 15 }] });
  assert.deepEqual(JSON.parse(ann[CONDITIONS_ANNOTATION]), conditions);

  const two = hpaV1ToV2(one);
  assert.deepEqual(two.metadata, { name: 'web', namespace: 'default', annotations: { team: 'ml' } });
  // upstream puts the annotated metrics first and the CPU target last.
  assert.deepEqual(two.spec, { ...v2.spec, metrics: [memory, cpu(60)] });
  assert.deepEqual(two.status, v2.status);
  // And v1 → v2 → v1 is stable.
  assert.deepEqual(hpaV2ToV1(two), one);
});

test('every metric source type round-trips through the metrics annotation', () => {
  const sel = { matchLabels: { queue: 'jobs' } };
  const metrics = [
    { type: 'Pods', pods: { metric: { name: 'qps', selector: sel }, target: { type: 'AverageValue', averageValue: '10' } } },
    { type: 'Object', object: { describedObject: { kind: 'Ingress', name: 'main', apiVersion: 'networking.k8s.io/v1' }, target: { type: 'Value', value: '2k' }, metric: { name: 'rps' } } },
    { type: 'External', external: { metric: { name: 'queue_len', selector: sel }, target: { type: 'AverageValue', averageValue: '30' } } },
    { type: 'ContainerResource', containerResource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 }, container: 'app' } },
  ];
  const v2 = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'x' }, spec: { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 5, metrics } };
  const one = hpaV2ToV1(v2);
  assert.equal(one.spec.targetCPUUtilizationPercentage, undefined);
  assert.deepEqual(JSON.parse(one.metadata.annotations[METRIC_SPECS_ANNOTATION])[0], { type: 'Pods', pods: { metricName: 'qps', targetAverageValue: '10', selector: sel } });
  assert.deepEqual(hpaV1ToV2(one).spec.metrics, metrics);
});

test('round-trip annotations a client sends are replaced, and bad ones are ignored', () => {
  // A v2 object carrying a stale annotation: v1 shows only what conversion produced.
  const stale = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'x', annotations: { [METRIC_SPECS_ANNOTATION]: '[]' } }, spec: { scaleTargetRef: ref, maxReplicas: 2, metrics: [cpu(10)] } };
  assert.equal(hpaV2ToV1(stale).metadata.annotations, undefined);
  // Undecodable annotations are dropped on the way to v2.
  const bad = v1({ maxReplicas: 2, targetCPUUtilizationPercentage: 30 });
  bad.metadata.annotations = { [METRIC_SPECS_ANNOTATION]: '{not json', [CONDITIONS_ANNOTATION]: 'x' };
  const v2 = hpaV1ToV2(bad);
  assert.deepEqual(v2.spec.metrics, [cpu(30)]);
  assert.equal(v2.metadata.annotations, undefined);
  // A v1 client may set the metrics annotation itself (the pre-v2 way to ask for other metrics).
  const withAnn = v1({ maxReplicas: 2 });
  withAnn.metadata.annotations = { [METRIC_SPECS_ANNOTATION]: JSON.stringify([{ type: 'Resource', resource: { name: 'memory', targetAverageValue: '1Gi' } }]) };
  assert.deepEqual(hpaV1ToV2(withAnn).spec.metrics, [{ type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '1Gi' } } }]);
});

test('currentCPUUtilizationPercentage becomes a cpu current metric in v2', () => {
  const obj = v1({ maxReplicas: 4, targetCPUUtilizationPercentage: 50 }, { status: { currentReplicas: 2, desiredReplicas: 2, currentCPUUtilizationPercentage: 33 } });
  assert.deepEqual(hpaV1ToV2(obj).status, {
    currentReplicas: 2,
    desiredReplicas: 2,
    currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 33 } } }],
  });
});
