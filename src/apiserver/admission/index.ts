/**
 * The admission chain of the built-in plugins that need cluster state:
 * LimitRanger, Priority and ResourceQuota, in upstream's order. Each store's
 * strategy is wrapped so that the mutating halves run before the resource's
 * own prepareForCreate/prepareForUpdate (a pod's QoS class then sees the
 * LimitRange defaults) and the validating halves run after validation, just
 * before the object is stored (where quota is charged), as upstream's
 * mutating and validating admission phases do.
 */
import { errors } from '../../api/errors.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { Registry } from '../registry/registry.js';
import type { RequestContext, Strategy } from '../registry/strategy.js';
import { systemContext } from '../bootstrap.js';
import { applyLimitRangeDefaults, validateClaimLimits, validatePodLimits } from './limitranger.js';
import { checkGlobalDefault, keepPodPriority, resolvePodPriority } from './priority.js';
import { QuotaAdmission } from './resourcequota.js';
import { admitTrainingJob, trainingKindOf } from './trainingjob.js';
import { isQueueableJobResource, suspendQueuedJob } from './queue.js';

/**
 * The name an admission error gives an object (upstream extractResourceName):
 * its name, or — before a generated name exists — its generateName.
 */
function admissionName(obj: any): string {
  const md = obj?.metadata ?? {};
  // The store generates names before admission runs; upstream's mutating admission still sees the prefix.
  if (md.generateName && typeof md.name === 'string' && md.name.length === md.generateName.length + 5 && md.name.startsWith(md.generateName)) {
    return md.generateName;
  }
  return md.name || md.generateName || 'Unknown';
}

/** Admission for the stores of one registry. */
export class AdmissionChain {
  private readonly quota: QuotaAdmission;
  /** Objects being written by an update of the main resource (not a subresource): admission applies to those only. */
  private readonly mainUpdates = new WeakSet<object>();

  constructor(private readonly registry: Registry) {
    this.quota = new QuotaAdmission({
      list: async (namespace) => {
        const store = this.registry.lookup('', 'v1', 'resourcequotas');
        if (!store) return [];
        const page = await store.list(namespace, {});
        return page.items.map((q) => structuredClone(q));
      },
      updateStatus: async (quota) => {
        const store = this.registry.lookup('', 'v1', 'resourcequotas');
        if (!store) return;
        await store.update(systemContext(quota.metadata.namespace), quota.metadata.name, quota, 'status');
      },
    });
  }

  /** The objects of a built-in resource in one namespace ('' for cluster-scoped), read-only, from the watch cache. */
  private cached(resource: string, group: string, version: string, namespace = ''): any[] {
    const store = this.registry.lookup(group, version, resource);
    if (!store) return [];
    return this.registry.caches.cache(store.prefix).list(store.listPrefix(namespace)).map((o) => o.obj);
  }

  /** Wraps a resource's strategy with the admission plugins that concern it. */
  wrap(info: ResourceInfo, s: Strategy): Strategy {
    const { group, resource } = info;
    const isPods = group === '' && resource === 'pods';
    const isClaims = group === '' && resource === 'persistentvolumeclaims';
    const isPriorityClasses = group === 'scheduling.k8s.io' && resource === 'priorityclasses';
    const q = { group, resource };
    const out: Strategy = { ...s };
    if (isPods) {
      out.prepareForCreate = (pod, ctx) => {
        const ns = pod.metadata?.namespace ?? ctx.namespace;
        // LimitRanger (mutating): container defaults from every LimitRange of the namespace.
        for (const lr of this.cached('limitranges', '', 'v1', ns)) applyLimitRangeDefaults(pod, lr);
        // Priority (mutating): the class name becomes a priority and a preemption policy.
        const refused = resolvePodPriority(pod, this.cached('priorityclasses', 'scheduling.k8s.io', 'v1'));
        if (refused) throw errors.forbidden(q, admissionName(pod), refused);
        s.prepareForCreate?.(pod, ctx);
      };
    }
    if (group === 'networking.k8s.io' && resource === 'ingresses') {
      out.prepareForCreate = (ing, ctx) => {
        setDefaultIngressClass(ing, this.cached('ingressclasses', 'networking.k8s.io', 'v1'));
        s.prepareForCreate?.(ing, ctx);
      };
    }
    if (isQueueableJobResource(group, resource)) {
      out.prepareForCreate = (job, ctx) => {
        // Queueing (Kueue's job webhook): a job naming a LocalQueue starts suspended until its Workload is admitted.
        suspendQueuedJob(group, job);
        s.prepareForCreate?.(job, ctx);
      };
    }
    out.prepareForUpdate = (obj, old, ctx, subresource) => {
      if (subresource === '') {
        this.mainUpdates.add(obj);
        if (isPods) keepPodPriority(obj, old);
      }
      s.prepareForUpdate?.(obj, old, ctx, subresource);
    };
    out.allocate = (obj, old, ctx) => {
      const checked = this.validate(info, obj, old, ctx, { isPods, isClaims, isPriorityClasses });
      if (!checked) return s.allocate?.(obj, old, ctx);
      return checked.then(() => s.allocate?.(obj, old, ctx));
    };
    return out;
  }

