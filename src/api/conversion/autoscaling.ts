/**
 * HorizontalPodAutoscaler conversion between autoscaling/v1 and the storage
 * version autoscaling/v2 (upstream's pkg/apis/autoscaling/v1/conversion.go).
 * v1 only knows a CPU utilization target; everything else a v2 object holds
 * travels in the v1 object's round-trip annotations, encoded as upstream
 * encodes them, and comes back from them on the way to v2.
 */

/** v2 metrics that v1 cannot express, as a JSON list of v1 MetricSpecs. */
export const METRIC_SPECS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics';
/** v2 status.currentMetrics, as a JSON list of v1 MetricStatuses. */
export const METRIC_STATUSES_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics';
/** v2 status.conditions, as JSON. */
export const CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';
/** v2 spec.behavior, as JSON of upstream's internal type (Go field names). */
export const BEHAVIOR_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior';
/** The CPU utilization target an HPA without metrics gets (autoscaling.DefaultCPUUtilization). */
export const DEFAULT_CPU_UTILIZATION = 80;

const ROUND_TRIP_ANNOTATIONS = [METRIC_SPECS_ANNOTATION, METRIC_STATUSES_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION];

type Obj = Record<string, any>;

/** An object of the given members in this order, leaving out the undefined ones (Go's omitempty on pointers). */
function pick(entries: [string, unknown][]): Obj {
  const out: Obj = {};
  for (const [k, v] of entries) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

function copy<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Parses a round-trip annotation; upstream ignores values that do not decode. */
function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function ref(r: Obj | undefined): Obj {
  return pick([['kind', r?.kind ?? ''], ['name', r?.name ?? ''], ['apiVersion', r?.apiVersion || undefined]]);
}

function identifier(name: unknown, selector: unknown): Obj {
  return pick([['name', name ?? ''], ['selector', selector]]);
}

/** SetDefaults_HorizontalPodAutoscaler of autoscaling/v1: minReplicas 1 (no CPU default here; conversion supplies it). */
export function defaultHPAV1(obj: any): void {
  if (!obj || typeof obj !== 'object') return;
  obj.spec ??= {};
  if (obj.spec.minReplicas === undefined || obj.spec.minReplicas === null) obj.spec.minReplicas = 1;
}

function isCpuUtilization(m: Obj | undefined): boolean {
  return m?.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.averageUtilization !== undefined && m.resource?.target?.averageUtilization !== null;
}

function cpuMetric(utilization: number): Obj {
  return { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: utilization } } };
}

/** v2 MetricSpec → v1 MetricSpec (the v2beta1-style shape kept in the metrics annotation). */
function metricSpecToV1(m: Obj): Obj {
  const t = (x: Obj | undefined) => x?.target ?? {};
  const o = m.object;
  const p = m.pods;
  const r = m.resource;
  const c = m.containerResource;
  const e = m.external;
  return pick([
    ['type', m.type ?? ''],
    ['object', o && pick([['target', ref(o.describedObject)], ['metricName', o.metric?.name ?? ''], ['targetValue', t(o).value ?? '0'], ['selector', o.metric?.selector], ['averageValue', t(o).averageValue]])],
    ['pods', p && pick([['metricName', p.metric?.name ?? ''], ['targetAverageValue', t(p).averageValue ?? '0'], ['selector', p.metric?.selector]])],
    ['resource', r && pick([['name', r.name ?? ''], ['targetAverageUtilization', t(r).averageUtilization], ['targetAverageValue', t(r).averageValue]])],
    ['containerResource', c && pick([['name', c.name ?? ''], ['targetAverageUtilization', t(c).averageUtilization], ['targetAverageValue', t(c).averageValue], ['container', c.container ?? '']])],
    ['external', e && pick([['metricName', e.metric?.name ?? ''], ['metricSelector', e.metric?.selector], ['targetValue', t(e).value], ['targetAverageValue', t(e).averageValue]])],
  ]);
}

