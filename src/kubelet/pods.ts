/**
 * Pod workers (upstream pkg/kubelet/pod_workers.go and kuberuntime's
 * SyncPod, in small): one reconcile per pod key that converges the node to
 * the pod — sandbox, volumes, init containers in order, then the app
 * containers, restarts per restartPolicy with kubelet's crash-loop back-off,
 * graceful termination on deletion — and writes the pod's status.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { managedHostsFile } from './hosts.js';
import { join } from 'node:path';
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { splitKey, type Lister } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { deepEqual } from '../util/json.js';
import { parseQuantity } from '../api/quantity.js';
import { containerArgv, containerEnv } from './env.js';
import { StartError, type RunningContainer, type Runtime, type Sandbox } from './runtime/runtime.js';
import { containerStatus, mergeConditions, metaTime, podConditions, podPhase, shouldRestart, type ContainerRecord } from './status.js';
import { containerMounts, prepareVolumes, VolumeError, type PreparedVolume } from './volumes.js';

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
}

/** The node agent's memory of one pod. */
interface PodState {
  /** The kubelet-managed /etc/hosts of a pod with its own network. */
  hostsFile?: string;
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
  /** The last seen pod object. */
  pod: any;
}

/** Go's time.Duration String() for whole milliseconds (10s, 1m20s, 5m0s, 200ms). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = +(totalS % 60).toFixed(3);
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** upstream format.Pod: `name_namespace(uid)`. */
function podFull(pod: any): string {
  return `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
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
  private readonly queue: WorkQueue;

  constructor(private readonly cfg: PodWorkersConfig) {
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 8,
      backoff: { baseMs: 500, maxMs: 30_000 },
      onError: (key, err) => cfg.log(`kubelet: syncing pod ${key}: ${(err as Error).message}`),
    });
  }

  /** Queues a pod key (`namespace/name`) for a sync. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when no sync is running or queued (timers aside). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops syncing; running containers are left to the runtime's own stop. */
  stop(): void {
    this.queue.stop();
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
    if (!pod || pod.spec?.nodeName !== this.cfg.nodeName) return;

    if (pod.metadata?.deletionTimestamp) return this.terminate(key, pod, st);
    if (!st) {
      // A pod that finished before this agent knew it is not run again (upstream: terminal pods are never restarted).
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      st = this.newState(pod);
      this.states.set(key, st);
    }
    st.pod = pod;
    if (st.terminal) return this.writeStatus(st, pod);

    if (!st.sandbox) {
      try {
        mkdirSync(st.podDir, { recursive: true });
        st.sandbox = await this.cfg.runtime.createSandbox({
          podUid: st.uid,
          namespace,
          name,
          hostNetwork: !!pod.spec?.hostNetwork,
          hostname: pod.spec?.hostname ?? name,
        });
        // Pods with their own network get the kubelet-managed /etc/hosts (upstream); host-network pods see the node's.
        if (st.sandbox.netnsPath) {
          st.hostsFile = join(st.podDir, 'etc-hosts');
          writeFileSync(st.hostsFile, managedHostsFile(pod, st.sandbox.ip));
        }
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

    await this.syncContainers(key, st, pod);
    const status = await this.writeStatus(st, pod);
    if ((status.phase === 'Succeeded' || status.phase === 'Failed') && st.handles.size === 0) {
      // Every container has stopped for good: free the pod's network (its IP stays in status, as upstream).
      st.terminal = true;
      await this.removeSandbox(st);
    }
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

  /** Starts what should run next (upstream computePodActions): the first unfinished init container, else every app container due to (re)start. */
  private async syncContainers(key: string, st: PodState, pod: any): Promise<void> {
    const policy = pod.spec?.restartPolicy ?? 'Always';
    for (const c of pod.spec?.initContainers ?? []) {
      const rec = st.records.get(c.name);
      if (rec?.running) return;
      if (rec?.terminated?.exitCode === 0) continue;
      // An init container that failed is retried unless the pod never restarts (then the pod fails).
      if (rec?.terminated && policy === 'Never') return;
      await this.startContainer(key, st, pod, c);
      return;
    }
    for (const c of pod.spec?.containers ?? []) {
      const rec = st.records.get(c.name);
      if (rec?.running) continue;
      if (rec?.terminated && !shouldRestart(policy, rec.terminated.exitCode)) continue;
      await this.startContainer(key, st, pod, c);
    }
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

  /** Starts one attempt of a container (upstream startContainer), honouring the crash-loop back-off. */
  private async startContainer(key: string, st: PodState, pod: any, c: any): Promise<void> {
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
        rec.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${goDuration(e.backoffMs)} restarting failed container=${c.name} pod=${podFull(pod)}` };
        void this.cfg.recorder.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podFull(pod)}`);
        this.queue.addAfter(key, left + 5);
        return;
      }
      this.nextBackoff(st, c.name, finished);
    }

    let env: Record<string, string>;
    let mounts;
    try {
      env = await containerEnv(pod, c, this.envContext(st));
      mounts = containerMounts(c, st.volumes ?? new Map());
      if (st.hostsFile && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
        mounts.push({ hostPath: st.hostsFile, containerPath: '/etc/hosts', readOnly: false });
      }
    } catch (e) {
      // upstream: CreateContainerConfigError, retried on later syncs.
      const msg = (e as Error).message;
      rec.waiting = { reason: 'CreateContainerConfigError', message: msg };
      void this.cfg.recorder.event(pod, 'Warning', 'Failed', `Error: ${msg}`);
      this.queue.addAfter(key, this.cfg.retryMs);
      return;
    }

    const attempt = rec.terminated ? rec.restartCount + 1 : rec.restartCount;
    const path = logPath(st.podDir, c.name, attempt);
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    void this.cfg.recorder.event(pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
    const began = this.cfg.now();
    let running: RunningContainer;
    try {
      running = await this.cfg.runtime.startContainer(st.sandbox!, {
        podUid: st.uid,
        name: c.name,
        image: c.image ?? '',
        argv: containerArgv(c, env),
        env,
        workingDir: c.workingDir,
        mounts,
        memoryLimitBytes: bytes(limits.memory),
        cpuLimitMillis: milli(limits.cpu),
        cpuRequestMillis: milli(requests.cpu),
        logPath: path,
        stdin: !!c.stdin,
        tty: !!c.tty,
      });
    } catch (e) {
      const msg = (e as Error).message;
      const reason = e instanceof StartError ? e.reason : 'RunContainerError';
      // The attempt counts as a container that ended (containerd reports it exited 128, StartError, never started).
      const containerID = `process://failed-${st.uid.slice(0, 8)}-${c.name}-${attempt}`;
      if (rec.terminated) rec.last = rec.terminated;
      rec.restartCount = attempt;
      rec.terminated = { exitCode: 128, reason: 'StartError', message: msg, startedAt: new Date(0), finishedAt: this.cfg.now(), containerID };
      st.logPaths.set(containerID, path);
      rec.waiting = { reason, message: msg };
      void this.cfg.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
      void this.cfg.recorder.event(pod, 'Warning', 'Failed', `Error: ${msg}`);
      // The next sync applies the back-off (upstream: RunContainerError until then, CrashLoopBackOff on later failures).
      this.queue.addAfter(key, this.cfg.retryMs);
      return;
    }
    const containerID = `process://${running.id}`;
    if (rec.terminated) rec.last = rec.terminated;
    rec.terminated = undefined;
    rec.restartCount = attempt;
    rec.waiting = undefined;
    rec.everStarted = true;
    rec.running = { containerID, startedAt: running.startedAt ?? began };
    st.handles.set(c.name, running);
    st.logPaths.set(containerID, path);
    void this.cfg.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
    void this.cfg.recorder.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    const record = rec;
    running.exited.then(
      (x) => {
        if (st.handles.get(c.name) === running) st.handles.delete(c.name);
        if (record.running?.containerID !== containerID) return;
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
        this.cfg.log(`kubelet: container ${c.name} of ${podFull(pod)}: ${err.message}`);
        st.handles.delete(c.name);
        record.running = undefined;
        record.terminated = { exitCode: 255, reason: 'Error', message: err.message, startedAt: running.startedAt, finishedAt: this.cfg.now(), containerID };
        this.queue.add(key);
      },
    );
  }

  /** Computes the pod's status and writes it when it changed (through the status subresource). */
  private async writeStatus(st: PodState, pod: any, podIsTerminal = false): Promise<any> {
    const spec = pod.spec ?? {};
    const policy = spec.restartPolicy ?? 'Always';
    const hasInit = (spec.initContainers?.length ?? 0) > 0;
    const defaultWaiting = hasInit ? 'PodInitializing' : 'ContainerCreating';
    const initStatuses = (spec.initContainers ?? []).map((c: any) => containerStatus(c, st.records.get(c.name), defaultWaiting, policy === 'Never' ? 'Never' : 'OnFailure'));
    const statuses = (spec.containers ?? []).map((c: any) => containerStatus(c, st.records.get(c.name), defaultWaiting, policy));
    const phase = podPhase(spec, initStatuses, statuses, podIsTerminal);
    const sandboxReady = !!st.sandbox && !st.sandboxGone;
    const ip = st.sandbox?.ip ?? st.status?.podIP;
    const status: any = {
      phase,
      conditions: mergeConditions(pod.status?.conditions, podConditions(spec, phase, initStatuses, statuses, sandboxReady), this.cfg.now()),
      hostIP: this.cfg.nodeIp,
      hostIPs: [{ ip: this.cfg.nodeIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: metaTime(st.startTime),
      ...(hasInit ? { initContainerStatuses: initStatuses } : {}),
      containerStatuses: statuses,
    };
    st.status = status;
    // Compare without transition times: they only move when a condition's status does.
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
        const grace = Math.max(MIN_GRACE_SECONDS, pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
        st.killing = this.killAll(st, pod, grace).then(() => this.queue.add(key));
      }
      if (st.handles.size > 0) return;
      await this.removeSandbox(st);
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

  /** Stops every running container of a pod (SIGTERM, SIGKILL after `grace`), with a Killing event each. */
  private async killAll(st: PodState, pod: any, grace: number): Promise<void> {
    const running = [...st.handles.entries()];
    await Promise.all(
      running.map(async ([name, h]) => {
        void this.cfg.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${name}`);
        try {
          await this.cfg.runtime.stopContainer(h, grace);
        } catch (e) {
          this.cfg.log(`kubelet: stopping container ${name} of ${podFull(pod)}: ${(e as Error).message}`);
        }
        // The exit handler records the end; wait for it so the status shows it.
        await h.exited.catch(() => undefined);
        st.handles.delete(name);
      }),
    );
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
    await this.killAll(st, st.pod, Math.max(MIN_GRACE_SECONDS, grace));
    await this.removeSandbox(st);
    this.forget(key, st);
  }

  private forget(key: string, st: PodState): void {
    if (this.states.get(key) === st) this.states.delete(key);
    rmSync(st.podDir, { recursive: true, force: true });
  }

  /** Stops every container on the node at once (agent shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.states.values()].map((st) => this.killAll(st, st.pod, 0).then(() => this.removeSandbox(st))));
  }
}
