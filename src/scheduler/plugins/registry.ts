/** The in-tree plugins by name, and the default profile that enables them (upstream plugins/registry.go and the default plugin set). */
import type { PluginRegistry, Profile } from '../framework.js';
import { coscheduling, NAME as COSCHEDULING } from './coscheduling.js';
import { defaultBinder, NAME as DEFAULT_BINDER } from './defaultbinder.js';
import { defaultPreemption, NAME as DEFAULT_PREEMPTION } from './defaultpreemption.js';
import { nodeAffinity, NAME as NODE_AFFINITY } from './nodeaffinity.js';
import { nodeName, NAME as NODE_NAME } from './nodename.js';
import { nodePorts, NAME as NODE_PORTS } from './nodeports.js';
import { BALANCED_NAME, FIT_NAME, nodeResourcesBalancedAllocation, nodeResourcesFit } from './noderesources.js';
import { nodeUnschedulable, NAME as NODE_UNSCHEDULABLE } from './nodeunschedulable.js';
import { taintToleration, NAME as TAINT_TOLERATION } from './tainttoleration.js';

/** A fresh registry of every in-tree plugin. */
export function inTreeRegistry(): PluginRegistry {
  return new Map([
    [NODE_UNSCHEDULABLE, nodeUnschedulable],
    [NODE_NAME, nodeName],
    [TAINT_TOLERATION, taintToleration],
    [NODE_AFFINITY, nodeAffinity],
    [NODE_PORTS, nodePorts],
    [FIT_NAME, nodeResourcesFit],
    [BALANCED_NAME, nodeResourcesBalancedAllocation],
    [DEFAULT_PREEMPTION, defaultPreemption],
    [COSCHEDULING, coscheduling],
    [DEFAULT_BINDER, defaultBinder],
  ]);
}

/**
 * The default profile: upstream's default plugins in upstream's order
 * (filters run in this order and the first rejection is the node's reason)
 * with upstream's score weights.
 */
export function defaultProfile(schedulerName = 'default-scheduler'): Profile {
  return {
    schedulerName,
    plugins: [
      { name: NODE_UNSCHEDULABLE },
      { name: NODE_NAME },
      { name: TAINT_TOLERATION, weight: 3 },
      { name: NODE_AFFINITY, weight: 2 },
      { name: NODE_PORTS },
      { name: FIT_NAME, weight: 1 },
      { name: DEFAULT_PREEMPTION },
      { name: BALANCED_NAME, weight: 1 },
      // Gang scheduling is built in (scheduler-plugins adds it as a multi-point plugin after the defaults, and as the QueueSort).
      { name: COSCHEDULING },
      { name: DEFAULT_BINDER },
    ],
  };
}
