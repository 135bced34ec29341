/**
 * The pod workers with the real process runtime: probes changing readiness
 * and restarting containers, postStart/preStop hooks, init containers and
 * sidecars, driven through a node agent on an in-memory API server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../client/client.js';
import { eventually, getOrUndefined, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { ProcessRuntime } from './runtime/process.js';
import { leftovers, testRuntimeOptions } from './runtime/testing.js';
import { Kubelet } from './kubelet.js';

const NODE = 'node-1';
const PYTHON = '/usr/bin/python3';

let dir: string;
let cluster: TestCluster;
let kubelet: Kubelet;
let runtimeOpts: ReturnType<typeof testRuntimeOptions>;
/** A server in the test standing in for what hooks call; `hold` keeps a path's answer back until released. */
let hooks: Server;
let hooksPort: number;
const hookCalls: { path: string; at: number }[] = [];
const held = new Map<string, ServerResponse[]>();
const holding = new Set<string>();

/** A loopback port nobody listens on (pods share the host network in these tests). */
async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function createPod(name: string, spec: any): Promise<any> {
  return cluster.client.create(R.pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: NODE, ...spec } });
}

function pod(name: string): Promise<any> {
  return cluster.client.get(R.pods, 'default', name);
}

function cs(p: any, name: string): any {
  return [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])].find((s: any) => s.name === name);
}

function condition(p: any, type: string): any {
  return p.status?.conditions?.find((c: any) => c.type === type);
}

async function events(name: string): Promise<string[]> {
  return (await cluster.client.list(R.events, 'default')).items.filter((e: any) => e.involvedObject?.name === name).map((e: any) => `${e.reason}: ${e.message}`);
}

async function deletePod(name: string, gracePeriodSeconds?: number): Promise<void> {
  await cluster.client.delete(R.pods, 'default', name, gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds });
  await eventually(async () => !(await getOrUndefined(cluster.client, R.pods, 'default', name)), `${name} to be deleted`, 20_000);
}

