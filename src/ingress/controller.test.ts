import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { R } from '../client/client.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { IngressController } from './controller.js';

/** GET through the controller; resolves with status and body. */
function get(port: number, host: string, path: string): Promise<{ status: number; body: string; headers: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP backend on loopback that answers with its name and what it saw. */
async function backend(name: string): Promise<Server> {
  const s = createServer((req, res) => res.end(JSON.stringify({ name, path: req.url, xff: req.headers['x-forwarded-for'], host: req.headers['x-forwarded-host'] })));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

describe('Ingress controller', () => {
  let env: TestCluster;
  let ctl: IngressController;
  const servers: Server[] = [];
  const port = (s: Server) => (s.address() as AddressInfo).port;

  before(async () => {
    env = await startTestCluster();
    await env.namespace('default', 'shop');
    ctl = new IngressController({ client: env.client, informers: env.informers, nodeIp: '192.0.2.10', port: 0, bindAddress: '127.0.0.1', log: () => {} });
    await ctl.start();
  });
  after(async () => {
    await ctl.stop();
    for (const s of servers) s.close();
    await env.close();
  });

  /** A Service with a named port and an EndpointSlice pointing at loopback backends (the EndpointSlice controller's shape). */
  async function service(ns: string, name: string, backends: { port: number; ready: boolean }[]): Promise<void> {
    await env.client.create(R.services, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }], selector: { app: name } } });
    // Loopback backends differ only in port: one slice per backend port, as slices group endpoints by port set.
    for (const [i, b] of backends.entries()) {
      await env.client.create(R.endpointslices, ns, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-${i}`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: b.ready } }],
        ports: [{ name: 'http', port: b.port, protocol: 'TCP' }],
      });
    }
  }

  it('creates the default IngressClass kite', async () => {
    const cls = await env.client.get(R.ingressclasses, '', 'kite');
    assert.equal(cls.spec.controller, 'kite.io/ingress');
    assert.equal(cls.metadata.annotations['ingressclass.kubernetes.io/is-default-class'], 'true');
  });

  it('routes by host and path to ready endpoints only, round robin, and publishes the node address', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const down = await backend('unready');
    servers.push(a, b, down);
    await service('shop', 'web', [
      { port: port(a), ready: true },
      { port: port(b), ready: true },
      { port: port(down), ready: false },
    ]);
    await env.client.create(R.ingresses, 'shop', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { rules: [{ host: 'shop.test', http: { paths: [{ path: '/store', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }] },
    });
    const seen = new Set<string>();
    await eventually(async () => {
      const r = await get(ctl.port, 'shop.test', '/store/items?x=1');
      if (r.status !== 200) return false;
      const body = JSON.parse(r.body);
      assert.equal(body.path, '/store/items?x=1');
      assert.equal(body.xff, '127.0.0.1');
      assert.equal(body.host, 'shop.test');
      seen.add(body.name);
      return seen.size === 2;
    }, 'both ready backends to answer');
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    const ing = await eventually(async () => {
      const i = await env.client.get(R.ingresses, 'shop', 'web');
      return i.status?.loadBalancer?.ingress?.length ? i : undefined;
    }, 'ingress status');
    assert.deepEqual(ing.status.loadBalancer.ingress, [{ ip: '192.0.2.10' }]);
  });

  it('answers 404 when nothing matches and 503 when the service has no ready endpoint', async () => {
    const r404 = await get(ctl.port, 'nobody.test', '/');
    assert.equal(r404.status, 404);
    assert.equal(r404.body, '404 page not found\n');
    await service('default', 'idle', []);
    await env.client.create(R.ingresses, 'default', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'idle', namespace: 'default' },
      spec: { ingressClassName: 'kite', rules: [{ host: 'idle.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'idle', port: { number: 80 } } } }] } }] },
    });
    const r = await eventually(async () => {
      const res = await get(ctl.port, 'idle.test', '/');
      return res.status === 503 ? res : undefined;
    }, '503 from an idle service');
    assert.match(r.body, /no ready endpoints for service "default\/idle"/);
  });

  it('leaves Ingresses of another class alone', async () => {
    const other = await backend('other');
    servers.push(other);
    await service('default', 'other', [{ port: port(other), ready: true }]);
    await env.client.create(R.ingresses, 'default', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'other', namespace: 'default' },
      spec: { ingressClassName: 'nginx', rules: [{ host: 'other.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'other', port: { number: 80 } } } }] } }] },
    });
    // A later Ingress of our class proves the table was rebuilt after the foreign one arrived.
    await env.client.create(R.ingresses, 'default', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'marker', namespace: 'default' },
      spec: { rules: [{ host: 'marker.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'other', port: { number: 80 } } } }] } }] },
    });
    await eventually(async () => (await get(ctl.port, 'marker.test', '/')).status === 200, 'marker route');
    assert.equal((await get(ctl.port, 'other.test', '/')).status, 404);
    const foreign = await env.client.get(R.ingresses, 'default', 'other');
    assert.equal(foreign.status?.loadBalancer?.ingress, undefined);
  });
});
