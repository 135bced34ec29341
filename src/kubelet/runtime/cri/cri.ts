/**
 * The `cri` runtime: real OCI containers through containerd's CRI v1 API,
 * with the node agent's own containerd (see containerd.ts). Pods are CRI
 * sandboxes on the node's bridge and pod CIDR (CNI), containers run from
 * images pulled from registries, logs are written by containerd in the CRI
 * format at the path the node agent chooses, exits arrive on containerd's
 * event stream, exec and attach go through containerd's streaming server.
 * Host ports go to CNI's portmap plugin with the sandbox, device nodes (GPUs)
 * with the container, and status names images as containerd does (the
 * registry digest).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { milliCpuToQuota, milliCpuToShares } from '../cgroups.js';
import { dialInPod, type ExecTools } from '../exec.js';
import { lookPath } from '../sys.js';
import {
  StartError,
  type ContainerConfig,
  type ContainerStats,
  type ExecRequest,
  type ExitStatus,
  type ImageInfo,
  type PortMapping,
  type RegistryAuth,
  type Runtime,
  type RunningContainer,
  type Sandbox,
  type SandboxConfig,
  type StreamSession,
} from '../runtime.js';
import { ContainerState, NamespaceMode, type CriContainerConfig, type CriContainerStatus, type PodSandboxConfig, type TaskExit } from './api.js';
import { CriClient, CriError, isCriError, nanosToDate, type Subscription } from './client.js';
import { CNI_BIN_DIR, CONTAINERD_BIN, CTR_BIN, Containerd, removeCgroupTree } from './containerd.js';
import { BUSYBOX, ociLayoutArchive, pauseImage } from './oci.js';
import { openStreamSession } from './streams.js';

/** The sandbox image Kite builds and imports when containerd lacks it. */
export const DEFAULT_SANDBOX_IMAGE = 'kite.local/pause:3.10';

/** kubelet's CFS period (100 ms). */
const CFS_PERIOD_US = 100_000;

/** Options of the cri runtime. */
export interface CriRuntimeOptions {
  /** containerd's directories live under `<dataDir>/containerd`. */
  dataDir: string;
  /** This node's pod CIDR and bridge, as for the process runtime. */
  podCidr: string;
  bridge: string;
  /** Top of the pods' cgroup tree (default `kite`): pod P's containers go under `/<cgroupName>/pod<uid>`. */
  cgroupName?: string;
  /** The node IP that host-network pods report (default: the first non-internal IPv4 address). */
  nodeIp?: string;
  /** Sandbox image (default DEFAULT_SANDBOX_IMAGE, built from `busybox` when containerd lacks it). */
  sandboxImage?: string;
  /** The busybox-static binary the sandbox image is built from (default /bin/busybox). */
  busybox?: string;
  /** `host:port` of registries reached over plain HTTP (loopback ones always are). */
  insecureRegistries?: string[];
  log: (msg: string) => void;
}

/** What the runtime remembers about a sandbox it created. */
interface SandboxState {
  config: PodSandboxConfig;
  /** Next CRI attempt number per container name (CRI refuses a name+attempt twice in a sandbox). */
  attempts: Map<string, number>;
}

/** What the runtime remembers about a started container until it has ended. */
interface ContainerEntry {
  id: string;
  sandboxId: string;
  startedAt: Date;
  /** CRI ContainerStatus.imageRef once known. */
  imageRef?: string;
  exited: Promise<ExitStatus>;
  resolve: (s: ExitStatus) => void;
  finishing?: boolean;
  /** An exit was heard while a check that may find it still running was under way: check again after it. */
  recheck?: boolean;
}

