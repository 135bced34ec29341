import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitErrorMessage, type Status } from './framework.js';

const rej = (code: 'Unschedulable' | 'UnschedulableAndUnresolvable', ...reasons: string[]): Status => ({ code, reasons });

test('FitError message counts reasons per node and sorts the "count reason" strings (upstream FitError.Error)', () => {
  const nodeToStatus = new Map<string, Status>([
    ['w1', rej('Unschedulable', 'Insufficient cpu', 'Insufficient memory')],
    ['w2', rej('Unschedulable', 'Insufficient memory')],
    ['w3', rej('UnschedulableAndUnresolvable', "node(s) didn't match Pod's node affinity/selector")],
    ['cp', rej('UnschedulableAndUnresolvable', 'node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }')],
    ['cordoned', rej('UnschedulableAndUnresolvable', 'node(s) were unschedulable')],
  ]);
  assert.equal(
    fitErrorMessage({ numAllNodes: 5, diagnosis: { nodeToStatus, unschedulablePlugins: new Set(), postFilterMsg: 'preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.' } }),
    "0/5 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) were unschedulable, 2 Insufficient memory. " +
      'preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.',
  );
});

test('a PreFilter rejection is reported once instead of per node', () => {
  const s = rej('UnschedulableAndUnresolvable', 'persistentvolumeclaim "data" not found');
  const nodeToStatus = new Map([['a', s], ['b', s]]);
  assert.equal(
    fitErrorMessage({ numAllNodes: 2, diagnosis: { nodeToStatus, unschedulablePlugins: new Set(), preFilterMsg: 'persistentvolumeclaim "data" not found' } }),
    '0/2 nodes are available: persistentvolumeclaim "data" not found.',
  );
});
