/**
 * The eviction subresource, `POST pods/<name>/eviction` with a policy/v1
 * Eviction (upstream pkg/registry/core/pod/storage/eviction.go): a pod is
 * deleted only if its PodDisruptionBudget allows one more disruption. The
 * budget's disruptionsAllowed is decremented and the pod recorded in
 * status.disruptedPods (conditionally on the budget's resourceVersion, so
 * concurrent evictions cannot overdraw it); the pod gets the DisruptionTarget
 * condition and is deleted with the Eviction's deleteOptions. Refusals are
 * 429 TooManyRequests with a DisruptionBudget cause, as kubectl drain expects.
 */
import { ApiError, errors } from '../api/errors.js';
import { selectorFromLabelSelector } from '../api/labels.js';
import type { DeleteOptions, Store } from './registry/store.js';
import type { RequestContext } from './registry/strategy.js';
import { rfc3339 } from './registry/store.js';

/** The stores eviction works on. */
export interface EvictionStores {
  pods: Store;
  /** PodDisruptionBudgets (undefined where the policy group is not served). */
  pdbs?: Store;
}

/** upstream MaxDisruptedPodSize: past this many unconfirmed evictions a budget refuses more. */
export const MAX_DISRUPTED_POD_SIZE = 2000;
/** Conflicting writes are retried this many times (upstream EvictionsRetry: 20 steps). */
const RETRIES = 20;
/** upstream policyv1.DisruptionBudgetCause. */
export const DISRUPTION_BUDGET_CAUSE = 'DisruptionBudget';
/** The refusal message kubectl drain shows. */
export const EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget.";

/** The Status a successful eviction answers with (upstream: Success, 201 Created). */
export const EVICTION_SUCCESS = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };

/** 429 with a DisruptionBudget cause (upstream NewTooManyRequests plus the cause). */
function tooManyRequests(cause: string, retryAfterSeconds = 0): ApiError {
  const details: NonNullable<ApiError['details']> = { causes: [{ reason: DISRUPTION_BUDGET_CAUSE, message: cause }] };
  if (retryAfterSeconds > 0) details.retryAfterSeconds = retryAfterSeconds;
  return new ApiError('TooManyRequests', EVICTION_REFUSED, details);
}

/** upstream createTooManyRequestsError: the budget has not caught up with the pods yet. */
function stillProcessing(pdbName: string): ApiError {
  return tooManyRequests(`The disruption budget ${pdbName} is still being processed by the server.`, 10);
}

function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.code === 409;
}

/** upstream podutil.IsPodReady. */
function isReady(pod: any): boolean {
  return (pod?.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c.status === 'True');
}

/** upstream canIgnorePDB: finished, pending or already deleting pods are deleted without asking a budget. */
function canIgnorePDB(pod: any): boolean {
  const phase = pod?.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!pod?.metadata?.deletionTimestamp;
}

/** upstream shouldEnforceResourceVersion: only a live pod could become ready (and protected) meanwhile. */
function shouldEnforceResourceVersion(pod: any): boolean {
  const phase = pod?.status?.phase;
  return !(phase === 'Succeeded' || phase === 'Failed' || pod?.metadata?.deletionTimestamp);
}

/** Budgets of the pod's namespace whose selector matches its labels (an empty or invalid selector matches nothing). */
function budgetsFor(pod: any, budgets: readonly any[]): any[] {
  return budgets.filter((pdb) => {
    try {
      const sel = selectorFromLabelSelector(pdb.spec?.selector);
      return !sel.empty() && sel.matches(pod.metadata?.labels);
    } catch {
      return false;
    }
  });
}

/**
 * upstream UpdateDisruptionAllowedCondition: DisruptionAllowed is True
 * (SufficientPods) while disruptions are allowed, else False (InsufficientPods).
 * The transition time changes only when the status does.
 */
