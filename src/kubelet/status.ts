/**
 * Pod status as kubelet computes it (pkg/kubelet/kubelet_pods.go
 * generateAPIPodStatus, getPhase, convertToAPIContainerStatuses and
 * pkg/kubelet/status/generate.go): container states from what the node
 * agent knows of each container, the pod phase, and the conditions.
 */
import { goList } from './format.js';

/** How one container attempt ended, as the node agent remembers it. */
export interface TerminatedRecord {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
  containerID: string;
}

/** What the node agent knows about one container of a pod (all of its attempts). */
export interface ContainerRecord {
  /** Attempts before the current one (status.restartCount). */
  restartCount: number;
  /** The current attempt, while its process runs. */
  running?: { containerID: string; startedAt: Date };
  /** The current attempt, once it ended. */
  terminated?: TerminatedRecord;
  /** The attempt before the current one. */
  last?: TerminatedRecord;
  /**
   * Why the container is not running although it should be (upstream's
   * reasonCache): CrashLoopBackOff, RunContainerError, CreateContainerConfigError…
   */
  waiting?: { reason: string; message?: string };
  /** True once an attempt has started (the image is recorded from then on). */
  everStarted: boolean;
  /** The image of the latest started attempt as the runtime names it (upstream: CRI ContainerStatus.imageRef); absent where there are no images. */
  imageID?: string;
}

/** Formats a time as metav1.Time (RFC 3339, seconds). */
export function metaTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Whether a container whose attempt ended is started again (upstream ShouldContainerBeRestarted for a regular container). */
export function shouldRestart(restartPolicy: string | undefined, exitCode: number): boolean {
  if (restartPolicy === 'Never') return false;
  if (restartPolicy === 'OnFailure') return exitCode !== 0;
  return true;
}

function terminatedState(t: TerminatedRecord): any {
  return {
    terminated: {
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      startedAt: metaTime(t.startedAt),
      finishedAt: metaTime(t.finishedAt),
      containerID: t.containerID,
    },
  };
}

/** What the probes say of a container (upstream prober UpdatePodStatus). */
export interface ContainerProbeState {
  /** Running, and its startup probe (if any) passed. */
  started: boolean;
  ready: boolean;
}

/**
 * The API ContainerStatus of one container (upstream
 * convertToAPIContainerStatuses); `probe` gives started/ready, which are
 * otherwise true while the container runs.
 */
export function containerStatus(spec: any, rec: ContainerRecord | undefined, defaultWaiting: string, restartPolicy: string | undefined, probe?: ContainerProbeState): any {
  const status: any = {
    name: spec.name,
    image: spec.image ?? '',
    // upstream convertContainerStatus: ImageID is the runtime's image ref (a digested `<repo>@sha256:…` with containerd).
    imageID: rec?.everStarted ? (rec.imageID ?? `kite-process://${spec.image ?? ''}`) : '',
    ready: false,
    restartCount: rec?.restartCount ?? 0,
    started: false,
    state: { waiting: { reason: defaultWaiting } },
    lastState: {},
  };
  if (rec?.running) {
    status.containerID = rec.running.containerID;
    status.state = { running: { startedAt: metaTime(rec.running.startedAt) } };
    status.ready = probe?.ready ?? true;
    status.started = probe?.started ?? true;
  } else if (rec?.terminated) {
    status.containerID = rec.terminated.containerID;
    status.state = terminatedState(rec.terminated);
    // A finished init container counts as ready (upstream UpdatePodStatus for non-restartable init containers).
    if (probe?.ready) status.ready = true;
  }
  if (rec?.last) status.lastState = terminatedState(rec.last);
  // A container that should run but does not shows why it waits; its ended attempt moves to lastState (upstream reasonCache handling).
  if (rec?.waiting && !rec.running && (!rec.terminated || shouldRestart(restartPolicy, rec.terminated.exitCode))) {
    if (rec.terminated) status.lastState = terminatedState(rec.terminated);
    status.state = { waiting: { reason: rec.waiting.reason, ...(rec.waiting.message ? { message: rec.waiting.message } : {}) } };
  }
  if (spec.volumeMounts?.length) {
    status.volumeMounts = spec.volumeMounts.map((m: any) => ({
      name: m.name,
      mountPath: m.mountPath,
      ...(m.readOnly ? { readOnly: true, recursiveReadOnly: 'Disabled' } : {}),
    }));
  }
  return status;
}

/** Whether an init container is a sidecar (a restartable init container: `restartPolicy: Always`). */
export function isSidecar(c: any): boolean {
  return c?.restartPolicy === 'Always';
}

/** upstream HasAnyRegularContainerStarted: an app container is running or has ended. */
function anyRegularStarted(statuses: any[]): boolean {
  return statuses.some((s) => s.state.running || s.state.terminated);
}

/**
 * The pod phase from its container statuses (upstream getPhase, with
 * restartable init containers: a sidecar counts as running, holds the pod
 * Pending until it has started, and is ignored once it has ended).
 */
