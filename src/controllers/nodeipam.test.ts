import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R, type Client } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { InformerFactory } from '../client/factory.js';
import { CidrSet, NodeIpamController } from './nodeipam.js';
import { eventually, startTestCluster, type TestCluster } from './testenv.js';

async function addNode(c: Client, name: string, podCIDR?: string): Promise<void> {
  await c.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {} });
}

async function podCidrOf(c: Client, name: string): Promise<string | undefined> {
  const n = await c.get(R.nodes, '', name);
  return n.spec?.podCIDR && `${n.spec.podCIDR}|${n.spec.podCIDRs?.join(',')}`;
}

/** Starts a controller on its own informers (so a second one sees only what is stored, as after a restart). */
async function startIpam(t: { after(fn: () => unknown): void }, env: TestCluster, opts: { clusterCidr?: string } = {}): Promise<NodeIpamController> {
  const informers = new InformerFactory(env.client);
  const c = new NodeIpamController({ client: env.client, informers, events: new EventRecorder(env.client, 'cidrAllocator'), ...opts });
  await c.start();
  t.after(() => {
    c.stop();
    informers.stop();
  });
  return c;
}

test('CidrSet hands out /24s round robin, skips used ones, and reuses released ones after wrapping', () => {
  const s = new CidrSet('10.244.0.0/22', 24);
  assert.equal(s.occupy('10.244.1.0/24'), true);
  assert.equal(s.allocateNext(), '10.244.0.0/24');
  assert.equal(s.allocateNext(), '10.244.2.0/24');
  s.release('10.244.0.0/24');
  // Round robin: after the last one handed out, not the lowest free one.
  assert.equal(s.allocateNext(), '10.244.3.0/24');
  assert.equal(s.allocateNext(), '10.244.0.0/24');
  assert.equal(s.allocateNext(), undefined);
  assert.equal(s.occupy('192.168.0.0/24'), false, 'outside the cluster CIDR');
});

test('CidrSet: a CIDR claimed twice stays used until both release it; wider ranges cover their subnets', () => {
  const s = new CidrSet('10.244.0.0/16', 24);
  s.occupy('10.244.7.0/24');
  s.occupy('10.244.7.0/24');
  s.release('10.244.7.0/24');
  assert.equal(s.isUsed('10.244.7.0/24'), true);
  s.release('10.244.7.0/24');
  assert.equal(s.isUsed('10.244.7.0/24'), false);
  s.occupy('10.244.16.0/20');
  assert.equal(s.isUsed('10.244.31.0/24'), true);
  assert.equal(s.isUsed('10.244.32.0/24'), false);
  assert.throws(() => new CidrSet('10.0.0.0/8', 25), /does not fit/);
});

test('nodes without a pod CIDR get the next free /24 of 10.244.0.0/16; a node with its own keeps it', async (t) => {
  const env = await startTestCluster();
  t.after(() => env.close());
  await addNode(env.client, 'local', '10.244.0.0/24');
  await startIpam(t, env);
  await addNode(env.client, 'a');
  await addNode(env.client, 'b');
  assert.equal(await eventually(() => podCidrOf(env.client, 'a'), 'node a to get a CIDR'), '10.244.1.0/24|10.244.1.0/24');
  assert.equal(await eventually(() => podCidrOf(env.client, 'b'), 'node b to get a CIDR'), '10.244.2.0/24|10.244.2.0/24');
  assert.equal(await podCidrOf(env.client, 'local'), '10.244.0.0/24|10.244.0.0/24');
  // Hollow nodes run no pod network and get none.
  await env.client.create(R.nodes, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'hollow-0', annotations: { 'node.kite.io/hollow': 'true' } } });
  await addNode(env.client, 'c');
  assert.equal(await eventually(() => podCidrOf(env.client, 'c'), 'node c to get a CIDR'), '10.244.3.0/24|10.244.3.0/24');
  assert.equal(await podCidrOf(env.client, 'hollow-0'), undefined);
});

test('allocations are read back from the nodes after a restart, and a deleted node frees its CIDR', async (t) => {
  const env = await startTestCluster();
  t.after(() => env.close());
  await env.namespace('default');
  const first = await startIpam(t, env, { clusterCidr: '10.244.0.0/23' });
  await addNode(env.client, 'a');
  await eventually(() => podCidrOf(env.client, 'a'), 'node a to get a CIDR');
  first.stop();
  // A new controller (a restarted controller manager) must not hand a's CIDR out again.
  const second = await startIpam(t, env, { clusterCidr: '10.244.0.0/23' });
  await addNode(env.client, 'b');
  await eventually(() => podCidrOf(env.client, 'b'), 'node b to get a CIDR');
  assert.notEqual(await podCidrOf(env.client, 'b'), await podCidrOf(env.client, 'a'));
  // The range is full: c waits, with upstream's CIDRNotAvailable event.
  await addNode(env.client, 'c');
  await eventually(async () => (await env.client.list(R.events, '')).items.find((e: any) => e.reason === 'CIDRNotAvailable' && e.involvedObject.name === 'c'), 'the CIDRNotAvailable event');
  assert.equal(await podCidrOf(env.client, 'c'), undefined);
  assert.equal((await env.client.list(R.events, '')).items.find((e: any) => e.reason === 'CIDRNotAvailable')?.message, 'Node c status is now: CIDRNotAvailable');
  // Deleting a gives its CIDR to the waiting node.
  const aCidr = (await env.client.get(R.nodes, '', 'a')).spec.podCIDR;
  await env.client.delete(R.nodes, '', 'a');
  assert.equal(await eventually(async () => (await env.client.get(R.nodes, '', 'c')).spec?.podCIDR, 'node c to get the freed CIDR'), aCidr);
  await second.idle();
});
