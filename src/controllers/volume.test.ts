import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { LocalPathProvisioner, PersistentVolumeController } from './volume.js';
import { builtinStrategy } from '../apiserver/registry/builtin.js';
import { eventually, startTestCluster } from './testenv.js';
import { getFresh } from './controllerutil.js';

async function setup(t: { after(fn: () => Promise<void> | void): void }, opts: { provisioner?: boolean } = {}) {
  const env = await startTestCluster();
  await env.namespace('ns');
  const dataDir = mkdtempSync(join(tmpdir(), 'kite-volume-'));
  const events = new EventRecorder(env.client, 'persistentvolume-controller');
  const binder = new PersistentVolumeController({ client: env.client, informers: env.informers, events });
  const provisioner = new LocalPathProvisioner({ client: env.client, informers: env.informers, events: new EventRecorder(env.client, LOCAL), dataDir });
  if (opts.provisioner !== false) await provisioner.start();
  await binder.start();
  t.after(async () => {
    binder.stop();
    provisioner.stop();
    await env.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { env, dataDir };
}
const LOCAL = 'kite.io/local-path';

const claim = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});

test('a claim of the default class gets a provisioned directory and is bound; deleting it deletes the volume', { timeout: 20_000 }, async (t) => {
  const { env, dataDir } = await setup(t);
  const c = env.client;
  const sc = await c.get(R.storageclasses, '', 'standard');
  assert.equal(sc.metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true');
  assert.deepEqual([sc.provisioner, sc.reclaimPolicy, sc.volumeBindingMode], [LOCAL, 'Delete', 'Immediate']);

  const created = await c.create<any>(R.persistentvolumeclaims, 'ns', claim('data', { storageClassName: 'standard' }));
  const bound = await eventually(async () => {
    const p = await c.get(R.persistentvolumeclaims, 'ns', 'data');
    return p.status?.phase === 'Bound' ? p : undefined;
  }, 'the claim to be bound');
  assert.equal(bound.spec.storageClassName, 'standard');
  assert.equal(bound.spec.volumeName, `pvc-${created.metadata.uid}`);
  assert.deepEqual(bound.status.capacity, { storage: '1Gi' });
  assert.equal(bound.metadata.annotations['pv.kubernetes.io/bind-completed'], 'yes');

  const pv = await eventually(async () => {
    const v = await c.get(R.persistentvolumes, '', bound.spec.volumeName);
    return v.status?.phase === 'Bound' ? v : undefined;
  }, 'the volume to be Bound');
  const dir = join(dataDir, 'volumes', pv.metadata.name);
  assert.equal(pv.spec.hostPath.path, dir);
  assert.equal(pv.spec.claimRef.uid, created.metadata.uid);
  assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Delete');
  assert.equal(pv.metadata.annotations['pv.kubernetes.io/provisioned-by'], LOCAL);
  assert.ok(existsSync(dir), 'the volume directory exists');

  // Deleting the claim releases the volume; reclaimPolicy Delete removes the directory and the volume.
  await c.delete(R.persistentvolumeclaims, 'ns', 'data');
  await eventually(async () => (await getFresh<any>(c, R.persistentvolumes, '', pv.metadata.name)) === undefined, 'the released volume to be deleted');
  assert.equal(existsSync(dir), false);
});

test('a claim binds to the smallest matching available volume, and a Retain volume stays Released', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t, { provisioner: false });
  const c = env.client;
  const pv = (name: string, size: string, labels: Record<string, string> = {}, modes = ['ReadWriteOnce']) =>
    c.create<any>(R.persistentvolumes, '', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, labels },
      spec: { capacity: { storage: size }, accessModes: modes, storageClassName: 'manual', persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: `/tmp/${name}` } },
    });
  await pv('big', '10Gi', { tier: 'fast' });
  await pv('small', '2Gi', { tier: 'fast' });
  await pv('tiny', '500Mi', { tier: 'fast' });
  await pv('rwx', '2Gi', { tier: 'slow' }, ['ReadWriteMany']);
  await eventually(async () => (await c.get(R.persistentvolumes, '', 'tiny')).status?.phase === 'Available', 'volumes to become Available');

  await c.create<any>(R.persistentvolumeclaims, 'ns', claim('want', { storageClassName: 'manual', selector: { matchLabels: { tier: 'fast' } } }));
  const bound = await eventually(async () => {
    const p = await c.get(R.persistentvolumeclaims, 'ns', 'want');
    return p.status?.phase === 'Bound' ? p : undefined;
  }, 'the claim to be bound');
  assert.equal(bound.spec.volumeName, 'small', '1Gi fits the 2Gi volume best; 500Mi is too small');
  assert.deepEqual(bound.status.capacity, { storage: '2Gi' });
  const small = await eventually(async () => {
    const v = await c.get(R.persistentvolumes, '', 'small');
    return v.status?.phase === 'Bound' ? v : undefined;
  }, 'the volume to be Bound');
  assert.equal(small.spec.claimRef.name, 'want');
  assert.equal(small.metadata.annotations['pv.kubernetes.io/bound-by-controller'], 'yes');

  await c.delete(R.persistentvolumeclaims, 'ns', 'want');
  const released = await eventually(async () => {
    const v = await c.get(R.persistentvolumes, '', 'small');
    return v.status?.phase === 'Released' ? v : undefined;
  }, 'the volume to be Released');
  assert.equal(released.spec.claimRef.name, 'want', 'a released volume keeps its claim reference');
  assert.ok(released.status.lastPhaseTransitionTime);
});

test('a claim nothing can satisfy stays Pending with a FailedBinding event', { timeout: 20_000 }, async (t) => {
  const { env } = await setup(t, { provisioner: false });
  const c = env.client;
  await c.create<any>(R.persistentvolumeclaims, 'ns', claim('none', { storageClassName: '' }));
  await eventually(
    async () => (await c.list(R.events, 'ns')).items.some((e: any) => e.reason === 'FailedBinding' && e.message === 'no persistent volumes available for this claim and no storage class is set'),
    'the FailedBinding event',
  );
  assert.equal((await c.get(R.persistentvolumeclaims, 'ns', 'none')).status.phase, 'Pending');
});

test('DefaultStorageClass admission: only a claim with no storageClassName gets the default', () => {
  const s = builtinStrategy('', 'persistentvolumeclaims', { defaultStorageClass: () => 'standard' });
  const ctx = {} as any;
  const none: any = claim('a');
  s.prepareForCreate!(none, ctx);
  assert.equal(none.spec.storageClassName, 'standard');
  const empty: any = claim('b', { storageClassName: '' });
  s.prepareForCreate!(empty, ctx);
  assert.equal(empty.spec.storageClassName, '', '"" asks for no class');
  const other: any = claim('c', { storageClassName: 'fast' });
  s.prepareForCreate!(other, ctx);
  assert.equal(other.spec.storageClassName, 'fast');
});
