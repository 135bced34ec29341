/**
 * Queueing (Kueue's kueue.x-k8s.io/v1beta1 API) on a real node, driven by
 * the real kubectl: a ResourceFlavor, a ClusterQueue with 2 cpus of quota
 * and a LocalQueue; three 1-cpu Jobs submitted to the queue — two run, the
 * third stays suspended with the reason on its Workload and in events, and
 * runs once one of the others finishes. A Job without the queue label is
 * left alone. A PyTorchJob is admitted as one gang of all its replicas.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
let hostDir: string;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  hostDir = mkdtempSync(join(tmpdir(), 'kite-e2e-queueing-'));
});

after(async () => {
  // Let every job still waiting finish, so nothing of theirs outlives the test.
  if (hostDir) for (const n of ['a', 'b', 'c']) writeFileSync(join(hostDir, `done-${n}`), '');
  await server?.cleanup();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** A Job that requests 1 cpu and runs until the test writes its done-file. */
function jobYaml(name: string): string {
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}
  labels: {kueue.x-k8s.io/queue-name: user-queue}
spec:
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: host, hostPath: {path: ${hostDir}}}]
      containers:
      - name: main
        image: busybox
        command: [sh, -c, 'while [ ! -e /host/done-${name} ]; do sleep 0.1; done']
        volumeMounts: [{name: host, mountPath: /host}]
        resources: {requests: {cpu: "1"}}
`;
}

/** `name=suspend` for every Job. */
async function suspension(): Promise<Record<string, string>> {
  const out = await server.k(['get', 'jobs', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.suspend}{"\\n"}{end}']);
  return Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => l.split('=') as [string, string]));
}

/** The Workload of a Job (by the job-uid label Kite's workloads carry). */
async function workloadOf(job: string, kind = 'job'): Promise<string> {
  const uid = await server.k(['get', kind, job, '-o', 'jsonpath={.metadata.uid}']);
  return eventually(async () => (await server.k(['get', 'workloads', '-l', `kueue.x-k8s.io/job-uid=${uid}`, '-o', 'name'])).trim().replace(/^.*\//, '') || undefined, 15_000, `the Workload of job ${job}`);
}

test('a job over quota waits in its queue, says why, and runs once quota is released', async () => {
  await server.k(['apply', '-f', '-'], `apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: default-flavor}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: cluster-queue}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu, memory]
    flavors:
    - name: default-flavor
      resources:
      - {name: cpu, nominalQuota: 2}
      - {name: memory, nominalQuota: 4Gi}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: user-queue, namespace: default}
