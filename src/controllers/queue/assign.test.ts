import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterQueue, ResourceFlavor, Workload } from '../../api/kueue.js';
import { formatResourceList } from '../../apiserver/admission/usage.js';
import { admissionPass, admittedUsage, assignFlavors, compareWorkloads, podSetRequests, type FlavorUsageMap } from './assign.js';

const flavor = (name: string, nodeLabels?: Record<string, string>, nodeTaints?: any[]): ResourceFlavor => ({ metadata: { name }, spec: { nodeLabels, nodeTaints } });

function cq(strategy: 'StrictFIFO' | 'BestEffortFIFO', quotas: Record<string, Record<string, string>>, covered = ['cpu', 'memory']): ClusterQueue {
  return {
    metadata: { name: 'team' },
    spec: {
      queueingStrategy: strategy,
      namespaceSelector: {},
      resourceGroups: [{ coveredResources: covered, flavors: Object.entries(quotas).map(([name, r]) => ({ name, resources: Object.entries(r).map(([n, q]) => ({ name: n, nominalQuota: q })) })) }],
    },
  };
}

function wl(name: string, cpu: string, opts: { count?: number; priority?: number; created?: string; memory?: string; limitsOnly?: boolean; nodeSelector?: Record<string, string> } = {}): Workload {
  const res = { cpu, ...(opts.memory ? { memory: opts.memory } : {}) };
  return {
    metadata: { name, namespace: 'default', uid: name, creationTimestamp: opts.created ?? '2025-01-01T00:00:00Z' },
    spec: {
      queueName: 'q',
      priority: opts.priority ?? 0,
      podSets: [
        {
          name: 'main',
          count: opts.count ?? 1,
          template: { spec: { nodeSelector: opts.nodeSelector, containers: [{ name: 'c', image: 'busybox', resources: opts.limitsOnly ? { limits: res } : { requests: res } }] } },
        },
      ],
    },
  };
}

const flavors = (...fs: ResourceFlavor[]) => new Map(fs.map((f) => [f.metadata!.name!, f]));

test('a pod set requests its pods\' requests times its count, limits standing in for missing requests', () => {
  assert.deepEqual(formatResourceList(podSetRequests(wl('a', '500m', { count: 3, memory: '1Gi' }).spec!.podSets![0]!)), { cpu: '1500m', memory: '3Gi' });
  assert.deepEqual(formatResourceList(podSetRequests(wl('a', '2', { limitsOnly: true }).spec!.podSets![0]!)), { cpu: '2' });
});

test('a workload fits only when its whole gang fits the flavor\'s remaining nominal quota', () => {
  const queue = cq('BestEffortFIFO', { 'default-flavor': { cpu: '2', memory: '4Gi' } });
  const fs = flavors(flavor('default-flavor'));
  const fits = assignFlavors(wl('a', '1', { count: 2 }), queue, fs, new Map());
  assert.ok(fits.assignment);
  assert.deepEqual(fits.assignment.podSets[0]!.flavors, { cpu: 'default-flavor' });
  assert.deepEqual(formatResourceList(fits.assignment.usage.get('default-flavor')!), { cpu: '2' });

  const used: FlavorUsageMap = new Map([['default-flavor', fits.assignment.usage.get('default-flavor')!]]);
  assert.equal(
    assignFlavors(wl('b', '500m'), queue, fs, used).message,
    "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 500m more needed",
  );
  assert.equal(
    assignFlavors(wl('c', '1', { count: 3 }), queue, fs, new Map()).message,
    "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default-flavor, request > maximum capacity (3 > 2)",
  );
  assert.equal(
    assignFlavors(wl('d', '1', { memory: '1Gi' }), cq('BestEffortFIFO', { 'default-flavor': { cpu: '2' } }, ['cpu']), fs, new Map()).message,
    "couldn't assign flavors to pod set main: resource memory unavailable in ClusterQueue",
  );
});

test('flavors are tried in order: missing, tainted and non-matching flavors are skipped with their reasons', () => {
  const queue = cq('BestEffortFIFO', { gone: { cpu: '8' }, tainted: { cpu: '8' }, a100: { cpu: '8' }, spot: { cpu: '1' } });
  const fs = flavors(flavor('tainted', undefined, [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }]), flavor('a100', { accelerator: 'a100' }), flavor('spot', { accelerator: 'none' }));
  const picked = assignFlavors(wl('a', '1'), queue, fs, new Map());
  assert.equal(picked.assignment?.podSets[0]?.flavors.cpu, 'a100');
  const none = assignFlavors(wl('b', '2', { nodeSelector: { accelerator: 'none' } }), queue, fs, new Map());
  assert.equal(
    none.message,
    "couldn't assign flavors to pod set main: flavor a100 doesn't match node affinity, flavor gone not found, insufficient quota for cpu in flavor spot, request > maximum capacity (2 > 1), untolerated taint gpu=true:NoSchedule in flavor tainted",
  );
});

test('pending workloads are ordered by priority, then creation time', () => {
  const list = [wl('late', '1', { created: '2025-01-01T00:00:09Z' }), wl('urgent', '1', { priority: 100, created: '2025-01-01T00:00:10Z' }), wl('early', '1', { created: '2025-01-01T00:00:01Z' })];
  assert.deepEqual(list.sort((a, b) => compareWorkloads(a, b)).map((w) => w.metadata!.name), ['urgent', 'early', 'late']);
});

test('StrictFIFO blocks behind a head that does not fit; BestEffortFIFO lets smaller workloads pass', () => {
  const fs = flavors(flavor('default-flavor'));
  const pending = [wl('big', '2', { created: '2025-01-01T00:00:01Z' }), wl('small', '1', { created: '2025-01-01T00:00:02Z' })];
  const used: FlavorUsageMap = new Map([['default-flavor', podSetRequests(wl('running', '1').spec!.podSets![0]!)]]);

  const strict = admissionPass(cq('StrictFIFO', { 'default-flavor': { cpu: '2' } }), pending, fs, used);
  assert.deepEqual(strict.admitted.map((a) => a.workload.metadata!.name), []);
  assert.deepEqual(strict.inadmissible.map((a) => a.workload.metadata!.name), ['big'], 'workloads behind the head are not tried');

  const best = admissionPass(cq('BestEffortFIFO', { 'default-flavor': { cpu: '2' } }), pending, fs, used);
  assert.deepEqual(best.admitted.map((a) => a.workload.metadata!.name), ['small']);
  assert.deepEqual(best.inadmissible.map((a) => a.workload.metadata!.name), ['big']);
});

test('one pass admits in order until the quota is spent, counting each admission against the next', () => {
  const fs = flavors(flavor('default-flavor'));
  const pending = ['a', 'b', 'c'].map((n, i) => wl(n, '1', { created: `2025-01-01T00:00:0${i}Z` }));
  const pass = admissionPass(cq('BestEffortFIFO', { 'default-flavor': { cpu: '2' } }), pending, fs, new Map());
  assert.deepEqual(pass.admitted.map((a) => a.workload.metadata!.name), ['a', 'b']);
  assert.equal(pass.inadmissible[0]?.message, "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 1 more needed");
});

test('an admitted workload\'s usage is read back from its admission', () => {
  const w = wl('a', '1');
  w.status = { admission: { clusterQueue: 'team', podSetAssignments: [{ name: 'main', flavors: { cpu: 'f', memory: 'f' }, resourceUsage: { cpu: '1500m', memory: '2Gi' }, count: 3 }] } };
  assert.deepEqual(formatResourceList(admittedUsage(w).get('f')!), { cpu: '1500m', memory: '2Gi' });
});
