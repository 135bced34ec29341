/**
 * Pod volumes on the node (upstream pkg/volume plugins, in small): each
 * volume becomes a directory (or file) on the host that the runtime mounts at
 * the containers' `mountPath`s. emptyDir and the projected kinds live under
 * `<dataDir>/pods/<uid>/volumes/<plugin>/<name>`, as kubelet lays them out.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, posix } from 'node:path';
import { R, isStatus, type Client } from '../client/client.js';
import { containerResourceValue, podFieldValue } from './env.js';
import type { Mount } from './runtime/runtime.js';

/** Why a volume could not be set up; `unbound` failures are waited out (the claim may bind later). */
export class VolumeError extends Error {
  constructor(
    readonly volume: string,
    message: string,
    readonly unbound = false,
  ) {
    super(message);
    this.name = 'VolumeError';
  }
}

/** What preparing volumes needs besides the pod. */
export interface VolumeContext {
  client: Client;
  /** `<dataDir>/pods/<uid>`. */
  podDir: string;
  podIPs: readonly string[];
  hostIP: string;
  allocatable: Record<string, string>;
}

/** A prepared volume: where it lives on the host and whether it is read-only by nature. */
export interface PreparedVolume {
  hostPath: string;
  readOnly: boolean;
}

/** The upstream default file mode of configMap, secret, downwardAPI and projected files (0644). */
const DEFAULT_MODE = 0o644;

/** Where a volume of a plugin lives under the pod's directory (upstream `volumes/kubernetes.io~<plugin>/<name>`). */
function volumeDir(podDir: string, plugin: string, name: string): string {
  return join(podDir, 'volumes', `kubernetes.io~${plugin}`, name);
}

/** A file a projected-style volume writes: path relative to the volume, content, mode. */
interface VolumeFile {
  path: string;
  content: string | Buffer;
  mode: number;
}

/** Rewrites a volume directory to hold exactly these files. */
function writeFiles(dir: string, files: VolumeFile[]): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of files) {
    const rel = posix.normalize(f.path);
    // Validation forbids `..` and absolute paths; refuse them here too so a file never escapes its volume.
    if (rel.startsWith('..') || posix.isAbsolute(rel)) throw new Error(`invalid path ${JSON.stringify(f.path)}`);
    const target = join(dir, rel);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content);
    chmodSync(target, f.mode);
  }
}

/** Reads a ConfigMap's or Secret's data as bytes per key; undefined when it does not exist. */
async function readSource(client: Client, kind: 'configmap' | 'secret', namespace: string, name: string): Promise<Map<string, Buffer> | undefined> {
  try {
    const obj = await client.get(kind === 'configmap' ? R.configmaps : R.secrets, namespace, name);
    const out = new Map<string, Buffer>();
    if (kind === 'configmap') {
      for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v));
      for (const [k, v] of Object.entries((obj.binaryData ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'base64'));
    } else {
      for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'base64'));
    }
    return out;
  } catch (e) {
    if (isStatus(e, 404)) return undefined;
    throw e;
  }
}

/**
 * The files of a configMap or secret source (upstream MakePayload): every key,
 * or only `items` (each key must exist unless the source is optional).
 */
async function keyFiles(
  client: Client,
  kind: 'configmap' | 'secret',
  namespace: string,
  src: { name?: string; secretName?: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean },
  defaultMode: number,
): Promise<VolumeFile[] | undefined> {
  const name = (kind === 'secret' ? src.secretName ?? src.name : src.name) ?? '';
  const data = await readSource(client, kind, namespace, name);
  if (!data) {
    if (src.optional) return [];
    throw new Error(`${kind} "${name}" not found`);
  }
  if (!src.items?.length) return [...data].map(([k, v]) => ({ path: k, content: v, mode: defaultMode }));
  const files: VolumeFile[] = [];
  for (const item of src.items) {
    const v = data.get(item.key);
    if (v === undefined) {
      if (src.optional) continue;
      // upstream's messages differ by kind.
      throw new Error(kind === 'configmap' ? `configmap references non-existent config key: ${item.key}` : `references non-existent secret key: ${item.key}`);
    }
    files.push({ path: item.path, content: v, mode: item.mode ?? defaultMode });
  }
  return files;
}

/** The files of a downwardAPI source (fieldRef / resourceFieldRef items). */
function downwardFiles(pod: any, items: any[], defaultMode: number, ctx: VolumeContext): VolumeFile[] {
  return (items ?? []).map((item: any) => {
    let content = '';
    if (item.fieldRef) content = podFieldValue(pod, item.fieldRef.fieldPath, ctx.podIPs, ctx.hostIP);
    else if (item.resourceFieldRef) {
      const c = (pod.spec?.containers ?? []).find((x: any) => x.name === item.resourceFieldRef.containerName);
      content = containerResourceValue(item.resourceFieldRef, c, ctx.allocatable);
    }
    return { path: item.path, content, mode: item.mode ?? defaultMode };
  });
}

/** The file types hostPath `type` checks (upstream hostutil checkType). */
function checkHostPath(path: string, type: string | undefined): void {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  const fail = (what: string) => new Error(`hostPath type check failed: ${path} is not a ${what}`);
  switch (type ?? '') {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) {
        mkdirSync(path, { recursive: true, mode: 0o755 });
        return;
      }
      if (!st.isDirectory()) throw fail('directory');
      return;
    case 'Directory':
      if (!st?.isDirectory()) throw fail('directory');
      return;
    case 'FileOrCreate':
      if (!st) {
        writeFileSync(path, '', { mode: 0o644 });
        return;
      }
      if (!st.isFile()) throw fail('file');
      return;
    case 'File':
      if (!st?.isFile()) throw fail('file');
      return;
    case 'Socket':
      if (!st?.isSocket()) throw fail('socket file');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw fail('character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw fail('block device');
      return;
  }
  throw new Error(`hostPath type check failed: unknown type ${type}`);
}

