/**
 * The container runtime contract of the node agent. `process` (host
 * processes, the embedded default) implements it now; `cri` (containerd)
 * will implement the same interface and pass the same behaviour suite.
 */

/** A volume prepared on the node, to appear at `mountPath` in a container. */
export interface Mount {
  /** Directory or file on the node. */
  hostPath: string;
  /** Where the container sees it. */
  containerPath: string;
  readOnly: boolean;
}

/** What the runtime needs to create a pod's sandbox (its network namespace and cgroup parent). */
export interface SandboxConfig {
  podUid: string;
  namespace: string;
  name: string;
  hostNetwork: boolean;
  hostname: string;
  /**
   * The gang (`<namespace>/<PodGroup>`, from the pod's `scheduling.x-k8s.io/pod-group`
   * label) whose pods on this node share one CPU scheduling group; absent for other pods.
   */
  cpuGroup?: string;
  /** Container ports published on the node (`ports[].hostPort`); runtimes without host ports ignore them. */
  portMappings?: PortMapping[];
}

/** One `hostPort` of a pod: traffic to the node's `hostPort` (on `hostIP`, or every address) reaches `containerPort` of the pod. */
export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** Empty or absent: every address of the node. */
  hostIP?: string;
}

/** A device node of the host given to a container (CRI Device; what a device plugin's Allocate returns as DeviceSpecs). */
export interface DeviceSpec {
  hostPath: string;
  containerPath: string;
  /** cgroup device permissions: some of `r`, `w`, `m`. */
  permissions: string;
}

/** A pod's sandbox as created. */
export interface Sandbox {
  id: string;
  /** The pod IP (the node IP with host networking). */
  ip: string;
  /** Network namespace path, when the pod has its own. */
  netnsPath?: string;
}

/** Everything needed to start one container process. */
export interface ContainerConfig {
  podUid: string;
  name: string;
  image: string;
  /** argv: command + args, already resolved (no `$(VAR)` left). */
  argv: string[];
  /**
   * The pod's `command` and `args`, resolved, kept apart: a runtime with
   * images (cri) uses the image's ENTRYPOINT where `command` is absent and
   * its CMD where both are (upstream's rule). Absent: `argv` is the command.
   */
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  workingDir?: string;
  mounts: Mount[];
  /** Limits in bytes / millicores; undefined when not limited. */
  memoryLimitBytes?: number;
  cpuLimitMillis?: number;
  /** Requests, for cpu.weight. */
  cpuRequestMillis?: number;
  /** Where stdout/stderr go (one file per container start; CRI log format). */
  logPath: string;
  stdin?: boolean;
  /** Close stdin once the first attach that wrote to it detaches (the container's `stdinOnce`). */
  stdinOnce?: boolean;
  tty?: boolean;
  /** Host device nodes the container may use (GPUs); runtimes whose containers see the host's /dev ignore them. */
  devices?: DeviceSpec[];
}

/** How a container process ended. */
export interface ExitStatus {
  exitCode: number;
  /** Signal name when killed by a signal (e.g. `SIGKILL`). */
  signal?: string;
  /** `Completed`, `Error`, `OOMKilled`, `ContainerCannotRun`… as kubelet reports in `terminated.reason`. */
  reason: string;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
}

/** A started container. */
export interface RunningContainer {
  id: string;
  pid: number;
  startedAt: Date;
  /**
   * The image the container runs, as pod status `imageID` shows it (CRI
   * ContainerStatus.imageRef: `<repo>@sha256:<digest>` when the image came
   * from a registry); absent where there are no images.
   */
  imageRef?: string;
  /** Settles once the process has exited. */
  exited: Promise<ExitStatus>;
}

/** A command to run inside a running container (`kubectl exec`, exec probes, lifecycle hooks). */
export interface ExecRequest {
  /** argv; argv[0] is looked up in the container's PATH. */
  argv: string[];
  /** Allocate a terminal: stdout and stderr become one stream, `resize` works. */
  tty: boolean;
  /** Keep a stdin stream open to the command. */
  stdin: boolean;
}

