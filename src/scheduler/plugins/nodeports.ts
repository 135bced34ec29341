/** NodePorts: a pod's hostPorts must be free on the node (upstream plugins/nodeports). */
import { SKIP, SUCCESS, unschedulable, type Plugin } from '../framework.js';
import type { HostPort, NodeInfo } from '../nodeinfo.js';

/** The plugin's registered name. */
export const NAME = 'NodePorts';
/** Upstream ErrReason. */
export const ERR_REASON = "node(s) didn't have free ports for the requested pod ports";

/**
 * True if the port is taken on the node (upstream HostPortInfo.CheckConflict):
 * 0.0.0.0 conflicts with the same protocol/port on any IP; a specific IP
 * conflicts with itself and with 0.0.0.0.
 */
export function portConflicts(node: NodeInfo, hp: HostPort): boolean {
  const ips = node.usedPorts.get(`${hp.protocol}/${hp.port}`);
  if (!ips || ips.size === 0) return false;
  if (hp.ip === '0.0.0.0') return true;
  return ips.has(hp.ip) || ips.has('0.0.0.0');
}

/** Builds the plugin. */
export function nodePorts(): Plugin {
  return {
    name: NAME,
    // Pods without host ports skip the filter (upstream PreFilter answers Skip).
    preFilter: (_state, pod) => (pod.hostPorts.length ? SUCCESS : SKIP),
    filter(_state, pod, node) {
      for (const hp of pod.hostPorts) if (portConflicts(node, hp)) return unschedulable(ERR_REASON);
      return SUCCESS;
    },
  };
}
