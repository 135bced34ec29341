import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import type { Node, Service, ServiceSpec } from '../api/generated/types.js';
import { HOLLOW_LABEL } from '../kubelet/hollow.js';
import { ServiceLBController } from './servicelb.js';

const NS = 'lb-test';
let cluster: TestCluster;
let ctrl: ServiceLBController;

async function putNode(name: string, ip: string, ready: boolean, labels: Record<string, string> = {}): Promise<void> {
  const existing = await cluster.client.get<Node>(R.nodes, '', name).catch(() => undefined);
  if (!existing) await cluster.client.create<Node>(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  await cluster.client.patch(R.nodes, '', name, 'merge', {
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: 'Test' }] },
  }, { subresource: 'status' });
}

async function createService(name: string, spec: Partial<ServiceSpec>): Promise<void> {
  await cluster.client.create<Service>(R.services, NS, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...spec } });
}

async function ingress(name: string): Promise<unknown> {
  const svc = await cluster.client.get<Service>(R.services, NS, name);
  return svc.status?.loadBalancer?.ingress;
}

/** Waits until the Service's ingress is `want` (undefined: none). */
async function ingressBecomes(name: string, want: unknown): Promise<void> {
  let last: unknown;
  try {
    await eventually(async () => JSON.stringify((last = await ingress(name))) === JSON.stringify(want), `ingress of ${name} to be ${JSON.stringify(want)}`);
  } catch (e) {
    throw new Error(`${(e as Error).message} (is ${JSON.stringify(last)})`);
  }
}

describe('service load balancer (ServiceLB)', () => {
  before(async () => {
    cluster = await startTestCluster();
    await cluster.namespace(NS);
    await putNode('node-a', '192.0.2.10', true);
    await putNode('node-b', '192.0.2.11', false);
    await putNode('hollow-0', '10.0.0.1', true, { [HOLLOW_LABEL]: 'true' });
    ctrl = new ServiceLBController({ client: cluster.client, informers: cluster.informers });
    await ctrl.start();
  });

  after(async () => {
    ctrl?.stop();
    await cluster?.close();
  });

  it('gives a LoadBalancer Service the addresses of the Ready real nodes as VIP ingress', async () => {
    await createService('web', {});
    await ingressBecomes('web', [{ ip: '192.0.2.10', ipMode: 'VIP' }]);
    await putNode('node-b', '192.0.2.11', true);
    await ingressBecomes('web', [{ ip: '192.0.2.10', ipMode: 'VIP' }, { ip: '192.0.2.11', ipMode: 'VIP' }]);
    await putNode('node-b', '192.0.2.11', false);
    await ingressBecomes('web', [{ ip: '192.0.2.10', ipMode: 'VIP' }]);
  });

  it('a port an older LoadBalancer holds leaves the newer one pending until it is free', async () => {
    await createService('second', { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] });
    await createService('udp80', { ports: [{ port: 80, protocol: 'UDP' }] });
    await ingressBecomes('udp80', [{ ip: '192.0.2.10', ipMode: 'VIP' }]);
    await ctrl.idle();
    assert.equal(await ingress('second'), undefined);
    await cluster.client.delete(R.services, NS, 'web');
    await ingressBecomes('second', [{ ip: '192.0.2.10', ipMode: 'VIP' }]);
  });

  it('a Service that stops being a LoadBalancer loses its ingress; another loadBalancerClass is left alone', async () => {
    await cluster.client.patch(R.services, NS, 'second', 'merge', { spec: { type: 'ClusterIP', externalTrafficPolicy: null, ports: [{ name: 'http', port: 80 }] } });
    await ingressBecomes('second', undefined);
    await createService('classy', { loadBalancerClass: 'example.com/other', ports: [{ port: 8080 }] });
    await createService('marker', { ports: [{ port: 8081 }] });
    await ingressBecomes('marker', [{ ip: '192.0.2.10', ipMode: 'VIP' }]);
    await ctrl.idle();
    assert.equal(await ingress('classy'), undefined);
  });
});
