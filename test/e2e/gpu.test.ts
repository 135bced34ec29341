/**
 * GPUs on the real node, driven by the real kubectl: the node advertises
 * `nvidia.com/gpu` with GPU feature discovery's labels, containers that ask
 * for GPUs get devices of their own (NVIDIA_VISIBLE_DEVICES and, for the
 * process runtime, CUDA_VISIBLE_DEVICES, read back from `kubectl logs`), a
 * pod asking for more than is free waits in Pending, a pod bound past the
 * scheduler is rejected by the node agent, and allocations survive a restart
 * of `kite server`. Where `nvidia-smi` finds GPUs the test runs against them;
 * elsewhere the node gets four simulated ones.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KiteServer, eventually } from './harness.js';
import { NVIDIA_SMI_ARGS, parseNvidiaSmi, simulatedGpus, type GpuDevice } from '../../src/kubelet/devices/nvidia.js';

/** This machine's GPUs, when it has any. */
function realGpus(): GpuDevice[] {
  const r = spawnSync('nvidia-smi', NVIDIA_SMI_ARGS, { encoding: 'utf8' });
  if (r.status !== 0) return [];
  try {
    return parseNvidiaSmi(r.stdout);
  } catch {
    return [];
  }
}

const REAL = realGpus();
const SIMULATED = REAL.length === 0;
/** The GPUs the node has (once its name is known for simulated ones). */
let gpus: GpuDevice[] = REAL;
const COUNT = SIMULATED ? 4 : REAL.length;

let server: KiteServer;
let node: string;

before(async () => {
  server = new KiteServer({ agent: true, extraArgs: SIMULATED ? ['--simulated-gpus', String(COUNT)] : [] });
  await server.start();
  node = await eventually(async () => server.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']), 10_000, 'the node to register');
  if (SIMULATED) gpus = simulatedGpus(COUNT, node);
});

after(async () => {
  await server?.cleanup();
});

/** A pod whose containers print their GPU environment and stay up; `gpus` per container (0: asks for none). */
function gpuPod(name: string, containers: Record<string, number>, extra = ''): string {
  const cs = Object.entries(containers).map(
    ([c, n]) => `  - name: ${c}
    image: busybox
    command: ["sh", "-c", "echo RUN=$(cat /proc/sys/kernel/random/uuid); echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; exec sleep 3600"]
${n ? `    resources: {limits: {nvidia.com/gpu: ${n}}}\n` : ''}`,
  );
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
${extra}  containers:
${cs.join('')}`;
}

/** What a container printed in its latest run (`notRun`: wait for a run other than that one): its run ID and GPU variables as lists. */
async function printedEnv(pod: string, container: string, notRun?: string): Promise<{ run: string; nvidia: string[]; cuda: string[]; nvidiaRaw: string }> {
  return eventually(
    async () => {
      const out = await server.k(['logs', pod, '-c', container]);
      const runs = out.split(/^RUN=/m);
      const last = runs.length > 1 ? runs[runs.length - 1]! : '';
      const run = last.split('\n')[0]!;
      const nv = /^NVIDIA_VISIBLE_DEVICES=(.*)$/m.exec(last);
      const cu = /^CUDA_VISIBLE_DEVICES=(.*)$/m.exec(last);
      if (!nv || !cu || run === notRun) return undefined;
      return { run, nvidiaRaw: nv[1]!, nvidia: nv[1] ? nv[1].split(',') : [], cuda: cu[1] ? cu[1].split(',') : [] };
    },
    60_000,
    `the output of ${pod}/${container}`,
  );
}

/** The allocation annotation of a pod. */
async function annotation(pod: string): Promise<Record<string, string[]>> {
  const text = await server.k(['get', 'pod', pod, '-o', 'jsonpath={.metadata.annotations.kite\\.io/gpu-devices}']);
  return text ? JSON.parse(text) : {};
}

async function waitRunning(pod: string): Promise<void> {
  await server.k(['wait', '--for=jsonpath={.status.phase}=Running', `pod/${pod}`, '--timeout=60s']);
}

/** How each GPU-requesting container of the pods is served, checked against what it asked for. */
const plan: Record<string, Record<string, number>> = {
  'gpu-one': { main: 1 },
  ...(COUNT >= 2 ? { 'gpu-two': { small: 1, ...(COUNT >= 3 ? { big: COUNT - 2 } : {}), none: 0 } } : {}),
};

test('the node advertises its GPUs as nvidia.com/gpu, with GPU feature discovery labels', async () => {
  const out = await server.k(['describe', 'node', node]);
  for (const section of ['Capacity', 'Allocatable']) {
    const body = new RegExp(`^${section}:\\n((?:  .*\\n)+)`, 'm').exec(out)?.[1] ?? '';
    assert.match(body, new RegExp(`^  nvidia\\.com/gpu:\\s+${COUNT}$`, 'm'), `${section} of:\n${out}`);
  }
  const labels = JSON.parse(await server.k(['get', 'node', node, '-o', 'jsonpath={.metadata.labels}']));
  assert.equal(labels['nvidia.com/gpu.count'], String(COUNT));
  if (SIMULATED) {
    assert.equal(labels['kite.io/simulated-gpus'], 'true');
    assert.equal(labels['nvidia.com/gpu.product'], 'Simulated');
  } else {
    assert.equal(labels['kite.io/simulated-gpus'], undefined);
    assert.equal(labels['nvidia.com/gpu.product'], REAL[0]!.name.replace(/[^A-Za-z0-9._-]+/g, '-'));
    assert.equal(labels['nvidia.com/gpu.memory'], REAL[0]!.memoryMiB === undefined ? undefined : String(REAL[0]!.memoryMiB));
  }
});

/** What each container of the plan was given: pod → container → UUIDs. */
const given: Record<string, Record<string, string[]>> = {};
/** The run each container printed before the restart. */
const runs: Record<string, string> = {};

test('each container that asks for GPUs gets devices of its own; the others get none', async () => {
  // Admitted in the reverse of the order a restarted node lists them in, so that only the checkpoint can give them the same devices again.
  for (const [pod, containers] of Object.entries(plan).reverse()) {
    await server.k(['apply', '-f', '-'], gpuPod(pod, containers));
    await waitRunning(pod);
  }
  const seen: string[] = [];
  for (const [pod, containers] of Object.entries(plan)) {
    given[pod] = {};
    for (const [c, n] of Object.entries(containers)) {
      const env = await printedEnv(pod, c);
      runs[`${pod}/${c}`] = env.run;
      if (n === 0) {
        // The NVIDIA container toolkit's "no GPU" value; as host processes, CUDA sees none either.
        assert.equal(env.nvidiaRaw, 'void', `${pod}/${c}`);
        assert.deepEqual(env.cuda, [], `${pod}/${c}`);
        continue;
      }
      assert.equal(env.nvidia.length, n, `${pod}/${c} got ${n} GPUs: ${env.nvidiaRaw}`);
      for (const uuid of env.nvidia) assert.ok(gpus.some((g) => g.uuid === uuid), `${uuid} is one of the node's GPUs`);
      // CUDA_VISIBLE_DEVICES names the same devices by nvidia-smi index.
      assert.deepEqual(
        env.cuda,
        env.nvidia.map((u) => String(gpus.find((g) => g.uuid === u)!.index)),
        `${pod}/${c}`,
      );
      seen.push(...env.nvidia);
      given[pod]![c] = env.nvidia;
    }
    // The allocation is on the pod for users to see.
    assert.deepEqual(await annotation(pod), given[pod], `annotation of ${pod}`);
  }
  assert.equal(new Set(seen).size, seen.length, `no GPU given twice: ${seen.join(' ')}`);
  assert.equal(seen.length, COUNT, 'every GPU is in use');
});

