import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NVIDIA_SMI_ARGS, discoverGpus, gpuDeviceSpecs, gpuEnv, gpuMinors, gpuNodeLabels, parseGpuInformation, parseNvidiaSmi, simulatedGpus, type ProgramRunner } from './nvidia.js';

/**
 * `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader`
 * on an eight-GPU A100 machine, in the shape the driver prints it (product
 * names and memory sizes as published captures show them; UUIDs replaced).
 */
const A100_X8 = `0, GPU-4f9e4a6c-3b7d-1e0a-9c51-1d2b3c4d5e60, NVIDIA A100-SXM4-80GB, 81920 MiB
1, GPU-7a1c2b3d-4e5f-6071-8293-a4b5c6d7e8f9, NVIDIA A100-SXM4-80GB, 81920 MiB
2, GPU-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0, NVIDIA A100-SXM4-80GB, 81920 MiB
3, GPU-1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1, NVIDIA A100-SXM4-80GB, 81920 MiB
4, GPU-2d3e4f50-6172-8394-a5b6-c7d8e9f0a1b2, NVIDIA A100-SXM4-80GB, 81920 MiB
5, GPU-3e4f5061-7283-94a5-b6c7-d8e9f0a1b2c3, NVIDIA A100-SXM4-80GB, 81920 MiB
6, GPU-4f506172-8394-a5b6-c7d8-e9f0a1b2c3d4, NVIDIA A100-SXM4-80GB, 81920 MiB
7, GPU-50617283-94a5-b6c7-d8e9-f0a1b2c3d4e5, NVIDIA A100-SXM4-80GB, 81920 MiB
`;

/** One H100 (the memory nvidia-smi reports for an 80 GB HBM3 part) and a GeForce card on the same host, listed out of order. */
const MIXED = `1, GPU-9d8c7b6a-5948-3726-1504-f3e2d1c0b9a8, NVIDIA GeForce RTX 3090, 24576 MiB
0, GPU-a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90, NVIDIA H100 80GB HBM3, 81559 MiB
`;

describe('parseNvidiaSmi', () => {
  it('reads index, UUID, product name and memory of each GPU', () => {
    const gpus = parseNvidiaSmi(A100_X8);
    assert.equal(gpus.length, 8);
    assert.deepEqual(gpus[0], { index: 0, uuid: 'GPU-4f9e4a6c-3b7d-1e0a-9c51-1d2b3c4d5e60', name: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 });
    assert.deepEqual(
      gpus.map((g) => g.index),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    assert.equal(new Set(gpus.map((g) => g.uuid)).size, 8);
  });

  it('orders devices by index and keeps names with spaces', () => {
    const gpus = parseNvidiaSmi(MIXED);
    assert.deepEqual(
      gpus.map((g) => [g.index, g.name, g.memoryMiB]),
      [
        [0, 'NVIDIA H100 80GB HBM3', 81559],
        [1, 'NVIDIA GeForce RTX 3090', 24576],
      ],
    );
  });

  it('leaves memory unknown where nvidia-smi cannot read it', () => {
    const [gpu] = parseNvidiaSmi('0, GPU-a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90, NVIDIA L4, [N/A]\n');
    assert.equal(gpu!.memoryMiB, undefined);
    assert.equal(gpu!.name, 'NVIDIA L4');
  });

  it('treats empty output as no GPUs and rejects lines of another shape', () => {
    assert.deepEqual(parseNvidiaSmi('\n'), []);
    assert.throws(() => parseNvidiaSmi('No devices were found\n'), /unexpected nvidia-smi output line: "No devices were found"/);
    assert.throws(() => parseNvidiaSmi('x, GPU-1, NVIDIA A100, 1 MiB\n'), /unexpected nvidia-smi output line/);
  });
});

describe('discoverGpus', () => {
  it('runs nvidia-smi with the query arguments and returns what it lists', async () => {
    const calls: [string, string[]][] = [];
    const run: ProgramRunner = async (file, args) => {
      calls.push([file, args]);
      return MIXED;
    };
    const logs: string[] = [];
    const gpus = await discoverGpus({ log: (m) => logs.push(m), run });
    assert.deepEqual(calls, [['nvidia-smi', NVIDIA_SMI_ARGS]]);
    assert.deepEqual(NVIDIA_SMI_ARGS, ['--query-gpu=index,uuid,name,memory.total', '--format=csv,noheader']);
    assert.equal(gpus.length, 2);
    assert.deepEqual(logs, ['GPUs: found 2 (NVIDIA H100 80GB HBM3, NVIDIA GeForce RTX 3090)']);
  });

  it('finds no GPUs, said once, where nvidia-smi is absent (the real lookup of a missing program)', async () => {
    const logs: string[] = [];
    const gpus = await discoverGpus({ log: (m) => logs.push(m), nvidiaSmi: '/nonexistent/nvidia-smi' });
    assert.deepEqual(gpus, []);
    assert.deepEqual(logs, ['GPUs: /nonexistent/nvidia-smi not found; this node offers no nvidia.com/gpu']);
  });

  it('finds no GPUs where nvidia-smi fails (no driver loaded)', async () => {
    const logs: string[] = [];
    const run: ProgramRunner = async () => {
      throw Object.assign(new Error("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."), { code: 9 });
    };
    assert.deepEqual(await discoverGpus({ log: (m) => logs.push(m), run }), []);
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^GPUs: nvidia-smi failed \(NVIDIA-SMI has failed .*\); this node offers no nvidia\.com\/gpu$/);
  });
});

