/**
 * Changing objects with the real kubectl against a real `kite server`:
 * client-side and server-side apply (three-way strategic merge, managed
 * fields, field-manager conflicts), diff, server dry-run, the three patch
 * types, replace, edit, label/annotate and the scale subresource.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { KiteServer } from './harness.js';

let server: KiteServer;

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
});

after(async () => {
  await server?.cleanup();
});

/** A temp file removed after the run. */
const file = (name: string, content: string): string => server.file(name, content);

/** Each test works in its own namespace. */
const namespace = (name: string): Promise<void> => server.namespace(name);

/** The live object as JSON (managed fields included when asked). */
async function live(ns: string, what: string, managed = false): Promise<any> {
  const args = ['get', what, '-n', ns, '-o', 'json'];
  if (managed) args.push('--show-managed-fields');
  return JSON.parse(await server.k(args));
}

/**
 * A Deployment manifest. Its pods select a node label no node has, so a
 * deployment controller (if one runs) never gets anything scheduled.
 */
function deployment(ns: string, name: string, o: { replicas?: number; image?: string; env?: Record<string, string> } = {}): string {
  const env = Object.entries(o.env ?? { A: '1', B: '2' })
    .map(([k, v]) => `        - {name: ${k}, value: "${v}"}\n`)
    .join('');
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${name}}
spec:
  replicas: ${o.replicas ?? 1}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      nodeSelector: {kite.test/unschedulable: "true"}
      containers:
      - name: c
        image: ${o.image ?? 'nginx:1.25'}
        env:
${env}`;
}

test('client-side apply creates, then reports an unchanged manifest as unchanged without writing', async () => {
  const ns = 'ap-create';
  await namespace(ns);
  const cm = file('cm.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: ${ns}}\ndata: {a: "1"}\n`);
  assert.equal(await server.k(['apply', '-f', cm]), 'configmap/settings created\n');
  const first = await live(ns, 'configmap/settings');
  // kubectl records what it applied for the next three-way merge.
  const lastApplied = JSON.parse(first.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  assert.deepEqual(lastApplied.data, { a: '1' });

  assert.equal(await server.k(['apply', '-f', cm]), 'configmap/settings unchanged\n');
  const second = await live(ns, 'configmap/settings');
  assert.equal(second.metadata.resourceVersion, first.metadata.resourceVersion, 'an unchanged apply must not write');

  const d = file('d.yaml', deployment(ns, 'web'));
  assert.equal(await server.k(['apply', '-f', d]), 'deployment.apps/web created\n');
  assert.equal(await server.k(['apply', '-f', d]), 'deployment.apps/web unchanged\n');
});

test('re-applying an edited manifest changes the image and removes a dropped env var, keeping fields others set', async () => {
  const ns = 'ap-edit';
  await namespace(ns);
  await server.k(['apply', '-f', file('d.yaml', deployment(ns, 'web'))]);
  // A field set by someone else (not in the last-applied configuration) must survive the three-way merge.
  await server.k(['label', '-n', ns, 'deployment/web', 'team=ml']);
  const before = await live(ns, 'deployment/web');

  const out = await server.k(['apply', '-f', file('d2.yaml', deployment(ns, 'web', { image: 'nginx:1.26', env: { A: '1' } }))]);
  assert.equal(out, 'deployment.apps/web configured\n');
  const after = await live(ns, 'deployment/web');
  const c = after.spec.template.spec.containers;
  assert.equal(c.length, 1);
  assert.equal(c[0].image, 'nginx:1.26');
  assert.deepEqual(c[0].env, [{ name: 'A', value: '1' }]);
  // Server defaults on the container are untouched by the patch.
  assert.equal(c[0].terminationMessagePath, '/dev/termination-log');
  assert.equal(after.metadata.labels.team, 'ml');
  assert.equal(after.metadata.uid, before.metadata.uid);
  assert.equal(after.metadata.generation, before.metadata.generation + 1);
});

