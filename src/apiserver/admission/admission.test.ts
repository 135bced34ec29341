import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../../client/client.js';
import { ApiError } from '../../api/errors.js';
import { eventually, startTestCluster, type TestCluster } from '../../controllers/testenv.js';
import { ResourceQuotaController } from '../../controllers/resourcequota.js';

const LIMIT_RANGES = { group: '', version: 'v1', resource: 'limitranges' };
const QUOTAS = { group: '', version: 'v1', resource: 'resourcequotas' };

function pod(name: string, containers: Record<string, unknown>[] = [{ name: 'main', image: 'busybox' }], spec: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers, ...spec } };
}

/** The ApiError a promise rejects with. */
async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected the request to be refused');
}

async function withCluster(fn: (c: TestCluster) => Promise<void>, opts: { quota?: boolean } = {}): Promise<void> {
  const c = await startTestCluster();
  await c.namespace('ns');
  const quotas = opts.quota ? new ResourceQuotaController({ client: c.client, informers: c.informers, resources: () => c.registry.resources(), resyncMs: 0 }) : undefined;
  await quotas?.start();
  try {
    await fn(c);
  } finally {
    quotas?.stop();
    await c.close();
  }
}

/** Creates a quota and waits for the controller to have counted it (admission refuses until then). */
async function quota(client: Client, name: string, hard: Record<string, string>, spec: Record<string, unknown> = {}): Promise<void> {
  await client.create(QUOTAS, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name }, spec: { hard, ...spec } });
  await eventually(async () => (await client.get(QUOTAS, 'ns', name)).status?.used, `quota ${name} to be counted`);
}

test('LimitRange defaults fill missing requests and limits, annotate the pod, and count for its QoS class', async () => {
  await withCluster(async ({ client }) => {
    await client.create(LIMIT_RANGES, 'ns', {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'defaults' },
      spec: { limits: [{ type: 'Container', default: { cpu: '500m', memory: '128Mi' }, defaultRequest: { cpu: '250m', memory: '64Mi' } }] },
    });
    const created = await client.create<any>(R.pods, 'ns', pod('web', [{ name: 'main', image: 'busybox' }, { name: 'side', image: 'busybox', resources: { limits: { cpu: '1' } } }]));
    assert.deepEqual(created.spec.containers[0].resources, { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } });
    // A limit the pod set itself also became its request (pod defaulting), so only memory was filled in.
    assert.deepEqual(created.spec.containers[1].resources, { limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '1', memory: '64Mi' } });
    assert.equal(
      created.metadata.annotations['kubernetes.io/limit-ranger'],
      'LimitRanger plugin set: cpu, memory request for container main; cpu, memory limit for container main; memory request for container side; memory limit for container side',
    );
    assert.equal(created.status.qosClass, 'Burstable');
  });
});

test('LimitRange min, max and ratio refuse pods and claims with upstream messages', async () => {
  await withCluster(async ({ client }) => {
    await client.create(LIMIT_RANGES, 'ns', {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'bounds' },
      spec: {
        limits: [
          { type: 'Container', max: { cpu: '1' }, min: { memory: '32Mi' }, maxLimitRequestRatio: { cpu: '2' } },
          { type: 'PersistentVolumeClaim', max: { storage: '1Gi' } },
        ],
      },
    });
    let e = await refusal(client.create(R.pods, 'ns', pod('big', [{ name: 'main', image: 'busybox', resources: { limits: { cpu: '2', memory: '64Mi' } } }])));
    assert.equal(e.code, 403);
    assert.equal(e.reason, 'Forbidden');
    assert.equal(e.message, 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2');
    e = await refusal(
      client.create(R.pods, 'ns', pod('ratio', [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m', memory: '10Mi' }, limits: { cpu: '1', memory: '64Mi' } } }])),
    );
    assert.equal(
      e.message,
      'pods "ratio" is forbidden: [minimum memory usage per Container is 32Mi, but request is 10Mi, cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000]',
    );
    // The max became the default limit (LimitRange defaulting), so a bare pod fits.
    const ok = await client.create<any>(R.pods, 'ns', pod('fits', [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '600m', memory: '32Mi' } } }]));
    assert.equal(ok.spec.containers[0].resources.limits.cpu, '1');
    e = await refusal(
      client.create(R.persistentvolumeclaims, 'ns', {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } },
      }),
    );
    assert.equal(e.message, 'persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 1Gi, but request is 5Gi');
  });
});

