import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulerCache } from './cache.js';
import { newPodInfo } from './nodeinfo.js';

const node = (name: string) => ({ apiVersion: 'v1' as const, kind: 'Node' as const, metadata: { name }, status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' } } });
const pod = (name: string, nodeName?: string) => ({
  apiVersion: 'v1' as const,
  kind: 'Pod' as const,
  metadata: { name, namespace: 'd', uid: name },
  spec: { nodeName, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '1' } } }] },
});

test('an assumed pod counts once: before the informer shows it bound, and after', () => {
  const c = new SchedulerCache();
  c.setNode(node('a'));
  c.assumePod(newPodInfo(pod('p')), 'a');
  assert.equal(c.nodeInfo('a')!.requested.milliCPU, 1000);
  assert.ok(c.isAssumed('d/p'));
  c.setAssignedPod(pod('p', 'a'));
  assert.equal(c.nodeInfo('a')!.requested.milliCPU, 1000);
  assert.equal(c.nodeInfo('a')!.pods.size, 1);
  assert.ok(!c.isAssumed('d/p'));
  c.forgetPod('d/p');
  assert.equal(c.nodeInfo('a')!.requested.milliCPU, 1000, 'a confirmed pod is not forgotten');
  c.removePod(pod('p', 'a'));
  assert.equal(c.nodeInfo('a')!.requested.milliCPU, 0);
});

test('a failed binding forgets the assumed pod', () => {
  const c = new SchedulerCache();
  c.setNode(node('a'));
  c.assumePod(newPodInfo(pod('p')), 'a');
  c.forgetPod('d/p');
  assert.equal(c.nodeInfo('a')!.requested.milliCPU, 0);
  assert.equal(c.nodeInfo('a')!.pods.size, 0);
});

test('pods of a node the cache has not seen are counted when the node appears; removed nodes leave the list', () => {
  const c = new SchedulerCache();
  c.setAssignedPod(pod('early', 'late-node'));
  assert.equal(c.nodeCount, 0);
  c.setNode(node('late-node'));
  c.setNode(node('b'));
  assert.equal(c.nodeInfo('late-node')!.requested.milliCPU, 1000);
  c.removeNode('late-node');
  assert.deepEqual(c.nodeInfos().map((n) => n.name), ['b']);
  assert.equal(c.nodeInfo('late-node'), undefined);
});
