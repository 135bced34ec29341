import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addPod, newNodeInfo, newPodInfo, type NodeInfo, type PodInfo } from '../nodeinfo.js';
import type { CycleState, Status } from '../framework.js';
import { nodeResourcesFit } from './noderesources.js';
import { pickCandidate, selectVictimsOnNode, splitByPDBViolation, type Candidate } from './defaultpreemption.js';
import { R, type Client } from '../../client/client.js';
import { EventRecorder } from '../../client/events.js';
import { InformerFactory } from '../../client/factory.js';
import { Scheduler } from '../scheduler.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from '../../controllers/testenv.js';

function mkNode(name: string, cpu = '2'): NodeInfo {
  return newNodeInfo(name, { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { allocatable: { cpu, memory: '8Gi', pods: '110' } } });
}

function mkPod(name: string, priority: number, cpu: string, extra: { labels?: Record<string, string>; startTime?: string } = {}): PodInfo {
  return newPodInfo({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: extra.labels },
    spec: { priority, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] },
    status: extra.startTime ? { startTime: extra.startTime } : {},
  });
}

const fit = nodeResourcesFit();
const runFilters = (state: CycleState, pod: PodInfo, node: NodeInfo): Status => fit.filter!(state, pod, node);

test('victims are the fewest, least important lower-priority pods that make room', () => {
  const node = mkNode('n', '4');
  for (const p of [mkPod('low-a', 1, '1'), mkPod('low-b', 1, '1'), mkPod('mid', 5, '1'), mkPod('peer', 10, '1')]) addPod(node, p);
  const r = selectVictimsOnNode(runFilters, new Map(), mkPod('preemptor', 10, '2'), node, []) as Candidate;
  // Two cpus are needed: both lowest pods go, the mid-priority one is reprieved, the equal-priority one is never a victim.
  assert.deepEqual(r.victims.map((v) => v.pod.metadata?.name).sort(), ['low-a', 'low-b']);
  assert.equal(r.pdbViolations, 0);
  // The node info itself was not changed.
  assert.equal(node.pods.size, 4);
  assert.deepEqual(selectVictimsOnNode(runFilters, new Map(), mkPod('p', 1, '2'), node, []), {
    code: 'UnschedulableAndUnresolvable',
    reasons: ['No preemption victims found for incoming pod'],
  });
  // Even with every lower-priority pod gone the pod does not fit: the filter's reason stands.
  assert.deepEqual(selectVictimsOnNode(runFilters, new Map(), mkPod('huge', 10, '4'), node, []), { code: 'Unschedulable', reasons: ['Insufficient cpu'] });
});

test('pods a budget protects are reprieved first and counted as violations when they must go', () => {
  const pdb = (allowed: number, disrupted: Record<string, string> = {}) => ({
    metadata: { name: 'b', namespace: 'default' },
    spec: { selector: { matchLabels: { app: 'db' } } },
    status: { disruptionsAllowed: allowed, disruptedPods: disrupted },
  });
  const db1 = mkPod('db1', 1, '1', { labels: { app: 'db' } });
  const db2 = mkPod('db2', 1, '1', { labels: { app: 'db' } });
  const web = mkPod('web', 1, '1', { labels: { app: 'web' } });
  const split = splitByPDBViolation([db1, db2, web], [pdb(1)]);
  assert.deepEqual([split.violating.map((p) => p.pod.metadata?.name), split.nonViolating.map((p) => p.pod.metadata?.name)], [['db2'], ['db1', 'web']]);
  // A pod already counted as disrupted does not use the budget up again; an empty selector protects nothing.
  assert.equal(splitByPDBViolation([db1, db2], [pdb(1, { db1: 'now' })]).violating.length, 0);
  assert.equal(splitByPDBViolation([db1], [{ ...pdb(0), spec: { selector: {} } }]).violating.length, 0);

  const node = mkNode('n', '3');
  for (const p of [db1, db2, web]) addPod(node, p);
  const r = selectVictimsOnNode(runFilters, new Map(), mkPod('big', 10, '1'), node, [pdb(0)]) as Candidate;
  assert.deepEqual(r.victims.map((v) => v.pod.metadata?.name), ['web']);
  assert.equal(r.pdbViolations, 0);
});

test('the candidate node is picked by violations, top victim priority, priority sum, count, then latest start', () => {
  const v = (p: number, start?: string) => mkPod(`v${p}-${start ?? ''}`, p, '1', { startTime: start });
  const c = (node: string, victims: PodInfo[], pdbViolations = 0): Candidate => ({ node, victims, pdbViolations });
  assert.equal(pickCandidate([c('a', [v(1)], 1), c('b', [v(5)], 0)])?.node, 'b');
  assert.equal(pickCandidate([c('a', [v(5)]), c('b', [v(3), v(3)])])?.node, 'b');
  assert.equal(pickCandidate([c('a', [v(3), v(2)]), c('b', [v(3), v(1)])])?.node, 'b');
  assert.equal(pickCandidate([c('a', [v(3), v(0), v(0)]), c('b', [v(3), v(-1)])])?.node, 'b');
  assert.equal(pickCandidate([c('a', [v(3), v(1)]), c('b', [v(3), v(1), v(-5)])])?.node, 'a');
  assert.equal(pickCandidate([c('a', [v(3, '2024-01-01T00:00:00Z')]), c('b', [v(3, '2024-06-01T00:00:00Z')])])?.node, 'b');
  assert.equal(pickCandidate([]), undefined);
});

