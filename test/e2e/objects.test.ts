/**
 * What every stored object carries, seen through the real kubectl against a
 * real `kite server`: identity and revision metadata, generation, upstream
 * defaults, generateName, finalizers and graceful deletion, the status
 * subresource, and namespace lifecycle rules.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually, run, KUBECTL } from './harness.js';

let server: KiteServer;

before(async () => {
  server = new KiteServer({ datastore: 'sqlite' });
  await server.start();
});

after(async () => {
  await server?.cleanup();
});

/** Each test works in its own namespace. */
const namespace = (name: string): Promise<void> => server.namespace(name);

/** Creates one object from JSON and returns what the server stored. */
async function create(obj: object): Promise<any> {
  return JSON.parse(await server.k(['create', '-f', '-', '-o', 'json'], JSON.stringify(obj)));
}

/** The live object as JSON. */
async function live(ns: string, what: string): Promise<any> {
  return JSON.parse(await server.k(['get', what, '-n', ns, '-o', 'json']));
}

/** A ConfigMap manifest. */
function configMap(ns: string, name: string, extra: Record<string, unknown> = {}): object {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, ...extra }, data: { a: '1' } };
}

/** Pods here select a node label no node has, so nothing ever runs them. */
const unschedulable = { 'kite.test/unschedulable': 'true' };

/** Dotted IPv4 → number. */
function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