/** v1 MetricSpec (from the annotation) → v2 MetricSpec. */
function metricSpecToV2(m: Obj): Obj {
  const o = m.object;
  const p = m.pods;
  const r = m.resource;
  const c = m.containerResource;
  const e = m.external;
  const resourceTarget = (x: Obj) =>
    pick([['type', x.targetAverageUtilization === undefined || x.targetAverageUtilization === null ? 'AverageValue' : 'Utilization'], ['averageValue', x.targetAverageValue], ['averageUtilization', x.targetAverageUtilization]]);
  return pick([
    ['type', m.type ?? ''],
    ['object', o && {
      describedObject: ref(o.target),
      // upstream: Value always points at targetValue (zero when absent).
      target: pick([['type', o.averageValue === undefined || o.averageValue === null ? 'Value' : 'AverageValue'], ['value', o.targetValue ?? '0'], ['averageValue', o.averageValue]]),
      metric: identifier(o.metricName, o.selector),
    }],
    ['pods', p && { metric: identifier(p.metricName, p.selector), target: { type: 'AverageValue', averageValue: p.targetAverageValue ?? '0' } }],
    ['resource', r && { name: r.name ?? '', target: resourceTarget(r) }],
    ['containerResource', c && { name: c.name ?? '', target: resourceTarget(c), container: c.container ?? '' }],
    ['external', e && {
      metric: identifier(e.metricName, e.metricSelector),
      target: pick([['type', e.targetValue === undefined || e.targetValue === null ? 'AverageValue' : 'Value'], ['value', e.targetValue], ['averageValue', e.targetAverageValue]]),
    }],
  ]);
}

/** v2 MetricStatus → v1 MetricStatus (the current-metrics annotation). */
function metricStatusToV1(m: Obj): Obj {
  const cur = (x: Obj | undefined) => x?.current ?? {};
  const o = m.object;
  const p = m.pods;
  const r = m.resource;
  const c = m.containerResource;
  const e = m.external;
  return pick([
    ['type', m.type ?? ''],
    ['object', o && pick([['target', ref(o.describedObject)], ['metricName', o.metric?.name ?? ''], ['currentValue', cur(o).value ?? '0'], ['selector', o.metric?.selector], ['averageValue', cur(o).averageValue]])],
    ['pods', p && pick([['metricName', p.metric?.name ?? ''], ['currentAverageValue', cur(p).averageValue ?? '0'], ['selector', p.metric?.selector]])],
    ['resource', r && pick([['name', r.name ?? ''], ['currentAverageUtilization', cur(r).averageUtilization], ['currentAverageValue', cur(r).averageValue ?? '0']])],
    ['containerResource', c && pick([['name', c.name ?? ''], ['currentAverageUtilization', cur(c).averageUtilization], ['currentAverageValue', cur(c).averageValue ?? '0'], ['container', c.container ?? '']])],
    ['external', e && pick([['metricName', e.metric?.name ?? ''], ['metricSelector', e.metric?.selector], ['currentValue', cur(e).value ?? '0'], ['currentAverageValue', cur(e).averageValue]])],
  ]);
}

/** v1 MetricStatus (from the annotation) → v2 MetricStatus. */
function metricStatusToV2(m: Obj): Obj {
  const o = m.object;
  const p = m.pods;
  const r = m.resource;
  const c = m.containerResource;
  const e = m.external;
  const resourceCurrent = (x: Obj) => pick([['averageValue', x.currentAverageValue ?? '0'], ['averageUtilization', x.currentAverageUtilization]]);
  return pick([
    ['type', m.type ?? ''],
    ['object', o && { metric: identifier(o.metricName, o.selector), current: pick([['value', o.currentValue ?? '0'], ['averageValue', o.averageValue]]), describedObject: ref(o.target) }],
    ['pods', p && { metric: identifier(p.metricName, p.selector), current: { averageValue: p.currentAverageValue ?? '0' } }],
    ['resource', r && { name: r.name ?? '', current: resourceCurrent(r) }],
    ['containerResource', c && { name: c.name ?? '', current: resourceCurrent(c), container: c.container ?? '' }],
    ['external', e && { metric: identifier(e.metricName, e.metricSelector), current: pick([['value', e.currentValue ?? '0'], ['averageValue', e.currentAverageValue]]) }],
  ]);
}

