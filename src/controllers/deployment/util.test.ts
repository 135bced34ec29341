import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getProportion, maxSurge, maxUnavailable, newRSNewReplicas, resolveFenceposts, setNewReplicaSetAnnotations } from './util.js';

const d = (replicas: number, maxSurge: number | string, maxUnavailable: number | string, extra: any = {}) => ({
  metadata: { name: 'web', annotations: extra.annotations },
  spec: { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } },
  status: extra.status,
});
const rs = (replicas: number, annotations: Record<string, string> = {}) => ({ metadata: { name: 'rs', annotations }, spec: { replicas } });

test('maxSurge rounds percentages up and maxUnavailable rounds them down, as upstream ResolveFenceposts', () => {
  assert.deepEqual(resolveFenceposts('25%', '25%', 10), { surge: 3, unavailable: 2 });
  assert.deepEqual(resolveFenceposts('25%', '25%', 1), { surge: 1, unavailable: 0 });
  // Both zero would never make progress: unavailable becomes 1.
  assert.deepEqual(resolveFenceposts(0, '10%', 5), { surge: 0, unavailable: 1 });
  assert.equal(maxSurge(d(3, '25%', '25%')), 1);
  assert.equal(maxUnavailable(d(3, '25%', '25%')), 0);
  assert.equal(maxUnavailable(d(2, 0, 5)), 2, 'never more than spec.replicas');
  assert.equal(maxUnavailable({ metadata: {}, spec: { replicas: 3, strategy: { type: 'Recreate' } } }), 0);
  assert.throws(() => resolveFenceposts('abc', 1, 3), /invalid value/);
});

test('the new ReplicaSet grows only up to spec.replicas + maxSurge pods in all', () => {
  const dep = d(4, 1, 1);
  const oldRS = rs(4);
  const newRS = rs(0);
  assert.equal(newRSNewReplicas(dep, [oldRS, newRS], newRS), 1);
  assert.equal(newRSNewReplicas(dep, [rs(4), rs(1)], rs(1)), 1, 'already at 5 pods');
  assert.equal(newRSNewReplicas(dep, [rs(2), rs(1)], rs(1)), 3);
  assert.equal(newRSNewReplicas({ metadata: {}, spec: { replicas: 4, strategy: { type: 'Recreate' } } }, [rs(4), newRS], newRS), 4);
});

test('proportional scaling splits a resize by each set\'s share of max-replicas', () => {
  // 10 replicas + 3 surge; two sets of 8 and 5 annotated with max 13; scaling to 20 (+5 surge = 25) adds 12.
  const dep = d(20, '25%', '25%');
  const a = rs(8, { 'deployment.kubernetes.io/max-replicas': '13' });
  const b = rs(5, { 'deployment.kubernetes.io/max-replicas': '13' });
  const pa = getProportion(a, dep, 12, 0);
  const pb = getProportion(b, dep, 12, pa);
  assert.equal(pa, 7); // round(8*25/13) - 8 = 15 - 8
  assert.equal(pb, 5); // round(5*25/13) - 5 = 10 - 5, capped by what is left (12 - 7)
  assert.equal(getProportion(rs(0), dep, 12, 0), 0);
});

test('revision annotations: raised above old ones, history kept on rollback, deployment annotations copied', () => {
  const dep = d(3, 1, 0, { annotations: { 'kubernetes.io/change-cause': 'x', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } });
  const fresh: any = rs(0);
  assert.equal(setNewReplicaSetAnnotations(dep, fresh, 1, false), true);
  assert.deepEqual(fresh.metadata.annotations, {
    'kubernetes.io/change-cause': 'x',
    'deployment.kubernetes.io/revision': '1',
    'deployment.kubernetes.io/desired-replicas': '3',
    'deployment.kubernetes.io/max-replicas': '4',
  });
  assert.equal(setNewReplicaSetAnnotations(dep, fresh, 1, true), false, 'nothing to change');
  const old: any = rs(0, { 'deployment.kubernetes.io/revision': '2', 'deployment.kubernetes.io/revision-history': '1' });
  setNewReplicaSetAnnotations(dep, old, 5, true);
  assert.equal(old.metadata.annotations['deployment.kubernetes.io/revision'], '5');
  assert.equal(old.metadata.annotations['deployment.kubernetes.io/revision-history'], '1,2');
});
