import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { MemoryBackend } from '../../storage/memory.js';
import { systemContext } from '../bootstrap.js';
import { Registry } from './registry.js';
import type { Store, WatchSink } from './store.js';
import { METRIC_SPECS_ANNOTATION } from '../../api/conversion/autoscaling.js';

/** A started registry with namespace `ns`, and the HPA stores of both versions. */
async function start() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const lookup = (version: string): Store => {
    const s = registry.lookup('autoscaling', version, 'horizontalpodautoscalers');
    assert.ok(s, `autoscaling/${version} horizontalpodautoscalers is served`);
    return s;
  };
  await registry.lookup('', 'v1', 'namespaces')!.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  return {
    registry,
    v1: lookup('v1'),
    v2: lookup('v2'),
    async close() {
      registry.stop();
      await backend.close();
    },
  };
}

const ctx = () => systemContext('ns');

function hpaV1(name: string, cpu?: number): any {
  const spec: Record<string, unknown> = { scaleTargetRef: { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' }, maxReplicas: 4 };
  if (cpu !== undefined) spec.targetCPUUtilizationPercentage = cpu;
  return { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name }, spec };
}

const cpuMetric = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });

test('an HPA created through autoscaling/v1 reads as v1 there and as v2 through autoscaling/v2', async (t) => {
  const env = await start();
  t.after(() => env.close());
  assert.equal(env.v1.info.storageVersion, 'v2');
  const created = await env.v1.create(ctx(), hpaV1('web', 50));
  assert.equal(created.apiVersion, 'autoscaling/v1');
  assert.equal(created.spec.targetCPUUtilizationPercentage, 50);
  assert.equal(created.spec.minReplicas, 1, 'v1 default');

  const asV2 = await env.v2.get('ns', 'web');
  assert.equal(asV2.apiVersion, 'autoscaling/v2');
  assert.deepEqual(asV2.spec.metrics, [cpuMetric(50)]);
  assert.equal(asV2.spec.targetCPUUtilizationPercentage, undefined);
  assert.equal(asV2.metadata.resourceVersion, created.metadata.resourceVersion);

  const listed = await env.v1.list('ns', {});
  assert.deepEqual(listed.items.map((o) => [o.apiVersion, o.spec.targetCPUUtilizationPercentage]), [['autoscaling/v1', 50]]);
  // Printers get the storage version's form.
  assert.deepEqual(env.v1.storageForm(listed.items[0]).spec.metrics, [cpuMetric(50)]);
  // A second list hands out the same (memoized, read-only) view.
  assert.equal((await env.v1.list('ns', {})).items[0], listed.items[0]);
});

test('writes through v1 keep what only v2 can say, and a v1 round trip changes nothing', async (t) => {
  const env = await start();
  t.after(() => env.close());
  const memory = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };
  await env.v2.create(ctx(), {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web' },
    spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 4, metrics: [memory, cpuMetric(60)] },
  });
  const got = await env.v1.get('ns', 'web');
  assert.equal(got.spec.targetCPUUtilizationPercentage, 60);
  assert.ok(got.metadata.annotations[METRIC_SPECS_ANNOTATION]);

  // PUT of what was read: nothing changes, so nothing is written.
  const same = await env.v1.update(ctx(), 'web', got);
  assert.equal(same.obj.metadata.resourceVersion, got.metadata.resourceVersion);

  // A merge patch of the v1 form: the memory metric survives through the annotation.
  const patched = await env.v1.patchObject(ctx(), 'web', 'application/merge-patch+json', JSON.stringify({ spec: { targetCPUUtilizationPercentage: 70, maxReplicas: 6 } }), '', { force: false });
  assert.equal(patched.obj.apiVersion, 'autoscaling/v1');
  assert.equal(patched.obj.spec.targetCPUUtilizationPercentage, 70);
  const v2 = await env.v2.get('ns', 'web');
  assert.equal(v2.spec.maxReplicas, 6);
  assert.deepEqual(v2.spec.metrics, [memory, cpuMetric(70)]);
  assert.equal(v2.metadata.annotations, undefined, 'round-trip annotations are not stored');

  // Validation runs on the stored version after conversion.
  await assert.rejects(
    env.v1.update(ctx(), 'web', { ...got, metadata: { ...got.metadata, resourceVersion: undefined }, spec: { ...got.spec, minReplicas: 9 } }),
    (e: unknown) => e instanceof ApiError && e.code === 422 && /minReplicas|maxReplicas/.test(e.message),
  );

  const deleted = await env.v1.delete(ctx(), 'web', {});
  assert.equal(deleted.obj.apiVersion, 'autoscaling/v1');
});

test('a watch through v1 sees v1 objects for writes made through either version', async (t) => {
  const env = await start();
  t.after(() => env.close());
  await env.v1.create(ctx(), hpaV1('a', 40));
  const events: { type: string; obj: any }[] = [];
  const sink: WatchSink = { send: (type, obj) => events.push({ type, obj }) };
  const w = await env.v1.watch('ns', {}, sink);
  t.after(() => w.stop());
  const cur = await env.v2.get('ns', 'a');
  cur.spec.metrics = [cpuMetric(55)];
  await env.v2.update(ctx(), 'a', cur);
  await env.v2.delete(ctx(), 'a', {});
  await env.registry.caches.fresh();
  assert.deepEqual(
    events.map((e) => [e.type, e.obj.apiVersion, e.obj.spec.targetCPUUtilizationPercentage]),
    [
      ['ADDED', 'autoscaling/v1', 40],
      ['MODIFIED', 'autoscaling/v1', 55],
      ['DELETED', 'autoscaling/v1', 55],
    ],
  );
});
