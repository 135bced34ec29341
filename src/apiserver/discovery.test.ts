import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinResources } from '../api/resources.js';
import {
  aggregatedDiscovery,
  aggregatedMediaType,
  groupDocument,
  groupList,
  legacyCoreVersions,
  resourceList,
  wantsAggregated,
} from './discovery.js';

const resources = builtinResources();

/** kubectl 1.32's discovery Accept header. */
const KUBECTL_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

test('/api lists v1 and where to reach the server', () => {
  assert.deepEqual(legacyCoreVersions('10.0.0.5:6443'), {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '10.0.0.5:6443' }],
  });
});

test('/apis lists every served group once, with its preferred version, and never the core group', () => {
  const doc = groupList(resources) as any;
  assert.equal(doc.kind, 'APIGroupList');
  assert.equal(doc.apiVersion, 'v1');
  const names: string[] = doc.groups.map((g: any) => g.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(!names.includes(''));
  for (const g of ['apps', 'batch', 'rbac.authorization.k8s.io', 'apiextensions.k8s.io', 'coordination.k8s.io']) assert.ok(names.includes(g), g);
  const apps = doc.groups.find((g: any) => g.name === 'apps');
  assert.deepEqual(apps.versions, [{ groupVersion: 'apps/v1', version: 'v1' }]);
  assert.deepEqual(apps.preferredVersion, { groupVersion: 'apps/v1', version: 'v1' });
  const autoscaling = doc.groups.find((g: any) => g.name === 'autoscaling');
  assert.deepEqual(autoscaling.preferredVersion, { groupVersion: 'autoscaling/v2', version: 'v2' });
});

test('/apis/<group> is an APIGroup for served groups and absent otherwise', () => {
  const doc = groupDocument(resources, 'batch') as any;
  assert.equal(doc.kind, 'APIGroup');
  assert.equal(doc.apiVersion, 'v1');
  assert.equal(doc.name, 'batch');
  assert.deepEqual(doc.preferredVersion, { groupVersion: 'batch/v1', version: 'v1' });
  assert.equal(groupDocument(resources, 'example.com'), undefined);
});

test('/api/v1 resource list: pods with short names, categories, verbs and storageVersionHash', () => {
  const doc = resourceList(resources, '', 'v1') as any;
  assert.equal(doc.kind, 'APIResourceList');
  assert.equal(doc.groupVersion, 'v1');
  const pods = doc.resources.find((r: any) => r.name === 'pods');
  assert.equal(pods.singularName, 'pod');
  assert.equal(pods.namespaced, true);
  assert.equal(pods.kind, 'Pod');
  assert.deepEqual(pods.shortNames, ['po']);
  assert.deepEqual(pods.categories, ['all']);
  assert.ok(pods.verbs.includes('watch') && pods.verbs.includes('deletecollection'));
  // upstream: base64(sha256("<group>/<version>/<kind>")[:8]); kubectl compares these.
  assert.equal(pods.storageVersionHash, 'xPOwRZ+Yhw8=');
  const ns = doc.resources.find((r: any) => r.name === 'namespaces');
  assert.equal(ns.namespaced, false);
  assert.deepEqual(ns.shortNames, ['ns']);
});

test('subresources appear as resource/subresource entries with an empty singular name', () => {
  const core = resourceList(resources, '', 'v1') as any;
  const status = core.resources.find((r: any) => r.name === 'pods/status');
  assert.deepEqual(status, { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
  const eviction = core.resources.find((r: any) => r.name === 'pods/eviction');
  assert.equal(eviction.group, 'policy');
  assert.equal(eviction.version, 'v1');
  assert.equal(eviction.kind, 'Eviction');
  assert.ok(core.resources.find((r: any) => r.name === 'namespaces/finalize'));
  const apps = resourceList(resources, 'apps', 'v1') as any;
  const scale = apps.resources.find((r: any) => r.name === 'deployments/scale');
  assert.equal(scale.group, 'autoscaling');
  assert.equal(scale.version, 'v1');
  assert.equal(scale.kind, 'Scale');
  const deploy = apps.resources.find((r: any) => r.name === 'deployments');
  assert.equal(deploy.storageVersionHash, '8aSe+NMegvE=');
});

test('create-only resources carry no storageVersionHash', () => {
  const doc = resourceList(resources, 'authorization.k8s.io', 'v1') as any;
  const ssar = doc.resources.find((r: any) => r.name === 'selfsubjectaccessreviews');
  assert.deepEqual(ssar.verbs, ['create']);
  assert.equal('storageVersionHash' in ssar, false);
});

test('an unserved group/version has no resource list', () => {
  assert.equal(resourceList(resources, 'apps', 'v1beta1'), undefined);
  assert.equal(resourceList(resources, 'example.com', 'v1'), undefined);
});

test('aggregated discovery is chosen from kubectl\'s Accept header, v2 first', () => {
  assert.equal(wantsAggregated(KUBECTL_ACCEPT), 'v2');
  assert.equal(wantsAggregated('application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json'), 'v2beta1');
  assert.equal(wantsAggregated('application/json'), undefined);
  assert.equal(wantsAggregated(undefined), undefined);
  assert.equal(aggregatedMediaType('v2'), 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
});

test('aggregated /api holds only the core group; /apis every other group', () => {
  const core = aggregatedDiscovery(resources, true, 'v2') as any;
  assert.equal(core.kind, 'APIGroupDiscoveryList');
  assert.equal(core.apiVersion, 'apidiscovery.k8s.io/v2');
  assert.equal(core.items.length, 1);
  assert.equal(core.items[0].metadata.name, '');
  const v1 = core.items[0].versions[0];
  assert.equal(v1.version, 'v1');
  assert.equal(v1.freshness, 'Current');
  const pods = v1.resources.find((r: any) => r.resource === 'pods');
  assert.deepEqual(pods.responseKind, { group: '', version: 'v1', kind: 'Pod' });
  assert.equal(pods.scope, 'Namespaced');
  assert.equal(pods.singularResource, 'pod');
  assert.deepEqual(pods.shortNames, ['po']);
  const evict = pods.subresources.find((s: any) => s.subresource === 'eviction');
  assert.deepEqual(evict.responseKind, { group: 'policy', version: 'v1', kind: 'Eviction' });
  const nodes = v1.resources.find((r: any) => r.resource === 'nodes');
  assert.equal(nodes.scope, 'Cluster');

  const groups = aggregatedDiscovery(resources, false, 'v2beta1') as any;
  assert.equal(groups.apiVersion, 'apidiscovery.k8s.io/v2beta1');
  const names = groups.items.map((i: any) => i.metadata.name);
  assert.ok(!names.includes(''));
  assert.deepEqual(names, (groupList(resources) as any).groups.map((g: any) => g.name));
  const apps = groups.items.find((i: any) => i.metadata.name === 'apps');
  const deploy = apps.versions[0].resources.find((r: any) => r.resource === 'deployments');
  assert.deepEqual(
    deploy.subresources.map((s: any) => s.subresource).sort(),
    ['scale', 'status'],
  );
});