/** Terminal size, as the `resize` channel of the streaming protocols carries it. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** The streams of an exec'd command or of an attach to a container's main process. */
export interface StreamSession {
  stdin?: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** Absent with a TTY (stderr is merged into stdout). */
  stderr?: NodeJS.ReadableStream;
  resize?(size: TerminalSize): void;
  /** Settles when the command has exited (for attach: when the session ends). */
  exited: Promise<{ exitCode: number; signal?: string }>;
  /** Ends the session (kills an exec'd command; detaches an attach). */
  close(): void;
}

/** Why a container could not be started (becomes `waiting.reason`, e.g. `RunContainerError`/`StartError`). */
export class StartError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/**
 * Resource usage of one running container, as CRI's ContainerStats carries it
 * (cumulative CPU, working-set memory); what kubelet's Summary API reports.
 */
export interface ContainerStats {
  /** The container id (RunningContainer.id; the part after `<runtime>://` in a containerID). */
  id: string;
  /** When the numbers were read. */
  timestamp: Date;
  /** Cumulative CPU time since the container started, in nanoseconds. */
  cpuUsageCoreNanoSeconds?: number;
  /** Memory in use minus inactive file pages (kubelet's working set). */
  memoryWorkingSetBytes?: number;
  memoryUsageBytes?: number;
  memoryRssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/** Registry credentials for one pull (CRI AuthConfig), e.g. from an imagePullSecret. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64 of `username:password`, as in a docker config's `auth`. */
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** An image present on the node. */
export interface ImageInfo {
  /** The runtime's id of the image (CRI imageRef, `sha256:…`). */
  imageRef: string;
  sizeBytes: number;
}

/** The runtime interface: sandboxes and container processes. */
export interface Runtime {
  /** Name and version for node.status.nodeInfo.containerRuntimeVersion, e.g. `kite-process://0.1.0`. */
  readonly version: string;
  /** The scheme of its container ids in pod status (`containerd` → `containerd://<id>`); absent: `process`. */
  readonly containerIdScheme?: string;
  /** Prepares the node (bridge, cgroup root…); resolves when ready. */
  start(): Promise<void>;
  /** Releases node-wide resources it created (bridge, cgroup root, iptables rules). */
  stop(): Promise<void>;
  createSandbox(cfg: SandboxConfig): Promise<Sandbox>;
  removeSandbox(sandbox: Sandbox): Promise<void>;
  /** Starts a container inside a sandbox; throws StartError when it cannot run. */
  startContainer(sandbox: Sandbox, cfg: ContainerConfig): Promise<RunningContainer>;
  /** Stops a container: SIGTERM, then SIGKILL after `graceSeconds`. Resolves when it has exited. */
  stopContainer(c: RunningContainer, graceSeconds: number): Promise<ExitStatus>;
  /**
   * Runs a command in a running container (its namespaces, cgroup, env and
   * working directory). Throws StartError when it cannot (container gone,
   * command not found: runc's message).
   */
  exec(sandbox: Sandbox, c: RunningContainer, req: ExecRequest): Promise<StreamSession>;
  /** Attaches to a running container's main process (its stdin when `stdin` was set at start, its output from now on). */
  attach(c: RunningContainer, req: { stdin: boolean; tty: boolean }): Promise<StreamSession>;
  /**
   * The image if it is on the node (CRI ImageStatus; what IfNotPresent
   * checks). Absent on runtimes without images (process): every image is
   * then "present".
   */
  imageStatus?(image: string): Promise<ImageInfo | undefined>;
  /**
   * Pulls an image (CRI PullImage), with credentials when given; rejects
   * with the runtime's error, whose message becomes the ErrImagePull message.
   */
  pullImage?(image: string, auth?: RegistryAuth): Promise<ImageInfo>;
  /**
   * Opens a TCP connection to `port` on localhost inside the pod's network
   * (what port-forward carries); rejects with the runtime's message when
   * nothing listens there.
   */
  portForward(sandbox: Sandbox, port: number): Promise<import('node:stream').Duplex>;
  /** Usage of every running container (CRI ListContainerStats); absent where the runtime cannot measure. */
  containerStats?(): Promise<ContainerStats[]>;
}
