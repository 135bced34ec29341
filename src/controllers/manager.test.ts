import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../client/client.js';
import { CONTROLLERS, startControllers } from './manager.js';
import { eventually, startTestCluster } from './testenv.js';
import { getFresh } from './controllerutil.js';

test('startControllers runs every registered controller against one API server', { timeout: 30_000 }, async (t) => {
  const env = await startTestCluster();
  const dataDir = mkdtempSync(join(tmpdir(), 'kite-cm-'));
  const manager = await startControllers({
    client: env.client,
    informers: env.informers,
    dataDir,
    caPem: 'PEM',
    resources: () => env.registry.resources(),
  });
  t.after(async () => {
    manager.stop();
    await env.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  assert.ok(Object.keys(CONTROLLERS).includes('garbage-collector-controller'));
  await env.namespace('team');
  // serviceaccount-controller and root-ca-certificate-publisher-controller
  await eventually(() => getFresh<any>(env.client, R.serviceaccounts, 'team', 'default'), 'the default ServiceAccount');
  await eventually(() => getFresh<any>(env.client, R.configmaps, 'team', 'kube-root-ca.crt'), 'kube-root-ca.crt');
  // local-path-provisioner made the default class
  assert.ok(await getFresh<any>(env.client, R.storageclasses, '', 'standard'));
  // garbage-collector-controller
  const owner = await env.client.create<any>(R.configmaps, 'team', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
  await env.client.create<any>(R.configmaps, 'team', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] },
  });
  await env.client.delete(R.configmaps, 'team', 'owner');
  await eventually(async () => (await getFresh<any>(env.client, R.configmaps, 'team', 'dep')) === undefined, 'the dependent to be collected');
  // namespace-controller
  await env.client.delete(R.namespaces, '', 'team');
  await eventually(async () => (await getFresh<any>(env.client, R.namespaces, '', 'team')) === undefined, 'the namespace to be finalized');
});
