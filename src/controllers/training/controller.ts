/**
 * The training-operator controller (`training-operator`): one generic
 * reconciler for PyTorchJob, TFJob, PaddleJob and XGBoostJob, after the
 * Kubeflow training operator's common JobController (pkg/controller.v1/
 * common, v1.9). Per job it keeps one pod and one headless Service per
 * replica, named `<job>-<replica type>-<index>`, labelled with the
 * `training.kubeflow.org/*` labels and owned by the job; restarts replicas
 * by their restartPolicy (ExitCode: pods are recreated on exit codes from
 * 128); applies runPolicy (backoffLimit, activeDeadlineSeconds,
 * cleanPodPolicy, ttlSecondsAfterFinished, suspend, schedulingPolicy); gangs
 * multi-pod jobs with a PodGroup; and writes the status conditions and
 * replicaStatuses. What differs between the kinds is in frameworks.ts.
 *
 * Rendezvous readiness. A PyTorch Worker must not start before its Master's
 * Service has a ready endpoint. Creating workers only once the master is
 * ready cannot coexist with gang scheduling: the gang is placed only when
 * every member pod exists, so a master-first job would never be placed. So
 * all pods are created together, and instead of upstream's `init-pytorch`
 * init container (an extra image running an `nslookup` loop that gives up
 * after 100 tries) each Worker pod carries `kite.io/wait-for-service` naming
 * the Master's Service: the node agent, which sees that Service's endpoints
 * through its EndpointSlice watch, starts the Worker's containers as soon as
 * the Master is ready — no DNS loop, no extra container, no polling delay.
 * The job's activeDeadlineSeconds bounds the wait.
 */
import { R, isStatus, type Client, type ResourceRef } from '../../client/client.js';
import type { EventRecorder, EventSubject } from '../../client/events.js';
import type { InformerFactory } from '../../client/factory.js';
import { objectKey, type Informer } from '../../client/informer.js';
import { WorkQueue } from '../../client/workqueue.js';
import { selectorFromSet } from '../../api/labels.js';
import { parseQuantity, type Quantity } from '../../api/quantity.js';
import { POD_GROUP_LABEL, PODGROUPS, type PodGroup } from '../../api/podgroup.js';
import { QUEUE_NAME_LABEL } from '../../api/kueue.js';
import type { Container, Pod, PodSpec, Service } from '../../api/generated/types.js';
import {
  KUBEFLOW_GROUP,
  KUBEFLOW_VERSION,
  TRAINING_KINDS,
  TrainingLabels,
  replicaSpecsOf,
  trainingResource,
  type ReplicaSpec,
  type ReplicaStatus,
  type RunPolicy,
  type TrainingJob,
  type TrainingJobStatus,
  type TrainingKind,
} from '../../api/kubeflow.js';
import { ControllerExpectations, getControllerOf, jsonEqual, newControllerRef, rfc3339, type ObjectLike, type OwnerReference } from '../controllerutil.js';
import { hasCondition, isFinished, setCondition } from './conditions.js';
import { WAIT_FOR_SERVICE_ANNOTATION } from '../../kubelet/rendezvous.js';
import { isMasterRole, isRetryableExitCode, rendezvousLeader, replicaName, setClusterSpec, statusChanges, totalReplicas, withDefaults } from './frameworks.js';

/** upstream KubeflowJobsController: the runPolicy.managedBy value (or none) that this controller acts on. */
export const TRAINING_OPERATOR_MANAGER = 'kubeflow.org/training-operator';
/** The apiVersion of the jobs. */
const API_VERSION = `${KUBEFLOW_GROUP}/${KUBEFLOW_VERSION}`;
const CRDS: ResourceRef = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };
/** upstream's magic exit code for "the default container has not terminated". */
const NO_EXIT = 0xbeef;

/** Configuration of the training-operator controller. */
export interface TrainingJobControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** An event recorder per component: each kind records as its upstream controller (`pytorchjob-controller`, …). */
  events: (component: string) => EventRecorder;
  now?: () => Date;
  /** Concurrent reconciles (upstream --threadiness, default 1 per kind). */
  workers?: number;
  /** The kinds to run (default all four). */
  kinds?: readonly TrainingKind[];
}

