/**
 * NVIDIA GPUs on a node, as NVIDIA's device plugin and GPU feature discovery
 * present them: devices found with `nvidia-smi` (or declared as simulated),
 * the `nvidia.com/gpu` extended resource, the `nvidia.com/gpu.*` node labels
 * and the environment a container is given for the devices it was allocated.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceSpec } from '../runtime/runtime.js';

/** The extended resource NVIDIA's device plugin advertises. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** Node label marking a node whose GPUs are simulated (declared with `--simulated-gpus`, no hardware behind them). */
export const SIMULATED_GPUS_LABEL = 'kite.io/simulated-gpus';

/** The product name simulated devices carry (and their node's `nvidia.com/gpu.product` label). */
export const SIMULATED_PRODUCT = 'Simulated';

/** The node labels this module manages (GPU feature discovery's product, memory and count, and the simulated marker). */
const MANAGED_LABELS = ['nvidia.com/gpu.product', 'nvidia.com/gpu.memory', 'nvidia.com/gpu.count', SIMULATED_GPUS_LABEL] as const;

/** The arguments the node agent runs `nvidia-smi` with. */
export const NVIDIA_SMI_ARGS = ['--query-gpu=index,uuid,name,memory.total', '--format=csv,noheader'];

/** One GPU of the node. */
export interface GpuDevice {
  /** nvidia-smi's index (PCI bus order), what CUDA_VISIBLE_DEVICES names with CUDA_DEVICE_ORDER=PCI_BUS_ID. */
  index: number;
  /** `GPU-<uuid>`: the device ID the NVIDIA device plugin hands to the kubelet and puts in NVIDIA_VISIBLE_DEVICES. */
  uuid: string;
  /** Product name, e.g. `NVIDIA A100-SXM4-80GB`. */
  name: string;
  /** Total memory in MiB, when nvidia-smi reports it. */
  memoryMiB?: number;
}

/** The GPUs a node offers and whether they are real. */
export interface GpuInventory {
  devices: GpuDevice[];
  /** True for devices declared with `--simulated-gpus`: allocation is tracked, but no hardware is behind them. */
  simulated: boolean;
}

/**
 * Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader`
 * (one line per GPU: `0, GPU-…, NVIDIA A100-SXM4-80GB, 81920 MiB`). The name
 * sits between the UUID and the last field, so a comma inside it does no harm;
 * a line that does not have this shape is an error.
 */
export function parseNvidiaSmi(text: string): GpuDevice[] {
  const out: GpuDevice[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 4) throw new Error(`unexpected nvidia-smi output line: ${JSON.stringify(line)}`);
    const index = Number(fields[0]);
    const uuid = fields[1]!;
    const name = fields.slice(2, -1).join(', ');
    const mem = /^(\d+)\s*MiB$/.exec(fields[fields.length - 1]!);
    if (!Number.isInteger(index) || index < 0 || !/^(GPU|MIG)-\S+$/.test(uuid) || !name) {
      throw new Error(`unexpected nvidia-smi output line: ${JSON.stringify(line)}`);
    }
    // nvidia-smi prints `[N/A]` or `[Insufficient Permissions]` for fields it cannot read: memory is then unknown.
    out.push({ index, uuid, name, ...(mem ? { memoryMiB: Number(mem[1]) } : {}) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Runs a program; resolves with its stdout or rejects with an error carrying `code` (ENOENT when absent). */
export type ProgramRunner = (file: string, args: string[]) => Promise<string>;

const runProgram: ProgramRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const msg = String(stderr).trim().split('\n')[0] || err.message;
        reject(Object.assign(new Error(msg), { code: (err as NodeJS.ErrnoException).code }));
      } else resolve(String(stdout));
    });
  });

/**
 * The node's NVIDIA GPUs from `nvidia-smi`. A machine without the tool, or
 * where it fails (no driver loaded), has none: that is said once in the log,
 * and the node runs without GPUs rather than not at all.
 */
export async function discoverGpus(opts: { log: (msg: string) => void; nvidiaSmi?: string; run?: ProgramRunner }): Promise<GpuDevice[]> {
  const file = opts.nvidiaSmi ?? 'nvidia-smi';
  let text: string;
  try {
    text = await (opts.run ?? runProgram)(file, NVIDIA_SMI_ARGS);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    opts.log(err.code === 'ENOENT' ? `GPUs: ${file} not found; this node offers no nvidia.com/gpu` : `GPUs: ${file} failed (${err.message}); this node offers no nvidia.com/gpu`);
    return [];
  }
  try {
    const devices = parseNvidiaSmi(text);
    opts.log(devices.length ? `GPUs: found ${devices.length} (${[...new Set(devices.map((d) => d.name))].join(', ')})` : 'GPUs: nvidia-smi lists none; this node offers no nvidia.com/gpu');
    return devices;
  } catch (e) {
    opts.log(`GPUs: ${(e as Error).message}; this node offers no nvidia.com/gpu`);
    return [];
  }
}

/**
 * `count` simulated GPUs. Their UUIDs keep the `GPU-<uuid>` shape and are
 * derived from the node name, so they stay the same across restarts (the
 * allocation checkpoint refers to them).
 */
