/**
 * A CRI v1 client over gRPC (a unix socket), plus containerd's event stream
 * on the same socket. Errors read as kubelet shows them: Go's gRPC status
 * text, `rpc error: code = NotFound desc = …`.
 */
import * as grpc from '@grpc/grpc-js';
import {
  codec,
  method,
  root,
  TO_OBJECT,
  type AuthConfig,
  type ContainerItem,
  type CriContainerConfig,
  type CriContainerStats,
  type CriContainerStatus,
  type CriImage,
  type Envelope,
  type PodSandboxConfig,
  type PodSandboxItem,
  type PodSandboxStatus,
  type StringMap,
  type TaskExit,
} from './api.js';

const RUNTIME = 'runtime.v1.RuntimeService';
const IMAGES = 'runtime.v1.ImageService';
const EVENTS = 'containerd.services.events.v1.Events';

/** The namespace containerd's CRI plugin keeps its containers, images and events in. */
export const CRI_NAMESPACE = 'k8s.io';

/** Go's names of the gRPC status codes (what `rpc error: code = …` prints). */
const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(grpc.status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k.split('_').map((w) => w[0] + w.slice(1).toLowerCase()).join('')]),
);
CODE_NAMES[grpc.status.OK] = 'OK';
CODE_NAMES[grpc.status.CANCELLED] = 'Canceled';

/** A failed CRI call: the gRPC code and the runtime's description; the message is Go's status text. */
export class CriError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly rpc: string,
  ) {
    super(`rpc error: code = ${CODE_NAMES[code] ?? code} desc = ${details}`);
    this.name = 'CriError';
  }
}

/** True when `e` is a CriError with `code` (e.g. grpc.status.NOT_FOUND). */
export function isCriError(e: unknown, code?: grpc.status): e is CriError {
  return e instanceof CriError && (code === undefined || e.code === code);
}

/** Nanoseconds since the epoch (a decimal string, as int64 fields decode) → Date; undefined for 0. */
export function nanosToDate(nanos: string | number | undefined): Date | undefined {
  if (nanos === undefined || nanos === '0' || nanos === 0) return undefined;
  return new Date(Number(BigInt(nanos) / 1_000_000n));
}

/** An open event subscription; `close()` ends it. */
export interface Subscription {
  close(): void;
}

/** A client of one containerd socket (see the module comment). */
export class CriClient {
  private readonly client: grpc.Client;
  private readonly codecs = new Map<string, ReturnType<typeof codec>>();

  /** `socket` is the path of containerd's gRPC unix socket. */
  constructor(readonly socket: string) {
    // Large enough for verbose status replies (they embed the runtime spec as JSON).
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    this.client.close();
  }