test('server-side apply records kubectl as an Apply manager in managedFields', async () => {
  const ns = 'ap-ssa';
  await namespace(ns);
  const out = await server.k(['apply', '--server-side', '-f', file('d.yaml', deployment(ns, 'web', { replicas: 2 }))]);
  assert.equal(out, 'deployment.apps/web serverside-applied\n');

  // Managed fields are hidden by default and shown with --show-managed-fields.
  assert.equal((await live(ns, 'deployment/web')).metadata.managedFields, undefined);
  const obj = await live(ns, 'deployment/web', true);
  const apply = obj.metadata.managedFields.filter((m: any) => m.operation === 'Apply');
  assert.equal(apply.length, 1);
  assert.equal(apply[0].manager, 'kubectl');
  assert.equal(apply[0].apiVersion, 'apps/v1');
  assert.equal(apply[0].fieldsType, 'FieldsV1');
  const spec = apply[0].fieldsV1['f:spec'];
  assert.deepEqual(spec['f:replicas'], {});
  const container = spec['f:template']['f:spec']['f:containers']['k:{"name":"c"}'];
  assert.ok(container['f:image'], 'the applied container image is owned by kubectl');
  assert.ok(container['f:env']['k:{"name":"B"}'], 'list items are keyed by their merge key');
  // Defaults the server filled in are not owned by the applier.
  assert.equal(spec['f:revisionHistoryLimit'], undefined);
  assert.equal(obj.spec.replicas, 2);

  // Server-side apply without the field removes it when kubectl was its only owner.
  await server.k(['apply', '--server-side', '-f', file('d2.yaml', deployment(ns, 'web', { replicas: 2, env: { A: '1' } }))]);
  assert.deepEqual((await live(ns, 'deployment/web')).spec.template.spec.containers[0].env, [{ name: 'A', value: '1' }]);
});