/** A python HTTP server serving `root` on `port` (python ends on SIGTERM). */
function httpServerCommand(port: number, root: string): string[] {
  return [PYTHON, '-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', root];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kite-pods-'));
  cluster = await startTestCluster();
  await cluster.namespace('default', 'kube-node-lease');
  hooks = createServer((req: IncomingMessage, res: ServerResponse) => {
    hookCalls.push({ path: req.url!, at: Date.now() });
    if (req.url === '/fail') return req.socket.destroy();
    if (holding.has(req.url!)) {
      held.set(req.url!, [...(held.get(req.url!) ?? []), res]);
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  hooksPort = (hooks.address() as AddressInfo).port;
  runtimeOpts = testRuntimeOptions({ dataDir: join(dir, 'runtime'), hostNetworkOnly: true, nodeIp: '127.0.0.1' });
  kubelet = new Kubelet({
    client: cluster.client,
    nodeName: NODE,
    dataDir: join(dir, 'kubelet'),
    runtime: new ProcessRuntime(runtimeOpts),
    podCidr: '10.244.0.0/24',
    nodeIp: '127.0.0.1',
    log: () => {},
    port: 0,
    intervals: { leaseMs: 1000, nodeStatusMs: 1000 },
    backoff: { initialMs: 300, maxMs: 1200 },
    retryMs: 100,
  });
  await kubelet.start();
});

after(async () => {
  await kubelet?.stop();
  assert.deepEqual(leftovers(runtimeOpts), []);
  for (const rs of held.values()) for (const r of rs) r.end();
  hooks?.closeAllConnections();
  await new Promise((r) => hooks?.close(r));
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('probes', () => {
  it('turns Ready on and off with an httpGet readiness probe', async () => {
    const root = join(dir, 'www-ready');
    mkdirSync(root);
    const port = await freePort();
    await createPod('ready', {
      containers: [{ name: 'web', image: 'python', command: httpServerCommand(port, root), readinessProbe: { httpGet: { path: '/ready', port }, periodSeconds: 1, failureThreshold: 1 } }],
    });
    const running = await eventually(async () => {
      const p = await pod('ready');
      return cs(p, 'web')?.state.running && p;
    }, 'Running');
    assert.equal(cs(running, 'web').ready, false, 'not ready before the probe passes');
    assert.equal(cs(running, 'web').started, true);
    assert.deepEqual(
      [condition(running, 'Ready').status, condition(running, 'Ready').reason, condition(running, 'Ready').message],
      ['False', 'ContainersNotReady', 'containers with unready status: [web]'],
    );
    await eventually(async () => (await events('ready')).some((e) => e.startsWith('Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404')), 'the failing probe event');
    writeFileSync(join(root, 'ready'), 'yes');
    const ready = await eventually(async () => {
      const p = await pod('ready');
      return condition(p, 'Ready').status === 'True' && p;
    }, 'Ready');
    assert.equal(cs(ready, 'web').ready, true);
    assert.equal(condition(ready, 'ContainersReady').status, 'True');
    rmSync(join(root, 'ready'));
    await eventually(async () => condition(await pod('ready'), 'Ready').status === 'False', 'unready again');
    assert.equal(cs(await pod('ready'), 'web').restartCount, 0, 'readiness never restarts');
    await deletePod('ready');
  });

  it('restarts a container whose liveness probe fails, within the probe grace period', async () => {
    const port = await freePort();
    const created = await createPod('live', {
      terminationGracePeriodSeconds: 60,
      containers: [
        {
          name: 'c',
          image: 'busybox',
          // Ignores SIGTERM: only the liveness probe's own grace period (2 s at least) ends it soon.
          command: ['/bin/sh', '-c', "trap '' TERM; while :; do sleep 0.1; done"],
          livenessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 1 },
        },
      ],
    });
    const restarted = await eventually(async () => {
      const p = await pod('live');
      return cs(p, 'c')?.restartCount >= 1 && p;
    }, 'a restart', 20_000);
    const last = cs(restarted, 'c').lastState.terminated;
    assert.equal(last.exitCode, 137);
    assert.equal(last.reason, 'Error');
    const evs = await events('live');
    assert.ok(evs.includes(`Unhealthy: Liveness probe failed: dial tcp 127.0.0.1:${port}: connect: connection refused`), evs.join('\n'));
    assert.ok(evs.includes('Killing: Container c failed liveness probe, will be restarted'), evs.join('\n'));
    assert.equal(created.spec.terminationGracePeriodSeconds, 60);
    await deletePod('live', 0);
  });

  it('holds liveness back until the startup probe passes', async () => {
    const port = await freePort();
    const root = join(dir, 'www-startup');
    mkdirSync(root);
    await createPod('slow-start', {
      containers: [
        {
          name: 'c',
          image: 'python',
          // Listens only after 2 s: a liveness probe on its own would fail before then.
          command: ['/bin/sh', '-c', `sleep 2; exec ${httpServerCommand(port, root).join(' ')}`],
          startupProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 30 },
          livenessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const early = await eventually(async () => {
      const p = await pod('slow-start');
      return cs(p, 'c')?.state.running && p;
    }, 'Running');
    assert.equal(cs(early, 'c').started, false);
    assert.equal(cs(early, 'c').ready, false);
    const started = await eventually(async () => {
      const p = await pod('slow-start');
      return cs(p, 'c').started && p;
    }, 'started', 15_000);
    assert.equal(cs(started, 'c').ready, true, 'no readiness probe: ready once started');
    assert.equal(cs(started, 'c').restartCount, 0);
    const evs = await events('slow-start');
    assert.ok(evs.some((e) => e.startsWith('Unhealthy: Startup probe failed: dial tcp')), evs.join('\n'));
    assert.ok(!evs.some((e) => e.startsWith('Unhealthy: Liveness') || e.startsWith('Killing')), evs.join('\n'));
    await deletePod('slow-start');
  });

  it('runs exec probes in the container', async () => {
    const marker = join(dir, 'exec-ready');
    await createPod('exec-probe', {
      containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 3600'], readinessProbe: { exec: { command: ['/bin/cat', marker] }, periodSeconds: 1, failureThreshold: 1 } }],
    });
    await eventually(async () => (await events('exec-probe')).some((e) => e === `Unhealthy: Readiness probe failed: /bin/cat: ${marker}: No such file or directory\n`), 'the exec probe failure with its output');
    writeFileSync(marker, '');
    await eventually(async () => condition(await pod('exec-probe'), 'Ready').status === 'True', 'Ready');
    await deletePod('exec-probe', 0);
  });
});

describe('lifecycle hooks', () => {
  it('keeps a container out of Running until its postStart hook returns', async () => {
    holding.add('/started');
    await createPod('post-start', {
      containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 3600'], lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port: hooksPort, path: '/started' } } } }],
    });
    await eventually(() => held.get('/started')?.length, 'the hook call');
    const during = await pod('post-start');
    assert.deepEqual(cs(during, 'c').state, { waiting: { reason: 'ContainerCreating' } });
    assert.equal(during.status.phase, 'Pending');
    holding.delete('/started');
    held.get('/started')!.shift()!.end();
    const after = await eventually(async () => {
      const p = await pod('post-start');
      return cs(p, 'c').state.running && p;
    }, 'Running');
    assert.equal(after.status.phase, 'Running');
    await deletePod('post-start', 0);
  });

  it('does not let a hanging postStart hook hold up the deletion of its pod', async () => {
    holding.add('/hang');
    await createPod('post-start-hang', {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 3600'], lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port: hooksPort, path: '/hang' } } } }],
    });
    await eventually(() => held.get('/hang')?.length, 'the hook call');
    await deletePod('post-start-hang');
    assert.ok((await events('post-start-hang')).includes('FailedPostStartHook: PostStartHook failed'));
    holding.delete('/hang');
  });

  it('kills a container whose postStart hook fails and shows PostStartHookError', async () => {
    // The first attempt's hook fails; the second one's hangs, so its waiting reason can be read.
    const created = await createPod('post-start-fail', {
      containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 3600'], lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port: hooksPort, path: '/fail' } } } }],
    });
    const failing = await eventually(async () => {
      const p = await pod('post-start-fail');
      return cs(p, 'c')?.state.waiting?.reason === 'PostStartHookError' && p;
    }, 'PostStartHookError');
    assert.match(
      cs(failing, 'c').state.waiting.message,
      new RegExp(`^HTTP lifecycle hook \\(/fail\\) for Container "c" in Pod "post-start-fail_default\\(${created.metadata.uid}\\)" failed - error: Get "http://127\\.0\\.0\\.1:${hooksPort}/fail": `),
    );
    const evs = await events('post-start-fail');
    assert.ok(evs.includes('FailedPostStartHook: PostStartHook failed'), evs.join('\n'));
    assert.ok(evs.includes('Killing: FailedPostStartHook'), evs.join('\n'));
    await deletePod('post-start-fail', 0);
  });

  it('runs the preStop hook before SIGTERM on deletion', async () => {
    const marker = join(dir, 'prestop-term');
    await createPod('pre-stop', {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'c',
          image: 'busybox',
          command: ['/bin/sh', '-c', `trap 'echo term > ${marker}; exit 0' TERM; : > ${marker}.up; while :; do sleep 0.05; done`],
          lifecycle: { preStop: { httpGet: { host: '127.0.0.1', port: hooksPort, path: '/stopping' } } },
        },
      ],
    });
    await eventually(() => existsSync(`${marker}.up`), 'the trap in place');
    holding.add('/stopping');
    await cluster.client.delete(R.pods, 'default', 'pre-stop');
    await eventually(() => held.get('/stopping')?.length, 'the preStop call');
    assert.equal(existsSync(marker), false, 'no SIGTERM while the hook runs');
    holding.delete('/stopping');
    held.get('/stopping')!.shift()!.end();
    await eventually(async () => !(await getOrUndefined(cluster.client, R.pods, 'default', 'pre-stop')), 'deleted');
    assert.equal(readFileSync(marker, 'utf8'), 'term\n');
  });

  it('reports a failed preStop hook and stops the container anyway', async () => {
    await createPod('pre-stop-fail', {
      containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 3600'], lifecycle: { preStop: { httpGet: { host: '127.0.0.1', port: hooksPort, path: '/fail' } } } }],
    });
    await eventually(async () => cs(await pod('pre-stop-fail'), 'c')?.state.running, 'Running');
    await deletePod('pre-stop-fail');
    await eventually(async () => (await events('pre-stop-fail')).includes('FailedPreStopHook: PreStopHook failed'), 'the event');
  });

  it('runs exec hooks in the container', async () => {
    const out = join(dir, 'exec-hooks');
    await createPod('exec-hooks', {
      containers: [
        {
          name: 'c',
          image: 'busybox',
          command: ['/bin/sh', '-c', 'sleep 3600'],
          env: [{ name: 'WHO', value: 'hook' }],
          lifecycle: { postStart: { exec: { command: ['/bin/sh', '-c', `echo "post $WHO" >> ${out}`] } }, preStop: { exec: { command: ['/bin/sh', '-c', `echo pre >> ${out}`] } } },
        },
      ],
    });
    await eventually(async () => cs(await pod('exec-hooks'), 'c')?.state.running, 'Running');
    assert.equal(readFileSync(out, 'utf8'), 'post hook\n', 'the hook ran in the container, with its environment');
    await deletePod('exec-hooks');
    assert.equal(readFileSync(out, 'utf8'), 'post hook\npre\n');
  });
});

describe('init containers', () => {
  it('run one after another to completion before the app container', async () => {
    const order = join(dir, 'init-order');
    await createPod('inits', {
      restartPolicy: 'Never',
      initContainers: [
        { name: 'one', image: 'busybox', command: ['/bin/sh', '-c', `sleep 0.3; echo one >> ${order}`] },
        { name: 'two', image: 'busybox', command: ['/bin/sh', '-c', `echo two >> ${order}`] },
      ],
      containers: [{ name: 'main', image: 'busybox', command: ['/bin/sh', '-c', `echo main >> ${order}`] }],
    });
    const done = await eventually(async () => {
      const p = await pod('inits');
      return p.status.phase === 'Succeeded' && p;
    }, 'Succeeded');
    assert.equal(readFileSync(order, 'utf8'), 'one\ntwo\nmain\n');
    for (const name of ['one', 'two']) {
      assert.equal(cs(done, name).state.terminated.reason, 'Completed');
      assert.equal(cs(done, name).ready, true, 'a completed init container is ready');
      assert.equal(cs(done, name).started, false);
    }
    assert.deepEqual([condition(done, 'Initialized').status, condition(done, 'Initialized').reason], ['True', 'PodCompleted']);
  });

  it('fail the pod under restartPolicy Never, and are retried with back-off otherwise', async () => {
    await createPod('init-never', {
      restartPolicy: 'Never',
      initContainers: [{ name: 'bad', image: 'busybox', command: ['/bin/sh', '-c', 'exit 4'] }],
      containers: [{ name: 'main', image: 'busybox', command: ['/bin/true'] }],
    });
    const failed = await eventually(async () => {
      const p = await pod('init-never');
      return p.status.phase === 'Failed' && p;
    }, 'Failed');
    assert.equal(cs(failed, 'bad').state.terminated.exitCode, 4);
    assert.deepEqual(cs(failed, 'main').state, { waiting: { reason: 'PodInitializing' } });
    assert.deepEqual(
      [condition(failed, 'Initialized').status, condition(failed, 'Initialized').reason, condition(failed, 'Initialized').message],
      ['False', 'ContainersNotInitialized', 'containers with incomplete status: [bad]'],
    );

    await createPod('init-retry', {
      initContainers: [{ name: 'bad', image: 'busybox', command: ['/bin/sh', '-c', 'exit 4'] }],
      containers: [{ name: 'main', image: 'busybox', command: ['/bin/true'] }],
    });
    const looping = await eventually(async () => {
      const p = await pod('init-retry');
      return cs(p, 'bad')?.state.waiting?.reason === 'CrashLoopBackOff' && cs(p, 'bad').restartCount >= 2 && p;
    }, 'Init:CrashLoopBackOff');
    assert.equal(looping.status.phase, 'Pending');
    assert.equal(cs(looping, 'bad').lastState.terminated.exitCode, 4);
    assert.equal(cs(looping, 'main').restartCount, 0);
    await deletePod('init-retry', 0);
  });
});

describe('sidecars', () => {
  it('start in order once started, keep running beside the app, restart when they exit, and stop after it', async () => {
    const port = await freePort();
    const root = join(dir, 'www-sidecar');
    mkdirSync(root);
    const order = join(dir, 'sidecar-order');
    const restarts = join(dir, 'sidecar-restarts');
    await createPod('sidecars', {
      restartPolicy: 'Never',
      initContainers: [
        // Started only once its port answers: the next init container must wait for that.
        {
          name: 'proxy',
          image: 'python',
          restartPolicy: 'Always',
          command: ['/bin/sh', '-c', `sleep 1; echo proxy >> ${order}; exec ${httpServerCommand(port, root).join(' ')}`],
          startupProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 30 },
        },
        // Exits once: it is started again while the app runs.
        { name: 'flaky', image: 'busybox', restartPolicy: 'Always', command: ['/bin/sh', '-c', `if [ ! -e ${restarts} ]; then : > ${restarts}; exit 1; fi; exec sleep 3600`] },
        { name: 'setup', image: 'busybox', command: ['/bin/sh', '-c', `echo setup >> ${order}`] },
      ],
      containers: [{ name: 'main', image: 'busybox', command: ['/bin/sh', '-c', `echo main >> ${order}; while [ ! -e ${root}/done ]; do sleep 0.1; done`] }],
    });
    const running = await eventually(async () => {
      const p = await pod('sidecars');
      return cs(p, 'main')?.state.running && cs(p, 'flaky')?.state.running && p;
    }, 'the app container running beside its sidecars', 20_000);
    await eventually(() => readFileSync(order, 'utf8') === 'proxy\nsetup\nmain\n', 'the app container to run after the sidecar started and the init container completed');
    assert.equal(running.status.phase, 'Running');
    assert.equal(cs(running, 'proxy').started, true);
    assert.equal(cs(running, 'proxy').ready, true);
    assert.ok(cs(running, 'flaky').restartCount >= 1);
    assert.equal(condition(running, 'Initialized').status, 'True');
    writeFileSync(join(root, 'done'), '');
    const done = await eventually(async () => {
      const p = await pod('sidecars');
      return p.status.phase === 'Succeeded' && p;
    }, 'Succeeded once the app container finished', 20_000);
    assert.equal(cs(done, 'main').state.terminated.exitCode, 0);
    assert.ok(cs(done, 'proxy').state.terminated, 'the sidecar was stopped');
    assert.ok(cs(done, 'flaky').state.terminated);
    const evs = await events('sidecars');
    assert.ok(evs.includes('Killing: Stopping container proxy'), evs.join('\n'));
  });

  it('are stopped after the app container on deletion', async () => {
    const order = join(dir, 'stop-order');
    // Each leaves a file once its trap is in place (a SIGTERM before that would end it silently).
    const trap = (name: string, pause: string) => `trap 'echo ${name}-term >> ${order}; ${pause} echo ${name}-exit >> ${order}; exit 0' TERM; : > ${order}.${name}; while :; do sleep 0.05; done`;
    await createPod('sidecar-stop', {
      initContainers: [{ name: 'side', image: 'busybox', restartPolicy: 'Always', command: ['/bin/sh', '-c', trap('side', '')] }],
      containers: [{ name: 'main', image: 'busybox', command: ['/bin/sh', '-c', trap('main', 'sleep 0.5;')] }],
    });
    await eventually(() => existsSync(`${order}.main`) && existsSync(`${order}.side`), 'both traps in place');
    await deletePod('sidecar-stop');
    assert.deepEqual(readFileSync(order, 'utf8').trim().split('\n'), ['main-term', 'main-exit', 'side-term', 'side-exit']);
  });
});
