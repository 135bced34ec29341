/**
 * Printers for workload kinds — apps/v1, batch/v1, autoscaling/v2 HPA and
 * policy/v1 PDB — following upstream 1.32 pkg/printers/internalversion/printers.go.
 */

import {
  arr,
  boolPtr,
  containerCells,
  controllerOf,
  creationAge,
  formatLabels,
  formatLabelSelector,
  humanDuration,
  int,
  intOrString,
  labelSelectorString,
  nameOf,
  parseTime,
  quantityString,
  rec,
  str,
  templateContainers,
  ageOf,
} from './format.js';
import { AGE_COLUMN, col, CONTAINERS_COLUMN, IMAGES_COLUMN, NAME_COLUMN, SELECTOR_COLUMN, type KindPrinter } from './table.js';

/** The Deployment printer: READY `ready/desired`, UP-TO-DATE, AVAILABLE. */
export const deploymentPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'string', 'Total number of non-terminated pods that have the desired template spec.'),
    col('Available', 'string', 'Total number of available pods (ready for at least minReadySeconds).'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const [names, images] = containerCells(templateContainers(obj));
    // Deployments print selector.String() directly: '' when empty, "<invalid>" when malformed.
    const selector = labelSelectorString(spec.selector) ?? '<invalid>';
    return [
      nameOf(obj),
      `${int(status.readyReplicas)}/${int(spec.replicas)}`,
      int(status.updatedReplicas),
      int(status.availableReplicas),
      creationAge(obj, now),
      names,
      images,
      selector,
    ];
  },
};

/** The ReplicaSet printer: DESIRED, CURRENT, READY. */
export const replicaSetPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Desired', 'integer', 'Number of desired pods.'),
    col('Current', 'integer', 'Number of pods currently managed.'),
    col('Ready', 'integer', 'Number of ready pods.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const [names, images] = containerCells(templateContainers(obj));
    return [nameOf(obj), int(spec.replicas), int(status.replicas), int(status.readyReplicas), creationAge(obj, now), names, images, formatLabelSelector(spec.selector)];
  },
};

/** The StatefulSet printer: READY `ready/desired`. */
export const statefulSetPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Ready', 'string', 'Number of the pod with ready state'), AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const [names, images] = containerCells(templateContainers(obj));
    return [nameOf(obj), `${int(status.readyReplicas)}/${int(spec.replicas)}`, creationAge(obj, now), names, images];
  },
};

/** The DaemonSet printer: DESIRED, CURRENT, READY, UP-TO-DATE, AVAILABLE, NODE SELECTOR. */
export const daemonSetPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Desired', 'integer', 'Number of nodes that should run the daemon pod.'),
    col('Current', 'integer', 'Number of nodes running at least one daemon pod that should.'),
    col('Ready', 'integer', 'Number of nodes whose daemon pod is ready.'),
    col('Up-to-date', 'integer', 'Number of nodes running the updated daemon pod.'),
    col('Available', 'integer', 'Number of nodes whose daemon pod is available.'),
    col('Node Selector', 'string', 'Node selector of the pod template.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const podSpec = rec(rec(spec.template).spec);
    const [names, images] = containerCells(podSpec.containers);
    return [
      nameOf(obj),
      int(status.desiredNumberScheduled),
      int(status.currentNumberScheduled),
      int(status.numberReady),
      int(status.updatedNumberScheduled),
      int(status.numberAvailable),
      formatLabels(podSpec.nodeSelector),
      creationAge(obj, now),
      names,
      images,
      formatLabelSelector(spec.selector),
    ];
  },
};

/** The ControllerRevision printer: CONTROLLER as `kind.group/name`, REVISION. */
export const controllerRevisionPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Controller', 'string', 'Controller of the object'), col('Revision', 'string', 'Revision number of the stored state.'), AGE_COLUMN],
  row: (obj, now) => {
    let controller = '<none>';
    const ref = controllerOf(obj);
    if (ref) {
      // schema.ParseGroupVersion, then formatResourceName(GroupKind, name, withKind=true).
      const apiVersion = str(ref.apiVersion);
      const parts = apiVersion === '' ? [] : apiVersion.split('/');
      if (parts.length > 2) throw new Error(`unexpected GroupVersion string: ${apiVersion}`);
      const group = parts.length === 2 ? parts[0] : '';
      const kind = str(ref.kind);
      const groupKind = group === '' ? kind : `${kind}.${group}`;
      controller = groupKind === '' ? str(ref.name) : `${groupKind.toLowerCase()}/${str(ref.name)}`;
    }
    return [nameOf(obj), controller, int(rec(obj).revision), creationAge(obj, now)];
  },
};

