import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { EndpointsController, MAX_ENDPOINTS_CAPACITY, repackSubsets, truncateSubsets, type EndpointAddress } from './endpoints.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from './testenv.js';

const addr = (ip: string, uid = `uid-${ip}`): EndpointAddress => ({ ip, targetRef: { kind: 'Pod', namespace: 'default', name: `p-${ip}`, uid } });

test('repackSubsets: ports offered by the same addresses share a subset; not-ready wins; duplicates merge; port-less subsets stay', () => {
  const http = { name: 'http', port: 80, protocol: 'TCP' };
  const dns = { name: 'dns', port: 53, protocol: 'UDP' };
  const out = repackSubsets([
    { addresses: [addr('10.0.0.2')], ports: [http] },
    { addresses: [addr('10.0.0.1')], ports: [http] },
    { addresses: [addr('10.0.0.1')], ports: [dns] },
    { notReadyAddresses: [addr('10.0.0.3')], ports: [http] },
    { addresses: [addr('10.0.0.3')], ports: [http] },
  ]);
  // Ports are grouped by the exact set of addresses offering them: http by .1, .2 and .3 (not ready), dns by .1 alone.
  const byPorts = Object.fromEntries(out.map((s) => [s.ports!.map((p) => p.name).join(','), s]));
  assert.deepEqual(Object.keys(byPorts).sort(), ['dns', 'http']);
  assert.deepEqual(byPorts['http']!.addresses!.map((a) => a.ip), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(byPorts['http']!.notReadyAddresses!.map((a) => a.ip), ['10.0.0.3']);
  assert.deepEqual(byPorts['dns']!.addresses!.map((a) => a.ip), ['10.0.0.1']);
  assert.equal(byPorts['dns']!.notReadyAddresses, undefined);
  // Canonical: the same input in another order packs identically.
  const again = repackSubsets([
    { notReadyAddresses: [addr('10.0.0.3')], ports: [http] },
    { addresses: [addr('10.0.0.1')], ports: [dns, http] },
    { addresses: [addr('10.0.0.2'), addr('10.0.0.3')], ports: [http] },
  ]);
  assert.deepEqual(again, out);
  // Headless Services without ports keep their addresses (no ports field).
  assert.deepEqual(repackSubsets([{ addresses: [addr('10.0.0.9')], ports: [] }, { addresses: [addr('10.0.0.8')] }]), [
    { addresses: [addr('10.0.0.8'), addr('10.0.0.9')] },
  ]);
});

test(`truncateSubsets keeps ${MAX_ENDPOINTS_CAPACITY} addresses, ready ones first`, () => {
  const many = (n: number, base: number) => Array.from({ length: n }, (_, i) => addr(`10.1.${base + Math.floor(i / 250)}.${i % 250}`));
  const subsets = [
    { addresses: many(900, 0), ports: [{ port: 80 }] },
    { notReadyAddresses: many(300, 10), ports: [{ port: 81 }] },
  ];
  assert.equal(truncateSubsets(subsets), true);
  assert.equal(subsets[0]!.addresses!.length, 900);
  assert.equal(subsets[1]!.notReadyAddresses!.length, 100);
  const small = [{ addresses: many(3, 0) }];
  assert.equal(truncateSubsets(small), false);
});

async function setup(before?: (c: TestCluster) => Promise<void>) {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  await before?.(cluster);
  const controller = new EndpointsController({ client: cluster.client, informers: cluster.informers, events: new EventRecorder(cluster.client, 'endpoint-controller') });
  await controller.start();
  return {
    c: cluster,
    controller,
    async close() {
      controller.stop();
      await cluster.close();
    },
  };
}

let ipSeq = 10;

async function runningPod(c: TestCluster, name: string, opts: { labels?: Record<string, string>; ready?: boolean; spec?: any } = {}): Promise<any> {
  const pod = await c.client.create<any>(R.pods, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: opts.labels ?? { app: 'web' } },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }] }], ...(opts.spec ?? {}) },
  });
  const ip = `10.244.1.${ipSeq++}`;
  pod.status = { ...pod.status, phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] };
  return c.client.update(R.pods, 'default', pod, { subresource: 'status' });
}