/** One queued job: kind, namespace and name. */
function jobKey(kind: TrainingKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function parseJobKey(key: string): { kind: TrainingKind; namespace: string; name: string } {
  const [kind, namespace, ...rest] = key.split('/');
  return { kind: kind as TrainingKind, namespace: namespace ?? '', name: rest.join('/') };
}

/** upstream GenLabels: the labels every pod and Service of a job carries. */
export function jobLabels(kind: TrainingKind, jobName: string): Record<string, string> {
  return { [TrainingLabels.operatorName]: TRAINING_KINDS[kind].operatorName, [TrainingLabels.jobName]: jobName.replace(/\//g, '-') };
}

/** The label selector string of one replica type's pods (upstream GenLabelSelector, formatted). */
export function replicaSelector(kind: TrainingKind, jobName: string, rtype: string): string {
  return selectorFromSet({ ...jobLabels(kind, jobName), [TrainingLabels.replicaType]: rtype.toLowerCase() }).toString();
}

/** The exit code of a pod's default container, if it has terminated. */
function defaultExitCode(pod: Pod, containerName: string): number {
  const st = (pod.status?.containerStatuses ?? []).find((s) => s.name === containerName);
  return st?.state?.terminated?.exitCode ?? NO_EXIT;
}

/** Container restarts of a pod (upstream PastBackoffLimit adds init and app containers). */
function restartsOf(pod: Pod): number {
  let n = 0;
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) n += s.restartCount ?? 0;
  return n;
}

/** Adds a container's requests (or its limits where it requests nothing) into `sum` (upstream AddResourceList). */
function addResources(sum: Map<string, Quantity>, c: Container): void {
  const req = c.resources?.requests;
  const from = req ?? c.resources?.limits ?? {};
  for (const [name, q] of Object.entries(from)) {
    const v = parseQuantity(q as string | number);
    const cur = sum.get(name);
    sum.set(name, cur ? cur.add(v) : v);
  }
}

/**
 * upstream CalcPGMinResources: the resources of the first `minMember` pods,
 * replica types taken in the kind's order (upstream orders them by their
 * pods' priority; equal priorities keep a map's order).
 */
export function podGroupMinResources(kind: TrainingKind, specs: Readonly<Record<string, ReplicaSpec>>, minMember: number): Record<string, string> {
  const sum = new Map<string, Quantity>();
  let count = 0;
  for (const rtype of TRAINING_KINDS[kind].replicaTypes) {
    const spec = specs[rtype];
    if (!spec) continue;
    for (let i = 0; i < (spec.replicas ?? 1) && count < minMember; i++, count++) for (const c of spec.template?.spec?.containers ?? []) addResources(sum, c);
  }
  return Object.fromEntries([...sum].map(([k, v]) => [k, v.toString()]));
}

/** Keeps the pods, Services, PodGroups and status of every training job. */
export class TrainingJobController {
  private readonly client: Client;
  private readonly informers: InformerFactory;
  private readonly events = new Map<TrainingKind, EventRecorder>();
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly kinds: readonly TrainingKind[];
  private readonly podExpectations: ControllerExpectations;
  private readonly serviceExpectations: ControllerExpectations;
  private readonly jobs = new Map<TrainingKind, Informer<TrainingJob>>();
  private readonly pods: Informer<Pod>;
  private readonly services: Informer<Service>;
  private podGroups?: Informer<PodGroup>;
  private crds?: Informer;
  /** Pods deleted to restart a replica, per job uid: restarts that no restartCount shows, counted against backoffLimit. */
  private readonly recreated = new Map<string, number>();
  /** Pods whose exit was already reported (ExitedWithCode), by uid. */
  private readonly exitsReported = new Set<string>();
  private stopped = false;

  constructor(config: TrainingJobControllerConfig) {
    this.client = config.client;
    this.informers = config.informers;
    for (const kind of Object.keys(TRAINING_KINDS) as TrainingKind[]) this.events.set(kind, config.events(TRAINING_KINDS[kind].operatorName));
    this.now = config.now ?? (() => new Date());
    this.kinds = config.kinds ?? (Object.keys(TRAINING_KINDS) as TrainingKind[]);
    this.podExpectations = new ControllerExpectations(() => this.now().getTime());
    this.serviceExpectations = new ControllerExpectations(() => this.now().getTime());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: config.workers ?? 2 });
    this.pods = config.informers.informer<Pod>(R.pods);
    this.services = config.informers.informer<Service>(R.services);
  }

  /**
   * Registers handlers and resolves once the caches are filled. Kinds whose
   * CRD is not served yet are picked up when it becomes Established, so the
   * controller manager never waits on them.
   */
  async start(): Promise<void> {
    this.pods.addHandlers({
      onAdd: (pod) => this.dependentAdded(pod, this.podExpectations),
      onUpdate: (old, pod) => {
        if (old.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
        this.enqueueOwner(old);
        this.enqueueOwner(pod);
      },
      onDelete: (pod) => this.dependentDeleted(pod, this.podExpectations),
    });
    this.services.addHandlers({
      onAdd: (svc) => this.dependentAdded(svc, this.serviceExpectations),
      onDelete: (svc) => this.dependentDeleted(svc, this.serviceExpectations),
    });
    const waits: Promise<void>[] = [this.pods.start(), this.services.start()];
    if (await this.served(PODGROUPS)) {
      this.podGroups = this.informers.informer<PodGroup>(PODGROUPS);
      // The scheduler's verdict on a gang shows on the job (why it is not running).
      this.podGroups.addHandlers({ onUpdate: (_old, pg) => this.enqueueOwner(pg), onDelete: (pg) => this.enqueueOwner(pg) });
      waits.push(this.podGroups.start());
    }
    const missing: TrainingKind[] = [];
    for (const kind of this.kinds) {
      if (await this.served(trainingResource(kind))) waits.push(this.watchKind(kind));
      else missing.push(kind);
    }
    if (missing.length) {
      this.crds = this.informers.informer(CRDS);
      const check = (crd: any) => {
        const established = (crd?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
        if (!established || crd?.spec?.group !== KUBEFLOW_GROUP) return;
        const kind = missing.find((k) => TRAINING_KINDS[k].plural === crd.spec?.names?.plural);
        if (kind && !this.jobs.has(kind)) void this.watchKind(kind);
      };
      this.crds.addHandlers({ onAdd: check, onUpdate: (_old, crd) => check(crd) });
      waits.push(this.crds.start());
    }
    await Promise.all(waits);
  }

  /** Stops reconciling (the shared informers are the factory's). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async served(ref: ResourceRef): Promise<boolean> {
    try {
      await this.client.list(ref, '', { limit: 1 });
      return true;
    } catch (e) {
      if (isStatus(e, 404)) return false;
      throw e;
    }
  }

  private watchKind(kind: TrainingKind): Promise<void> {
    const inf = this.informers.informer<TrainingJob>(trainingResource(kind));
    this.jobs.set(kind, inf);
    const enqueue = (job: TrainingJob) => this.enqueue(kind, job);
    inf.addHandlers({
      onAdd: enqueue,
      onUpdate: (_old, job) => enqueue(job),
      onDelete: (job) => {
        const key = jobKey(kind, job.metadata?.namespace ?? '', job.metadata?.name ?? '');
        this.podExpectations.delete(key);
        this.serviceExpectations.delete(key);
        if (job.metadata?.uid) this.recreated.delete(job.metadata.uid);
      },
    });
    return inf.start();
  }

  private enqueue(kind: TrainingKind, job: TrainingJob): void {
    if (!this.stopped) this.queue.add(jobKey(kind, job.metadata?.namespace ?? '', job.metadata?.name ?? ''));
  }

  /** The job a controller reference names, if it is one of ours and still the same object (upstream resolveControllerRef). */
  private resolve(namespace: string, ref: OwnerReference | undefined): { kind: TrainingKind; job: TrainingJob } | undefined {
    if (!ref || ref.apiVersion !== API_VERSION || !(ref.kind in TRAINING_KINDS)) return undefined;
    const kind = ref.kind as TrainingKind;
    const job = this.jobs.get(kind)?.get(namespace, ref.name);
    return job && job.metadata?.uid === ref.uid ? { kind, job } : undefined;
  }

  private enqueueOwner(obj: ObjectLike): void {
    const owner = this.resolve(obj.metadata?.namespace ?? '', getControllerOf(obj));
    if (owner) this.enqueue(owner.kind, owner.job);
  }

  private dependentAdded(obj: ObjectLike, exp: ControllerExpectations): void {
    const owner = this.resolve(obj.metadata?.namespace ?? '', getControllerOf(obj));
    if (!owner) return;
    if (!obj.metadata?.deletionTimestamp) exp.creationObserved(jobKey(owner.kind, obj.metadata.namespace, owner.job.metadata?.name ?? ''));
    this.enqueue(owner.kind, owner.job);
  }

  private dependentDeleted(obj: ObjectLike, exp: ControllerExpectations): void {
    if (obj.metadata?.uid) this.exitsReported.delete(obj.metadata.uid);
    const owner = this.resolve(obj.metadata?.namespace ?? '', getControllerOf(obj));
    if (!owner) return;
    exp.deletionObserved(jobKey(owner.kind, obj.metadata.namespace, owner.job.metadata?.name ?? ''), objectKey(obj));
    this.enqueue(owner.kind, owner.job);
  }

  /** Converges one job (`<Kind>/<namespace>/<name>`); safe to run again. */
  async reconcile(key: string): Promise<void> {
    const { kind, namespace, name } = parseJobKey(key);
    const stored = this.jobs.get(kind)?.get(namespace, name);
    if (!stored) {
      this.podExpectations.delete(key);
      this.serviceExpectations.delete(key);
      return;
    }
    const managedBy = stored.spec?.runPolicy?.managedBy;
    // upstream ManagedByExternalController: a job another controller manages (e.g. MultiKueue) is left alone.
    if (managedBy && managedBy !== TRAINING_OPERATOR_MANAGER) return;
    if (stored.metadata?.deletionTimestamp) return;
    // upstream SatisfiedExpectations: act only once our own writes are seen.
    if (!this.podExpectations.satisfied(key) || !this.serviceExpectations.satisfied(key)) return;
    await new JobSync(this.context(kind), kind, stored).run();
  }

  private context(kind: TrainingKind): SyncContext {
    return {
      client: this.client,
      events: this.events.get(kind)!,
      now: this.now,
      queue: this.queue,
      podExpectations: this.podExpectations,
      serviceExpectations: this.serviceExpectations,
      pods: this.pods,
      services: this.services,
      podGroups: this.podGroups,
      recreated: this.recreated,
      exitsReported: this.exitsReported,
    };
  }
}

/** What one reconcile works with: the controller's client, caches and bookkeeping. */
interface SyncContext {
  client: Client;
  events: EventRecorder;
  now: () => Date;
  queue: WorkQueue;
  podExpectations: ControllerExpectations;
  serviceExpectations: ControllerExpectations;
  pods: Informer<Pod>;
  services: Informer<Service>;
  podGroups?: Informer<PodGroup>;
  recreated: Map<string, number>;
  exitsReported: Set<string>;
}

/** One reconcile of one job: the defaulted job, its dependents and the status being built. */
class JobSync {
  private readonly job: TrainingJob;
  private readonly specs: Record<string, ReplicaSpec>;
  private readonly runPolicy: RunPolicy;
  private readonly status: TrainingJobStatus;
  private readonly key: string;
  private readonly name: string;
  private readonly namespace: string;
  private readonly uid: string;
  private readonly subject: EventSubject;
  private readonly nowText: string;
  private pods: Pod[];
  private services: Service[];

  constructor(
    private readonly c: SyncContext,
    private readonly kind: TrainingKind,
    private readonly stored: TrainingJob,
  ) {
    this.job = withDefaults(kind, stored);
    this.specs = replicaSpecsOf(kind, this.job);
    this.runPolicy = this.job.spec?.runPolicy ?? {};
    this.status = structuredClone(stored.status ?? {});
    this.name = stored.metadata?.name ?? '';
    this.namespace = stored.metadata?.namespace ?? '';
    this.uid = stored.metadata?.uid ?? '';
    this.key = jobKey(kind, this.namespace, this.name);
    this.subject = { apiVersion: API_VERSION, kind, metadata: stored.metadata as EventSubject['metadata'] };
    this.nowText = rfc3339(this.c.now());
    const owned = (o: ObjectLike) => getControllerOf(o)?.uid === this.uid;
    this.pods = this.c.pods.list(this.namespace, owned);
    this.services = this.c.services.list(this.namespace, owned);
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.c.events.event(this.subject, type, reason, message);
  }

  private condition(type: Parameters<typeof setCondition>[1], value: 'True' | 'False', reason: string, message: string): void {
    setCondition(this.status, type, value, reason, message, this.nowText);
  }

  async run(): Promise<void> {
    const { kind, name } = this;
    // upstream onOwnerCreateFunc: every job starts with Created.
    if (!this.status.conditions?.length) this.condition('Created', 'True', `${kind}Created`, `${kind} ${name} is created.`);
    if (isFinished(this.status)) return this.finished();
    if (this.runPolicy.suspend) return this.suspended();
    if (hasCondition(this.status, 'Suspended')) {
      const msg = `${kind} ${name} is resumed.`;
      this.condition('Suspended', 'False', `${kind}Resumed`, msg);
      // upstream: a resumed job's deadline counts from the resumption.
      this.status.startTime = this.nowText;
      this.event('Normal', `${kind}Resumed`, msg);
    }
    const failure = this.pastLimits();
    if (failure) {
      this.status.completionTime ??= this.nowText;
      // upstream: pods go before Failed is set, so cleanPodPolicy does not apply to a job that ran out of retries or time.
      await this.deletePodsAndServices(false);
      await this.deletePodGroup();
      this.event('Normal', `${kind}Failed`, failure);
      this.condition('Failed', 'True', `${kind}Failed`, failure);
      await this.writeStatus();
      this.c.queue.add(this.key); // for ttlSecondsAfterFinished
      return;
    }
    const ganged = await this.syncPodGroup();
    const order = TRAINING_KINDS[kind].replicaTypes.filter((t) => this.specs[t]);
    for (const rtype of order) await this.reconcilePods(rtype, ganged);
    for (const rtype of order) await this.reconcileServices(rtype);
    this.applyStatusRules();
    this.explainWaiting();
    await this.writeStatus();
    if (isFinished(this.status)) this.c.queue.add(this.key);
  }

  /** A finished job: pods by cleanPodPolicy, the PodGroup, ttlSecondsAfterFinished (upstream ReconcileJobs' first branch). */
  private async finished(): Promise<void> {
    await this.deletePodsAndServices(true);
    await this.deletePodGroup();
    if (hasCondition(this.status, 'Succeeded')) {
      // upstream: replicas still active when the job succeeded count as succeeded.
      for (const st of Object.values(this.status.replicaStatuses ?? {})) {
        st.succeeded = (st.succeeded ?? 0) + (st.active ?? 0);
        st.active = 0;
      }
    }
    await this.writeStatus();
    const ttl = this.runPolicy.ttlSecondsAfterFinished;
    if (ttl === undefined || ttl === null || this.runPolicy.suspend) return;
    const done = Date.parse(this.status.completionTime ?? '');
    if (Number.isNaN(done)) return;
    const left = done + ttl * 1000 - this.c.now().getTime();
    if (left > 0) {
      this.c.queue.addAfter(this.key, left);
      return;
    }
    try {
      await this.c.client.delete(trainingResource(this.kind), this.namespace, this.name, { propagationPolicy: 'Background', preconditions: { uid: this.uid } });
      this.event('Normal', 'SuccessfulDeleteJob', `Deleted job: ${this.name}`);
    } catch (e) {
      if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
    }
  }

  /** upstream's suspend branch: every pod and Service goes, the job says Suspended. */
  private async suspended(): Promise<void> {
    const { kind, name } = this;
    await this.deletePodsAndServices(false);
    await this.deletePodGroup();
    for (const st of Object.values(this.status.replicaStatuses ?? {})) st.active = 0;
    const queue = this.stored.metadata?.labels?.[QUEUE_NAME_LABEL];
    // Kite: a job held by its queue says so (Kueue suspends a job until its queue admits it).
    const msg = queue ? `${kind} ${name} is suspended, waiting for queue ${queue} to admit it.` : `${kind} ${name} is suspended.`;
    if (hasCondition(this.status, 'Running')) this.condition('Running', 'False', `${kind}Suspended`, msg);
    if (!hasCondition(this.status, 'Suspended')) {
      this.condition('Suspended', 'True', `${kind}Suspended`, msg);
      this.event('Normal', `${kind}Suspended`, msg);
    }
    await this.writeStatus();
  }

  /**
   * upstream PastBackoffLimit and PastActiveDeadline: the failure message
   * when the job has restarted too often or run too long. Restarts are the
   * container restarts of replicas that restart (OnFailure, Always,
   * ExitCode) plus the pods the controller recreated; upstream counts only
   * running pods' restarts and approximates recreations by its queue's retry count.
   */
  private pastLimits(): string | undefined {
    const limit = this.runPolicy.backoffLimit;
    if (limit !== undefined && limit !== null) {
      let restarts = this.c.recreated.get(this.uid) ?? 0;
      for (const [rtype, spec] of Object.entries(this.specs)) {
        if (spec.restartPolicy === 'Never') continue;
        for (const p of this.pods) if (p.metadata?.labels?.[TrainingLabels.replicaType] === rtype.toLowerCase()) restarts += restartsOf(p);
      }
      if (limit === 0 ? restarts > 0 : restarts >= limit) return `Job ${this.name} has failed because it has reached the specified backoff limit`;
    }
    const ads = this.runPolicy.activeDeadlineSeconds;
    const start = Date.parse(this.status.startTime ?? '');
    if (ads !== undefined && ads !== null && !Number.isNaN(start)) {
      const left = start + ads * 1000 - this.c.now().getTime();
      if (left <= 0) return `Job ${this.name} has failed because it was active longer than specified deadline`;
      this.c.queue.addAfter(this.key, left);
    }
    return undefined;
  }

  /**
   * upstream DeletePodsAndServices: for a finished job, cleanPodPolicy None
   * keeps everything and Running keeps the pods that are done; otherwise
   * (suspended, or failed on limits) every pod goes. A pod's Service shares its name.
   */
  private async deletePodsAndServices(finished: boolean): Promise<void> {
    const policy = this.runPolicy.cleanPodPolicy ?? 'None';
    if (finished && policy === 'None') return;
    for (const pod of this.pods) {
      const phase = pod.status?.phase;
      if (finished && policy === 'Running' && phase !== 'Running' && phase !== 'Pending') continue;
      await this.deletePod(pod);
      const svc = this.services.find((s) => s.metadata?.name === pod.metadata?.name);
      if (svc) await this.deleteService(svc);
    }
    if (!finished) for (const svc of this.services) if (!this.pods.some((p) => p.metadata?.name === svc.metadata?.name)) await this.deleteService(svc);
  }

  private async deletePod(pod: Pod): Promise<void> {
    if (pod.metadata?.deletionTimestamp) return;
    this.c.podExpectations.expectDeletions(this.key, [objectKey(pod)]);
    try {
      await this.c.client.delete(R.pods, this.namespace, pod.metadata?.name ?? '', { preconditions: { uid: pod.metadata?.uid } });
      this.event('Normal', 'SuccessfulDeletePod', `Deleted pod: ${pod.metadata?.name}`);
    } catch (e) {
      this.c.podExpectations.deletionObserved(this.key, objectKey(pod));
      if (isStatus(e, 404) || isStatus(e, 409)) return;
      this.event('Warning', 'FailedDeletePod', `Error deleting: ${(e as Error).message}`);
      throw e;
    }
  }

  private async deleteService(svc: Service): Promise<void> {
    if (svc.metadata?.deletionTimestamp) return;
    try {
      await this.c.client.delete(R.services, this.namespace, svc.metadata?.name ?? '', { preconditions: { uid: svc.metadata?.uid } });
      this.event('Normal', 'SuccessfulDeleteService', `Deleted service: ${svc.metadata?.name}`);
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 409)) return;
      this.event('Warning', 'FailedDeleteService', `Error deleting: ${(e as Error).message}`);
      throw e;
    }
  }

  /**
   * upstream SyncPodGroup (scheduler-plugins flavour): a PodGroup named
   * after the job, owned by it, with minMember = schedulingPolicy.minAvailable
   * or every replica, minResources (given, or the first minMember pods'
   * requests) and scheduleTimeoutSeconds. Kite gangs every job of more than
   * one pod, and any job with a schedulingPolicy. Returns whether the job is ganged.
   */
  private async syncPodGroup(): Promise<boolean> {
    if (!this.c.podGroups) return false;
    const total = totalReplicas(this.specs);
    const policy = this.runPolicy.schedulingPolicy;
    if (total <= 1 && !policy) return false;
    const minMember = policy?.minAvailable ?? total;
    const minResources = policy?.minResources ?? podGroupMinResources(this.kind, this.specs, minMember);
    const spec: NonNullable<PodGroup['spec']> = { minMember };
    if (Object.keys(minResources).length) spec.minResources = minResources;
    if (policy?.scheduleTimeoutSeconds !== undefined) spec.scheduleTimeoutSeconds = policy.scheduleTimeoutSeconds;
    const existing = this.c.podGroups.get(this.namespace, this.name);
    try {
      if (!existing) {
        await this.c.client.create(PODGROUPS, this.namespace, {
          apiVersion: 'scheduling.x-k8s.io/v1alpha1',
          kind: 'PodGroup',
          metadata: { name: this.name, namespace: this.namespace, ownerReferences: [newControllerRef(this.stored, API_VERSION, this.kind)] },
          spec,
        });
      } else if (getControllerOf(existing)?.uid === this.uid && !jsonEqual(existing.spec ?? {}, spec)) {
        await this.c.client.patch(PODGROUPS, this.namespace, this.name, 'merge', { spec: { ...spec, minResources: spec.minResources ?? null, scheduleTimeoutSeconds: spec.scheduleTimeoutSeconds ?? null } });
      }
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
    return true;
  }

  private async deletePodGroup(): Promise<void> {
    const pg = this.c.podGroups?.get(this.namespace, this.name);
    if (!pg || getControllerOf(pg)?.uid !== this.uid || pg.metadata?.deletionTimestamp) return;
    try {
      await this.c.client.delete(PODGROUPS, this.namespace, this.name);
      this.event('Normal', 'SuccessfulDeletePodGroup', `Deleted PodGroup: ${this.name}`);
    } catch (e) {
      if (isStatus(e, 404)) return;
      this.event('Warning', 'FailedDeletePodGroup', `Error deleting: ${(e as Error).message}`);
      throw e;
    }
  }

  /** This replica type's dependents by index (upstream GetPodSlices / GetServiceSlices). */
  private slices<T extends ObjectLike>(objs: readonly T[], rtype: string, replicas: number): T[][] {
    const mine = objs.filter((o) => o.metadata?.labels?.[TrainingLabels.replicaType] === rtype.toLowerCase());
    const index = (o: T) => Number.parseInt(o.metadata?.labels?.[TrainingLabels.replicaIndex] ?? '', 10);
    let size = replicas;
    for (const o of mine) if (index(o) >= 0) size = Math.max(size, index(o) + 1);
    const out: T[][] = Array.from({ length: size }, () => []);
    for (const o of mine) if (index(o) >= 0) out[index(o)]!.push(o);
    return out;
  }

  /**
   * upstream ReconcilePods for one replica type: creates missing pods,
   * deletes those past spec.replicas, restarts failed replicas as their
   * restartPolicy says (ExitCode: only on retryable codes), and counts
   * active/succeeded/failed into replicaStatuses.
   */
  private async reconcilePods(rtype: string, ganged: boolean): Promise<void> {
    const { kind, name } = this;
    const spec = this.specs[rtype]!;
    const replicas = spec.replicas ?? 1;
    const statuses = (this.status.replicaStatuses ??= {});
    const st: ReplicaStatus = (statuses[rtype] = { active: 0, succeeded: 0, failed: 0 });
    const container = TRAINING_KINDS[kind].defaultContainerName;
    const missing: number[] = [];
    for (const [index, slice] of this.slices(this.pods, rtype, replicas).entries()) {
      if (slice.length > 1) continue; // upstream: too many pods for one index; left for the user to sort out
      const pod = slice[0];
      if (!pod) {
        if (index < replicas) missing.push(index);
        continue;
      }
      if (index >= replicas) {
        await this.deletePod(pod);
        continue;
      }
      const code = defaultExitCode(pod, container);
      const uid = pod.metadata?.uid ?? '';
      if (code !== NO_EXIT && !this.c.exitsReported.has(uid)) {
        this.c.exitsReported.add(uid);
        this.event('Normal', 'ExitedWithCode', `Pod: ${this.namespace}.${pod.metadata?.name} exited with code ${code}`);
      }
      if (pod.status?.phase === 'Failed') {
        const policy = spec.restartPolicy;
        if ((policy === 'ExitCode' && isRetryableExitCode(code)) || policy === 'OnFailure' || policy === 'Always') {
          if (!pod.metadata?.deletionTimestamp) {
            await this.deletePod(pod);
            this.c.recreated.set(this.uid, (this.c.recreated.get(this.uid) ?? 0) + 1);
          }
          const msg = `job ${name} is restarting because ${rtype} replica(s) failed.`;
          this.event('Warning', `${kind}Restarting`, msg);
          this.condition('Restarting', 'True', `${kind}Restarting`, msg);
        } else if (policy === 'ExitCode') {
          const msg = `job "${name}" is failing because "${rtype}" replica(s) failed.`;
          this.event('Warning', `${kind}Failed`, msg);
          this.condition('Failed', 'True', `${kind}Failed`, msg);
        }
      }
      // upstream UpdateJobReplicaStatuses: a running pod being deleted counts as failed (its node may be gone).
      const phase = pod.status?.phase;
      if (phase === 'Running') pod.metadata?.deletionTimestamp ? st.failed!++ : st.active!++;
      else if (phase === 'Succeeded') st.succeeded!++;
      else if (phase === 'Failed') st.failed!++;
    }
    if (!missing.length) return;
    this.c.podExpectations.expectCreations(this.key, missing.length);
    const results = await Promise.allSettled(missing.map((i) => this.createPod(rtype, i, ganged)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** upstream createNewPod: the replica's pod from its template, with the job's labels, environment and restart policy. */
  private async createPod(rtype: string, index: number, ganged: boolean): Promise<void> {
    const { kind, name } = this;
    const spec = this.specs[rtype]!;
    const podName = replicaName(name, rtype, index);
    const template = structuredClone(spec.template ?? {});
    const labels: Record<string, string> = {
      ...(template.metadata?.labels ?? {}),
      ...jobLabels(kind, name),
      [TrainingLabels.replicaType]: rtype.toLowerCase(),
      [TrainingLabels.replicaIndex]: String(index),
    };
    if (isMasterRole(kind, this.specs, rtype, index)) labels[TrainingLabels.jobRole] = 'master';
    if (ganged) labels[POD_GROUP_LABEL] = name;
    const podSpec: PodSpec = template.spec ?? { containers: [] };
    setClusterSpec(kind, this.job, podSpec, rtype, index);
    const leader = rendezvousLeader(kind, this.specs);
    const annotations: Record<string, string> = { ...(template.metadata?.annotations ?? {}) };
    if (leader && rtype !== leader) annotations[WAIT_FOR_SERVICE_ANNOTATION] = replicaName(name, leader, 0);
    if (podSpec.restartPolicy) this.event('Warning', 'SetPodTemplateRestartPolicy', 'Restart policy in pod template will be overwritten by restart policy in replica spec');
    // upstream SetRestartPolicy: pods cannot say ExitCode; the controller recreates them instead.
    podSpec.restartPolicy = spec.restartPolicy === 'ExitCode' ? 'Never' : (spec.restartPolicy ?? 'Never');
    // The pod answers to <name>.<its Service>.<ns>.svc too, as a StatefulSet pod does under its governing Service.
    if (!podSpec.hostname && podName.length <= 63) podSpec.hostname = podName;
    if (!podSpec.subdomain && podName.length <= 63) podSpec.subdomain = podName;
    const priorityClass = this.runPolicy.schedulingPolicy?.priorityClass;
    if (priorityClass && !podSpec.priorityClassName) podSpec.priorityClassName = priorityClass;
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace: this.namespace,
        labels,
        ...(Object.keys(annotations).length ? { annotations } : {}),
        ...(template.metadata?.finalizers ? { finalizers: template.metadata.finalizers } : {}),
        ownerReferences: [newControllerRef(this.stored, API_VERSION, kind)],
      },
      spec: podSpec,
    };
    try {
      await this.c.client.create(R.pods, this.namespace, pod);
      this.event('Normal', 'SuccessfulCreatePod', `Created pod: ${podName}`);
    } catch (e) {
      // The creation will never be observed.
      this.c.podExpectations.creationObserved(this.key);
      // A pod of that name still terminating: its deletion requeues the job.
      if (isStatus(e, 409)) return;
      this.event('Warning', 'FailedCreatePod', `Error creating: ${(e as Error).message}`);
      throw e;
    }
  }

  /** upstream ReconcileServices: one headless Service per replica, selecting exactly its pod, exposing the default container's ports. */
  private async reconcileServices(rtype: string): Promise<void> {
    const spec = this.specs[rtype]!;
    const replicas = spec.replicas ?? 1;
    const missing: number[] = [];
    for (const [index, slice] of this.slices(this.services, rtype, replicas).entries()) {
      if (slice.length > 1) continue;
      const svc = slice[0];
      if (!svc) {
        if (index < replicas) missing.push(index);
      } else if (index >= replicas) await this.deleteService(svc);
    }
    if (!missing.length) return;
    this.c.serviceExpectations.expectCreations(this.key, missing.length);
    const results = await Promise.allSettled(missing.map((i) => this.createService(rtype, i)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async createService(rtype: string, index: number): Promise<void> {
    const info = TRAINING_KINDS[this.kind];
    const spec = this.specs[rtype]!;
    const svcName = replicaName(this.name, rtype, index);
    const labels = { ...jobLabels(this.kind, this.name), [TrainingLabels.replicaType]: rtype.toLowerCase(), [TrainingLabels.replicaIndex]: String(index) };
    const main = spec.template?.spec?.containers?.find((c) => c.name === info.defaultContainerName);
    const ports = (main?.ports ?? []).filter((p) => p.name).map((p) => ({ name: p.name!, port: p.containerPort }));
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svcName, namespace: this.namespace, labels, ownerReferences: [newControllerRef(this.stored, API_VERSION, this.kind)] },
      spec: { clusterIP: 'None', selector: labels, ports },
    };
    try {
      await this.c.client.create(R.services, this.namespace, svc);
      this.event('Normal', 'SuccessfulCreateService', `Created service: ${svcName}`);
    } catch (e) {
      this.c.serviceExpectations.creationObserved(this.key);
      if (isStatus(e, 409)) return;
      this.event('Warning', 'FailedCreateService', `Error creating: ${(e as Error).message}`);
      throw e;
    }
  }

  /** upstream UpdateJobStatus: startTime, selectors, and the kind's condition rules. */
  private applyStatusRules(): void {
    const { kind } = this;
    if (!this.status.startTime) this.status.startTime = this.nowText;
    for (const rtype of Object.keys(this.specs)) {
      const st = (this.status.replicaStatuses ??= {})[rtype];
      // The scale subresource's labelSelectorPath reads this (upstream writes it for PyTorch and Paddle).
      if (st) st.selector = replicaSelector(kind, this.name, rtype);
    }
    const worker0 = this.pods.find((p) => p.metadata?.labels?.[TrainingLabels.replicaType] === 'worker' && p.metadata?.labels?.[TrainingLabels.replicaIndex] === '0');
    const restarting = (this.status.conditions ?? []).find((c) => c.type === 'Restarting' && c.status === 'True');
    const changes = statusChanges({
      kind,
      job: this.job,
      specs: this.specs,
      replicaStatuses: this.status.replicaStatuses ?? {},
      worker0Completed: !!worker0 && worker0.status?.phase === 'Succeeded' && defaultExitCode(worker0, TRAINING_KINDS[kind].defaultContainerName) === 0,
      restarting,
    });
    for (const ch of changes) {
      const before = hasCondition(this.status, ch.type);
      if (ch.complete) this.status.completionTime ??= this.nowText;
      this.condition(ch.type, 'True', ch.reason, ch.message);
      // Events when the state turns, not on every pass (upstream repeats them; the recorder would only count them).
      if (ch.event && !before) this.event(ch.event.type, ch.event.reason, ch.event.message);
    }
  }

  /**
   * Kite: a job whose pods wait to be placed says why — the PodGroup's
   * Scheduled=False message (the gang cannot fit) or a pod's PodScheduled=False
   * message (e.g. Insufficient nvidia.com/gpu) — as Running=False with reason
   * `<Kind>Unschedulable`, and an event when the reason changes.
   */
  private explainWaiting(): void {
    if (isFinished(this.status) || hasCondition(this.status, 'Running') || hasCondition(this.status, 'Restarting')) return;
    const pending = this.pods.filter((p) => p.status?.phase === 'Pending' && !p.spec?.nodeName);
    if (!pending.length) return;
    const pg = this.c.podGroups?.get(this.namespace, this.name);
    const gang = pg?.status?.conditions?.find((c) => c.type === 'Scheduled' && c.status === 'False');
    const podCond = pending.map((p) => p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')).find((c) => c?.message);
    const why = gang?.message ? `gang ${this.name} cannot be placed: ${gang.message}` : podCond?.message ? `pod ${pending.find((p) => p.status?.conditions?.includes(podCond))?.metadata?.name} cannot be placed: ${podCond.message}` : undefined;
    if (!why) return;
    const reason = `${this.kind}Unschedulable`;
    const msg = `${this.kind} ${this.name} is waiting for its pods to be scheduled: ${why}`;
    const cur = this.status.conditions?.find((c) => c.type === 'Running');
    if (cur?.reason === reason && cur.message === msg) return;
    this.condition('Running', 'False', reason, msg);
    this.event('Warning', 'Unschedulable', msg);
  }

  /** Writes status when it changed (upstream UpdateJobStatusInApiServer); a conflict requeues the job. */
  private async writeStatus(): Promise<void> {
    // upstream's ReplicaStatus fields are omitempty: zero counts are not written.
    for (const st of Object.values(this.status.replicaStatuses ?? {})) {
      for (const k of ['active', 'succeeded', 'failed'] as const) if (!st[k]) delete st[k];
    }
    if (jsonEqual(this.stored.status ?? {}, this.status)) return;
    try {
      await this.c.client.update(trainingResource(this.kind), this.namespace, { ...this.stored, status: this.status }, { subresource: 'status' });
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
  }
}
