import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/memory.js';
import { Registry } from '../registry/registry.js';
import { InProcessClient } from '../../client/inprocess.js';
import { R } from '../../client/client.js';
import { createCa, issueCert } from '../auth/certs.js';
import { KubeletServer } from '../../kubelet/server.js';
import { HOLLOW_ANNOTATION } from '../../kubelet/hollow.js';
import { MetricsApi } from './api.js';
import { MetricsScraper, kubeletEndpoint } from './scraper.js';
import { MetricsStorage } from './storage.js';

const NS = 'metrics';
const T0 = Date.parse('2025-03-01T10:00:00Z');

/** The kubelet's Summary document at sample `i` (15 s apart): pod a burns 200m, pod b 50m, the node 1.5 cores. */
function summaryAt(i: number): any {
  const time = new Date(T0 + i * 15_000).toISOString();
  const cpu = (cores: number) => ({ time, usageCoreNanoSeconds: Math.round(1e9 * cores * 15 * (i + 10)) });
  const container = (name: string, cores: number, ws: number) => ({ name, startTime: '2025-03-01T09:00:00Z', cpu: cpu(cores), memory: { time, workingSetBytes: ws } });
  const pod = (name: string, containers: any[]) => ({ podRef: { name, namespace: NS, uid: `uid-${name}` }, containers });
  return {
    node: { nodeName: 'n1', startTime: '2025-03-01T00:00:00Z', cpu: cpu(1.5), memory: { time, workingSetBytes: 2 * 1024 ** 3 } },
    pods: [
      pod('a', [container('main', 0.2, 10 * 1024 ** 2)]),
      pod('b', [container('main', 0.03, 1024 ** 2), container('side', 0.02, 1024 ** 2)]),
      pod('pending', [container('main', 0.1, 1024)]),
      // A container without a working set is not a usable point.
      pod('partial', [{ name: 'main', startTime: '2025-03-01T09:00:00Z', cpu: cpu(0.1) }]),
    ],
  };
}