test('Priority admission resolves the class, applies the global default, and refuses unknown classes and set priorities', async () => {
  await withCluster(async ({ client }) => {
    const plain = await client.create<any>(R.pods, 'ns', pod('plain'));
    assert.equal(plain.spec.priority, 0);
    assert.equal(plain.spec.preemptionPolicy, 'PreemptLowerPriority');
    assert.equal(plain.spec.priorityClassName, undefined);
    await client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000 });
    const high = await client.create<any>(R.pods, 'ns', pod('high', undefined, { priorityClassName: 'high' }));
    assert.deepEqual([high.spec.priority, high.spec.preemptionPolicy], [1000, 'PreemptLowerPriority']);
    let e = await refusal(client.create(R.pods, 'ns', pod('nope', undefined, { priorityClassName: 'missing' })));
    assert.equal(e.code, 403);
    assert.equal(e.message, 'pods "nope" is forbidden: no PriorityClass with name missing was found');
    e = await refusal(client.create(R.pods, 'ns', { ...pod('gen'), metadata: { generateName: 'gen-' }, spec: { ...pod('gen').spec, priorityClassName: 'missing' } }));
    assert.equal(e.message, 'pods "gen-" is forbidden: no PriorityClass with name missing was found');

    await client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'batch' }, value: 100, globalDefault: true, preemptionPolicy: 'Never' });
    const defaulted = await client.create<any>(R.pods, 'ns', pod('defaulted'));
    assert.deepEqual([defaulted.spec.priorityClassName, defaulted.spec.priority, defaulted.spec.preemptionPolicy], ['batch', 100, 'Never']);
    e = await refusal(client.create(R.pods, 'ns', pod('pinned', undefined, { priority: 5 })));
    assert.equal(
      e.message,
      'pods "pinned" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 100 from the given PriorityClass name',
    );
    e = await refusal(client.create(R.priorityclasses, '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'other' }, value: 5, globalDefault: true }));
    assert.equal(e.message, 'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass batch is already marked as default. Only one default can exist');
    // An update that leaves the priority out keeps it.
    const updated = await client.update<any>(R.pods, 'ns', { ...defaulted, metadata: { ...defaulted.metadata, labels: { a: 'b' } }, spec: { ...defaulted.spec, priority: undefined } });
    assert.equal(updated.spec.priority, 100);
  });
});

test('ResourceQuota refuses a pod past the limit with the upstream message', async () => {
  await withCluster(
    async ({ client }) => {
      await quota(client, 'q', { pods: '2', 'requests.cpu': '1' });
      const cpu = (v: string) => [{ name: 'main', image: 'busybox', resources: { requests: { cpu: v } } }];
      await client.create(R.pods, 'ns', pod('a', cpu('300m')));
      await client.create(R.pods, 'ns', pod('b', cpu('300m')));
      let e = await refusal(client.create(R.pods, 'ns', pod('c', cpu('100m'))));
      assert.equal(e.code, 403);
      assert.equal(e.message, 'pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2');
      const q = await client.get<any>(QUOTAS, 'ns', 'q');
      assert.deepEqual(q.status.used, { pods: '2', 'requests.cpu': '600m' });
      await client.delete(R.pods, 'ns', 'a');
      await eventually(async () => (await client.get<any>(QUOTAS, 'ns', 'q')).status.used.pods === '1', 'the quota to be replenished');
      e = await refusal(client.create(R.pods, 'ns', pod('d', cpu('800m'))));
      assert.equal(e.message, 'pods "d" is forbidden: exceeded quota: q, requested: requests.cpu=800m, used: requests.cpu=300m, limited: requests.cpu=1');
      e = await refusal(client.create(R.pods, 'ns', pod('e', [{ name: 'main', image: 'busybox' }, { name: 'side', image: 'busybox', resources: { requests: { cpu: '1m' } } }])));
      assert.equal(e.message, 'pods "e" is forbidden: failed quota: q: must specify requests.cpu for: main');
    },
    { quota: true },
  );
});

