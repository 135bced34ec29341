import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { EndpointSliceMirroringController } from './endpointslicemirroring.js';
import { ENDPOINT_SLICES } from './endpointsutil.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

async function setup() {
  const cluster = await startTestCluster();
  await cluster.namespace('default');
  const controller = new EndpointSliceMirroringController({ client: cluster.client, informers: cluster.informers, events: new EventRecorder(cluster.client, 'endpoint-slice-mirroring-controller') });
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

const mirrored = async (c: TestCluster, name: string) =>
  (await c.client.list(ENDPOINT_SLICES, 'default', { labelSelector: `kubernetes.io/service-name=${name},endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io` })).items;

async function waitMirrored(c: TestCluster, name: string, check: (s: any[]) => boolean, what: string): Promise<any[]> {
  let found: any[] = [];
  await eventually(async () => check((found = await mirrored(c, name))), what);
  return found;
}

test('Endpoints of a selectorless Service are mirrored: one slice per address type, ready and not-ready addresses, owned by the Endpoints', async () => {
  const env = await setup();
  try {
    const { c } = env;
    await c.client.create(R.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { ports: [{ name: 'sql', port: 5432 }] } });
    const ep = await c.client.create<any>(R.endpoints, 'default', {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'db', labels: { team: 'data' }, annotations: { note: 'external' } },
      subsets: [{ addresses: [{ ip: '192.168.1.5', hostname: 'primary' }, { ip: 'fd00::5' }], notReadyAddresses: [{ ip: '192.168.1.6' }], ports: [{ name: 'sql', port: 5432 }] }],
    });
    const slices = await waitMirrored(c, 'db', (s) => s.length === 2, 'an IPv4 and an IPv6 slice');
    const v4 = slices.find((s) => s.addressType === 'IPv4');
    const v6 = slices.find((s) => s.addressType === 'IPv6');
    assert.match(v4.metadata.name, /^db-[a-z0-9]{5}$/);
    assert.deepEqual(v4.metadata.labels, { team: 'data', 'kubernetes.io/service-name': 'db', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' });
    assert.deepEqual(v4.metadata.annotations, { note: 'external' });
    assert.deepEqual(v4.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Endpoints', name: 'db', uid: ep.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(v4.ports, [{ name: 'sql', port: 5432, protocol: 'TCP' }]);
    assert.deepEqual(
      [...v4.endpoints].sort((a: any, b: any) => a.addresses[0].localeCompare(b.addresses[0])),
      [
        { addresses: ['192.168.1.5'], conditions: { ready: true }, hostname: 'primary' },
        { addresses: ['192.168.1.6'], conditions: { ready: false } },
      ],
    );
    assert.deepEqual(v6.endpoints, [{ addresses: ['fd00::5'], conditions: { ready: true } }]);

    // An update changes the slice in place; the IPv6 slice goes when its address does.
    await c.client.update(R.endpoints, 'default', { ...(await c.client.get(R.endpoints, 'default', 'db')), subsets: [{ addresses: [{ ip: '192.168.1.7' }], ports: [{ name: 'sql', port: 5432 }] }] });
    const [only] = await waitMirrored(c, 'db', (s) => s.length === 1 && s[0].endpoints?.[0]?.addresses?.[0] === '192.168.1.7', 'the updated slice');
    assert.equal(only.metadata.name, v4.metadata.name);
    // Deleting the Endpoints removes what was mirrored.
    await c.client.delete(R.endpoints, 'default', 'db');
    await waitMirrored(c, 'db', (s) => s.length === 0, 'no mirrored slices');
  } finally {
    await env.close();
  }
});

test('skip-mirror Endpoints, Endpoints of Services with a selector, and Endpoints without a Service are not mirrored', async () => {
  const env = await setup();
  try {
    const { c } = env;
    const subsets = [{ addresses: [{ ip: '10.0.0.9' }], ports: [{ port: 80 }] }];
    await c.client.create(R.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'skip' }, spec: { ports: [{ port: 80 }] } });
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'skip', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets });
    await c.client.create(R.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'sel' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } });
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'sel' }, subsets });
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'lonely' }, subsets });
    // A mirrored one, created last, shows the controller has caught up.
    await c.client.create(R.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'yes' }, spec: { ports: [{ port: 80 }] } });
    await c.client.create(R.endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'yes' }, subsets });
    await waitMirrored(c, 'yes', (s) => s.length === 1, 'the mirrored slice');
    await env.controller.idle();
    for (const name of ['skip', 'sel', 'lonely']) assert.deepEqual(await mirrored(c, name), [], name);
    // The Service gaining a selector takes the mirrored slices away.
    await c.client.patch(R.services, 'default', 'yes', 'merge', { spec: { selector: { app: 'y' } } });
    await waitMirrored(c, 'yes', (s) => s.length === 0, 'slices removed');
  } finally {
    await env.close();
  }
});
