/**
 * Pod binding: `POST pods/<name>/binding` (and the older `bindings`
 * resource) assigns a pending Pod to a node, as upstream's BindingREST does —
 * it is how a scheduler places pods. Nothing is stored but the Pod's update.
 */
import { errors, field } from '../../api/errors.js';
import type { Store } from './store.js';
import type { RequestContext } from './strategy.js';

/** The Status a successful binding answers with (upstream: Success, 201). */
export const BINDING_SUCCESS = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };

/** Assigns the pod named by the Binding to its target node; throws the upstream errors. */
export async function bindPod(pods: Store, ctx: RequestContext, binding: any): Promise<void> {
  const name: string = binding?.metadata?.name ?? '';
  const target = binding?.target ?? {};
  const errs = [];
  if (!name) errs.push(field.required('metadata.name', 'name or generateName is required'));
  if (target.kind && target.kind !== 'Node') errs.push(field.notSupported('target.kind', target.kind, ['Node', '<empty>']));
  if (!target.name) errs.push(field.required('target.name', ''));
  if (errs.length) throw errors.invalid('', 'Binding', name, errs);
  const q = { group: '', resource: 'pods/binding' };
  const uid: string | undefined = binding.metadata?.uid || undefined;
  const rv: string | undefined = binding.metadata?.resourceVersion || undefined;
  const annotations = binding.metadata?.annotations;
  const time = ctx.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  // One storage-level write of spec.nodeName, the annotations and the PodScheduled condition (upstream setPodNodeAndMetadata).
  await pods.guaranteedUpdateStored(ctx, name, (pod) => {
    const meta = pod.metadata;
    if (uid && uid !== meta.uid) {
      throw errors.conflict({ group: '', resource: 'pods' }, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${meta.uid}`);
    }
    if (rv && rv !== meta.resourceVersion) {
      throw errors.conflict(
        { group: '', resource: 'pods' },
        name,
        `Precondition failed: ResourceVersion in precondition: ${rv}, ResourceVersion in object meta: ${meta.resourceVersion}`,
      );
    }
    if (meta.deletionTimestamp) throw errors.conflict(q, name, `pod ${name} is being deleted, cannot be assigned to a host`);
    if (pod.spec?.nodeName) throw errors.conflict(q, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
    if (pod.spec?.schedulingGates?.length) throw errors.conflict(q, name, `pod ${name} has non-empty .spec.schedulingGates`);
    return {
      ...pod,
      metadata: annotations ? { ...meta, annotations: { ...(meta.annotations ?? {}), ...annotations } } : meta,
      spec: { ...pod.spec, nodeName: target.name },
      status: { ...(pod.status ?? {}), conditions: scheduledConditions(pod.status?.conditions ?? [], time) },
    };
  });
}

/**
 * The conditions with PodScheduled set to True (upstream UpdatePodCondition):
 * an existing PodScheduled condition is replaced where it stands, keeping its
 * transition time if it was True already; otherwise it is appended.
 */
function scheduledConditions(conditions: any[], time: string): any[] {
  const cond = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: time };
  const i = conditions.findIndex((c) => c?.type === 'PodScheduled');
  if (i < 0) return [...conditions, cond];
  if (conditions[i].status === 'True' && conditions[i].lastTransitionTime) cond.lastTransitionTime = conditions[i].lastTransitionTime;
  return conditions.map((c, j) => (j === i ? cond : c));
}
