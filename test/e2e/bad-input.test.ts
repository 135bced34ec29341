/**
 * What a user sees when they send something wrong: kubectl's message (or the
 * raw Status for bodies kubectl would never send), that nothing was stored,
 * and that the server keeps answering afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { KiteServer } from './harness.js';
import { apiClient, type ApiClient } from './apiclient.js';

const NS = 'bad';
let server: KiteServer;
let api: ApiClient;

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  api = apiClient(server.kubeconfig);
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
});

after(async () => {
  await server?.cleanup();
});

/** A temp file removed after the run. */
const file = (name: string, content: string): string => server.file(name, content);

/** Asserts that `kubectl get` finds no such object, and that the server still answers. */
async function assertNotStored(resource: string, name: string, ns: string = NS): Promise<void> {
  const r = await server.kubectl(['get', resource, name, '-n', ns, '-o', 'name']);
  assert.equal(r.code, 1, `${resource}/${name} should not exist:\n${r.stdout}`);
  assert.match(r.stderr, /Error from server \(NotFound\): .* not found/);
  await assertServing();
}

/** The server still serves reads after a rejected request. */
async function assertServing(): Promise<void> {
  assert.equal(await server.k(['get', '--raw', '/readyz']), 'ok');
  assert.equal(await server.k(['get', 'namespace', NS, '-o', 'jsonpath={.status.phase}']), 'Active');
}

/** Runs `kubectl create -f -` on a manifest and expects it to fail. */
async function createFails(manifest: unknown, extraArgs: string[] = []): Promise<string> {
  const r = await server.kubectl(['create', '-f', '-', ...extraArgs], { input: typeof manifest === 'string' ? manifest : JSON.stringify(manifest) });
  assert.equal(r.code, 1, `create should have failed:\n${r.stdout}`);
  return r.stderr;
}

/** The fields of a Status body, asserting it is one. */
function status(body: string): { message: string; reason: string; code: number; details?: any } {
  const s = JSON.parse(body);
  assert.equal(s.kind, 'Status');
  assert.equal(s.apiVersion, 'v1');
  assert.equal(s.status, 'Failure');
  return s;
}

const deployment = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    ...spec,
  },
});