  /** The validating plugins; undefined when none has anything asynchronous to do. Throws Forbidden. */
  private validate(
    info: ResourceInfo,
    obj: any,
    old: any | undefined,
    ctx: RequestContext,
    kind: { isPods: boolean; isClaims: boolean; isPriorityClasses: boolean },
  ): Promise<void> | undefined {
    const q = { group: info.group, resource: info.resource };
    if (old && !this.mainUpdates.has(obj)) return undefined;
    // upstream: objects being deleted are no longer admitted against limits.
    if (old?.metadata?.deletionTimestamp) return undefined;
    const ns: string = obj?.metadata?.namespace ?? '';
    if (kind.isPods && !old) {
      for (const lr of this.cached('limitranges', '', 'v1', ns)) {
        const why = validatePodLimits(obj, lr);
        if (why) throw errors.forbidden(q, admissionName(obj), why);
      }
    }
    if (kind.isClaims) {
      for (const lr of this.cached('limitranges', '', 'v1', ns)) {
        const why = validateClaimLimits(obj, lr);
        if (why) throw errors.forbidden(q, admissionName(obj), why);
      }
    }
    if (kind.isPriorityClasses) {
      const why = checkGlobalDefault(obj, !old, this.cached('priorityclasses', 'scheduling.k8s.io', 'v1'));
      if (why) throw errors.forbidden(q, admissionName(obj), why);
    }
    // The Kubeflow training operator's validating webhooks, served in-process.
    const trainingKind = trainingKindOf(info.group, info.resource);
    if (trainingKind) ctx.warnings.push(...admitTrainingJob(trainingKind, obj, old));
    // A namespace without quotas has nothing to charge (the store has just caught its cache up).
    if (!info.namespaced || this.cached('resourcequotas', '', 'v1', ns).length === 0) return undefined;
    // ResourceQuota runs last, so nothing after it can refuse an object it has charged for.
    return this.quota.admit(info.group, info.resource, old ? 'update' : 'create', obj, old, { dryRun: ctx.dryRun, name: admissionName(obj) });
  }
}

/**
 * Upstream's DefaultIngressClass admission: an Ingress created without a
 * class (no `ingressClassName`, no legacy `kubernetes.io/ingress.class`
 * annotation) gets the default IngressClass's name — the newest one when
 * several are marked default.
 */
function setDefaultIngressClass(ing: any, classes: readonly any[]): void {
  if (!ing?.spec || ing.spec.ingressClassName || ing.metadata?.annotations?.['kubernetes.io/ingress.class'] !== undefined) return;
  const defaults = classes.filter((c) => c.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class'] === 'true');
  if (defaults.length === 0) return;
  const newest = [...defaults].sort(
    (a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')) || String(a.metadata?.name).localeCompare(String(b.metadata?.name)),
  )[0];
  ing.spec.ingressClassName = newest.metadata.name;
}
