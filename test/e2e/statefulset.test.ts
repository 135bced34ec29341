/**
 * StatefulSets on a real `kite server` with its node, driven by the real
 * kubectl: ordered creation with stable names and a claim per pod, a pod
 * coming back to its own claim, scaling down in reverse and up again,
 * rolling updates with a partition, and `kubectl rollout
 * status|history|undo|restart` as upstream prints them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
const NS = 'sts';

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await eventually(async () => (await server.k(['get', 'nodes', '--no-headers'])).includes(' Ready '), 10_000, 'the node to be Ready');
  await server.namespace(NS);
});

after(async () => {
  await server?.cleanup();
});

/** kubectl in the test namespace; fails with its output unless it exits 0. */
function k(args: string[], input?: string): Promise<string> {
  return server.k(['-n', NS, ...args], input);
}

/** The non-empty lines of an output, right-trimmed. */
function lines(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

/** The cells of a table row; kubectl separates columns by at least three spaces. */
function cells(row: string): string[] {
  return row.trim().split(/ {3,}/);
}

/** `kubectl rollout status` to completion; returns its last line. */
async function rolledOut(target: string): Promise<string> {
  const out = lines(await k(['rollout', 'status', target, '--timeout=120s']));
  return out[out.length - 1]!;
}

/** Pod names of the set, sorted. */
async function podNames(app: string): Promise<string[]> {
  return lines(await k(['get', 'pods', '-l', `app=${app}`, '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'])).sort();
}

/** `pod=image` for each pod of the set. */
async function images(app: string): Promise<string[]> {
  return lines(await k(['get', 'pods', '-l', `app=${app}`, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.containers[0].image}{"\\n"}{end}'])).sort();
}

const manifest = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        # Counts its starts in the claim (no "<", ">" or "&": kubectl compares revisions byte for byte with Go's HTML-escaping JSON).
        command: ["/bin/sh", "-c", "set -- $(mktemp -p /data start.XXXXXX); echo starts=$(ls /data | grep -c start); exec sleep 3600"]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
`;

test('kubectl apply: pods web-0..2 created in order, each with its own bound claim and stable identity', async () => {
  assert.deepEqual(lines(await k(['apply', '-f', '-'], manifest)), ['service/web created', 'statefulset.apps/web created']);
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 3 new pods have been updated...');
  assert.deepEqual(await podNames('web'), ['web-0', 'web-1', 'web-2']);

  // OrderedReady: each pod was created only after its predecessor was Ready.
  const timeline = lines(
    await k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.creationTimestamp} {.status.conditions[?(@.type=="Ready")].lastTransitionTime}{"\\n"}{end}']),
  )
    .map((l) => l.split(' '))
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
  for (let i = 1; i < timeline.length; i++) {
    assert.ok(Date.parse(timeline[i]![1]!) >= Date.parse(timeline[i - 1]![2]!), `${timeline[i]![0]} created before ${timeline[i - 1]![0]} was Ready: ${JSON.stringify(timeline)}`);
  }

  const [name, ready] = cells(await k(['get', 'statefulset', 'web', '--no-headers']));
  assert.deepEqual([name, ready], ['web', '3/3']);
  assert.equal(await k(['get', 'pod', 'web-1', '-o', 'jsonpath={.spec.hostname}.{.spec.subdomain} {.metadata.labels.statefulset\\.kubernetes\\.io/pod-name} {.metadata.labels.apps\\.kubernetes\\.io/pod-index}']), 'web-1.web web-1 1');
  const claims = lines(await k(['get', 'pvc', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}'])).sort();
  assert.deepEqual(claims, ['data-web-0 Bound', 'data-web-1 Bound', 'data-web-2 Bound']);
  assert.equal(await k(['get', 'pod', 'web-2', '-o', 'jsonpath={.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}']), 'data-web-2');

  const events = await k(['get', 'events', '--field-selector', 'involvedObject.kind=StatefulSet']);
  assert.match(events, /Normal\s+SuccessfulCreate\s+statefulset\/web\s+create Pod web-0 in StatefulSet web successful/);
  assert.match(events, /Normal\s+SuccessfulCreate\s+statefulset\/web\s+create Claim data-web-2 Pod web-2 in StatefulSet web success/);
});

test('a deleted pod comes back under the same name with the same claim and its data', async () => {
  const uid = await k(['get', 'pod', 'web-1', '-o', 'jsonpath={.metadata.uid}']);
  assert.equal(await k(['logs', 'web-1']), 'starts=1\n');
  assert.equal(await k(['delete', 'pod', 'web-1']), 'pod "web-1" deleted\n');
  await eventually(async () => {
    const now = await k(['get', 'pod', 'web-1', '-o', 'jsonpath={.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}']);
    return !now.startsWith(uid) && now.endsWith(' True');
  }, 60_000, 'web-1 to be recreated and Ready');
  // The new pod mounted the same claim: it sees the first pod's line.
  assert.equal(await k(['logs', 'web-1']), 'starts=2\n');
});

test('kubectl scale down removes the highest ordinals and keeps their claims; scaling up reuses them', async () => {
  assert.equal(await k(['scale', 'statefulset', 'web', '--replicas=1']), 'statefulset.apps/web scaled\n');
  await eventually(async () => (await podNames('web')).join() === 'web-0', 60_000, 'only web-0 left');
  const deletes = lines(await k(['get', 'events', '--field-selector', 'involvedObject.kind=StatefulSet,reason=SuccessfulDelete', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}'])).sort();
  assert.deepEqual(deletes, ['delete Pod web-1 in StatefulSet web successful', 'delete Pod web-2 in StatefulSet web successful']);
  // Retain (the default): the claims stay for the pods to come back to.
  assert.deepEqual(lines(await k(['get', 'pvc', '-o', 'name'])).sort(), ['persistentvolumeclaim/data-web-0', 'persistentvolumeclaim/data-web-1', 'persistentvolumeclaim/data-web-2']);

  await k(['scale', 'statefulset', 'web', '--replicas=3']);
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 3 new pods have been updated...');
  assert.equal(await k(['logs', 'web-2']), 'starts=2\n');
  assert.equal(await k(['get', 'statefulset', 'web', '-o', 'jsonpath={.status.replicas} {.status.readyReplicas} {.status.availableReplicas}']), '3 3 3');
});

test('a rolling update with a partition, then rollout status, history, undo and restart', async () => {
  await k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}']);
  assert.equal(await k(['set', 'image', 'statefulset/web', 'app=busybox:1.36']), 'statefulset.apps/web image updated\n');
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 1 new pods have been updated...');
  assert.deepEqual(await images('web'), ['web-0=busybox', 'web-1=busybox', 'web-2=busybox:1.36']);
  const st = await k(['get', 'statefulset', 'web', '-o', 'jsonpath={.status.currentRevision} {.status.updateRevision} {.status.currentReplicas} {.status.updatedReplicas}']);
  const [current, update, currentReplicas, updatedReplicas] = st.split(' ');
  assert.notEqual(current, update);
  assert.deepEqual([currentReplicas, updatedReplicas], ['2', '1']);

  await k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}']);
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 3 new pods have been updated...');
  assert.deepEqual(await images('web'), ['web-0=busybox:1.36', 'web-1=busybox:1.36', 'web-2=busybox:1.36']);
  await eventually(async () => (await k(['get', 'statefulset', 'web', '-o', 'jsonpath={.status.currentRevision}'])) === update, 30_000, 'the update revision to become current');

  assert.deepEqual(lines(await k(['rollout', 'history', 'statefulset/web'])), ['statefulset.apps/web', 'REVISION  CHANGE-CAUSE', '1         <none>', '2         <none>']);
  const rev1 = await k(['rollout', 'history', 'statefulset/web', '--revision=1']);
  assert.match(rev1, /^statefulset\.apps\/web with revision #1\nPod Template:\n/);
  assert.match(rev1, /Image:\s+busybox\n/);
  const revs = lines(await k(['get', 'controllerrevisions', '--no-headers'])).map(cells).map(([n, c, r]) => `${n} ${c} ${r}`).sort();
  assert.deepEqual(revs, [`${current} statefulset.apps/web 1`, `${update} statefulset.apps/web 2`].sort());

  assert.equal(await k(['rollout', 'undo', 'statefulset/web']), 'statefulset.apps/web rolled back\n');
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 3 new pods have been updated...');
  assert.deepEqual(await images('web'), ['web-0=busybox', 'web-1=busybox', 'web-2=busybox']);
  // The first revision was renumbered, not copied.
  assert.deepEqual(lines(await k(['rollout', 'history', 'statefulset/web'])).slice(2), ['2         <none>', '3         <none>']);
  assert.equal(await k(['get', 'statefulset', 'web', '-o', 'jsonpath={.status.updateRevision}']), current);
  assert.equal(await k(['rollout', 'undo', 'statefulset/web', '--to-revision=3']), 'statefulset.apps/web skipped rollback (current template already matches revision 3)\n');

  const before = new Set(lines(await k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.uid}{"\\n"}{end}'])));
  assert.equal(await k(['rollout', 'restart', 'statefulset/web']), 'statefulset.apps/web restarted\n');
  assert.equal(await rolledOut('statefulset/web'), 'partitioned roll out complete: 3 new pods have been updated...');
  const after = lines(await k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.uid}{"\\n"}{end}']));
  assert.equal(after.length, 3);
  assert.ok(after.every((u) => !before.has(u)), 'every pod was replaced');
});

test('changing fields other than the mutable ones is refused as upstream does', async () => {
  const r = await server.kubectl(['-n', NS, 'patch', 'statefulset', 'web', '-p', '{"spec":{"serviceName":"other"}}']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `The StatefulSet "web" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden\n`,
  );
});

test('Parallel management and a Delete retention policy: all pods at once, and claims go with the set', async () => {
  await k(
    ['apply', '-f', '-'],
    `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: par}
spec:
  serviceName: par
  replicas: 2
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  selector: {matchLabels: {app: par}}
  template:
    metadata: {labels: {app: par}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
`,
  );
  assert.equal(await rolledOut('statefulset/par'), 'partitioned roll out complete: 2 new pods have been updated...');
  assert.equal(await k(['get', 'pvc', 'data-par-0', '-o', 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}']), 'StatefulSet/par');
  assert.equal(await k(['delete', 'statefulset', 'par']), 'statefulset.apps "par" deleted\n');
  await eventually(async () => lines(await k(['get', 'pods,pvc', '-l', 'app=par', '-o', 'name'])).length === 0, 60_000, 'the pods and claims of par to be gone');
  // web's claims (Retain) are untouched.
  assert.equal(lines(await k(['get', 'pvc', '-l', 'app=web', '-o', 'name'])).length, 3);
});
