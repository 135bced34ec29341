import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinResources, compareKubeAwareVersions } from './resources.js';

test('versions sort by upstream priority: GA, then beta, then alpha, higher first; other names last', () => {
  const versions = ['foo10', 'v1', 'v11alpha2', 'v10beta3', 'v2', 'v3beta1', 'foo1', 'v12alpha1', 'v11beta2', 'v10'];
  assert.deepEqual(versions.sort(compareKubeAwareVersions), ['v10', 'v2', 'v1', 'v11beta2', 'v10beta3', 'v3beta1', 'v12alpha1', 'v11alpha2', 'foo1', 'foo10']);
});

test('HorizontalPodAutoscaler is served as autoscaling/v2 and autoscaling/v1, v2 first', () => {
  const hpa = builtinResources().filter((r) => r.resource === 'horizontalpodautoscalers');
  assert.deepEqual(hpa.map((r) => `${r.group}/${r.version}`), ['autoscaling/v2', 'autoscaling/v1']);
  assert.deepEqual(hpa[1].schema, { $ref: '#/definitions/io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler' });
});
