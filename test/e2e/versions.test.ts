/**
 * One resource served in several API versions: HorizontalPodAutoscalers in
 * autoscaling/v2 (stored) and autoscaling/v1 (converted, as `kubectl
 * autoscale` creates them), and a CustomResourceDefinition with two served
 * versions and conversion strategy None.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { KiteServer } from './harness.js';

let server: KiteServer;
const NS = 'versions-e2e';

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  await server.k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
});

after(async () => {
  await server?.cleanup();
});

const cpu = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });

test('kubectl autoscale creates an autoscaling/v1 HPA that kubectl get hpa shows with its CPU target', async () => {
  await server.k(['create', 'deployment', 'web', '--image=nginx', '-n', NS]);
  const out = await server.k(['autoscale', 'deployment', 'web', '--min=1', '--max=4', '--cpu-percent=50', '-n', NS]);
  assert.equal(out.trim(), 'horizontalpodautoscaler.autoscaling/web autoscaled');
  const table = (await server.k(['get', 'hpa', '-n', NS])).trimEnd().split('\n');
  assert.match(table[0], /^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE$/);
  assert.match(table[1], /^web\s+Deployment\/web\s+cpu: <unknown>\/50%\s+1\s+4\s+\d+\s+\d+s$/);
});

test('the same HPA reads in the metrics form through v2 and in the v1 form through v1', async () => {
  const v2 = YAML.parse(await server.k(['get', 'hpa.v2.autoscaling', 'web', '-n', NS, '-o', 'yaml']));
  assert.equal(v2.apiVersion, 'autoscaling/v2');
  assert.deepEqual(v2.spec.metrics, [cpu(50)]);
  assert.equal(v2.spec.minReplicas, 1);
  assert.equal(v2.spec.maxReplicas, 4);
  assert.equal(v2.spec.targetCPUUtilizationPercentage, undefined);
  // kubectl drops the version of a short name when it expands it, so v1 is asked for by its full name.
  const v1 = YAML.parse(await server.k(['get', 'horizontalpodautoscalers.v1.autoscaling', 'web', '-n', NS, '-o', 'yaml']));
  assert.equal(v1.apiVersion, 'autoscaling/v1');
  assert.deepEqual(v1.spec, { maxReplicas: 4, minReplicas: 1, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, targetCPUUtilizationPercentage: 50 });
  // v1 always writes the replica counts.
  assert.equal(typeof v1.status.currentReplicas, 'number');
  assert.equal(typeof v1.status.desiredReplicas, 'number');
  assert.equal(v1.metadata.uid, v2.metadata.uid);
});

test('metrics v1 cannot express ride in annotations and survive a patch through v1', async () => {
  const memory = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };
  await server.k(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'multi', namespace: NS },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 6, metrics: [memory, cpu(60)] },
  }));
  const v1 = JSON.parse(await server.k(['get', 'horizontalpodautoscalers.v1.autoscaling', 'multi', '-n', NS, '-o', 'json']));
  assert.equal(v1.spec.targetCPUUtilizationPercentage, 60);
  assert.deepEqual(JSON.parse(v1.metadata.annotations['autoscaling.alpha.kubernetes.io/metrics']), [{ type: 'Resource', resource: { name: 'memory', targetAverageValue: '100Mi' } }]);

  await server.k(['patch', 'horizontalpodautoscalers.v1.autoscaling', 'multi', '-n', NS, '--type=merge', '-p', '{"spec":{"targetCPUUtilizationPercentage":75}}']);
  const v2 = JSON.parse(await server.k(['get', 'hpa', 'multi', '-n', NS, '-o', 'json']));
  assert.equal(v2.apiVersion, 'autoscaling/v2');
  assert.deepEqual(v2.spec.metrics, [memory, cpu(75)]);
  assert.equal(v2.metadata.annotations?.['autoscaling.alpha.kubernetes.io/metrics'], undefined);
  const row = await server.k(['get', 'hpa', 'multi', '-n', NS, '--no-headers']);
  assert.match(row, /^multi\s+Deployment\/web\s+memory: <unknown>\/100Mi, cpu: <unknown>\/75%\s+2\s+6\s+\d+\s+\d+s$/m);
});

test('discovery lists autoscaling v2 (preferred) and v1, and kubectl api-resources shows HPAs once', async () => {
  const group = JSON.parse(await server.k(['get', '--raw', '/apis/autoscaling']));
  assert.deepEqual(group.versions.map((v: any) => v.groupVersion), ['autoscaling/v2', 'autoscaling/v1']);
  assert.equal(group.preferredVersion.groupVersion, 'autoscaling/v2');
  const versions = (await server.k(['api-versions'])).split('\n');
  assert.ok(versions.includes('autoscaling/v1') && versions.includes('autoscaling/v2'));
  const rows = (await server.k(['api-resources', '--api-group=autoscaling', '--no-headers'])).trim().split('\n');
  assert.equal(rows.length, 1, rows.join('\n'));
  assert.match(rows[0], /^horizontalpodautoscalers\s+hpa\s+autoscaling\/v2\s+true\s+HorizontalPodAutoscaler$/);
  const explain = await server.k(['explain', 'hpa.spec.targetCPUUtilizationPercentage', '--api-version=autoscaling/v1']);
  assert.match(explain, /^VERSION:\s+v1$/m);
  assert.match(explain, /^FIELD: targetCPUUtilizationPercentage <integer>$/m);
});

const WIDGETS = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.versions.example.com
spec:
  group: versions.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`;

function widget(version: string, name: string, size: number): string {
  return JSON.stringify({ apiVersion: `versions.example.com/${version}`, kind: 'Widget', metadata: { name, namespace: NS }, spec: { size } });
}

test('a CRD with two served versions: objects read in either version, the resource is listed once', async () => {
  await server.k(['apply', '-f', '-'], WIDGETS);
  await server.k(['wait', '--for', 'condition=established', '--timeout=10s', 'crd/widgets.versions.example.com']);
  await server.k(['apply', '-f', '-'], widget('v1beta1', 'old', 3));
  await server.k(['apply', '-f', '-'], widget('v1', 'new', 5));
  const get = async (version: string, name: string) =>
    (await server.k(['get', `widgets.${version}.versions.example.com`, name, '-n', NS, '-o', 'jsonpath={.apiVersion} {.kind} {.spec.size}'])).trim();
  assert.equal(await get('v1', 'old'), 'versions.example.com/v1 Widget 3');
  assert.equal(await get('v1beta1', 'old'), 'versions.example.com/v1beta1 Widget 3');
  assert.equal(await get('v1beta1', 'new'), 'versions.example.com/v1beta1 Widget 5');
  // The short name resolves to the preferred version, v1 (upstream's version priority, not the CRD's order).
  const list = JSON.parse(await server.k(['get', 'wd', '-n', NS, '-o', 'json']));
  assert.deepEqual(list.items.map((o: any) => `${o.metadata.name} ${o.apiVersion}`), ['new versions.example.com/v1', 'old versions.example.com/v1']);
  const group = JSON.parse(await server.k(['get', '--raw', '/apis/versions.example.com']));
  assert.equal(group.preferredVersion.version, 'v1');
  assert.deepEqual(group.versions.map((v: any) => v.version), ['v1', 'v1beta1']);
  const rows = (await server.k(['api-resources', '--api-group=versions.example.com', '--no-headers'])).trim().split('\n');
  assert.deepEqual(rows.map((r) => r.split(/\s+/).join(' ')), ['widgets wd versions.example.com/v1 true Widget']);
  // A watch through the older version sees every object in that version.
  const events = (await server.k(['get', '--raw', `/apis/versions.example.com/v1beta1/namespaces/${NS}/widgets?watch=true&timeoutSeconds=1`]))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.apiVersion}`), [
    'ADDED new versions.example.com/v1beta1',
    'ADDED old versions.example.com/v1beta1',
  ]);
});
