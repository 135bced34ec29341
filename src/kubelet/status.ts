/**
 * Pod status as kubelet computes it (pkg/kubelet/kubelet_pods.go
 * generateAPIPodStatus, getPhase, convertToAPIContainerStatuses and
 * pkg/kubelet/status/generate.go): container states from what the node
 * agent knows of each container, the pod phase, and the conditions.
 */

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

/** The API ContainerStatus of one container (upstream convertToAPIContainerStatuses, no probes: ready while running). */
export function containerStatus(spec: any, rec: ContainerRecord | undefined, defaultWaiting: string, restartPolicy: string | undefined): any {
  const status: any = {
    name: spec.name,
    image: spec.image ?? '',
    imageID: rec?.everStarted ? `kite-process://${spec.image ?? ''}` : '',
    ready: false,
    restartCount: rec?.restartCount ?? 0,
    started: false,
    state: { waiting: { reason: defaultWaiting } },
    lastState: {},
  };
  if (rec?.running) {
    status.containerID = rec.running.containerID;
    status.state = { running: { startedAt: metaTime(rec.running.startedAt) } };
    status.ready = true;
    status.started = true;
  } else if (rec?.terminated) {
    status.containerID = rec.terminated.containerID;
    status.state = terminatedState(rec.terminated);
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

/** The pod phase from its container statuses (upstream getPhase, without restartable init containers). */
export function podPhase(spec: any, initStatuses: any[], statuses: any[], podIsTerminal: boolean): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  let pendingInit = 0;
  let failedInit = 0;
  for (const c of spec.initContainers ?? []) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (!s || s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state.waiting) {
      if (s.lastState?.terminated) {
        if (s.lastState.terminated.exitCode !== 0) failedInit++;
      } else pendingInit++;
    } else pendingInit++;
  }
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
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
  const anyRegularStarted = statuses.some((s) => s.state.running || s.state.terminated || s.lastState?.terminated);
  if ((pendingInit > 0 && !anyRegularStarted) || waiting > 0) return 'Pending';
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

/** Go's `%s` of a []string. */
function goList(names: string[]): string {
  return `[${names.join(' ')}]`;
}

/** The conditions kubelet owns, in its order (upstream generateAPIPodStatus). */
export function podConditions(spec: any, phase: string, initStatuses: any[], statuses: any[], sandboxReady: boolean): any[] {
  const conditions: any[] = [{ type: 'PodReadyToStartContainers', status: sandboxReady ? 'True' : 'False' }];

  // Initialized (GeneratePodInitializedCondition).
  const incomplete = (spec.initContainers ?? [])
    .filter((c: any) => {
      const s = initStatuses.find((x) => x.name === c.name);
      return !s?.state.terminated || s.state.terminated.exitCode !== 0;
    })
    .map((c: any) => c.name);
  const regularStarted = statuses.some((s) => s.state.running || s.state.terminated || s.lastState?.terminated);
  if (phase === 'Succeeded') conditions.push({ type: 'Initialized', status: 'True', reason: 'PodCompleted' });
  else if (incomplete.length && !regularStarted) {
    conditions.push({ type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: ${goList(incomplete)}` });
  } else conditions.push({ type: 'Initialized', status: 'True' });

  // Ready and ContainersReady (GeneratePodReadyCondition / GenerateContainersReadyCondition).
  const unready = (spec.containers ?? []).filter((c: any) => !statuses.find((s) => s.name === c.name)?.ready).map((c: any) => c.name);
  let ready: any;
  if (phase === 'Succeeded') ready = { status: 'False', reason: 'PodCompleted' };
  else if (phase === 'Failed') ready = { status: 'False', reason: 'PodFailed' };
  else if (unready.length) ready = { status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: ${goList(unready)}` };
  else ready = { status: 'True' };
  conditions.push({ type: 'Ready', ...ready }, { type: 'ContainersReady', ...ready });
  conditions.push({ type: 'PodScheduled', status: 'True' });
  return conditions;
}

/** Kubelet-owned condition types; others (e.g. DisruptionTarget) are kept as written by their owners. */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);

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
