import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerStatus, needsReadinessReconcile, podConditions, podPhase, type ContainerRecord } from './status.js';
import { goDuration } from './format.js';

const t0 = new Date('2024-01-01T00:00:00Z');
const ended = (exitCode: number) => ({ exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: t0, finishedAt: t0, containerID: 'process://1' });

function statusOf(spec: any, recs: Record<string, ContainerRecord>) {
  const policy = spec.restartPolicy ?? 'Always';
  return (spec.containers ?? []).map((c: any) => containerStatus(c, recs[c.name], 'ContainerCreating', policy));
}

describe('pod phase', () => {
  it('is Pending until every container started, Running while one runs', () => {
    const spec = { containers: [{ name: 'a' }, { name: 'b' }] };
    const running: ContainerRecord = { restartCount: 0, everStarted: true, running: { containerID: 'process://1', startedAt: t0 } };
    assert.equal(podPhase(spec, [], statusOf(spec, { a: running }), false), 'Pending');
    assert.equal(podPhase(spec, [], statusOf(spec, { a: running, b: running }), false), 'Running');
  });
  it('follows the restart policy once every container stopped', () => {
    const failed: ContainerRecord = { restartCount: 0, everStarted: true, terminated: ended(1) };
    const ok: ContainerRecord = { restartCount: 0, everStarted: true, terminated: ended(0) };
    const spec = (restartPolicy: string) => ({ restartPolicy, containers: [{ name: 'a' }, { name: 'b' }] });
    assert.equal(podPhase(spec('Never'), [], statusOf(spec('Never'), { a: failed, b: ok }), false), 'Failed');
    assert.equal(podPhase(spec('Never'), [], statusOf(spec('Never'), { a: ok, b: ok }), false), 'Succeeded');
    assert.equal(podPhase(spec('OnFailure'), [], statusOf(spec('OnFailure'), { a: failed, b: ok }), false), 'Running');
    assert.equal(podPhase(spec('Always'), [], statusOf(spec('Always'), { a: ok, b: ok }), false), 'Running');
    assert.equal(podPhase(spec('Always'), [], statusOf(spec('Always'), { a: ok, b: failed }), true), 'Failed');
  });
  it('fails a Never pod whose init container failed', () => {
    const spec = { restartPolicy: 'Never', initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] };
    const init = [containerStatus({ name: 'i' }, { restartCount: 0, everStarted: true, terminated: ended(2) }, 'PodInitializing', 'Never')];
    assert.equal(podPhase(spec, init, statusOf(spec, {}), false), 'Failed');
  });
});

describe('sidecars', () => {
  const spec = { restartPolicy: 'Never', initContainers: [{ name: 'side', restartPolicy: 'Always' }], containers: [{ name: 'a' }] };
  const run = (id: string): ContainerRecord => ({ restartCount: 0, everStarted: true, running: { containerID: id, startedAt: t0 } });
  const side = (rec: ContainerRecord | undefined, started: boolean) => [containerStatus(spec.initContainers[0], rec, 'PodInitializing', 'Never', rec?.running ? { started, ready: started } : undefined)];
  const app = (rec: ContainerRecord | undefined) => [containerStatus(spec.containers[0], rec, 'PodInitializing', 'Never')];

  it('keep the pod Pending and not Initialized until the sidecar has started', () => {
    assert.equal(podPhase(spec, side(run('process://s'), false), app(undefined), false), 'Pending');
    const conds = podConditions(spec, 'Pending', side(run('process://s'), false), app(undefined), true);
    assert.equal(conds[1].message, 'containers with incomplete status: [side]');
    const started = podConditions(spec, 'Pending', side(run('process://s'), true), app(undefined), true);
    assert.equal(started[1].status, 'True');
  });

  it('count toward ContainersReady, and an ended sidecar does not keep a finished pod from Succeeded', () => {
    const conds = podConditions(spec, 'Running', side(run('process://s'), true), app(run('process://a')), true);
    assert.equal(conds.find((c) => c.type === 'ContainersReady').status, 'True');
    const notReady = podConditions(spec, 'Running', [containerStatus(spec.initContainers[0], run('process://s'), 'PodInitializing', 'Never', { started: true, ready: false })], app(run('process://a')), true);
    assert.equal(notReady.find((c) => c.type === 'ContainersReady').message, 'containers with unready status: [side]');
    assert.equal(podPhase(spec, side(run('process://s'), true), app({ restartCount: 0, everStarted: true, terminated: ended(0) }), false), 'Running');
    assert.equal(podPhase(spec, side({ restartCount: 0, everStarted: true, terminated: ended(143) }, false), app({ restartCount: 0, everStarted: true, terminated: ended(0) }), false), 'Succeeded');
  });
});

