/**
 * Queueing (Kueue, `kueue.x-k8s.io/v1beta1`) as one controller of the
 * controller manager: the job reconciler (a Workload per queued job; jobs
 * started and stopped with their Workload's admission) and the queue
 * scheduler (admission against ClusterQueue quota, queue status). It runs
 * where the Kueue CRDs are served and manages batch Jobs and whichever
 * Kubeflow training kinds are served when it starts.
 */
import { isStatus, type Client } from '../../client/client.js';
import type { EventRecorder } from '../../client/events.js';
import type { InformerFactory } from '../../client/factory.js';
import { TRAINING_KINDS, type TrainingKind } from '../../api/kubeflow.js';
import { WORKLOADS } from '../../api/kueue.js';
import { BATCH_JOB, trainingAdapter, type JobAdapter } from './jobs.js';
import { JobReconciler } from './jobframework.js';
import { QueueScheduler } from './scheduler.js';

/** Configuration of the queueing controller. */
export interface QueueControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Event recorders by component (upstream: kueue-job-controller and kueue-admission). */
  events: (component: string) => EventRecorder;
  now?: () => Date;
}

/** True when the API server serves the resource. */
async function served(client: Client, ref: { group: string; version: string; resource: string }): Promise<boolean> {
  try {
    await client.list(ref, '', { limit: 1 });
    return true;
  } catch (e) {
    if (isStatus(e, 404)) return false;
    throw e;
  }
}

/** Workload admission and the jobs that follow it. */
export class QueueController {
  private jobs?: JobReconciler;
  private scheduler?: QueueScheduler;

  constructor(private readonly config: QueueControllerConfig) {}

  /** Starts both halves; does nothing where Workloads are not served (no CRDs). */
  async start(): Promise<void> {
    const { client, informers, events, now } = this.config;
    if (!(await served(client, WORKLOADS))) return;
    const adapters: JobAdapter[] = [BATCH_JOB];
    for (const kind of Object.keys(TRAINING_KINDS) as TrainingKind[]) {
      const a = trainingAdapter(kind);
      if (await served(client, a.ref)) adapters.push(a);
    }
    this.scheduler = new QueueScheduler({ client, informers, events: events('kueue-admission'), now });
    this.jobs = new JobReconciler({ client, informers, events: events('kueue-job-controller'), adapters, now });
    await Promise.all([this.scheduler.start(), this.jobs.start()]);
  }

  /** Stops both halves. */
  stop(): void {
    this.scheduler?.stop();
    this.jobs?.stop();
  }

  /** Resolves when neither half has work queued or running (tests). */
  async idle(): Promise<void> {
    for (let i = 0; i < 3; i++) await Promise.all([this.scheduler?.idle(), this.jobs?.idle()]);
  }
}
