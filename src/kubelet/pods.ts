/**
 * Pod workers (upstream pkg/kubelet/pod_workers.go and kuberuntime's
 * SyncPod, in small): one reconcile per pod key that converges the node to
 * the pod — sandbox, volumes, init containers in order (sidecars kept
 * running), then the app containers, postStart hooks, restarts per
 * restartPolicy with kubelet's crash-loop back-off, kills on failed liveness
 * or startup probes, preStop hooks and graceful termination (sidecars last)
 * — and writes the pod's status, with probe results, whenever it changes.
 */
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { managedHostsFile } from './hosts.js';
import { join } from 'node:path';
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { splitKey, type Lister } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { deepEqual } from '../util/json.js';
import { parseQuantity } from '../api/quantity.js';
import { POD_GROUP_LABEL } from '../api/podgroup.js';
import { containerArgv, containerEnv } from './env.js';
import { ImageError, ImageManager } from './images.js';
import { formatPod, goDuration } from './format.js';
import { runLifecycleHandler, type HookEnv } from './lifecycle.js';
import { ProbeManager, runInContainer, type CommandResult, type ProbeTarget } from './probes.js';
import { StartError, type DeviceSpec, type RunningContainer, type Runtime, type Sandbox } from './runtime/runtime.js';
import { containerStatus, isKubeletCondition, isSidecar, mergeConditions, metaTime, podConditions, podPhase, shouldRestart, type ContainerProbeState, type ContainerRecord } from './status.js';
import { containerMounts, prepareVolumes, VolumeError, type PreparedVolume } from './volumes.js';
import { podPortMappings } from './portmappings.js';
import { waitedService, type RendezvousGate } from './rendezvous.js';

/** Crash-loop back-off bounds (upstream: 10 s doubling to 300 s). */
export interface ContainerBackoff {
  initialMs: number;
  maxMs: number;
}

/** upstream kuberuntime minimumGracePeriodInSeconds: a container always gets this long after SIGTERM. */
const MIN_GRACE_SECONDS = 2;

/** Configuration of the pod workers. */
export interface PodWorkersConfig {
  client: Client;
  runtime: Runtime;
  recorder: EventRecorder;
  /** The pods bound to this node (an informer's cache). */
  pods: Lister<any>;
  nodeName: string;
  nodeIp: string;
  dataDir: string;
  allocatable: () => Record<string, string>;
  backoff: ContainerBackoff;
  /** How soon a pod whose volumes or container config are not ready is tried again. */
  retryMs: number;
  now: () => Date;
  log: (msg: string) => void;
  /** Pod DNS (see dns.ts): the cluster domain for hosts-file FQDNs, and the resolv.conf a pod gets (undefined: the node's). */
  dns?: { clusterDomain: string; resolvConf(pod: any, warn: (reason: string, message: string) => void): string | undefined };
  /** Devices (devices/gpus.ts): pod admission, each container's device environment, and release once the pod is done. */
  devices?: {
    admit(pod: any): Promise<{ reason: string; message: string } | undefined>;
    containerEnv(pod: any, container: any): Record<string, string>;
    /** Host device nodes the container is given (a GPU's /dev/nvidia<N>). */
    containerDevices?(pod: any, container: any): DeviceSpec[];
    release(podUid: string): void;
  };
  /** Called as a pod is forgotten, before its directory goes: may move its logs away to keep them (logs.ts RetainedLogs). */
  retainLogs?(pod: any, podDir: string): void;
  /** Holds pods annotated with a Service to wait for until it has a ready endpoint (rendezvous.ts). */
  rendezvous?: RendezvousGate;
}

/** The node agent's memory of one pod. */
interface PodState {
  /** The kubelet-managed /etc/hosts of a pod with its own network. */
  hostsFile?: string;
  /** The pod's resolv.conf, from its dnsPolicy and dnsConfig. */
  resolvFile?: string;
  uid: string;
  namespace: string;
  name: string;
  podDir: string;
  startTime: Date;
  sandbox?: Sandbox;
  /** True while the sandbox is being removed or after it was (no new containers then). */
  sandboxGone?: boolean;
  volumes?: Map<string, PreparedVolume>;
  records: Map<string, ContainerRecord>;
  handles: Map<string, RunningContainer>;
  /** containerID → its log file. */
  logPaths: Map<string, string>;
  /** flowcontrol.Backoff entries per container name. */
  backoff: Map<string, { backoffMs: number; lastUpdate: number }>;
  /** Set once every container is stopped and none will run again. */
  terminal?: boolean;
  /** Set once termination (deletion) has begun; resolves when the containers are stopped. */
  killing?: Promise<void>;
  /** The status last computed (what the logs endpoint reads) and last written. */
  status?: any;
  written?: any;
  /** Status writes, one after another (syncs and probe results both write). */
  statusWrites: Promise<unknown>;
  /** Set once the final status of a deleted pod was computed (phase from podIsTerminal). */
  final?: boolean;
  /** The container ID of each container's latest started attempt (its exit is only heard for that one). */
  attempts: Map<string, string>;
  /** Kills in progress, by container name. */
  stopping: Map<string, Promise<void>>;
  /** Set once the pod's probe workers were started. */
  probed?: boolean;
  /** Cancels the postStart hook under way, so that a deletion does not wait on a hook that hangs (upstream cancels the sync's context). */
  postStartAbort?: AbortController;
  /** The last seen pod object. */
  pod: any;
  /** Rendezvous readiness (rendezvous.ts): 'waiting' once the wait was announced, 'released' once the pod may start. */
  rendezvous?: 'waiting' | 'released';
}

/** Why a container is killed (upstream containerKillReason: probe kills may use the probe's grace period). */
type KillReason = 'liveness' | 'startup' | 'postStart' | 'unknown';

