/**
 * The service load balancer, as k3s's ServiceLB (klipper-lb) does it: a
 * Service of type LoadBalancer is exposed on the nodes themselves. This
 * controller writes the addresses of the Ready nodes into
 * `status.loadBalancer.ingress` (ipMode VIP, so `kubectl get svc` shows an
 * EXTERNAL-IP), and every node's service proxy serves the Service's ports
 * on those addresses. A port can be served on a node once: a LoadBalancer
 * Service asking for a port an older one holds stays pending, as a k3s
 * svclb pod whose host port is taken does. Services with a
 * loadBalancerClass belong to another implementation and are left alone.
 */
import { R, type Client } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import type { LoadBalancerIngress, Node, Service } from '../api/generated/types.js';
import { deepEqual } from '../util/json.js';
import { HOLLOW_LABEL } from '../kubelet/hollow.js';

/** Configuration of the ServiceLBController. */
export interface ServiceLBControllerConfig {
  client: Client;
  informers: InformerFactory;
  /** Concurrent reconciles (default 2). */
  workers?: number;
}

/** Whether a Service is one this controller serves. */
function isOurs(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && !svc.spec.loadBalancerClass;
}

/** The address a node is reached at: its ExternalIP, else its InternalIP (as k3s picks). */
function nodeAddress(node: Node): string | undefined {
  const addrs = node.status?.addresses ?? [];
  return addrs.find((a) => a.type === 'ExternalIP')?.address ?? addrs.find((a) => a.type === 'InternalIP')?.address;
}

/** Ready, not being deleted, and a real node (hollow ones only simulate scale). */
function servesLoadBalancers(node: Node): boolean {
  if (node.metadata?.deletionTimestamp || node.metadata?.labels?.[HOLLOW_LABEL] !== undefined) return false;
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** `protocol/port` of every port of a Service. */
function portKeys(svc: Service): string[] {
  return (svc.spec?.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`);
}

/**
 * Who holds a port when several ask for it: those already given ingress first (a newcomer
 * never displaces one), then older first, then by namespace/name.
 */
function holderFirst(a: Service, b: Service): number {
  const ia = a.status?.loadBalancer?.ingress?.length ? 0 : 1;
  const ib = b.status?.loadBalancer?.ingress?.length ? 0 : 1;
  if (ia !== ib) return ia - ib;
  const ta = a.metadata?.creationTimestamp ?? '';
  const tb = b.metadata?.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = objectKey(a);
  const kb = objectKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Keeps the ingress of LoadBalancer Services at the addresses of the nodes that serve them. */
export class ServiceLBController {
  private readonly services: Informer<Service>;
  private readonly nodes: Informer<Node>;
  private readonly queue: WorkQueue;
  private stopped = false;

  constructor(private readonly cfg: ServiceLBControllerConfig) {
    this.services = cfg.informers.informer<Service>(R.services);
    this.nodes = cfg.informers.informer<Node>(R.nodes);
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: cfg.workers ?? 2 });
  }

  /** Registers handlers and returns once Services and Nodes are cached. */
  async start(): Promise<void> {
    this.services.addHandlers({
      onAdd: (s) => this.serviceChanged(undefined, s),
      onUpdate: (o, s) => this.serviceChanged(o, s),
      onDelete: (s) => this.serviceChanged(s, undefined),
    });
    const view = (n: Node) => ({ address: nodeAddress(n), serves: servesLoadBalancers(n) });
    this.nodes.addHandlers({
      onAdd: () => this.enqueueAll(),
      // Heartbeats rewrite node status every few seconds; only address or readiness changes matter.
      onUpdate: (o, n) => {
        if (!deepEqual(view(o), view(n))) this.enqueueAll();
      },
      onDelete: () => this.enqueueAll(),
    });
    await Promise.all([this.services.start(), this.nodes.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's to stop). */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when no reconcile is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private serviceChanged(old: Service | undefined, svc: Service | undefined): void {
    if (this.stopped) return;
    if (svc) this.queue.add(objectKey(svc));
    // Ports held or released by one LoadBalancer Service decide whether others get theirs.
    const portsMoved = (old && isOurs(old)) !== (svc && isOurs(svc)) || (svc && isOurs(svc) && !deepEqual(portKeys(old ?? svc), portKeys(svc)));
    if (portsMoved) this.enqueueAll();
  }

  private enqueueAll(): void {
    if (this.stopped) return;
    for (const s of this.services.list(undefined, isOurs)) this.queue.add(objectKey(s));
  }

  /** The ingress a Service should have: the serving nodes' addresses, unless an older Service holds one of its ports. */
  private desiredIngress(svc: Service): LoadBalancerIngress[] {
    const held = new Set<string>();
    for (const other of this.services.list(undefined, isOurs).sort(holderFirst)) {
      const keys = portKeys(other);
      const blocked = keys.some((k) => held.has(k));
      if (other === svc || objectKey(other) === objectKey(svc)) {
        if (blocked) return [];
        break;
      }
      if (!blocked) for (const k of keys) held.add(k);
    }
    const ips = new Set<string>();
    for (const node of this.nodes.list()) {
      const ip = servesLoadBalancers(node) ? nodeAddress(node) : undefined;
      if (ip) ips.add(ip);
    }
    return [...ips].sort().map((ip) => ({ ip, ipMode: 'VIP' }));
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    if (!svc || svc.spec?.loadBalancerClass) return;
    const current = svc.status?.loadBalancer?.ingress ?? [];
    // A Service that stops being a LoadBalancer loses its ingress (upstream service controller).
    const desired = isOurs(svc) ? this.desiredIngress(svc) : [];
    if (deepEqual(current, desired)) return;
    await this.cfg.client.patch(R.services, namespace, name, 'merge', { status: { loadBalancer: { ingress: desired.length ? desired : null } } }, { subresource: 'status' });
  }
}