export function setDisruptionAllowedCondition(pdb: any, now: Date): void {
  const st = (pdb.status ??= {});
  const allowed = (st.disruptionsAllowed ?? 0) > 0;
  const want = { type: 'DisruptionAllowed', status: allowed ? 'True' : 'False', reason: allowed ? 'SufficientPods' : 'InsufficientPods', message: '' };
  const conditions: any[] = [...(st.conditions ?? [])];
  const i = conditions.findIndex((c) => c?.type === 'DisruptionAllowed');
  const prev = i >= 0 ? conditions[i] : undefined;
  const next = {
    ...want,
    observedGeneration: st.observedGeneration ?? 0,
    lastTransitionTime: prev && prev.status === want.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now),
  };
  if (i >= 0) conditions[i] = { ...prev, ...next };
  else conditions.push(next);
  st.conditions = conditions;
}

/** Evicts a pod as the Eviction in `body` asks; returns the Status to answer with or throws the refusal. */
export async function evictPod(stores: EvictionStores, ctx: RequestContext, name: string, body: any): Promise<object> {
  if (body?.kind !== undefined && body.kind !== 'Eviction') throw errors.badRequest(`not a Eviction object: ${body.kind}`);
  if (body?.apiVersion !== undefined && body.apiVersion !== 'policy/v1' && body.apiVersion !== 'policy/v1beta1') {
    throw errors.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (policy/v1)`);
  }
  if ((body?.metadata?.name ?? '') !== name) throw errors.badRequest('name in URL does not match name in Eviction object');
  const opts: DeleteOptions & { dryRun?: string[] } = { ...(body.deleteOptions ?? {}) };
  // upstream propagateDryRun: the request's dryRun and the deleteOptions' must agree.
  const bodyDry: string[] = Array.isArray(opts.dryRun) ? opts.dryRun : [];
  if (bodyDry.length && ctx.dryRun && !(bodyDry.length === 1 && bodyDry[0] === 'All')) {
    throw errors.internal(new Error(`Non-matching dry-run options in request and content: [All] and [${bodyDry.join(' ')}]`));
  }
  for (const d of bodyDry) if (d !== 'All') throw errors.badRequest(`Invalid dry run value "${d}"`);
  const dctx: RequestContext = { ...ctx, dryRun: ctx.dryRun || bodyDry.includes('All') };
  const userRv = opts.preconditions?.resourceVersion;

  // Pods a budget does not guard are deleted straight away (retrying conflicts unless the caller pinned a version).
  let pod: any;
  for (let attempt = 0; ; attempt++) {
    pod = await stores.pods.get(ctx.namespace, name);
    if (!canIgnorePDB(pod)) break;
    const o = shouldEnforceResourceVersion(pod) && !userRv ? withResourceVersion(opts, pod.metadata.resourceVersion) : opts;
    try {
      await addConditionAndDelete(stores.pods, dctx, name, o);
      return EVICTION_SUCCESS;
    } catch (e) {
      if (!userRv && isConflict(e) && attempt < RETRIES) continue;
      throw e;
    }
  }

  const budgets = stores.pdbs ? budgetsFor(pod, (await stores.pdbs.list(ctx.namespace, {})).items) : [];
  if (budgets.length > 1) {
    throw new ApiError('', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.', undefined, 500);
  }
  let pdbName = '';
  let pinPod = false;
  if (budgets.length === 1) {
    let pdb = structuredClone(budgets[0]);
    pdbName = pdb.metadata.name;
    const st = pdb.status ?? {};
    // An unready pod does not count as healthy: evicting it costs the budget nothing (upstream UnhealthyPodEvictionPolicy).
    if (!isReady(pod) && (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || ((st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0) && (st.desiredHealthy ?? 0) > 0))) {
      pinPod = true;
    } else {
      for (let attempt = 0; ; attempt++) {
        try {
          await checkAndDecrement(stores.pdbs!, dctx, pod.metadata.name, pdb);
          break;
        } catch (e) {
          if (!isConflict(e)) throw e;
          if (attempt >= RETRIES) throw new ApiError('Timeout', `Timeout: couldn't update PodDisruptionBudget "${pdbName}" due to conflicts`, { retryAfterSeconds: 10 });
          pdb = await stores.pdbs!.get(ctx.namespace, pdbName);
        }
      }
    }
  }
  // The pod must still be the one judged unready, or it might have become protected meanwhile.
  const o = pinPod ? withResourceVersion(opts, pod.metadata.resourceVersion) : opts;
  try {
    await addConditionAndDelete(stores.pods, dctx, name, o);
  } catch (e) {
    if (isConflict(e) && pinPod && !userRv) throw stillProcessing(pdbName);
    throw e;
  }
  return EVICTION_SUCCESS;
}

