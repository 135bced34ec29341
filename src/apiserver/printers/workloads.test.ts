import { test } from 'node:test';
import assert from 'node:assert/strict';

import { printerFor } from './index.js';

const now = new Date('2024-06-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const MIN = 60_000;
const meta = (name: string, extra: any = {}) => ({ name, namespace: 'default', creationTimestamp: ago(2 * 24 * 60 * MIN), ...extra });
const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } };

test('deployment: READY ready/desired, UP-TO-DATE, AVAILABLE, wide selector', () => {
  const p = printerFor('apps', 'Deployment');
  assert.deepEqual(p.columns.map((c) => c.name), ['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector']);
  const d = { metadata: meta('web'), spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template }, status: { replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 } };
  assert.deepEqual(p.row(d, now), ['web', '2/3', 3, 2, '2d', 'web', 'nginx:1.27', 'app=web']);
  // a new deployment without status
  assert.deepEqual(p.row({ metadata: meta('new'), spec: { replicas: 1, template } }, now).slice(1, 4), ['0/1', 0, 0]);
});

test('replica set, stateful set and daemon set', () => {
  const rs = { metadata: meta('web-abc'), spec: { replicas: 2, selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } }, template }, status: { replicas: 2, readyReplicas: 1 } };
  assert.deepEqual(printerFor('apps', 'ReplicaSet').row(rs, now), ['web-abc', 2, 2, 1, '2d', 'web', 'nginx:1.27', 'app=web,pod-template-hash=abc']);
  const ss = { metadata: meta('db'), spec: { replicas: 3, template }, status: { readyReplicas: 1 } };
  assert.deepEqual(printerFor('apps', 'StatefulSet').row(ss, now), ['db', '1/3', '2d', 'web', 'nginx:1.27']);
  const ds = {
    metadata: meta('agent'),
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, containers: [{ name: 'a', image: 'agent:1' }] } } },
    status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2 },
  };
  assert.deepEqual(printerFor('apps', 'DaemonSet').row(ds, now), ['agent', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux', '2d', 'a', 'agent:1', 'app=agent']);
});