  /** Resolves once the socket accepts a connection, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.client.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())));
  }

  private codecOf(type: string) {
    let c = this.codecs.get(type);
    if (!c) this.codecs.set(type, (c = codec(type)));
    return c;
  }

  /** One unary call; rejects with CriError. `timeoutMs` bounds it (default 2 minutes; pulls pass longer). */
  call<Res = any>(service: string, name: string, request: object, timeoutMs = 120_000): Promise<Res> {
    const m = method(service, name);
    const req = this.codecOf(m.requestType);
    const res = this.codecOf(m.responseType);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path,
        (v: object) => req.encode(v),
        (b: Buffer) => res.decode(b) as Res,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(new CriError(err.code ?? grpc.status.UNKNOWN, err.details ?? err.message, name));
          else resolve(value as Res);
        },
      );
    });
  }

  // RuntimeService

  /** The runtime's name and versions. */
  version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call(RUNTIME, 'Version', { version: 'v1' });
  }

  /** The runtime's conditions (RuntimeReady, NetworkReady). */
  async status(): Promise<{ type: string; status: boolean; reason: string; message: string }[]> {
    const r = await this.call(RUNTIME, 'Status', {});
    return r.status?.conditions ?? [];
  }

  /** Creates and starts a pod sandbox; returns its id. */
  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call(RUNTIME, 'RunPodSandbox', { config }, 5 * 60_000)).podSandboxId;
  }

  /** Stops a sandbox and every container in it, and tears its network down. */
  async stopPodSandbox(id: string): Promise<void> {
    await this.call(RUNTIME, 'StopPodSandbox', { podSandboxId: id });
  }

  /** Removes a stopped sandbox (and its containers). */
  async removePodSandbox(id: string): Promise<void> {
    await this.call(RUNTIME, 'RemovePodSandbox', { podSandboxId: id });
  }

  /** A sandbox's status; with `verbose`, `info.info` holds containerd's JSON (pid, netns path, spec). */
  podSandboxStatus(id: string, verbose = false): Promise<{ status: PodSandboxStatus; info: StringMap }> {
    return this.call(RUNTIME, 'PodSandboxStatus', { podSandboxId: id, verbose });
  }

  /** Sandboxes, optionally those with all of `labels`. */
  async listPodSandbox(labels?: StringMap): Promise<PodSandboxItem[]> {
    return (await this.call(RUNTIME, 'ListPodSandbox', { filter: labels ? { labelSelector: labels } : undefined })).items;
  }

  /** Creates a container in a sandbox (not started); returns its id. */
  async createContainer(podSandboxId: string, config: CriContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call(RUNTIME, 'CreateContainer', { podSandboxId, config, sandboxConfig })).containerId;
  }

  /** Starts a created container. */
  async startContainer(id: string): Promise<void> {
    await this.call(RUNTIME, 'StartContainer', { containerId: id });
  }

  /** Stops a container: its stop signal, then SIGKILL after `timeoutSeconds`; resolves once it has exited. */
  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.call(RUNTIME, 'StopContainer', { containerId: id, timeout: timeoutSeconds }, (timeoutSeconds + 60) * 1000);
  }

  /** Removes a container (stopping it first if it runs). */
  async removeContainer(id: string): Promise<void> {
    await this.call(RUNTIME, 'RemoveContainer', { containerId: id });
  }

  /** Containers, optionally of one sandbox. */
  async listContainers(filter: { podSandboxId?: string; labels?: StringMap } = {}): Promise<ContainerItem[]> {
    return (await this.call(RUNTIME, 'ListContainers', { filter: { podSandboxId: filter.podSandboxId ?? '', labelSelector: filter.labels ?? {} } })).containers;
  }

  /** A container's status; with `verbose`, `info.info` holds containerd's JSON (pid among it). */
  containerStatus(id: string, verbose = false): Promise<{ status: CriContainerStatus; info: StringMap }> {
    return this.call(RUNTIME, 'ContainerStatus', { containerId: id, verbose });
  }

  /** Runs a command in a container and collects its output (`timeoutSeconds` 0: no limit). */
  execSync(id: string, cmd: string[], timeoutSeconds = 0): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    return this.call(RUNTIME, 'ExecSync', { containerId: id, cmd, timeout: timeoutSeconds }, timeoutSeconds ? (timeoutSeconds + 30) * 1000 : 24 * 3600_000);
  }

  /** The streaming-server URL of an exec session. */
  async exec(id: string, cmd: string[], opts: { tty: boolean; stdin: boolean }): Promise<string> {
    return (await this.call(RUNTIME, 'Exec', { containerId: id, cmd, tty: opts.tty, stdin: opts.stdin, stdout: true, stderr: !opts.tty })).url;
  }

  /** The streaming-server URL of an attach session. */
  async attach(id: string, opts: { tty: boolean; stdin: boolean }): Promise<string> {
    return (await this.call(RUNTIME, 'Attach', { containerId: id, tty: opts.tty, stdin: opts.stdin, stdout: true, stderr: !opts.tty })).url;
  }

  /** The streaming-server URL of a port-forward session to a sandbox. */
  async portForward(podSandboxId: string, ports: number[]): Promise<string> {
    return (await this.call(RUNTIME, 'PortForward', { podSandboxId, port: ports })).url;
  }

  /** Usage of every container (cumulative CPU, memory working set). */
  async listContainerStats(): Promise<CriContainerStats[]> {
    return (await this.call(RUNTIME, 'ListContainerStats', { filter: {} })).stats;
  }

  // ImageService

  /** The image if present on the node, else undefined. */
  async imageStatus(image: string): Promise<CriImage | undefined> {
    const r = await this.call(IMAGES, 'ImageStatus', { image: { image } });
    return r.image ?? undefined;
  }

  /** Pulls an image (with credentials when given); returns its reference (the image id). */
  async pullImage(image: string, auth?: AuthConfig, sandboxConfig?: PodSandboxConfig): Promise<string> {
    return (await this.call(IMAGES, 'PullImage', { image: { image }, auth, sandboxConfig }, 30 * 60_000)).imageRef;
  }

  /** Images on the node. */
  async listImages(): Promise<CriImage[]> {
    return (await this.call(IMAGES, 'ListImages', {})).images;
  }

  /** Removes an image (idempotent). */
  async removeImage(image: string): Promise<void> {
    await this.call(IMAGES, 'RemoveImage', { image: { image } });
  }

  // containerd events

  /**
   * Subscribes to containerd's task-exit events of the CRI namespace (a
   * server stream: no polling). `onExit` gets each; `onEnd` the error that
   * ended the stream (containerd went away, or close()).
   */
  subscribeTaskExits(onExit: (e: TaskExit) => void, onEnd: (err: Error) => void): Subscription {
    const m = method(EVENTS, 'Subscribe');
    const req = this.codecOf(m.requestType);
    const res = this.codecOf(m.responseType);
    const exitType = root.lookupType('containerd.events.TaskExit');
    const stream = this.client.makeServerStreamRequest(
      m.path,
      (v: object) => req.encode(v),
      (b: Buffer) => res.decode(b) as Envelope,
      { filters: [`namespace=="${CRI_NAMESPACE}",topic=="/tasks/exit"`] },
      new grpc.Metadata(),
    );
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    stream.on('data', (env: Envelope) => {
      if (!env.event?.value) return;
      onExit(exitType.toObject(exitType.decode(env.event.value), TO_OBJECT) as TaskExit);
    });
    stream.on('error', (e: Error) => end(e));
    stream.on('end', () => end(new Error('event stream ended')));
    return { close: () => stream.cancel() };
  }
}
