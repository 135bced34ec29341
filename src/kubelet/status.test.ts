import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerStatus, podConditions, podPhase, type ContainerRecord } from './status.js';
import { goDuration } from './pods.js';

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

describe('container status', () => {
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
  it('formats back-off durations as Go does', () => {
    assert.deepEqual([10_000, 20_000, 80_000, 300_000, 250].map(goDuration), ['10s', '20s', '1m20s', '5m0s', '250ms']);
  });
});
