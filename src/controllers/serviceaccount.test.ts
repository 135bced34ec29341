import { test } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { ROOT_CA_CONFIGMAP, RootCACertPublisher, ServiceAccountsController } from './serviceaccount.js';
import { eventually, startTestCluster } from './testenv.js';
import { getFresh } from './controllerutil.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const env = await startTestCluster();
  const sa = new ServiceAccountsController({ client: env.client, informers: env.informers });
  const ca = new RootCACertPublisher({ client: env.client, informers: env.informers, caPem: CA });
  await Promise.all([sa.start(), ca.start()]);
  t.after(async () => {
    sa.stop();
    ca.stop();
    await env.close();
  });
  return env;
}

test('a new namespace gets the default ServiceAccount and kube-root-ca.crt', { timeout: 20_000 }, async (t) => {
  const env = await setup(t);
  await env.namespace('team');
  const sa = await eventually(() => getFresh<any>(env.client, R.serviceaccounts, 'team', 'default'), 'the default ServiceAccount');
  assert.equal(sa.metadata.namespace, 'team');
  const cm = await eventually(() => getFresh<any>(env.client, R.configmaps, 'team', ROOT_CA_CONFIGMAP), 'kube-root-ca.crt');
  assert.deepEqual(cm.data, { 'ca.crt': CA });
  assert.match(cm.metadata.annotations['kubernetes.io/description'], /^Contains a CA bundle that can be used to verify the kube-apiserver/);
});

test('a deleted default ServiceAccount is recreated and an edited CA ConfigMap is repaired', { timeout: 20_000 }, async (t) => {
  const env = await setup(t);
  await env.namespace('team');
  const first = await eventually(() => getFresh<any>(env.client, R.serviceaccounts, 'team', 'default'), 'the default ServiceAccount');
  await env.client.delete(R.serviceaccounts, 'team', 'default');
  const again = await eventually(async () => {
    const sa = await getFresh<any>(env.client, R.serviceaccounts, 'team', 'default');
    return sa && sa.metadata.uid !== first.metadata.uid ? sa : undefined;
  }, 'the default ServiceAccount to be recreated');
  assert.equal(again.metadata.name, 'default');

  const cm = await eventually(() => getFresh<any>(env.client, R.configmaps, 'team', ROOT_CA_CONFIGMAP), 'kube-root-ca.crt');
  await env.client.update(R.configmaps, 'team', { ...cm, data: { 'ca.crt': 'tampered', extra: 'x' } });
  await eventually(async () => {
    const now = await env.client.get(R.configmaps, 'team', ROOT_CA_CONFIGMAP);
    return now.data['ca.crt'] === CA && now.data.extra === undefined;
  }, 'kube-root-ca.crt to be repaired');
});

test('namespaces that exist before the controllers start get their defaults too', { timeout: 20_000 }, async (t) => {
  const env = await startTestCluster();
  await env.namespace('early');
  const sa = new ServiceAccountsController({ client: env.client, informers: env.informers });
  t.after(async () => {
    sa.stop();
    await env.close();
  });
  await sa.start();
  await eventually(() => getFresh<any>(env.client, R.serviceaccounts, 'early', 'default'), 'the default ServiceAccount in a namespace created earlier');
});