test('a pod asking for more GPUs than are free stays Pending with Insufficient nvidia.com/gpu', async () => {
  await server.k(['apply', '-f', '-'], gpuPod('gpu-wait', { main: 1 }));
  await eventually(
    async () => {
      const out = await server.k(['describe', 'pod', 'gpu-wait']);
      return /FailedScheduling .*0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\./.test(out) ? out : undefined;
    },
    30_000,
    'the FailedScheduling event',
  );
  assert.equal(await server.k(['get', 'pod', 'gpu-wait', '-o', 'jsonpath={.status.phase}']), 'Pending');
});

test('a pod bound to the node past the scheduler is rejected by the node agent when its GPUs are taken', async () => {
  const want = Math.min(2, COUNT);
  await server.k(['apply', '-f', '-'], gpuPod('gpu-bound', { main: want }, `  nodeName: ${node}\n`));
  await server.k(['wait', '--for=jsonpath={.status.phase}=Failed', 'pod/gpu-bound', '--timeout=30s']);
  const message = `Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. Requested: ${want}, Available: 0, which is unexpected`;
  assert.equal(await server.k(['get', 'pod', 'gpu-bound', '-o', 'jsonpath={.status.reason}']), 'UnexpectedAdmissionError');
  assert.equal(await server.k(['get', 'pod', 'gpu-bound', '-o', 'jsonpath={.status.message}']), `Pod was rejected: ${message}`);
  // kubectl shows the reason as the pod's status, and the event says why.
  assert.match(await server.k(['get', 'pod', 'gpu-bound', '--no-headers']), /^gpu-bound\s+0\/1\s+UnexpectedAdmissionError\s/);
  await eventually(async () => (await server.k(['describe', 'pod', 'gpu-bound'])).includes(`Warning  UnexpectedAdmissionError`), 10_000, 'the rejection event');
  await server.k(['delete', 'pod', 'gpu-bound', '--wait=true']);
});

test('allocations survive a restart of the server; a deleted pod’s GPUs go to the pod that waited', async () => {
  assert.equal(await server.stop(), 0);
  await server.start();
  // The node agent starts the pods' containers again; each must see the devices it had.
  for (const [pod, containers] of Object.entries(plan)) {
    for (const [c, n] of Object.entries(containers)) {
      const env = await printedEnv(pod, c, runs[`${pod}/${c}`]);
      assert.deepEqual(env.nvidia, n ? given[pod]![c] : ['void'], `${pod}/${c} after the restart`);
    }
    assert.deepEqual(await annotation(pod), given[pod]);
  }
  assert.equal(await server.k(['get', 'pod', 'gpu-wait', '-o', 'jsonpath={.status.phase}']), 'Pending');

  await server.k(['delete', 'pod', 'gpu-one', '--wait=true']);
  await waitRunning('gpu-wait');
  assert.deepEqual((await printedEnv('gpu-wait', 'main')).nvidia, given['gpu-one']!.main);
  await server.k(['delete', 'pod', '--all', '--wait=true']);
});