let versionCache: string | undefined;
/** `containerd://<version>` of the installed containerd (`containerd --version`, read once). */
export function containerdVersion(): string {
  if (versionCache) return versionCache;
  try {
    // "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
    const out = execFileSync(CONTAINERD_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    versionCache = `containerd://${out.trim().split(/\s+/)[2] ?? 'unknown'}`;
  } catch {
    versionCache = 'containerd://unknown';
  }
  return versionCache;
}

/** Why this machine cannot run the cri runtime (a missing program), or undefined. */
export function criUnavailable(busybox = BUSYBOX): string | undefined {
  for (const [path, pkg] of [
    [CONTAINERD_BIN, 'containerd'],
    [CTR_BIN, 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    [join(CNI_BIN_DIR, 'bridge'), 'containernetworking-plugins'],
    [busybox, 'busybox-static'],
  ]) {
    if (!existsSync(path!)) return `${path} not found (install the Debian package ${pkg})`;
  }
  if (process.getuid?.() !== 0) return 'containerd needs root';
  return undefined;
}

/** The cri runtime (see the module comment). */
export class CriRuntime implements Runtime {
  private readonly containerd: Containerd;
  private client?: CriClient;
  private readonly sandboxes = new Map<string, SandboxState>();
  private readonly containers = new Map<string, ContainerEntry>();
  private events?: Subscription;
  private stopping = false;
  /** Host tools port-forward uses to reach into a pod's network namespace. */
  private readonly tools: ExecTools = { sh: lookPath('sh') ?? '/bin/sh', nsenter: lookPath('nsenter'), socat: lookPath('socat') };

  constructor(private readonly opts: CriRuntimeOptions) {
    this.containerd = new Containerd({
      dir: join(opts.dataDir, 'containerd'),
      podCidr: opts.podCidr,
      bridge: opts.bridge,
      sandboxImage: this.sandboxImage,
      insecureRegistries: opts.insecureRegistries,
      log: opts.log,
    });
  }

  /** Container ids in pod status read `containerd://<id>`, as upstream's with containerd. */
  readonly containerIdScheme = 'containerd';

  /** `containerd://<version>`, as node.status.nodeInfo.containerRuntimeVersion shows it. */
  get version(): string {
    return containerdVersion();
  }

  /** The node IP host-network pods get. */
  get nodeIp(): string {
    return this.opts.nodeIp ?? firstHostIPv4() ?? '127.0.0.1';
  }

  /** The sandbox image reference in use. */
  get sandboxImage(): string {
    return this.opts.sandboxImage ?? DEFAULT_SANDBOX_IMAGE;
  }

  private get cgroupRoot(): string {
    return this.opts.cgroupName ?? 'kite';
  }

  /** The CRI client (for tests and tools that talk to the same containerd). */
  get cri(): CriClient {
    if (!this.client) throw new Error('the cri runtime is not started');
    return this.client;
  }

  /**
   * Starts containerd, makes sure the sandbox image is there, removes the
   * sandboxes an earlier run left (their containers cannot be re-adopted)
   * and subscribes to container exits.
   */
  async start(): Promise<void> {
    const why = criUnavailable(this.opts.busybox);
    if (why) throw new Error(`cri runtime: ${why}`);
    this.stopping = false;
    try {
      this.client = await this.containerd.start();
      await this.ensureSandboxImage();
      const stale = await this.client.listPodSandbox();
      for (const s of stale) await this.removeCriSandbox(s.id, s.metadata?.uid);
      if (stale.length) this.opts.log(`cri runtime: removed ${stale.length} pod sandboxes left by an earlier run`);
      this.subscribe();
    } catch (e) {
      await this.containerd.stop(this.cgroupRoot).catch(() => undefined);
      this.client = undefined;
      throw e;
    }
  }

  /** Removes every sandbox (killing its containers) and stops containerd, leaving nothing behind. */
  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    if (client) {
      // Every sandbox of this containerd, known here or not (one whose creation was cut short).
      const uids = new Map([...this.sandboxes].map(([id, s]) => [id, s.config.metadata.uid]));
      try {
        for (const s of await client.listPodSandbox()) uids.set(s.id, s.metadata?.uid);
      } catch (e) {
        this.opts.log(`cri runtime: listing sandboxes: ${(e as Error).message}`);
      }
      await Promise.all([...uids].map(([id, uid]) => this.removeCriSandbox(id, uid).catch((e: Error) => this.opts.log(`cri runtime: removing sandbox ${id}: ${e.message}`))));
    }
    this.events?.close();
    this.events = undefined;
    // Whatever had not ended ended with containerd.
    for (const c of this.containers.values()) c.resolve({ exitCode: 137, reason: 'Error', message: 'the container runtime stopped', startedAt: c.startedAt, finishedAt: new Date() });
    this.containers.clear();
    this.sandboxes.clear();
    this.client = undefined;
    await this.containerd.stop(this.cgroupRoot);
  }

  /** Imports the sandbox image built from busybox-static unless containerd has it. */
  private async ensureSandboxImage(): Promise<void> {
    if (await this.client!.imageStatus(this.sandboxImage)) return;
    if (this.opts.sandboxImage) {
      // A configured image is pulled like any other (it may live in a registry).
      await this.client!.pullImage(this.sandboxImage);
      return;
    }
    const archive = join(this.opts.dataDir, 'containerd', 'pause-image.tar');
    writeFileSync(archive, ociLayoutArchive(pauseImage(this.opts.busybox ?? BUSYBOX), this.sandboxImage));
    try {
      await this.containerd.importImage(archive);
    } finally {
      rmSync(archive, { force: true });
    }
  }

  /** Follows containerd's task-exit events; resubscribes (and re-checks running containers) if the stream breaks. */
  private subscribe(): void {
    const client = this.client!;
    this.events = client.subscribeTaskExits(
      (e) => this.onTaskExit(e),
      (err) => {
        if (this.stopping || this.client !== client) return;
        this.opts.log(`cri runtime: containerd event stream ended (${err.message}); resubscribing`);
        setTimeout(() => {
          if (this.stopping || this.client !== client) return;
          this.subscribe();
          // Exits that happened while no stream was open are only visible in the containers' status.
          for (const c of this.containers.values()) void this.finish(c, true);
        }, 1000).unref();
      },
    );
  }

  private onTaskExit(e: TaskExit): void {
    // Exec'd processes exit with their own id; a container's init process carries the container id.
    if (e.id && e.id !== e.containerId) return;
    const c = this.containers.get(e.containerId);
    if (c) void this.finish(c);
  }

  /**
   * Records how a container ended, from its CRI status (which containerd
   * updates just after the exit event), and removes it; its log stays. With
   * `onlyIfExited`, a container still running is left alone.
   */
  private async finish(c: ContainerEntry, onlyIfExited = false): Promise<void> {
    if (c.finishing) {
      if (!onlyIfExited) c.recheck = true;
      return;
    }
    c.finishing = true;
    let status: CriContainerStatus | undefined;
    let gone = false;
    try {
      // containerd's CRI service hears the exit on the same event stream and records it a moment later: ask again
      // soon, then less often (5, 10, 20 ms…), for up to 2 s.
      const deadline = Date.now() + 2000;
      for (let wait = 5; ; wait = Math.min(wait * 2, 20)) {
        status = (await this.client!.containerStatus(c.id)).status;
        if (status.state === ContainerState.EXITED || onlyIfExited || Date.now() > deadline) break;
        await delay(wait);
      }
    } catch (e) {
      gone = isCriError(e, grpc.status.NOT_FOUND);
      if (!gone) this.opts.log(`cri runtime: status of container ${c.id}: ${(e as Error).message}`);
    }
    if (onlyIfExited && !gone && status?.state !== ContainerState.EXITED) {
      c.finishing = false;
      // An exit event that came while this check ran was set aside: it is looked at now.
      if (c.recheck) {
        c.recheck = false;
        void this.finish(c);
      }
      return;
    }
    this.containers.delete(c.id);
    if (status) {
      const startedAt = nanosToDate(status.startedAt) ?? c.startedAt;
      // containerd stamps startedAt after its task start returns and finishedAt with
      // the shim's exit time, so a process that exits at once can read as finished
      // before it started; the exit is never earlier than the start.
      const exitedAt = nanosToDate(status.finishedAt) ?? new Date();
      c.resolve({
        exitCode: status.exitCode,
        reason: status.reason || (status.exitCode === 0 ? 'Completed' : 'Error'),
        ...(status.message ? { message: status.message } : {}),
        startedAt,
        finishedAt: exitedAt < startedAt ? startedAt : exitedAt,
      });
    } else {
      c.resolve({ exitCode: 137, reason: 'Error', message: 'container removed', startedAt: c.startedAt, finishedAt: new Date() });
    }
    await this.client?.removeContainer(c.id).catch(() => undefined);
  }

  async createSandbox(cfg: SandboxConfig): Promise<Sandbox> {
    const client = this.cri;
    const config: PodSandboxConfig = {
      metadata: { name: cfg.name, uid: cfg.podUid, namespace: cfg.namespace, attempt: 0 },
      // kubelet gives host-network pods no hostname of their own (runc cannot set one without a UTS namespace).
      ...(cfg.hostNetwork ? {} : { hostname: cfg.hostname }),
      // Container log paths are absolute (the node agent picks them): the directory they are joined to is the root.
      logDirectory: '/',
      labels: { 'io.kubernetes.pod.name': cfg.name, 'io.kubernetes.pod.namespace': cfg.namespace, 'io.kubernetes.pod.uid': cfg.podUid },
      // Host ports: containerd hands them to the portmap plugin of the CNI network (DNAT on the node).
      ...(cfg.portMappings?.length ? { portMappings: criPortMappings(cfg.portMappings) } : {}),
      linux: {
        cgroupParent: `/${this.cgroupRoot}/pod${cfg.podUid}`,
        securityContext: { namespaceOptions: { network: cfg.hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } },
      },
    };
    // A failure reads as kubelet's FailedCreatePodSandbox does: the runtime's gRPC error text.
    const id = await client.runPodSandbox(config);
    this.sandboxes.set(id, { config, attempts: new Map() });
    if (cfg.hostNetwork) return { id, ip: this.nodeIp };
    const { status, info } = await client.podSandboxStatus(id, true);
    let netnsPath: string | undefined;
    try {
      const spec = JSON.parse(info.info ?? '{}').runtimeSpec;
      netnsPath = spec?.linux?.namespaces?.find((n: { type: string }) => n.type === 'network')?.path;
    } catch {
      /* verbose info is best effort */
    }
    return { id, ip: status.network?.ip ?? '', ...(netnsPath ? { netnsPath } : {}) };
  }

  async removeSandbox(sandbox: Sandbox): Promise<void> {
    await this.removeCriSandbox(sandbox.id, this.sandboxes.get(sandbox.id)?.config.metadata.uid);
  }

  /** Stops the sandbox's containers (recording their ends), then stops and removes it and its pod cgroup; idempotent. */
  private async removeCriSandbox(id: string, podUid: string | undefined): Promise<void> {
    const client = this.cri;
    const mine = [...this.containers.values()].filter((c) => c.sandboxId === id);
    await Promise.all(mine.map((c) => client.stopContainer(c.id, 0).catch(() => undefined)));
    await Promise.all(mine.map((c) => this.finish(c).then(() => c.exited)));
    try {
      await client.stopPodSandbox(id);
      await client.removePodSandbox(id);
    } catch (e) {
      if (!isCriError(e, grpc.status.NOT_FOUND)) throw e;
    }
    this.sandboxes.delete(id);
    if (podUid) removeCgroupTree(join(this.cgroupRoot, `pod${podUid}`));
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const img = await this.cri.imageStatus(image);
    return img ? { imageRef: img.id, sizeBytes: Number(img.size) } : undefined;
  }

  async pullImage(image: string, auth?: RegistryAuth): Promise<ImageInfo> {
    const ref = await this.cri.pullImage(image, auth);
    const img = await this.cri.imageStatus(image);
    return { imageRef: img?.id ?? ref, sizeBytes: Number(img?.size ?? 0) };
  }

  async startContainer(sandbox: Sandbox, cfg: ContainerConfig): Promise<RunningContainer> {
    const client = this.cri;
    const sb = this.sandboxes.get(sandbox.id);
    if (!sb) throw new StartError('CreateContainerError', `pod sandbox ${sandbox.id} not found`);
    const attempt = sb.attempts.get(cfg.name) ?? 0;
    sb.attempts.set(cfg.name, attempt + 1);
    await mkdir(dirname(cfg.logPath), { recursive: true });
    const { command, args } = commandAndArgs(cfg);
    const config: CriContainerConfig = {
      metadata: { name: cfg.name, attempt },
      image: { image: cfg.image },
      ...(command ? { command } : {}),
      ...(args ? { args } : {}),
      ...(cfg.workingDir ? { workingDir: cfg.workingDir } : {}),
      envs: Object.entries(cfg.env).map(([key, value]) => ({ key, value })),
      mounts: cfg.mounts.map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readOnly })),
      ...(cfg.devices?.length ? { devices: cfg.devices.map((d) => ({ containerPath: d.containerPath, hostPath: d.hostPath, permissions: d.permissions })) } : {}),
      labels: { 'io.kubernetes.container.name': cfg.name, 'io.kubernetes.pod.uid': cfg.podUid },
      logPath: cfg.logPath,
      stdin: !!cfg.stdin,
      stdinOnce: !!cfg.stdinOnce,
      tty: !!cfg.tty,
      linux: {
        resources: resources(cfg),
        // As kubelet sets them: the pod's network and IPC, a PID namespace of the container's own (no shareProcessNamespace).
        securityContext: { namespaceOptions: { network: sb.config.linux?.securityContext?.namespaceOptions?.network ?? NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } },
      },
    };
    let id: string;
    try {
      id = await client.createContainer(sandbox.id, config, sb.config);
    } catch (e) {
      // The node agent has made sure of the image just before, so it is not asked about again on the way to a start.
      // Used without that step (tools, tests), a missing image is pulled here, as IfNotPresent would, and the
      // container created again.
      if (await client.imageStatus(cfg.image).catch(() => true)) throw new StartError('CreateContainerError', (e as CriError).details ?? (e as Error).message);
      try {
        await client.pullImage(cfg.image);
      } catch (pe) {
        throw new StartError('ErrImagePull', (pe as Error).message);
      }
      try {
        id = await client.createContainer(sandbox.id, config, sb.config);
      } catch (e2) {
        throw new StartError('CreateContainerError', (e2 as CriError).details ?? (e2 as Error).message);
      }
    }
    let resolve!: (s: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((r) => (resolve = r));
    // Tracked before it starts: its exit event may come before StartContainer returns.
    const entry: ContainerEntry = { id, sandboxId: sandbox.id, startedAt: new Date(), exited, resolve };
    this.containers.set(id, entry);
    try {
      await client.startContainer(id);
    } catch (e) {
      this.containers.delete(id);
      await client.removeContainer(id).catch(() => undefined);
      throw new StartError('RunContainerError', (e as CriError).details ?? (e as Error).message);
    }
    let pid = 0;
    try {
      const { status, info } = await client.containerStatus(id, true);
      entry.startedAt = nanosToDate(status.startedAt) ?? entry.startedAt;
      if (status.imageRef) entry.imageRef = status.imageRef;
      pid = Number(JSON.parse(info.info ?? '{}').pid ?? 0);
      if (status.state === ContainerState.EXITED) void this.finish(entry);
    } catch (e) {
      // Gone already (it exited and was removed): the exit is recorded.
      if (!isCriError(e, grpc.status.NOT_FOUND)) throw e;
    }
    return { id, pid, startedAt: entry.startedAt, ...(entry.imageRef ? { imageRef: entry.imageRef } : {}), exited };
  }

  async stopContainer(c: RunningContainer, graceSeconds: number): Promise<ExitStatus> {
    const entry = this.containers.get(c.id);
    if (!entry) return c.exited;
    try {
      // containerd sends the image's stop signal (SIGTERM by default), then SIGKILL after the timeout.
      await this.cri.stopContainer(c.id, Math.max(0, Math.ceil(graceSeconds)));
    } catch (e) {
      if (!isCriError(e, grpc.status.NOT_FOUND)) throw e;
    }
    void this.finish(entry);
    return c.exited;
  }

  async exec(_sandbox: Sandbox, c: RunningContainer, req: ExecRequest): Promise<StreamSession> {
    let url: string;
    try {
      url = await this.cri.exec(c.id, req.argv, { tty: req.tty, stdin: req.stdin });
    } catch (e) {
      throw new StartError('RunContainerError', (e as CriError).details ?? (e as Error).message);
    }
    return openStreamSession(url, { stdin: req.stdin, tty: req.tty });
  }

  async attach(c: RunningContainer, req: { stdin: boolean; tty: boolean }): Promise<StreamSession> {
    let url: string;
    try {
      url = await this.cri.attach(c.id, req);
    } catch (e) {
      throw new StartError('RunContainerError', (e as CriError).details ?? (e as Error).message);
    }
    return openStreamSession(url, req);
  }

  async portForward(sandbox: Sandbox, port: number): Promise<Duplex> {
    // localhost in the pod's network namespace (containerd keeps it under its state dir), as containerd's own port-forward dials.
    return dialInPod(sandbox, port, this.tools);
  }

  async containerStats(): Promise<ContainerStats[]> {
    const stats = await this.cri.listContainerStats();
    const num = (v: { value: string } | null | undefined) => (v ? Number(v.value) : undefined);
    return stats
      // Only running containers: exited ones linger until removed and have no usage.
      .filter((s) => s.attributes?.id && this.containers.has(s.attributes.id))
      .map((s) => ({
        id: s.attributes!.id,
        timestamp: nanosToDate(s.cpu?.timestamp ?? s.memory?.timestamp) ?? new Date(),
        cpuUsageCoreNanoSeconds: num(s.cpu?.usageCoreNanoSeconds),
        memoryWorkingSetBytes: num(s.memory?.workingSetBytes),
        memoryUsageBytes: num(s.memory?.usageBytes),
        memoryRssBytes: num(s.memory?.rssBytes),
        pageFaults: num(s.memory?.pageFaults),
        majorPageFaults: num(s.memory?.majorPageFaults),
      }));
  }
}