test('controller revision names its controller as kind.group/name', () => {
  const cr = { metadata: meta('web-7d9', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', controller: true }] }), revision: 2 };
  assert.deepEqual(printerFor('apps', 'ControllerRevision').row(cr, now), ['web-7d9', 'statefulset.apps/web', 2, '2d']);
  assert.equal(printerFor('apps', 'ControllerRevision').row({ metadata: meta('x'), revision: 1 }, now)[1], '<none>');
});

test('job: STATUS, COMPLETIONS and DURATION', () => {
  const p = printerFor('batch', 'Job');
  assert.deepEqual(p.columns.map((c) => c.name), ['Name', 'Status', 'Completions', 'Duration', 'Age', 'Containers', 'Images', 'Selector']);
  const done = {
    metadata: meta('pi'),
    spec: { completions: 1, parallelism: 1, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u1' } }, template },
    status: { succeeded: 1, startTime: ago(10 * MIN), completionTime: ago(10 * MIN - 30_000), conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }] },
  };
  assert.deepEqual(p.row(done, now), ['pi', 'Complete', '1/1', '30s', '2d', 'web', 'nginx:1.27', 'batch.kubernetes.io/controller-uid=u1']);
  const runningJob = { metadata: meta('work'), spec: { parallelism: 3, template }, status: { active: 3, startTime: ago(5 * MIN + 10_000) } };
  assert.deepEqual(p.row(runningJob, now).slice(1, 4), ['Running', '0/1 of 3', '5m10s']);
  const failed = { metadata: meta('f'), spec: { completions: 3, template }, status: { failed: 4, succeeded: 1, startTime: ago(MIN), conditions: [{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True' }] } };
  assert.deepEqual(p.row(failed, now).slice(1, 3), ['Failed', '1/3']);
  assert.equal(p.row({ metadata: meta('s'), spec: { suspend: true, template }, status: { conditions: [{ type: 'Suspended', status: 'True' }] } }, now)[1], 'Suspended');
  assert.equal(p.row({ metadata: meta('t', { deletionTimestamp: ago(1000) }), spec: { template }, status: {} }, now)[1], 'Terminating');
  // not started yet: empty duration
  assert.equal(p.row({ metadata: meta('n'), spec: { completions: 2, template } }, now)[3], '');
});

test('cron job: SCHEDULE, TIMEZONE, SUSPEND, ACTIVE, LAST SCHEDULE', () => {
  const p = printerFor('batch', 'CronJob');
  assert.deepEqual(p.columns.map((c) => c.name), ['Name', 'Schedule', 'Timezone', 'Suspend', 'Active', 'Last Schedule', 'Age', 'Containers', 'Images', 'Selector']);
  const cj = {
    metadata: meta('backup'),
    spec: { schedule: '*/5 * * * *', suspend: false, jobTemplate: { spec: { template } } },
    status: { active: [{ kind: 'Job', name: 'backup-1' }], lastScheduleTime: ago(3 * MIN) },
  };
  assert.deepEqual(p.row(cj, now), ['backup', '*/5 * * * *', '<none>', 'False', 1, '3m', '2d', 'web', 'nginx:1.27', '<none>']);
  const fresh = { metadata: meta('nightly'), spec: { schedule: '0 0 * * *', timeZone: 'Etc/UTC', jobTemplate: { spec: { template } } } };
  assert.deepEqual(p.row(fresh, now).slice(1, 6), ['0 0 * * *', 'Etc/UTC', '<unset>', 0, '<none>']);
});

test('HPA targets render current/target per metric', () => {
  const p = printerFor('autoscaling', 'HorizontalPodAutoscaler');
  const cpu = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } };
  const hpa = (metrics: any, current: any, extra: any = {}) => ({
    metadata: meta('web'),
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 10, metrics, ...extra },
    status: { currentReplicas: 2, desiredReplicas: 2, currentMetrics: current },
  });
  assert.deepEqual(p.row(hpa([cpu], [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 50, averageValue: '250m' } } }]), now), [
    'web',
    'Deployment/web',
    'cpu: 50%/80%',
    '1',
    10,
    2,
    '2d',
  ]);
  assert.equal(p.row(hpa([cpu], undefined), now)[2], 'cpu: <unknown>/80%');
  const mem = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '512Mi' } } };
  const pods = { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '1k' } } };
  const current = [
    { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 12 } } },
    { type: 'Resource', resource: { name: 'memory', current: { averageValue: '100Mi' } } },
    { type: 'Pods', pods: { metric: { name: 'qps' }, current: { averageValue: '250' } } },
  ];
  assert.equal(p.row(hpa([cpu, mem, pods], current), now)[2], 'cpu: 12%/80%, memory: 100Mi/512Mi + 1 more...');
  assert.equal(p.row(hpa([mem, pods], current.slice(1)), now)[2], 'memory: 100Mi/512Mi, 250/1k');
  const ext = { type: 'External', external: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '30' } } };
  assert.equal(p.row(hpa([ext], []), now)[2], '<unknown>/30 (avg)');
  assert.equal(p.row(hpa([], [], { minReplicas: undefined }), now).slice(2, 4).join('|'), '<none>|<unset>');
  // autoscaling/v1 shape
  const v1 = { metadata: meta('old'), spec: { scaleTargetRef: { kind: 'Deployment', name: 'old' }, maxReplicas: 5, targetCPUUtilizationPercentage: 60 }, status: { currentReplicas: 1, currentCPUUtilizationPercentage: 30 } };
  assert.equal(p.row(v1, now)[2], 'cpu: 30%/60%');
});

test('pod disruption budget prints N/A for the unset bound', () => {
  const p = printerFor('policy', 'PodDisruptionBudget');
  assert.deepEqual(p.row({ metadata: meta('pdb'), spec: { minAvailable: 2 }, status: { disruptionsAllowed: 1 } }, now), ['pdb', '2', 'N/A', 1, '2d']);
  assert.deepEqual(p.row({ metadata: meta('pdb'), spec: { maxUnavailable: '25%' } }, now), ['pdb', 'N/A', '25%', 0, '2d']);
});
