import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { EndpointSliceController, MAX_ENDPOINTS_PER_SLICE } from './endpointslice.js';
import { ENDPOINT_SLICES } from './endpointsutil.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

async function setup() {
  const cluster = await startTestCluster();
  await cluster.namespace('default', 'ml');
  const controller = new EndpointSliceController({ client: cluster.client, informers: cluster.informers, events: new EventRecorder(cluster.client, 'endpoint-slice-controller') });
  await controller.start();
  await cluster.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-1' } } });
  await cluster.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } });
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

/** Creates a pod bound to a node and gives it an IP and a Ready condition (as the node agent would). */
async function runningPod(c: TestCluster, ns: string, name: string, opts: { labels?: Record<string, string>; ready?: boolean; node?: string; spec?: any } = {}): Promise<any> {
  const pod = await c.client.create<any>(R.pods, ns, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: opts.labels ?? { app: 'web' } },
    spec: { nodeName: opts.node ?? 'node-a', containers: [{ name: 'main', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }] }], ...(opts.spec ?? {}) },
  });
  const ip = `10.244.0.${ipSeq++}`;
  return setReady(c, { ...pod, status: { ...pod.status, phase: 'Running', podIP: ip, podIPs: [{ ip }] } }, opts.ready ?? true);
}

async function setReady(c: TestCluster, pod: any, ready: boolean, at = new Date()): Promise<any> {
  const fresh = await c.client.get<any>(R.pods, pod.metadata.namespace, pod.metadata.name);
  fresh.status = {
    ...fresh.status,
    ...(pod.status?.podIP ? { phase: 'Running', podIP: pod.status.podIP, podIPs: pod.status.podIPs } : {}),
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z') }],
  };
  return c.client.update(R.pods, pod.metadata.namespace, fresh, { subresource: 'status' });
}

function service(name: string, spec: any, labels: Record<string, string> = {}): any {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, labels }, spec };
}

async function slicesOf(c: TestCluster, ns: string, svc: string): Promise<any[]> {
  return (await c.client.list(ENDPOINT_SLICES, ns, { labelSelector: `kubernetes.io/service-name=${svc}` })).items;
}

/** The slices of a Service once `check` holds for them. */
async function waitSlices(c: TestCluster, ns: string, svc: string, check: (s: any[]) => boolean, what: string): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => check((found = await slicesOf(c, ns, svc))), what);
  return found;
}

const allEndpoints = (slices: any[]) => slices.flatMap((s) => s.endpoints ?? []);

test('a Service gets an EndpointSlice of its ready pods: name, labels, owner, ports from named targetPorts, conditions, node, zone, target', async () => {
  const env = await setup();
  try {
    const { c } = env;
    const p1 = await runningPod(c, 'default', 'web-1');
    const p2 = await runningPod(c, 'default', 'web-2', { node: 'node-b' });
    const svc = await c.client.create<any>(
      R.services,
      'default',
      service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 9100 }] }, { team: 'ml' }),
    );
    const [slice] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s).length === 2, 'a slice with two endpoints');
    assert.match(slice.metadata.name, /^web-[a-z0-9]{5}$/);
    assert.equal(slice.metadata.generateName, 'web-');
    assert.deepEqual(slice.metadata.labels, { team: 'ml', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    assert.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(
      [...slice.ports].sort((a: any, b: any) => a.port - b.port),
      [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'metrics', port: 9100, protocol: 'TCP' },
      ],
    );
    const byName = Object.fromEntries(slice.endpoints.map((e: any) => [e.targetRef.name, e]));
    assert.deepEqual(byName['web-1'], {
      addresses: [p1.status.podIP],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: p1.metadata.uid },
      nodeName: 'node-a',
      zone: 'zone-1',
    });
    assert.equal(byName['web-2'].addresses[0], p2.status.podIP);
    assert.equal(byName['web-2'].zone, undefined);
    // The Service is new: its creation time triggered this change.
    assert.equal(slice.metadata.annotations['endpoints.kubernetes.io/last-change-trigger-time'], svc.metadata.creationTimestamp);
  } finally {
    await env.close();
  }
});

test('a pod turning unready, then being deleted, shows in its endpoint conditions', async () => {
  const env = await setup();
  try {
    const { c } = env;
    const pod = await runningPod(c, 'default', 'web-1');
    await c.client.create(R.services, 'default', service('web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    await waitSlices(c, 'default', 'web', (s) => allEndpoints(s)[0]?.conditions?.ready === true, 'ready endpoint');
    const unreadyAt = new Date(Date.now() + 2000);
    await setReady(c, pod, false, unreadyAt);
    const [slice] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s)[0]?.conditions?.ready === false, 'unready endpoint');
    assert.deepEqual(slice.endpoints[0].conditions, { ready: false, serving: false, terminating: false });
    // The pod's Ready transition is the trigger of this change.
    assert.equal(slice.metadata.annotations['endpoints.kubernetes.io/last-change-trigger-time'], unreadyAt.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    // Unnamed service port: the slice port has an empty name, as upstream.
    assert.deepEqual(slice.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);

    await setReady(c, pod, true);
    await waitSlices(c, 'default', 'web', (s) => allEndpoints(s)[0]?.conditions?.ready === true, 'ready again');
    // Graceful deletion: still serving, but terminating and so not ready.
    await c.client.delete(R.pods, 'default', 'web-1', { gracePeriodSeconds: 30 });
    const [gone] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s)[0]?.conditions?.terminating === true, 'terminating endpoint');
    assert.deepEqual(gone.endpoints[0].conditions, { ready: false, serving: true, terminating: true });
    // The same slice was updated in place throughout.
    assert.equal(gone.metadata.name, slice.metadata.name);
    assert.ok(gone.metadata.generation >= 4, `generation ${gone.metadata.generation}`);
  } finally {
    await env.close();
  }
});