describe('simulated GPUs', () => {
  it('have distinct GPU-UUID-shaped IDs that stay the same for a node', () => {
    const a = simulatedGpus(4, 'node-a');
    assert.deepEqual(
      a.map((g) => g.index),
      [0, 1, 2, 3],
    );
    for (const g of a) assert.match(g.uuid, /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(new Set(a.map((g) => g.uuid)).size, 4);
    assert.deepEqual(simulatedGpus(4, 'node-a'), a);
    assert.notEqual(simulatedGpus(1, 'node-b')[0]!.uuid, a[0]!.uuid);
  });
});

describe('gpuNodeLabels', () => {
  it('labels product, memory and count as GPU feature discovery does', () => {
    assert.deepEqual(gpuNodeLabels({ devices: parseNvidiaSmi(A100_X8), simulated: false }), {
      'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB',
      'nvidia.com/gpu.memory': '81920',
      'nvidia.com/gpu.count': '8',
      'kite.io/simulated-gpus': null,
    });
  });

  it('marks simulated GPUs so nobody mistakes them for hardware', () => {
    assert.deepEqual(gpuNodeLabels({ devices: simulatedGpus(2, 'n'), simulated: true }), {
      'nvidia.com/gpu.product': 'Simulated',
      'nvidia.com/gpu.memory': null,
      'nvidia.com/gpu.count': '2',
      'kite.io/simulated-gpus': 'true',
    });
  });

  it('removes the labels from a node without GPUs', () => {
    const labels = gpuNodeLabels({ devices: [], simulated: false });
    assert.ok(Object.values(labels).every((v) => v === null));
    assert.ok('nvidia.com/gpu.product' in labels && 'kite.io/simulated-gpus' in labels);
  });
});

describe('gpuEnv', () => {
  const [g0, g1, g2] = parseNvidiaSmi(A100_X8);

  it('names the given devices by UUID, and by index for host processes', () => {
    assert.deepEqual(gpuEnv([g2!, g0!], true), {
      NVIDIA_VISIBLE_DEVICES: `${g2!.uuid},${g0!.uuid}`,
      CUDA_VISIBLE_DEVICES: '2,0',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    });
    assert.deepEqual(gpuEnv([g1!], false), { NVIDIA_VISIBLE_DEVICES: g1!.uuid });
  });

  it('hides every device from a container given none', () => {
    assert.deepEqual(gpuEnv([], true), { NVIDIA_VISIBLE_DEVICES: 'void', CUDA_VISIBLE_DEVICES: '' });
    assert.deepEqual(gpuEnv([], false), { NVIDIA_VISIBLE_DEVICES: 'void' });
  });
});

/** A driver `information` file as /proc/driver/nvidia/gpus/<bus>/information has it (tab-separated, values aligned). */
const information = (uuid: string, minor: number) =>
  `Model: \t\t NVIDIA A100-SXM4-80GB\nIRQ:   \t\t 0\nGPU UUID: \t ${uuid}\nVideo BIOS: \t 92.00.36.00.02\nBus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\nBus Location: \t 0000:07:00.0\nDevice Minor: \t ${minor}\nGPU Excluded:\t No\n`;

describe('GPU device nodes', () => {
  const gpus = parseNvidiaSmi(A100_X8);

  it('reads the UUID and device minor of a GPU from the driver', () => {
    assert.deepEqual(parseGpuInformation(information(gpus[3]!.uuid, 5)), { uuid: gpus[3]!.uuid, minor: 5 });
    assert.deepEqual(parseGpuInformation('Model: x\n'), {});
  });

  it('maps UUIDs to minors from a /proc/driver/nvidia/gpus tree, and finds none without the driver', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kite-nvidia-proc-'));
    try {
      for (const [bus, gpu, minor] of [['0000:07:00.0', gpus[0]!, 1], ['0000:0f:00.0', gpus[1]!, 0]] as const) {
        mkdirSync(join(dir, bus));
        writeFileSync(join(dir, bus, 'information'), information(gpu.uuid, minor));
      }
      mkdirSync(join(dir, '0000:47:00.0')); // no information file: skipped
      assert.deepEqual(gpuMinors(dir), new Map([[gpus[0]!.uuid, 1], [gpus[1]!.uuid, 0]]));
      assert.deepEqual(gpuMinors(join(dir, 'absent')), new Map());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a container its GPUs by minor number and the control devices the host has, read-write', () => {
    const have = new Set(['/dev/nvidiactl', '/dev/nvidia-uvm']);
    const specs = gpuDeviceSpecs([gpus[2]!, gpus[0]!], { minors: new Map([[gpus[0]!.uuid, 1], [gpus[2]!.uuid, 6]]), exists: (p) => have.has(p) });
    assert.deepEqual(specs, [
      { hostPath: '/dev/nvidia6', containerPath: '/dev/nvidia6', permissions: 'rw' },
      { hostPath: '/dev/nvidia1', containerPath: '/dev/nvidia1', permissions: 'rw' },
      { hostPath: '/dev/nvidiactl', containerPath: '/dev/nvidiactl', permissions: 'rw' },
      { hostPath: '/dev/nvidia-uvm', containerPath: '/dev/nvidia-uvm', permissions: 'rw' },
    ]);
  });

  it("falls back to nvidia-smi's index where the driver names no minor, and gives nothing for no GPUs", () => {
    const all = new Set(['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset']);
    assert.deepEqual(
      gpuDeviceSpecs([gpus[4]!], { exists: (p) => all.has(p) }).map((d) => d.hostPath),
      ['/dev/nvidia4', '/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset'],
    );
    assert.deepEqual(gpuDeviceSpecs([], { exists: () => true }), []);
    // A MIG instance has no /dev/nvidia<N> of its own.
    assert.deepEqual(
      gpuDeviceSpecs([{ index: 0, uuid: 'MIG-0c9bd9f6-0d7b-5d9a-9d45-3c5a3d9e1a11', name: 'NVIDIA A100' }], { exists: (p) => p === '/dev/nvidiactl' }).map((d) => d.hostPath),
      ['/dev/nvidiactl'],
    );
  });
});