/** A container to stop in a sync (upstream containerToKillInfo). */
interface KillAction {
  c: any;
  message: string;
  reason: KillReason;
}

/** What one sync does (upstream podActions, in small). */
interface PodActions {
  /** Stop everything that runs and start nothing (the pod is done, or an init container failed under Never). */
  killPod: boolean;
  kill: KillAction[];
  /** Init containers to start, in order. */
  initStart: any[];
  /** App containers to start. */
  start: any[];
}

/**
 * upstream setTerminationGracePeriod: the deletion grace period, else the
 * probe's own terminationGracePeriodSeconds for a probe kill, else the pod's.
 */
function terminationGracePeriod(pod: any, c: any, reason: KillReason): number {
  if (pod?.metadata?.deletionGracePeriodSeconds != null) return pod.metadata.deletionGracePeriodSeconds;
  const podGrace = pod?.spec?.terminationGracePeriodSeconds;
  if (podGrace == null) return MIN_GRACE_SECONDS;
  if (reason === 'startup' && c.startupProbe?.terminationGracePeriodSeconds != null) return c.startupProbe.terminationGracePeriodSeconds;
  if (reason === 'liveness' && c.livenessProbe?.terminationGracePeriodSeconds != null) return c.livenessProbe.terminationGracePeriodSeconds;
  return podGrace;
}

/** upstream ShouldContainerBeRestarted for an app container that is not running. */
function shouldStart(pod: any, rec: ContainerRecord | undefined): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (!rec?.terminated) return true;
  return shouldRestart(pod.spec?.restartPolicy ?? 'Always', rec.terminated.exitCode);
}

/** Waits for `p` at most `seconds`; resolves with the whole seconds waited (upstream truncates). */
async function waitAtMost(p: Promise<unknown>, seconds: number): Promise<number> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, seconds * 1000)))]);
  clearTimeout(timer);
  return Math.trunc((Date.now() - start) / 1000);
}

/** Where a container's logs go: `<podDir>/<container>/<attempt>.log`. */
function logPath(podDir: string, container: string, attempt: number): string {
  return join(podDir, container, `${attempt}.log`);
}

function milli(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return parseQuantity(q).milliValue();
  } catch {
    return undefined;
  }
}

function bytes(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return parseQuantity(q).value();
  } catch {
    return undefined;
  }
}

/** Where a log request reads from (see PodWorkers.logSource). */
export interface LogSource {
  path: string;
  /** True while the container attempt writing this file is running. */
  running(): boolean;
}

/** An error of a log request, with the HTTP code kubelet answers. */
export class LogRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'LogRequestError';
  }
}

/** Runs this node's pods (see the module comment). */
export class PodWorkers {
  private readonly states = new Map<string, PodState>();
  /** Pods rejected at admission (key → uid): they are never run. */
  private readonly rejected = new Map<string, string>();
  private readonly queue: WorkQueue;
  private readonly probes: ProbeManager;
  private readonly images: ImageManager;
  /** The scheme of container ids in status (`process://…`, `containerd://…`). */
  private readonly idScheme: string;