async function waitEndpoints(c: TestCluster, name: string, check: (ep: any) => boolean, what: string): Promise<any> {
  let ep: any;
  await eventually(async () => (ep = await getOrUndefined(c.client, R.endpoints, 'default', name)) && check(ep), what);
  return ep;
}

test('Endpoints list ready pods under addresses and unready ones under notReadyAddresses, with the Service labels and resolved ports', async () => {
  const env = await setup();
  try {
    const { c } = env;
    const ready = await runningPod(c, 'web-1');
    const unready = await runningPod(c, 'web-2', { ready: false });
    await c.client.create(R.services, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', labels: { tier: 'front' } },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    const ep = await waitEndpoints(c, 'web', (e) => e.subsets?.[0]?.addresses?.length === 1 && e.subsets[0].notReadyAddresses?.length === 1, 'one ready, one not');
    assert.deepEqual(ep.metadata.labels, { tier: 'front' });
    assert.match(ep.metadata.annotations['endpoints.kubernetes.io/last-change-trigger-time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(ep.subsets, [
      {
        addresses: [{ ip: ready.status.podIP, nodeName: 'node-a', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: ready.metadata.uid } }],
        notReadyAddresses: [{ ip: unready.status.podIP, nodeName: 'node-a', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-2', uid: unready.metadata.uid } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    // The unready pod turns ready: both addresses are ready.
    unready.status.conditions = [{ type: 'Ready', status: 'True' }];
    await c.client.update(R.pods, 'default', { ...(await c.client.get(R.pods, 'default', 'web-2')), status: unready.status }, { subresource: 'status' });
    const both = await waitEndpoints(c, 'web', (e) => e.subsets?.[0]?.addresses?.length === 2, 'two ready');
    assert.equal(both.subsets[0].notReadyAddresses, undefined);
    // Deleting the Service deletes its Endpoints.
    await c.client.delete(R.services, 'default', 'web');
    await eventually(async () => !(await getOrUndefined(c.client, R.endpoints, 'default', 'web')), 'endpoints gone');
  } finally {
    await env.close();
  }
});

test('headless Service: hostnames, the headless label, no ports; publishNotReadyAddresses lists unready pods as ready', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await runningPod(c, 'w-0', { labels: { job: 'x' }, ready: false, spec: { hostname: 'w-0', subdomain: 'workers' } });
    await c.client.create(R.services, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'workers' },
      spec: { clusterIP: 'None', selector: { job: 'x' }, publishNotReadyAddresses: true },
    });
    const ep = await waitEndpoints(c, 'workers', (e) => !!e.subsets?.[0]?.addresses, 'a ready address');
    assert.deepEqual(ep.metadata.labels, { 'service.kubernetes.io/headless': '' });
    assert.equal(ep.subsets[0].addresses[0].hostname, 'w-0');
    assert.equal(ep.subsets[0].ports, undefined);
  } finally {
    await env.close();
  }
});

test('Endpoints of Services without a selector are left alone; Endpoints without any Service are deleted at start', async () => {
  const env = await setup(async (c) => {
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'orphan' }, subsets: [{ addresses: [{ ip: '10.9.9.9' }], ports: [{ port: 1 }] }] });
  });
  try {
    const { c } = env;
    await c.client.create(R.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { ports: [{ port: 5432 }] } });
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db' }, subsets: [{ addresses: [{ ip: '192.168.1.5' }], ports: [{ port: 5432 }] }] });
    await eventually(async () => !(await getOrUndefined(c.client, R.endpoints, 'default', 'orphan')), 'the orphan removed');
    await env.controller.idle();
    const db = await c.client.get<any>(R.endpoints, 'default', 'db');
    assert.deepEqual(db.subsets, [{ addresses: [{ ip: '192.168.1.5' }], ports: [{ port: 5432, protocol: 'TCP' }] }]);
    // Not written by the controller: no trigger-time annotation, no labels.
    assert.equal(db.metadata.annotations, undefined);
    assert.equal(db.metadata.labels, undefined);
  } finally {
    await env.close();
  }
});
