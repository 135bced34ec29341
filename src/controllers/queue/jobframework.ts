/**
 * The job side of queueing (Kueue's jobframework JobReconciler): for every
 * job that names a LocalQueue it keeps one Workload — created with the
 * job's pod sets, queue and priority, owned by the job so that deleting
 * the job deletes it — and makes the job follow its Workload: started
 * (unsuspended, with the admitted flavors' node labels as node selector)
 * once the Workload is admitted, suspended again if the admission goes
 * away, and the Workload marked Finished when the job ends, which releases
 * its quota.
 */
import { isStatus, R, type Client } from '../../client/client.js';
import type { EventRecorder } from '../../client/events.js';
import type { InformerFactory } from '../../client/factory.js';
import { objectKey, splitKey, type Informer } from '../../client/informer.js';
import { WorkQueue } from '../../client/workqueue.js';
import {
  JOB_UID_LABEL,
  RESOURCEFLAVORS,
  WORKLOADS,
  WorkloadCondition,
  isConditionTrue,
  setCondition,
  type KueueCondition,
  type ResourceFlavor,
  type Workload,
} from '../../api/kueue.js';
import { queueNameOf } from '../../apiserver/admission/queue.js';
import { defaultPriorityClass } from '../../apiserver/admission/priority.js';
import { jsonEqual, rfc3339 } from '../controllerutil.js';
import { workloadName, type AnyJob, type JobAdapter } from './jobs.js';

/** Configuration of the job reconciler. */
export interface JobReconcilerConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  /** The job kinds to manage (those served). */
  adapters: readonly JobAdapter[];
  now?: () => Date;
}

/** The priority a job's Workload gets (upstream GetPriorityFromPriorityClass). */
interface Priority {
  name: string;
  value: number;
  source: string;
}

/** Keeps each queued job and its Workload in step. */
export class JobReconciler {
  private readonly client: Client;
  private readonly informers: InformerFactory;
  private readonly events: EventRecorder;
  private readonly adapters: ReadonlyMap<string, JobAdapter>;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private readonly jobs = new Map<string, Informer<AnyJob>>();
  private workloads?: Informer<Workload>;
  private priorityClasses?: Informer<any>;
  private flavors?: Informer<ResourceFlavor>;