export function podPhase(spec: any, initStatuses: any[], statuses: any[], podIsTerminal: boolean): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  let pendingInit = 0;
  let failedInit = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of spec.initContainers ?? []) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (isSidecar(c)) {
      if (!s) unknown++;
      else if (s.state.running) {
        if (!s.started) pendingInit++;
        running++;
      } else if (s.state.terminated) {
        /* an ended sidecar does not count */
      } else if (s.state.waiting) {
        if (!s.lastState?.terminated) {
          pendingInit++;
          waiting++;
        }
      } else {
        pendingInit++;
        unknown++;
      }
      continue;
    }
    if (!s || s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state.waiting) {
      if (s.lastState?.terminated) {
        if (s.lastState.terminated.exitCode !== 0) failedInit++;
      } else pendingInit++;
    } else pendingInit++;
  }
  for (const c of spec.containers ?? []) {
    const s = statuses.find((x) => x.name === c.name);
    if (!s) unknown++;
    else if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  if (failedInit > 0 && spec.restartPolicy === 'Never') return 'Failed';
  // A pod whose app containers have run is not Pending again while a sidecar restarts.
  if ((pendingInit > 0 && !anyRegularStarted(statuses)) || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if ((spec.restartPolicy ?? 'Always') === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (spec.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/**
 * The conditions kubelet owns, in its order (upstream generateAPIPodStatus):
 * Initialized counts sidecars as done once started; ContainersReady and
 * Ready count sidecars beside the app containers; Ready also waits for the
 * pod's readiness gates, read from `others` (conditions of other writers).
 */
export function podConditions(spec: any, phase: string, initStatuses: any[], statuses: any[], sandboxReady: boolean, others: any[] = []): any[] {
  const conditions: any[] = [{ type: 'PodReadyToStartContainers', status: sandboxReady ? 'True' : 'False' }];

  // Initialized (GeneratePodInitializedCondition).
  const inits = spec.initContainers ?? [];
  const unknownInit: string[] = [];
  const incomplete: string[] = [];
  for (const c of inits) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (!s) unknownInit.push(c.name);
    else if (isSidecar(c) ? !s.started : !s.state.terminated || s.state.terminated.exitCode !== 0) incomplete.push(c.name);
  }
  if (inits.length === 0) conditions.push({ type: 'Initialized', status: 'True' });
  else if (phase === 'Succeeded') conditions.push({ type: 'Initialized', status: 'True', reason: 'PodCompleted' });
  else if (anyRegularStarted(statuses) || (unknownInit.length === 0 && incomplete.length === 0)) conditions.push({ type: 'Initialized', status: 'True' });
  else {
    const parts = [];
    if (unknownInit.length) parts.push(`containers with unknown status: ${goList(unknownInit)}`);
    if (incomplete.length) parts.push(`containers with incomplete status: ${goList(incomplete)}`);
    conditions.push({ type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: parts.join(', ') });
  }

  // ContainersReady (GenerateContainersReadyCondition), sidecars first as upstream lists them.
  const unready: string[] = [];
  const unknown: string[] = [];
  const check = (c: any, list: any[]) => {
    const s = list.find((x) => x.name === c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  };
  for (const c of inits) if (isSidecar(c)) check(c, initStatuses);
  for (const c of spec.containers ?? []) check(c, statuses);
  let containersReady: any;
  if ((phase === 'Succeeded' && unknown.length === 0) || phase === 'Failed') containersReady = { status: 'False', reason: phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed' };
  else if (unknown.length || unready.length) {
    const parts = [];
    if (unknown.length) parts.push(`containers with unknown status: ${goList(unknown)}`);
    if (unready.length) parts.push(`containers with unready status: ${goList(unready)}`);
    containersReady = { status: 'False', reason: 'ContainersNotReady', message: parts.join(', ') };
  } else containersReady = { status: 'True' };

  // Ready (GeneratePodReadyCondition): ContainersReady, then every readiness gate True.
  let ready = containersReady;
  if (containersReady.status === 'True') {
    const gates: string[] = [];
    for (const g of spec.readinessGates ?? []) {
      const c = others.find((o) => o?.type === g.conditionType);
      if (!c) gates.push(`corresponding condition of pod readiness gate ${JSON.stringify(g.conditionType)} does not exist.`);
      else if (c.status !== 'True') gates.push(`the status of pod readiness gate ${JSON.stringify(g.conditionType)} is not "True", but ${c.status}`);
    }
    if (gates.length) ready = { status: 'False', reason: 'ReadinessGatesNotReady', message: gates.join(', ') };
  }
  conditions.push({ type: 'Ready', ...ready }, { type: 'ContainersReady', ...containersReady });
  conditions.push({ type: 'PodScheduled', status: 'True' });
  return conditions;
}

/**
 * upstream NeedToReconcilePodReadiness: a pod with readiness gates whose
 * Ready condition no longer matches its gates (another writer changed one).
 */
export function needsReadinessReconcile(pod: any): boolean {
  const gates = pod?.spec?.readinessGates ?? [];
  if (!gates.length) return false;
  const conditions: any[] = pod.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  const containersReady = conditions.find((c) => c.type === 'ContainersReady');
  if (!ready || !containersReady) return false;
  const gatesTrue = gates.every((g: any) => conditions.find((c) => c.type === g.conditionType)?.status === 'True');
  const want = containersReady.status === 'True' && gatesTrue ? 'True' : 'False';
  return ready.status !== want;
}

/** Kubelet-owned condition types; others (e.g. DisruptionTarget) are kept as written by their owners. */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);

/** Whether kubelet owns a pod condition type (upstream PodConditionByKubelet). */
export function isKubeletCondition(type: string): boolean {
  return KUBELET_CONDITIONS.has(type);
}

/**
 * Merges freshly computed conditions into the pod's current ones: a
 * condition whose status did not change keeps its lastTransitionTime (as
 * upstream's status manager does); conditions of other writers are kept.
 */
export function mergeConditions(current: any[] | undefined, computed: any[], now: Date): any[] {
  const out = computed.map((c) => {
    const old = current?.find((o) => o.type === c.type);
    const lastTransitionTime = old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : metaTime(now);
    return { ...c, lastTransitionTime };
  });
  for (const c of current ?? []) if (!KUBELET_CONDITIONS.has(c.type)) out.push(c);
  return out;
}
