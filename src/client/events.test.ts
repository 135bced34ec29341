/** The event recorder against a real in-memory API server: upstream's Event fields and count aggregation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster } from '../controllers/testenv.js';
import { R } from './client.js';
import { EventRecorder } from './events.js';

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'ns', uid: '1f0c7a5e-0000-4000-8000-000000000001', resourceVersion: '42' } };

test('an event is created with the fields kubectl describe and get events show', async (t) => {
  const cluster = await startTestCluster();
  t.after(() => cluster.close());
  await cluster.namespace('ns');
  const rec = new EventRecorder(cluster.client, 'default-scheduler', 'node-a');
  await rec.event(pod, 'Normal', 'Scheduled', 'Successfully assigned ns/web-1 to node-1');
  const { items } = await cluster.client.list(R.events, 'ns');
  assert.equal(items.length, 1);
  const ev = items[0];
  assert.match(ev.metadata.name, /^web-1\.[0-9a-f]+$/);
  assert.equal(ev.metadata.namespace, 'ns');
  assert.deepEqual(ev.involvedObject, { apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name: 'web-1', uid: pod.metadata.uid, resourceVersion: '42' });
  assert.equal(ev.type, 'Normal');
  assert.equal(ev.reason, 'Scheduled');
  assert.equal(ev.message, 'Successfully assigned ns/web-1 to node-1');
  assert.deepEqual(ev.source, { component: 'default-scheduler', host: 'node-a' });
  assert.equal(ev.count, 1);
  assert.match(ev.firstTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(ev.lastTimestamp, ev.firstTimestamp);
  assert.equal(ev.reportingComponent, 'default-scheduler');
  assert.equal(ev.reportingInstance, 'node-a');
});

test('the same event again bumps count and lastTimestamp instead of creating another; a different one is new', async (t) => {
  const cluster = await startTestCluster();
  t.after(() => cluster.close());
  await cluster.namespace('ns');
  const rec = new EventRecorder(cluster.client, 'kubelet', 'node-a');
  await rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
  const first = (await cluster.client.list(R.events, 'ns')).items[0];
  await rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
  await rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
  const { items } = await cluster.client.list(R.events, 'ns');
  assert.equal(items.length, 1);
  assert.equal(items[0].metadata.name, first.metadata.name);
  assert.equal(items[0].count, 3);
  assert.equal(items[0].firstTimestamp, first.firstTimestamp);
  assert.ok(items[0].lastTimestamp >= first.lastTimestamp);
  assert.notEqual(items[0].metadata.resourceVersion, first.metadata.resourceVersion);

  await rec.event(pod, 'Warning', 'BackOff', 'Back-off pulling image');
  const after = await cluster.client.list(R.events, 'ns');
  assert.equal(after.items.length, 2);
});

test('an event that cannot be written is dropped without failing the caller; a deleted aggregate is created anew', async (t) => {
  const cluster = await startTestCluster();
  t.after(() => cluster.close());
  await cluster.namespace('ns');
  const rec = new EventRecorder(cluster.client, 'kubelet');
  // The namespace does not exist: the create fails, event() still resolves.
  await rec.event({ kind: 'Pod', metadata: { name: 'p', namespace: 'missing' } }, 'Normal', 'Pulled', 'pulled');
  await rec.event(pod, 'Normal', 'Pulled', 'pulled');
  const first = (await cluster.client.list(R.events, 'ns')).items[0];
  assert.deepEqual(first.source, { component: 'kubelet' });
  await cluster.client.delete(R.events, 'ns', first.metadata.name);
  await rec.event(pod, 'Normal', 'Pulled', 'pulled');
  const { items } = await cluster.client.list(R.events, 'ns');
  assert.equal(items.length, 1);
  assert.notEqual(items[0].metadata.name, first.metadata.name);
});
