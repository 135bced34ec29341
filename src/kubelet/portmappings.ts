/**
 * A pod's host ports as the node agent hands them to the runtime with its
 * sandbox (upstream kuberuntime generatePodSandboxConfig with
 * kubecontainer.MakePortMappings): every `ports[]` entry of the regular
 * containers that asks for a `hostPort`.
 */
import type { PortMapping } from './runtime/runtime.js';

/**
 * The port mappings of a pod's sandbox. As upstream, a port listed twice in
 * one container (the same name, or for unnamed ports the same address
 * family, protocol, host IP, container port and host port) counts once;
 * init containers publish nothing; ports without a hostPort are left out
 * (containerd would drop them anyway).
 */
export function podPortMappings(pod: any): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod?.spec?.containers ?? []) {
    const names = new Set<string>();
    for (const p of c.ports ?? []) {
      const protocol: PortMapping['protocol'] = p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP';
      const hostIP: string = p.hostIP ?? '';
      const family = hostIP === '' ? 'any' : hostIP.includes(':') ? 'v6' : 'v4';
      const name: string = p.name || `${family}-${protocol}-${hostIP}:${p.containerPort}:${p.hostPort ?? 0}`;
      if (names.has(name)) continue;
      names.add(name);
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ containerPort: p.containerPort, hostPort: p.hostPort, protocol, ...(hostIP ? { hostIP } : {}) });
    }
  }
  return out;
}
