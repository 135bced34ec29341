import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { desiredRoutes, routeCommands, RouteSyncer } from './routes.js';
import { eventually, startTestCluster } from '../controllers/testenv.js';

const node = (name: string, ip: string | undefined, podCIDR: string | undefined) => ({
  metadata: { name },
  spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
  status: { addresses: ip ? [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] : [] },
});

const self = { nodeName: 'me', nodeIps: ['192.168.1.10'], podCidr: '10.244.0.0/24' };
const CLUSTER = '10.244.0.0/16';

test('a route per node on another machine: its pod CIDR via its InternalIP', () => {
  const routes = desiredRoutes([node('me', '192.168.1.10', '10.244.0.0/24'), node('w2', '192.168.1.12', '10.244.2.0/24'), node('w1', '192.168.1.11', '10.244.1.0/24')], self, CLUSTER);
  assert.deepEqual(routes, [
    { cidr: '10.244.1.0/24', via: '192.168.1.11', node: 'w1' },
    { cidr: '10.244.2.0/24', via: '192.168.1.12', node: 'w2' },
  ]);
});

test('nodes sharing this machine (as every node of a one-machine test cluster does) get no route', () => {
  const nodes = [node('me', '192.168.1.10', '10.244.0.0/24'), node('agent', '192.168.1.10', '10.244.171.0/24'), node('other', '192.168.1.10', '10.244.130.0/24')];
  assert.deepEqual(desiredRoutes(nodes, self, CLUSTER), []);
});

test('nothing but a node pod CIDR inside the cluster CIDR is ever routed off the machine', () => {
  const nodes = [
    node('no-ip', undefined, '10.244.3.0/24'),
    node('no-cidr', '192.168.1.13', undefined),
    node('service-range', '192.168.1.14', '10.96.0.0/12'),
    node('outside', '192.168.1.15', '172.16.0.0/24'),
    node('whole-cluster', '192.168.1.16', '10.244.0.0/16'),
    node('overlaps-mine', '192.168.1.17', '10.244.0.0/25'),
    node('loopback', '127.0.0.2', '10.244.4.0/24'),
    node('via-a-pod', '10.244.9.7', '10.244.5.0/24'),
    node('garbage', 'not-an-ip', '10.244.6.0/24'),
    { ...node('hollow', '172.16.0.1', '10.244.8.0/24'), metadata: { name: 'hollow', annotations: { 'node.kite.io/hollow': 'true' } } },
  ];
  assert.deepEqual(desiredRoutes(nodes, self, CLUSTER), []);
});

test('routeCommands replaces changed routes and deletes gone ones', () => {
  const installed = new Map([
    ['10.244.1.0/24', '192.168.1.11'],
    ['10.244.2.0/24', '192.168.1.12'],
  ]);
  const lines = routeCommands(installed, [
    { cidr: '10.244.1.0/24', via: '192.168.1.11', node: 'w1' },
    { cidr: '10.244.2.0/24', via: '192.168.1.22', node: 'w2' },
    { cidr: '10.244.3.0/24', via: '192.168.1.13', node: 'w3' },
  ]);
  assert.deepEqual(lines, [
    'route del 10.244.2.0/24 via 192.168.1.12 proto 75',
    'route replace 10.244.2.0/24 via 192.168.1.22 proto 75',
    'route replace 10.244.3.0/24 via 192.168.1.13 proto 75',
  ]);
  assert.deepEqual(routeCommands(installed, [...installed].map(([cidr, via]) => ({ cidr, via, node: '' }))), []);
});

test('the syncer follows Nodes in batches and removes its routes when stopped', async (t) => {
  const env = await startTestCluster();
  t.after(() => env.close());
  const batches: string[][] = [];
  const syncer = new RouteSyncer({ client: env.client, ...self, clusterCidr: CLUSTER, log: () => undefined, apply: async (lines) => void batches.push(lines) });
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', ...node('same-machine', '192.168.1.10', '10.244.7.0/24') });
  await syncer.start();
  assert.deepEqual(batches, [], 'a node on this machine needs no route');
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', ...node('w1', '192.168.1.11', '10.244.1.0/24') });
  await eventually(() => syncer.routes().size === 1, 'the route to w1');
  assert.deepEqual(batches, [['route replace 10.244.1.0/24 via 192.168.1.11 proto 75']]);
  await env.client.delete(R.nodes, '', 'w1');
  await eventually(() => syncer.routes().size === 0, 'the route to w1 to go');
  assert.deepEqual(batches.at(-1), ['route del 10.244.1.0/24 via 192.168.1.11 proto 75']);
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', ...node('w2', '192.168.1.12', '10.244.2.0/24') });
  await eventually(() => syncer.routes().size === 1, 'the route to w2');
  await syncer.stop();
  assert.deepEqual(batches.at(-1), ['route del 10.244.2.0/24 via 192.168.1.12 proto 75']);
});

test('a failed batch is retried in full and what may be in the kernel is still removed on stop', async (t) => {
  const env = await startTestCluster();
  t.after(() => env.close());
  const batches: string[][] = [];
  let fail = true;
  const syncer = new RouteSyncer({
    client: env.client,
    ...self,
    clusterCidr: CLUSTER,
    log: () => undefined,
    apply: async (lines) => {
      batches.push(lines);
      if (fail) throw new Error('RTNETLINK answers: Network is unreachable');
    },
  });
  await syncer.start();
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', ...node('w1', '192.168.1.11', '10.244.1.0/24') });
  await eventually(() => batches.length === 1, 'the first try');
  fail = false;
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', ...node('w2', '192.168.1.12', '10.244.2.0/24') });
  await eventually(() => batches.length === 2, 'the second try');
  assert.deepEqual(batches[1], ['route replace 10.244.1.0/24 via 192.168.1.11 proto 75', 'route replace 10.244.2.0/24 via 192.168.1.12 proto 75']);
  await syncer.stop();
  assert.deepEqual(batches.at(-1), ['route del 10.244.1.0/24 via 192.168.1.11 proto 75', 'route del 10.244.2.0/24 via 192.168.1.12 proto 75']);
});
