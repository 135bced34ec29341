import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newNodeInfo, newPodInfo, addPod, type NodeInfo, type PodInfo } from '../nodeinfo.js';
import type { CycleState, NodeScore, Plugin, Status } from '../framework.js';
import { nodeUnschedulable } from './nodeunschedulable.js';
import { nodeName } from './nodename.js';
import { nodeAffinity } from './nodeaffinity.js';
import { taintToleration, toleratesTaint } from './tainttoleration.js';
import { nodeResourcesBalancedAllocation, nodeResourcesFit } from './noderesources.js';
import { nodePorts } from './nodeports.js';
import { defaultPreemption } from './defaultpreemption.js';

function mkNode(name: string, opts: { alloc?: Record<string, string>; labels?: Record<string, string>; taints?: any[]; unschedulable?: boolean } = {}): NodeInfo {
  return newNodeInfo(name, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: opts.labels ?? {} },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110', ...opts.alloc } },
  });
}

function mkPod(spec: Record<string, any> = {}, requests: Record<string, string> = {}, name = 'p'): PodInfo {
  return newPodInfo({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'x', resources: { requests } }], ...spec },
  });
}

/** Runs PreFilter (honouring Skip) then Filter, as the framework does. */
function runFilter(p: Plugin, pod: PodInfo, node: NodeInfo): Status {
  const state: CycleState = new Map();
  const pre = p.preFilter?.(state, pod);
  if (pre?.code === 'Skip') return { code: 'Success' };
  return p.filter!(state, pod, node);
}

/** Runs PreScore, Score and NormalizeScore over the nodes. */
function runScore(p: Plugin, pod: PodInfo, nodes: NodeInfo[]): number[] | 'skip' {
  const state: CycleState = new Map();
  if (p.preScore?.(state, pod, nodes).code === 'Skip') return 'skip';
  const scores: NodeScore[] = nodes.map((n) => ({ name: n.name, score: p.score!(state, pod, n) }));
  p.normalizeScore?.(state, pod, scores);
  return scores.map((s) => s.score);
}

test('NodeUnschedulable rejects cordoned nodes unless the pod tolerates the unschedulable taint', () => {
  const cordoned = mkNode('n', { unschedulable: true });
  assert.deepEqual(runFilter(nodeUnschedulable(), mkPod(), cordoned), { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) were unschedulable'] });
  const tolerant = mkPod({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
  assert.equal(runFilter(nodeUnschedulable(), tolerant, cordoned).code, 'Success');
  assert.equal(runFilter(nodeUnschedulable(), mkPod(), mkNode('ok')).code, 'Success');
});

test('NodeName accepts only the named node', () => {
  const pod = mkPod({ nodeName: 'a' });
  assert.equal(runFilter(nodeName(), pod, mkNode('a')).code, 'Success');
  assert.deepEqual(runFilter(nodeName(), pod, mkNode('b')), { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match the requested node name"] });
  assert.equal(runFilter(nodeName(), mkPod(), mkNode('b')).code, 'Success');
});

test('NodeAffinity: nodeSelector and required terms (In, NotIn, Exists, DoesNotExist, Gt, Lt, matchFields) filter nodes', () => {
  const gpu = mkNode('gpu-1', { labels: { accelerator: 'a100', gen: '5' } });
  const cpu = mkNode('cpu-1', { labels: { gen: '3' } });
  const reason = { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match Pod's node affinity/selector"] };
  const sel = mkPod({ nodeSelector: { accelerator: 'a100' } });
  assert.equal(runFilter(nodeAffinity(), sel, gpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), sel, cpu), reason);

  const required = (terms: any[]) => mkPod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });
  const expr = (key: string, operator: string, values?: string[]) => required([{ matchExpressions: [{ key, operator, values }] }]);
  assert.equal(runFilter(nodeAffinity(), expr('accelerator', 'In', ['a100', 'h100']), gpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), expr('accelerator', 'In', ['h100']), gpu), reason);
  assert.equal(runFilter(nodeAffinity(), expr('accelerator', 'NotIn', ['a100']), cpu).code, 'Success', 'NotIn matches a node without the label');
  assert.deepEqual(runFilter(nodeAffinity(), expr('accelerator', 'NotIn', ['a100']), gpu), reason);
  assert.equal(runFilter(nodeAffinity(), expr('accelerator', 'Exists'), gpu).code, 'Success');
  assert.equal(runFilter(nodeAffinity(), expr('accelerator', 'DoesNotExist'), cpu).code, 'Success');
  assert.equal(runFilter(nodeAffinity(), expr('gen', 'Gt', ['4']), gpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), expr('gen', 'Gt', ['4']), cpu), reason);
  assert.equal(runFilter(nodeAffinity(), expr('gen', 'Lt', ['4']), cpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), expr('gen', 'Lt', ['x']), cpu), reason, 'a non-integer value never matches Gt/Lt');
  // Terms are ORed; an empty term matches nothing.
  assert.equal(runFilter(nodeAffinity(), required([{}, { matchExpressions: [{ key: 'gen', operator: 'In', values: ['3'] }] }]), cpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), required([{}]), cpu), reason);
  assert.equal(runFilter(nodeAffinity(), required([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['cpu-1'] }] }]), cpu).code, 'Success');
  assert.deepEqual(runFilter(nodeAffinity(), required([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['cpu-1'] }] }]), gpu), reason);
  // nodeSelector AND affinity must both hold.
  const both = mkPod({ nodeSelector: { gen: '3' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'accelerator', operator: 'Exists' }] }] } } } });
  assert.deepEqual(runFilter(nodeAffinity(), both, cpu), reason);
});

