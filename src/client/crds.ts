/**
 * Installing CustomResourceDefinitions that Kite serves out of the box
 * (PodGroup, the Kubeflow training jobs, Kueue's queues) at start, so the
 * controllers and users find them served as soon as the control plane is
 * ready; elsewhere users install the same CRDs from the projects' manifests.
 */
import { isStatus, type Client, type ResourceRef } from './client.js';
import { jsonEqual } from '../controllers/controllerutil.js';

const CRDS: ResourceRef = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };

/** True if every field `want` sets has the same value in `have` (arrays element by element). */
function contains(have: unknown, want: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  if (want && typeof want === 'object') {
    if (!have || typeof have !== 'object') return false;
    return Object.entries(want).every(([k, v]) => contains((have as Record<string, unknown>)[k], v));
  }
  return jsonEqual(have, want);
}

/** True once the CRD's Established condition is True. */
function established(o: any): boolean {
  return (o?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
}

/**
 * Creates (or brings up to date) each CRD and resolves once all are
 * Established; an up-to-date CRD is left alone.
 */
export async function ensureCRDs(client: Client, crds: readonly Record<string, unknown>[], timeoutMs = 10_000): Promise<void> {
  const waiting = new Set<string>();
  let rv = '0';
  for (const want of crds as { metadata: { name: string }; spec: Record<string, unknown> }[]) {
    const name = want.metadata.name;
    let crd: any;
    try {
      crd = await client.get(CRDS, '', name);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    if (!crd) crd = await client.create(CRDS, '', want);
    else if (!contains(crd.spec, want.spec)) crd = await client.update(CRDS, '', { ...crd, spec: { ...crd.spec, ...want.spec } });
    if (!established(crd)) waiting.add(name);
    if (Number(crd.metadata.resourceVersion) > Number(rv)) rv = crd.metadata.resourceVersion;
  }
  if (waiting.size === 0) return;
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const seen = (o: any) => {
      if (established(o)) waiting.delete(o.metadata?.name);
      if (waiting.size === 0) finish();
    };
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void watch.then((w) => w.stop(), () => undefined);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`the CustomResourceDefinitions ${[...waiting].join(', ')} were not Established within ${timeoutMs / 1000} s`)), timeoutMs);
    const watch = client.watch(CRDS, '', { resourceVersion: rv }, (ev) => {
      if (ev.type !== 'ERROR') seen(ev.object);
    });
    // Established may have been written between the writes above and the watch.
    void watch.then(async () => {
      for (const name of [...waiting]) seen(await client.get(CRDS, '', name).catch(() => undefined));
    }, (e) => finish(e as Error));
  });
}