function jobCondition(conditions: unknown, type: string): boolean {
  // hasJobCondition: the first condition of the type decides.
  for (const c of arr(conditions)) {
    if (rec(c).type === type) return rec(c).status === 'True';
  }
  return false;
}

/** The Job printer: STATUS, COMPLETIONS like `1/1` or `0/1 of 3`, DURATION. */
export const jobPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Status', 'string', 'Status of the job.'),
    col('Completions', 'string', 'Succeeded pods out of the desired completions.'),
    col('Duration', 'string', 'Time required to complete the job.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  row: (obj, now) => {
    const metadata = rec(rec(obj).metadata);
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const succeeded = int(status.succeeded);
    let completions: string;
    if (typeof spec.completions === 'number') {
      completions = `${succeeded}/${int(spec.completions)}`;
    } else {
      const parallelism = int(spec.parallelism);
      completions = parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
    }
    const start = parseTime(status.startTime);
    const completion = parseTime(status.completionTime);
    let duration = '';
    if (start !== undefined) duration = humanDuration((completion ?? now.getTime()) - start);

    let state: string;
    if (jobCondition(status.conditions, 'Complete')) state = 'Complete';
    else if (jobCondition(status.conditions, 'Failed')) state = 'Failed';
    else if (metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) state = 'Terminating';
    else if (jobCondition(status.conditions, 'Suspended')) state = 'Suspended';
    else if (jobCondition(status.conditions, 'FailureTarget')) state = 'FailureTarget';
    else state = 'Running';

    const [names, images] = containerCells(templateContainers(obj));
    return [nameOf(obj), state, completions, duration, creationAge(obj, now), names, images, formatLabelSelector(spec.selector)];
  },
};

/** The CronJob printer: SCHEDULE, TIMEZONE, SUSPEND, ACTIVE, LAST SCHEDULE. */
export const cronJobPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Schedule', 'string', 'The schedule in Cron format.'),
    col('Timezone', 'string', 'The time zone the schedule is interpreted in.'),
    col('Suspend', 'boolean', 'Whether subsequent executions are suspended.'),
    col('Active', 'integer', 'Number of currently running jobs.'),
    col('Last Schedule', 'string', 'Time since the job was last scheduled.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const jobSpec = rec(rec(spec.jobTemplate).spec);
    const lastSchedule = status.lastScheduleTime === undefined || status.lastScheduleTime === null ? '<none>' : ageOf(status.lastScheduleTime, now);
    const timeZone = typeof spec.timeZone === 'string' ? spec.timeZone : '<none>';
    const [names, images] = containerCells(rec(rec(jobSpec.template).spec).containers);
    return [
      nameOf(obj),
      str(spec.schedule),
      timeZone,
      boolPtr(spec.suspend),
      arr(status.active).length,
      lastSchedule,
      creationAge(obj, now),
      names,
      images,
      formatLabelSelector(jobSpec.selector),
    ];
  },
};

/** Quantity.String() of an optional *Quantity: "<nil>" when absent, as Go prints a nil pointer. */
function quantityPtr(v: unknown): string {
  return v === undefined || v === null ? '<nil>' : quantityString(v);
}