function condition(c: Obj): Obj {
  return pick([['type', c.type ?? ''], ['status', c.status ?? ''], ['lastTransitionTime', c.lastTransitionTime], ['reason', c.reason || undefined], ['message', c.message || undefined]]);
}

/** v2 behavior → upstream's annotation form: the internal type, marshalled with Go field names and nulls. */
function behaviorToAnnotation(b: Obj): Obj {
  const rules = (r: Obj | undefined) =>
    r
      ? {
          StabilizationWindowSeconds: r.stabilizationWindowSeconds ?? null,
          SelectPolicy: r.selectPolicy ?? null,
          Policies: Array.isArray(r.policies) ? r.policies.map((p: Obj) => ({ Type: p.type ?? '', Value: p.value ?? 0, PeriodSeconds: p.periodSeconds ?? 0 })) : null,
        }
      : null;
  return { ScaleUp: rules(b.scaleUp), ScaleDown: rules(b.scaleDown) };
}

/** A member of a decoded Go struct: encoding/json matches field names case-insensitively. */
function goField(o: unknown, name: string): any {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === want) return v;
  return undefined;
}

/** The annotation form of behavior → v2 behavior, or undefined when it is empty or not an object. */
function behaviorFromAnnotation(v: unknown): Obj | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const rules = (r: unknown) => {
    if (!r || typeof r !== 'object') return undefined;
    const policies = goField(r, 'Policies');
    return pick([
      ['stabilizationWindowSeconds', goField(r, 'StabilizationWindowSeconds')],
      ['selectPolicy', goField(r, 'SelectPolicy')],
      [
        'policies',
        Array.isArray(policies)
          ? policies.map((p) => pick([['type', goField(p, 'Type') ?? ''], ['value', goField(p, 'Value') ?? 0], ['periodSeconds', goField(p, 'PeriodSeconds') ?? 0]]))
          : undefined,
      ],
    ]);
  };
  const out = pick([['scaleUp', rules(goField(v, 'ScaleUp'))], ['scaleDown', rules(goField(v, 'ScaleDown'))]]);
  return Object.keys(out).length ? out : undefined;
}

/**
 * autoscaling/v1 → autoscaling/v2 (Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler).
 * Returns a new object; the argument is not modified.
 */
export function hpaV1ToV2(v1: any): any {
  const meta: Obj = copy(v1?.metadata) ?? {};
  const ann: Obj = meta.annotations ?? {};
  const spec: Obj = v1?.spec ?? {};
  const st: Obj | undefined = v1?.status;

  let metrics: Obj[] | undefined;
  const cpu = spec.targetCPUUtilizationPercentage;
  if (cpu !== undefined && cpu !== null) metrics = [cpuMetric(cpu)];
  const others = parseJson(ann[METRIC_SPECS_ANNOTATION]);
  // The annotated metrics come first, then the CPU target (upstream's order).
  if (Array.isArray(others)) metrics = [...others.map((m) => metricSpecToV2(m ?? {})), ...(metrics ?? [])];
  // autoscaling/v1 had an implicit CPU target; upstream makes it explicit here.
  if (!metrics || metrics.length === 0) metrics = [cpuMetric(DEFAULT_CPU_UTILIZATION)];
  const behavior = behaviorFromAnnotation(parseJson(ann[BEHAVIOR_ANNOTATION]));

  let currentMetrics: Obj[] | undefined;
  let conditions: Obj[] | undefined;
  const curCpu = st?.currentCPUUtilizationPercentage;
  if (curCpu !== undefined && curCpu !== null) currentMetrics = [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: curCpu } } }];
  // The annotated current metrics hold more than the CPU percentage: they win.
  const curAnn = parseJson(ann[METRIC_STATUSES_ANNOTATION]);
  if (Array.isArray(curAnn)) currentMetrics = curAnn.map((m) => metricStatusToV2(m ?? {}));
  const condAnn = parseJson(ann[CONDITIONS_ANNOTATION]);
  if (Array.isArray(condAnn)) conditions = condAnn.map((c) => condition(c ?? {}));

  for (const k of ROUND_TRIP_ANNOTATIONS) delete ann[k];
  if (meta.annotations && Object.keys(ann).length === 0) delete meta.annotations;

  const out: Obj = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta,
    spec: pick([
      ['scaleTargetRef', ref(spec.scaleTargetRef)],
      ['minReplicas', spec.minReplicas],
      ['maxReplicas', spec.maxReplicas ?? 0],
      ['metrics', metrics],
      ['behavior', behavior],
    ]),
  };
  if (st || currentMetrics || conditions) {
    out.status = pick([
      ['observedGeneration', st?.observedGeneration],
      ['lastScaleTime', st?.lastScaleTime],
      // v2's currentReplicas is omitempty; desiredReplicas is not.
      ['currentReplicas', st?.currentReplicas || undefined],
      ['desiredReplicas', st?.desiredReplicas ?? 0],
      ['currentMetrics', currentMetrics],
      ['conditions', conditions],
    ]);
  }
  return out;
}

