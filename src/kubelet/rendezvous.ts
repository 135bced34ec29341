/**
 * Rendezvous readiness: a pod annotated `kite.io/wait-for-service: <name>`
 * starts none of its containers until the Service of that name in its
 * namespace has a ready endpoint. The training operator gives it to the
 * workers of a job, naming the master's Service: the workers' containers
 * start once the master can be reached, with no DNS loop in the pod and no
 * polling — the node learns of the endpoint from its EndpointSlice watch.
 * Only a pod's first start waits; restarted containers do not.
 */
import type { Informer, Lister } from '../client/informer.js';

/** The annotation naming the Service whose ready endpoint a pod waits for. */
export const WAIT_FOR_SERVICE_ANNOTATION = 'kite.io/wait-for-service';

/** upstream discovery/v1 LabelServiceName: the Service an EndpointSlice belongs to. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The Service a pod waits for, when it names one. */
export function waitedService(pod: any): string | undefined {
  const name = pod?.metadata?.annotations?.[WAIT_FOR_SERVICE_ANNOTATION];
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** Whether any EndpointSlice of the Service holds a ready endpoint (upstream: a nil `ready` counts as ready). */
export function hasReadyEndpoint(slices: Lister<any>, namespace: string, service: string): boolean {
  return slices
    .list(namespace, (s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === service)
    .some((s) => (s.endpoints ?? []).some((e: any) => e?.conditions?.ready !== false));
}

/**
 * Holds pods until their Service has a ready endpoint, and hands them back
 * to the pod workers (`release`) when a slice of that Service changes.
 */
export class RendezvousGate {
  /** `<namespace>/<service>` → keys of the pods waiting for it. */
  private readonly waiting = new Map<string, Set<string>>();

  constructor(
    private readonly slices: Informer<any>,
    private readonly release: (podKey: string) => void,
  ) {
    const changed = (s: any) => this.onSlice(s);
    slices.addHandlers({ onAdd: changed, onUpdate: (_o, s) => changed(s), onDelete: changed });
  }

  /**
   * Whether the pod may start now; if not, it is remembered and released
   * at the next change to one of the Service's slices.
   */
  ready(podKey: string, namespace: string, service: string): boolean {
    const key = `${namespace}/${service}`;
    if (hasReadyEndpoint(this.slices, namespace, service)) {
      this.forget(podKey, key);
      return true;
    }
    let set = this.waiting.get(key);
    if (!set) this.waiting.set(key, (set = new Set()));
    set.add(podKey);
    return false;
  }

  /** Stops holding a pod (it was deleted or released). */
  forget(podKey: string, serviceKey?: string): void {
    for (const [key, set] of serviceKey ? [[serviceKey, this.waiting.get(serviceKey)] as const] : this.waiting) {
      if (!set?.delete(podKey) || set.size > 0) continue;
      this.waiting.delete(key);
    }
  }

  private onSlice(slice: any): void {
    const service = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!service) return;
    const key = `${slice.metadata?.namespace}/${service}`;
    const pods = this.waiting.get(key);
    if (!pods) return;
    // Each released pod checks again in its sync, and waits again if the endpoint is still not ready.
    this.waiting.delete(key);
    for (const p of pods) this.release(p);
  }
}