/** An API server with a scheduler and `nodes` nodes of 2 cpus; no kubelets, so bound pods only go when deleted with grace 0. */
async function withScheduler(nodes: string[], fn: (c: TestCluster) => Promise<void>): Promise<void> {
  const c = await startTestCluster();
  await c.namespace('default');
  for (const n of nodes) {
    await c.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: n }, status: { allocatable: { cpu: '2', memory: '8Gi', pods: '110' }, capacity: { cpu: '2', memory: '8Gi', pods: '110' } } });
  }
  for (const [name, value] of [['low', 10], ['high', 1000], ['never', 1000]] as const) {
    await c.client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...(name === 'never' ? { preemptionPolicy: 'Never' } : {}) });
  }
  const informers = new InformerFactory(c.client);
  const scheduler = new Scheduler({ client: c.client, informers, events: new EventRecorder(c.client, 'default-scheduler') });
  await scheduler.start();
  try {
    await fn(c);
  } finally {
    scheduler.stop();
    await scheduler.bindingsSettled();
    informers.stop();
    await c.close();
  }
}

function pod(name: string, cls: string, cpu: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { priorityClassName: cls, terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu } } }] },
  };
}

async function bound(client: Client, name: string): Promise<any> {
  return eventually(async () => {
    const p = await getOrUndefined<any>(client, R.pods, 'default', name);
    return p?.spec?.nodeName ? p : undefined;
  }, `${name} to be bound`);
}

async function eventsFor(client: Client, name: string, reason: string): Promise<string[]> {
  return (await client.list<any>(R.events, 'default')).items.filter((e) => e.involvedObject.name === name && e.reason === reason).map((e) => e.message);
}

test('a high-priority pod preempts a low-priority one on a full node and is scheduled once it is gone', async () => {
  await withScheduler(['n1'], async ({ client }) => {
    await client.create(R.pods, 'default', pod('victim', 'low', '1500m'));
    await bound(client, 'victim');
    // The same priority cannot preempt: no victims.
    await client.create(R.pods, 'default', pod('peer', 'low', '1'));
    await eventually(async () => (await eventsFor(client, 'peer', 'FailedScheduling')).length > 0, 'the peer to fail');
    assert.deepEqual(await eventsFor(client, 'peer', 'FailedScheduling'), [
      '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    ]);
    const seen: any[] = [];
    const w = await client.watch<any>(R.pods, 'default', {}, (ev) => seen.push(ev));
    const created = await client.create<any>(R.pods, 'default', pod('vip', 'high', '1500m'));
    const vip = await bound(client, 'vip');
    assert.equal(vip.spec.nodeName, 'n1');
    assert.equal(vip.status.nominatedNodeName, 'n1');
    w.stop();
    assert.equal(await getOrUndefined(client, R.pods, 'default', 'victim'), undefined);
    const lastVictim = seen.filter((e) => e.object.metadata.name === 'victim').at(-1).object;
    const cond = lastVictim.status.conditions.find((c: any) => c.type === 'DisruptionTarget');
    assert.deepEqual([cond.status, cond.reason, cond.message], ['True', 'PreemptionByScheduler', 'default-scheduler: preempting to accommodate a higher priority pod']);
    await eventually(async () => (await eventsFor(client, 'victim', 'Preempted')).length > 0, 'the Preempted event');
    assert.deepEqual(await eventsFor(client, 'victim', 'Preempted'), [`Preempted by pod ${created.metadata.uid} on node n1`]);
    // The preemptor's own failure reads as a plain fit failure: preemption succeeded.
    assert.deepEqual(await eventsFor(client, 'vip', 'FailedScheduling'), ['0/1 nodes are available: 1 Insufficient cpu.']);
    // The peer would have fitted where the victim was, but the room was the nominated preemptor's.
    assert.equal((await client.get<any>(R.pods, 'default', 'peer')).spec.nodeName, undefined);
  });
});

test('preemptionPolicy Never waits instead of preempting; budgets steer the choice of node', async () => {
  await withScheduler(['n1', 'n2'], async ({ client }) => {
    await client.create(R.pods, 'default', pod('db', 'low', '1500m', { app: 'db' }));
    await client.create(R.pods, 'default', pod('web', 'low', '1500m', { app: 'web' }));
    const db = await bound(client, 'db');
    const web = await bound(client, 'web');
    assert.notEqual(db.spec.nodeName, web.spec.nodeName);
    await client.create(R.pods, 'default', pod('polite', 'never', '1'));
    await eventually(async () => (await eventsFor(client, 'polite', 'FailedScheduling')).length > 0, 'the polite pod to fail');
    assert.deepEqual(await eventsFor(client, 'polite', 'FailedScheduling'), ['0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.']);
    await client.delete(R.pods, 'default', 'polite');
    // A budget that allows no disruption of db: the web pod is the victim.
    const pdb = await client.create<any>({ group: 'policy', version: 'v1', resource: 'poddisruptionbudgets' }, 'default', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'db' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
    });
    assert.equal(pdb.status.disruptionsAllowed, 0);
    await client.create(R.pods, 'default', pod('vip', 'high', '1'));
    const vip = await bound(client, 'vip');
    assert.equal(vip.spec.nodeName, web.spec.nodeName);
    assert.equal(await getOrUndefined(client, R.pods, 'default', 'web'), undefined);
    assert.ok(await getOrUndefined(client, R.pods, 'default', 'db'));
  });
});