/** The host directory of a claim's bound PersistentVolume (hostPath or local); waits (unbound) while the claim is not bound. */
async function claimPath(client: Client, namespace: string, volName: string, claimName: string): Promise<string> {
  let pvc: any;
  try {
    pvc = await client.get(R.persistentvolumeclaims, namespace, claimName);
  } catch (e) {
    if (isStatus(e, 404)) throw new VolumeError(volName, `persistentvolumeclaim "${claimName}" not found`, true);
    throw e;
  }
  if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) {
    throw new VolumeError(volName, `PersistentVolumeClaim is not bound: "${claimName}"`, true);
  }
  let pv: any;
  try {
    pv = await client.get(R.persistentvolumes, '', pvc.spec.volumeName);
  } catch (e) {
    if (isStatus(e, 404)) throw new VolumeError(volName, `persistentvolume "${pvc.spec.volumeName}" not found`, true);
    throw e;
  }
  const path = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
  if (!path) throw new VolumeError(volName, `persistentvolume "${pv.metadata?.name}": only hostPath and local volumes are supported on this node`);
  if (pv.spec?.hostPath) checkHostPath(path, pv.spec.hostPath.type || 'DirectoryOrCreate');
  else if (!existsSync(path)) throw new VolumeError(volName, `path "${path}" does not exist`);
  return path;
}

/**
 * Sets up every volume of a pod and returns where each lives on the host.
 * Failures name the volume (`MountVolume.SetUp failed for volume "x" : …`
 * is how kubelet reports them); an unbound claim is a VolumeError with `unbound`.
 */
export async function prepareVolumes(pod: any, ctx: VolumeContext): Promise<Map<string, PreparedVolume>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Map<string, PreparedVolume>();
  for (const v of pod.spec?.volumes ?? []) {
    const name: string = v.name;
    try {
      if (v.emptyDir !== undefined) {
        // medium: Memory would be a tmpfs upstream; a directory serves the same files.
        const dir = volumeDir(ctx.podDir, 'empty-dir', name);
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777);
        out.set(name, { hostPath: dir, readOnly: false });
      } else if (v.hostPath) {
        checkHostPath(v.hostPath.path, v.hostPath.type);
        out.set(name, { hostPath: v.hostPath.path, readOnly: false });
      } else if (v.configMap || v.secret) {
        const kind = v.configMap ? 'configmap' : 'secret';
        const src = v.configMap ?? v.secret;
        const files = (await keyFiles(ctx.client, kind, ns, src, src.defaultMode ?? DEFAULT_MODE)) ?? [];
        const dir = volumeDir(ctx.podDir, kind === 'configmap' ? 'configmap' : 'secret', name);
        writeFiles(dir, files);
        out.set(name, { hostPath: dir, readOnly: true });
      } else if (v.downwardAPI) {
        const dir = volumeDir(ctx.podDir, 'downward-api', name);
        writeFiles(dir, downwardFiles(pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? DEFAULT_MODE, ctx));
        out.set(name, { hostPath: dir, readOnly: true });
      } else if (v.projected) {
        const mode = v.projected.defaultMode ?? DEFAULT_MODE;
        const files: VolumeFile[] = [];
        for (const s of v.projected.sources ?? []) {
          if (s.configMap) files.push(...((await keyFiles(ctx.client, 'configmap', ns, s.configMap, mode)) ?? []));
          else if (s.secret) files.push(...((await keyFiles(ctx.client, 'secret', ns, s.secret, mode)) ?? []));
          else if (s.downwardAPI) files.push(...downwardFiles(pod, s.downwardAPI.items, mode, ctx));
          // serviceAccountToken and clusterTrustBundle sources need the TokenRequest API: not written yet.
        }
        const dir = volumeDir(ctx.podDir, 'projected', name);
        writeFiles(dir, files);
        out.set(name, { hostPath: dir, readOnly: true });
      } else if (v.persistentVolumeClaim) {
        const path = await claimPath(ctx.client, ns, name, v.persistentVolumeClaim.claimName);
        out.set(name, { hostPath: path, readOnly: !!v.persistentVolumeClaim.readOnly });
      } else {
        throw new Error('volume type is not supported on this node');
      }
    } catch (e) {
      if (e instanceof VolumeError) throw e;
      throw new VolumeError(name, `MountVolume.SetUp failed for volume "${name}" : ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * A container's mounts from its volumeMounts (upstream makeMounts): the
 * volume's host path, joined with `subPath` (created when missing), read-only
 * when the mount or the volume says so.
 */
export function containerMounts(container: any, volumes: ReadonlyMap<string, PreparedVolume>): Mount[] {
  const mounts: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const vol = volumes.get(m.name);
    if (!vol) throw new Error(`cannot find volume "${m.name}" to mount into container "${container.name}"`);
    let hostPath = vol.hostPath;
    if (m.subPath) {
      const sub = normalize(m.subPath);
      if (sub.startsWith('..') || sub.startsWith('/')) throw new Error(`error SubPath \`${m.subPath}\` must not be an absolute path or contain '..'`);
      hostPath = join(vol.hostPath, sub);
      if (!existsSync(hostPath)) mkdirSync(hostPath, { recursive: true });
    }
    mounts.push({ hostPath, containerPath: m.mountPath, readOnly: !!m.readOnly || vol.readOnly });
  }
  return mounts;
}