describe('metrics.k8s.io from scraped kubelet summaries', () => {
  const backend = new MemoryBackend();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  const client = new InProcessClient(registry, { name: 'test', groups: ['system:masters'] }, 'test');
  const storage = new MetricsStorage(15_000);
  const api = new MetricsApi({ storage, nodes: () => registry.lookup('', 'v1', 'nodes')!, pods: () => registry.lookup('', 'v1', 'pods')!, now: () => new Date(T0 + 60_000) });
  const logs: string[] = [];
  /** What the kubelet was asked for (its summary calls). */
  let summaries = 0;
  let kubelet: KubeletServer;
  let scraper: MetricsScraper;

  before(async () => {
    await backend.start();
    await registry.start();
    const ca = await createCa('test-ca');
    const serving = await issueCert(ca, { commonName: 'system:node:n1', usage: 'server', ips: ['127.0.0.1'] });
    const apiClient = await issueCert(ca, { commonName: 'kube-apiserver', usage: 'client' });
    kubelet = new KubeletServer({
      tls: { cert: serving.cert, key: serving.key, ca: ca.cert },
      port: 0,
      address: '127.0.0.1',
      logSource: () => {
        throw new Error('no logs here');
      },
      summary: async () => summaryAt(summaries++),
      log: () => {},
    });
    await kubelet.start();
    scraper = new MetricsScraper({
      storage,
      resolutionMs: 15_000,
      nodes: async () => (await client.list(R.nodes, '')).items,
      tls: { ca: ca.cert, cert: apiClient.cert, key: apiClient.key },
      log: (m) => logs.push(m),
    });
    await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const node = await client.create<any>(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { zone: 'z1' } } });
    node.status = { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } };
    await client.update(R.nodes, '', node, { subresource: 'status' });
    for (const [name, app, phase] of [['a', 'web', 'Running'], ['b', 'db', 'Running'], ['pending', 'web', 'Pending'], ['partial', 'web', 'Running']]) {
      const pod = await client.create<any>(R.pods, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } });
      pod.status = { phase };
      await client.update(R.pods, NS, pod, { subresource: 'status' });
    }
  });

  after(async () => {
    await scraper.stop();
    await kubelet.stop();
    registry.stop();
    await backend.close();
  });

  it('has nothing to report before two scrapes', async () => {
    await scraper.scrape();
    assert.equal(summaries, 1);
    assert.deepEqual((await api.list('nodes', '')).items, []);
    await assert.rejects(api.get('pods', NS, 'a'), { message: 'podmetrics.metrics.k8s.io "metrics/a" not found' });
  });

  it('reports node usage as a rate over the window between scrapes, with the node labels', async () => {
    await scraper.scrape();
    assert.equal(summaries, 2);
    const list = await api.list('nodes', '');
    assert.equal(list.kind, 'NodeMetricsList');
    assert.equal(list.apiVersion, 'metrics.k8s.io/v1beta1');
    assert.deepEqual(list.items, [
      {
        kind: 'NodeMetrics',
        apiVersion: 'metrics.k8s.io/v1beta1',
        metadata: { name: 'n1', creationTimestamp: '2025-03-01T10:01:00Z', labels: { zone: 'z1' } },
        timestamp: '2025-03-01T10:00:15Z',
        window: '15s',
        usage: { cpu: '1500m', memory: '2Gi' },
      },
    ]);
    assert.deepEqual(await api.get('nodes', '', 'n1'), list.items[0]);
    assert.deepEqual((await api.list('nodes', '', { labelSelector: 'zone=z2' })).items, []);
    await assert.rejects(api.get('nodes', '', 'nope'), { message: 'node "nope" not found' });
  });

  it('reports running pods with all their containers, in namespace/name order, filtered by selectors', async () => {
    const all = await api.list('pods', NS);
    assert.deepEqual(
      all.items.map((p) => [p.metadata.name, p.containers]),
      [
        ['a', [{ name: 'main', usage: { cpu: '200m', memory: '10Mi' } }]],
        [
          'b',
          [
            { name: 'main', usage: { cpu: '30m', memory: '1Mi' } },
            { name: 'side', usage: { cpu: '20m', memory: '1Mi' } },
          ],
        ],
      ],
    );
    assert.deepEqual(all.items[0].metadata, { name: 'a', namespace: NS, creationTimestamp: '2025-03-01T10:01:00Z', labels: { app: 'web' } });
    assert.equal(all.items[0].window, '15s');
    assert.deepEqual((await api.list('pods', '')).items.map((p) => p.metadata.name), ['a', 'b'], 'all namespaces');
    assert.deepEqual((await api.list('pods', NS, { labelSelector: 'app=web' })).items.map((p) => p.metadata.name), ['a']);
    assert.deepEqual((await api.list('pods', NS, { fieldSelector: 'metadata.name=b' })).items.map((p) => p.metadata.name), ['b']);
    assert.equal((await api.get('pods', NS, 'a')).containers[0].usage.cpu, '200m');
    // Pods not running are unknown to the API (as to metrics-server's pod watch); running ones without a usable point have no metrics.
    await assert.rejects(api.get('pods', NS, 'pending'), { message: 'pods "pending" not found' });
    await assert.rejects(api.get('pods', NS, 'partial'), { message: 'podmetrics.metrics.k8s.io "metrics/partial" not found' });
    await assert.rejects(api.get('pods', NS, 'ghost'), (e: any) => e.code === 404 && e.message === 'pods "ghost" not found');
  });

  it('refuses bad selectors with a BadRequest', async () => {
    await assert.rejects(api.list('pods', NS, { labelSelector: 'app in (' }), (e: any) => e.code === 400 && e.reason === 'BadRequest');
    await assert.rejects(api.list('pods', NS, { fieldSelector: 'metadata.name' }), (e: any) => e.code === 400 && /invalid selector/.test(e.message));
  });

  it('serves the in-process transport the same lists', async () => {
    const c = new InProcessClient(registry, { name: 't', groups: ['system:masters'] }, 't', {
      scaleMapping: () => undefined,
      readOnly: (ref) => (api.handles(ref) ? { get: (ns, n) => api.get(ref.resource, ns, n), list: (ns, o) => api.list(ref.resource, ns, o) } : undefined),
    });
    const pods = await c.list({ group: 'metrics.k8s.io', version: 'v1beta1', resource: 'pods' }, NS, { labelSelector: 'app=db' });
    assert.deepEqual(pods.items.map((p: any) => p.metadata.name), ['b']);
  });

  it('logs a node it cannot scrape once, and drops its points; hollow nodes are never scraped', async () => {
    assert.equal(kubeletEndpoint({ metadata: { annotations: { [HOLLOW_ANNOTATION]: 'true' } }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } } }), undefined);
    assert.equal(kubeletEndpoint({ status: {} }), undefined);
    await kubelet.stop();
    await scraper.scrape();
    await scraper.scrape();
    assert.equal(logs.filter((l) => l.startsWith('metrics: failed to scrape node "n1"')).length, 1, logs.join('\n'));
    assert.match(logs.join('\n'), /GET "https:\/\/127\.0\.0\.1:\d+\/stats\/summary": (connect ECONNREFUSED|socket hang up)/);
    assert.deepEqual((await api.list('nodes', '')).items, []);
  });
});
