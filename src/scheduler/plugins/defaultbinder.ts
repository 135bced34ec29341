/** DefaultBinder: binds a pod through the pods/binding subresource (upstream plugins/defaultbinder). */
import { R, type Client } from '../../client/client.js';
import { SUCCESS, errorStatus, type FrameworkHandle, type Plugin } from '../framework.js';

/** The plugin's registered name. */
export const NAME = 'DefaultBinder';

/** POSTs a Binding of the pod to the node. */
export async function bindPod(client: Client, namespace: string, name: string, uid: string | undefined, nodeName: string): Promise<void> {
  await client.create(
    R.pods,
    namespace,
    { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid }, target: { kind: 'Node', name: nodeName } },
    { subresource: 'binding' },
  );
}

/** Builds the plugin. */
export function defaultBinder(handle: FrameworkHandle): Plugin {
  return {
    name: NAME,
    async bind(_state, pod, nodeName) {
      try {
        await bindPod(handle.client, pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', pod.metadata?.uid, nodeName);
        return SUCCESS;
      } catch (e) {
        return errorStatus(e instanceof Error ? e.message : String(e));
      }
    },
  };
}