test('ResourceQuota admission is not overdrawn by concurrent creates, and dry runs charge nothing', async () => {
  await withCluster(
    async ({ client }) => {
      await quota(client, 'five', { pods: '5', 'count/configmaps': '3' });
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.create(R.pods, 'ns', pod(`p${i}`))));
      const admitted = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(admitted, 5);
      for (const r of results) if (r.status === 'rejected') assert.match((r.reason as Error).message, /exceeded quota: five, requested: pods=1, used: pods=5, limited: pods=5$/);
      assert.equal((await client.list(R.pods, 'ns')).items.length, 5);
      assert.equal((await client.get<any>(QUOTAS, 'ns', 'five')).status.used.pods, '5');
      const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
      await client.create(R.configmaps, 'ns', cm('dry'), { dryRun: true });
      assert.equal((await client.get<any>(QUOTAS, 'ns', 'five')).status.used['count/configmaps'], '0');
      await Promise.all(['x', 'y', 'z'].map((n) => client.create(R.configmaps, 'ns', cm(n))));
      const e = await refusal(client.create(R.configmaps, 'ns', cm('w')));
      assert.equal(e.message, 'configmaps "w" is forbidden: exceeded quota: five, requested: count/configmaps=1, used: count/configmaps=3, limited: count/configmaps=3');
    },
    { quota: true },
  );
});

test('ResourceQuota counts extended resources and respects BestEffort scopes', async () => {
  await withCluster(
    async ({ client }) => {
      await quota(client, 'gpus', { 'requests.nvidia.com/gpu': '1' });
      await quota(client, 'besteffort', { pods: '1' }, { scopes: ['BestEffort'] });
      // Extended resources alone leave a pod BestEffort (QoS looks at cpu and memory only), hence the cpu request.
      const gpu = [{ name: 'train', image: 'busybox', resources: { requests: { cpu: '1', 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }];
      await client.create(R.pods, 'ns', pod('train-1', gpu));
      let e = await refusal(client.create(R.pods, 'ns', pod('train-2', gpu)));
      assert.equal(e.message, 'pods "train-2" is forbidden: exceeded quota: gpus, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=1, limited: requests.nvidia.com/gpu=1');
      await client.create(R.pods, 'ns', pod('be-1'));
      e = await refusal(client.create(R.pods, 'ns', pod('be-2')));
      assert.equal(e.message, 'pods "be-2" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=1, limited: pods=1');
      // A pod with requests is not BestEffort: that quota does not apply to it.
      await client.create(R.pods, 'ns', pod('burstable', [{ name: 'main', image: 'busybox', resources: { requests: { memory: '1Mi' } } }]));
    },
    { quota: true },
  );
});

test('a quota the controller has not counted yet constrains nothing, as upstream (status.hard is empty)', async () => {
  await withCluster(async ({ client }) => {
    await client.create(QUOTAS, 'ns', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '0' } } });
    await client.create(R.pods, 'ns', pod('early'));
    // With hard copied but usage missing, admission refuses rather than guess.
    const q = await client.get<any>(QUOTAS, 'ns', 'q');
    await client.update(QUOTAS, 'ns', { ...q, status: { hard: { pods: '0' } } }, { subresource: 'status' });
    const e = await refusal(client.create(R.pods, 'ns', pod('late')));
    assert.equal(e.message, 'pods "late" is forbidden: status unknown for quota: q, resources: pods');
  });
});

test('DefaultIngressClass admission gives a class-less Ingress the default class, the newest when several are default', async () => {
  await withCluster(async ({ client }) => {
    const ingress = (name: string, extra: Record<string, unknown> = {}): any => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, ...extra },
      spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
    });
    const cls = (name: string, isDefault: boolean) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name, annotations: { 'ingressclass.kubernetes.io/is-default-class': String(isDefault) } },
      spec: { controller: `example.com/${name}` },
    });
    // No default class: nothing is set.
    assert.equal((await client.create(R.ingresses, 'ns', ingress('none'))).spec.ingressClassName, undefined);
    await client.create(R.ingressclasses, '', cls('other', false));
    await client.create(R.ingressclasses, '', cls('kite', true));
    assert.equal((await client.create(R.ingresses, 'ns', ingress('plain'))).spec.ingressClassName, 'kite');
    // An explicit class or the legacy annotation is left alone.
    const legacy = await client.create(R.ingresses, 'ns', ingress('legacy', { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }));
    assert.equal(legacy.spec.ingressClassName, undefined);
    // Two defaults: the newest wins (creation timestamps have second resolution).
    await new Promise((r) => setTimeout(r, 1100));
    await client.create(R.ingressclasses, '', cls('newer', true));
    await eventually(async () => (await client.create(R.ingresses, 'ns', ingress(`probe-${Date.now()}`))).spec.ingressClassName === 'newer', 'the newest default class');
  });
});