function withResourceVersion(opts: DeleteOptions, rv: string): DeleteOptions {
  return { ...opts, preconditions: { ...(opts.preconditions ?? {}), resourceVersion: rv } };
}

/** upstream checkAndDecrement: takes one disruption from the budget and records the pod, or refuses. */
async function checkAndDecrement(pdbs: Store, ctx: RequestContext, podName: string, pdb: any): Promise<void> {
  const st = (pdb.status ??= {});
  const name = pdb.metadata.name;
  const q = { group: 'policy', resource: 'poddisruptionbudget' };
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 0)) throw stillProcessing(name);
  const allowed = st.disruptionsAllowed ?? 0;
  if (allowed < 0) throw errors.forbidden(q, name, 'pdb disruptions allowed is negative');
  if (Object.keys(st.disruptedPods ?? {}).length > MAX_DISRUPTED_POD_SIZE) {
    throw errors.forbidden(q, name, 'DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  }
  if (allowed === 0) {
    throw tooManyRequests(`The disruption budget ${name} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`);
  }
  st.disruptionsAllowed = allowed - 1;
  if (st.disruptionsAllowed === 0) setDisruptionAllowedCondition(pdb, ctx.now);
  if (ctx.dryRun) return;
  // Tells the disruption controller not to count this pod as healthy until it is gone (or DeletionTimeout passes).
  st.disruptedPods = { ...(st.disruptedPods ?? {}), [podName]: rfc3339(ctx.now) };
  await pdbs.update(ctx, name, pdb, 'status');
}

/**
 * upstream addConditionAndDeletePod: the latest pod (checked against the
 * delete preconditions) gets DisruptionTarget=True (EvictionByEvictionAPI),
 * then is deleted with the options.
 */
async function addConditionAndDelete(pods: Store, ctx: RequestContext, name: string, opts: DeleteOptions): Promise<void> {
  let o = opts;
  if (!ctx.dryRun) {
    for (let attempt = 0; ; attempt++) {
      const latest = await pods.get(ctx.namespace, name);
      const pre = o.preconditions;
      const podRef = { group: '', resource: 'Pod' };
      if (pre?.uid && pre.uid !== latest.metadata.uid) {
        throw errors.conflict(podRef, name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${latest.metadata.uid}). The object might have been deleted and then recreated`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== latest.metadata.resourceVersion) {
        throw errors.conflict(podRef, name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${latest.metadata.resourceVersion}). The object might have been modified`);
      }
      if (!setPodCondition(latest, { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' }, ctx.now)) break;
      try {
        const { obj } = await pods.update(ctx, name, latest, 'status');
        // We changed the pod: a pinned version must now be the one we wrote.
        if (pre?.resourceVersion) o = withResourceVersion(o, obj.metadata.resourceVersion);
        break;
      } catch (e) {
        if (isConflict(e) && attempt < RETRIES) continue;
        throw e;
      }
    }
  }
  await pods.delete(ctx, name, o);
}

/**
 * upstream podutil.UpdatePodCondition: sets a condition, keeping its
 * transition time when the status is unchanged; false when nothing changed.
 */
export function setPodCondition(pod: any, cond: { type: string; status: string; reason?: string; message?: string }, now: Date): boolean {
  const st = (pod.status ??= {});
  const conditions: any[] = st.conditions ?? [];
  const i = conditions.findIndex((c) => c?.type === cond.type);
  const ts = rfc3339(now);
  if (i < 0) {
    st.conditions = [...conditions, { ...cond, lastProbeTime: null, lastTransitionTime: ts }];
    return true;
  }
  const old = conditions[i];
  if (old.status === cond.status && old.reason === cond.reason && old.message === cond.message) return false;
  const next = { ...old, ...cond, lastTransitionTime: old.status === cond.status ? old.lastTransitionTime : ts };
  st.conditions = conditions.map((c, j) => (j === i ? next : c));
  return true;
}