  constructor(config: JobReconcilerConfig) {
    this.client = config.client;
    this.informers = config.informers;
    this.events = config.events;
    this.adapters = new Map(config.adapters.map((a) => [a.kind, a]));
    this.now = config.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 2 });
  }

  /** Registers handlers and resolves once the caches are filled. */
  async start(): Promise<void> {
    this.workloads = this.informers.informer<Workload>(WORKLOADS);
    this.priorityClasses = this.informers.informer(R.priorityclasses);
    this.flavors = this.informers.informer<ResourceFlavor>(RESOURCEFLAVORS);
    for (const [kind, a] of this.adapters) {
      const inf = this.informers.informer<AnyJob>(a.ref);
      this.jobs.set(kind, inf);
      const add = (j: AnyJob) => this.queue.add(`${kind}|${objectKey(j)}`);
      inf.addHandlers({ onAdd: add, onUpdate: (_o, j) => add(j) });
    }
    // A Workload's change is its owning job's business (upstream watches Workloads owned by jobs).
    const owner = (wl: Workload) => {
      const ref = wl.metadata?.ownerReferences?.find((o) => o.controller && this.adapters.get(o.kind)?.apiVersion === o.apiVersion);
      if (ref) this.queue.add(`${ref.kind}|${wl.metadata?.namespace}/${ref.name}`);
    };
    this.workloads.addHandlers({ onAdd: owner, onUpdate: (_o, wl) => owner(wl), onDelete: owner });
    await Promise.all([this.workloads.start(), this.priorityClasses.start(), this.flavors.start(), ...[...this.jobs.values()].map((i) => i.start())]);
  }

  /** Stops reconciling (the shared informers are the factory's). */
  stop(): void {
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** The Workload a job owns, if any (by owner uid, as upstream's owner index). */
  private workloadOf(job: AnyJob): Workload | undefined {
    const uid = job.metadata?.uid;
    return this.workloads!.list(job.metadata?.namespace, (wl) => !!wl.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller))[0];
  }

  /** Reconciles one job: `Kind|namespace/name`. */
  async reconcile(key: string): Promise<void> {
    const bar = key.indexOf('|');
    const adapter = this.adapters.get(key.slice(0, bar));
    const { namespace, name } = splitKey(key.slice(bar + 1));
    const job = adapter && this.jobs.get(adapter.kind)?.get(namespace, name);
    if (!adapter || !job || job.metadata?.deletionTimestamp) return;
    const queueName = queueNameOf(job);
    const wl = this.workloadOf(job);
    // upstream: a job without a queue name is not Kueue's (manageJobsWithoutQueueName is off).
    if (!queueName && !wl) return;
    const subject = { apiVersion: adapter.apiVersion, kind: adapter.kind, metadata: job.metadata };

    // A finished job finishes its Workload, which releases the quota.
    const finish = adapter.finished(job);
    if (finish) {
      if (wl && !isConditionTrue(wl.status?.conditions, WorkloadCondition.Finished)) {
        await this.setWorkloadCondition(wl, {
          type: WorkloadCondition.Finished,
          status: 'True',
          reason: finish.success ? 'Succeeded' : 'Failed',
          message: finish.message,
        });
        void this.events.event(subject, 'Normal', 'FinishedWorkload', `Workload '${namespace}/${wl.metadata?.name}' is declared finished`);
      }
      return;
    }

    if (!wl) {
      // upstream handleJobWithNoWorkload: a job running without a Workload is stopped first.
      if (!adapter.isSuspended(job)) {
        await this.patchJob(adapter, job, adapter.suspendPatch(true));
        void this.events.event(subject, 'Normal', 'Stopped', 'Missing Workload; unable to restore pod templates');
        return;
      }
      if (adapter.isActive(job)) return; // its pods are still going away; the job's status change requeues it
      await this.createWorkload(adapter, job, queueName);
      return;
    }
    if (isConditionTrue(wl.status?.conditions, WorkloadCondition.Finished)) return;

    const admitted = isConditionTrue(wl.status?.conditions, WorkloadCondition.Admitted) && !!wl.status?.admission;
    if (!admitted) {
      if (!adapter.isSuspended(job)) {
        // upstream StopReasonNotAdmitted: the job runs only while its Workload is admitted.
        await this.patchJob(adapter, job, adapter.suspendPatch(true));
        await this.patchJob(adapter, job, adapter.nodeSelectorPatch(job, (wl.spec?.podSets ?? []).map((ps: any) => ps.template?.spec?.nodeSelector ?? null))).catch(() => undefined);
        void this.events.event(subject, 'Normal', 'Stopped', 'Not admitted by cluster queue');
        return;
      }
      // A suspended job that changed (queue, pods) updates its Workload (upstream updateWorkloadToMatchJob).
      if (!wl.status?.admission) await this.syncWorkloadSpec(adapter, job, wl, queueName, subject);
      return;
    }
    if (adapter.isSuspended(job)) {
      // upstream startJob: the admitted flavors' node labels join each pod set's node selector, then the job runs.
      const selectors = this.admittedNodeSelectors(adapter, job, wl);
      if (selectors) await this.patchJob(adapter, job, adapter.nodeSelectorPatch(job, selectors));
      await this.patchJob(adapter, job, adapter.suspendPatch(false));
      void this.events.event(subject, 'Normal', 'Started', `Admitted by clusterQueue ${wl.status!.admission!.clusterQueue}`);
    }
  }

  /** Each pod set's node selector with its flavors' node labels, or undefined when no flavor has labels (nothing to change). */
  private admittedNodeSelectors(adapter: JobAdapter, job: AnyJob, wl: Workload): (Record<string, string> | null)[] | undefined {
    const sets = adapter.podSets(job);
    let changed = false;
    const out = sets.map((ps) => {
      const psa = wl.status?.admission?.podSetAssignments?.find((a) => a.name === ps.name);
      const selector: Record<string, string> = { ...((ps.template?.spec?.nodeSelector as Record<string, string> | undefined) ?? {}) };
      for (const flavor of new Set(Object.values(psa?.flavors ?? {}))) {
        for (const [k, v] of Object.entries(this.flavors!.get('', flavor)?.spec?.nodeLabels ?? {})) {
          if (selector[k] !== v) changed = true;
          selector[k] = v;
        }
      }
      return Object.keys(selector).length ? selector : null;
    });
    return changed ? out : undefined;
  }

  /** The priority of a job's pods' class (upstream GetPriorityFromPriorityClass); throws when the class does not exist. */
  private priorityOf(adapter: JobAdapter, job: AnyJob): Priority {
    const name = adapter.priorityClass(job);
    const classes = this.priorityClasses!.list();
    if (!name) {
      const def = defaultPriorityClass(classes);
      return def ? { name: def.metadata?.name, value: def.value ?? 0, source: 'scheduling.k8s.io/priorityclass' } : { name: '', value: 0, source: '' };
    }
    const pc = classes.find((c) => c.metadata?.name === name);
    if (!pc) throw new Error(`priorityclass.scheduling.k8s.io "${name}" not found`);
    return { name, value: pc.value ?? 0, source: 'scheduling.k8s.io/priorityclass' };
  }

  /** Creates the job's Workload (upstream constructWorkload + prepareWorkload). */
  private async createWorkload(adapter: JobAdapter, job: AnyJob, queueName: string): Promise<void> {
    const md = job.metadata ?? {};
    const group = adapter.apiVersion.includes('/') ? adapter.apiVersion.split('/')[0]! : '';
    const priority = this.priorityOf(adapter, job);
    const wl: Workload = {
      apiVersion: 'kueue.x-k8s.io/v1beta1',
      kind: 'Workload',
      metadata: {
        name: workloadName(adapter.kind, group, md.name, md.uid),
        namespace: md.namespace,
        labels: { [JOB_UID_LABEL]: md.uid },
        ownerReferences: [{ apiVersion: adapter.apiVersion, kind: adapter.kind, name: md.name, uid: md.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        podSets: adapter.podSets(job),
        queueName,
        priority: priority.value,
        ...(priority.name ? { priorityClassName: priority.name } : {}),
        priorityClassSource: priority.source,
        active: true,
      },
    };
    try {
      await this.client.create(WORKLOADS, md.namespace, wl);
    } catch (e) {
      if (isStatus(e, 409)) return; // created by an earlier run the cache has not shown yet
      throw e;
    }
    void this.events.event({ apiVersion: adapter.apiVersion, kind: adapter.kind, metadata: md }, 'Normal', 'CreatedWorkload', `Created Workload: ${md.namespace}/${wl.metadata!.name}`);
  }

  /** Brings a waiting Workload's queue and pod sets in line with its suspended job. */
  private async syncWorkloadSpec(adapter: JobAdapter, job: AnyJob, wl: Workload, queueName: string, subject: object): Promise<void> {
    const podSets = adapter.podSets(job);
    if (wl.spec?.queueName === queueName && jsonEqual(wl.spec?.podSets, podSets)) return;
    try {
      await this.client.update(WORKLOADS, wl.metadata!.namespace!, { ...wl, spec: { ...wl.spec, queueName, podSets } });
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 409)) return; // the Workload's own event requeues the job
      throw e;
    }
    void this.events.event(subject, 'Normal', 'UpdatedWorkload', `Updated not matching Workload for suspended job: ${wl.metadata?.namespace}/${wl.metadata?.name}`);
  }

  /** Sets one Workload condition through the status subresource (conflicts retry through the queue). */
  private async setWorkloadCondition(wl: Workload, c: Omit<KueueCondition, 'lastTransitionTime'>): Promise<void> {
    const conditions = structuredClone(wl.status?.conditions ?? []);
    if (!setCondition(conditions, { ...c, observedGeneration: wl.metadata?.generation }, rfc3339(this.now()))) return;
    try {
      await this.client.update(WORKLOADS, wl.metadata!.namespace!, { ...wl, status: { ...wl.status, conditions } }, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  /** Merge-patches a job; a job that is gone needs nothing. */
  private async patchJob(adapter: JobAdapter, job: AnyJob, patch: Record<string, unknown>): Promise<void> {
    try {
      await this.client.patch(adapter.ref, job.metadata?.namespace, job.metadata?.name, 'merge', patch);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}
