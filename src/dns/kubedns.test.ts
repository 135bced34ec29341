import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { ENDPOINT_SLICES } from '../controllers/endpointsutil.js';
import { eventually, getOrUndefined, startTestCluster } from '../controllers/testenv.js';
import { KUBE_DNS, NodeDns, defaultClusterDnsIp, kubeDnsService, nodeSliceName } from './kubedns.js';

test('the cluster DNS address is the 10th of the service range, as kubeadm picks it', () => {
  assert.equal(defaultClusterDnsIp('10.96.0.0/12'), '10.96.0.10');
  assert.equal(defaultClusterDnsIp('10.100.7.0/24'), '10.100.7.10');
  assert.equal(defaultClusterDnsIp('172.20.5.9/16'), '172.20.0.10');
  assert.throws(() => defaultClusterDnsIp('nope'), /invalid service CIDR/);
  assert.match(nodeSliceName('x'.repeat(250)), /^kube-dns-[0-9a-f]{16}$/);
});

test('a node publishes its DNS address as a kube-dns endpoint, puts it back when removed, and withdraws it on stop', async () => {
  const c = await startTestCluster();
  await c.namespace('kube-system');
  const svc = await c.client.create<any>(R.services, 'kube-system', kubeDnsService('10.96.0.10'));
  const nodes = ['node-a', 'node-b'].map(
    (nodeName, i) => new NodeDns({ client: c.client, nodeName, address: `127.0.0.${i + 1}`, clusterDomain: 'cluster.local', resolvConf: '/dev/null', port: 0, metricsPort: 0, log: () => {} }),
  );
  try {
    for (const n of nodes) await n.start();
    const slice = await c.client.get<any>(ENDPOINT_SLICES, 'kube-system', 'kube-dns-node-a');
    assert.deepEqual(slice.metadata.labels, {
      'k8s-app': 'kube-dns',
      'kubernetes.io/cluster-service': 'true',
      'kubernetes.io/service-name': 'kube-dns',
      'endpointslice.kubernetes.io/managed-by': 'node-agent.kite.io',
    });
    assert.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'kube-dns', uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    const port = nodes[0]!.server.port;
    assert.deepEqual(slice.endpoints, [{ addresses: ['127.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a' }]);
    assert.deepEqual(slice.ports, [
      { name: 'dns', port, protocol: 'UDP' },
      { name: 'dns-tcp', port, protocol: 'TCP' },
      { name: 'metrics', port: nodes[0]!.server.metricsPort, protocol: 'TCP' },
    ]);
    const ep = await c.client.get<any>(R.endpoints, KUBE_DNS.namespace, KUBE_DNS.name);
    assert.deepEqual(ep.subsets[0].addresses, [
      { ip: '127.0.0.1', nodeName: 'node-a' },
      { ip: '127.0.0.2', nodeName: 'node-b' },
    ]);
    assert.equal(ep.metadata.labels['endpointslice.kubernetes.io/skip-mirror'], 'true');

    // Someone deletes the slice: the node writes it again.
    await c.client.delete(ENDPOINT_SLICES, 'kube-system', 'kube-dns-node-a');
    await eventually(() => getOrUndefined(c.client, ENDPOINT_SLICES, 'kube-system', 'kube-dns-node-a'), 'the slice back');

    await nodes[1]!.stop();
    assert.equal(await getOrUndefined(c.client, ENDPOINT_SLICES, 'kube-system', 'kube-dns-node-b'), undefined);
    const left = await c.client.get<any>(R.endpoints, KUBE_DNS.namespace, KUBE_DNS.name);
    assert.deepEqual(left.subsets[0].addresses, [{ ip: '127.0.0.1', nodeName: 'node-a' }]);
    await nodes[0]!.stop();
    const none = await c.client.get<any>(R.endpoints, KUBE_DNS.namespace, KUBE_DNS.name);
    assert.equal(none.subsets, undefined);
  } finally {
    for (const n of nodes) await n.stop();
    await c.close();
  }
});
