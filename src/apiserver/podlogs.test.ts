import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../api/errors.js';
import { HOLLOW_ANNOTATION } from '../kubelet/hollow.js';
import { createCa, issueCert } from './auth/certs.js';
import { findRetainedPod, isKubectlLogs, logContainer, podForLogs, type KubeletClientConfig } from './podlogs.js';
import type { Store } from './registry/store.js';

const kept = { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ml', name: 'trainer-0' }, spec: { nodeName: 'keeper', containers: [{ name: 'pytorch' }, { name: 'metrics' }] } };

/** A kubelet streaming server that keeps `pods` and records the paths asked of it. */
async function fakeKubelet(tls: { cert: string; key: string; ca: string }, pods: any[]): Promise<{ server: Server; port: number; asked: string[] }> {
  const asked: string[] = [];
  const server = createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    asked.push(req.url ?? '');
    const m = /^\/retainedPods\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
    const pod = m && pods.find((p) => p.metadata.namespace === m[1] && p.metadata.name === m[2]);
    if (!pod) {
      res.writeHead(404);
      res.end('404 page not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(pod));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, asked };
}

const node = (name: string, port: number, opts: { ready?: boolean; hollow?: boolean } = {}) => ({
  metadata: { name, ...(opts.hollow ? { annotations: { [HOLLOW_ANNOTATION]: 'true' } } : {}) },
  status: {
    conditions: [{ type: 'Ready', status: opts.ready === false ? 'Unknown' : 'True' }],
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
    daemonEndpoints: { kubeletEndpoint: { Port: port } },
  },
});

describe('pods/log of a pod a node keeps the logs of', () => {
  let keeper: Awaited<ReturnType<typeof fakeKubelet>>;
  let other: Awaited<ReturnType<typeof fakeKubelet>>;
  let tls: KubeletClientConfig['tls'];
  const nodes: any[] = [];
  const nodeStore = { list: async () => ({ items: nodes, resourceVersion: '1' }) } as unknown as Store;
  const missing = (name: string) => new ApiError('NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
  const pods = { get: async (_ns: string, name: string) => (name === 'live' ? { metadata: { name: 'live' } } : Promise.reject(missing(name))) } as unknown as Store;

  before(async () => {
    const ca = await createCa('test-ca');
    const serving = await issueCert(ca, { commonName: 'kubelet', ips: ['127.0.0.1'], usage: 'server' });
    const client = await issueCert(ca, { commonName: 'kube-apiserver', usage: 'client' });
    keeper = await fakeKubelet({ ...serving, ca: ca.cert }, [kept]);
    other = await fakeKubelet({ ...serving, ca: ca.cert }, []);
    tls = { ca: ca.cert, cert: client.cert, key: client.key };
  });
  after(() => {
    keeper.server.close();
    other.server.close();
  });

  it('asks the Ready real nodes and takes the one that keeps the pod', async () => {
    nodes.splice(0, nodes.length, node('other', other.port), node('keeper', keeper.port), node('down', keeper.port, { ready: false }), node('hollow', keeper.port, { hollow: true }));
    const pod = await findRetainedPod({ nodes: nodeStore, tls }, 'ml', 'trainer-0');
    assert.equal(pod?.spec?.nodeName, 'keeper');
    // The pod it kept picks the container as a live one would.
    assert.equal(logContainer(pod, 'metrics'), 'metrics');
    assert.throws(() => logContainer(pod, ''), /a container name must be specified for pod trainer-0, choose one of: \[pytorch metrics\]/);
    // The not-Ready and the simulated node point at the keeper too, yet it was asked once: they are not asked.
    assert.deepEqual(keeper.asked, ['/retainedPods/ml/trainer-0']);
  });

  it('is the store pod when there is one, the kept pod when not, and the NotFound otherwise', async () => {
    nodes.splice(0, nodes.length, node('other', other.port), node('keeper', keeper.port));
    const kubelet = { nodes: nodeStore, tls };
    assert.equal((await podForLogs(pods, 'ml', 'live', kubelet)).metadata.name, 'live');
    assert.equal((await podForLogs(pods, 'ml', 'trainer-0', kubelet)).spec.nodeName, 'keeper');
    await assert.rejects(podForLogs(pods, 'ml', 'gone', kubelet), (e: ApiError) => e.reason === 'NotFound' && e.message === 'pods "gone" not found');
    // No kubelets to ask: NotFound as upstream.
    await assert.rejects(podForLogs(pods, 'ml', 'trainer-0', undefined), (e: ApiError) => e.reason === 'NotFound');
  });

  it("recognizes kubectl logs by kubectl's command header", () => {
    const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    assert.equal(isKubectlLogs(req({ 'kubectl-command': 'kubectl logs' })), true);
    assert.equal(isKubectlLogs(req({ 'kubectl-command': 'kubectl get' })), false);
    assert.equal(isKubectlLogs(req({})), false);
  });
});
