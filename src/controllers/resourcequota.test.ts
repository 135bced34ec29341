import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { QUOTA_RESOURCE, ResourceQuotaController } from './resourcequota.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

async function withEnv(fn: (c: TestCluster) => Promise<void>): Promise<void> {
  const c = await startTestCluster();
  await c.namespace('ns');
  const controller = new ResourceQuotaController({ client: c.client, informers: c.informers, resources: () => c.registry.resources(), resyncMs: 0 });
  await controller.start();
  try {
    await fn(c);
  } finally {
    controller.stop();
    await c.close();
  }
}

/** The quota's status.used once `pred` holds for it. */
async function used(client: Client, name: string, pred: (u: Record<string, string>) => boolean, what: string): Promise<Record<string, string>> {
  return eventually(async () => {
    const u = (await client.get<any>(QUOTA_RESOURCE, 'ns', name)).status?.used;
    return u && pred(u) ? u : undefined;
  }, what);
}

function pod(name: string, resources: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox', resources }], ...spec } };
}

test('status.hard copies spec.hard and status.used counts what already exists, resource by resource', async () => {
  await withEnv(async ({ client }) => {
    await client.create(R.pods, 'ns', pod('a', { requests: { cpu: '250m', memory: '64Mi', 'nvidia.com/gpu': '2' }, limits: { cpu: '500m', memory: '128Mi', 'nvidia.com/gpu': '2' } }));
    await client.create(R.pods, 'ns', pod('b', { requests: { cpu: '250m' } }));
    const done = await client.create<any>(R.pods, 'ns', pod('done', { requests: { cpu: '4' } }));
    done.status = { phase: 'Succeeded' };
    await client.update(R.pods, 'ns', done, { subresource: 'status' });
    await client.create(R.configmaps, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } });
    await client.create(R.services, 'ns', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ port: 80, name: 'a' }, { port: 81, name: 'b' }] } });
    await client.create(R.persistentvolumeclaims, 'ns', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data' },
      spec: { storageClassName: 'gold', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } },
    });
    await client.create(R.deployments, 'ns', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    const hard = {
      pods: '10',
      'count/pods': '10',
      'requests.cpu': '2',
      'requests.memory': '1Gi',
      'limits.cpu': '4',
      'limits.memory': '2Gi',
      'requests.nvidia.com/gpu': '4',
      configmaps: '5',
      services: '5',
      'services.nodeports': '5',
      'requests.storage': '10Gi',
      'gold.storageclass.storage.k8s.io/requests.storage': '5Gi',
      'count/deployments.apps': '3',
      secrets: '2',
    };
    await client.create(QUOTA_RESOURCE, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard } });
    const u = await used(client, 'q', () => true, 'the first count');
    assert.deepEqual(u, {
      configmaps: '1',
      'count/deployments.apps': '1',
      'count/pods': '3',
      'gold.storageclass.storage.k8s.io/requests.storage': '2Gi',
      'limits.cpu': '500m',
      'limits.memory': '128Mi',
      pods: '2',
      'requests.cpu': '500m',
      'requests.memory': '64Mi',
      'requests.nvidia.com/gpu': '2',
      'requests.storage': '2Gi',
      secrets: '0',
      services: '1',
      'services.nodeports': '2',
    });
    assert.deepEqual((await client.get<any>(QUOTA_RESOURCE, 'ns', 'q')).status.hard, hard);
  });
});

test('deletions and pods finishing give quota back; a new spec is counted again', async () => {
  await withEnv(async ({ client }) => {
    await client.create(QUOTA_RESOURCE, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '5' } } });
    await used(client, 'q', (u) => u.pods === '0', 'the empty count');
    await client.create(R.pods, 'ns', pod('a', {}));
    await client.create(R.pods, 'ns', pod('b', {}));
    await used(client, 'q', (u) => u.pods === '2', 'admission to charge both pods');
    await client.delete(R.pods, 'ns', 'a');
    await used(client, 'q', (u) => u.pods === '1', 'the deletion to be given back');
    const b = await client.get<any>(R.pods, 'ns', 'b');
    b.status = { ...b.status, phase: 'Failed' };
    await client.update(R.pods, 'ns', b, { subresource: 'status' });
    await used(client, 'q', (u) => u.pods === '0', 'the failed pod to be given back');
    const q = await client.get<any>(QUOTA_RESOURCE, 'ns', 'q');
    q.spec.hard = { pods: '5', 'count/pods': '5' };
    await client.update(QUOTA_RESOURCE, 'ns', q);
    const u = await used(client, 'q', (x) => x['count/pods'] !== undefined, 'the new resource to be counted');
    assert.deepEqual(u, { 'count/pods': '1', pods: '0' });
  });
});

test('scopes: a Terminating quota counts only pods with an active deadline, a PriorityClass selector only those classes', async () => {
  await withEnv(async ({ client }) => {
    await client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 10 });
    await client.create(R.pods, 'ns', pod('job', {}, { activeDeadlineSeconds: 60 }));
    await client.create(R.pods, 'ns', pod('svc', {}, { priorityClassName: 'high' }));
    await client.create(R.pods, 'ns', pod('plain', {}));
    await client.create(QUOTA_RESOURCE, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'term' }, spec: { hard: { pods: '9' }, scopes: ['Terminating'] } });
    await client.create(QUOTA_RESOURCE, 'ns', {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'high' },
      spec: { hard: { pods: '9' }, scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } },
    });
    await client.create(QUOTA_RESOURCE, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'long' }, spec: { hard: { pods: '9' }, scopes: ['NotTerminating'] } });
    assert.equal((await used(client, 'term', () => true, 'term')).pods, '1');
    assert.equal((await used(client, 'high', () => true, 'high')).pods, '1');
    assert.equal((await used(client, 'long', () => true, 'long')).pods, '2');
  });
});