describe('container status', () => {
  it("names the image by the runtime's image ref once started (a registry digest with containerd)", () => {
    const digested = 'registry.local:5000/team/train@sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';
    const running = { containerID: 'containerd://abc', startedAt: new Date(0) };
    assert.equal(containerStatus({ name: 'a', image: 'registry.local:5000/team/train:v1' }, { restartCount: 0, everStarted: true, running, imageID: digested }, 'ContainerCreating', 'Always').imageID, digested);
    // A runtime without images names the program; a container that never started has none.
    assert.equal(containerStatus({ name: 'a', image: 'busybox' }, { restartCount: 0, everStarted: true, running }, 'ContainerCreating', 'Always').imageID, 'kite-process://busybox');
    assert.equal(containerStatus({ name: 'a', image: 'busybox' }, { restartCount: 0, everStarted: false }, 'ContainerCreating', 'Always').imageID, '');
  });

  it('shows a crash-looping container as waiting with the ended attempt in lastState', () => {
    const rec: ContainerRecord = { restartCount: 2, everStarted: true, terminated: ended(1), last: ended(1), waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } };
    const s = containerStatus({ name: 'a', image: 'img' }, rec, 'ContainerCreating', 'Always');
    assert.deepEqual(s.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } });
    assert.equal(s.lastState.terminated.exitCode, 1);
    assert.equal(s.restartCount, 2);
    assert.equal(s.ready, false);
  });
  it('reports the kubelet conditions with upstream reasons and messages', () => {
    const spec = { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }, { name: 'b' }] };
    const conds = podConditions(spec, 'Pending', [containerStatus({ name: 'i' }, undefined, 'PodInitializing', 'Always')], statusOf(spec, {}), true);
    assert.deepEqual(conds.map((c) => c.type), ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);
    assert.equal(conds[1].message, 'containers with incomplete status: [i]');
    assert.equal(conds[2].reason, 'ContainersNotReady');
    assert.equal(conds[2].message, 'containers with unready status: [a b]');
  });
  it('takes started and ready from the probes, and counts a completed init container as ready', () => {
    const running: ContainerRecord = { restartCount: 0, everStarted: true, running: { containerID: 'process://1', startedAt: t0 } };
    const s = containerStatus({ name: 'a' }, running, 'ContainerCreating', 'Always', { started: true, ready: false });
    assert.deepEqual([s.started, s.ready], [true, false]);
    const init = containerStatus({ name: 'i' }, { restartCount: 0, everStarted: true, terminated: ended(0) }, 'PodInitializing', 'OnFailure', { started: false, ready: true });
    assert.deepEqual([init.started, init.ready, init.state.terminated.reason], [false, true, 'Completed']);
  });

  it('holds Ready back until every readiness gate is True', () => {
    const spec = { readinessGates: [{ conditionType: 'example.com/lb' }], containers: [{ name: 'a' }] };
    const ready = [containerStatus({ name: 'a' }, { restartCount: 0, everStarted: true, running: { containerID: 'process://1', startedAt: t0 } }, 'ContainerCreating', 'Always')];
    const missing = podConditions(spec, 'Running', [], ready, true, []);
    const byType = (cs: any[], t: string) => cs.find((c) => c.type === t);
    assert.deepEqual(byType(missing, 'ContainersReady').status, 'True');
    assert.deepEqual(
      [byType(missing, 'Ready').status, byType(missing, 'Ready').reason, byType(missing, 'Ready').message],
      ['False', 'ReadinessGatesNotReady', 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'],
    );
    const falseGate = podConditions(spec, 'Running', [], ready, true, [{ type: 'example.com/lb', status: 'False' }]);
    assert.equal(byType(falseGate, 'Ready').message, 'the status of pod readiness gate "example.com/lb" is not "True", but False');
    assert.equal(byType(podConditions(spec, 'Running', [], ready, true, [{ type: 'example.com/lb', status: 'True' }]), 'Ready').status, 'True');
    const pod = { spec, status: { conditions: [...falseGate, { type: 'example.com/lb', status: 'True' }] } };
    assert.equal(needsReadinessReconcile(pod), true, 'a gate turned True while Ready is False');
    assert.equal(needsReadinessReconcile({ spec: { containers: [] }, status: pod.status }), false);
  });

  it('formats back-off durations as Go does', () => {
    assert.deepEqual([10_000, 20_000, 80_000, 300_000, 250].map(goDuration), ['10s', '20s', '1m20s', '5m0s', '250ms']);
  });
});
