/** Shared informers: one list-and-watch per resource however many controllers ask for it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster } from '../controllers/testenv.js';
import { R, type Client } from './client.js';
import { InformerFactory } from './factory.js';

/** Counts list and watch calls per resource on the way to a real client. */
function counting(inner: Client): { client: Client; calls: string[] } {
  const calls: string[] = [];
  const client: Client = {
    get: (...a) => inner.get(...a),
    create: (...a) => inner.create(...a),
    update: (...a) => inner.update(...a),
    patch: (...a) => inner.patch(...a),
    delete: (...a) => inner.delete(...a),
    list: (ref, ...a) => {
      calls.push(`list ${ref.resource}`);
      return inner.list(ref, ...a);
    },
    watch: (ref, ...a) => {
      calls.push(`watch ${ref.resource}`);
      return inner.watch(ref, ...a);
    },
  };
  return { client, calls };
}

test('two callers asking for the same resource share one informer, one list and one watch', async (t) => {
  const cluster = await startTestCluster();
  t.after(() => cluster.close());
  await cluster.namespace('ns');
  const { client, calls } = counting(cluster.client);
  const factory = new InformerFactory(client);
  t.after(() => factory.stop());

  const forReplicaSets = factory.informer(R.pods);
  const forJobs = factory.informer(R.pods);
  const nodes = factory.informer(R.nodes);
  assert.equal(forReplicaSets, forJobs);
  assert.notEqual(forReplicaSets, nodes);

  const seen: string[] = [];
  let wake!: () => void;
  const both = new Promise<void>((r) => (wake = r));
  forReplicaSets.addHandlers({ onAdd: (p) => (seen.push(`rs ${p.metadata.name}`), seen.length === 2 && wake()) });
  forJobs.addHandlers({ onAdd: (p) => (seen.push(`job ${p.metadata.name}`), seen.length === 2 && wake()) });
  await factory.start();
  assert.ok(forJobs.hasSynced() && nodes.hasSynced());
  await factory.start(); // starting again starts nothing new
  assert.deepEqual([...calls].sort(), ['list nodes', 'list pods', 'watch nodes', 'watch pods']);

  await cluster.client.create(R.pods, 'ns', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  await both;
  assert.deepEqual(seen.sort(), ['job p', 'rs p']);
  assert.equal(forReplicaSets.get('ns', 'p')?.metadata.name, 'p');
});
