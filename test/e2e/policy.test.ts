/**
 * Policy on a real `kite server`, driven by the real kubectl: ResourceQuota
 * and LimitRange admission and PriorityClasses on a control plane alone;
 * then, with the node agent, `kubectl drain` blocked and then allowed by a
 * PodDisruptionBudget, and a high-priority pod preempting a low-priority one
 * on a node that is full.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

/** The non-empty lines of an output, right-trimmed. */
function lines(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

/** A pod manifest that sleeps (command and resources as given). */
function podYaml(name: string, extra: { spec?: string; resources?: string; labels?: string } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${extra.labels ? `  labels: ${extra.labels}\n` : ''}spec:
  terminationGracePeriodSeconds: 1
${extra.spec ?? ''}  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
${extra.resources ? `    resources: ${extra.resources}\n` : ''}`;
}

describe('admission on a control plane', () => {
  let server: KiteServer;

  before(async () => {
    // No node, no scheduler: only the controllers quota and budgets need.
    server = new KiteServer({ extraArgs: ['--controllers=namespace-controller,garbage-collector-controller,resourcequota-controller,disruption-controller'] });
    await server.start();
  });

  after(async () => {
    await server?.cleanup();
  });

  test('kubectl create past a ResourceQuota is refused with the upstream message; describe shows the usage', async () => {
    await server.namespace('quota');
    assert.equal(await server.k(['create', 'quota', 'q', '-n', 'quota', '--hard=pods=2,requests.cpu=1']), 'resourcequota/q created\n');
    // Admission refuses nothing it cannot account for: wait for the controller's first count.
    await eventually(async () => (await server.k(['get', 'quota', 'q', '-n', 'quota', '-o', 'jsonpath={.status.used.pods}'])) === '0', 10_000, 'the quota to be counted');
    for (const name of ['a', 'b']) await server.k(['create', '-n', 'quota', '-f', '-'], podYaml(name, { resources: '{requests: {cpu: 100m}}' }));
    const r = await server.kubectl(['create', '-n', 'quota', '-f', '-'], { input: podYaml('c', { resources: '{requests: {cpu: 100m}}' }) });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'Error from server (Forbidden): error when creating "STDIN": pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2',
    );
    const row = lines(await server.k(['get', 'quota', '-n', 'quota', '--no-headers']))[0]!;
    assert.match(row, /^q\s+(\S+\s+)?pods: 2\/2, requests\.cpu: 200m\/1(\s|$)/);
    const described = await server.k(['describe', 'quota', 'q', '-n', 'quota']);
    assert.match(described, /pods\s+2\s+2/);
    assert.match(described, /requests\.cpu\s+200m\s+1/);
    // A pod that does not say how much cpu it wants cannot be counted against requests.cpu.
    await server.k(['delete', 'pod', 'a', '-n', 'quota']);
    await eventually(async () => (await server.k(['get', 'quota', 'q', '-n', 'quota', '-o', 'jsonpath={.status.used.pods}'])) === '1', 10_000, 'the deleted pod to be given back');
    const bare = await server.kubectl(['create', '-n', 'quota', '-f', '-'], { input: podYaml('bare') });
    assert.equal(bare.stderr.trim(), 'Error from server (Forbidden): error when creating "STDIN": pods "bare" is forbidden: failed quota: q: must specify requests.cpu for: main');
  });

  test('LimitRange defaults appear in the created pod; its bounds refuse a pod with the upstream message', async () => {
    await server.namespace('limits');
    await server.k(
      ['create', '-n', 'limits', '-f', '-'],
      `apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 128Mi}
    defaultRequest: {cpu: 250m, memory: 64Mi}
    max: {cpu: "1"}
`,
    );
    await server.k(['create', '-n', 'limits', '-f', '-'], podYaml('defaulted'));
    const resources = JSON.parse(await server.k(['get', 'pod', 'defaulted', '-n', 'limits', '-o', 'jsonpath={.spec.containers[0].resources}']));
    assert.deepEqual(resources, { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } });
    assert.equal(
      await server.k(['get', 'pod', 'defaulted', '-n', 'limits', '-o', 'jsonpath={.metadata.annotations.kubernetes\\.io/limit-ranger}']),
      'LimitRanger plugin set: cpu, memory request for container main; cpu, memory limit for container main',
    );
    assert.equal(await server.k(['get', 'pod', 'defaulted', '-n', 'limits', '-o', 'jsonpath={.status.qosClass}']), 'Burstable');
    const r = await server.kubectl(['create', '-n', 'limits', '-f', '-'], { input: podYaml('greedy', { resources: '{limits: {cpu: "2"}}' }) });
    assert.equal(r.stderr.trim(), 'Error from server (Forbidden): error when creating "STDIN": pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2');
  });

  test('PriorityClasses: the system classes exist, a class becomes the pod priority, unknown classes are refused', async () => {
    const pcs = lines(await server.k(['get', 'priorityclasses', '--no-headers'])).map((l) => l.split(/\s+/).slice(0, 3).join(' '));
    assert.deepEqual(pcs, ['system-cluster-critical 2000000000 false', 'system-node-critical 2000001000 false']);
    assert.equal(await server.k(['create', 'priorityclass', 'batch', '--value=100', '--preemption-policy=Never']), 'priorityclass.scheduling.k8s.io/batch created\n');
    await server.namespace('prio');
    await server.k(['create', '-n', 'prio', '-f', '-'], podYaml('job', { spec: '  priorityClassName: batch\n' }));
    assert.equal(await server.k(['get', 'pod', 'job', '-n', 'prio', '-o', 'jsonpath={.spec.priority} {.spec.preemptionPolicy}']), '100 Never');
    const r = await server.kubectl(['create', '-n', 'prio', '-f', '-'], { input: podYaml('lost', { spec: '  priorityClassName: nope\n' }) });
    assert.equal(r.stderr.trim(), 'Error from server (Forbidden): error when creating "STDIN": pods "lost" is forbidden: no PriorityClass with name nope was found');
    const bad = await server.kubectl(['create', 'priorityclass', 'system-mine', '--value=5']);
    assert.match(bad.stderr, /metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only/);
  });
});

describe('disruption and preemption on a node', () => {
  let server: KiteServer;
  let node: string;

  before(async () => {
    server = new KiteServer({ agent: true });
    await server.start();
    node = await eventually(async () => {
      const out = await server.k(['get', 'nodes', '--no-headers']);
      return out.includes(' Ready ') ? out.split(/\s+/)[0] : undefined;
    }, 15_000, 'the node to be Ready');
  });

  after(async () => {
    await server?.cleanup();
  });

  test('kubectl drain is held by a PodDisruptionBudget, and goes through once the budget allows it', async () => {
    await server.namespace('drain');
    await server.k(['create', 'deployment', 'web', '-n', 'drain', '--image=busybox', '--', 'sleep', '3600']);
    await server.k(['rollout', 'status', 'deployment/web', '-n', 'drain', '--timeout=60s']);
    assert.equal(await server.k(['create', 'poddisruptionbudget', 'web', '-n', 'drain', '--selector=app=web', '--min-available=1']), 'poddisruptionbudget.policy/web created\n');
    await eventually(
      async () => (await server.k(['get', 'pdb', 'web', '-n', 'drain', '-o', 'jsonpath={.status.currentHealthy}/{.status.desiredHealthy}/{.status.disruptionsAllowed}'])) === '1/1/0',
      10_000,
      'the budget to be counted',
    );
    const [pdbRow] = lines(await server.k(['get', 'pdb', '-n', 'drain', '--no-headers']));
    assert.match(pdbRow!, /^web\s+1\s+N\/A\s+0\s+\S+$/);
    const pod = (await server.k(['get', 'pods', '-n', 'drain', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();

    const held = await server.kubectl(['drain', node, '--ignore-daemonsets', '--timeout=7s'], { timeoutMs: 30_000 });
    assert.notEqual(held.code, 0);
    assert.match(held.stdout, new RegExp(`node/${node} cordoned`));
    assert.ok(
      held.stderr.includes(`error when evicting pods/"${pod}" -n "drain" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.`),
      held.stderr,
    );
    assert.ok((await server.k(['get', 'pod', pod, '-n', 'drain', '-o', 'name'])).includes(pod), 'the pod is still there');
    assert.equal(await server.k(['get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}']), 'true');

    await server.k(['patch', 'pdb', 'web', '-n', 'drain', '--type=merge', '-p', '{"spec":{"minAvailable":0}}']);
    await eventually(async () => (await server.k(['get', 'pdb', 'web', '-n', 'drain', '-o', 'jsonpath={.status.disruptionsAllowed}'])) === '1', 10_000, 'the budget to allow one');
    const drained = await server.kubectl(['drain', node, '--ignore-daemonsets', '--timeout=60s'], { timeoutMs: 90_000 });
    assert.equal(drained.code, 0, drained.stderr);
    assert.ok(drained.stdout.includes(`evicting pod drain/${pod}`), drained.stdout);
    assert.ok(drained.stdout.includes(`pod/${pod} evicted`), drained.stdout);
    assert.ok(drained.stdout.includes(`node/${node} drained`), drained.stdout);
    // The replacement waits: the node is cordoned.
    const replacement = lines(await server.k(['get', 'pods', '-n', 'drain', '-l', 'app=web', '--no-headers']));
    assert.equal(replacement.length, 1);
    assert.match(replacement[0]!, /\s+Pending\s+/);
    await server.k(['delete', 'namespace', 'drain', '--wait=false']);
    await server.k(['uncordon', node]);
  });

  test('a high-priority pod preempts a low-priority pod on a full node, which then runs it', async () => {
    await server.namespace('prio');
    await server.k(['create', 'priorityclass', 'low', '--value=10']);
    await server.k(['create', 'priorityclass', 'high', '--value=1000']);
    // Each pod wants 60% of the node's cpu: two never fit together.
    const alloc = await server.k(['get', 'node', node, '-o', 'jsonpath={.status.allocatable.cpu}']);
    const milli = alloc.endsWith('m') ? Number(alloc.slice(0, -1)) : Number(alloc) * 1000;
    const request = `{requests: {cpu: ${Math.floor(milli * 0.6)}m}}`;
    await server.k(['create', '-n', 'prio', '-f', '-'], podYaml('batch', { spec: '  priorityClassName: low\n', resources: request }));
    await server.k(['wait', '--for=condition=Ready', 'pod/batch', '-n', 'prio', '--timeout=60s']);
    await server.k(['create', '-n', 'prio', '-f', '-'], podYaml('serve', { spec: '  priorityClassName: high\n', resources: request }));
    await server.k(['wait', '--for=condition=Ready', 'pod/serve', '-n', 'prio', '--timeout=60s']);
    assert.equal(await server.k(['get', 'pod', 'serve', '-n', 'prio', '-o', 'jsonpath={.spec.nodeName} {.status.nominatedNodeName}']), `${node} ${node}`);
    await eventually(async () => (await server.kubectl(['get', 'pod', 'batch', '-n', 'prio'])).code !== 0, 30_000, 'the victim to be gone');
    const uid = await server.k(['get', 'pod', 'serve', '-n', 'prio', '-o', 'jsonpath={.metadata.uid}']);
    const preempted = await server.k(['get', 'events', '-n', 'prio', '--field-selector', 'reason=Preempted', '-o', 'jsonpath={.items[*].message}']);
    assert.equal(preempted, `Preempted by pod ${uid} on node ${node}`);
    // A pod of the same low priority cannot preempt anything: it waits, and says why.
    await server.k(['create', '-n', 'prio', '-f', '-'], podYaml('batch-2', { spec: '  priorityClassName: low\n', resources: request }));
    const msg = '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.';
    await eventually(async () => (await server.k(['describe', 'pod', 'batch-2', '-n', 'prio'])).includes(msg), 15_000, 'the FailedScheduling event');
    await server.k(['delete', 'namespace', 'prio', '--wait=false']);
  });
});
