import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../api/generated/types.js';
import { Nominator } from './nominator.js';
import { newNodeInfo, newPodInfo } from './nodeinfo.js';
import { nodeResourcesFit } from './plugins/noderesources.js';

function pod(name: string, priority: number, cpu: string, status: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'd' },
    spec: { priority, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }], ...spec },
    status,
  } as Pod;
}

test('pods of no higher priority are filtered as if the nominated pod were on its node', () => {
  const nominator = new Nominator();
  const node = newNodeInfo('n', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, status: { allocatable: { cpu: '2', memory: '1Gi', pods: '10' } } });
  const fit = nodeResourcesFit();
  const run = (p: Pod) => {
    const info = newPodInfo(p);
    return nominator.filter(node, info, (n) => fit.filter!(new Map(), info, n));
  };
  const preemptor = pod('vip', 100, '1500m', { nominatedNodeName: 'n' });
  nominator.update(preemptor);
  assert.deepEqual(run(pod('low', 1, '1')), { code: 'Unschedulable', reasons: ['Insufficient cpu'] });
  assert.deepEqual(run(pod('peer', 100, '1')), { code: 'Unschedulable', reasons: ['Insufficient cpu'] });
  // Higher priority pods, and the nominated pod itself, do not leave room for it.
  assert.equal(run(pod('boss', 1000, '1')).code, 'Success');
  assert.equal(run(preemptor).code, 'Success');
  // Once bound (or deleted) the nomination is forgotten.
  nominator.update(pod('vip', 100, '1500m', { nominatedNodeName: 'n' }, { nodeName: 'n' }));
  assert.equal(run(pod('low', 1, '1')).code, 'Success');
  nominator.update(preemptor);
  nominator.delete(preemptor);
  assert.deepEqual(nominator.nominatedFor('n', newPodInfo(pod('low', 1, '1'))), []);
});
