import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../api/errors.js';
import type { Backend } from '../../storage/backend.js';
import { MemoryBackend } from '../../storage/memory.js';
import { SqliteBackend } from '../../storage/sqlite.js';
import { systemContext } from '../bootstrap.js';
import { Registry } from './registry.js';
import { ipToNumber, parseCidr } from './ipalloc.js';
import { podQosClass } from './builtin.js';
import type { Store } from './store.js';

/** A started registry over `backend` with namespace `ns`. */
async function startRegistry(backend: Backend = new MemoryBackend()) {
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const store = (group: string, version: string, resource: string): Store => registry.lookup(group, version, resource)!;
  try {
    await store('', 'v1', 'namespaces').create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  } catch (e) {
    if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
  }
  return {
    registry,
    services: store('', 'v1', 'services'),
    pods: store('', 'v1', 'pods'),
    namespaces: store('', 'v1', 'namespaces'),
    store,
    async close() {
      registry.stop();
      await backend.close();
    },
  };
}

const ctx = () => systemContext('ns');

function service(name: string, spec: Record<string, unknown> = {}): any {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } };
}

function pod(name: string, spec: Record<string, unknown> = {}, resources?: any): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox', ...(resources ? { resources } : {}) }], ...spec },
  };
}

async function rejectsWith(p: Promise<unknown>, code: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const CIDR = parseCidr('10.96.0.0/12');
function inServiceRange(ip: string): boolean {
  const n = ipToNumber(ip);
  return n !== undefined && n > CIDR.base && n < CIDR.base + CIDR.size - 1;
}

test('a Service gets a cluster IP inside the service CIDR', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.services.create(ctx(), service('a'));
  const b = await env.services.create(ctx(), service('b'));
  assert.ok(inServiceRange(a.spec.clusterIP), a.spec.clusterIP);
  assert.deepEqual(a.spec.clusterIPs, [a.spec.clusterIP]);
  assert.notEqual(a.spec.clusterIP, b.spec.clusterIP);
  assert.equal((await env.services.get('ns', 'a')).spec.clusterIP, a.spec.clusterIP);
});

test('a requested cluster IP is honoured once; asking for a taken one is 422', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.services.create(ctx(), service('a', { clusterIP: '10.96.0.10' }));
  assert.equal(a.spec.clusterIP, '10.96.0.10');
  await rejectsWith(
    env.services.create(ctx(), service('b', { clusterIP: '10.96.0.10' })),
    422,
    /^Service "b" is invalid: spec\.clusterIPs: Invalid value: .*10\.96\.0\.10.*: failed to allocate IP 10\.96\.0\.10: provided IP is already allocated$/,
  );
  // the failed create did not keep anything
  await rejectsWith(env.services.get('ns', 'b'), 404, 'services "b" not found');
});

test('a cluster IP outside the range is 422 naming the range', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await rejectsWith(
    env.services.create(ctx(), service('a', { clusterIP: '192.168.0.1' })),
    422,
    /failed to allocate IP 192\.168\.0\.1: the provided IP \(192\.168\.0\.1\) is not in the valid range\. The range of valid IPs is 10\.96\.0\.0\/12$/,
  );
});

test('deleting a Service frees its cluster IP', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.services.create(ctx(), service('a', { clusterIP: '10.96.0.20' }));
  await env.services.delete(ctx(), 'a', {});
  const b = await env.services.create(ctx(), service('b', { clusterIP: '10.96.0.20' }));
  assert.equal(b.spec.clusterIP, '10.96.0.20');
});

test('headless and ExternalName Services get no cluster IP', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const h = await env.services.create(ctx(), service('h', { clusterIP: 'None' }));
  assert.equal(h.spec.clusterIP, 'None');
  const x = await env.services.create(ctx(), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'x' },
    spec: { type: 'ExternalName', externalName: 'example.com' },
  });
  assert.equal(x.spec.clusterIP, undefined);
});

