import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { NodeLifecycleController, TaintEvictionController, tolerationTimeMs } from './nodelifecycle.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

const iso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const micro = () => new Date().toISOString().replace('Z', '000Z');

async function addNode(c: Client, name: string) {
  const now = iso();
  await c.create<any>(R.nodes, '', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }] },
  });
  await c.create<any>(R.leases, 'kube-node-lease', {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: micro() },
  });
}

/** Renews a node's Lease the way its kubelet does, until stopped. */
function heartbeat(c: Client, name: string): () => void {
  const t = setInterval(async () => {
    try {
      const l = await c.get(R.leases, 'kube-node-lease', name);
      l.spec.renewTime = micro();
      await c.update(R.leases, 'kube-node-lease', l);
    } catch {
      // the next beat tries again
    }
  }, 50);
  return () => clearInterval(t);
}

async function addPod(c: Client, name: string, node: string, tolerations?: unknown[]) {
  const pod = await c.create<any>(R.pods, 'ns', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }], ...(tolerations ? { tolerations } : {}) },
  });
  pod.status = { ...pod.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso() }] };
  return c.update(R.pods, 'ns', pod, { subresource: 'status' });
}

async function setup(t: { after(fn: () => Promise<void> | void): void }, nodes: string[]): Promise<TestCluster> {
  const env = await startTestCluster();
  await env.namespace('default', 'ns', 'kube-node-lease');
  for (const n of nodes) await addNode(env.client, n);
  const events = new EventRecorder(env.client, 'node-controller');
  const lifecycle = new NodeLifecycleController({
    client: env.client,
    informers: env.informers,
    events,
    nodeMonitorGracePeriodMs: 400,
    nodeMonitorPeriodMs: 50,
  });
  const eviction = new TaintEvictionController({ client: env.client, informers: env.informers, events: new EventRecorder(env.client, 'taint-eviction-controller') });
  await lifecycle.start();
  await eviction.start();
  t.after(async () => {
    lifecycle.stop();
    eviction.stop();
    await env.close();
  });
  return env;
}

test('a node that stops heartbeating goes Unknown, is tainted, and its pods are marked not ready and evicted', { timeout: 30_000 }, async (t) => {
  const env = await setup(t, ['node-a', 'node-b']);
  const c = env.client;
  t.after(heartbeat(c, 'node-b'));
  const quick = await addPod(c, 'quick', 'node-a', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1 }]);
  const defaulted = await addPod(c, 'defaulted', 'node-a');
  // The DefaultTolerationSeconds admission gave this pod 300 s for each node problem.
  assert.deepEqual(
    defaulted.spec.tolerations,
    [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  );
  assert.equal(defaulted.spec.serviceAccountName, 'default');
  await addPod(c, 'healthy', 'node-b');

  const node = await eventually(async () => {
    const n = await c.get(R.nodes, '', 'node-a');
    return (n.spec.taints ?? []).some((x: any) => x.effect === 'NoExecute') ? n : undefined;
  }, 'node-a to be tainted');
  const ready = node.status.conditions.find((x: any) => x.type === 'Ready');
  assert.deepEqual([ready.status, ready.reason, ready.message], ['Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.']);
  const taints = node.spec.taints.map((x: any) => `${x.key}:${x.effect}`).sort();
  assert.deepEqual(taints, ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
  assert.ok(node.spec.taints.find((x: any) => x.effect === 'NoExecute').timeAdded);

  await eventually(async () => {
    const p = await c.get(R.pods, 'ns', 'defaulted');
    return p.status.conditions.find((x: any) => x.type === 'Ready').status === 'False';
  }, 'pods on node-a to be marked not ready');

  const evicted = await eventually(async () => {
    const p = await c.get(R.pods, 'ns', 'quick');
    return p.metadata.deletionTimestamp ? p : undefined;
  }, 'the pod tolerating 1 s to be evicted');
  assert.equal(evicted.metadata.uid, quick.metadata.uid);
  const dt = evicted.status.conditions.find((x: any) => x.type === 'DisruptionTarget');
  assert.deepEqual([dt.status, dt.reason, dt.message], ['True', 'DeletionByTaintManager', 'Taint manager: deleting due to NoExecute taint']);

  // Pods tolerating longer stay, and so do the pods of the healthy node.
  assert.equal((await c.get(R.pods, 'ns', 'defaulted')).metadata.deletionTimestamp, undefined);
  const healthy = await c.get(R.pods, 'ns', 'healthy');
  assert.equal(healthy.metadata.deletionTimestamp, undefined);
  assert.equal(healthy.status.conditions.find((x: any) => x.type === 'Ready').status, 'True');
  assert.equal((await c.get(R.nodes, '', 'node-b')).spec?.taints, undefined);

  // Events are recorded in the background: wait for each.
  const hasEvent = (ns: string, text: string) => async () =>
    (await c.list(R.events, ns)).items.some((e: any) => `${e.involvedObject.name} ${e.reason}: ${e.message}` === text);
  await eventually(hasEvent('default', 'node-a NodeNotReady: Node node-a status is now: NodeNotReady'), 'the NodeNotReady node event');
  await eventually(hasEvent('ns', 'quick TaintManagerEviction: Marking for deletion Pod ns/quick'), 'the eviction event');
  await eventually(hasEvent('ns', 'defaulted NodeNotReady: Node is not ready'), 'the pod NodeNotReady event');
});

