/**
 * Priority admission (upstream plugin/pkg/admission/priority): a new pod's
 * spec.priorityClassName resolves to spec.priority and spec.preemptionPolicy
 * (the globalDefault class, or priority 0, when it names none); an unknown
 * class, or a priority the pod sets itself that differs, is refused. Only
 * one PriorityClass may be the global default.
 */

/** upstream scheduling.DefaultPriorityWhenNoDefaultClassExists. */
export const DEFAULT_PRIORITY = 0;

/** upstream getDefaultPriorityClass: of the classes marked globalDefault, the one with the lowest value. */
export function defaultPriorityClass(classes: readonly any[]): any | undefined {
  let best: any;
  for (const pc of classes) if (pc?.globalDefault && (best === undefined || pc.value < best.value)) best = pc;
  return best;
}

/**
 * Resolves a new pod's priority in place; returns the reason to refuse it
 * (the caller reports it as Forbidden), as upstream admitPod on create.
 */
export function resolvePodPriority(pod: any, classes: readonly any[]): string | undefined {
  const spec = (pod.spec ??= {});
  let priority: number;
  let policy: string | undefined;
  if (!spec.priorityClassName) {
    const dpc = defaultPriorityClass(classes);
    if (dpc) {
      spec.priorityClassName = dpc.metadata?.name;
      priority = dpc.value ?? 0;
      policy = dpc.preemptionPolicy;
    } else {
      // An empty class name stays empty; the pod gets the default priority and may preempt.
      if (spec.priorityClassName === '') delete spec.priorityClassName;
      priority = DEFAULT_PRIORITY;
      policy = 'PreemptLowerPriority';
    }
  } else {
    const pc = classes.find((c) => c?.metadata?.name === spec.priorityClassName);
    if (!pc) return `no PriorityClass with name ${spec.priorityClassName} was found`;
    priority = pc.value ?? 0;
    policy = pc.preemptionPolicy;
  }
  if (spec.priority !== undefined && spec.priority !== null && spec.priority !== priority) {
    return `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`;
  }
  spec.priority = priority;
  if (policy) {
    if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null && spec.preemptionPolicy !== policy) {
      return `the string value of PreemptionPolicy (${spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${policy} from the given PriorityClass name`;
    }
    spec.preemptionPolicy = policy;
  }
  return undefined;
}

/** upstream admitPod on update: a pod keeps the priority and policy it was given at creation when an update leaves them out. */
export function keepPodPriority(pod: any, old: any): void {
  const spec = pod?.spec;
  if (!spec) return;
  if ((spec.priority === undefined || spec.priority === null) && old?.spec?.priority !== undefined) spec.priority = old.spec.priority;
  if ((spec.preemptionPolicy === undefined || spec.preemptionPolicy === null) && old?.spec?.preemptionPolicy !== undefined) {
    spec.preemptionPolicy = old.spec.preemptionPolicy;
  }
}

/** upstream validatePriorityClass: a second global default is refused; returns the reason. */
export function checkGlobalDefault(pc: any, creating: boolean, classes: readonly any[]): string | undefined {
  if (!pc?.globalDefault) return undefined;
  const dpc = defaultPriorityClass(classes);
  if (!dpc) return undefined;
  if (creating || dpc.metadata?.name !== pc.metadata?.name) {
    return `PriorityClass ${dpc.metadata?.name} is already marked as default. Only one default can exist`;
  }
  return undefined;
}