/**
 * CRI's command and args from the runtime contract: the pod's own when the
 * node agent passes them apart; otherwise argv is the command (an empty argv
 * leaves both to the image).
 */
export function commandAndArgs(cfg: ContainerConfig): { command?: string[]; args?: string[] } {
  if (cfg.command !== undefined || cfg.args !== undefined) {
    return { ...(cfg.command?.length ? { command: cfg.command } : {}), ...(cfg.args?.length ? { args: cfg.args } : {}) };
  }
  return cfg.argv.length ? { command: cfg.argv } : {};
}

/** CRI's protocol numbers (runtime.v1 Protocol). */
const CRI_PROTOCOL = { TCP: 0, UDP: 1, SCTP: 2 } as const;

/** CRI PortMappings of a sandbox from the contract's (kubelet's generatePodSandboxConfig passes each hostPort this way). */
export function criPortMappings(ports: readonly PortMapping[]): { protocol: number; containerPort: number; hostPort: number; hostIp: string }[] {
  return ports.map((p) => ({ protocol: CRI_PROTOCOL[p.protocol] ?? CRI_PROTOCOL.TCP, containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' }));
}

/** CRI resources from the contract's limits, with kubelet's conversions (shares from the request, quota from the limit). */
export function resources(cfg: ContainerConfig): { cpuShares: number; cpuPeriod?: number; cpuQuota?: number; memoryLimitInBytes?: number } {
  return {
    cpuShares: milliCpuToShares(cfg.cpuRequestMillis ?? cfg.cpuLimitMillis),
    ...(cfg.cpuLimitMillis ? { cpuPeriod: CFS_PERIOD_US, cpuQuota: milliCpuToQuota(cfg.cpuLimitMillis) } : {}),
    ...(cfg.memoryLimitBytes ? { memoryLimitInBytes: cfg.memoryLimitBytes } : {}),
  };
}

function firstHostIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