/**
 * autoscaling/v2 → autoscaling/v1 (Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler).
 * Returns a new object; the argument is not modified.
 */
export function hpaV2ToV1(v2: any): any {
  const meta: Obj = copy(v2?.metadata) ?? {};
  // Only annotations produced by this conversion may be present on the result.
  const ann: Obj = meta.annotations ?? {};
  for (const k of ROUND_TRIP_ANNOTATIONS) delete ann[k];
  const spec: Obj = v2?.spec ?? {};
  const st: Obj = v2?.status ?? {};
  const metrics: Obj[] = Array.isArray(spec.metrics) ? spec.metrics : [];
  const cpu = metrics.find(isCpuUtilization);
  const others = metrics.filter((m) => !isCpuUtilization(m)).map(metricSpecToV1);
  const currentMetrics: Obj[] = Array.isArray(st.currentMetrics) ? st.currentMetrics : [];
  const conditions: Obj[] = Array.isArray(st.conditions) ? st.conditions : [];
  let curCpu: number | undefined;
  // upstream keeps the last CPU utilization it finds.
  for (const m of currentMetrics) {
    const u = m?.type === 'Resource' && m.resource?.name === 'cpu' ? m.resource?.current?.averageUtilization : undefined;
    if (u !== undefined && u !== null) curCpu = u;
  }
  if (others.length) ann[METRIC_SPECS_ANNOTATION] = JSON.stringify(others);
  if (currentMetrics.length) ann[METRIC_STATUSES_ANNOTATION] = JSON.stringify(currentMetrics.map((m) => metricStatusToV1(m ?? {})));
  if (spec.behavior) ann[BEHAVIOR_ANNOTATION] = JSON.stringify(behaviorToAnnotation(spec.behavior));
  if (conditions.length) ann[CONDITIONS_ANNOTATION] = JSON.stringify(conditions.map((c) => condition(c ?? {})));
  if (Object.keys(ann).length) meta.annotations = ann;
  else delete meta.annotations;

  return {
    apiVersion: 'autoscaling/v1',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta,
    spec: pick([
      ['scaleTargetRef', ref(spec.scaleTargetRef)],
      ['minReplicas', spec.minReplicas],
      ['maxReplicas', spec.maxReplicas ?? 0],
      ['targetCPUUtilizationPercentage', cpu?.resource.target.averageUtilization],
    ]),
    // v1's currentReplicas and desiredReplicas are always written, so every v1 object has a status.
    status: pick([
      ['observedGeneration', st.observedGeneration],
      ['lastScaleTime', st.lastScaleTime],
      ['currentReplicas', st.currentReplicas ?? 0],
      ['desiredReplicas', st.desiredReplicas ?? 0],
      ['currentCPUUtilizationPercentage', curCpu],
    ]),
  };
}
