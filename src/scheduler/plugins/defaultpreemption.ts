/**
 * DefaultPreemption, PostFilter stage (upstream plugins/defaultpreemption).
 * Kite does not evict victims yet; this plugin answers what upstream's
 * preemption answers when it finds no candidate, so FailedScheduling
 * messages read as upstream's: nodes rejected as Unschedulable are where
 * preemption was tried ("No preemption victims found for incoming pod"),
 * the others are where it cannot help ("Preemption is not helpful for scheduling").
 */
import { fitErrorMessage, unschedulable, type Diagnosis, type FrameworkHandle, type Plugin, type Status } from '../framework.js';

/** The plugin's registered name. */
export const NAME = 'DefaultPreemption';
/** Upstream's status for a node where dry-run preemption found nothing to evict. */
export const NO_VICTIMS = 'No preemption victims found for incoming pod';
/** Upstream's status for nodes where preemption cannot help (rejected as unresolvable). */
export const NOT_HELPFUL = 'Preemption is not helpful for scheduling';

/** Builds the plugin. */
export function defaultPreemption(handle: FrameworkHandle): Plugin {
  return {
    name: NAME,
    postFilter(_state, pod, diagnosis: Diagnosis): Status {
      if (pod.pod.spec?.preemptionPolicy === 'Never') return unschedulable('preemption: not eligible due to preemptionPolicy=Never.');
      const nodeToStatus = new Map<string, Status>();
      for (const [name, s] of diagnosis.nodeToStatus) {
        if (s.code === 'Unschedulable') nodeToStatus.set(name, { code: 'UnschedulableAndUnresolvable', reasons: [NO_VICTIMS] });
      }
      // Nodes absent from the map count as "not helpful" (upstream SetAbsentNodesStatus).
      const numAllNodes = handle.nodeInfos().length;
      const msg = fitErrorMessage({
        numAllNodes,
        diagnosis: { nodeToStatus, unschedulablePlugins: new Set(), absentNodesStatus: { code: 'UnschedulableAndUnresolvable', reasons: [NOT_HELPFUL] } },
      });
      return unschedulable(`preemption: ${msg}`);
    },
  };
}