spec: {clusterQueue: cluster-queue}
`);
  // Upstream's printer columns: STRATEGY and ADMITTED WORKLOADS only with -o wide.
  const cqTable = (await server.k(['get', 'clusterqueues'])).trim().split('\n');
  assert.deepEqual(cells(cqTable[0]!), ['NAME', 'COHORT', 'PENDING WORKLOADS']);
  assert.deepEqual(cells((await server.k(['get', 'cq', '-o', 'wide'])).split('\n')[0]!), ['NAME', 'COHORT', 'STRATEGY', 'PENDING WORKLOADS', 'ADMITTED WORKLOADS']);
  assert.deepEqual(cells((await server.k(['get', 'localqueues'])).split('\n')[0]!), ['NAME', 'CLUSTERQUEUE', 'PENDING WORKLOADS', 'ADMITTED WORKLOADS']);

  const workloads: Record<string, string> = {};
  for (const name of ['a', 'b', 'c']) {
    await server.k(['create', '-f', '-'], jobYaml(name));
    // One at a time, so that queue order is submission order.
    workloads[name] = await workloadOf(name);
  }
  await eventually(async () => {
    const s = await suspension();
    return s.a === 'false' && s.b === 'false' && s.c === 'true';
  }, 30_000, 'jobs a and b to start while c waits');
  await eventually(async () => (await server.k(['get', 'pods', '-l', 'batch.kubernetes.io/job-name in (a,b)', '-o', 'jsonpath={.items[*].status.phase}'])) === 'Running Running', 30_000, 'the pods of a and b to run');
  assert.equal((await server.k(['get', 'pods', '-l', 'batch.kubernetes.io/job-name=c', '-o', 'name'])).trim(), '', 'a suspended job has no pods');

  const why = "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 1 more needed";
  await eventually(async () => (await server.k(['get', 'workload', workloads.c!, '-o', "jsonpath={.status.conditions[?(@.type=='QuotaReserved')].message}"])) === why, 15_000, 'the pending reason');
  const rows = (await server.k(['get', 'workloads'])).trim().split('\n');
  assert.deepEqual(cells(rows[0]!), ['NAME', 'QUEUE', 'RESERVED IN', 'ADMITTED', 'FINISHED', 'AGE']);
  const row = (n: string) => cells(rows.find((r) => r.startsWith(workloads[n]!))!);
  assert.deepEqual(row('a').slice(1, 4), ['user-queue', 'cluster-queue', 'True']);
  assert.deepEqual(row('c').slice(1, 2), ['user-queue']);
  assert.equal(row('c').length, 3, 'c is neither reserved, admitted nor finished');
  const describeWl = await server.k(['describe', 'workload', workloads.c!]);
  assert.match(describeWl, /Reason:\s+Pending/);
  assert.ok(describeWl.includes(why), describeWl);
  const describeJob = await eventually(async () => {
    const d = await server.k(['describe', 'job', 'c']);
    return d.includes(why) ? d : undefined;
  }, 15_000, 'the Pending event in describe job');
  assert.match(describeJob, /Warning\s+Pending/);
  assert.match(describeJob, /Normal\s+CreatedWorkload/);
  assert.match(await server.k(['get', 'clusterqueue', 'cluster-queue', '-o', 'wide', '--no-headers']), /^cluster-queue\s+BestEffortFIFO\s+1\s+2\s*$/);
  assert.deepEqual(cells((await server.k(['get', 'localqueue', 'user-queue', '--no-headers'])).trim()), ['user-queue', 'cluster-queue', '1', '2']);

  // a finishes: its Workload is Finished, its cpu goes to c.
  writeFileSync(join(hostDir, 'done-a'), '');
  await server.k(['wait', '--for=condition=Complete', 'job/a', '--timeout=30s']);
  await eventually(async () => (await suspension()).c === 'false', 30_000, 'job c to start');
  assert.equal(await server.k(['get', 'workload', workloads.a!, '-o', "jsonpath={.status.conditions[?(@.type=='Finished')].status}"]), 'True');
  await eventually(async () => (await server.k(['get', 'pods', '-l', 'batch.kubernetes.io/job-name=c', '-o', 'jsonpath={.items[*].status.phase}'])) === 'Running', 30_000, 'the pod of c to run');
  assert.match(await server.k(['describe', 'job', 'c']), /Started\s+.*Admitted by clusterQueue cluster-queue/);

  for (const n of ['b', 'c']) writeFileSync(join(hostDir, `done-${n}`), '');
  await server.k(['wait', '--for=condition=Complete', 'job/b', 'job/c', '--timeout=30s']);
  await eventually(async () => (await server.k(['get', 'clusterqueue', 'cluster-queue', '-o', 'jsonpath={.status.admittedWorkloads}/{.status.pendingWorkloads}'])) === '0/0', 15_000, 'the queue to empty');
});

test('a job without the queue label is neither suspended nor given a Workload', async () => {
  await server.k(['create', 'job', 'plain', '--image=busybox', '--', 'true']);
  await server.k(['wait', '--for=condition=Complete', 'job/plain', '--timeout=30s']);
  assert.equal(await server.k(['get', 'job', 'plain', '-o', 'jsonpath={.spec.suspend}']), 'false');
  const uid = await server.k(['get', 'job', 'plain', '-o', 'jsonpath={.metadata.uid}']);
  assert.equal((await server.k(['get', 'workloads', '-l', `kueue.x-k8s.io/job-uid=${uid}`, '-o', 'name'])).trim(), '');
});

/** A PyTorchJob in the queue: a Master and `workers` Workers, 1 cpu each, that exit at once. */
function pytorchJobYaml(name: string, workers: number): string {
  const replica = (n: number) => `      replicas: ${n}
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: pytorch
            image: busybox
            command: ['true']
            resources: {requests: {cpu: "1"}}`;
  return `apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: ${name}
  labels: {kueue.x-k8s.io/queue-name: user-queue}
spec:
  pytorchReplicaSpecs:
    Master:
${replica(1)}
    Worker:
${replica(workers)}
`;
}

test('a PyTorchJob is admitted as a whole gang: one over quota waits and describe pytorchjob says why; one that fits runs', async () => {
  await server.k(['create', '-f', '-'], pytorchJobYaml('too-big', 2));
  assert.equal(await server.k(['get', 'pytorchjob', 'too-big', '-o', 'jsonpath={.spec.runPolicy.suspend}']), 'true');
  const why = "couldn't assign flavors to pod set worker: insufficient quota for cpu in flavor default-flavor, request > maximum capacity (3 > 2)";
  const describe = await eventually(async () => {
    const d = await server.k(['describe', 'pytorchjob', 'too-big']);
    return d.includes(why) ? d : undefined;
  }, 15_000, 'the Pending event in describe pytorchjob');
  assert.match(describe, /Warning\s+Pending/);

  await server.k(['create', '-f', '-'], pytorchJobYaml('fits', 1));
  await server.k(['wait', '--for=condition=Succeeded', 'pytorchjob/fits', '--timeout=60s']);
  const name = await workloadOf('fits', 'pytorchjob');
  assert.equal(await server.k(['get', 'workload', name, '-o', 'jsonpath={.status.admission.podSetAssignments[*].name}']), 'master worker');
  await eventually(async () => (await server.k(['get', 'workload', name, '-o', "jsonpath={.status.conditions[?(@.type=='Finished')].status}"])) === 'True', 15_000, 'the Workload to finish');
  assert.equal(await server.k(['get', 'pytorchjob', 'too-big', '-o', 'jsonpath={.spec.runPolicy.suspend}']), 'true', 'still over quota');
  await server.k(['delete', 'pytorchjob', 'too-big']);
});