test('NodeAffinity scores preferred terms by weight, normalized to 0..100', () => {
  const pod = mkPod({
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 80, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
          { weight: 20, preference: { matchExpressions: [{ key: 'ssd', operator: 'Exists' }] } },
        ],
      },
    },
  });
  const nodes = [mkNode('a-ssd', { labels: { zone: 'a', ssd: '' } }), mkNode('a', { labels: { zone: 'a' } }), mkNode('b-ssd', { labels: { zone: 'b', ssd: '' } }), mkNode('none')];
  assert.deepEqual(runScore(nodeAffinity(), pod, nodes), [100, 80, 20, 0]);
  assert.equal(runScore(nodeAffinity(), mkPod(), nodes), 'skip', 'no preferences: nothing to score');
});

test('TaintToleration rejects untolerated NoSchedule/NoExecute taints with the taint in the reason', () => {
  const tainted = mkNode('n', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] });
  assert.deepEqual(runFilter(taintToleration(), mkPod(), tainted), {
    code: 'UnschedulableAndUnresolvable',
    reasons: ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'],
  });
  const gpuTaint = mkNode('g', { taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoExecute' }] });
  assert.deepEqual(runFilter(taintToleration(), mkPod(), gpuTaint), { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) had untolerated taint {nvidia.com/gpu: present}'] });
  assert.equal(runFilter(taintToleration(), mkPod({ tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present' }] }), gpuTaint).code, 'Success');
  assert.equal(runFilter(taintToleration(), mkPod({ tolerations: [{ operator: 'Exists' }] }), gpuTaint).code, 'Success', 'an empty key with Exists tolerates everything');
  assert.equal(runFilter(taintToleration(), mkPod(), mkNode('soft', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] })).code, 'Success');
  assert.equal(toleratesTaint({ key: 'k', value: 'v', effect: 'NoExecute' }, { key: 'k', value: 'v', effect: 'NoSchedule' }), false, 'effects must match when given');
});

test('TaintToleration prefers nodes with fewer untolerated PreferNoSchedule taints', () => {
  const nodes = [
    mkNode('clean'),
    mkNode('one', { taints: [{ key: 'a', effect: 'PreferNoSchedule' }] }),
    mkNode('two', { taints: [{ key: 'a', effect: 'PreferNoSchedule' }, { key: 'b', effect: 'PreferNoSchedule' }] }),
  ];
  assert.deepEqual(runScore(taintToleration(), mkPod(), nodes), [100, 50, 0]);
  assert.deepEqual(runScore(taintToleration(), mkPod({ tolerations: [{ key: 'b', operator: 'Exists', effect: 'PreferNoSchedule' }] }), nodes), [100, 0, 0]);
});

test('NodeResourcesFit: requests against allocatable minus what is assigned, with upstream reasons', () => {
  const node = mkNode('n', { alloc: { cpu: '2', memory: '4Gi', pods: '2', 'nvidia.com/gpu': '1', 'ephemeral-storage': '10Gi' } });
  const fit = nodeResourcesFit();
  assert.equal(runFilter(fit, mkPod({}, { cpu: '2', memory: '4Gi' }), node).code, 'Success');
  assert.deepEqual(runFilter(fit, mkPod({}, { cpu: '2500m', memory: '5Gi' }), node), { code: 'Unschedulable', reasons: ['Insufficient cpu', 'Insufficient memory'] });
  assert.deepEqual(runFilter(fit, mkPod({}, { 'nvidia.com/gpu': '2' }), node), { code: 'Unschedulable', reasons: ['Insufficient nvidia.com/gpu'] });
  assert.deepEqual(runFilter(fit, mkPod({}, { 'ephemeral-storage': '11Gi' }), node), { code: 'Unschedulable', reasons: ['Insufficient ephemeral-storage'] });
  assert.deepEqual(runFilter(fit, mkPod({}, { 'example.com/fpga': '1' }), node), { code: 'Unschedulable', reasons: ['Insufficient example.com/fpga'] });
  assert.equal(runFilter(fit, mkPod({}, { 'example.com/fpga': '0', 'nvidia.com/gpu': '1' }), node).code, 'Success', 'a zero request needs nothing, even of a resource the node lacks');

  addPod(node, mkPod({}, { cpu: '1500m', 'nvidia.com/gpu': '1' }, 'running'));
  assert.deepEqual(runFilter(fit, mkPod({}, { cpu: '1' }), node), { code: 'Unschedulable', reasons: ['Insufficient cpu'] }, 'assigned pods use up allocatable');
  assert.deepEqual(runFilter(fit, mkPod({}, { 'nvidia.com/gpu': '1' }), node), { code: 'Unschedulable', reasons: ['Insufficient nvidia.com/gpu'] });
  assert.equal(runFilter(fit, mkPod({}, { cpu: '500m' }), node).code, 'Success');
  addPod(node, mkPod({}, {}, 'second'));
  assert.deepEqual(runFilter(fit, mkPod(), node), { code: 'Unschedulable', reasons: ['Too many pods'] }, 'the pods count applies even to pods without requests');
});

test('pod requests: init containers count by their max, sidecars add up, overhead is added', () => {
  const pod = newPodInfo({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: {
      initContainers: [
        { name: 'migrate', image: 'x', resources: { requests: { cpu: '3', memory: '1Gi' } } },
        { name: 'proxy', image: 'x', restartPolicy: 'Always', resources: { requests: { cpu: '500m', memory: '100Mi' } } },
        { name: 'warm', image: 'x', resources: { requests: { cpu: '1', memory: '3Gi' } } },
      ],
      containers: [
        { name: 'a', image: 'x', resources: { requests: { cpu: '1', memory: '1Gi' } } },
        { name: 'b', image: 'x', resources: { requests: { cpu: '1' } } },
      ],
      overhead: { cpu: '100m', memory: '10Mi' },
    },
  });
  // cpu: max(1 + 1 + 0.5 sidecar, init max(3, 1 + 0.5)) = 3, + 0.1 overhead
  assert.equal(pod.requests.milliCPU, 3100);
  // memory: max(1Gi + 100Mi, init max(1Gi, 3Gi + 100Mi)) = 3Gi + 100Mi, + 10Mi overhead
  assert.equal(pod.requests.memory, 3 * 2 ** 30 + 110 * 2 ** 20);
  // Scoring counts 200Mi for the container without a memory request (upstream's non-zero default).
  assert.equal(pod.nonZeroMemory, 3 * 2 ** 30 + 110 * 2 ** 20);
  const bare = mkPod();
  assert.equal(bare.requests.milliCPU, 0);
  assert.equal(bare.nonZeroCPU, 100);
  assert.equal(bare.nonZeroMemory, 200 * 2 ** 20);
});

test('NodeResourcesFit scores LeastAllocated and BalancedAllocation prefers even cpu/memory use', () => {
  const empty = mkNode('empty', { alloc: { cpu: '4', memory: '8Gi' } });
  const busy = mkNode('busy', { alloc: { cpu: '4', memory: '8Gi' } });
  addPod(busy, mkPod({}, { cpu: '2', memory: '4Gi' }, 'x'));
  const pod = mkPod({}, { cpu: '1', memory: '2Gi' });
  // empty: cpu (4-1)/4 = 75, memory (8-2)/8 = 75 → 75; busy: cpu (4-3)/4 = 25, memory 25 → 25
  assert.deepEqual(runScore(nodeResourcesFit(), pod, [empty, busy]), [75, 25]);
  const skewed = mkNode('skewed', { alloc: { cpu: '4', memory: '8Gi' } });
  addPod(skewed, mkPod({}, { cpu: '3' }, 'cpu-heavy'));
  // empty: fractions 0.25/0.25 → 100; skewed: cpu 1.0, memory 0.25 → std 0.375 → 62
  assert.deepEqual(runScore(nodeResourcesBalancedAllocation(), pod, [empty, skewed]), [100, 62]);
  assert.equal(runScore(nodeResourcesBalancedAllocation(), mkPod(), [empty]), 'skip', 'a pod without requests changes no balance');
});

test('NodePorts rejects a node where the host port is taken (0.0.0.0 conflicts with every IP)', () => {
  const withPort = (hostPort: number, hostIP?: string, protocol?: string, name = 'p') =>
    newPodInfo({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'd' }, spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort, hostIP, protocol }] }] } });
  const node = mkNode('n');
  addPod(node, withPort(8080, '10.0.0.1', undefined, 'existing'));
  const reason = { code: 'Unschedulable', reasons: ["node(s) didn't have free ports for the requested pod ports"] };
  assert.deepEqual(runFilter(nodePorts(), withPort(8080), node), reason);
  assert.deepEqual(runFilter(nodePorts(), withPort(8080, '10.0.0.1'), node), reason);
  assert.equal(runFilter(nodePorts(), withPort(8080, '10.0.0.2'), node).code, 'Success');
  assert.equal(runFilter(nodePorts(), withPort(8080, '10.0.0.1', 'UDP'), node).code, 'Success');
  assert.equal(runFilter(nodePorts(), withPort(9090), node).code, 'Success');
});

test('DefaultPreemption reports what upstream preemption reports when it finds no victims', () => {
  const nodes = [mkNode('a'), mkNode('b'), mkNode('c')];
  const plugin = defaultPreemption({ client: null as any, nodeInfos: () => nodes });
  const diagnosis = {
    nodeToStatus: new Map<string, Status>([
      ['a', { code: 'Unschedulable', reasons: ['Insufficient cpu'] }],
      ['b', { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) were unschedulable'] }],
      ['c', { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) were unschedulable'] }],
    ]),
    unschedulablePlugins: new Set<string>(),
  };
  assert.deepEqual(plugin.postFilter!(new Map(), mkPod(), diagnosis), {
    code: 'Unschedulable',
    reasons: ['preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.'],
  });
  assert.deepEqual(plugin.postFilter!(new Map(), mkPod({ preemptionPolicy: 'Never' }), diagnosis), {
    code: 'Unschedulable',
    reasons: ['preemption: not eligible due to preemptionPolicy=Never.'],
  });
});
