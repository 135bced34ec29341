import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '../../client/client.js';
import { GPU_DEVICES_ANNOTATION, NodeGpus } from './gpus.js';
import { simulatedGpus, type GpuInventory } from './nvidia.js';

const dir = mkdtempSync(join(tmpdir(), 'kite-gpus-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pod whose one container asks for `gpus` GPUs. */
function gpuPod(uid: string, gpus: number): any {
  const resources = { limits: { 'nvidia.com/gpu': String(gpus) }, requests: { 'nvidia.com/gpu': String(gpus) } };
  return { metadata: { uid, namespace: 'default', name: `train-${uid}` }, spec: { containers: [{ name: 'train', resources }] }, status: { phase: 'Pending' } };
}

/** NodeGpus over an API that records the annotation patches it gets. */
function nodeGpus(inventory: GpuInventory, hostDevices: boolean, pods: any[]) {
  const patches: any[] = [];
  const client = { patch: async (_r: unknown, _ns: string, _name: string, _type: string, body: any) => patches.push(body) } as unknown as Client;
  const gpus = new NodeGpus({
    inventory,
    hostDevices,
    dataDir: mkdtempSync(join(dir, 'node-')),
    client,
    pods: { get: (ns: string, name: string) => pods.find((p) => p.metadata.namespace === ns && p.metadata.name === name), waitForSync: async () => undefined } as any,
    log: () => undefined,
  });
  gpus.start();
  return { gpus, patches };
}

describe('NodeGpus device nodes', () => {
  const real: GpuInventory = { devices: simulatedGpus(2, 'n').map((d) => ({ ...d, name: 'NVIDIA H100 80GB HBM3' })), simulated: false };

  it('gives a cri container of a real GPU node the device node of its GPU', async () => {
    const pod = gpuPod('a', 1);
    const { gpus, patches } = nodeGpus(real, false, [pod]);
    assert.equal(await gpus.admit(pod), undefined);
    const [uuid] = JSON.parse(patches[0].metadata.annotations[GPU_DEVICES_ANNOTATION]).train;
    const index = real.devices.find((d) => d.uuid === uuid)!.index;
    // This host has no NVIDIA driver: the node is named by nvidia-smi's index, and there are no control devices to add.
    const nodes = gpus.containerDevices(pod, pod.spec.containers[0]).map((d) => d.hostPath);
    assert.equal(nodes[0], `/dev/nvidia${index}`);
    assert.deepEqual(gpus.containerEnv(pod, pod.spec.containers[0]), { NVIDIA_VISIBLE_DEVICES: uuid });
    assert.deepEqual(gpus.containerDevices(pod, { name: 'other' }), []);
  });

  it('gives none for simulated GPUs or where containers are host processes', async () => {
    const pod = gpuPod('b', 1);
    const simulated = nodeGpus({ devices: simulatedGpus(2, 'n'), simulated: true }, false, [pod]).gpus;
    assert.equal(await simulated.admit(pod), undefined);
    assert.deepEqual(simulated.containerDevices(pod, pod.spec.containers[0]), []);
    const host = nodeGpus(real, true, [pod]).gpus;
    assert.equal(await host.admit(pod), undefined);
    assert.deepEqual(host.containerDevices(pod, pod.spec.containers[0]), []);
  });
});
