/** NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the unschedulable taint (upstream plugins/nodeunschedulable). */
import { SUCCESS, unresolvable, type Plugin } from '../framework.js';
import { tolerationsTolerateTaint } from './tainttoleration.js';

/** The plugin's registered name. */
export const NAME = 'NodeUnschedulable';
/** Upstream ErrReasonUnschedulable. */
export const ERR_REASON_UNSCHEDULABLE = 'node(s) were unschedulable';

const UNSCHEDULABLE_TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

/** Builds the plugin. */
export function nodeUnschedulable(): Plugin {
  return {
    name: NAME,
    filter(_state, pod, node) {
      if (node.unschedulable && !tolerationsTolerateTaint(pod.pod.spec?.tolerations, UNSCHEDULABLE_TAINT)) {
        return unresolvable(ERR_REASON_UNSCHEDULABLE);
      }
      return SUCCESS;
    },
  };
}
