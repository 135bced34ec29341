/**
 * Pod binding: `POST pods/<name>/binding` (and the older `bindings`
 * resource) assigns a pending Pod to a node, as upstream's BindingREST does —
 * it is how a scheduler places pods. Nothing is stored but the Pod's update.
 */
import { ApiError, errors, field } from '../../api/errors.js';
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
  for (let attempt = 0; ; attempt++) {
    const pod = await pods.get(ctx.namespace, name);
    if (pod.metadata.deletionTimestamp) {
      throw errors.conflict(q, name, `pod ${name} is being deleted, cannot be assigned to a host`);
    }
    if (pod.spec?.nodeName) {
      throw errors.conflict(q, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
    }
    pod.spec.nodeName = target.name;
    if (binding.metadata?.annotations) {
      pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...binding.metadata.annotations };
    }
    const conditions = (pod.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ctx.now.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    pod.status = { ...(pod.status ?? {}), conditions };
    try {
      // One conditional write of spec.nodeName and the PodScheduled condition (upstream assignPod).
      await pods.update(ctx, name, pod, 'binding');
      return;    } catch (e) {
      if (e instanceof ApiError && e.code === 409 && attempt < 5) continue;
      throw e;
    }
  }
}
