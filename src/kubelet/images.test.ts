import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { R } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { ImageError, ImageManager, credentialsFor, registryHost, repositoryOf } from './images.js';
import type { ImageInfo, RegistryAuth, Runtime } from './runtime/runtime.js';

const dockerConfig = (auths: Record<string, object>) => ({
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') },
});

describe('image references and pull secrets', () => {
  it('finds the registry and repository of a reference as Docker does', () => {
    assert.equal(registryHost('busybox'), 'docker.io');
    assert.equal(registryHost('team/app:1'), 'docker.io');
    assert.equal(registryHost('127.0.0.1:5000/app'), '127.0.0.1:5000');
    assert.equal(registryHost('localhost/app'), 'localhost');
    assert.equal(registryHost('ghcr.io/org/app@sha256:abc'), 'ghcr.io');
    assert.equal(repositoryOf('busybox:1.36'), 'docker.io/library/busybox');
    assert.equal(repositoryOf('127.0.0.1:5000/team/app:v1'), '127.0.0.1:5000/team/app');
    assert.equal(repositoryOf('registry:5000/app@sha256:00'), 'registry:5000/app');
  });

  it('matches keys by host (port included, * globs) and path prefix, most specific first', () => {
    const secrets = [
      dockerConfig({
        'registry.example.com:5000': { username: 'host', password: 'p1' },
        'https://registry.example.com:5000/team/': { auth: Buffer.from('team:p2').toString('base64') },
        '*.example.com:5000': { username: 'glob', password: 'p3' },
        'other.example.com': { username: 'other', password: 'p4' },
        'https://index.docker.io/v1/': { username: 'hub', password: 'p5' },
      }),
    ];
    const names = (image: string) => credentialsFor(image, secrets).map((a: RegistryAuth) => a.username);
    assert.deepEqual(names('registry.example.com:5000/team/app:v1'), ['team', 'host', 'glob']);
    assert.deepEqual(names('registry.example.com:5000/solo/app'), ['host', 'glob']);
    assert.deepEqual(names('registry.example.com/app'), []);
    assert.deepEqual(names('busybox'), ['hub']);
    assert.deepEqual(credentialsFor('registry.example.com:5000/team/app', secrets)[0], { username: 'team', password: 'p2' });
    // Secrets of other types, or that do not parse, are skipped.
    assert.deepEqual(credentialsFor('busybox', [{ type: 'Opaque', data: { x: 'eA==' } }, { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': 'bm90IGpzb24=' } }]), []);
  });
});

/** A runtime with images whose registry is a table: records every image status asked and pull made. */
function recordingRuntime(registry: Map<string, { user?: string; error?: string }>) {
  const present = new Map<string, ImageInfo>();
  const asked: string[] = [];
  const rt = {
    version: 'recording://1',
    asked,
    present,
    async imageStatus(image: string) {
      asked.push(`status ${image}`);
      return present.get(image);
    },
    async pullImage(image: string, auth?: RegistryAuth) {
      asked.push(`pull ${image}${auth?.username ? ` as ${auth.username}` : ''}`);
      const entry = registry.get(image);
      if (!entry) throw new Error(`rpc error: code = NotFound desc = failed to pull and unpack image "${image}": ${image}: not found`);
      if (entry.user && entry.user !== auth?.username) throw new Error(`rpc error: code = Unknown desc = failed to resolve reference "${image}": 401 Unauthorized`);
      const info = { imageRef: `sha256:${'a'.repeat(64)}`, sizeBytes: 1234 };
      present.set(image, info);
      return info;
    },
  };
  return rt as typeof rt & Runtime;
}

describe('ImageManager', () => {
  let cluster: TestCluster;
  let clock = 0;
  const registry = new Map<string, { user?: string }>([
    ['reg:5000/app:v1', {}],
    ['reg:5000/private:v1', { user: 'kite' }],
  ]);

  before(async () => {
    cluster = await startTestCluster();
    await cluster.namespace('images');
    await cluster.client.create(R.secrets, 'images', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pull' }, ...dockerConfig({ 'reg:5000': { username: 'kite', password: 'pw' } }) });
  });
  after(() => cluster.close());

  const manager = (runtime: Runtime) =>
    new ImageManager({ runtime, client: cluster.client, recorder: new EventRecorder(cluster.client, 'kubelet', 'node-1'), backoff: { initialMs: 10_000, maxMs: 300_000 }, now: () => new Date(clock) });
  const pod = (name: string, image: string, policy: string, secrets: string[] = []) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'images', uid: `uid-${name}` },
    spec: { imagePullSecrets: secrets.map((n) => ({ name: n })), containers: [{ name: 'c', image, imagePullPolicy: policy }] },
  });
  const events = async (name: string) =>
    (await cluster.client.list(R.events, 'images')).items.filter((e: any) => e.involvedObject?.name === name).map((e: any) => `${e.type} ${e.reason}: ${e.message}`);

  it('pulls an absent image once with IfNotPresent, then finds it present', async () => {
    const rt = recordingRuntime(registry);
    const m = manager(rt);
    const p = pod('once', 'reg:5000/app:v1', 'IfNotPresent');
    assert.equal(await m.ensureImage(p, p.spec.containers[0]), `sha256:${'a'.repeat(64)}`);
    await m.ensureImage(p, p.spec.containers[0]);
    assert.deepEqual(rt.asked, ['status reg:5000/app:v1', 'pull reg:5000/app:v1', 'status reg:5000/app:v1']);
    const ev = await eventually(async () => ((await events('once')).length === 3 ? events('once') : undefined), 'events');
    assert.ok(ev.includes('Normal Pulling: Pulling image "reg:5000/app:v1"'), ev.join('\n'));
    assert.ok(ev.some((e) => /^Normal Pulled: Successfully pulled image "reg:5000\/app:v1" in \d+ms \(\d+ms including waiting\)\. Image size: 1234 bytes\.$/.test(e)), ev.join('\n'));
    assert.ok(ev.includes('Normal Pulled: Container image "reg:5000/app:v1" already present on machine'), ev.join('\n'));
  });

  it('pulls again with Always, and never with Never (ErrImageNeverPull)', async () => {
    const rt = recordingRuntime(registry);
    const m = manager(rt);
    const always = pod('always', 'reg:5000/app:v1', 'Always');
    await m.ensureImage(always, always.spec.containers[0]);
    await m.ensureImage(always, always.spec.containers[0]);
    assert.equal(rt.asked.filter((a) => a.startsWith('pull')).length, 2);
    const never = pod('never', 'reg:5000/other:v1', 'Never');
    await assert.rejects(m.ensureImage(never, never.spec.containers[0]), (e: unknown) => {
      assert.ok(e instanceof ImageError);
      assert.equal(e.reason, 'ErrImageNeverPull');
      assert.equal(e.message, 'Container image "reg:5000/other:v1" is not present with pull policy of Never');
      return true;
    });
  });

  it("fails with ErrImagePull and the runtime's message, then backs off with ImagePullBackOff until the delay has passed", async () => {
    const rt = recordingRuntime(registry);
    const m = manager(rt);
    const p = pod('missing', 'reg:5000/nothing:v1', 'IfNotPresent');
    const c = p.spec.containers[0]!;
    const notFound = 'rpc error: code = NotFound desc = failed to pull and unpack image "reg:5000/nothing:v1": reg:5000/nothing:v1: not found';
    await assert.rejects(m.ensureImage(p, c), { name: 'ImageError', reason: 'ErrImagePull', message: notFound });
    clock += 5_000;
    await assert.rejects(m.ensureImage(p, c), { reason: 'ImagePullBackOff', message: `Back-off pulling image "reg:5000/nothing:v1": ErrImagePull: ${notFound}` });
    assert.equal(rt.asked.filter((a) => a.startsWith('pull')).length, 1);
    // After 10 s it tries again, fails again, and waits 20 s this time.
    clock += 5_001;
    await assert.rejects(m.ensureImage(p, c), { reason: 'ErrImagePull' });
    clock += 15_000;
    await assert.rejects(m.ensureImage(p, c), { reason: 'ImagePullBackOff' });
    assert.equal(rt.asked.filter((a) => a.startsWith('pull')).length, 2);
    const ev = await eventually(async () => ((await events('missing')).some((e) => e.startsWith('Normal BackOff')) ? events('missing') : undefined), 'events');
    assert.ok(ev.includes(`Warning Failed: Failed to pull image "reg:5000/nothing:v1": ${notFound}`), ev.join('\n'));
    assert.ok(ev.includes('Normal BackOff: Back-off pulling image "reg:5000/nothing:v1"'), ev.join('\n'));
  });

  it("pulls with the credentials of the pod's imagePullSecrets, and says which secrets are missing", async () => {
    const rt = recordingRuntime(registry);
    const m = manager(rt);
    const without = pod('anon', 'reg:5000/private:v1', 'IfNotPresent');
    await assert.rejects(m.ensureImage(without, without.spec.containers[0]), /401 Unauthorized/);
    const withSecret = pod('authed', 'reg:5000/private:v1', 'IfNotPresent', ['absent', 'pull']);
    await m.ensureImage(withSecret, withSecret.spec.containers[0]);
    assert.deepEqual(rt.asked.filter((a) => a.startsWith('pull')), ['pull reg:5000/private:v1', 'pull reg:5000/private:v1 as kite']);
    const ev = await eventually(async () => ((await events('authed')).length >= 3 ? events('authed') : undefined), 'events');
    assert.ok(ev.includes('Warning FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (absent); attempting to pull the image may not succeed.'), ev.join('\n'));
  });

  it('treats every image as present on a runtime without images', async () => {
    const m = manager({ version: 'kite-process://0' } as Runtime);
    const p = pod('process', 'whatever:latest', 'Always');
    assert.equal(await m.ensureImage(p, p.spec.containers[0]), '');
  });
});
