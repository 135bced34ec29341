/**
 * The node agent's image step before a container starts (upstream
 * pkg/kubelet/images image_manager.go EnsureImageExists, in small): the
 * container's imagePullPolicy against what the runtime has, pulls with the
 * credentials of the pod's imagePullSecrets (upstream credentialprovider's
 * keyring matching), a per pod-and-image back-off, and upstream's events and
 * waiting reasons (ErrImagePull, ImagePullBackOff, ErrImageNeverPull).
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { RegistryAuth, Runtime } from './runtime/runtime.js';

/** Why a container's image is not there: its waiting reason and message. */
export class ImageError extends Error {
  constructor(
    readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName',
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** The registry host of an image reference as Docker resolves it: the first component when it names a host, else docker.io. */
export function registryHost(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** The repository of an image reference, host included (`docker.io/library/busybox` for `busybox:1`). */
export function repositoryOf(image: string): string {
  let name = image.split('@')[0]!;
  const lastColon = name.lastIndexOf(':');
  if (lastColon > name.lastIndexOf('/')) name = name.slice(0, lastColon);
  const host = registryHost(name);
  if (name.startsWith(`${host}/`)) return name;
  return `docker.io/${name.includes('/') ? name : `library/${name}`}`;
}

/** A docker config key (`https://index.docker.io/v1/`, `registry:5000`, `*.example.com/team`) as host and path. */
function parseConfigKey(key: string): { host: string; path: string } {
  let k = key.replace(/^https?:\/\//, '');
  k = k.replace(/\/v[12]\/?$/, '').replace(/\/+$/, '');
  const slash = k.indexOf('/');
  let host = slash < 0 ? k : k.slice(0, slash);
  const path = slash < 0 ? '' : k.slice(slash + 1);
  // Docker Hub's keys name its index; images name docker.io.
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
  return { host, path };
}

/** Whether a config host (possibly with `*` label globs, as upstream's URLsMatch allows) matches an image's registry host. */
function hostMatches(pattern: string, host: string): boolean {
  const [pHost, pPort = ''] = pattern.split(/:(?=\d+$)/);
  const [hHost, hPort = ''] = host.split(/:(?=\d+$)/);
  if (pPort !== hPort) return false;
  const pl = pHost!.split('.');
  const hl = hHost!.split('.');
  if (pl.length !== hl.length) return false;
  return pl.every((p, i) => p === hl[i] || (p.includes('*') && new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`).test(hl[i]!)));
}

/**
 * The credentials of the pod's pull secrets that apply to `image`, most
 * specific key first (upstream keyring lookup): a key matches when its host
 * matches the image's registry and its path, if any, prefixes the
 * repository. Reads `.dockerconfigjson` (`auths`) and legacy `.dockercfg`.
 */
export function credentialsFor(image: string, secrets: { type?: string; data?: Record<string, string> }[]): RegistryAuth[] {
  const repo = repositoryOf(image);
  const host = registryHost(repo);
  const repoPath = repo.slice(host.length + 1);
  const found: { specificity: number; auth: RegistryAuth }[] = [];
  for (const s of secrets) {
    let entries: Record<string, any> = {};
    try {
      if (s.type === 'kubernetes.io/dockerconfigjson' && s.data?.['.dockerconfigjson']) entries = JSON.parse(Buffer.from(s.data['.dockerconfigjson'], 'base64').toString()).auths ?? {};
      else if (s.type === 'kubernetes.io/dockercfg' && s.data?.['.dockercfg']) entries = JSON.parse(Buffer.from(s.data['.dockercfg'], 'base64').toString());
    } catch {
      continue; // upstream skips secrets it cannot parse
    }
    for (const [key, entry] of Object.entries(entries)) {
      const k = parseConfigKey(key);
      if (!hostMatches(k.host, host)) continue;
      if (k.path && repoPath !== k.path && !repoPath.startsWith(`${k.path}/`)) continue;
      let { username, password } = entry as { username?: string; password?: string };
      const auth = (entry as { auth?: string }).auth;
      if (auth && username === undefined) {
        const decoded = Buffer.from(auth, 'base64').toString();
        const colon = decoded.indexOf(':');
        if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      }
      found.push({ specificity: key.length, auth: { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) } });
    }
  }
  return found.sort((a, b) => b.specificity - a.specificity).map((f) => f.auth);
}

/** Go's time.Duration String() of a pull duration (e.g. `1.234s`, `850ms`). */
function goSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${+(ms / 1000).toFixed(3)}s`;
}

/** Configuration of the image manager. */
export interface ImageManagerConfig {
  runtime: Runtime;
  /** Reads the pods' pull secrets. */
  client: Client;
  recorder: EventRecorder;
  /** Pull back-off bounds (upstream: 10 s doubling to 300 s). */
  backoff?: { initialMs: number; maxMs: number };
  now?: () => Date;
  log?: (msg: string) => void;
}

/** Makes sure containers' images are on the node before they start (see the module comment). */
export class ImageManager {
  /** flowcontrol.Backoff entries by `<pod uid>_<image>`, with the last pull error for the back-off message. */
  private readonly backoff = new Map<string, { backoffMs: number; lastUpdate: number; lastError: string }>();

  constructor(private readonly cfg: ImageManagerConfig) {}

  private now(): number {
    return (this.cfg.now?.() ?? new Date()).getTime();
  }

  private get bounds() {
    return this.cfg.backoff ?? { initialMs: 10_000, maxMs: 300_000 };
  }

  /**
   * Ensures the image of `container` is present for `pod`, pulling per its
   * policy; resolves with the image's runtime id (empty for a runtime
   * without images) or rejects with ImageError. Records upstream's events.
   */
  async ensureImage(pod: any, container: any): Promise<string> {
    const { runtime, recorder } = this.cfg;
    const image: string = container.image ?? '';
    const event = (type: 'Normal' | 'Warning', reason: string, message: string) => void recorder.event(pod, type, reason, message);
    if (!image.trim()) {
      const msg = `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`;
      event('Warning', 'InspectFailed', msg);
      throw new ImageError('InvalidImageName', msg);
    }
    // A runtime without images runs host programs: the image is always "present".
    if (!runtime.imageStatus || !runtime.pullImage) {
      event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
      return '';
    }
    // The API server defaults the policy (Always for :latest or no tag, else IfNotPresent).
    const policy: string = container.imagePullPolicy ?? 'IfNotPresent';
    const present = await runtime.imageStatus(image);
    if (policy === 'Never' || (policy === 'IfNotPresent' && present)) {
      if (present) {
        event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return present.imageRef;
      }
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      event('Warning', 'ErrImageNeverPull', msg);
      throw new ImageError('ErrImageNeverPull', msg);
    }

    const key = `${pod.metadata?.uid}_${image}`;
    const entry = this.backoff.get(key);
    const now = this.now();
    if (entry && now - entry.lastUpdate < entry.backoffMs) {
      event('Normal', 'BackOff', `Back-off pulling image "${image}"`);
      // upstream 1.32: the back-off message carries the last pull error.
      throw new ImageError('ImagePullBackOff', `Back-off pulling image "${image}": ErrImagePull: ${entry.lastError}`);
    }

    const auths = credentialsFor(image, await this.pullSecrets(pod, event));
    event('Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.now();
    let lastError: Error | undefined;
    // upstream tries each matching credential in turn, then (with none) an anonymous pull.
    for (const auth of auths.length ? auths : [undefined]) {
      try {
        const pulled = await runtime.pullImage(image, auth);
        const took = goSeconds(this.now() - started);
        event('Normal', 'Pulled', `Successfully pulled image "${image}" in ${took} (${took} including waiting). Image size: ${pulled.sizeBytes} bytes.`);
        this.backoff.delete(key);
        return pulled.imageRef;
      } catch (e) {
        lastError = e as Error;
      }
    }
    const msg = lastError!.message;
    event('Warning', 'Failed', `Failed to pull image "${image}": ${msg}`);
    const b = this.bounds;
    // upstream flowcontrol.Backoff.Next: start at the initial delay, double up to the maximum; forget after 2× the maximum quiet.
    const backoffMs = !entry || now - entry.lastUpdate > 2 * b.maxMs ? b.initialMs : Math.min(entry.backoffMs * 2, b.maxMs);
    this.backoff.set(key, { backoffMs, lastUpdate: now, lastError: msg });
    throw new ImageError('ErrImagePull', msg);
  }

  /** Forgets the back-off entries of a pod (when it is gone). */
  forgetPod(podUid: string): void {
    for (const k of this.backoff.keys()) if (k.startsWith(`${podUid}_`)) this.backoff.delete(k);
  }

  /** The pod's pull secrets that exist; a missing one is an event, as upstream, and the pull goes on without it. */
  private async pullSecrets(pod: any, event: (type: 'Normal' | 'Warning', reason: string, message: string) => void): Promise<any[]> {
    const names: string[] = (pod.spec?.imagePullSecrets ?? []).map((r: { name?: string }) => r.name).filter(Boolean);
    const found: any[] = [];
    const missing: string[] = [];
    for (const name of names) {
      try {
        found.push(await this.cfg.client.get(R.secrets, pod.metadata.namespace, name));
      } catch (e) {
        if (!isStatus(e, 404) && !isStatus(e, 403)) throw e;
        missing.push(name);
      }
    }
    if (missing.length) event('Warning', 'FailedToRetrieveImagePullSecret', `Unable to retrieve some image pull secrets (${missing.join(', ')}); attempting to pull the image may not succeed.`);
    return found;
  }
}