test('headless Service: hostname for pods whose subdomain names it, headless label, publishNotReadyAddresses marks every endpoint ready', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await runningPod(c, 'ml', 'trainer-0', { labels: { job: 't' }, spec: { hostname: 'trainer-0', subdomain: 'workers' } });
    await runningPod(c, 'ml', 'trainer-1', { labels: { job: 't' }, ready: false, spec: { hostname: 'trainer-1', subdomain: 'other' } });
    await c.client.create(R.services, 'ml', service('workers', { clusterIP: 'None', selector: { job: 't' }, publishNotReadyAddresses: true }));
    const [slice] = await waitSlices(c, 'ml', 'workers', (s) => allEndpoints(s).length === 2, 'two endpoints');
    assert.equal(slice.metadata.labels['service.kubernetes.io/headless'], '');
    // A headless Service without ports: endpoints carry no ports.
    assert.deepEqual(slice.ports, []);
    const byName = Object.fromEntries(slice.endpoints.map((e: any) => [e.targetRef.name, e]));
    assert.equal(byName['trainer-0'].hostname, 'trainer-0');
    assert.equal(byName['trainer-1'].hostname, undefined, 'subdomain names another Service');
    assert.deepEqual(byName['trainer-1'].conditions, { ready: true, serving: false, terminating: false });
  } finally {
    await env.close();
  }
});

test('Services without a selector and ExternalName Services get no slices; a Service without pods gets one empty placeholder', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await runningPod(c, 'default', 'web-1');
    await c.client.create(R.services, 'default', service('manual', { ports: [{ port: 80 }] }));
    await c.client.create(R.services, 'default', service('ext', { type: 'ExternalName', externalName: 'example.com', selector: { app: 'web' } }));
    await c.client.create(R.services, 'default', service('empty', { selector: { app: 'none' }, ports: [{ port: 80 }] }));
    const [placeholder] = await waitSlices(c, 'default', 'empty', (s) => s.length === 1, 'placeholder slice');
    assert.deepEqual(placeholder.endpoints, []);
    assert.deepEqual(placeholder.ports, []);
    await env.controller.idle();
    assert.deepEqual(await slicesOf(c, 'default', 'manual'), []);
    assert.deepEqual(await slicesOf(c, 'default', 'ext'), []);
    // A pod arriving fills the placeholder's place (the placeholder is reused by update).
    await runningPod(c, 'default', 'lone', { labels: { app: 'none' } });
    const [filled] = await waitSlices(c, 'default', 'empty', (s) => allEndpoints(s).length === 1, 'endpoint for the new pod');
    assert.equal(filled.metadata.name, placeholder.metadata.name);
    assert.deepEqual(filled.ports, [{ name: '', port: 80, protocol: 'TCP' }]);
    assert.equal((await slicesOf(c, 'default', 'empty')).length, 1);
  } finally {
    await env.close();
  }
});

test(`more than ${MAX_ENDPOINTS_PER_SLICE} endpoints spread over several slices; pods with different resolved ports get their own slice`, async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(R.services, 'default', service('big', { selector: { app: 'big' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }));
    for (let i = 0; i < MAX_ENDPOINTS_PER_SLICE + 5; i++) await runningPod(c, 'default', `big-${i}`, { labels: { app: 'big' } });
    // One pod names its http port differently (9090).
    await runningPod(c, 'default', 'odd', { labels: { app: 'big' }, spec: { containers: [{ name: 'main', image: 'busybox', ports: [{ name: 'http', containerPort: 9090 }] }] } });
    const slices = await waitSlices(c, 'default', 'big', (s) => allEndpoints(s).length === MAX_ENDPOINTS_PER_SLICE + 6, 'every endpoint');
    for (const s of slices) assert.ok(s.endpoints.length <= MAX_ENDPOINTS_PER_SLICE, `${s.metadata.name} has ${s.endpoints.length}`);
    const odd = slices.filter((s) => s.ports[0].port === 9090);
    assert.equal(odd.length, 1);
    assert.deepEqual(odd[0].endpoints.map((e: any) => e.targetRef.name), ['odd']);
    assert.equal(slices.filter((s) => s.ports[0].port === 8080).length, 2);
  } finally {
    await env.close();
  }
});

test('a managed slice deleted by hand comes back; pods leaving the selector leave the slice', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await runningPod(c, 'default', 'web-1');
    await runningPod(c, 'default', 'web-2');
    await c.client.create(R.services, 'default', service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] }));
    const [first] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s).length === 2, 'two endpoints');
    await c.client.delete(ENDPOINT_SLICES, 'default', first.metadata.name);
    const [again] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s).length === 2 && s[0].metadata.name !== first.metadata.name, 'a new slice');
    assert.equal(again.metadata.generateName, 'web-');
    await c.client.patch(R.pods, 'default', 'web-2', 'merge', { metadata: { labels: { app: 'other' } } });
    const [left] = await waitSlices(c, 'default', 'web', (s) => allEndpoints(s).length === 1, 'one endpoint');
    assert.equal(left.endpoints[0].targetRef.name, 'web-1');
  } finally {
    await env.close();
  }
});