test('malformed JSON and YAML bodies get a 400 BadRequest Status', async () => {
  const path = `/api/v1/namespaces/${NS}/configmaps`;
  const json = await api.request('POST', path, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"half"');
  assert.equal(json.status, 400);
  assert.match(String(json.headers['content-type']), /^application\/json/);
  const js = status(json.body);
  assert.equal(js.reason, 'BadRequest');
  assert.equal(js.code, 400);
  assert.match(js.message, /^the object provided is unrecognized \(must be of type ConfigMap\): couldn't get version\/kind; json parse error: /);

  const yaml = await api.request('POST', path, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [half\n', { 'Content-Type': 'application/yaml' });
  assert.equal(yaml.status, 400);
  const ys = status(yaml.body);
  assert.equal(ys.reason, 'BadRequest');
  assert.match(ys.message, /must be of type ConfigMap/);

  // kubectl itself refuses to send unparsable YAML.
  const local = await server.kubectl(['create', '-f', '-'], { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [half\n' });
  assert.equal(local.code, 1);
  assert.match(local.stderr, /^error: error parsing STDIN: error converting YAML to JSON: yaml: /);

  await assertNotStored('configmap', 'half');
});

test('a body whose kind or version does not match the URL is a 400', async () => {
  const wrongKind = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'wrong-kind' } });
  assert.equal(wrongKind.status, 400);
  const k = status(wrongKind.body);
  assert.equal(k.reason, 'BadRequest');
  assert.match(k.message, /Secret/);
  assert.match(k.message, /ConfigMap/);
  await assertNotStored('configmap', 'wrong-kind');
  await assertNotStored('secret', 'wrong-kind');

  const wrongVersion = await api.request('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wrong-version' } });
  assert.equal(wrongVersion.status, 400);
  assert.equal(status(wrongVersion.body).message, 'the API version in the data (v1) does not match the expected API version (apps/v1)');
  await assertNotStored('deployment', 'wrong-version');
  await assertNotStored('configmap', 'wrong-version');
});

test('an invalid name is rejected with the RFC 1123 message', async () => {
  const err = await createFails({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name', namespace: NS } });
  assert.equal(
    err.trim(),
    `The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  );
  // The raw Status carries the cause with its field path.
  const raw = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' } });
  assert.equal(raw.status, 422);
  const s = status(raw.body);
  assert.equal(s.reason, 'Invalid');
  assert.deepEqual(s.details.causes.map((c: any) => [c.reason, c.field]), [['FieldValueInvalid', 'metadata.name']]);
  assert.equal(s.details.kind, 'ConfigMap');
  assert.equal(s.details.name, 'Bad_Name');
  const all = await server.kubectl(['get', 'configmaps', '-n', NS, '-o', 'name']);
  assert.doesNotMatch(all.stdout, /Bad_Name/);
  await assertServing();
});

test('a Pod with no containers is invalid', async () => {
  const err = await createFails({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'empty', namespace: NS }, spec: { containers: [] } });
  assert.equal(err.trim(), 'The Pod "empty" is invalid: spec.containers: Required value');
  await assertNotStored('pod', 'empty');
});

test('a probe on a plain init container is Forbidden, with the upstream message and field', async () => {
  const pod = (name: string, init: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      initContainers: [{ name: 'setup', image: 'busybox', command: ['true'], ...init }],
      containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
    },
  });
  const probe = { exec: { command: ['true'] } };
  const err = await createFails(pod('init-probe', { livenessProbe: probe }));
  assert.equal(err.trim(), 'The Pod "init-probe" is invalid: spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always');
  await assertNotStored('pod', 'init-probe');

  const raw = await api.request('POST', `/api/v1/namespaces/${NS}/pods`, pod('init-probe', { livenessProbe: probe }));
  assert.equal(raw.status, 422);
  const s = status(raw.body);
  assert.equal(s.reason, 'Invalid');
  assert.deepEqual(s.details.causes, [
    { reason: 'FieldValueForbidden', message: 'Forbidden: may not be set for init containers without restartPolicy=Always', field: 'spec.initContainers[0].livenessProbe' },
  ]);

  // The same probe on a sidecar (restartPolicy: Always) is accepted.
  await server.k(['create', '-f', '-'], JSON.stringify(pod('sidecar-probe', { restartPolicy: 'Always', livenessProbe: probe })));
  assert.equal(await server.k(['get', 'pod', 'sidecar-probe', '-n', NS, '-o', 'jsonpath={.spec.initContainers[0].livenessProbe.exec.command[0]}']), 'true');
  await assertServing();
});

test('out-of-range values are invalid', async () => {
  const replicas = await createFails(deployment('negative', { replicas: -1 }));
  assert.equal(replicas.trim(), 'The Deployment "negative" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
  await assertNotStored('deployment', 'negative');

  const port = await createFails({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'bigport', namespace: NS }, spec: { ports: [{ port: 70000 }] } });
  assert.match(port, /^The Service "bigport" is invalid: /);
  assert.match(port, /spec\.ports\[0\]\.port: Invalid value: 70000: must be between 1 and 65535, inclusive/);
  await assertNotStored('service', 'bigport');
});

test('unknown fields: strict by default, a warning with fieldValidation=Warn', async () => {
  // kubectl's default --validate=strict asks the server for fieldValidation=Strict.
  const strict = await createFails(deployment('unknown', { foo: 1 }));
  assert.equal(strict.trim(), 'Error from server (BadRequest): error when creating "STDIN": strict decoding error: unknown field "spec.foo"');
  await assertNotStored('deployment', 'unknown');

  const warn = await server.kubectl(['create', '-f', '-', '--validate=warn'], { input: JSON.stringify(deployment('unknown', { foo: 1 })) });
  assert.equal(warn.code, 0, warn.stderr);
  assert.equal(warn.stdout, 'deployment.apps/unknown created\n');
  assert.match(warn.stderr, /^Warning: unknown field "spec\.foo"$/m);
  const stored = JSON.parse(await server.k(['get', 'deployment', 'unknown', '-n', NS, '-o', 'json']));
  assert.equal(stored.spec.foo, undefined, 'the unknown field is dropped');
  assert.equal(stored.spec.template.spec.containers[0].image, 'nginx');

  // The raw request shows the Warning header.
  const raw = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps?fieldValidation=Warn`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'warned' }, foo: 1 });
  assert.equal(raw.status, 201);
  assert.match(String(raw.headers.warning), /^299 - "unknown field \\"foo\\""$/);
  const rawStrict = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps?fieldValidation=Strict`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'strict' }, foo: 1 });
  assert.equal(rawStrict.status, 400);
  assert.equal(status(rawStrict.body).message, 'strict decoding error: unknown field "foo"');
  await assertNotStored('configmap', 'strict');
});

test('changing an immutable field is refused and the stored object is unchanged', async () => {
  await server.k(['create', '-f', '-'], JSON.stringify(deployment('fixed')));
  const r = await server.kubectl(['patch', 'deployment', 'fixed', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { selector: { matchLabels: { app: 'other' } }, template: { metadata: { labels: { app: 'other' } } } } })]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^The Deployment "fixed" is invalid: spec\.selector: Invalid value: .*: field is immutable$/m);
  assert.equal(await server.k(['get', 'deployment', 'fixed', '-n', NS, '-o', 'jsonpath={.spec.selector.matchLabels.app} {.spec.template.metadata.labels.app}']), 'fixed fixed');

  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'frozen', namespace: NS }, immutable: true, data: { a: '1' } }));
  const cm = await server.kubectl(['patch', 'cm', 'frozen', '-n', NS, '--type=merge', '-p', '{"data":{"a":"2"}}']);
  assert.equal(cm.code, 1);
  assert.equal(cm.stderr.trim(), 'The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set');
  assert.equal(await server.k(['get', 'cm', 'frozen', '-n', NS, '-o', 'jsonpath={.data.a}']), '1');
  await assertServing();
});

test('replace with a stale resourceVersion is a Conflict', async () => {
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'raced', namespace: NS }, data: { v: 'first' } }));
  const old = JSON.parse(await server.k(['get', 'cm', 'raced', '-n', NS, '-o', 'json']));
  // Someone else writes in between.
  await server.k(['patch', 'cm', 'raced', '-n', NS, '--type=merge', '-p', '{"data":{"v":"second"}}']);
  old.data.v = 'mine';
  const staleFile = file('raced.json', JSON.stringify(old));
  const r = await server.kubectl(['replace', '-f', staleFile]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trim(),
    `Error from server (Conflict): error when replacing "${staleFile}": Operation cannot be fulfilled on configmaps "raced": the object has been modified; please apply your changes to the latest version and try again`,
  );
  assert.equal(await server.k(['get', 'cm', 'raced', '-n', NS, '-o', 'jsonpath={.data.v}']), 'second');

  // With the current resourceVersion the same replace succeeds.
  old.metadata.resourceVersion = await server.k(['get', 'cm', 'raced', '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}']);
  writeFileSync(staleFile, JSON.stringify(old));
  assert.equal(await server.k(['replace', '-f', staleFile]), 'configmap/raced replaced\n');
  assert.equal(await server.k(['get', 'cm', 'raced', '-n', NS, '-o', 'jsonpath={.data.v}']), 'mine');
});

test('a body over 3 MiB is refused with 413', async () => {
  const big = 'a'.repeat(3 * 1024 * 1024 + 16);
  const raw = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'huge' }, data: { a: big } });
  assert.equal(raw.status, 413);
  const s = status(raw.body);
  assert.equal(s.reason, 'RequestEntityTooLarge');
  assert.equal(s.code, 413);
  assert.equal(s.message, 'Request entity too large: limit is 3145728');
  await assertNotStored('configmap', 'huge');

  const fourMiB = file('payload.txt', 'b'.repeat(4 * 1024 * 1024));
  const r = await server.kubectl(['create', 'configmap', 'huge', '-n', NS, `--from-file=${fourMiB}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), 'error: failed to create configmap: Request entity too large: limit is 3145728');
  await assertNotStored('configmap', 'huge');
});