test('objects get a uid, a creationTimestamp and a numeric resourceVersion', async () => {
  const ns = 'ob-meta';
  await namespace(ns);
  const t0 = Date.now();
  const a = await create(configMap(ns, 'a'));
  const b = await create(configMap(ns, 'b'));
  assert.match(a.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a.metadata.uid, b.metadata.uid);
  // RFC 3339 in UTC with second precision, as upstream's metav1.Time.
  assert.match(a.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const created = Date.parse(a.metadata.creationTimestamp);
  assert.ok(created >= Math.floor(t0 / 1000) * 1000 && created <= Date.now(), `creationTimestamp ${a.metadata.creationTimestamp} not within the test`);
  assert.match(a.metadata.resourceVersion, /^[1-9]\d*$/);

  // A client cannot set system fields: the server replaces them.
  const forged = await create(configMap(ns, 'forged', { uid: '00000000-0000-4000-8000-000000000000', creationTimestamp: '2000-01-01T00:00:00Z', resourceVersion: '' }));
  assert.notEqual(forged.metadata.uid, '00000000-0000-4000-8000-000000000000');
  assert.notEqual(forged.metadata.creationTimestamp, '2000-01-01T00:00:00Z');

  // uid and creationTimestamp survive updates; resourceVersion changes.
  await server.k(['label', '-n', ns, 'configmap/a', 'x=y']);
  const a2 = await live(ns, 'configmap/a');
  assert.equal(a2.metadata.uid, a.metadata.uid);
  assert.equal(a2.metadata.creationTimestamp, a.metadata.creationTimestamp);
  assert.notEqual(a2.metadata.resourceVersion, a.metadata.resourceVersion);
});

test('resourceVersion is one global revision that increases across kinds and namespaces', async () => {
  const ns = 'ob-rv';
  await namespace(ns);
  const rvs: number[] = [];
  rvs.push(Number((await create(configMap(ns, 'one'))).metadata.resourceVersion));
  rvs.push(Number((await create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: ns }, stringData: { k: 'v' } })).metadata.resourceVersion));
  rvs.push(Number((await create(configMap('default', 'ob-rv-elsewhere'))).metadata.resourceVersion));
  rvs.push(Number((await create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ob-rv-role' }, rules: [] })).metadata.resourceVersion));
  await server.k(['label', '-n', ns, 'configmap/one', 'x=y']);
  rvs.push(Number((await live(ns, 'configmap/one')).metadata.resourceVersion));
  for (let i = 1; i < rvs.length; i++) assert.ok(rvs[i] > rvs[i - 1], `resourceVersions not increasing: ${rvs.join(', ')}`);

  // A list carries the revision it was read at: at least the newest write.
  const list = JSON.parse(await server.k(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps`]));
  assert.equal(list.kind, 'ConfigMapList');
  assert.ok(Number(list.metadata.resourceVersion) >= rvs[rvs.length - 1], `list rv ${list.metadata.resourceVersion} < ${rvs[rvs.length - 1]}`);
  await server.k(['delete', 'clusterrole', 'ob-rv-role']);
});

test('generation counts spec changes only: labels and status leave it alone', async () => {
  const ns = 'ob-gen';
  await namespace(ns);
  const d = await create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: unschedulable, containers: [{ name: 'c', image: 'nginx:1.25' }] } },
    },
  });
  assert.equal(d.metadata.generation, 1);

  await server.k(['label', '-n', ns, 'deployment/web', 'tier=fe']);
  await server.k(['annotate', '-n', ns, 'deployment/web', 'note=x']);
  let obj = await live(ns, 'deployment/web');
  assert.equal(obj.metadata.labels.tier, 'fe');
  assert.equal(obj.metadata.generation, 1, 'metadata changes do not bump generation');

  await server.k(['patch', '-n', ns, 'deployment/web', '--subresource=status', '--type=merge', '-p', '{"status":{"observedGeneration":1,"replicas":0}}']);
  assert.equal((await live(ns, 'deployment/web')).metadata.generation, 1, 'status writes do not bump generation');

  await server.k(['set', 'image', '-n', ns, 'deployment/web', 'c=nginx:1.26']);
  obj = await live(ns, 'deployment/web');
  assert.equal(obj.metadata.generation, 2);
  await server.k(['patch', '-n', ns, 'deployment/web', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
  assert.equal((await live(ns, 'deployment/web')).metadata.generation, 3);

  // A client-supplied generation is ignored.
  await server.k(['patch', '-n', ns, 'deployment/web', '--type=merge', '-p', '{"metadata":{"generation":42}}']);
  assert.equal((await live(ns, 'deployment/web')).metadata.generation, 3);
});

test('Pods get upstream defaults, including the imagePullPolicy rules', async () => {
  const ns = 'ob-pod';
  await namespace(ns);
  const pod = await create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: ns },
    spec: {
      nodeSelector: unschedulable,
      containers: [
        { name: 'untagged', image: 'nginx' },
        { name: 'latest', image: 'nginx:latest' },
        { name: 'tagged', image: 'nginx:1.25' },
        { name: 'digest', image: 'nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31' },
        { name: 'explicit', image: 'nginx:latest', imagePullPolicy: 'Never' },
      ],
    },
  });
  const s = pod.spec;
  assert.equal(s.restartPolicy, 'Always');
  assert.equal(s.terminationGracePeriodSeconds, 30);
  assert.equal(s.dnsPolicy, 'ClusterFirst');
  assert.equal(s.schedulerName, 'default-scheduler');
  assert.equal(s.enableServiceLinks, true);
  assert.deepEqual(s.securityContext, {});
  const policy = Object.fromEntries(s.containers.map((c: any) => [c.name, c.imagePullPolicy]));
  assert.deepEqual(policy, { untagged: 'Always', latest: 'Always', tagged: 'IfNotPresent', digest: 'IfNotPresent', explicit: 'Never' });
  for (const c of s.containers) {
    assert.equal(c.terminationMessagePath, '/dev/termination-log');
    assert.equal(c.terminationMessagePolicy, 'File');
  }
  assert.equal(pod.status.phase, 'Pending');
  assert.equal(pod.status.qosClass, 'BestEffort');

  // The defaults are stored, so -o yaml shows them too.
  const yaml = await server.k(['get', 'pod/p', '-n', ns, '-o', 'yaml']);
  assert.match(yaml, /^ {2}restartPolicy: Always$/m);
  assert.match(yaml, /^ {2}terminationGracePeriodSeconds: 30$/m);
  assert.match(yaml, /^ {2}dnsPolicy: ClusterFirst$/m);
  assert.match(yaml, /^ {2}schedulerName: default-scheduler$/m);
});

test('Deployments and Jobs get upstream defaults', async () => {
  const ns = 'ob-workloads';
  await namespace(ns);
  const d = await create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: unschedulable, containers: [{ name: 'c', image: 'nginx:1.25' }] } } },
  });
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  // The pod template gets pod defaults too.
  assert.equal(d.spec.template.spec.restartPolicy, 'Always');
  assert.equal(d.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');

  const yaml = await server.k(['get', 'deployment/web', '-n', ns, '-o', 'yaml']);
  assert.match(yaml, /^ {6}maxSurge: 25%\n {6}maxUnavailable: 25%\n {4}type: RollingUpdate$/m);

  // Suspended, so a job controller (if one runs) creates no pods.
  const j = await create({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'train', namespace: ns },
    spec: { suspend: true, template: { spec: { restartPolicy: 'Never', nodeSelector: unschedulable, containers: [{ name: 'c', image: 'busybox' }] } } },
  });
  assert.equal(j.spec.backoffLimit, 6);
  assert.equal(j.spec.completions, 1);
  assert.equal(j.spec.parallelism, 1);
  assert.equal(j.spec.completionMode, 'NonIndexed');
  assert.equal(j.spec.podReplacementPolicy, 'TerminatingOrFailed');
  // The server generates the selector and the matching template labels from the uid.
  assert.deepEqual(j.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': j.metadata.uid } });
  assert.equal(j.spec.template.metadata.labels['batch.kubernetes.io/job-name'], 'train');
  assert.equal(j.spec.template.metadata.labels['batch.kubernetes.io/controller-uid'], j.metadata.uid);
});

test('Services get a ClusterIP from 10.96.0.0/12 and NodePorts from 30000-32767; kubernetes is at 10.96.0.1', async () => {
  const ns = 'ob-svc';
  await namespace(ns);
  const svc = await create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
  const s = svc.spec;
  assert.equal(s.type, 'ClusterIP');
  assert.equal(s.sessionAffinity, 'None');
  assert.equal(s.internalTrafficPolicy, 'Cluster');
  assert.deepEqual(s.ipFamilies, ['IPv4']);
  assert.equal(s.ipFamilyPolicy, 'SingleStack');
  assert.deepEqual(s.ports, [{ port: 80, protocol: 'TCP', targetPort: 80 }]);
  const ip = ipNumber(s.clusterIP);
  assert.ok(ip > ipNumber('10.96.0.1') && ip <= ipNumber('10.111.255.254'), `clusterIP ${s.clusterIP} outside 10.96.0.0/12`);
  assert.deepEqual(s.clusterIPs, [s.clusterIP]);

  const np = await create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'np', namespace: ns },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] },
  });
  const ports = np.spec.ports.map((p: any) => p.nodePort);
  for (const p of ports) assert.ok(Number.isInteger(p) && p >= 30000 && p <= 32767, `nodePort ${p} outside 30000-32767`);
  assert.notEqual(ports[0], ports[1]);
  assert.equal(np.spec.externalTrafficPolicy, 'Cluster');
  assert.notEqual(np.spec.clusterIP, s.clusterIP);

  // A requested IP that is already taken is refused with upstream's message.
  const taken = await server.kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dup', namespace: ns }, spec: { clusterIP: s.clusterIP, ports: [{ port: 80 }] } }),
  });
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, new RegExp(`spec\\.clusterIPs: Invalid value: \\[\\]string\\{"${s.clusterIP.replace(/\./g, '\\.')}"\\}: failed to allocate IP ${s.clusterIP.replace(/\./g, '\\.')}: provided IP is already allocated`));

  const k = await live('default', 'service/kubernetes');
  assert.equal(k.spec.clusterIP, '10.96.0.1');
  assert.equal(k.spec.type, 'ClusterIP');
  assert.equal(k.spec.ports[0].port, 443);
  assert.equal(k.spec.ports[0].name, 'https');
  assert.deepEqual(k.metadata.labels, { component: 'apiserver', provider: 'kubernetes' });
});

test('generateName gives the prefix plus five random characters', async () => {
  const ns = 'ob-genname';
  await namespace(ns);
  const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'run-', namespace: ns } });
  const names = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const out = await server.k(['create', '-f', '-'], manifest);
    const m = /^configmap\/(run-[a-z0-9]{5}) created\n$/.exec(out);
    assert.ok(m, `unexpected output ${JSON.stringify(out)}`);
    names.add(m[1]);
  }
  assert.equal(names.size, 3);
  for (const n of names) {
    const obj = await live(ns, `configmap/${n}`);
    assert.equal(obj.metadata.generateName, 'run-');
  }
  // apply needs a name: generateName alone is refused by kubectl.
  const r = await server.kubectl(['apply', '-f', '-'], { input: manifest });
  assert.equal(r.code, 1);
});

test('a finalizer holds a deleted object with a deletionTimestamp until it is removed', async () => {
  const ns = 'ob-fin';
  await namespace(ns);
  await create(configMap(ns, 'held', { finalizers: ['example.com/hold'] }));
  assert.equal(await server.k(['delete', '-n', ns, 'configmap/held', '--wait=false']), 'configmap "held" deleted\n');
  const held = await live(ns, 'configmap/held');
  assert.match(held.metadata.deletionTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(held.metadata.deletionGracePeriodSeconds, 0);
  assert.deepEqual(held.metadata.finalizers, ['example.com/hold']);

  // A deleting object cannot gain new finalizers, and its deletionTimestamp cannot be cleared.
  const add = await server.kubectl(['patch', '-n', ns, 'configmap/held', '--type=json', '-p', '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/other"}]']);
  assert.equal(add.code, 1);
  assert.match(add.stderr, /no new finalizers can be added if the object is being deleted/);

  assert.equal(await server.k(['patch', '-n', ns, 'configmap/held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']), 'configmap/held patched\n');
  const gone = await server.kubectl(['get', '-n', ns, 'configmap/held']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /configmaps "held" not found/);
});

test('kubectl delete --wait returns once a finalizer is removed in parallel', async () => {
  const ns = 'ob-fin-wait';
  await namespace(ns);
  await create(configMap(ns, 'held', { finalizers: ['example.com/hold'] }));
  let finished = false;
  const deleting = run(KUBECTL, ['delete', '-n', ns, 'configmap/held', '--wait=true', '--timeout=30s'], { env: { KUBECONFIG: server.kubeconfig } }).then((r) => {
    finished = true;
    return r;
  });
  await eventually(async () => (await live(ns, 'configmap/held')).metadata.deletionTimestamp, 10_000, 'deletionTimestamp');
  assert.equal(finished, false, 'delete --wait returned while the finalizer still held the object');
  await server.k(['patch', '-n', ns, 'configmap/held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers/0"}]']);
  const r = await deleting;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'configmap "held" deleted\n');
  assert.equal((await server.kubectl(['get', '-n', ns, 'configmap/held'])).code, 1);
});

test('status is written only through the status subresource', async () => {
  const ns = 'ob-status';
  await namespace(ns);
  // A LoadBalancer with a class no controller implements: nobody else writes its status.
  await create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'lb', namespace: ns },
    spec: { type: 'LoadBalancer', loadBalancerClass: 'example.com/none', ports: [{ port: 80 }] },
  });
  const status = '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}}';
  const before = await live(ns, 'service/lb');

  const main = await server.k(['patch', '-n', ns, 'service/lb', '--type=merge', '-p', status]);
  assert.equal(main, 'service/lb patched (no change)\n');
  let obj = await live(ns, 'service/lb');
  assert.equal(obj.status?.loadBalancer?.ingress, undefined);
  assert.equal(obj.metadata.resourceVersion, before.metadata.resourceVersion);

  assert.equal(await server.k(['patch', '-n', ns, 'service/lb', '--subresource=status', '--type=merge', '-p', status]), 'service/lb patched\n');
  obj = await live(ns, 'service/lb');
  assert.deepEqual(obj.status.loadBalancer.ingress, [{ ip: '192.0.2.10' }]);
  assert.match(await server.k(['get', '-n', ns, 'service/lb']), /\slb\s+LoadBalancer\s+\S+\s+192\.0\.2\.10\s+80:\d+\/TCP\s/);

  // And a spec change through /status is ignored.
  await server.k(['patch', '-n', ns, 'service/lb', '--subresource=status', '--type=merge', '-p', '{"spec":{"sessionAffinity":"ClientIP"}}']);
  assert.equal((await live(ns, 'service/lb')).spec.sessionAffinity, 'None');
});

test('the system namespaces exist at start', async () => {
  const out = await server.k(['get', 'namespaces', '-o', 'name']);
  for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(out, new RegExp(`^namespace/${n}$`, 'm'));
  const def = await live('', 'namespace/default');
  assert.equal(def.status.phase, 'Active');
  assert.deepEqual(def.spec, { finalizers: ['kubernetes'] });
  assert.equal(def.metadata.labels['kubernetes.io/metadata.name'], 'default');
});

test('creating in a missing namespace is NotFound; in a terminating one, Forbidden', async () => {
  const missing = await server.kubectl(['create', '-f', '-'], { input: JSON.stringify(configMap('ob-nowhere', 'a')) });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'Error from server (NotFound): error when creating "STDIN": namespaces "ob-nowhere" not found\n');

  const ns = 'ob-term';
  await namespace(ns);
  // Content with a finalizer keeps the namespace Terminating while the test runs.
  await create(configMap(ns, 'keep', { finalizers: ['example.com/hold'] }));
  assert.equal(await server.k(['delete', 'namespace', ns, '--wait=false']), `namespace "${ns}" deleted\n`);
  const nsObj = await live('', `namespace/${ns}`);
  assert.equal(nsObj.status.phase, 'Terminating');
  assert.ok(nsObj.metadata.deletionTimestamp);
  assert.match(await server.k(['get', 'namespace', ns, '--no-headers']), new RegExp(`^${ns}\\s+Terminating\\s`));

  const refused = await server.kubectl(['create', '-f', '-'], { input: JSON.stringify(configMap(ns, 'late')) });
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `Error from server (Forbidden): error when creating "STDIN": configmaps "late" is forbidden: unable to create new content in namespace ${ns} because it is being terminated\n`,
  );
  // Existing content can still be changed (that is how finalizers get removed).
  await server.k(['patch', '-n', ns, 'configmap/keep', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
  // With its content gone, the namespace controller finalizes the namespace.
  const waited = await server.kubectl(['wait', '--for=delete', `namespace/${ns}`, '--timeout=30s']);
  assert.equal(waited.code, 0, waited.stderr);
});

test('resourceVersion keeps increasing across a server restart on the same data dir', async () => {
  const ns = 'ob-restart';
  await namespace(ns);
  const before = await create(configMap(ns, 'before'));
  const rvBefore = Number(before.metadata.resourceVersion);

  assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
  // A second server on the same data dir (the first one's `after` removes the dir).
  const again = new KiteServer({ datastore: 'sqlite', dataDir: server.dataDir });
  try {
    await again.start();
    const kept = JSON.parse(await again.k(['get', 'configmap/before', '-n', ns, '-o', 'json']));
    assert.equal(kept.metadata.uid, before.metadata.uid);
    assert.equal(kept.metadata.resourceVersion, before.metadata.resourceVersion);
    const after = JSON.parse(await again.k(['create', '-f', '-', '-o', 'json'], JSON.stringify(configMap(ns, 'after'))));
    assert.ok(Number(after.metadata.resourceVersion) > rvBefore, `rv ${after.metadata.resourceVersion} after restart is not above ${rvBefore}`);
    // The kubernetes service keeps its address.
    const k = JSON.parse(await again.k(['get', 'service/kubernetes', '-n', 'default', '-o', 'json']));
    assert.equal(k.spec.clusterIP, '10.96.0.1');
  } finally {
    await again.stop();
  }
});