test('server-side apply of a field another manager owns conflicts until --force-conflicts moves ownership', async () => {
  const ns = 'ap-conflict';
  await namespace(ns);
  await server.k(['create', '-f', file('d.yaml', deployment(ns, 'web', { replicas: 1 }))]);
  const changed = file('d2.yaml', deployment(ns, 'web', { replicas: 3 }));

  const r = await server.kubectl(['apply', '--server-side', '-f', changed]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.ok(
    r.stderr.startsWith('error: Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.replicas\n'),
    r.stderr,
  );
  // kubectl adds its hint when the server answers 409 Conflict.
  assert.match(r.stderr, /Please review the fields above--they currently have other managers\./);
  assert.match(r.stderr, /re-run the apply\n {2}command with the `--force-conflicts` flag\./);
  assert.equal((await live(ns, 'deployment/web')).spec.replicas, 1, 'a conflicting apply changes nothing');

  assert.equal(await server.k(['apply', '--server-side', '--force-conflicts', '-f', changed]), 'deployment.apps/web serverside-applied\n');
  const obj = await live(ns, 'deployment/web', true);
  assert.equal(obj.spec.replicas, 3);
  const byManager = (m: string) => obj.metadata.managedFields.find((f: any) => f.manager === m);
  assert.deepEqual(byManager('kubectl').fieldsV1['f:spec']['f:replicas'], {});
  assert.equal(byManager('kubectl').operation, 'Apply');
  const creator = byManager('kubectl-create');
  assert.equal(creator.operation, 'Update');
  assert.equal(creator.fieldsV1['f:spec']['f:replicas'], undefined, 'kubectl-create no longer owns .spec.replicas');
  assert.ok(creator.fieldsV1['f:spec']['f:strategy'], 'kubectl-create keeps the fields nobody took');

  // Now kubectl owns replicas: a further change applies without conflict.
  await server.k(['apply', '--server-side', '-f', file('d3.yaml', deployment(ns, 'web', { replicas: 4 }))]);
  assert.equal((await live(ns, 'deployment/web')).spec.replicas, 4);
});

test('kubectl diff exits 0 with no output when nothing changes and 1 with a unified diff when it does', async () => {
  const ns = 'ap-diff';
  await namespace(ns);
  const d = file('d.yaml', deployment(ns, 'web'));
  await server.k(['apply', '-f', d]);

  const same = await server.kubectl(['diff', '-f', d]);
  assert.equal(same.code, 0, same.stderr);
  assert.equal(same.stdout, '');

  const changed = await server.kubectl(['diff', '-f', file('d2.yaml', deployment(ns, 'web', { image: 'nginx:1.27' }))]);
  assert.equal(changed.code, 1, changed.stderr);
  assert.match(changed.stdout, /^diff -u -N \S+\/apps\.v1\.Deployment\.ap-diff\.web \S+\/apps\.v1\.Deployment\.ap-diff\.web$/m);
  assert.match(changed.stdout, /^-\s+image: nginx:1\.25$/m);
  assert.match(changed.stdout, /^\+\s+image: nginx:1\.27$/m);
  // The server-side dry run behind diff bumps generation in the merged view only.
  assert.match(changed.stdout, /^-\s+generation: 1$/m);
  assert.match(changed.stdout, /^\+\s+generation: 2$/m);
  const obj = await live(ns, 'deployment/web');
  assert.equal(obj.spec.template.spec.containers[0].image, 'nginx:1.25', 'diff must not change the live object');
  assert.equal(obj.metadata.generation, 1);
});

test('--dry-run=server for create, apply and delete shows the server result and stores nothing', async () => {
  const ns = 'ap-dry';
  await namespace(ns);
  const d = file('d.yaml', deployment(ns, 'web'));

  const created = await server.kubectl(['create', '--dry-run=server', '-f', d, '-o', 'yaml']);
  assert.equal(created.code, 0, created.stderr);
  // Defaults filled in by the server are visible in the dry-run output.
  assert.match(created.stdout, /^ {2}progressDeadlineSeconds: 600$/m);
  assert.match(created.stdout, /^ {2}revisionHistoryLimit: 10$/m);
  assert.match(created.stdout, /^ {6}maxSurge: 25%$/m);
  assert.match(created.stdout, /^ {8}imagePullPolicy: IfNotPresent$/m);
  assert.match(created.stdout, /^ {2}uid: [0-9a-f-]{36}$/m);
  const gone = await server.kubectl(['get', 'deployment/web', '-n', ns]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /deployments\.apps "web" not found/);

  assert.equal(await server.k(['apply', '--dry-run=server', '-f', d]), 'deployment.apps/web created (server dry run)\n');
  assert.equal((await server.kubectl(['get', 'deployment/web', '-n', ns])).code, 1, 'a dry-run apply stores nothing');

  await server.k(['apply', '-f', d]);
  const rv = (await live(ns, 'deployment/web')).metadata.resourceVersion;
  const applied = await server.k(['apply', '--dry-run=server', '-f', file('d2.yaml', deployment(ns, 'web', { replicas: 7 })), '-o', 'yaml']);
  assert.match(applied, /^ {2}replicas: 7$/m);
  let obj = await live(ns, 'deployment/web');
  assert.equal(obj.spec.replicas, 1);
  assert.equal(obj.metadata.resourceVersion, rv);

  assert.equal(await server.k(['delete', '--dry-run=server', '-n', ns, 'deployment/web']), 'deployment.apps "web" deleted (server dry run)\n');
  obj = await live(ns, 'deployment/web');
  assert.equal(obj.metadata.resourceVersion, rv, 'a dry-run delete leaves the object in place');
  assert.equal(obj.metadata.deletionTimestamp, undefined);
});

test('patch --type strategic merges lists by key, merge replaces them, json applies operations', async () => {
  const ns = 'ap-patch';
  await namespace(ns);
  await server.k(['apply', '-f', file('d.yaml', deployment(ns, 'web'))]);

  // Strategic (the default): containers merge by name, so env survives.
  const sp = await server.k(['patch', '-n', ns, 'deployment/web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}}}']);
  assert.equal(sp, 'deployment.apps/web patched\n');
  let c = (await live(ns, 'deployment/web')).spec.template.spec.containers;
  assert.equal(c[0].image, 'busybox:1.36');
  assert.deepEqual(c[0].env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);

  // Strategic $patch: delete directive on a keyed list item.
  await server.k(['patch', '-n', ns, 'deployment/web', '--type', 'strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","$patch":"delete"}]}]}}}}']);
  c = (await live(ns, 'deployment/web')).spec.template.spec.containers;
  assert.deepEqual(c[0].env, [{ name: 'A', value: '1' }]);

  // Merge patch: a list is replaced whole (the container loses env and its defaults are filled again).
  await server.k(['patch', '-n', ns, 'deployment/web', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"fe"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}']);
  let obj = await live(ns, 'deployment/web');
  assert.equal(obj.metadata.labels.tier, 'fe');
  c = obj.spec.template.spec.containers;
  assert.equal(c.length, 1);
  assert.equal(c[0].image, 'nginx:1.27');
  assert.equal(c[0].env, undefined);
  assert.equal(c[0].imagePullPolicy, 'IfNotPresent');
  // Merge patch null removes a key.
  await server.k(['patch', '-n', ns, 'deployment/web', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":null}}}']);
  assert.equal((await live(ns, 'deployment/web')).metadata.labels.tier, undefined);

  // JSON patch: operations with JSON-pointer escaping (~1 for '/').
  await server.k([
    'patch', '-n', ns, 'deployment/web', '--type', 'json',
    '-p', '[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/annotations","value":{"example.com/owner":"ml"}}]',
  ]);
  await server.k(['patch', '-n', ns, 'deployment/web', '--type', 'json', '-p', '[{"op":"replace","path":"/metadata/annotations/example.com~1owner","value":"infra"}]']);
  obj = await live(ns, 'deployment/web');
  assert.equal(obj.spec.replicas, 4);
  assert.equal(obj.metadata.annotations['example.com/owner'], 'infra');

  // A failing test operation rejects the whole patch.
  const rv = obj.metadata.resourceVersion;
  const r = await server.kubectl(['patch', '-n', ns, 'deployment/web', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/replicas","value":9},{"op":"test","path":"/spec/replicas","value":1}]']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^(Error from server|The request is invalid)/);
  obj = await live(ns, 'deployment/web');
  assert.equal(obj.spec.replicas, 4);
  assert.equal(obj.metadata.resourceVersion, rv);

  // A patch that changes nothing is reported as such and writes nothing.
  assert.equal(await server.k(['patch', '-n', ns, 'deployment/web', '--type', 'merge', '-p', '{"spec":{"replicas":4}}']), 'deployment.apps/web patched (no change)\n');
  assert.equal((await live(ns, 'deployment/web')).metadata.resourceVersion, rv);
});

test('replace -f swaps the object, and a stale resourceVersion is a Conflict', async () => {
  const ns = 'ap-replace';
  await namespace(ns);
  await server.k(['create', '-f', file('d.yaml', deployment(ns, 'web'))]);
  const obj = await live(ns, 'deployment/web');
  obj.spec.replicas = 6;
  obj.metadata.labels = { app: 'web', replaced: 'yes' };
  const f = file('r.json', JSON.stringify(obj));
  assert.equal(await server.k(['replace', '-f', f]), 'deployment.apps/web replaced\n');
  const now = await live(ns, 'deployment/web');
  assert.equal(now.spec.replicas, 6);
  assert.deepEqual(now.metadata.labels, { app: 'web', replaced: 'yes' });
  assert.equal(now.metadata.uid, obj.metadata.uid);

  // The file still carries the old resourceVersion.
  const r = await server.kubectl(['replace', '-f', f]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /Error from server \(Conflict\): error when replacing "\S+r\.json": Operation cannot be fulfilled on deployments\.apps "web": the object has been modified; please apply your changes to the latest version and try again/,
  );

  // Without a resourceVersion, replace is unconditional.
  delete obj.metadata.resourceVersion;
  obj.spec.replicas = 2;
  await server.k(['replace', '-f', file('r2.json', JSON.stringify(obj))]);
  assert.equal((await live(ns, 'deployment/web')).spec.replicas, 2);
});

test('kubectl edit applies what the editor changed', async () => {
  const ns = 'ap-edit-cmd';
  await namespace(ns);
  await server.k(['create', '-f', file('d.yaml', deployment(ns, 'web'))]);
  const editor = file('editor.sh', `#!/bin/sh\nsed -i 's/^  replicas: 1$/  replicas: 3/' "$1"\n`);
  chmodSync(editor, 0o755);
  const r = await server.kubectl(['edit', '-n', ns, 'deployment/web'], { env: { KUBE_EDITOR: editor, EDITOR: editor } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'deployment.apps/web edited\n');
  const obj = await live(ns, 'deployment/web');
  assert.equal(obj.spec.replicas, 3);
  assert.equal(obj.metadata.generation, 2);

  // An editor that changes nothing cancels the edit.
  const noop = file('noop.sh', '#!/bin/sh\nexit 0\n');
  chmodSync(noop, 0o755);
  const r2 = await server.kubectl(['edit', '-n', ns, 'deployment/web'], { env: { KUBE_EDITOR: noop, EDITOR: noop } });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /Edit cancelled, no changes made\./);
  assert.equal((await live(ns, 'deployment/web')).metadata.resourceVersion, obj.metadata.resourceVersion);
});

test('label and annotate add, refuse to overwrite without --overwrite, overwrite, and remove with key-', async () => {
  const ns = 'ap-label';
  await namespace(ns);
  await server.k(['create', '-f', file('cm.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: ${ns}}\n`)]);

  assert.equal(await server.k(['label', '-n', ns, 'configmap/cfg', 'tier=fe']), 'configmap/cfg labeled\n');
  const refused = await server.kubectl(['label', '-n', ns, 'configmap/cfg', 'tier=be']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, "error: 'tier' already has a value (fe), and --overwrite is false\n");
  assert.equal((await live(ns, 'configmap/cfg')).metadata.labels.tier, 'fe');
  await server.k(['label', '-n', ns, 'configmap/cfg', 'tier=be', '--overwrite']);
  assert.deepEqual((await live(ns, 'configmap/cfg')).metadata.labels, { tier: 'be' });
  // Label selectors see the new value.
  assert.equal(await server.k(['get', 'configmaps', '-n', ns, '-l', 'tier=be', '-o', 'name']), 'configmap/cfg\n');
  assert.equal(await server.k(['label', '-n', ns, 'configmap/cfg', 'tier-']), 'configmap/cfg unlabeled\n');
  assert.equal((await live(ns, 'configmap/cfg')).metadata.labels, undefined);

  assert.equal(await server.k(['annotate', '-n', ns, 'configmap/cfg', 'example.com/note=first']), 'configmap/cfg annotated\n');
  const refusedA = await server.kubectl(['annotate', '-n', ns, 'configmap/cfg', 'example.com/note=second']);
  assert.equal(refusedA.code, 1);
  assert.match(refusedA.stderr, /--overwrite is false but found the following declared annotation\(s\): 'example.com\/note' already has a value \(first\)/);
  await server.k(['annotate', '-n', ns, 'configmap/cfg', 'example.com/note=second', '--overwrite']);
  assert.equal((await live(ns, 'configmap/cfg')).metadata.annotations['example.com/note'], 'second');
  await server.k(['annotate', '-n', ns, 'configmap/cfg', 'example.com/note-']);
  assert.equal((await live(ns, 'configmap/cfg')).metadata.annotations?.['example.com/note'], undefined);

  // Invalid label values are rejected by the server's validation.
  const bad = await server.kubectl(['label', '-n', ns, 'configmap/cfg', 'x=has space']);
  assert.equal(bad.code, 1);
});

test('scale writes spec.replicas through the scale subresource and bumps generation', async () => {
  const ns = 'ap-scale';
  await namespace(ns);
  await server.k(['create', '-f', file('d.yaml', deployment(ns, 'web'))]);
  const before = await live(ns, 'deployment/web');
  assert.equal(await server.k(['scale', '-n', ns, 'deployment/web', '--replicas=5']), 'deployment.apps/web scaled\n');
  const after = await live(ns, 'deployment/web');
  assert.equal(after.spec.replicas, 5);
  assert.equal(after.metadata.generation, before.metadata.generation + 1);

  const scale = JSON.parse(await server.k(['get', '--raw', `/apis/apps/v1/namespaces/${ns}/deployments/web/scale`]));
  assert.equal(scale.kind, 'Scale');
  assert.equal(scale.apiVersion, 'autoscaling/v1');
  assert.equal(scale.spec.replicas, 5);
  assert.equal(scale.metadata.uid, before.metadata.uid);
  assert.equal(scale.status.selector, 'app=web');
});

test('scale --current-replicas refuses when the current count differs', async () => {
  const ns = 'ap-scale-pre';
  await namespace(ns);
  await server.k(['create', '-f', file('d.yaml', deployment(ns, 'web', { replicas: 2 }))]);
  const r = await server.kubectl(['scale', '-n', ns, 'deployment/web', '--current-replicas=3', '--replicas=5']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: Expected replicas to be 3, was 2\n');
  assert.equal((await live(ns, 'deployment/web')).spec.replicas, 2);

  assert.equal(await server.k(['scale', '-n', ns, 'deployment/web', '--current-replicas=2', '--replicas=5']), 'deployment.apps/web scaled\n');
  assert.equal((await live(ns, 'deployment/web')).spec.replicas, 5);
});