test('an object in a namespace that does not exist is NotFound', async () => {
  const err = await createFails({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lost', namespace: 'nope' } });
  assert.equal(err.trim(), 'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found');
  const gen = await server.kubectl(['create', 'configmap', 'lost', '-n', 'nope', '--from-literal=a=1']);
  assert.equal(gen.code, 1);
  assert.equal(gen.stderr.trim(), 'error: failed to create configmap: namespaces "nope" not found');
  // The namespace is not created on the side.
  const ns = await server.kubectl(['get', 'namespace', 'nope']);
  assert.match(ns.stderr, /Error from server \(NotFound\): namespaces "nope" not found/);
  await assertServing();
});

test('a CronJob with an invalid schedule is invalid', async () => {
  const cronJob = (name: string, schedule: string) => ({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: { schedule, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
  });
  const fields = await createFails(cronJob('fields', 'not a cron'));
  assert.equal(fields.trim(), 'The CronJob "fields" is invalid: spec.schedule: Invalid value: "not a cron": expected exactly 5 fields, found 3: [not a cron]');
  await assertNotStored('cronjob', 'fields');

  const range = await createFails(cronJob('range', '61 * * * *'));
  assert.match(range, /^The CronJob "range" is invalid: spec\.schedule: Invalid value: "61 \* \* \* \*": /);
  await assertNotStored('cronjob', 'range');
});

test('creating an object twice is AlreadyExists and keeps the first', async () => {
  const cm = (v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice', namespace: NS }, data: { v } });
  await server.k(['create', '-f', '-'], JSON.stringify(cm('first')));
  const err = await createFails(cm('second'));
  assert.equal(err.trim(), 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "twice" already exists');
  assert.equal(await server.k(['get', 'cm', 'twice', '-n', NS, '-o', 'jsonpath={.data.v}']), 'first');

  const raw = await api.request('POST', `/api/v1/namespaces/${NS}/configmaps`, cm('third'));
  assert.equal(raw.status, 409);
  const s = status(raw.body);
  assert.equal(s.reason, 'AlreadyExists');
  assert.deepEqual(s.details, { name: 'twice', kind: 'configmaps' });
  await assertServing();
});
