import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { DEFAULT_HOLLOW_ALLOCATABLE, HOLLOW_ANNOTATION, HOLLOW_LABEL, HollowNodes } from './hollow.js';

function pod(name: string, nodeName?: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }], ...extra },
  };
}

describe('HollowNodes', () => {
  let cluster: TestCluster;
  let hollow: HollowNodes;

  before(async () => {
    cluster = await startTestCluster();
    await cluster.namespace('default', 'kube-node-lease');
    hollow = new HollowNodes({ client: cluster.client, count: 5, leaseIntervalMs: 20, podStartDelayMs: 50 });
    await hollow.start();
  });

  after(async () => {
    hollow.stop();
    await cluster.close();
  });

  it('registers N Ready nodes labelled and annotated as hollow, with the default allocatable', async () => {
    const nodes = (await cluster.client.list(R.nodes, '', { labelSelector: `${HOLLOW_LABEL}=true` })).items;
    assert.equal(nodes.length, 5);
    assert.deepEqual(nodes.map((n: any) => n.metadata.name).sort(), hollow.names);
    for (const n of nodes) {
      assert.equal(n.metadata.annotations[HOLLOW_ANNOTATION], 'true');
      assert.equal(n.metadata.labels['kubernetes.io/hostname'], n.metadata.name);
      assert.deepEqual(n.status.allocatable, { ...DEFAULT_HOLLOW_ALLOCATABLE });
      assert.equal(n.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
      assert.ok(n.status.addresses.some((a: any) => a.type === 'InternalIP' && a.address));
    }
  });

  it('keeps every Lease renewed from one timer', async () => {
    const before = new Map<string, string>();
    for (const name of hollow.names) {
      const lease = await cluster.client.get(R.leases, 'kube-node-lease', name);
      assert.equal(lease.spec.holderIdentity, name);
      assert.equal(lease.spec.leaseDurationSeconds, 40);
      before.set(name, lease.spec.renewTime);
    }
    await eventually(async () => {
      for (const name of hollow.names) {
        const lease = await cluster.client.get(R.leases, 'kube-node-lease', name);
        if (lease.spec.renewTime === before.get(name)) return false;
      }
      return true;
    }, 'every lease renewed');
  });

  it('reports a pod bound to a hollow node Running and Ready after the start delay', async () => {
    await cluster.client.create(R.pods, 'default', pod('unbound'));
    await cluster.client.create(
      R.pods,
      'default',
      { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'unbound' }, target: { kind: 'Node', name: hollow.names[2] } },
      { subresource: 'binding' },
    );
    const bound = Date.now();
    const running = await eventually(async () => {
      const p = await cluster.client.get(R.pods, 'default', 'unbound');
      return p.status?.phase === 'Running' ? p : undefined;
    }, 'pod Running');
    assert.ok(Date.now() - bound >= 40, 'the start delay is honoured');
    assert.equal(running.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
    assert.equal(running.status.conditions.find((c: any) => c.type === 'PodScheduled')?.status, 'True');
    const [cs] = running.status.containerStatuses;
    assert.equal(cs.name, 'app');
    assert.equal(cs.ready, true);
    assert.ok(cs.state.running.startedAt);
    assert.ok(running.status.podIP);
    const node = await cluster.client.get(R.nodes, '', hollow.names[2]);
    assert.equal(running.status.hostIP, node.status.addresses.find((a: any) => a.type === 'InternalIP').address);
  });

  it('leaves pods on other nodes alone', async () => {
    await cluster.client.create(R.pods, 'default', pod('elsewhere', 'real-node'));
    await cluster.client.create(R.pods, 'default', pod('direct', hollow.names[0]));
    await eventually(async () => (await cluster.client.get(R.pods, 'default', 'direct')).status?.phase === 'Running', 'direct pod Running');
    await hollow.idle();
    const other = await cluster.client.get(R.pods, 'default', 'elsewhere');
    assert.notEqual(other.status?.phase, 'Running');
  });

  it('removes a deleted pod at once, as a kubelet does once its containers stopped', async () => {
    await cluster.client.create(R.pods, 'default', pod('doomed', hollow.names[1]));
    await eventually(async () => (await cluster.client.get(R.pods, 'default', 'doomed')).status?.phase === 'Running', 'pod Running');
    await cluster.client.delete(R.pods, 'default', 'doomed');
    await eventually(async () => (await getOrUndefined(cluster.client, R.pods, 'default', 'doomed')) === undefined, 'pod gone');
  });

  it('takes a configured allocatable and re-registers existing nodes without failing', async () => {
    const again = new HollowNodes({ client: cluster.client, count: 2, allocatable: { cpu: '4', memory: '8Gi', pods: '10' }, leaseIntervalMs: 0, runPods: false });
    await again.start();
    again.stop();
    const n = await cluster.client.get(R.nodes, '', again.names[1]);
    assert.deepEqual(n.status.allocatable, { cpu: '4', memory: '8Gi', pods: '10' });
  });
});
