/**
 * Per-namespace defaults that pods rely on:
 *  - the service accounts controller (upstream pkg/controller/serviceaccount):
 *    every active namespace has a `default` ServiceAccount, recreated if deleted;
 *  - the root CA publisher (upstream pkg/controller/certificates/rootcacertpublisher):
 *    every active namespace has the `kube-root-ca.crt` ConfigMap holding the
 *    cluster CA under `ca.crt`, kept equal to the CA the controller was given.
 */
import { R, isStatus, type Client } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import { splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import type { ConfigMap, ServiceAccount } from '../api/generated/types.js';

/** Configuration of the service accounts controller. */
export interface ServiceAccountsControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Accounts every namespace gets (upstream default: just `default`). */
  accounts?: readonly string[];
}

/** Namespaces that are not terminating (upstream skips namespaces whose phase is not Active). */
function active(ns: any): boolean {
  return !!ns && !ns.metadata?.deletionTimestamp && (ns.status?.phase ?? 'Active') === 'Active';
}

/** Creates missing ServiceAccounts (`default`) in every active namespace. */
export class ServiceAccountsController {
  private readonly queue: WorkQueue;
  private namespaces!: Informer;
  private accounts!: Informer<ServiceAccount>;
  private readonly names: readonly string[];
  private stopped = false;

  constructor(private readonly config: ServiceAccountsControllerConfig) {
    this.names = config.accounts ?? ['default'];
    this.queue = new WorkQueue((ns) => this.reconcile(ns), { workers: 5, backoff: { baseMs: 50, maxMs: 60_000 } });
  }

  /** Registers handlers and waits for the caches. */
  async start(): Promise<void> {
    this.namespaces = this.config.informers.informer(R.namespaces);
    this.accounts = this.config.informers.informer<ServiceAccount>(R.serviceaccounts);
    const ns = (o: any) => !this.stopped && this.queue.add(o.metadata.name);
    this.namespaces.addHandlers({ onAdd: ns, onUpdate: (_o, n) => ns(n) });
    this.accounts.addHandlers({
      onDelete: (sa) => {
        if (!this.stopped && this.names.includes(sa.metadata?.name ?? '')) this.queue.add(sa.metadata?.namespace ?? '');
      },
    });
    await Promise.all([this.namespaces.start(), this.accounts.start()]);
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Ensures the namespace's accounts exist. */
  async reconcile(namespace: string): Promise<void> {
    if (!active(this.namespaces.get('', namespace))) return;
    for (const name of this.names) {
      if (this.accounts.get(namespace, name)) continue;
      try {
        await this.config.client.create(R.serviceaccounts, namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } satisfies ServiceAccount);
      } catch (e) {
        // Already there (the cache lags), or the namespace started terminating meanwhile.
        if (isStatus(e, 409) || isStatus(e, 403) || isStatus(e, 404)) continue;
        throw e;
      }
    }
  }
}

/** Name of the ConfigMap the root CA publisher maintains in every namespace (upstream RootCACertConfigMapName). */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** Annotation describing that ConfigMap, with upstream's text. */
const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. ' +
  'No other usage is guaranteed across distributions of Kubernetes clusters.';

/** Configuration of the root CA publisher. */
export interface RootCACertPublisherConfig {
  client: Client;
  informers: InformerFactory;
  /** The cluster CA certificate (PEM) published as `ca.crt`. */
  caPem: string;
}

/** Publishes the cluster CA as the `kube-root-ca.crt` ConfigMap in every active namespace. */
export class RootCACertPublisher {
  private readonly queue: WorkQueue;
  private namespaces!: Informer;
  private configmaps!: Informer<ConfigMap>;
  private stopped = false;

  constructor(private readonly config: RootCACertPublisherConfig) {
    this.queue = new WorkQueue((ns) => this.reconcile(ns), { workers: 5, backoff: { baseMs: 50, maxMs: 60_000 } });
  }

  /** Registers handlers and waits for the caches. */
  async start(): Promise<void> {
    this.namespaces = this.config.informers.informer(R.namespaces);
    this.configmaps = this.config.informers.informer<ConfigMap>(R.configmaps);
    const ns = (o: any) => !this.stopped && this.queue.add(o.metadata.name);
    const cm = (o: ConfigMap) => {
      if (!this.stopped && o.metadata?.name === ROOT_CA_CONFIGMAP) this.queue.add(o.metadata.namespace ?? '');
    };
    this.namespaces.addHandlers({ onAdd: ns, onUpdate: (_o, n) => ns(n) });
    this.configmaps.addHandlers({ onUpdate: (_o, n) => cm(n), onDelete: cm });
    await Promise.all([this.namespaces.start(), this.configmaps.start()]);
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Creates or repairs the namespace's `kube-root-ca.crt`. */
  async reconcile(key: string): Promise<void> {
    const { name: namespace } = splitKey(key);
    if (!active(this.namespaces.get('', namespace))) return;
    const data = { 'ca.crt': this.config.caPem };
    const cur = this.configmaps.get(namespace, ROOT_CA_CONFIGMAP);
    try {
      if (!cur) {
        await this.config.client.create(R.configmaps, namespace, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ROOT_CA_CONFIGMAP, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } },
          data,
        } satisfies ConfigMap);
        return;
      }
      const same = cur.data?.['ca.crt'] === data['ca.crt'] && Object.keys(cur.data ?? {}).length === 1 && !cur.binaryData;
      if (same && cur.metadata?.annotations?.[DESCRIPTION_ANNOTATION] === DESCRIPTION) return;
      // upstream: the data is replaced wholesale and the description annotation restored.
      const next = structuredClone(cur) as ConfigMap;
      next.data = data;
      delete next.binaryData;
      next.metadata = { ...next.metadata, annotations: { ...(next.metadata?.annotations ?? {}), [DESCRIPTION_ANNOTATION]: DESCRIPTION } };
      await this.config.client.update(R.configmaps, namespace, next);
    } catch (e) {
      if (isStatus(e, 409) || isStatus(e, 403) || isStatus(e, 404)) {
        // 409: a stale cache — look again once it catches up; 403/404: the namespace is going away.
        if (isStatus(e, 409)) throw e;
        return;
      }
      throw e;
    }
  }
}