test('a node whose kubelet reports Ready again loses the taints', { timeout: 30_000 }, async (t) => {
  const env = await setup(t, ['node-a', 'node-b']);
  const c = env.client;
  t.after(heartbeat(c, 'node-b'));
  await eventually(async () => ((await c.get(R.nodes, '', 'node-a')).spec.taints ?? []).length === 2, 'node-a to be tainted');
  const stop = heartbeat(c, 'node-a');
  t.after(stop);
  const n = await c.get(R.nodes, '', 'node-a');
  // A heartbeat the controller has not seen yet (timestamps have one-second resolution).
  const now = new Date(Date.parse(n.status.conditions.find((x: any) => x.type === 'Ready').lastHeartbeatTime) + 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  n.status.conditions = [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }];
  await c.update(R.nodes, '', n, { subresource: 'status' });
  await eventually(async () => (await c.get(R.nodes, '', 'node-a')).spec?.taints === undefined, 'the taints to be removed');
});

test('when every node is down nothing is evicted (upstream master disruption mode)', { timeout: 30_000 }, async (t) => {
  const env = await setup(t, ['solo']);
  const c = env.client;
  await addPod(c, 'quick', 'solo', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }]);
  const node = await eventually(async () => {
    const n = await c.get(R.nodes, '', 'solo');
    return (n.spec.taints ?? []).length ? n : undefined;
  }, 'the node to be tainted NoSchedule');
  assert.deepEqual(node.spec.taints.map((x: any) => `${x.key}:${x.effect}`), ['node.kubernetes.io/unreachable:NoSchedule']);
  assert.equal((await c.get(R.pods, 'ns', 'quick')).metadata.deletionTimestamp, undefined);
});

test('toleration time: untolerated taints evict at once, unbounded tolerations never, otherwise the shortest', () => {
  const unreachable = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
  const notReady = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' };
  assert.equal(tolerationTimeMs([unreachable], []), 0);
  assert.equal(tolerationTimeMs([unreachable], [{ operator: 'Exists' }]), Infinity);
  assert.equal(
    tolerationTimeMs([unreachable, notReady], [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 20 },
    ]),
    20_000,
  );
  assert.equal(tolerationTimeMs([{ key: 'k', value: 'v', effect: 'NoExecute' }], [{ key: 'k', operator: 'Equal', value: 'other' }]), 0);
});
