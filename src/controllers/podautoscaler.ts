/**
 * The HorizontalPodAutoscaler controller (upstream pkg/controller/podautoscaler
 * horizontal.go): every sync period it reads the target's scale subresource,
 * computes the desired replicas from autoscaling/v2 metrics (Resource and
 * ContainerResource from metrics.k8s.io; Pods, Object and External need a
 * custom or external metrics API, which is not served), keeps them within
 * min/max replicas and the scaling behavior (policies and stabilization
 * windows; without a behavior, the legacy rules), writes the new scale,
 * records `SuccessfulRescale` events and reports status with the
 * AbleToScale, ScalingActive and ScalingLimited conditions.
 */
import { R, type Client, type ResourceRef } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { parseLabelSelector, type LabelSelector } from '../api/labels.js';
import { Quantity, parseQuantity } from '../api/quantity.js';
import { jsonEqual, rfc3339 } from './controllerutil.js';
import {
  DEFAULT_CALCULATOR_OPTIONS,
  getRawResourceReplicas,
  getResourceReplicas,
  resourceMetricsClient,
  type ReplicaCalculatorOptions,
  type ResourceMetricsClient,
} from './podautoscaler-replicas.js';

/** autoscaling/v2 HorizontalPodAutoscalers (the version the controller works in, as upstream). */
export const HPA_RESOURCE = { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers' } as const;

/** The autoscaling/v1 Scale of a target, as the scale subresource serves it. */
export interface Scale {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: { replicas?: number };
  status: { replicas?: number; selector?: string };
}

/** Reads and writes scale subresources (client-go's scale.ScalesGetter). */
export interface ScaleClient {
  get(ref: ResourceRef, namespace: string, name: string): Promise<Scale>;
  update(ref: ResourceRef, namespace: string, scale: Scale): Promise<Scale>;
}

/** The scale client over the API client (`<resource>/<name>/scale`). */
export function scaleClient(client: Client): ScaleClient {
  return {
    get: (ref, ns, name) => client.get<Scale>(ref, ns, name, 'scale'),
    update: (ref, ns, scale) => client.update<Scale>(ref, ns, scale, { subresource: 'scale' }),
  };
}

/** A served resource as discovery describes it (enough to map a kind to a resource with a scale subresource). */
export interface ScalableResource extends ResourceRef {
  kind: string;
  subresources?: readonly { name: string }[];
}

/** Configuration of the HPA controller (upstream kube-controller-manager flags in brackets). */
export interface HorizontalControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Records events as `horizontal-pod-autoscaler`. */
  events: EventRecorder;
  /** The served resources (the REST mapping of scale targets). */
  resources: () => readonly ScalableResource[];
  /** Where pod metrics come from (default: metrics.k8s.io through `client`). */
  metrics?: ResourceMetricsClient;
  /** Where scales are read and written (default: the scale subresource through `client`). */
  scales?: ScaleClient;
  /** [--horizontal-pod-autoscaler-sync-period] 15 s. */
  syncPeriodMs?: number;
  /** [--horizontal-pod-autoscaler-downscale-stabilization] 5 min. */
  downscaleStabilizationMs?: number;
  /** [--horizontal-pod-autoscaler-tolerance] 0.1. */
  tolerance?: number;
  /** [--horizontal-pod-autoscaler-cpu-initialization-period] 5 min. */
  cpuInitializationPeriodMs?: number;
  /** [--horizontal-pod-autoscaler-initial-readiness-delay] 30 s. */
  initialReadinessDelayMs?: number;
  /** Concurrent syncs [--concurrent-horizontal-pod-autoscaler-syncs] 5. */
  workers?: number;
  now?: () => Date;
}

/** An HPA condition. */
interface Condition {
  type: 'AbleToScale' | 'ScalingActive' | 'ScalingLimited';
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** A scaling policy and rules of spec.behavior. */
interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[];
}

/** A replica count recommended at some time (ms). */
interface Recommendation {
  replicas: number;
  at: number;
}

/** A scaling the controller did: how many replicas it added or removed, and when (ms). */
interface ScaleEvent {
  change: number;
  at: number;
  outdated: boolean;
}