test('an update that omits clusterIP keeps the allocated one', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.services.create(ctx(), service('a'));
  const next = service('a', { ports: [{ port: 8080 }] });
  const r = (await env.services.update(ctx(), 'a', next)).obj;
  assert.equal(r.spec.clusterIP, a.spec.clusterIP);
  assert.equal(r.spec.ports[0].port, 8080);
});

test('NodePort Services get node ports in 30000-32767, exclusive and freed on delete', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.services.create(ctx(), service('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }));
  const ports: number[] = a.spec.ports.map((p: any) => p.nodePort);
  for (const p of ports) assert.ok(p >= 30000 && p <= 32767, String(p));
  assert.notEqual(ports[0], ports[1]);

  await rejectsWith(
    env.services.create(ctx(), service('b', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] })),
    422,
    `Service "b" is invalid: spec.ports[0].nodePort: Invalid value: ${ports[0]}: provided port is already allocated`,
  );
  await rejectsWith(
    env.services.create(ctx(), service('c', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })),
    422,
    /spec\.ports\[0\]\.nodePort: Invalid value: 80: provided port is not in the valid range\. The range of valid ports is 30000-32767/,
  );

  await env.services.delete(ctx(), 'a', {});
  const d = await env.services.create(ctx(), service('d', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] }));
  assert.equal(d.spec.ports[0].nodePort, ports[0]);
});

test('an update keeps node ports it does not change and frees ports it drops', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const a = await env.services.create(ctx(), service('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }));
  const [http, https] = a.spec.ports.map((p: any) => p.nodePort);
  // kubectl apply without nodePort: the allocated one is kept
  const kept = (await env.services.update(ctx(), 'a', service('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }))).obj;
  assert.deepEqual(kept.spec.ports.map((p: any) => p.nodePort), [http]);
  const b = await env.services.create(ctx(), service('b', { type: 'NodePort', ports: [{ port: 443, nodePort: https }] }));
  assert.equal(b.spec.ports[0].nodePort, https);
});

test('allocations survive a restart: stored Services still hold their IPs and ports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-svc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db');
  const env1 = await startRegistry(new SqliteBackend({ path }));
  const a = await env1.services.create(ctx(), service('a', { type: 'NodePort', clusterIP: '10.96.0.30' }));
  await env1.close();
  const env2 = await startRegistry(new SqliteBackend({ path }));
  t.after(() => env2.close());
  await rejectsWith(env2.services.create(ctx(), service('b', { clusterIP: '10.96.0.30' })), 422, /provided IP is already allocated$/);
  await rejectsWith(
    env2.services.create(ctx(), service('c', { type: 'NodePort', ports: [{ port: 80, nodePort: a.spec.ports[0].nodePort }] })),
    422,
    /provided port is already allocated$/,
  );
});

test('a new Pod is Pending with its QoS class, whatever status the client sent', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const p = await env.pods.create(ctx(), { ...pod('p'), status: { phase: 'Running', podIP: '1.2.3.4' } });
  assert.deepEqual(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
  const g = await env.pods.create(ctx(), pod('g', {}, { limits: { cpu: '1', memory: '1Gi' } }));
  // requests default to limits, which makes the pod Guaranteed
  assert.equal(g.status.qosClass, 'Guaranteed');
  const b = await env.pods.create(ctx(), pod('b', {}, { requests: { cpu: '100m' } }));
  assert.equal(b.status.qosClass, 'Burstable');
});

test('podQosClass follows upstream GetPodQOS', () => {
  const withRes = (...rs: any[]) => ({ spec: { containers: rs.map((resources, i) => ({ name: `c${i}`, resources })) } });
  assert.equal(podQosClass(withRes({})), 'BestEffort');
  // only cpu and memory count
  assert.equal(podQosClass(withRes({ limits: { 'nvidia.com/gpu': '1' }, requests: { 'nvidia.com/gpu': '1' } })), 'BestEffort');
  // zero amounts count as unset
  assert.equal(podQosClass(withRes({ requests: { cpu: '0' } })), 'BestEffort');
  assert.equal(podQosClass(withRes({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })), 'Guaranteed');
  // equal quantities in different spellings are equal
  assert.equal(podQosClass(withRes({ requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: '1', memory: '1Gi' } })), 'Guaranteed');
  assert.equal(podQosClass(withRes({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })), 'Burstable');
  // every container needs both limits
  assert.equal(
    podQosClass(withRes({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } }, { requests: { cpu: '1' }, limits: { cpu: '1' } })),
    'Burstable',
  );
});

