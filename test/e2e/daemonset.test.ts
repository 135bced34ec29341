/**
 * DaemonSets on a real `kite server` with its node, driven by the real
 * kubectl: one pod on the node (placed by the scheduler through the node
 * affinity the controller sets), none where the node selector does not
 * match, a rolling update, and `kubectl rollout status|history|undo|restart`
 * as upstream prints them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KiteServer, eventually } from './harness.js';

let server: KiteServer;
let nodeName: string;
const NS = 'ds';

before(async () => {
  server = new KiteServer({ agent: true });
  await server.start();
  await eventually(async () => (await server.k(['get', 'nodes', '--no-headers'])).includes(' Ready '), 10_000, 'the node to be Ready');
  nodeName = await server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']);
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

/** `name node image phase` of the live pods of a DaemonSet. */
async function podsOf(app: string): Promise<string[][]> {
  const out = await k([
    'get',
    'pods',
    '-l',
    `app=${app}`,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.spec.containers[0].image} {.status.phase} {.metadata.deletionTimestamp}{"\\n"}{end}',
  ]);
  return lines(out)
    .map((l) => l.split(' '))
    .filter((c) => !c[4]);
}

const daemonSet = (name: string, extra = '') => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ${name}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
${extra}      containers: [{name: agent, image: busybox, command: ["sleep", "3600"]}]
`;

test('a DaemonSet runs one pod on the node, bound by the scheduler to the node its affinity names', async () => {
  assert.equal(await k(['apply', '-f', '-'], daemonSet('agent')), 'daemonset.apps/agent created\n');
  assert.equal(await rolledOut('daemonset/agent'), 'daemon set "agent" successfully rolled out');
  const pods = await podsOf('agent');
  assert.equal(pods.length, 1);
  assert.deepEqual(pods[0]!.slice(1, 4), [nodeName, 'busybox', 'Running']);
  assert.equal(
    await k(['get', 'pod', pods[0]![0]!, '-o', 'jsonpath={.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0]}']),
    JSON.stringify({ key: 'metadata.name', operator: 'In', values: [nodeName] }),
  );
  const [name, desired, current, ready, upToDate, available, selector] = cells(await k(['get', 'daemonset', 'agent', '--no-headers']));
  assert.deepEqual([name, desired, current, ready, upToDate, available, selector], ['agent', '1', '1', '1', '1', '1', '<none>']);
  const events = await k(['get', 'events', '--field-selector', 'involvedObject.kind=DaemonSet']);
  assert.match(events, new RegExp(`Normal\\s+SuccessfulCreate\\s+daemonset/agent\\s+Created pod: ${pods[0]![0]}`));
});

test('no pod where the node selector does not match; the rollout of nothing is complete', async () => {
  await k(['apply', '-f', '-'], daemonSet('gpu', '      nodeSelector: {accelerator: nvidia}\n'));
  assert.equal(await rolledOut('daemonset/gpu'), 'daemon set "gpu" successfully rolled out');
  const [, desired, current] = cells(await k(['get', 'daemonset', 'gpu', '--no-headers']));
  assert.deepEqual([desired, current], ['0', '0']);
  assert.deepEqual(await podsOf('gpu'), []);
  // Labelling the node brings the pod; removing the label takes it away.
  await server.k(['label', 'node', nodeName, 'accelerator=nvidia']);
  try {
    assert.equal(await rolledOut('daemonset/gpu'), 'daemon set "gpu" successfully rolled out');
    await eventually(async () => (await podsOf('gpu')).length === 1, 30_000, 'a gpu pod');
  } finally {
    await server.k(['label', 'node', nodeName, 'accelerator-']);
  }
  await eventually(async () => (await podsOf('gpu')).length === 0, 30_000, 'the gpu pod to go');
  await k(['delete', 'daemonset', 'gpu']);
});

test('kubectl set image rolls the DaemonSet; rollout history, undo and restart work on its revisions', async () => {
  const first = (await podsOf('agent'))[0]![0]!;
  assert.equal(await k(['set', 'image', 'daemonset/agent', 'agent=busybox:1.36']), 'daemonset.apps/agent image updated\n');
  assert.equal(await rolledOut('daemonset/agent'), 'daemon set "agent" successfully rolled out');
  await eventually(async () => {
    const pods = await podsOf('agent');
    return pods.length === 1 && pods[0]![0] !== first && pods[0]![2] === 'busybox:1.36' && pods[0]![3] === 'Running';
  }, 60_000, 'the pod to be replaced');
  assert.equal(await k(['get', 'daemonset', 'agent', '-o', 'jsonpath={.metadata.annotations.deprecated\\.daemonset\\.template\\.generation} {.status.updatedNumberScheduled}']), '2 1');

  assert.deepEqual(lines(await k(['rollout', 'history', 'daemonset/agent'])), ['daemonset.apps/agent', 'REVISION  CHANGE-CAUSE', '1         <none>', '2         <none>']);
  const rev1 = await k(['rollout', 'history', 'daemonset/agent', '--revision=1']);
  assert.match(rev1, /^daemonset\.apps\/agent with revision #1\nPod Template:\n/);
  assert.match(rev1, /Image:\s+busybox\n/);
  const revs = lines(await k(['get', 'controllerrevisions', '--no-headers'])).map((l) => cells(l).slice(1, 3).join(' ')).sort();
  assert.deepEqual(revs, ['daemonset.apps/agent 1', 'daemonset.apps/agent 2']);

  assert.equal(await k(['rollout', 'undo', 'daemonset/agent']), 'daemonset.apps/agent rolled back\n');
  assert.equal(await rolledOut('daemonset/agent'), 'daemon set "agent" successfully rolled out');
  await eventually(async () => (await podsOf('agent')).map((p) => p[2]).join() === 'busybox', 60_000, 'the pod back at busybox');
  assert.deepEqual(lines(await k(['rollout', 'history', 'daemonset/agent'])).slice(2), ['2         <none>', '3         <none>']);
  assert.equal(await k(['rollout', 'undo', 'daemonset/agent', '--to-revision=3']), 'daemonset.apps/agent skipped rollback (current template already matches revision 3)\n');

  const before = (await podsOf('agent'))[0]![0];
  assert.equal(await k(['rollout', 'restart', 'daemonset/agent']), 'daemonset.apps/agent restarted\n');
  assert.equal(await rolledOut('daemonset/agent'), 'daemon set "agent" successfully rolled out');
  await eventually(async () => {
    const pods = await podsOf('agent');
    return pods.length === 1 && pods[0]![0] !== before && pods[0]![3] === 'Running';
  }, 60_000, 'a restarted pod');
});

test('rollout status refuses an OnDelete DaemonSet, as upstream kubectl does', async () => {
  await k(['patch', 'daemonset', 'agent', '-p', '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}']);
  const r = await server.kubectl(['-n', NS, 'rollout', 'status', 'daemonset/agent']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: rollout status is only available for RollingUpdate strategy type\n');
  assert.equal(await k(['delete', 'daemonset', 'agent']), 'daemonset.apps "agent" deleted\n');
  await eventually(async () => (await podsOf('agent')).length === 0 && lines(await k(['get', 'controllerrevisions', '-o', 'name'])).length === 0, 60_000, 'pods and revisions to be collected');
});