function hpaMetrics(specs: unknown[], statuses: unknown[]): string {
  if (specs.length === 0) return '<none>';
  const list: string[] = [];
  const max = 2;
  let count = 0;
  specs.forEach((raw, i) => {
    const spec = rec(raw);
    const st = i < statuses.length ? rec(statuses[i]) : undefined;
    const present = (v: unknown) => v !== undefined && v !== null;
    switch (spec.type) {
      case 'External':
      case 'Object': {
        const key = spec.type === 'External' ? 'external' : 'object';
        const target = rec(rec(spec[key]).target);
        const current = st && present(st[key]) ? rec(rec(st[key]).current) : undefined;
        if (present(target.averageValue)) {
          const cur = current && present(current.averageValue) ? quantityString(current.averageValue) : '<unknown>';
          list.push(`${cur}/${quantityString(target.averageValue)} (avg)`);
        } else {
          const cur = current ? quantityPtr(current.value) : '<unknown>';
          list.push(`${cur}/${quantityPtr(target.value)}`);
        }
        break;
      }
      case 'Pods': {
        const target = rec(rec(spec.pods).target);
        const cur = st && present(st.pods) ? quantityPtr(rec(rec(st.pods).current).averageValue) : '<unknown>';
        list.push(`${cur}/${quantityPtr(target.averageValue)}`);
        break;
      }
      case 'Resource':
      case 'ContainerResource': {
        const key = spec.type === 'Resource' ? 'resource' : 'containerResource';
        const source = rec(spec[key]);
        const target = rec(source.target);
        const current = st && present(st[key]) ? rec(rec(st[key]).current) : undefined;
        if (present(target.averageValue)) {
          const cur = current ? quantityPtr(current.averageValue) : '<unknown>';
          list.push(`${str(source.name)}: ${cur}/${quantityString(target.averageValue)}`);
        } else {
          const cur = current && typeof current.averageUtilization === 'number' ? `${int(current.averageUtilization)}%` : '<unknown>';
          const tgt = typeof target.averageUtilization === 'number' ? `${int(target.averageUtilization)}%` : '<auto>';
          list.push(`${str(source.name)}: ${cur}/${tgt}`);
        }
        break;
      }
      default:
        list.push('<unknown type>');
    }
    count++;
  });
  if (count > max) return `${list.slice(0, max).join(', ')} + ${count - max} more...`;
  return list.join(', ');
}

/** The metric specs and statuses of an HPA in the autoscaling/v2 shape (autoscaling/v1's CPU target converted). */
function hpaMetricLists(spec: Record<string, any>, status: Record<string, any>): [unknown[], unknown[]] {
  if (spec.metrics === undefined && typeof spec.targetCPUUtilizationPercentage === 'number') {
    // autoscaling/v1 → internal conversion: one cpu Resource metric with a utilization target.
    const specs = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage } } }];
    const statuses =
      typeof status.currentCPUUtilizationPercentage === 'number'
        ? [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: status.currentCPUUtilizationPercentage } } }]
        : [];
    return [specs, statuses];
  }
  return [arr(spec.metrics), arr(status.currentMetrics)];
}

/** The HorizontalPodAutoscaler printer: REFERENCE, TARGETS like `cpu: 50%/80%`, MINPODS, MAXPODS, REPLICAS. */
export const horizontalPodAutoscalerPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Reference', 'string', 'The scaled resource.'),
    col('Targets', 'string', 'Current and target values of the metrics.'),
    col('MinPods', 'string', 'Lower limit for the number of replicas.'),
    col('MaxPods', 'string', 'Upper limit for the number of replicas.'),
    col('Replicas', 'string', 'Current number of replicas.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const ref = rec(spec.scaleTargetRef);
    const [specs, statuses] = hpaMetricLists(spec, status);
    const minPods = typeof spec.minReplicas === 'number' ? String(int(spec.minReplicas)) : '<unset>';
    return [nameOf(obj), `${str(ref.kind)}/${str(ref.name)}`, hpaMetrics(specs, statuses), minPods, int(spec.maxReplicas), int(status.currentReplicas), creationAge(obj, now)];
  },
};

/** The PodDisruptionBudget printer: MIN AVAILABLE / MAX UNAVAILABLE ("N/A" when unset), ALLOWED DISRUPTIONS. */
export const podDisruptionBudgetPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Min Available', 'string', 'The minimum number of pods that must be available.'),
    col('Max Unavailable', 'string', 'The maximum number of pods that may be unavailable.'),
    col('Allowed Disruptions', 'integer', 'Calculated number of pods that may be disrupted at this time.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const present = (v: unknown) => v !== undefined && v !== null;
    return [
      nameOf(obj),
      present(spec.minAvailable) ? intOrString(spec.minAvailable) : 'N/A',
      present(spec.maxUnavailable) ? intOrString(spec.maxUnavailable) : 'N/A',
      int(rec(rec(obj).status).disruptionsAllowed),
      creationAge(obj, now),
    ];
  },
};

/** The autoscaling/v1 Scale (subresource) printer; its Name column carries no "name" format upstream. */
export const scalePrinter: KindPrinter = {
  columns: [
    col('Name', 'string', 'Name of the scaled object.'),
    col('Desired', 'integer', 'Desired number of replicas.'),
    col('Available', 'integer', 'Observed number of replicas.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => [nameOf(obj), int(rec(rec(obj).spec).replicas), int(rec(rec(obj).status).replicas), creationAge(obj, now)],
};
