/**
 * Queueing admission (Kueue's mutating job webhooks, pkg/controller/
 * jobframework/base_webhook.go and jobs/job, jobs/kubeflow): a job created
 * with the `kueue.x-k8s.io/queue-name` label starts suspended — a batch/v1
 * Job through `spec.suspend`, a kubeflow.org/v1 training job through
 * `spec.runPolicy.suspend` — so that none of its pods is created before its
 * Workload is admitted by the job's ClusterQueue. Jobs without the label are
 * left alone.
 */
import { KUBEFLOW_GROUP, TRAINING_KINDS } from '../../api/kubeflow.js';
import { QUEUE_NAME_LABEL } from '../../api/kueue.js';

const TRAINING_PLURALS = new Set(Object.values(TRAINING_KINDS).map((k) => k.plural));

/** True for the resources whose creation queueing admission mutates: batch Jobs and the Kubeflow training jobs. */
export function isQueueableJobResource(group: string, resource: string): boolean {
  return (group === 'batch' && resource === 'jobs') || (group === KUBEFLOW_GROUP && TRAINING_PLURALS.has(resource));
}

/** The LocalQueue a job names, or '' (upstream jobframework.QueueName: the label). */
export function queueNameOf(job: { metadata?: { labels?: Record<string, string> } } | undefined): string {
  return job?.metadata?.labels?.[QUEUE_NAME_LABEL] ?? '';
}

/**
 * Suspends a job being created when it names a queue (upstream
 * BaseWebhook.Default: `if QueueName(job) != "" && !job.IsSuspended() { job.Suspend() }`).
 * `group` tells a batch Job from a training job.
 */
export function suspendQueuedJob(group: string, job: any): void {
  if (!queueNameOf(job)) return;
  job.spec ??= {};
  if (group === 'batch') {
    job.spec.suspend = true;
    return;
  }
  job.spec.runPolicy ??= {};
  job.spec.runPolicy.suspend = true;
}
