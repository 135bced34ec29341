/** Installing the Kueue CustomResourceDefinitions at start (ResourceFlavor, ClusterQueue, LocalQueue, Workload). */
import type { Client } from '../../client/client.js';
import { ensureCRDs } from '../../client/crds.js';
import { kueueCRDs } from '../../api/kueue.js';

/** Installs the Kueue CRDs (ResourceFlavor, ClusterQueue, LocalQueue, Workload) and waits until they are served. */
export function ensureKueueCRDs(client: Client, timeoutMs = 10_000): Promise<void> {
  return ensureCRDs(client, kueueCRDs(), timeoutMs);
}