/** What the controller remembers about one HPA between syncs. */
interface HpaMemory {
  recommendations: Recommendation[];
  up: ScaleEvent[];
  down: ScaleEvent[];
}

/** upstream's legacy scale-up bound without a behavior: at most double, and at least 4. */
const SCALE_UP_LIMIT_FACTOR = 2;
const SCALE_UP_LIMIT_MINIMUM = 4;

/** upstream calculateScaleUpLimit (no behavior). */
function legacyScaleUpLimit(current: number): number {
  return Math.max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM);
}

/** upstream convertDesiredReplicasWithRules: min/max and the legacy scale-up bound, with the ScalingLimited reason. */
export function convertDesiredReplicasWithRules(current: number, desired: number, min: number, max: number): { replicas: number; reason: string; message: string } {
  const upLimit = legacyScaleUpLimit(current);
  const [maxAllowed, reason, message] =
    max > upLimit
      ? [upLimit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
      : [max, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
  if (desired < min) return { replicas: min, reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
  if (desired > maxAllowed) return { replicas: maxAllowed, reason, message };
  return { replicas: desired, reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
}

/** upstream getReplicasChangePerPeriod: replicas added (or removed) by events within the last `periodSeconds`. */
function changeInPeriod(periodSeconds: number, events: readonly ScaleEvent[], now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.reduce((sum, e) => (e.at > cutoff ? sum + e.change : sum), 0);
}

/** upstream calculateScaleUpLimitWithScalingRules: the most replicas the scale-up policies allow now. */
export function scaleUpLimit(current: number, up: readonly ScaleEvent[], down: readonly ScaleEvent[], rules: ScalingRules, now: number): number {
  const select = rules.selectPolicy ?? 'Max';
  if (select === 'Disabled') return current;
  let result = select === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const periodStart = current - changeInPeriod(p.periodSeconds, up, now) + changeInPeriod(p.periodSeconds, down, now);
    // A percentage rounds up, or a small target would never grow.
    const proposed = p.type === 'Pods' ? periodStart + p.value : Math.ceil(periodStart * (1 + p.value / 100));
    result = select === 'Min' ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

/** upstream calculateScaleDownLimitWithBehaviors: the fewest replicas the scale-down policies allow now. */
export function scaleDownLimit(current: number, up: readonly ScaleEvent[], down: readonly ScaleEvent[], rules: ScalingRules, now: number): number {
  const select = rules.selectPolicy ?? 'Max';
  if (select === 'Disabled') return current;
  let result = select === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const periodStart = current - changeInPeriod(p.periodSeconds, up, now) + changeInPeriod(p.periodSeconds, down, now);
    const proposed = p.type === 'Pods' ? periodStart - p.value : Math.trunc(periodStart * (1 - p.value / 100));
    result = select === 'Min' ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

/** upstream setConditionInList: the transition time moves only when the status changes. */
function setCondition(conditions: Condition[], type: Condition['type'], status: Condition['status'], reason: string, message: string, now: Date): void {
  let c = conditions.find((x) => x.type === type);
  if (!c) {
    c = { type, status };
    conditions.push(c);
    c.lastTransitionTime = rfc3339(now);
  } else if (c.status !== status) c.lastTransitionTime = rfc3339(now);
  c.status = status;
  c.reason = reason;
  c.message = message;
}

/** `apps/v1` → { group: 'apps', version: 'v1' } (upstream schema.ParseGroupVersion). */
function parseGroupVersion(apiVersion: string): { group: string; version: string } {
  if (apiVersion === '' || apiVersion === '/') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: parts[0]! };
  if (parts.length === 2) return { group: parts[0]!, version: parts[1]! };
  throw new Error(`unexpected GroupVersion string: ${apiVersion}`);
}

/** Everything one sync computes before it writes. */
interface SyncState {
  hpa: any;
  key: string;
  conditions: Condition[];
  now: Date;
}

/** The HPA controller (see the module comment). */
export class HorizontalController {
  private readonly client: Client;
  private readonly events: EventRecorder;
  private readonly metrics: ResourceMetricsClient;
  private readonly scales: ScaleClient;
  private readonly now: () => Date;
  private readonly syncPeriodMs: number;
  private readonly downscaleStabilizationMs: number;
  private readonly calc: ReplicaCalculatorOptions;
  private readonly queue: WorkQueue;
  private readonly hpas: Informer;
  private readonly pods: Informer;
  private readonly memory = new Map<string, HpaMemory>();
  /** The selector each HPA's target last had (upstream hpaSelectors), to refuse pods claimed by two HPAs. */
  private readonly selectors = new Map<string, LabelSelector>();
  /** Keys with a sync already scheduled: a new request for them is dropped (upstream's fixed-interval queue). */
  private readonly scheduled = new Set<string>();
  private stopped = false;

  constructor(private readonly cfg: HorizontalControllerConfig) {
    this.client = cfg.client;
    this.events = cfg.events;
    this.metrics = cfg.metrics ?? resourceMetricsClient(cfg.client);
    this.scales = cfg.scales ?? scaleClient(cfg.client);
    this.now = cfg.now ?? (() => new Date());
    this.syncPeriodMs = cfg.syncPeriodMs ?? 15_000;
    this.downscaleStabilizationMs = cfg.downscaleStabilizationMs ?? 5 * 60_000;
    this.calc = {
      tolerance: cfg.tolerance ?? DEFAULT_CALCULATOR_OPTIONS.tolerance,
      cpuInitializationPeriodMs: cfg.cpuInitializationPeriodMs ?? DEFAULT_CALCULATOR_OPTIONS.cpuInitializationPeriodMs,
      delayOfInitialReadinessStatusMs: cfg.initialReadinessDelayMs ?? DEFAULT_CALCULATOR_OPTIONS.delayOfInitialReadinessStatusMs,
    };
    this.queue = new WorkQueue((key) => this.sync(key), { workers: cfg.workers ?? 5 });
    this.hpas = cfg.informers.informer(HPA_RESOURCE);
    this.pods = cfg.informers.informer(R.pods);
  }

  /** Registers handlers and returns once the HPA and pod caches are synced. */
  async start(): Promise<void> {
    this.hpas.addHandlers({
      onAdd: (h) => this.schedule(objectKey(h)),
      onUpdate: (_o, h) => this.schedule(objectKey(h)),
      onDelete: (h) => {
        const key = objectKey(h);
        this.memory.delete(key);
        this.selectors.delete(key);
      },
    });
    await Promise.all([this.hpas.start(), this.pods.start()]);
  }

  /** Stops syncing. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when no sync is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * upstream enqueueHPA: every request waits one sync period, and a request
   * for an HPA that already has one waiting is dropped, so each HPA is
   * synced once per period however often it changes.
   */
  private schedule(key: string): void {
    if (this.stopped || this.scheduled.has(key)) return;
    this.scheduled.add(key);
    this.queue.addAfter(key, this.syncPeriodMs);
  }

  private async sync(key: string): Promise<void> {
    this.scheduled.delete(key);
    const { namespace, name } = splitKey(key);
    const hpa = this.hpas.get(namespace, name);
    if (!hpa) {
      this.memory.delete(key);
      this.selectors.delete(key);
      return;
    }
    try {
      await this.reconcile(key, hpa);
    } catch {
      // Conditions and events carry the failure; the next period tries again (upstream only logs here).
    } finally {
      this.schedule(key);
    }
  }

  /** One sync of one HPA (upstream reconcileAutoscaler). */
  private async reconcile(key: string, cached: any): Promise<void> {
    const hpa = structuredClone(cached);
    const original = structuredClone(hpa.status ?? {});
    const now = this.now();
    const st: SyncState = { hpa, key, conditions: structuredClone(hpa.status?.conditions ?? []), now };
    const spec = hpa.spec ?? {};
    const ref = spec.scaleTargetRef ?? {};
    const reference = `${ref.kind}/${hpa.metadata.namespace}/${ref.name}`;

    let scale: Scale;
    let targetRef: ResourceRef;
    try {
      ({ scale, ref: targetRef } = await this.getScale(hpa.metadata.namespace, ref));
    } catch (e) {
      const msg = (e as Error).message;
      void this.event(hpa, 'Warning', 'FailedGetScale', msg);
      setCondition(st.conditions, 'AbleToScale', 'False', 'FailedGetScale', `the HPA controller was unable to get the target's current scale: ${msg}`, now);
      await this.writeStatus(hpa, original, { ...original, conditions: st.conditions });
      throw new Error(`failed to query scale subresource for ${reference}: ${msg}`);
    }
    setCondition(st.conditions, 'AbleToScale', 'True', 'SucceededGetScale', "the HPA controller was able to get the target's current scale", now);
    const currentReplicas = scale.spec.replicas ?? 0;
    const mem = this.memoryOf(key);
    if (mem.recommendations.length === 0) mem.recommendations.push({ replicas: currentReplicas, at: now.getTime() });

    const minReplicas = spec.minReplicas ?? 1;
    const maxReplicas = spec.maxReplicas ?? 0;
    let desired = 0;
    let rescaleReason = '';
    let rescale = true;
    let metricStatuses: any[] | null = null;
    if (currentReplicas === 0 && minReplicas !== 0) {
      // Autoscaling is off while the target is scaled to zero.
      rescale = false;
      setCondition(st.conditions, 'ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero', now);
    } else if (currentReplicas > maxReplicas) {
      rescaleReason = 'Current number of replicas above Spec.MaxReplicas';
      desired = maxReplicas;
    } else if (currentReplicas < minReplicas) {
      rescaleReason = 'Current number of replicas below Spec.MinReplicas';
      desired = minReplicas;
    } else {
      const r = await this.computeReplicasForMetrics(st, scale, spec.metrics ?? []);
      metricStatuses = r.statuses;
      if (r.replicas === -1) {
        const msg = r.error?.message ?? 'no metrics to compute the replica count from';
        await this.writeStatus(hpa, original, { ...this.statusWith(original, currentReplicas, original.desiredReplicas ?? 0, metricStatuses), conditions: st.conditions });
        void this.event(hpa, 'Warning', 'FailedComputeMetricsReplicas', msg);
        throw new Error(`failed to compute desired number of replicas based on listed metrics for ${reference}: ${msg}`);
      }
      if (r.replicas > desired) desired = r.replicas;
      if (desired > currentReplicas) rescaleReason = `${r.metric} above target`;
      if (desired < currentReplicas) rescaleReason = 'All metrics below target';
      desired = spec.behavior
        ? this.normalizeWithBehaviors(st, spec.behavior, currentReplicas, desired, minReplicas, maxReplicas)
        : this.normalize(st, currentReplicas, desired, minReplicas, maxReplicas);
      rescale = desired !== currentReplicas;
    }

    let lastScaleTime = original.lastScaleTime;
    if (rescale) {
      try {
        await this.scales.update(targetRef, hpa.metadata.namespace, { ...scale, spec: { ...scale.spec, replicas: desired } });
      } catch (e) {
        const msg = (e as Error).message;
        void this.event(hpa, 'Warning', 'FailedRescale', `New size: ${desired}; reason: ${rescaleReason}; error: ${msg}`);
        setCondition(st.conditions, 'AbleToScale', 'False', 'FailedUpdateScale', `the HPA controller was unable to update the target scale: ${msg}`, now);
        await this.writeStatus(hpa, original, { ...this.statusWith(original, currentReplicas, original.desiredReplicas ?? 0, metricStatuses), conditions: st.conditions });
        throw new Error(`failed to rescale ${reference}: ${msg}`);
      }
      setCondition(st.conditions, 'AbleToScale', 'True', 'SucceededRescale', `the HPA controller was able to update the target scale to ${desired}`, now);
      void this.event(hpa, 'Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${rescaleReason}`);
      if (spec.behavior) this.storeScaleEvent(mem, spec.behavior, currentReplicas, desired, now.getTime());
      lastScaleTime = rfc3339(now);
    } else {
      desired = currentReplicas;
    }
    const status = this.statusWith(original, currentReplicas, desired, metricStatuses);
    if (lastScaleTime) status.lastScaleTime = lastScaleTime;
    status.conditions = st.conditions;
    await this.writeStatus(hpa, original, status);
  }

  /** upstream setStatus: current and desired replicas, metrics, the last scale time and conditions kept. */
  private statusWith(original: any, current: number, desired: number, metrics: any[] | null): any {
    const s: any = {};
    if (original.observedGeneration !== undefined) s.observedGeneration = original.observedGeneration;
    if (original.lastScaleTime) s.lastScaleTime = original.lastScaleTime;
    // currentReplicas is omitted when zero; desiredReplicas and currentMetrics are always written (null when none).
    if (current) s.currentReplicas = current;
    s.desiredReplicas = desired;
    s.currentMetrics = metrics;
    return s;
  }

  private memoryOf(key: string): HpaMemory {
    let m = this.memory.get(key);
    if (!m) this.memory.set(key, (m = { recommendations: [], up: [], down: [] }));
    return m;
  }

  /** The target's scale, trying each version of its kind that has a scale subresource (upstream scaleForResourceMappings). */
  private async getScale(namespace: string, ref: any): Promise<{ scale: Scale; ref: ResourceRef }> {
    const gv = parseGroupVersion(ref.apiVersion ?? '');
    const mappings = this.cfg.resources().filter((r) => r.group === gv.group && r.kind === ref.kind);
    // The version the HPA names is tried first.
    mappings.sort((a, b) => (a.version === gv.version ? -1 : b.version === gv.version ? 1 : 0));
    if (mappings.length === 0) throw new Error(`no matches for kind "${ref.kind}" in group "${gv.group}"`);
    let first: unknown;
    for (const m of mappings) {
      const target = { group: m.group, version: m.version, resource: m.resource };
      try {
        if (!m.subresources?.some((s) => s.name === 'scale')) {
          throw new Error(`could not find scale subresource for ${m.group}/${m.version}, Resource=${m.resource} in discovery information`);
        }
        return { scale: await this.scales.get(target, namespace, ref.name), ref: target };
      } catch (e) {
        first ??= e;
      }
    }
    throw first;
  }

  /**
   * upstream computeReplicasForMetrics: the largest proposal of the metrics
   * that could be computed; -1 when none could, or when some failed and the
   * rest would scale down.
   */
  private async computeReplicasForMetrics(st: SyncState, scale: Scale, specs: any[]): Promise<{ replicas: number; metric: string; statuses: any[] | null; error?: Error }> {
    let selector: LabelSelector;
    try {
      selector = this.validateSelector(st, scale.status.selector ?? '');
    } catch (e) {
      return { replicas: -1, metric: '', statuses: null, error: e as Error };
    }
    const specReplicas = scale.spec.replicas ?? 0;
    const statuses: any[] = specs.map(() => ({ type: '' }));
    let replicas = 0;
    let metric = '';
    let invalid = 0;
    let firstError: Error | undefined;
    let firstCondition: { reason: string; message: string } | undefined;
    for (let i = 0; i < specs.length; i++) {
      try {
        const r = await this.computeReplicasForMetric(st, specs[i], specReplicas, selector);
        statuses[i] = r.status;
        if (replicas === 0 || r.replicas > replicas) {
          replicas = r.replicas;
          metric = r.metric;
        }
      } catch (e) {
        if (invalid === 0) {
          firstError = e as Error;
          firstCondition = (e as MetricError).condition;
        }
        invalid++;
      }
    }
    const error = firstError ? new Error(`invalid metrics (${invalid} invalid out of ${specs.length}), first error is: ${firstError.message}`) : undefined;
    if (invalid >= specs.length || (invalid > 0 && replicas < specReplicas)) {
      if (firstCondition) setCondition(st.conditions, 'ScalingActive', 'False', firstCondition.reason, firstCondition.message, st.now);
      return { replicas: -1, metric: '', statuses, error };
    }
    setCondition(st.conditions, 'ScalingActive', 'True', 'ValidMetricFound', `the HPA was able to successfully calculate a replica count from ${metric}`, st.now);
    return { replicas, metric, statuses, error };
  }

  /** upstream validateAndParseSelector: present, parseable, and not shared with another HPA's pods. */
  private validateSelector(st: SyncState, text: string): LabelSelector {
    const fail = (reason: string, eventReason: string, message: string, condition: string): never => {
      void this.event(st.hpa, 'Warning', eventReason, message);
      setCondition(st.conditions, 'ScalingActive', 'False', reason, condition, st.now);
      throw new Error(message);
    };
    if (text === '') return fail('InvalidSelector', 'SelectorRequired', 'selector is required', "the HPA target's scale is missing a selector");
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(text);
    } catch (e) {
      const msg = `couldn't convert selector into a corresponding internal selector object: ${(e as Error).message}`;
      return fail('InvalidSelector', 'InvalidSelector', msg, msg);
    }
    this.selectors.set(st.key, selector);
    const { namespace } = splitKey(st.key);
    const pods = this.pods.list(namespace, (p) => selector.matches(p.metadata?.labels));
    const owners = new Set<string>();
    for (const [key, sel] of this.selectors) {
      if (!key.startsWith(`${namespace}/`)) continue;
      if (pods.some((p) => sel.matches(p.metadata?.labels))) owners.add(key);
    }
    if (owners.size > 1) {
      const msg = `pods by selector ${text} are controlled by multiple HPAs: [${[...owners].sort().join(' ')}]`;
      return fail('AmbiguousSelector', 'AmbiguousSelector', msg, msg);
    }
    return selector;
  }

  /** upstream computeReplicasForMetric: one metric's proposal and status; throws a MetricError. */
  private async computeReplicasForMetric(st: SyncState, spec: any, specReplicas: number, selector: LabelSelector): Promise<{ replicas: number; metric: string; status: any }> {
    switch (spec?.type) {
      case 'Resource':
      case 'ContainerResource': {
        const whole = spec.type === 'Resource';
        const source = whole ? spec.resource : spec.containerResource;
        const reason = whole ? 'FailedGetResourceMetric' : 'FailedGetContainerResourceMetric';
        try {
          const r = await this.resourceMetric(st, source, specReplicas, selector, whole ? '' : (source?.container ?? ''), spec.type);
          const status = whole
            ? { type: spec.type, resource: { name: source.name, current: r.current } }
            : { type: spec.type, containerResource: { name: source.name, container: source.container, current: r.current } };
          return { replicas: r.replicas, metric: r.metric, status };
        } catch (e) {
          throw this.metricError(st, reason, e as Error, whole ? `failed to get ${source?.name} resource metric value` : `failed to get ${source?.container} container metric value`);
        }
      }
      case 'Pods':
        throw this.metricError(st, 'FailedGetPodsMetric', new Error(`unable to get metric ${spec.pods?.metric?.name}: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered`), 'failed to get pods metric value');
      case 'Object':
        throw this.metricError(st, 'FailedGetObjectMetric', new Error(`unable to get metric ${spec.object?.metric?.name}: ${spec.object?.describedObject?.kind} on ${st.hpa.metadata.namespace} ${spec.object?.describedObject?.name}/unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered`), 'failed to get object metric value');
      case 'External':
        throw this.metricError(st, 'FailedGetExternalMetric', new Error(`unable to get external metric ${st.hpa.metadata.namespace}/${spec.external?.metric?.name}: unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered`), `failed to get ${spec.external?.metric?.name} external metric value`);
      default:
        throw this.metricError(st, 'InvalidMetricSourceType', new Error(`unknown metric source type "${spec?.type ?? ''}"`));
    }
  }

  /** upstream getUnableComputeReplicaCountCondition: a Warning event and the ScalingActive=False condition to set if no metric works. */
  private metricError(st: SyncState, reason: string, err: Error, wrap?: string): MetricError {
    void this.event(st.hpa, 'Warning', reason, err.message);
    const e = new MetricError(wrap ? `${wrap}: ${err.message}` : err.message);
    e.condition = { reason, message: `the HPA was unable to compute the replica count: ${err.message}` };
    return e;
  }

  /** upstream computeStatusForResourceMetricGeneric. */
  private async resourceMetric(st: SyncState, source: any, currentReplicas: number, selector: LabelSelector, container: string, type: string): Promise<{ replicas: number; metric: string; current: any }> {
    const resource: string = source?.name ?? '';
    const target = source?.target ?? {};
    const namespace = st.hpa.metadata.namespace;
    const calc = {
      currentReplicas,
      resource,
      namespace,
      selector: selector.toString(),
      container,
      pods: this.pods.list(namespace, (p) => selector.matches(p.metadata?.labels)),
      opts: this.calc,
      now: st.now.getTime(),
    };
    if (target.averageValue !== undefined && target.averageValue !== null) {
      let r: { replicas: number; usage: number };
      try {
        r = await getRawResourceReplicas(this.metrics, { ...calc, targetUsage: parseQuantity(target.averageValue).milliValue() });
      } catch (e) {
        throw new Error(`failed to get ${resource} usage: ${(e as Error).message}`);
      }
      return { replicas: r.replicas, metric: `${resource} resource`, current: { averageValue: Quantity.fromMilli(r.usage).toString() } };
    }
    if (typeof target.averageUtilization !== 'number') {
      throw new Error('invalid resource metric source: neither an average utilization target nor an average value (usage) target was set');
    }
    let r: { replicas: number; utilization: number; rawUtilization: number };
    try {
      r = await getResourceReplicas(this.metrics, { ...calc, targetUtilization: target.averageUtilization });
    } catch (e) {
      throw new Error(`failed to get ${resource} utilization: ${(e as Error).message}`);
    }
    const metric = type === 'ContainerResource' ? `${resource} container resource utilization (percentage of request)` : `${resource} resource utilization (percentage of request)`;
    return { replicas: r.replicas, metric, current: { averageUtilization: r.utilization, averageValue: Quantity.fromMilli(r.rawUtilization).toString() } };
  }

  /** upstream normalizeDesiredReplicas (no behavior): the downscale stabilization window, then min/max and the legacy rate. */
  private normalize(st: SyncState, current: number, desired: number, min: number, max: number): number {
    const mem = this.memoryOf(st.key);
    const now = st.now.getTime();
    const cutoff = now - this.downscaleStabilizationMs;
    let stabilized = desired;
    let old = -1;
    mem.recommendations.forEach((r, i) => {
      if (r.at < cutoff) old = i;
      else if (r.replicas > stabilized) stabilized = r.replicas;
    });
    if (old >= 0) mem.recommendations[old] = { replicas: desired, at: now };
    else mem.recommendations.push({ replicas: desired, at: now });
    if (stabilized !== desired) {
      setCondition(st.conditions, 'AbleToScale', 'True', 'ScaleDownStabilized', 'recent recommendations were higher than current one, applying the highest recent recommendation', st.now);
    } else {
      setCondition(st.conditions, 'AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size', st.now);
    }
    const r = convertDesiredReplicasWithRules(current, stabilized, min, max);
    setCondition(st.conditions, 'ScalingLimited', r.replicas === stabilized ? 'False' : 'True', r.reason, r.message, st.now);
    return r.replicas;
  }

  /**
   * upstream normalizeDesiredReplicasWithBehaviors: stabilize within the
   * scale-up and scale-down windows, then bound by min/max and the policies'
   * rate over their periods.
   */
  private normalizeWithBehaviors(st: SyncState, behavior: any, current: number, desired: number, min: number, max: number): number {
    const mem = this.memoryOf(st.key);
    const now = st.now.getTime();
    const upRules: ScalingRules = behavior.scaleUp ?? {};
    const downRules: ScalingRules = behavior.scaleDown ?? {};
    // A scale-down window the API left unset is the controller's --horizontal-pod-autoscaler-downscale-stabilization.
    const downWindowMs = downRules.stabilizationWindowSeconds !== undefined && downRules.stabilizationWindowSeconds !== null ? downRules.stabilizationWindowSeconds * 1000 : this.downscaleStabilizationMs;
    const upCutoff = now - (upRules.stabilizationWindowSeconds ?? 0) * 1000;
    const downCutoff = now - downWindowMs;
    let upRecommendation = desired;
    let downRecommendation = desired;
    let old = -1;
    mem.recommendations.forEach((r, i) => {
      if (r.at > upCutoff) upRecommendation = Math.min(r.replicas, upRecommendation);
      if (r.at > downCutoff) downRecommendation = Math.max(r.replicas, downRecommendation);
      if (r.at < upCutoff && r.at < downCutoff) old = i;
    });
    let stabilized = current;
    if (stabilized < upRecommendation) stabilized = upRecommendation;
    if (stabilized > downRecommendation) stabilized = downRecommendation;
    if (old >= 0) mem.recommendations[old] = { replicas: desired, at: now };
    else mem.recommendations.push({ replicas: desired, at: now });
    if (stabilized !== desired) {
      const [reason, message] =
        desired >= current
          ? ['ScaleUpStabilized', 'recent recommendations were lower than current one, applying the lowest recent recommendation']
          : ['ScaleDownStabilized', 'recent recommendations were higher than current one, applying the highest recent recommendation'];
      setCondition(st.conditions, 'AbleToScale', 'True', reason, message, st.now);
    } else {
      setCondition(st.conditions, 'AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size', st.now);
    }
    let replicas = stabilized;
    let reason = 'DesiredWithinRange';
    let message = 'the desired count is within the acceptable range';
    if (stabilized > current) {
      // Policies never shrink the target on the way up: the limit is at least the current count.
      const limit = Math.max(scaleUpLimit(current, mem.up, mem.down, upRules, now), current);
      const [maxAllowed, r, m] =
        max > limit
          ? [limit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
          : [max, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
      if (stabilized > maxAllowed) [replicas, reason, message] = [maxAllowed, r, m];
    } else if (stabilized < current) {
      const limit = Math.min(scaleDownLimit(current, mem.up, mem.down, downRules, now), current);
      const [minAllowed, r, m] =
        min < limit
          ? [limit, 'ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate']
          : [min, 'TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
      if (stabilized < minAllowed) [replicas, reason, message] = [minAllowed, r, m];
    }
    setCondition(st.conditions, 'ScalingLimited', replicas === stabilized ? 'False' : 'True', reason, message, st.now);
    return replicas;
  }

  /** upstream storeScaleEvent: remembers a scaling, reusing a slot older than the longest policy period. */
  private storeScaleEvent(mem: HpaMemory, behavior: any, prev: number, next: number, now: number): void {
    const up = next > prev;
    const rules: ScalingRules = (up ? behavior.scaleUp : behavior.scaleDown) ?? {};
    const longest = Math.max(0, ...(rules.policies ?? []).map((p) => p.periodSeconds));
    const list = up ? mem.up : mem.down;
    const cutoff = now - longest * 1000;
    let slot = -1;
    list.forEach((e, i) => {
      if (e.at < cutoff) e.outdated = true;
      if (e.outdated) slot = i;
    });
    const event = { change: Math.abs(next - prev), at: now, outdated: false };
    if (slot >= 0) list[slot] = event;
    else list.push(event);
  }

  /** Writes status when it changed (upstream updateStatusIfNeeded); a failed write is an event. */
  private async writeStatus(hpa: any, original: any, status: any): Promise<void> {
    if (jsonEqual(original, status)) return;
    try {
      await this.client.update(HPA_RESOURCE, hpa.metadata.namespace, { ...hpa, status }, { subresource: 'status' });
    } catch (e) {
      void this.event(hpa, 'Warning', 'FailedUpdateStatus', (e as Error).message);
      throw new Error(`failed to update status for ${hpa.metadata.name}: ${(e as Error).message}`);
    }
  }

  private event(hpa: any, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.events.event({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: hpa.metadata }, type, reason, message);
  }
}

/** A metric that could not be computed, with the condition upstream would set for it. */
class MetricError extends Error {
  condition?: { reason: string; message: string };
}
