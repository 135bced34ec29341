/**
 * The device manager's checkpoint (upstream devicemanager's
 * `kubelet_internal_checkpoint`): which devices each container of each
 * admitted pod holds, written atomically with a checksum so that a restarted
 * node agent gives a pod the same devices and never hands them to another.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';

/** The devices of one resource held by one container (upstream PodDevicesEntry). */
export interface PodDevicesEntry {
  podUid: string;
  namespace: string;
  name: string;
  container: string;
  resource: string;
  deviceIds: string[];
}

/** What the checkpoint holds. */
export interface DeviceCheckpoint {
  entries: PodDevicesEntry[];
  /** Device IDs per resource when it was written (upstream RegisteredDevices). */
  registeredDevices: Record<string, string[]>;
}

/** The checkpoint file's name under the agent's data dir (upstream's, in its device-plugins directory). */
export const CHECKPOINT_FILE = 'device-plugins/kubelet_internal_checkpoint';

function checksum(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes the checkpoint: a temporary file, flushed, renamed over the old one (a crash leaves the old or the new, never half). */
export function writeCheckpoint(path: string, cp: DeviceCheckpoint): void {
  mkdirSync(dirname(path), { recursive: true });
  const data = JSON.stringify(cp);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `{"data":${data},"checksum":"${checksum(data)}"}`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Reads the checkpoint; undefined when there is none. A file that does not
 * parse or whose checksum does not match is an error (upstream
 * ErrCorruptCheckpoint), for the caller to report.
 */
export function readCheckpoint(path: string): DeviceCheckpoint | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let file: any;
  try {
    file = JSON.parse(text);
  } catch {
    throw new Error(`checkpoint ${path} is corrupt: not JSON`);
  }
  const data = JSON.stringify(file?.data);
  if (typeof file?.checksum !== 'string' || checksum(data) !== file.checksum) throw new Error(`checkpoint ${path} is corrupt: checksum mismatch`);
  const cp = file.data as DeviceCheckpoint;
  if (!Array.isArray(cp.entries)) throw new Error(`checkpoint ${path} is corrupt: no entries`);
  return { entries: cp.entries, registeredDevices: cp.registeredDevices ?? {} };
}