test('deleting a scheduled Pod is graceful: it stays with deletionTimestamp until the node lets go', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.pods.create(ctx(), pod('p', { nodeName: 'node-1' }));
  const r = await env.pods.delete(systemContext('ns'), 'p', {});
  assert.equal(r.gone, false);
  assert.equal(r.obj.metadata.deletionGracePeriodSeconds, 30);
  const ts = Date.parse(r.obj.metadata.deletionTimestamp);
  assert.ok(ts > Date.now() + 25_000 && ts < Date.now() + 35_000, 'deletionTimestamp is now + grace');
  assert.ok((await env.pods.get('ns', 'p')).metadata.deletionTimestamp);
  // the kubelet (or --force) confirms with grace period 0
  const done = await env.pods.delete(ctx(), 'p', { gracePeriodSeconds: 0 });
  assert.equal(done.gone, true);
  await rejectsWith(env.pods.get('ns', 'p'), 404, 'pods "p" not found');
});

test('a Pod\'s own terminationGracePeriodSeconds and a shorter requested grace are honoured', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.pods.create(ctx(), pod('p', { nodeName: 'node-1', terminationGracePeriodSeconds: 5 }));
  const r = await env.pods.delete(ctx(), 'p', {});
  assert.equal(r.obj.metadata.deletionGracePeriodSeconds, 5);
  await env.pods.create(ctx(), pod('q', { nodeName: 'node-1' }));
  const q = await env.pods.delete(ctx(), 'q', { gracePeriodSeconds: 3 });
  assert.equal(q.obj.metadata.deletionGracePeriodSeconds, 3);
});

test('an unscheduled Pod is deleted at once', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  await env.pods.create(ctx(), pod('p'));
  const r = await env.pods.delete(ctx(), 'p', {});
  assert.equal(r.gone, true);
});

test('a Namespace starts Active with the kubernetes finalizer and turns Terminating on delete', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const n = await env.namespaces.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  assert.deepEqual(n.status, { phase: 'Active' });
  assert.deepEqual(n.spec.finalizers, ['kubernetes']);
  const d = await env.namespaces.delete(systemContext(), 'team', {});
  assert.equal(d.gone, false);
  assert.equal(d.obj.status.phase, 'Terminating');
  assert.ok(d.obj.metadata.deletionTimestamp);
  // finalize removes spec.finalizers, and the namespace goes away
  const cur = await env.namespaces.get('', 'team');
  cur.spec.finalizers = [];
  await env.namespaces.update(systemContext(), 'team', cur, 'finalize');
  await rejectsWith(env.namespaces.get('', 'team'), 404, 'namespaces "team" not found');
});

test('Secret stringData is merged into data as base64 and not stored', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const secrets = env.store('', 'v1', 'secrets');
  const s = await secrets.create(ctx(), {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's' },
    data: { a: Buffer.from('old').toString('base64'), b: Buffer.from('keep').toString('base64') },
    stringData: { a: 'new' },
  });
  assert.equal(s.stringData, undefined);
  assert.equal(Buffer.from(s.data.a, 'base64').toString(), 'new');
  assert.equal(Buffer.from(s.data.b, 'base64').toString(), 'keep');
});