export function simulatedGpus(count: number, nodeName: string): GpuDevice[] {
  return Array.from({ length: count }, (_, index) => {
    const h = createHash('sha256').update(`kite simulated gpu/${nodeName}/${index}`).digest('hex');
    const uuid = `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    return { index, uuid, name: SIMULATED_PRODUCT };
  });
}

/** A label value from free text, as GPU feature discovery writes product names (spaces and other characters become `-`). */
function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/**
 * The node labels for a node's GPUs, as GPU feature discovery sets them
 * (`nvidia.com/gpu.product`, `.memory` in MiB, `.count`), plus
 * `kite.io/simulated-gpus=true` on simulated ones. Labels of this set that
 * do not apply are null, so that a merge patch removes what an earlier run
 * of the node set.
 */
export function gpuNodeLabels(inv: GpuInventory): Record<string, string | null> {
  const labels: Record<string, string | null> = Object.fromEntries(MANAGED_LABELS.map((k) => [k, null]));
  const first = inv.devices[0];
  if (!first) return labels;
  labels['nvidia.com/gpu.product'] = labelValue(first.name) || null;
  if (first.memoryMiB !== undefined) labels['nvidia.com/gpu.memory'] = String(first.memoryMiB);
  labels['nvidia.com/gpu.count'] = String(inv.devices.length);
  if (inv.simulated) labels[SIMULATED_GPUS_LABEL] = 'true';
  return labels;
}

/**
 * The environment of a container on a GPU node. A container given devices
 * gets NVIDIA_VISIBLE_DEVICES with their UUIDs (the NVIDIA device plugin's
 * default `envvar` strategy with `uuid` IDs; the NVIDIA container toolkit
 * exposes exactly those). Where containers are host processes
 * (`hostDevices`), nothing hides the other devices, so CUDA_VISIBLE_DEVICES
 * names the same devices by index, with CUDA_DEVICE_ORDER=PCI_BUS_ID so that
 * CUDA counts in nvidia-smi's order. A container given none gets
 * NVIDIA_VISIBLE_DEVICES=void (the toolkit's "no GPU" value; CUDA images
 * default to `all`) and, as a host process, an empty CUDA_VISIBLE_DEVICES.
 */
export function gpuEnv(devices: readonly GpuDevice[], hostDevices: boolean): Record<string, string> {
  if (devices.length === 0) return { NVIDIA_VISIBLE_DEVICES: 'void', ...(hostDevices ? { CUDA_VISIBLE_DEVICES: '' } : {}) };
  const env: Record<string, string> = { NVIDIA_VISIBLE_DEVICES: devices.map((d) => d.uuid).join(',') };
  if (hostDevices) {
    env.CUDA_VISIBLE_DEVICES = devices.map((d) => d.index).join(',');
    env.CUDA_DEVICE_ORDER = 'PCI_BUS_ID';
  }
  return env;
}

/** Where the NVIDIA driver describes each GPU it drives: `<pci bus id>/information`. */
export const NVIDIA_PROC_GPUS = '/proc/driver/nvidia/gpus';

/**
 * Device nodes a container of any GPU also gets, where the host has them:
 * the NVIDIA device plugin's control devices (driver control, unified
 * memory, its tools, mode setting).
 */
export const NVIDIA_CONTROL_DEVICES = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset'] as const;

/** The UUID and device minor number in a driver `information` file (`GPU UUID: GPU-…`, `Device Minor: 0`). */
export function parseGpuInformation(text: string): { uuid?: string; minor?: number } {
  const uuid = /^GPU UUID:\s*(\S+)\s*$/m.exec(text)?.[1];
  const minor = /^Device Minor:\s*(\d+)\s*$/m.exec(text)?.[1];
  return { ...(uuid ? { uuid } : {}), ...(minor !== undefined ? { minor: Number(minor) } : {}) };
}

/**
 * UUID → device minor number of the host's GPUs, from the driver's /proc
 * files: `/dev/nvidia<minor>` is a GPU's device node, and the minor need
 * not be nvidia-smi's index. Empty where the driver is not loaded.
 */
export function gpuMinors(procDir: string = NVIDIA_PROC_GPUS): Map<string, number> {
  const out = new Map<string, number>();
  let buses: string[];
  try {
    buses = readdirSync(procDir);
  } catch {
    return out;
  }
  for (const bus of buses) {
    try {
      const { uuid, minor } = parseGpuInformation(readFileSync(join(procDir, bus, 'information'), 'utf8'));
      if (uuid && minor !== undefined) out.set(uuid, minor);
    } catch {
      /* not readable: that GPU falls back to its index */
    }
  }
  return out;
}

/**
 * The device nodes of a container given `devices`, as the NVIDIA device
 * plugin's Allocate returns them with device specs (read-write): each GPU's
 * `/dev/nvidia<minor>` (its nvidia-smi index where the driver does not say),
 * then the control devices that exist on the host. None for no GPUs. MIG
 * instances have no node of their own here and get the control devices only.
 */
export function gpuDeviceSpecs(devices: readonly GpuDevice[], opts: { minors?: ReadonlyMap<string, number>; exists?: (path: string) => boolean } = {}): DeviceSpec[] {
  if (devices.length === 0) return [];
  const exists = opts.exists ?? existsSync;
  const paths: string[] = [];
  for (const d of devices) {
    if (!d.uuid.startsWith('GPU-')) continue;
    const path = `/dev/nvidia${opts.minors?.get(d.uuid) ?? d.index}`;
    if (!paths.includes(path)) paths.push(path);
  }
  for (const c of NVIDIA_CONTROL_DEVICES) if (exists(c)) paths.push(c);
  return paths.map((path) => ({ hostPath: path, containerPath: path, permissions: 'rw' }));
}