  constructor(private readonly cfg: PodWorkersConfig) {
    this.images = new ImageManager({ runtime: cfg.runtime, client: cfg.client, recorder: cfg.recorder, now: cfg.now, log: cfg.log });
    this.idScheme = cfg.runtime.containerIdScheme ?? 'process';
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 8,
      backoff: { baseMs: 500, maxMs: 30_000 },
      onError: (key, err) => cfg.log(`kubelet: syncing pod ${key}: ${(err as Error).message}`),
    });
    this.probes = new ProbeManager({
      target: (uid, name) => this.probeTarget(uid, name),
      onResult: (uid, _name, type, result) => this.probeResult(uid, type, result),
      recorder: cfg.recorder,
      now: cfg.now,
      log: cfg.log,
    });
  }

  /** The pod state of a pod uid, with its key. */
  private byUid(uid: string): [string, PodState] | undefined {
    for (const entry of this.states) if (entry[1].uid === uid) return entry;
    return undefined;
  }

  /** What a probe worker sees of a container: the state its status shows (upstream reads the status manager). */
  private probeTarget(uid: string, name: string): ProbeTarget | undefined {
    const found = this.byUid(uid);
    if (!found) return undefined;
    const st = found[1];
    const rec = st.records.get(name);
    const spec = [...(st.pod.spec?.containers ?? []), ...(st.pod.spec?.initContainers ?? [])].find((c: any) => c.name === name);
    const phase = st.status?.phase;
    return {
      containerID: rec?.running?.containerID ?? rec?.terminated?.containerID,
      runningSince: rec?.running?.startedAt,
      terminated: !rec?.running && !!rec?.terminated,
      willRestart: isSidecar(spec) || (st.pod.spec?.restartPolicy ?? 'Always') !== 'Never',
      podTerminal: !!st.terminal || phase === 'Succeeded' || phase === 'Failed',
      deleting: !!st.pod.metadata?.deletionTimestamp,
      podIP: st.sandbox?.ip ?? '',
      pod: st.pod,
      exec: (argv, timeoutMs) => this.execIn(st, name, argv, timeoutMs),
    };
  }

  /**
   * A probe result changed: readiness and startup show in the status at once
   * (upstream status manager SetContainerReadiness/SetContainerStartup);
   * startup results and liveness failures also sync the pod (a sidecar
   * started, or a container to restart).
   */
  private probeResult(uid: string, type: string, result: string): void {
    const found = this.byUid(uid);
    if (!found) return;
    const [key, st] = found;
    if (type !== 'liveness') void this.writeStatus(st, st.pod, st.final).catch((e: Error) => this.cfg.log(`kubelet: status of ${key}: ${e.message}`));
    if (type === 'startup' || (type === 'liveness' && result === 'failure')) this.queue.add(key);
  }

  /** Runs a command in a running container to completion (exec probes and hooks). */
  private async execIn(st: PodState, name: string, argv: string[], timeoutMs: number): Promise<CommandResult> {
    const h = st.handles.get(name);
    if (!h || !st.sandbox) throw new Error(`container ${JSON.stringify(name)} is not running`);
    return runInContainer(() => this.cfg.runtime.exec(st.sandbox!, h, { argv, tty: false, stdin: false }), argv, timeoutMs);
  }

  /** Queues a pod key (`namespace/name`) for a sync. */
  enqueue(key: string): void {
    const st = this.states.get(key);
    if (st?.postStartAbort) {
      const { namespace, name } = splitKey(key);
      const pod = this.cfg.pods.get(namespace, name);
      if (!pod || pod.metadata?.uid !== st.uid || pod.metadata?.deletionTimestamp) st.postStartAbort.abort();
    }
    this.queue.add(key);
  }

  /** Resolves when no sync is running or queued (timers aside). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops syncing and probing; running containers are left to the runtime's own stop. */
  stop(): void {
    this.queue.stop();
    this.probes.stop();
  }

  /**
   * The log file a `/containerLogs` request reads, chosen from the pod's
   * status as upstream's validateContainerLogStatus does (its messages too).
   */
  logSource(namespace: string, name: string, container: string, previous: boolean): LogSource {
    const st = this.states.get(`${namespace}/${name}`);
    const pod = st?.pod ?? this.cfg.pods.get(namespace, name);
    if (!pod) throw new LogRequestError(404, `pod "${name}" does not exist`);
    const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    if (!specs.some((c: any) => c.name === container)) throw new LogRequestError(404, `container "${container}" not found in pod "${name}"`);
    const status = st?.status ?? pod.status ?? {};
    const cs = [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])].find((s: any) => s.name === container);
    if (!cs) throw new LogRequestError(400, `container "${container}" in pod "${name}" is not available`);
    const last = cs.lastState?.terminated;
    const { waiting, running, terminated } = cs.state ?? {};
    let id: string;
    if (previous) {
      if (!last?.containerID) throw new LogRequestError(400, `previous terminated container "${container}" in pod "${name}" not found`);
      id = last.containerID;
    } else if (running) id = cs.containerID;
    else if (terminated) {
      id = terminated.containerID || last?.containerID;
      if (!id) throw new LogRequestError(400, `container "${container}" in pod "${name}" is terminated`);
    } else if (last) {
      if (!last.containerID) throw new LogRequestError(400, `container "${container}" in pod "${name}" is terminated`);
      id = last.containerID;
    } else if (waiting) throw new LogRequestError(400, `container "${container}" in pod "${name}" is waiting to start: ${waiting.reason}`);
    else throw new LogRequestError(400, `container "${container}" in pod "${name}" is waiting to start - no logs yet`);
    const path = st?.logPaths.get(id);
    if (!path || !st) throw new LogRequestError(400, `container "${container}" in pod "${name}" is waiting to start - no logs yet`);
    return { path, running: () => st.records.get(container)?.running?.containerID === id };
  }

  /** Converges one pod (safe to run again at any time). */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.cfg.pods.get(namespace, name);
    let st = this.states.get(key);
    if (st && (!pod || pod.metadata?.uid !== st.uid)) {
      // Gone from the API (force deleted) or replaced by a new pod of the same name: stop what runs.
      await this.teardown(key, st, st.pod?.metadata?.deletionGracePeriodSeconds ?? 0);
      st = undefined;
      if (!pod) return;
    }
    if (!pod) this.rejected.delete(key);
    if (!pod || pod.spec?.nodeName !== this.cfg.nodeName) return;

    if (pod.metadata?.deletionTimestamp) return this.terminate(key, pod, st);
    if (!st) {
      // A pod that finished before this agent knew it is not run again (upstream: terminal pods are never restarted).
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      if (this.rejected.get(key) === pod.metadata.uid) return;
      // upstream HandlePodAdditions: a pod is admitted (here: its devices allocated) before anything of it runs.
      const rejection = await this.cfg.devices?.admit(pod);
      if (rejection) return this.reject(key, pod, rejection);
      st = this.newState(pod);
      this.states.set(key, st);
    }
    st.pod = pod;
    if (st.terminal) return this.writeStatus(st, pod);

    if (!st.sandbox) {
      try {
        // The pod's files are written without blocking the event loop: creating files costs a millisecond or more each here, times fifty pods at once.
        await mkdir(st.podDir, { recursive: true });
        st.sandbox = await this.cfg.runtime.createSandbox({
          podUid: st.uid,
          namespace,
          name,
          hostNetwork: !!pod.spec?.hostNetwork,
          hostname: pod.spec?.hostname ?? name,
          portMappings: podPortMappings(pod),
          ...(pod.metadata?.labels?.[POD_GROUP_LABEL] ? { cpuGroup: `${namespace}/${pod.metadata.labels[POD_GROUP_LABEL]}` } : {}),
        });
        // Pods with their own network get the kubelet-managed /etc/hosts (upstream); host-network pods see the node's.
        if (st.sandbox.netnsPath) {
          st.hostsFile = join(st.podDir, 'etc-hosts');
          await writeFile(st.hostsFile, managedHostsFile(pod, st.sandbox.ip, this.cfg.dns?.clusterDomain));
        }
        const resolv = this.cfg.dns?.resolvConf(pod, (reason, msg) => void this.cfg.recorder.event(pod, 'Warning', reason, msg));
        if (resolv !== undefined) await writeFile((st.resolvFile = join(st.podDir, 'resolv.conf')), resolv);
      } catch (e) {
        void this.cfg.recorder.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
        await this.writeStatus(st, pod);
        throw e;
      }
    }
    if (!st.volumes) {
      try {
        st.volumes = await prepareVolumes(pod, { ...this.envContext(st), podDir: st.podDir });
      } catch (e) {
        const msg =
          e instanceof VolumeError && e.unbound
            ? `Unable to attach or mount volumes: unmounted volumes=[${e.volume}], unattached volumes=[${e.volume}]: ${e.message}`
            : (e as Error).message;
        void this.cfg.recorder.event(pod, 'Warning', 'FailedMount', msg);
        await this.writeStatus(st, pod);
        this.queue.addAfter(key, this.cfg.retryMs);
        return;
      }
    }

    if (!(await this.rendezvousReady(key, st, pod))) return;
    if (!st.probed) {
      // upstream SyncPod: probe workers start with the pod and find each container once it runs.
      st.probed = true;
      this.probes.addPod(pod);
    }
    await this.syncContainers(key, st, pod);
    const status = await this.writeStatus(st, pod);
    if ((status.phase === 'Succeeded' || status.phase === 'Failed') && st.handles.size === 0) {
      // Every container has stopped for good: free the pod's network (its IP stays in status, as upstream).
      st.terminal = true;
      this.cfg.devices?.release(st.uid);
      await this.removeSandbox(st);
    }
  }

  /**
   * Whether the pod may start its containers (rendezvous.ts): a pod that names
   * a Service to wait for starts once it has a ready endpoint; meanwhile its
   * status shows containers not yet created. Only the first start waits.
   */
  private async rendezvousReady(key: string, st: PodState, pod: any): Promise<boolean> {
    const service = waitedService(pod);
    if (!service || !this.cfg.rendezvous || st.rendezvous === 'released') return true;
    if (st.records.size > 0 || this.cfg.rendezvous.ready(key, st.namespace, service)) {
      if (st.rendezvous === 'waiting') void this.cfg.recorder.event(pod, 'Normal', 'RendezvousReady', `Service ${service} has a ready endpoint`);
      st.rendezvous = 'released';
      return true;
    }
    if (st.rendezvous !== 'waiting') {
      st.rendezvous = 'waiting';
      void this.cfg.recorder.event(pod, 'Normal', 'WaitingForRendezvous', `Waiting for Service ${service} to have a ready endpoint before starting containers`);
    }
    await this.writeStatus(st, pod);
    return false;
  }

  /** upstream rejectPod: a Warning event, and the pod Failed with the reason and "Pod was rejected: <message>". */
  private async reject(key: string, pod: any, r: { reason: string; message: string }): Promise<void> {
    void this.cfg.recorder.event(pod, 'Warning', r.reason, r.message);
    const status = { phase: 'Failed', reason: r.reason, message: `Pod was rejected: ${r.message}` };
    try {
      await this.cfg.client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, 'merge', { metadata: { uid: pod.metadata.uid }, status }, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    this.rejected.set(key, pod.metadata.uid);
  }

  private newState(pod: any): PodState {
    const uid = pod.metadata.uid;
    return {
      uid,
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      podDir: join(this.cfg.dataDir, 'pods', uid),
      startTime: this.cfg.now(),
      records: new Map(),
      handles: new Map(),
      logPaths: new Map(),
      backoff: new Map(),
      statusWrites: Promise.resolve(),
      attempts: new Map(),
      stopping: new Map(),
      pod,
    };
  }

  private envContext(st: PodState) {
    return {
      client: this.cfg.client,
      podIPs: st.sandbox ? [st.sandbox.ip] : [],
      hostIP: this.cfg.nodeIp,
      allocatable: this.cfg.allocatable(),
    };
  }

  /**
   * upstream computePodActions: what this sync kills and starts — init
   * containers first (computeInitContainerActions), app containers once the
   * pod is initialized, and the whole pod once no app container runs or will.
   */
  private computeActions(st: PodState, pod: any): PodActions {
    const spec = pod.spec ?? {};
    const policy = spec.restartPolicy ?? 'Always';
    const inits: any[] = spec.initContainers ?? [];
    const kill: KillAction[] = [];
    const state = (name: string) => {
      const r = st.records.get(name);
      return r?.running ? 'running' : r?.terminated ? 'exited' : undefined;
    };
    // A running app container means initialization happened before.
    let initialized = inits.length === 0 || (spec.containers ?? []).some((c: any) => state(c.name) === 'running');
    const initStart: number[] = [];
    if (inits.length) {
      // Walk back from the last init container with a status: the next to run follows it; sidecars before it are kept running.
      let previously = initialized;
      for (let i = inits.length - 1; i >= 0; i--) {
        const c = inits[i];
        const s = state(c.name);
        const sidecar = isSidecar(c);
        if (!s) {
          if (previously && sidecar) initStart.push(i);
          continue;
        }
        if (previously && !sidecar) continue;
        if (s === 'running' && sidecar) {
          const id = st.records.get(c.name)!.running!.containerID;
          const startup = c.startupProbe ? this.probes.result('startup', id) : 'success';
          if (startup === 'failure') {
            kill.push({ c, message: `Init container ${c.name} failed startup probe`, reason: 'startup' });
            initStart.push(i);
          } else if (startup === 'success') {
            // A started sidecar lets the next init container run; it does not wait for liveness.
            if (i === inits.length - 1) initialized = true;
            else if (!previously) initStart.push(i + 1);
            if (c.livenessProbe && this.probes.result('liveness', id) === 'failure') {
              kill.push({ c, message: `Init container ${c.name} failed liveness probe`, reason: 'liveness' });
              initStart.push(i);
            }
          }
        } else if (s === 'exited') {
          if (sidecar) initStart.push(i);
          else if (st.records.get(c.name)!.terminated!.exitCode !== 0) {
            // A failed init container fails the pod under Never; otherwise it runs again.
            if (policy === 'Never') return { killPod: true, kill: [], initStart: [], start: [] };
            initStart.push(i);
          } else if (i === inits.length - 1) initialized = true;
          else initStart.push(i + 1);
        }
        previously = true;
      }
      if (!previously) initStart.push(0);
      initStart.reverse();
    }
    const initSpecs = initStart.map((i) => inits[i]);
    if (!initialized) return { killPod: false, kill, initStart: initSpecs, start: [] };

    const start: any[] = [];
    let keep = 0;
    for (const c of spec.containers ?? []) {
      const rec = st.records.get(c.name);
      if (!rec?.running) {
        if (shouldStart(pod, rec)) start.push(c);
        continue;
      }
      const id = rec.running.containerID;
      let message: string;
      let reason: KillReason;
      if (this.probes.result('liveness', id) === 'failure') {
        message = `Container ${c.name} failed liveness probe`;
        reason = 'liveness';
      } else if (this.probes.result('startup', id) === 'failure') {
        message = `Container ${c.name} failed startup probe`;
        reason = 'startup';
      } else {
        keep++;
        continue;
      }
      if (policy !== 'Never') {
        message += ', will be restarted';
        start.push(c);
      }
      kill.push({ c, message, reason });
    }
    // Nothing runs or will: the pod is done, and its sidecars are not kept alive for it.
    if (keep === 0 && start.length === 0) return { killPod: true, kill: [], initStart: [], start: [] };
    return { killPod: false, kill, initStart: initSpecs, start };
  }

  /** upstream SyncPod steps: kill what must go, start init containers in order, then app containers. */
  private async syncContainers(key: string, st: PodState, pod: any): Promise<void> {
    const actions = this.computeActions(st, pod);
    // upstream SyncPod writes the status it starts from first; that matters where kills and postStart hooks take their time.
    const slow = actions.killPod || actions.kill.length > 0 || [...actions.initStart, ...actions.start].some((c) => c.lifecycle?.postStart);
    if (slow) await this.writeStatus(st, pod);
    if (actions.killPod) {
      await this.killAll(st, pod);
      return;
    }
    await Promise.all(actions.kill.map((k) => this.killContainer(st, pod, k.c, { message: k.message, reason: k.reason })));
    for (const c of actions.initStart) {
      const started = await this.startContainer(key, st, pod, c);
      // A regular init container that could not start stops initialization for this sync.
      if (!started && !isSidecar(c)) return;
      // A started sidecar lets the next init container run: look again (its startup probe result also brings a sync).
      if (started && isSidecar(c)) this.queue.add(key);
    }
    for (const c of actions.start) await this.startContainer(key, st, pod, c);
  }

  /** upstream flowcontrol.Backoff: entries expire after twice the maximum without a failure. */
  private inBackoff(st: PodState, name: string, eventTime: number): number {
    const e = st.backoff.get(name);
    const now = this.cfg.now().getTime();
    if (!e || now - e.lastUpdate > 2 * this.cfg.backoff.maxMs) return 0;
    const left = e.backoffMs - (now - eventTime);
    return left > 0 ? left : 0;
  }

  private nextBackoff(st: PodState, name: string, eventTime: number): void {
    const e = st.backoff.get(name);
    if (!e || eventTime - e.lastUpdate > 2 * this.cfg.backoff.maxMs) st.backoff.set(name, { backoffMs: this.cfg.backoff.initialMs, lastUpdate: eventTime });
    else {
      e.backoffMs = Math.min(e.backoffMs * 2, this.cfg.backoff.maxMs);
      e.lastUpdate = eventTime;
    }
  }

  /**
   * Starts one attempt of a container (upstream startContainer), honouring
   * the crash-loop back-off and running its postStart hook before it counts
   * as running; resolves false when it did not start.
   */
  private async startContainer(key: string, st: PodState, pod: any, c: any): Promise<boolean> {
    // A pod deleted while this sync waited (on a kill or a hook) gets no new containers (ShouldContainerBeRestarted).
    const latest = this.cfg.pods.get(st.namespace, st.name);
    if (!latest || latest.metadata?.uid !== st.uid || latest.metadata?.deletionTimestamp) return false;
    let rec = st.records.get(c.name);
    if (!rec) {
      rec = { restartCount: 0, everStarted: false };
      st.records.set(c.name, rec);
    }
    if (rec.terminated) {
      // upstream doBackOff: the finish time of the last attempt is the reference point.
      const finished = rec.terminated.finishedAt.getTime();
      const left = this.inBackoff(st, c.name, finished);
      if (left > 0) {
        const e = st.backoff.get(c.name)!;
        rec.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${goDuration(e.backoffMs)} restarting failed container=${c.name} pod=${formatPod(pod)}` };
        void this.cfg.recorder.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${formatPod(pod)}`);
        this.queue.addAfter(key, left + 5);
        return false;
      }
      this.nextBackoff(st, c.name, finished);
    }

    // upstream startContainer step 1: the image, pulled per imagePullPolicy (its own back-off; not a restart).
    try {
      await this.images.ensureImage(pod, c);
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      rec.waiting = { reason: e.reason, message: e.message };
      void this.cfg.recorder.event(pod, 'Warning', 'Failed', `Error: ${e.reason}`);
      this.queue.addAfter(key, this.cfg.retryMs);
      return false;
    }

    let env: Record<string, string>;
    let mounts;
    try {
      env = await containerEnv(pod, c, this.envContext(st));
      // The devices' variables win over the container's own: they are what keeps it to the devices it was given.
      Object.assign(env, this.cfg.devices?.containerEnv(pod, c));
      mounts = containerMounts(c, st.volumes ?? new Map());
      if (st.hostsFile && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
        mounts.push({ hostPath: st.hostsFile, containerPath: '/etc/hosts', readOnly: false });
      }
      if (st.resolvFile && !mounts.some((m) => m.containerPath === '/etc/resolv.conf')) {
        mounts.push({ hostPath: st.resolvFile, containerPath: '/etc/resolv.conf', readOnly: false });
      }
    } catch (e) {
      // upstream: CreateContainerConfigError, retried on later syncs.
      const msg = (e as Error).message;
      rec.waiting = { reason: 'CreateContainerConfigError', message: msg };
      void this.cfg.recorder.event(pod, 'Warning', 'Failed', `Error: ${msg}`);
      this.queue.addAfter(key, this.cfg.retryMs);
      return false;
    }

    const attempt = rec.terminated ? rec.restartCount + 1 : rec.restartCount;
    const path = logPath(st.podDir, c.name, attempt);
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    const began = this.cfg.now();
    let running: RunningContainer;
    try {
      running = await this.cfg.runtime.startContainer(st.sandbox!, {
        podUid: st.uid,
        name: c.name,
        image: c.image ?? '',
        argv: containerArgv(c, env),
        // Apart, for runtimes with images: an absent command means the image's ENTRYPOINT.
        command: c.command ? containerArgv({ command: c.command }, env) : undefined,
        args: c.args ? containerArgv({ args: c.args }, env) : undefined,
        env,
        workingDir: c.workingDir,
        mounts,
        memoryLimitBytes: bytes(limits.memory),
        cpuLimitMillis: milli(limits.cpu),
        cpuRequestMillis: milli(requests.cpu),
        logPath: path,
        stdin: !!c.stdin,
        stdinOnce: !!c.stdinOnce,
        tty: !!c.tty,
        devices: this.cfg.devices?.containerDevices?.(pod, c),
      });
    } catch (e) {
      const msg = (e as Error).message;
      const reason = e instanceof StartError ? e.reason : 'RunContainerError';
      // The attempt counts as a container that ended (containerd reports it exited 128, StartError, never started).
      const containerID = `${this.idScheme}://failed-${st.uid.slice(0, 8)}-${c.name}-${attempt}`;
      if (rec.terminated) rec.last = rec.terminated;
      rec.restartCount = attempt;
      rec.terminated = { exitCode: 128, reason: 'StartError', message: msg, startedAt: new Date(0), finishedAt: this.cfg.now(), containerID };
      st.logPaths.set(containerID, path);
      rec.waiting = { reason, message: msg };
      void this.cfg.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
      void this.cfg.recorder.event(pod, 'Warning', 'Failed', `Error: ${msg}`);
      // The next sync applies the back-off (upstream: RunContainerError until then, CrashLoopBackOff on later failures).
      this.queue.addAfter(key, this.cfg.retryMs);
      return false;
    }
    const containerID = `${this.idScheme}://${running.id}`;
    if (rec.terminated) rec.last = rec.terminated;
    rec.terminated = undefined;
    rec.restartCount = attempt;
    rec.everStarted = true;
    rec.imageID = running.imageRef;
    st.attempts.set(c.name, containerID);
    st.handles.set(c.name, running);
    st.logPaths.set(containerID, path);
    const record = rec;
    running.exited.then(
      (x) => {
        if (st.handles.get(c.name) === running) st.handles.delete(c.name);
        if (st.attempts.get(c.name) !== containerID) return;
        record.running = undefined;
        record.terminated = {
          exitCode: x.exitCode,
          reason: x.reason,
          ...(x.message ? { message: x.message } : {}),
          startedAt: x.startedAt,
          finishedAt: x.finishedAt,
          containerID,
        };
        this.queue.add(key);
      },
      (err: Error) => {
        // A runtime that cannot tell how a process ended must not take the agent down.
        this.cfg.log(`kubelet: container ${c.name} of ${formatPod(pod)}: ${err.message}`);
        if (st.handles.get(c.name) === running) st.handles.delete(c.name);
        if (st.attempts.get(c.name) !== containerID) return;
        record.running = undefined;
        record.terminated = { exitCode: 255, reason: 'Error', message: err.message, startedAt: running.startedAt, finishedAt: this.cfg.now(), containerID };
        this.queue.add(key);
      },
    );
    void this.cfg.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
    void this.cfg.recorder.event(pod, 'Normal', 'Started', `Started container ${c.name}`);

    if (c.lifecycle?.postStart) {
      // upstream: the container is not Running until its postStart hook returns; a failed hook kills it.
      st.postStartAbort = new AbortController();
      const hook = await runLifecycleHandler(c.lifecycle.postStart, this.hookEnv(st, pod, c, running, st.postStartAbort.signal)).finally(() => (st.postStartAbort = undefined));
      if (hook.error) {
        this.cfg.log(`kubelet: postStart hook of ${c.name} in ${formatPod(pod)} failed: ${hook.message}`);
        // The event leaves the message out (it may hold secrets), as upstream.
        void this.cfg.recorder.event(pod, 'Warning', 'FailedPostStartHook', 'PostStartHook failed');
        await this.killContainer(st, pod, c, { message: 'FailedPostStartHook', reason: 'postStart' });
        if (st.attempts.get(c.name) === containerID) record.waiting = { reason: 'PostStartHookError', message: hook.message };
        return false;
      }
    }
    // Until now the status kept showing why the container waited (upstream regenerates it only after the hook).
    if (st.attempts.get(c.name) === containerID) record.waiting = undefined;
    // A container that already ended during its hook stays ended.
    if (st.attempts.get(c.name) === containerID && !record.terminated) record.running = { containerID, startedAt: running.startedAt ?? began };
    return true;
  }

  /** What a lifecycle hook of a running container runs against; it ends when the container does or `cancel` fires. */
  private hookEnv(st: PodState, pod: any, c: any, h: RunningContainer, cancel?: AbortSignal): HookEnv {
    const ended = new AbortController();
    h.exited.finally(() => ended.abort()).catch(() => undefined);
    cancel?.addEventListener('abort', () => ended.abort(), { once: true });
    const signal = ended.signal;
    return {
      pod,
      container: c,
      podIP: st.sandbox?.ip ?? '',
      exec: (argv) => runInContainer(() => this.cfg.runtime.exec(st.sandbox!, h, { argv, tty: false, stdin: false }), argv, 0, signal),
      signal,
      recorder: this.cfg.recorder,
    };
  }

  /** The probes' view of a container for its status (upstream prober UpdatePodStatus). */
  private probeState(st: PodState, c: any, init: boolean): ContainerProbeState | undefined {
    const rec = st.records.get(c.name);
    // A regular init container is ready once it completed; it has no probes.
    if (init && !isSidecar(c)) return { started: !!rec?.running, ready: !rec?.running && rec?.terminated?.exitCode === 0 };
    if (!rec?.running) return undefined;
    const id = rec.running.containerID;
    const started = this.probes.isStarted(st.uid, c.name, id);
    return { started, ready: started && this.probes.isReady(st.uid, c.name, id) };
  }

  /**
   * Computes the pod's status and writes it when it changed (through the
   * status subresource); writes of one pod go out one after another.
   */
  private writeStatus(st: PodState, pod: any, podIsTerminal = false): Promise<any> {
    const run = st.statusWrites.then(() => this.writeStatusNow(st, pod, podIsTerminal));
    st.statusWrites = run.catch(() => undefined);
    return run;
  }

  private async writeStatusNow(st: PodState, pod: any, podIsTerminal: boolean): Promise<any> {
    const spec = pod.spec ?? {};
    const policy = spec.restartPolicy ?? 'Always';
    const hasInit = (spec.initContainers?.length ?? 0) > 0;
    const defaultWaiting = hasInit ? 'PodInitializing' : 'ContainerCreating';
    // A deleted pod's containers are not started again, so none shows as waiting to be (ShouldContainerBeRestarted).
    const deleting = !!pod.metadata?.deletionTimestamp;
    const initPolicy = deleting || policy === 'Never' ? 'Never' : 'OnFailure';
    const initStatuses = (spec.initContainers ?? []).map((c: any) => containerStatus(c, st.records.get(c.name), defaultWaiting, initPolicy, this.probeState(st, c, true)));
    const statuses = (spec.containers ?? []).map((c: any) => containerStatus(c, st.records.get(c.name), defaultWaiting, deleting ? 'Never' : policy, this.probeState(st, c, false)));
    const phase = podPhase(spec, initStatuses, statuses, podIsTerminal);
    const sandboxReady = !!st.sandbox && !st.sandboxGone;
    const ip = st.sandbox?.ip ?? st.status?.podIP;
    // Transition times come from what this agent wrote last (the cached pod may lag behind it); other writers' conditions from the pod.
    const others = (pod.status?.conditions ?? []).filter((c: any) => !isKubeletCondition(c.type));
    const mine = (st.written?.conditions ?? pod.status?.conditions ?? []).filter((c: any) => isKubeletCondition(c.type));
    const status: any = {
      phase,
      conditions: mergeConditions([...mine, ...others], podConditions(spec, phase, initStatuses, statuses, sandboxReady, others), this.cfg.now()),
      hostIP: this.cfg.nodeIp,
      hostIPs: [{ ip: this.cfg.nodeIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: metaTime(st.startTime),
      ...(hasInit ? { initContainerStatuses: initStatuses } : {}),
      containerStatuses: statuses,
    };
    st.status = status;
    // Only a change is written.
    if (st.written && deepEqual(st.written, status)) return status;
    try {
      await this.cfg.client.patch(R.pods, st.namespace, st.name, 'merge', { metadata: { uid: st.uid }, status }, { subresource: 'status' });
      st.written = status;
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    return status;
  }

  /** Deletion (upstream killPod then the status manager's final delete): stop with the grace period, free the sandbox, delete the pod object. */
  private async terminate(key: string, pod: any, st: PodState | undefined): Promise<void> {
    if (st) {
      st.pod = pod;
      if (!st.killing) {
        // upstream: the pod worker's grace period overrides each container's; preStop hooks and sidecar ordering spend from it.
        const grace = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        st.killing = this.killAll(st, pod, grace).then(() => this.queue.add(key));
      }
      if (st.handles.size > 0) return;
      // Devices are free once the containers are gone, before the pod leaves the API and the scheduler places another on them.
      this.cfg.devices?.release(st.uid);
      await this.removeSandbox(st);
      st.final = true;
      await this.writeStatus(st, pod, true);
    }
    try {
      await this.cfg.client.delete(R.pods, pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
    } catch (e) {
      // Gone already, or a new pod took the name (the uid precondition fails): nothing of ours is left to delete.
      if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
    }
    if (st) this.forget(key, st);
  }

  /**
   * Stops every running container of a pod (upstream killContainersWithSyncResult):
   * all at once, except that a sidecar waits for the app containers and the
   * sidecars after it (upstream terminationOrdering); `graceOverride` is the
   * pod-level grace period of a deletion.
   */
  private async killAll(st: PodState, pod: any, graceOverride?: number): Promise<void> {
    const spec = pod?.spec ?? {};
    const specs = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
    const sidecars = (spec.initContainers ?? []).filter(isSidecar).map((c: any) => c.name as string);
    const running = [...st.handles.entries()];
    const ended = new Map(running.map(([name, h]) => [name, h.exited.then(() => undefined, () => undefined)]));
    await Promise.all(
      running.map(([name]) => {
        const idx = sidecars.indexOf(name);
        const waitFor = idx < 0 ? [] : running.filter(([n]) => n !== name && (sidecars.indexOf(n) < 0 || sidecars.indexOf(n) > idx)).map(([n]) => ended.get(n)!);
        return this.killContainer(st, pod, specs.find((c: any) => c.name === name) ?? { name }, { graceOverride, waitFor });
      }),
    );
  }

  /**
   * upstream killContainer: a Killing event, the preStop hook within the
   * grace period, then SIGTERM and SIGKILL once what is left of it (at
   * least 2 s) has passed. One kill per container at a time.
   */
  private killContainer(st: PodState, pod: any, c: any, opts: { message?: string; reason?: KillReason; graceOverride?: number; waitFor?: Promise<unknown>[] }): Promise<void> {
    const h = st.handles.get(c.name);
    if (!h) return Promise.resolve();
    const busy = st.stopping.get(c.name);
    if (busy) {
      // A deletion while a probe kill runs: its (shorter) grace period applies to the stop already under way.
      if (opts.graceOverride !== undefined) void this.cfg.runtime.stopContainer(h, Math.max(MIN_GRACE_SECONDS, opts.graceOverride)).catch(() => undefined);
      return busy;
    }
    const p = this.stopContainer(st, pod, c, h, opts).finally(() => {
      if (st.stopping.get(c.name) === p) st.stopping.delete(c.name);
    });
    st.stopping.set(c.name, p);
    return p;
  }

  private async stopContainer(st: PodState, pod: any, c: any, h: RunningContainer, opts: { message?: string; reason?: KillReason; graceOverride?: number; waitFor?: Promise<unknown>[] }): Promise<void> {
    let grace = terminationGracePeriod(pod, c, opts.reason ?? 'unknown');
    void this.cfg.recorder.event(pod, 'Normal', 'Killing', opts.message ?? `Stopping container ${c.name}`);
    if (opts.graceOverride !== undefined) grace = opts.graceOverride;
    if (c.lifecycle?.preStop && grace > 0) grace -= await this.runPreStop(st, pod, c, h, grace);
    if (opts.waitFor?.length && grace > 0) grace -= await waitAtMost(Promise.all(opts.waitFor), grace);
    // upstream minimumGracePeriodInSeconds: always a short window between SIGTERM and SIGKILL.
    if (grace < MIN_GRACE_SECONDS) grace = MIN_GRACE_SECONDS;
    try {
      await this.cfg.runtime.stopContainer(h, grace);
    } catch (e) {
      this.cfg.log(`kubelet: stopping container ${c.name} of ${formatPod(pod)}: ${(e as Error).message}`);
    }
    // The exit handler records the end; wait for it so the status shows it.
    await h.exited.catch(() => undefined);
    if (st.handles.get(c.name) === h) st.handles.delete(c.name);
  }

  /** upstream executePreStopHook: runs the hook for at most `grace` seconds; resolves with the whole seconds it took. */
  private async runPreStop(st: PodState, pod: any, c: any, h: RunningContainer, grace: number): Promise<number> {
    const hook = runLifecycleHandler(c.lifecycle.preStop, this.hookEnv(st, pod, c, h)).then((r) => {
      if (!r.error) return;
      this.cfg.log(`kubelet: preStop hook of ${c.name} in ${formatPod(pod)} failed: ${r.message}`);
      // The event leaves the message out (it may hold secrets), as upstream.
      void this.cfg.recorder.event(pod, 'Warning', 'FailedPreStopHook', 'PreStopHook failed');
    });
    return waitAtMost(hook, grace);
  }

  private async removeSandbox(st: PodState): Promise<void> {
    if (!st.sandbox || st.sandboxGone) return;
    st.sandboxGone = true;
    try {
      await this.cfg.runtime.removeSandbox(st.sandbox);
    } catch (e) {
      this.cfg.log(`kubelet: removing sandbox of ${st.namespace}/${st.name}: ${(e as Error).message}`);
    }
  }

  /** Stops a pod that is gone from the API (or replaced) and forgets it. */
  private async teardown(key: string, st: PodState, grace: number): Promise<void> {
    await this.killAll(st, st.pod, grace);
    await this.removeSandbox(st);
    this.forget(key, st);
  }

  private forget(key: string, st: PodState): void {
    this.probes.removePod(st.uid);
    this.cfg.rendezvous?.forget(key);
    this.cfg.devices?.release(st.uid);
    this.images.forgetPod(st.uid);
    if (this.states.get(key) === st) this.states.delete(key);
    // The pod as it ended (this node's last status), for whoever reads its kept logs.
    this.cfg.retainLogs?.({ ...st.pod, status: st.status ?? st.pod?.status }, st.podDir);
    rmSync(st.podDir, { recursive: true, force: true });
  }

  /** Stops every container on the node at once, without hooks (agent shutdown). */
  async stopAll(): Promise<void> {
    this.probes.stop();
    await Promise.all(
      [...this.states.values()].map(async (st) => {
        await Promise.all(
          [...st.handles.values()].map(async (h) => {
            await this.cfg.runtime.stopContainer(h, 0).catch((e: Error) => this.cfg.log(`kubelet: stopping a container of ${st.namespace}/${st.name}: ${e.message}`));
            await h.exited.catch(() => undefined);
          }),
        );
        st.handles.clear();
        await this.removeSandbox(st);
      }),
    );
  }
}