test('a CRD records its storage version in status.storedVersions', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const crds = env.store('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  const version = (name: string, storage: boolean) => ({
    name,
    served: true,
    storage,
    schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  });
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      scope: 'Namespaced',
      versions: [version('v1', true)],
    },
  };
  const c = await crds.create(systemContext(), crd);
  assert.deepEqual(c.status.storedVersions, ['v1']);
  const next = structuredClone(c);
  next.spec.versions = [version('v1', false), version('v2', true)];
  const u = (await crds.update(systemContext(), 'widgets.example.com', next)).obj;
  assert.deepEqual(u.status.storedVersions, ['v1', 'v2']);
  assert.equal(u.metadata.generation, 2);
});

test('the system namespaces may not be deleted (NamespaceLifecycle)', async () => {
  const r = await startRegistry();
  const ns = r.namespaces;
  for (const name of ['default', 'kube-system', 'kube-public']) {
    await ns.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    await assert.rejects(ns.delete(systemContext(), name, {}), (e: ApiError) => {
      assert.equal(e.code, 403);
      assert.equal(e.message, `namespaces "${name}" is forbidden: this namespace may not be deleted`);
      return true;
    });
    assert.equal((await ns.get('', name)).metadata.deletionTimestamp, undefined);
  }
  await r.close();
});

test('a DaemonSet keeps its template generation in the annotation apps/v1 uses: 1 at first, +1 per template change, not settable', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const daemonsets = env.store('apps', 'v1', 'daemonsets');
  const gen = (ds: any) => ds.metadata.annotations['deprecated.daemonset.template.generation'];
  const template = (image: string) => ({ metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image }] } });
  let ds = await daemonsets.create(ctx(), { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'a' }, spec: { selector: { matchLabels: { app: 'a' } }, template: template('busybox') } });
  assert.equal(gen(ds), '1');
  ds.metadata.annotations['deprecated.daemonset.template.generation'] = '9';
  ds.spec.minReadySeconds = 5;
  ds = (await daemonsets.update(ctx(), 'a', ds)).obj;
  assert.equal(gen(ds), '1');
  ds.spec.template = template('busybox:1.36');
  ds = (await daemonsets.update(ctx(), 'a', ds)).obj;
  assert.equal(gen(ds), '2');
  assert.equal(ds.metadata.generation, 3);
});

test('ControllerRevisions need data, a non-negative revision, and their data never changes', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const revisions = env.store('apps', 'v1', 'controllerrevisions');
  const rev = (extra: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, ...extra });
  await rejectsWith(revisions.create(ctx(), rev({ data: {}, revision: -1 })), 422, 'ControllerRevision.apps "r" is invalid: revision: Invalid value: -1: must be greater than or equal to 0');
  await rejectsWith(revisions.create(ctx(), rev({ revision: 1 })), 422, 'ControllerRevision.apps "r" is invalid: data: Required value: data is mandatory');
  const created = await revisions.create(ctx(), rev({ data: { spec: { template: { $patch: 'replace' } } }, revision: 1 }));
  await rejectsWith(revisions.update(ctx(), 'r', { ...created, data: { spec: {} } }), 422, /^ControllerRevision\.apps "r" is invalid: data: Invalid value: .*: field is immutable$/);
  // The revision number may change (a rollback renumbers a revision).
  const renumbered = (await revisions.update(ctx(), 'r', { ...created, revision: 3 })).obj;
  assert.equal(renumbered.revision, 3);
});

test('StatefulSet claim templates are defaulted as PersistentVolumeClaims, and containers may mount them', async (t) => {
  const env = await startRegistry();
  t.after(() => env.close());
  const sets = env.store('apps', 'v1', 'statefulsets');
  const ss = await sets.create(ctx(), {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 's' },
    spec: {
      serviceName: 's',
      selector: { matchLabels: { app: 's' } },
      template: { metadata: { labels: { app: 's' } }, spec: { containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  });
  assert.equal(ss.spec.volumeClaimTemplates[0].spec.volumeMode, 'Filesystem');
  assert.deepEqual(ss.spec.volumeClaimTemplates[0].status, { phase: 'Pending' });
});
