/**
 * CustomResourceDefinitions as the Kubernetes docs walk through them, with the
 * CronTab example: establishment and discovery, printer columns, defaulting,
 * pruning and strict field validation, schema errors, the status and scale
 * subresources, categories, `kubectl explain`, and deletion of the CRD's objects.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer } from './harness.js';
import { apiClient, type ApiClient } from './apiclient.js';

let server: KiteServer;
let api: ApiClient;
const NS = 'crd-e2e';

/** The CronTab CRD of the Kubernetes docs ("Extend the Kubernetes API with CustomResourceDefinitions"), with defaults and bounds. */
const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames:
    - ct
    categories:
    - all
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec:
                type: string
                pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'
                default: "5 0 * * *"
              image:
                type: string
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
          status:
            type: object
            properties:
              replicas:
                type: integer
              labelSelector:
                type: string
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - name: Spec
      type: string
      description: The cron spec defining the interval a CronJob is run
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      description: The number of jobs launched by the CronJob
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
`;

/** A CronTab manifest in the test namespace. */
function cronTab(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name, namespace: NS }, spec });
}

/** The stored CronTab as JSON. */
async function getCt(name: string): Promise<any> {
  return JSON.parse(await server.k(['get', 'crontab', name, '-n', NS, '-o', 'json']));
}

/** Applies the CRD and waits until it is established. */
async function installCrd(): Promise<void> {
  await server.k(['apply', '-f', '-'], CRD);
  await server.k(['wait', '--for', 'condition=established', '--timeout=10s', 'crd/crontabs.stable.example.com']);
}

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
  api = apiClient(server.kubeconfig);
  await server.k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
  await installCrd();
});

after(async () => {
  await server?.cleanup();
});

test('an established CRD is in kubectl api-resources right away, with its short name and categories', async () => {
  const crd = JSON.parse(await server.k(['get', 'crd', 'crontabs.stable.example.com', '-o', 'json']));
  const cond = (t: string) => crd.status.conditions.find((c: any) => c.type === t)?.status;
  assert.equal(cond('Established'), 'True');
  assert.equal(cond('NamesAccepted'), 'True');
  assert.deepEqual(crd.status.acceptedNames.shortNames, ['ct']);
  // The first discovery read after `kubectl wait` already lists it: no polling needed.
  const out = await server.k(['api-resources', '--api-group=stable.example.com']);
  assert.match(out, /^crontabs\s+ct\s+stable\.example\.com\/v1\s+true\s+CronTab$/m);
  const wide = await server.k(['api-resources', '--api-group=stable.example.com', '-o', 'wide']);
  assert.match(wide, /crontabs\s+ct\s+stable\.example\.com\/v1\s+true\s+CronTab\s+.*\ball\b/);
});

test('a CronTab gets its schema defaults and kubectl get ct shows the printer columns', async () => {
  await server.k(['apply', '-f', '-'], cronTab('defaults', { image: 'my-awesome-cron-image' }));
  const ct = await getCt('defaults');
  assert.equal(ct.spec.cronSpec, '5 0 * * *');
  assert.equal(ct.spec.replicas, 1);
  assert.equal(ct.spec.image, 'my-awesome-cron-image');
  const table = (await server.k(['get', 'ct', 'defaults', '-n', NS])).trimEnd().split('\n');
  assert.match(table[0], /^NAME\s+SPEC\s+REPLICAS\s+AGE$/);
  assert.match(table[1], /^defaults\s+5 0 \* \* \*\s+1\s+\d+s$/);
  // The full resource name prints the same columns.
  const noHeaders = await server.k(['get', 'crontabs.stable.example.com', '-n', NS, '--no-headers']);
  assert.match(noHeaders, /^defaults\s+5 0 \* \* \*\s+1\s+\d+s$/m);
});

test('unknown fields are pruned with --validate=false and rejected with strict validation', async () => {
  const withUnknown = cronTab('unknown', { cronSpec: '* * * * */5', image: 'img', someRandomField: 42 });
  await server.k(['apply', '--validate=false', '-f', '-'], withUnknown);
  const ct = await getCt('unknown');
  assert.equal(ct.spec.someRandomField, undefined, 'the unknown field was pruned');
  assert.equal(ct.spec.cronSpec, '* * * * */5');

  // The server's own strict field validation, as kubectl --validate=strict asks for it.
  const raw = await api.request('POST', `/apis/stable.example.com/v1/namespaces/${NS}/crontabs?fieldValidation=Strict`, JSON.parse(cronTab('strict-raw', { image: 'img', someRandomField: 42 })));
  assert.equal(raw.status, 400, raw.body);
  assert.equal(raw.json().reason, 'BadRequest');
  assert.match(raw.json().message, /strict decoding error: unknown field "spec\.someRandomField"/);

  const r = await server.kubectl(['create', '--validate=strict', '-f', '-'], { input: cronTab('strict', { image: 'img', someRandomField: 42 }) });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /strict decoding error: unknown field "spec\.someRandomField"/);
  const gone = await server.kubectl(['get', 'ct', 'strict', '-n', NS]);
  assert.match(gone.stderr, /NotFound|not found/);
});

test('a schema violation is refused with the upstream message', async () => {
  const r = await server.kubectl(['apply', '-f', '-'], { input: cronTab('toomany', { cronSpec: '* * * * *', image: 'img', replicas: 11 }) });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /The CronTab "toomany" is invalid: spec\.replicas: Invalid value: 11: spec\.replicas in body should be less than or equal to 10/);
  const bad = await server.kubectl(['apply', '-f', '-'], { input: cronTab('badspec', { cronSpec: 'every minute', image: 'img' }) });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /spec\.cronSpec: Invalid value: "every minute": spec\.cronSpec in body should match '\^\(\\d\+\|\\\*\)/);
});

test('the status subresource: main-resource writes leave status alone, --subresource=status changes it', async () => {
  await server.k(['apply', '-f', '-'], cronTab('st', { cronSpec: '* * * * *', image: 'img', replicas: 2 }));
  const before = await getCt('st');
  const main = await server.k(['patch', 'ct', 'st', '-n', NS, '--type=merge', '-p', '{"spec":{"image":"img2"},"status":{"replicas":7}}']);
  assert.match(main, /crontab\.stable\.example\.com\/st patched/);
  const afterMain = await getCt('st');
  assert.equal(afterMain.spec.image, 'img2');
  assert.equal(afterMain.status, undefined, 'status ignored on the main resource');
  assert.equal(afterMain.metadata.generation, before.metadata.generation + 1);

  await server.k(['patch', 'ct', 'st', '-n', NS, '--subresource=status', '--type=merge', '-p', '{"spec":{"image":"ignored"},"status":{"replicas":7}}']);
  const afterStatus = await getCt('st');
  assert.equal(afterStatus.status.replicas, 7);
  assert.equal(afterStatus.spec.image, 'img2', 'spec ignored on the status subresource');
  assert.equal(afterStatus.metadata.generation, afterMain.metadata.generation, 'a status write does not bump generation');
});

test('kubectl scale goes through the scale subresource', async () => {
  await server.k(['apply', '-f', '-'], cronTab('sc', { cronSpec: '* * * * *', image: 'img', replicas: 1 }));
  await server.k(['patch', 'ct', 'sc', '-n', NS, '--subresource=status', '--type=merge', '-p', '{"status":{"replicas":1,"labelSelector":"app=sc"}}']);
  const out = await server.k(['scale', 'ct', 'sc', '-n', NS, '--replicas=5']);
  assert.match(out, /crontab\.stable\.example\.com\/sc scaled/);
  assert.equal((await getCt('sc')).spec.replicas, 5);
  const scale = JSON.parse(await server.k(['get', '--raw', `/apis/stable.example.com/v1/namespaces/${NS}/crontabs/sc/scale`]));
  assert.equal(scale.kind, 'Scale');
  assert.equal(scale.apiVersion, 'autoscaling/v1');
  assert.deepEqual(scale.spec, { replicas: 5 });
  assert.deepEqual(scale.status, { replicas: 1, selector: 'app=sc' });
  // --current-replicas is a precondition checked against the scale subresource.
  const stale = await server.kubectl(['scale', 'ct', 'sc', '-n', NS, '--current-replicas=2', '--replicas=3']);
  assert.notEqual(stale.code, 0);
  assert.match(stale.stderr, /Expected replicas to be 2, was 5/);
  assert.equal((await getCt('sc')).spec.replicas, 5);
});

test('kubectl get all includes CronTabs (category all)', async () => {
  await server.k(['apply', '-f', '-'], cronTab('in-all', { image: 'img' }));
  const out = await server.k(['get', 'all', '-n', NS]);
  assert.match(out, /^crontab\.stable\.example\.com\/in-all\s+5 0 \* \* \*\s+1\s+\d+s$/m);
});

test('kubectl explain crontab.spec describes the schema', async () => {
  const out = await server.k(['explain', 'crontab.spec']);
  assert.match(out, /^GROUP:\s+stable\.example\.com$/m);
  assert.match(out, /^KIND:\s+CronTab$/m);
  assert.match(out, /^VERSION:\s+v1$/m);
  assert.match(out, /^FIELD: spec <Object>$/m);
  assert.match(out, /^\s+cronSpec\s+<string>$/m);
  assert.match(out, /^\s+image\s+<string>$/m);
  assert.match(out, /^\s+replicas\s+<integer>$/m);
});

// Last: removes the CRD.
test('deleting the CRD removes the resource and all its objects', async () => {
  await server.k(['apply', '-f', '-'], cronTab('doomed', { image: 'img' }));
  const out = await server.k(['delete', 'crd', 'crontabs.stable.example.com']);
  assert.match(out, /customresourcedefinition\.apiextensions\.k8s\.io "crontabs\.stable\.example\.com" deleted/);
  const r = await server.kubectl(['get', 'crontabs', '-n', NS]);
  assert.notEqual(r.code, 0);
  // Depending on kubectl's discovery cache: no such type, or the list answered 404.
  assert.match(r.stderr, /the server doesn't have a resource type "crontabs"|Unable to list "stable\.example\.com\/v1, Resource=crontabs": the server could not find the requested resource/);
  const raw = await api.request('GET', `/apis/stable.example.com/v1/namespaces/${NS}/crontabs`);
  assert.equal(raw.status, 404);
  // Recreating the CRD brings back an empty resource: the objects were deleted, not hidden.
  await installCrd();
  const again = await server.kubectl(['get', 'ct', '-A']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '');
  assert.match(again.stderr, /No resources found/);
});
