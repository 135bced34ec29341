/**
 * The everyday kubectl verbs against a real `kite server` (sqlite): discovery,
 * server-side tables and output formats, selectors and paging, describe,
 * explain, create (files and generators), delete, wait and auth.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

/** The lines of kubectl's table output. */
function lines(out: string): string[] {
  return out.split('\n').filter((l) => l.trim() !== '');
}

/** The column names of a table header; kubectl separates columns by at least three spaces. */
function columns(header: string): string[] {
  return header.trim().split(/ {3,}/);
}

/** The cells of a table row. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

const deploymentYaml = (ns: string, name: string, replicas = 2) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`;

test('kubectl version prints the server version', async () => {
  const out = await server.k(['version']);
  assert.match(out, /^Client Version: v1\.32/m);
  assert.match(out, /^Server Version: v1\.32\.\d+/m);
});

test('api-resources lists short names, groups and namespacing', async () => {
  const out = await server.k(['api-resources']);
  const row = (name: string) => lines(out).find((l) => l.startsWith(name + ' '));
  assert.match(row('deployments') ?? '', /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/);
  assert.match(row('pods') ?? '', /^pods\s+po\s+v1\s+true\s+Pod$/);
  assert.match(row('services') ?? '', /^services\s+svc\s+v1\s+true\s+Service$/);
  assert.match(row('namespaces') ?? '', /^namespaces\s+ns\s+v1\s+false\s+Namespace$/);
  assert.match(row('cronjobs') ?? '', /^cronjobs\s+cj\s+batch\/v1\s+true\s+CronJob$/);

  const apps = lines(await server.k(['api-resources', '--api-group=apps', '--no-headers']));
  const names = apps.map((l) => l.split(/\s+/)[0]).sort();
  assert.deepEqual(names, ['controllerrevisions', 'daemonsets', 'deployments', 'replicasets', 'statefulsets']);
  for (const l of apps) assert.match(l, /\sapps\/v1\s/);

  // Short names resolve for get.
  assert.match(await server.k(['get', 'ns', 'default', '-o', 'name']), /^namespace\/default$/m);
});

test('api-versions includes the core and named group versions', async () => {
  const versions = lines(await server.k(['api-versions']));
  for (const v of ['v1', 'apps/v1', 'batch/v1', 'rbac.authorization.k8s.io/v1', 'apiextensions.k8s.io/v1']) assert.ok(versions.includes(v), `${v} missing from ${versions.join(',')}`);
});

test('get all uses the "all" category: workloads and services, not configmaps', async () => {
  const ns = 'cat-all';
  await namespace(ns);
  await server.k(['create', '-f', '-'], deploymentYaml(ns, 'web'));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } }));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { a: '1' } }));
  const out = await server.k(['get', 'all', '-n', ns]);
  assert.match(out, /^service\/web\s+ClusterIP\s/m);
  assert.match(out, /^deployment\.apps\/web\s+\d\/2\s/m);
  assert.doesNotMatch(out, /configmap/);
  // The categories themselves are in discovery.
  const cat = await server.k(['api-resources', '--categories=all', '-o', 'name']);
  for (const r of ['pods', 'services', 'deployments.apps', 'replicasets.apps', 'statefulsets.apps', 'daemonsets.apps', 'jobs.batch', 'cronjobs.batch']) assert.ok(lines(cat).includes(r), `${r} not in category all: ${cat}`);
  assert.ok(!lines(cat).includes('configmaps'));
});

test('get prints the upstream server-side table columns, and -o wide adds more', async () => {
  const ns = 'tables';
  await namespace(ns);
  await server.k(['create', '-f', '-'], deploymentYaml(ns, 'web', 3));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: ns }, data: { a: '1', b: '2' } }));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec', namespace: ns }, stringData: { pw: 'x' }, data: { user: Buffer.from('me').toString('base64') } }));

  const deploy = lines(await server.k(['get', 'deployments', '-n', ns]));
  assert.deepEqual(columns(deploy[0]), ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
  assert.equal(deploy.length, 2);
  assert.equal(cells(deploy[1])[0], 'web');
  assert.match(cells(deploy[1])[1], /^\d+\/3$/);
  const deployWide = lines(await server.k(['get', 'deployments', '-n', ns, '-o', 'wide']));
  assert.deepEqual(columns(deployWide[0]), ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
  assert.deepEqual(cells(deployWide[1]).slice(5), ['nginx', 'nginx:1.27', 'app=web']);

  const svc = lines(await server.k(['get', 'services', '-n', ns]));
  assert.deepEqual(columns(svc[0]), ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
  const svcRow = cells(svc[1]);
  assert.equal(svcRow[0], 'web');
  assert.equal(svcRow[1], 'ClusterIP');
  assert.match(svcRow[2], /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/, 'cluster IP from 10.96.0.0/12');
  assert.deepEqual(svcRow.slice(3, 5), ['<none>', '80/TCP']);
  const svcWide = lines(await server.k(['get', 'services', '-n', ns, '-o', 'wide']));
  assert.deepEqual(columns(svcWide[0]), ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
  assert.equal(cells(svcWide[1])[6], 'app=web');

  const cm = lines(await server.k(['get', 'configmaps', 'cfg', '-n', ns]));
  assert.deepEqual(columns(cm[0]), ['NAME', 'DATA', 'AGE']);
  assert.deepEqual(cells(cm[1]).slice(0, 2), ['cfg', '2']);

  const nsTable = lines(await server.k(['get', 'namespaces', ns]));
  assert.deepEqual(columns(nsTable[0]), ['NAME', 'STATUS', 'AGE']);
  assert.deepEqual(cells(nsTable[1]).slice(0, 2), [ns, 'Active']);

  // stringData is merged into data on write, so the secret holds two keys.
  const sec = lines(await server.k(['get', 'secrets', 'sec', '-n', ns]));
  assert.deepEqual(columns(sec[0]), ['NAME', 'TYPE', 'DATA', 'AGE']);
  assert.deepEqual(cells(sec[1]).slice(0, 3), ['sec', 'Opaque', '2']);
  const stored = JSON.parse(await server.k(['get', 'secret', 'sec', '-n', ns, '-o', 'json']));
  assert.equal(Buffer.from(stored.data.pw, 'base64').toString(), 'x');
  assert.equal(stored.stringData, undefined);
});

test('get -o yaml|json|name|jsonpath|custom-columns', async () => {
  const ns = 'formats';
  await namespace(ns);
  await server.k(['create', '-f', '-'], deploymentYaml(ns, 'api', 4));

  const yaml = await server.k(['get', 'deploy', 'api', '-n', ns, '-o', 'yaml']);
  assert.match(yaml, /^apiVersion: apps\/v1$/m);
  assert.match(yaml, /^kind: Deployment$/m);
  assert.match(yaml, /^  replicas: 4$/m);
  assert.match(yaml, /^  resourceVersion: "\d+"$/m);

  const json = JSON.parse(await server.k(['get', 'deploy', 'api', '-n', ns, '-o', 'json']));
  assert.equal(json.kind, 'Deployment');
  assert.equal(json.metadata.namespace, ns);
  assert.match(json.metadata.uid, /^[0-9a-f-]{36}$/);
  assert.equal(json.spec.template.spec.containers[0].image, 'nginx:1.27');
  // Defaults applied by the server.
  assert.equal(json.spec.strategy.type, 'RollingUpdate');
  assert.equal(json.spec.template.spec.restartPolicy, 'Always');

  const list = JSON.parse(await server.k(['get', 'deploy', '-n', ns, '-o', 'json']));
  assert.equal(list.kind, 'List');
  assert.equal(list.items.length, 1);

  assert.equal(await server.k(['get', 'deploy', '-n', ns, '-o', 'name']), 'deployment.apps/api\n');
  assert.equal(await server.k(['get', 'deploy', 'api', '-n', ns, '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].name}']), '4 nginx');
  assert.equal(await server.k(['get', 'deploy', '-n', ns, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.selector.matchLabels.app}{"\\n"}{end}']), 'api=api\n');
  const cc = lines(await server.k(['get', 'deploy', '-n', ns, '-o', 'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,IMAGE:.spec.template.spec.containers[*].image']));
  assert.deepEqual(cc.map((l) => l.split(/\s+/)), [
    ['NAME', 'REPLICAS', 'IMAGE'],
    ['api', '4', 'nginx:1.27'],
  ]);
});

test('selectors, -A, --show-labels, --sort-by and --chunk-size', async () => {
  const ns = 'select';
  await namespace(ns);
  // Created out of name order; ranks are the reverse of name order.
  const names = ['cm-c', 'cm-a', 'cm-e', 'cm-b', 'cm-d'];
  const items = names.map((name) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns, labels: { tier: name <= 'cm-b' ? 'front' : 'back', rank: String(10 - names.slice().sort().indexOf(name)) } },
    data: { k: name },
  }));
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));

  const front = lines(await server.k(['get', 'cm', '-n', ns, '-l', 'tier=front', '-o', 'name']));
  assert.deepEqual(front.sort(), ['configmap/cm-a', 'configmap/cm-b']);
  const notFront = lines(await server.k(['get', 'cm', '-n', ns, '-l', 'tier!=front,tier', '-o', 'name']));
  assert.deepEqual(notFront.sort(), ['configmap/cm-c', 'configmap/cm-d', 'configmap/cm-e']);
  const setBased = lines(await server.k(['get', 'cm', '-n', ns, '-l', 'rank in (10,9)', '-o', 'name']));
  assert.deepEqual(setBased.sort(), ['configmap/cm-a', 'configmap/cm-b']);

  assert.equal(await server.k(['get', 'cm', '-n', ns, '--field-selector', 'metadata.name=cm-d', '-o', 'name']), 'configmap/cm-d\n');
  const none = await server.kubectl(['get', 'cm', '-n', ns, '--field-selector', 'metadata.name=zzz']);
  assert.equal(none.code, 0);
  assert.match(none.stderr, /No resources found in select namespace\./);

  // -A adds the NAMESPACE column and lists across namespaces.
  const all = lines(await server.k(['get', 'cm', '-A', '-l', 'tier=front']));
  assert.deepEqual(columns(all[0]), ['NAMESPACE', 'NAME', 'DATA', 'AGE']);
  assert.deepEqual(all.slice(1).map((l) => cells(l).slice(0, 2)), [
    [ns, 'cm-a'],
    [ns, 'cm-b'],
  ]);
  const allNs = lines(await server.k(['get', 'ns', '-A', '-o', 'name']));
  assert.ok(allNs.includes('namespace/kube-system') && allNs.includes(`namespace/${ns}`));

  const labelled = lines(await server.k(['get', 'cm', 'cm-a', '-n', ns, '--show-labels']));
  assert.deepEqual(columns(labelled[0]), ['NAME', 'DATA', 'AGE', 'LABELS']);
  assert.equal(cells(labelled[1])[3], 'rank=10,tier=front');

  const byName = lines(await server.k(['get', 'cm', '-n', ns, '-l', 'tier', '--sort-by=.metadata.name', '--no-headers'])).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(byName, ['cm-a', 'cm-b', 'cm-c', 'cm-d', 'cm-e']);
  // A sort key that disagrees with name order shows the sort really happens client-side on the data.
  const byRank = lines(await server.k(['get', 'cm', '-n', ns, '-l', 'tier', '--sort-by=.metadata.labels.rank', '--no-headers'])).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(byRank, ['cm-e', 'cm-d', 'cm-c', 'cm-b', 'cm-a']);

  // Paged list: limit=2 and continue tokens, every object listed once.
  const paged = await server.kubectl(['get', 'cm', '-n', ns, '-l', 'tier', '--chunk-size=2', '-o', 'name', '-v=6']);
  assert.equal(paged.code, 0, paged.stderr);
  assert.deepEqual(lines(paged.stdout), ['configmap/cm-a', 'configmap/cm-b', 'configmap/cm-c', 'configmap/cm-d', 'configmap/cm-e']);
  const requests = paged.stderr.split('\n').filter((l) => /GET https:\/\/\S+\/api\/v1\/namespaces\/select\/configmaps\?/.test(l));
  assert.equal(requests.length, 3, requests.join('\n'));
  assert.equal(requests.filter((l) => /[?&]continue=/.test(l)).length, 2);
});

test('describe shows the deployment and namespace sections', async () => {
  const ns = 'describe';
  await namespace(ns);
  await server.k(['create', '-f', '-'], deploymentYaml(ns, 'web', 2));
  const d = await server.k(['describe', 'deployment', 'web', '-n', ns]);
  assert.match(d, /^Name:\s+web$/m);
  assert.match(d, /^Namespace:\s+describe$/m);
  assert.match(d, /^Labels:\s+app=web$/m);
  assert.match(d, /^Selector:\s+app=web$/m);
  assert.match(d, /^Replicas:\s+2 desired \| \d+ updated \| \d+ total \| \d+ available \| \d+ unavailable$/m);
  assert.match(d, /^StrategyType:\s+RollingUpdate$/m);
  assert.match(d, /^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$/m);
  assert.match(d, /^Pod Template:$/m);
  assert.match(d, /^ {3}nginx:\n {4}Image:\s+nginx:1\.27$/m);
  assert.match(d, /^Events:/m);

  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q', namespace: ns }, spec: { hard: { pods: '10' } } }));
  const n = await server.k(['describe', 'namespace', ns]);
  assert.match(n, /^Name:\s+describe$/m);
  assert.match(n, /^Labels:\s+kubernetes\.io\/metadata\.name=describe$/m);
  assert.match(n, /^Status:\s+Active$/m);
  // The rows come from the quota's status (filled by a quota controller), the header always shows.
  assert.match(n, /^Resource Quotas\n\s+Name:\s+q\n\s+Resource\s+Used\s+Hard\n\s+-+\s+-+\s+-+$/m);
  assert.match(n, /^No LimitRange resource\.$/m);
});

test('explain shows field names and types from the OpenAPI schema', async () => {
  const r = await server.k(['explain', 'deployment.spec.replicas']);
  assert.match(r, /^GROUP:\s+apps$/m);
  assert.match(r, /^KIND:\s+Deployment$/m);
  assert.match(r, /^VERSION:\s+v1$/m);
  assert.match(r, /^FIELD: replicas <integer>$/m);

  const c = await server.k(['explain', 'pods.spec.containers']);
  assert.match(c, /^KIND:\s+Pod$/m);
  assert.match(c, /^FIELD: containers <\[\]Container>$/m);
  assert.match(c, /^ {2}name\t<string> -required-$/m);
  assert.match(c, /^ {2}image\t<string>$/m);
  assert.match(c, /^ {2}ports\t<\[\]ContainerPort>$/m);
  assert.match(c, /^ {2}resources\t<ResourceRequirements>$/m);

  const bad = await server.kubectl(['explain', 'deployment.spec.nosuchfield']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /field "nosuchfield" does not exist/);
});

test('create -f with a file, a multi-document file and a kind: List', async () => {
  const ns = 'create-f';
  await namespace(ns);
  const single = file('cm.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: single\n  namespace: ${ns}\ndata:\n  k: v\n`);
  assert.equal(await server.k(['create', '-f', single]), 'configmap/single created\n');

  const multi = file(
    'multi.yaml',
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m1, namespace: ${ns}}\n---\n${deploymentYaml(ns, 'm2')}---\napiVersion: v1\nkind: Service\nmetadata: {name: m3, namespace: ${ns}}\nspec:\n  ports: [{port: 8080}]\n`,
  );
  assert.deepEqual(lines(await server.k(['create', '-f', multi])), ['configmap/m1 created', 'deployment.apps/m2 created', 'service/m3 created']);

  const listFile = file(
    'list.json',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l1', namespace: ns } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'l2', namespace: ns } },
      ],
    }),
  );
  assert.deepEqual(lines(await server.k(['create', '-f', listFile])), ['configmap/l1 created', 'serviceaccount/l2 created']);

  const got = lines(await server.k(['get', 'configmaps,deployments,services,serviceaccounts', '-n', ns, '-o', 'name']));
  for (const n of ['configmap/single', 'configmap/m1', 'deployment.apps/m2', 'service/m3', 'configmap/l1', 'serviceaccount/l2']) assert.ok(got.includes(n), `${n} not in ${got.join(',')}`);
  assert.equal(await server.k(['get', 'cm', 'single', '-n', ns, '-o', 'jsonpath={.data.k}']), 'v');
});

test('create generators make objects that get then shows', async () => {
  const ns = 'generators';
  const created = async (args: string[], expect: string) => {
    const out = await server.k(['create', ...args]);
    assert.equal(out.trim(), expect);
  };
  await created(['namespace', ns], `namespace/${ns} created`);
  const inNs = ['-n', ns];
  await created(['configmap', 'cfg', '--from-literal=a=1', '--from-literal=b=2', ...inNs], 'configmap/cfg created');
  await created(['secret', 'generic', 'sec', '--from-literal=pw=hunter2', ...inNs], 'secret/sec created');
  await created(['deployment', 'web', '--image=nginx:1.27', '--replicas=2', ...inNs], 'deployment.apps/web created');
  await created(['job', 'once', '--image=busybox', ...inNs, '--', 'true'], 'job.batch/once created');
  await created(['cronjob', 'nightly', '--image=busybox', '--schedule=0 3 * * *', ...inNs, '--', 'true'], 'cronjob.batch/nightly created');
  await created(['service', 'clusterip', 'web', '--tcp=80:8080', ...inNs], 'service/web created');
  await created(['serviceaccount', 'robot', ...inNs], 'serviceaccount/robot created');
  await created(['role', 'reader', '--verb=get,list', '--resource=pods', ...inNs], 'role.rbac.authorization.k8s.io/reader created');
  await created(['rolebinding', 'read', '--role=reader', '--serviceaccount=generators:robot', ...inNs], 'rolebinding.rbac.authorization.k8s.io/read created');
  await created(['quota', 'q', '--hard=pods=10,cpu=4', ...inNs], 'resourcequota/q created');

  assert.equal(await server.k(['get', 'namespace', ns, '-o', 'jsonpath={.status.phase}']), 'Active');
  assert.equal(await server.k(['get', 'cm', 'cfg', ...inNs, '-o', 'jsonpath={.data.a}{.data.b}']), '12');
  assert.equal(Buffer.from(await server.k(['get', 'secret', 'sec', ...inNs, '-o', 'jsonpath={.data.pw}']), 'base64').toString(), 'hunter2');
  assert.equal(await server.k(['get', 'deploy', 'web', ...inNs, '-o', 'jsonpath={.spec.replicas} {.spec.selector.matchLabels.app}']), '2 web');
  assert.equal(await server.k(['get', 'job', 'once', ...inNs, '-o', 'jsonpath={.spec.template.spec.containers[0].command}']), '["true"]');
  assert.equal(await server.k(['get', 'cronjob', 'nightly', ...inNs, '-o', 'jsonpath={.spec.schedule}']), '0 3 * * *');
  assert.equal(await server.k(['get', 'svc', 'web', ...inNs, '-o', 'jsonpath={.spec.ports[0].port}/{.spec.ports[0].targetPort} {.spec.type}']), '80/8080 ClusterIP');
  assert.equal(await server.k(['get', 'sa', 'robot', ...inNs, '-o', 'name']), 'serviceaccount/robot\n');
  assert.equal(await server.k(['get', 'role', 'reader', ...inNs, '-o', 'jsonpath={.rules[0].verbs}']), '["get","list"]');
  assert.equal(await server.k(['get', 'rolebinding', 'read', ...inNs, '-o', 'jsonpath={.roleRef.name} {.subjects[0].kind}/{.subjects[0].name}']), 'reader ServiceAccount/robot');
  assert.equal(await server.k(['get', 'quota', 'q', ...inNs, '-o', 'jsonpath={.spec.hard.pods}']), '10');
});

test('delete by name, by label, --all and --wait', async () => {
  const ns = 'deleting';
  await namespace(ns);
  const cm = (name: string, labels: Record<string, string> = {}, finalizers?: string[]) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels, finalizers } });
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [cm('one'), cm('two', { group: 'x' }), cm('three', { group: 'x' }), cm('four'), cm('five')] }));
  const names = async () => lines(await server.k(['get', 'cm', '-n', ns, '-o', 'name']));

  assert.equal(await server.k(['delete', 'cm', 'one', '-n', ns]), 'configmap "one" deleted\n');
  assert.deepEqual((await names()).sort(), ['configmap/five', 'configmap/four', 'configmap/three', 'configmap/two']);
  const missing = await server.kubectl(['delete', 'cm', 'one', '-n', ns]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Error from server \(NotFound\): configmaps "one" not found/);

  assert.deepEqual(lines(await server.k(['delete', 'cm', '-l', 'group=x', '-n', ns])).sort(), ['configmap "three" deleted', 'configmap "two" deleted']);
  assert.deepEqual((await names()).sort(), ['configmap/five', 'configmap/four']);

  await server.k(['delete', 'cm', '--all', '-n', ns]);
  const empty = await server.kubectl(['get', 'cm', '-n', ns]);
  assert.match(empty.stderr, /No resources found in deleting namespace\./);

  // A finalizer holds the object: --wait=false returns at once and leaves it terminating,
  // a waiting delete times out while the finalizer is there, and once it is removed the
  // object goes away (which `kubectl wait --for=delete` observes).
  await server.k(['create', '-f', '-'], JSON.stringify(cm('held', {}, ['example.com/hold'])));
  assert.equal(await server.k(['delete', 'cm', 'held', '-n', ns, '--wait=false']), 'configmap "held" deleted\n');
  assert.match(await server.k(['get', 'cm', 'held', '-n', ns, '-o', 'jsonpath={.metadata.deletionTimestamp}']), /^\d{4}-\d\d-\d\dT/);
  const timedOut = await server.kubectl(['delete', 'cm', 'held', '-n', ns, '--wait=true', '--timeout=1s']);
  assert.notEqual(timedOut.code, 0);
  assert.match(timedOut.stderr, /timed out waiting for the condition on configmaps\/held/);
  const waiting = server.kubectl(['wait', '--for=delete', 'cm/held', '-n', ns, '--timeout=30s']);
  await server.k(['patch', 'cm', 'held', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  const done = await waiting;
  assert.equal(done.code, 0, done.stderr);
  const gone = await server.kubectl(['get', 'cm', 'held', '-n', ns]);
  assert.match(gone.stderr, /NotFound.*configmaps "held" not found/);
});

test('wait --for=jsonpath returns when the condition becomes true', async () => {
  const ns = 'waiting';
  await namespace(ns);
  await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flag', namespace: ns }, data: { phase: 'pending' } }));
  const waiting = server.kubectl(['wait', '--for=jsonpath={.data.phase}=done', 'cm/flag', '-n', ns, '--timeout=30s']);
  await server.k(['patch', 'cm', 'flag', '-n', ns, '--type=merge', '-p', '{"data":{"phase":"done"}}']);
  const r = await waiting;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'configmap/flag condition met\n');

  // A condition that never holds times out with kubectl's message.
  const never = await server.kubectl(['wait', '--for=jsonpath={.data.phase}=never', 'cm/flag', '-n', ns, '--timeout=1s']);
  assert.notEqual(never.code, 0);
  assert.match(never.stderr, /timed out waiting for the condition on configmaps\/flag/);
});

test('auth can-i answers yes for the admin user', async () => {
  assert.equal(await server.k(['auth', 'can-i', 'create', 'pods']), 'yes\n');
  assert.equal(await server.k(['auth', 'can-i', '*', '*', '--all-namespaces']), 'yes\n');
});

test('auth whoami shows the admin user and its groups', async () => {
  const who = lines(await server.k(['auth', 'whoami']));
  assert.deepEqual(columns(who[0]), ['ATTRIBUTE', 'VALUE']);
  assert.deepEqual(cells(who[1]), ['Username', 'kite-admin']);
  assert.match(who[2], /^Groups\s+\[.*system:masters.*system:authenticated.*\]$/);
});
