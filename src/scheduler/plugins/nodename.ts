/** NodeName: a pod that names a node fits only that node (upstream plugins/nodename). */
import { SUCCESS, unresolvable, type Plugin } from '../framework.js';

/** The plugin's registered name. */
export const NAME = 'NodeName';
/** Upstream ErrReason. */
export const ERR_REASON = "node(s) didn't match the requested node name";

/** Builds the plugin. */
export function nodeName(): Plugin {
  return {
    name: NAME,
    filter(_state, pod, node) {
      const want = pod.pod.spec?.nodeName;
      return !want || want === node.name ? SUCCESS : unresolvable(ERR_REASON);
    },
  };
}
