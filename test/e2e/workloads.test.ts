/**
 * Workload controllers on a real `kite server` with its node: Deployments
 * (scale, rolling update, rollout history/undo/restart/pause/resume), Jobs
 * (parallel, Indexed, backoff limit), CronJobs, the garbage collector's
 * background/foreground/orphan deletion, namespace deletion, and the events
 * controllers record — all as the real kubectl shows them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await eventually(async () => (await server.k(['get', 'nodes', '--no-headers'])).includes(' Ready '), 10_000, 'the node to be Ready');
});

after(async () => {
  await server?.cleanup();
});

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** The non-empty lines of an output, right-trimmed. */
function lines(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

/** Names (`kind/name`) of objects matching a selector. */
async function names(kinds: string, selector: string, ns = 'default'): Promise<string[]> {
  return lines(await server.k(['get', kinds, '-n', ns, '-l', selector, '-o', 'name']));
}

/** Waits until nothing of `kinds` matches the selector. */
async function gone(kinds: string, selector: string, ns = 'default', timeoutMs = 30_000): Promise<void> {
  await eventually(async () => (await names(kinds, selector, ns)).length === 0, timeoutMs, `${kinds} -l ${selector} to be gone`);
}

/** The image of the deployment's first container. */
async function image(deploy: string): Promise<string> {
  return server.k(['get', 'deployment', deploy, '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
}

/** `kubectl rollout status` to completion; returns its last line. */
async function rolledOut(deploy: string): Promise<string> {
  const out = lines(await server.k(['rollout', 'status', `deployment/${deploy}`, '--timeout=60s']));
  return out[out.length - 1]!;
}

test('create deployment, scale, set image, rollout status/history/undo/restart/pause/resume', async () => {
  assert.equal(await server.k(['create', 'deployment', 'web', '--image=busybox', '--replicas=2', '--', 'sleep', '3600']), 'deployment.apps/web created\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  let pods = lines(await server.k(['get', 'pods', '-l', 'app=web', '--no-headers']));
  assert.equal(pods.length, 2);
  for (const p of pods) assert.deepEqual(cells(p).slice(1, 4), ['1/1', 'Running', '0']);

  assert.equal(await server.k(['scale', 'deployment', 'web', '--replicas=3']), 'deployment.apps/web scaled\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  const [name, ready, upToDate, available] = cells(await server.k(['get', 'deployment', 'web', '--no-headers']));
  assert.deepEqual([name, ready, upToDate, available], ['web', '3/3', '3', '3']);

  assert.equal(await server.k(['set', 'image', 'deployment/web', 'busybox=busybox:1.36']), 'deployment.apps/web image updated\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  const rs = lines(await server.k(['get', 'rs', '-l', 'app=web', '--no-headers', '-o', 'custom-columns=D:.spec.replicas,R:.metadata.annotations.deployment\\.kubernetes\\.io/revision,I:.spec.template.spec.containers[0].image'])).sort();
  assert.deepEqual(rs.map((l) => l.split(/\s+/)), [['0', '1', 'busybox'], ['3', '2', 'busybox:1.36']]);
  pods = lines(await server.k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.status.containerStatuses[0].image}{"\\n"}{end}']));
  assert.deepEqual(pods, ['busybox:1.36', 'busybox:1.36', 'busybox:1.36']);

  assert.deepEqual(lines(await server.k(['rollout', 'history', 'deployment/web'])), ['deployment.apps/web', 'REVISION  CHANGE-CAUSE', '1         <none>', '2         <none>']);
  const rev2 = await server.k(['rollout', 'history', 'deployment/web', '--revision=2']);
  assert.match(rev2, /deployment\.apps\/web with revision #2\nPod Template:\n/);
  assert.match(rev2, /Image:\s+busybox:1\.36/);

  assert.equal(await server.k(['rollout', 'undo', 'deployment/web']), 'deployment.apps/web rolled back\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  assert.equal(await image('web'), 'busybox');
  assert.deepEqual(lines(await server.k(['rollout', 'history', 'deployment/web'])).slice(2), ['2         <none>', '3         <none>']);

  const before = new Set(await names('pods', 'app=web'));
  assert.equal(await server.k(['rollout', 'restart', 'deployment/web']), 'deployment.apps/web restarted\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  assert.match(await server.k(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}']), /^\d{4}-\d\d-\d\dT/);
  // Old pods may still be terminating when the rollout is complete: wait for them to go.
  await eventually(async () => {
    const now = await names('pods', 'app=web');
    return now.length === 3 && now.every((p) => !before.has(p));
  }, 30_000, 'every pod to be replaced');
  assert.equal(await server.k(['rollout', 'pause', 'deployment/web']), 'deployment.apps/web paused\n');
  const again = await server.kubectl(['rollout', 'pause', 'deployment/web']);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'error: deployments.apps "web" is already paused\n');
  await server.k(['set', 'image', 'deployment/web', 'busybox=busybox:1.37']);
  // Paused: the controller records the pause and creates no new ReplicaSet.
  await server.k(['wait', '--for=jsonpath={.status.conditions[?(@.type=="Progressing")].reason}=DeploymentPaused', 'deployment/web', '--timeout=20s']);
  assert.equal((await server.k(['get', 'rs', '-l', 'app=web', '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}'])).includes('busybox:1.37'), false);
  assert.equal(await server.k(['rollout', 'resume', 'deployment/web']), 'deployment.apps/web resumed\n');
  assert.equal(await rolledOut('web'), 'deployment "web" successfully rolled out');
  const images = async () => lines(await server.k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\\n"}{end}']));
  await eventually(async () => (await images()).join() === 'busybox:1.37,busybox:1.37,busybox:1.37', 30_000, 'old pods to terminate');
});

test('kubectl describe deployment and kubectl get events show what the controllers did', async () => {
  const describe = await server.k(['describe', 'deployment', 'web']);
  assert.match(describe, /^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable$/m);
  assert.match(describe, /^StrategyType:\s+RollingUpdate$/m);
  assert.match(describe, /^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$/m);
  assert.match(describe, /^NewReplicaSet:\s+web-[a-z0-9]+ \(3\/3 replicas created\)$/m);
  assert.match(describe, /Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set web-[a-z0-9]+ from 0 to 2/);
  assert.match(describe, /Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled down replica set web-[a-z0-9]+ from \d to \d/);

  const events = await server.k(['get', 'events']);
  assert.deepEqual(cells(lines(events)[0]!), ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
  assert.match(events, /Normal\s+SuccessfulCreate\s+replicaset\/web-[a-z0-9]+\s+Created pod: web-[a-z0-9]+-[a-z0-9]{5}/);
  assert.match(events, /Normal\s+Scheduled\s+pod\/web-[a-z0-9]+-[a-z0-9]{5}\s+Successfully assigned default\/web-[a-z0-9]+-[a-z0-9]{5} to \S+/);
  assert.match(events, /Normal\s+Started\s+pod\/web-[a-z0-9]+-[a-z0-9]{5}\s+Started container busybox/);
  assert.match(events, /Normal\s+ScalingReplicaSet\s+deployment\/web\s+Scaled up replica set web-[a-z0-9]+ from 0 to 2/);
});

test('Jobs: completions 3 parallelism 2, Indexed completion, backoffLimit exceeded', async () => {
  const job = (name: string, spec: string, cmd: string) => `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}}
spec:
${spec}  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox, command: ["/bin/sh", "-c", ${JSON.stringify(cmd)}]}]
`;
  // The failing Job waits out upstream's 10 s pod-failure back-off before its second pod, so it starts first.
  await server.k(['apply', '-f', '-'], [job('bad', '  backoffLimit: 1\n', 'exit 1'), job('par', '  completions: 3\n  parallelism: 2\n', 'echo done'), job('idx', '  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n', 'echo index=$JOB_COMPLETION_INDEX')].join('---\n'));

  await server.k(['wait', '--for=condition=complete', 'job/par', 'job/idx', '--timeout=30s']);
  for (const j of ['par', 'idx']) {
    const [name, status, completions] = cells(await server.k(['get', 'job', j, '--no-headers']));
    assert.deepEqual([name, status, completions], [j, 'Complete', '3/3']);
  }
  assert.equal(await server.k(['get', 'job', 'par', '-o', 'jsonpath={.status.succeeded} {.status.ready}']), '3 0');
  assert.equal((await names('pods', 'job-name=par')).length, 3);

  const logs: string[] = [];
  for (const p of await names('pods', 'job-name=idx')) logs.push((await server.k(['logs', p])).trim());
  assert.deepEqual(logs.sort(), ['index=0', 'index=1', 'index=2']);
  assert.equal(await server.k(['get', 'job', 'idx', '-o', 'jsonpath={.status.completedIndexes}']), '0-2');

  await server.k(['wait', '--for=condition=failed', 'job/bad', '--timeout=40s']);
  const [, status, completions] = cells(await server.k(['get', 'job', 'bad', '--no-headers']));
  assert.deepEqual([status, completions], ['Failed', '0/1']);
  assert.equal(await server.k(['get', 'job', 'bad', '-o', 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message} failed={.status.failed}']), 'BackoffLimitExceeded: Job has reached the specified backoff limit failed=2');
  assert.match(await server.k(['describe', 'job', 'bad']), /Warning\s+BackoffLimitExceeded\s+.*job-controller\s+Job has reached the specified backoff limit/);
  await server.k(['delete', 'job', 'par', 'idx', 'bad']);
});

test('CronJobs: invalid schedules are refused, create job --from works, a missed schedule within the deadline runs', async () => {
  const bad = await server.kubectl(['create', 'cronjob', 'nope', '--image=busybox', '--schedule=61 * * * *', '--', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /spec\.schedule: Invalid value: "61 \* \* \* \*"/);

  assert.equal(await server.k(['create', 'cronjob', 'cron', '--image=busybox', '--schedule=*/1 * * * *', '--', '/bin/sh', '-c', 'echo from cron']), 'cronjob.batch/cron created\n');
  assert.equal(await server.k(['create', 'job', 'manual', '--from=cronjob/cron']), 'job.batch/manual created\n');
  await server.k(['wait', '--for=condition=complete', 'job/manual', '--timeout=30s']);
  assert.equal(await server.k(['logs', 'job/manual']), 'from cron\n');
  assert.equal(await server.k(['get', 'job', 'manual', '-o', 'jsonpath={.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}']), 'manual CronJob/cron');
  // Upstream warns UnexpectedJob about a job it did not create itself; nothing else may go wrong.
  const warnings = lines(await server.k(['get', 'events', '--field-selector=involvedObject.kind=CronJob,type=Warning', '--no-headers', '-o', 'custom-columns=R:.reason']));
  assert.deepEqual(warnings.filter((r) => r !== 'UnexpectedJob'), []);

  // A schedule missed since the last run (lastScheduleTime two minutes ago) and still within
  // startingDeadlineSeconds starts at once, named after the scheduled minute as upstream.
  await server.k(['patch', 'cronjob', 'cron', '--type=merge', '-p', '{"spec":{"startingDeadlineSeconds":300}}']);
  const twoMinutesAgo = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000);
  await server.k(['patch', 'cronjob', 'cron', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { lastScheduleTime: twoMinutesAgo.toISOString().replace(/\.\d+Z$/, 'Z') } })]);
  const scheduled = await eventually(async () => lines(await server.k(['get', 'jobs', '-o', 'name'])).find((n) => /^job\.batch\/cron-\d+$/.test(n)), 20_000, 'the CronJob to start its missed run');
  const minute = Number(/cron-(\d+)$/.exec(scheduled)![1]);
  assert.ok(minute * 60_000 > twoMinutesAgo.getTime() && minute * 60_000 <= Date.now(), `scheduled minute ${new Date(minute * 60_000).toISOString()}`);
  await server.k(['wait', '--for=condition=complete', scheduled, '--timeout=30s']);
  assert.match(await server.k(['describe', 'cronjob', 'cron']), /Normal\s+SuccessfulCreate\s+.*cronjob-controller\s+Created job cron-\d+/);
  await server.k(['delete', 'cronjob', 'cron']);
  await gone('jobs', 'batch.kubernetes.io/controller-uid');
});

test('kubectl delete deployment: background removes its ReplicaSets and pods; foreground waits for them; orphan leaves them', async () => {
  await server.k(['delete', 'deployment', 'web']);
  await gone('rs,pods', 'app=web');

  for (const d of ['fg', 'orph']) await server.k(['create', 'deployment', d, '--image=busybox', '--replicas=2', '--', 'sleep', '3600']);
  for (const d of ['fg', 'orph']) await rolledOut(d);

  assert.equal(await server.k(['delete', 'deployment', 'fg', '--cascade=foreground']), 'deployment.apps "fg" deleted\n');
  // The owner is only removed after its blocking dependents: by now they are gone.
  assert.deepEqual(await names('rs,pods', 'app=fg'), []);

  await server.k(['delete', 'deployment', 'orph', '--cascade=orphan']);
  const rs = await names('rs', 'app=orph');
  assert.equal(rs.length, 1);
  await eventually(async () => (await server.k(['get', rs[0]!, '-o', 'jsonpath={.metadata.ownerReferences}'])) === '', 10_000, 'the orphaned ReplicaSet to lose its owner reference');
  const pods = lines(await server.k(['get', 'pods', '-l', 'app=orph', '--no-headers']));
  assert.equal(pods.length, 2);
  for (const p of pods) assert.equal(cells(p)[2], 'Running');
  // The orphaned ReplicaSet still owns and keeps its pods.
  await server.k(['delete', rs[0]!]);
  await gone('pods', 'app=orph');
});

test('deleting a namespace removes everything inside, then the namespace', async () => {
  await server.k(['create', 'namespace', 'team']);
  await server.k(['create', 'deployment', 'api', '-n', 'team', '--image=busybox', '--replicas=2', '--', 'sleep', '3600']);
  await server.k(['create', 'configmap', 'settings', '-n', 'team', '--from-literal=a=b']);
  await server.k(['create', 'job', 'once', '-n', 'team', '--image=busybox', '--', 'sleep', '3600']);
  await server.k(['rollout', 'status', 'deployment/api', '-n', 'team', '--timeout=30s']);
  await server.k(['wait', '--for=condition=Ready', 'pod', '-l', 'job-name=once', '-n', 'team', '--timeout=30s']);

  assert.equal(await server.k(['delete', 'namespace', 'team']), 'namespace "team" deleted\n');
  const ns = await server.kubectl(['get', 'namespace', 'team']);
  assert.equal(ns.code, 1);
  assert.equal(ns.stderr, 'Error from server (NotFound): namespaces "team" not found\n');
  const left = await server.kubectl(['get', 'pods,rs,deployments,jobs,configmaps', '-n', 'team', '-o', 'name']);
  assert.equal(left.stdout, '');
});
