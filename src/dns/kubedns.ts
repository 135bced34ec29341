/**
 * Where cluster DNS lives. The `kube-dns` Service in kube-system (as kubeadm
 * makes it: ports dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP, cluster IP
 * the 10th address of the service range) has no selector: every node agent
 * serves DNS itself on its pod bridge's gateway address and publishes that
 * address as an endpoint of the Service — an EndpointSlice of its own
 * (`kube-dns-<node>`, managed by `node-agent.kite.io`) and an entry in the
 * `kube-dns` Endpoints — and takes it back when it stops. The service proxy
 * sends the cluster IP to these endpoints like any Service's.
 */
import { createHash } from 'node:crypto';
import { R, isStatus, type Client } from '../client/client.js';
import { InformerFactory } from '../client/factory.js';
import { ENDPOINT_SLICES } from '../controllers/endpointsutil.js';
import { ClusterDns } from './server.js';

/** The cluster DNS Service. */
export const KUBE_DNS = { namespace: 'kube-system', name: 'kube-dns' } as const;
/** The managed-by value of the slices node agents publish. */
export const NODE_AGENT_MANAGER = 'node-agent.kite.io';
/** CoreDNS's Prometheus port. */
export const DNS_METRICS_PORT = 9153;
const LABELS = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true' };

/** kubeadm's default cluster DNS address: the 10th address of the service range (10.96.0.10 for 10.96.0.0/12). */
export function defaultClusterDnsIp(serviceCidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(serviceCidr.trim());
  if (!m) throw new Error(`invalid service CIDR ${JSON.stringify(serviceCidr)}`);
  const bits = Number(m[5]);
  const base = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const n = ((base & mask) >>> 0) + 10;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The `kube-dns` Service as the API server creates it at bootstrap. */
export function kubeDnsService(clusterIP: string): any {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: KUBE_DNS.name,
      namespace: KUBE_DNS.namespace,
      labels: { ...LABELS },
      annotations: { 'prometheus.io/port': String(DNS_METRICS_PORT), 'prometheus.io/scrape': 'true' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'metrics', port: DNS_METRICS_PORT, protocol: 'TCP', targetPort: DNS_METRICS_PORT },
      ],
      sessionAffinity: 'None',
    },
  };
}

/** The name of a node's `kube-dns` slice (hashed when `kube-dns-<node>` would be too long). */
export function nodeSliceName(nodeName: string): string {
  const name = `kube-dns-${nodeName}`;
  return name.length <= 253 ? name : `kube-dns-${createHash('sha256').update(nodeName).digest('hex').slice(0, 16)}`;
}

/** Configuration of a node's DNS. */
export interface NodeDnsConfig {
  client: Client;
  nodeName: string;
  /** The node's pod bridge gateway address, where DNS listens. */
  address: string;
  clusterDomain: string;
  /** The cluster DNS Service address (answers `ns.dns.<zone>`). */
  dnsIp?: string;
  /** The node's resolver file, whose nameservers get everything outside the cluster zone. */
  resolvConf: string;
  /** DNS port (default 53) and metrics port (default 9153); 0 picks free ones (tests). */
  port?: number;
  metricsPort?: number;
  log: (msg: string) => void;
  /** Informers shared with the rest of the node (default: its own, stopped with it). */
  informers?: InformerFactory;
}

/** A node's cluster DNS server and its entry among the `kube-dns` endpoints. */
export class NodeDns {
  private readonly informers: InformerFactory;
  readonly server: ClusterDns;
  private published = false;
  private stopped = false;
  private republish?: NodeJS.Timeout;

  constructor(private readonly cfg: NodeDnsConfig) {
    this.informers = cfg.informers ?? new InformerFactory(cfg.client);
    this.server = new ClusterDns({
      client: cfg.client,
      informers: this.informers,
      clusterDomain: cfg.clusterDomain,
      address: cfg.address,
      port: cfg.port ?? 53,
      resolvConf: cfg.resolvConf,
      dnsIp: cfg.dnsIp,
      metricsPort: cfg.metricsPort ?? DNS_METRICS_PORT,
      log: cfg.log,
    });
  }

  /** Serves DNS, then publishes this node's endpoint; resolves once both are done. */
  async start(): Promise<void> {
    // A slice of ours removed or changed by someone else is put back.
    this.informers.informer(ENDPOINT_SLICES).addHandlers({
      onUpdate: (_o, s) => this.maybeRepublish(s),
      onDelete: (s) => this.maybeRepublish(s),
    });
    await this.server.start();
    await this.publish();
  }

  /** Withdraws this node's endpoint and stops serving. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.republish);
    if (this.published) {
      await this.unpublish().catch((e) => this.cfg.log(`cluster DNS: withdrawing the kube-dns endpoint: ${(e as Error).message}`));
    }
    await this.server.stop();
    if (!this.cfg.informers) this.informers.stop();
  }

  private maybeRepublish(slice: any): void {
    if (this.stopped || !this.published || slice?.metadata?.namespace !== KUBE_DNS.namespace || slice?.metadata?.name !== nodeSliceName(this.cfg.nodeName)) return;
    const cur = this.informers.informer(ENDPOINT_SLICES).get(KUBE_DNS.namespace, nodeSliceName(this.cfg.nodeName));
    if (cur && JSON.stringify(cur.endpoints) === JSON.stringify(this.slice().endpoints)) return;
    clearTimeout(this.republish);
    this.republish = setTimeout(() => void this.publish().catch((e) => this.cfg.log(`cluster DNS: publishing the kube-dns endpoint: ${(e as Error).message}`)), 100);
  }

  private ports(): { name: string; port: number; protocol: string }[] {
    return [
      { name: 'dns', port: this.server.port, protocol: 'UDP' },
      { name: 'dns-tcp', port: this.server.port, protocol: 'TCP' },
      { name: 'metrics', port: this.server.metricsPort, protocol: 'TCP' },
    ];
  }

  private slice(svc?: any): any {
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: nodeSliceName(this.cfg.nodeName),
        namespace: KUBE_DNS.namespace,
        labels: { ...LABELS, 'kubernetes.io/service-name': KUBE_DNS.name, 'endpointslice.kubernetes.io/managed-by': NODE_AGENT_MANAGER },
        ...(svc?.metadata?.uid
          ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: KUBE_DNS.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }] }
          : {}),
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [this.cfg.address], conditions: { ready: true, serving: true, terminating: false }, nodeName: this.cfg.nodeName }],
      ports: this.ports(),
    };
  }

  /** Writes this node's slice and its address into the `kube-dns` Endpoints (retrying on conflicts). */
  private async publish(): Promise<void> {
    const { client } = this.cfg;
    const svc = await client.get(R.services, KUBE_DNS.namespace, KUBE_DNS.name).catch((e) => {
      if (isStatus(e, 404)) return undefined;
      throw e;
    });
    const want = this.slice(svc);
    await retryOnConflict(async () => {
      const cur = await client.get<any>(ENDPOINT_SLICES, KUBE_DNS.namespace, want.metadata.name).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e)));
      if (!cur) await client.create(ENDPOINT_SLICES, KUBE_DNS.namespace, want);
      else await client.update(ENDPOINT_SLICES, KUBE_DNS.namespace, { ...want, metadata: { ...cur.metadata, labels: want.metadata.labels, ownerReferences: want.metadata.ownerReferences } });
    });
    await this.editEndpoints((addresses) => [...addresses.filter((a) => a.ip !== this.cfg.address), { ip: this.cfg.address, nodeName: this.cfg.nodeName }]);
    this.published = true;
  }

  private async unpublish(): Promise<void> {
    await this.cfg.client.delete(ENDPOINT_SLICES, KUBE_DNS.namespace, nodeSliceName(this.cfg.nodeName)).catch((e) => {
      if (!isStatus(e, 404)) throw e;
    });
    await this.editEndpoints((addresses) => addresses.filter((a) => a.ip !== this.cfg.address));
    this.published = false;
  }

  /**
   * Read-modify-write of the `kube-dns` Endpoints: one subset with the
   * addresses of every node serving DNS. It is labelled skip-mirror, as the
   * API server labels the `kubernetes` Endpoints: the slices are written here.
   */
  private async editEndpoints(edit: (addresses: { ip: string; nodeName?: string }[]) => { ip: string; nodeName?: string }[]): Promise<void> {
    const { client } = this.cfg;
    await retryOnConflict(async () => {
      const cur = await client.get<any>(R.endpoints, KUBE_DNS.namespace, KUBE_DNS.name).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e)));
      const before = ((cur?.subsets ?? []) as any[]).flatMap((s) => (s?.addresses ?? []) as { ip: string; nodeName?: string }[]);
      const addresses = edit(before).sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
      const subsets = addresses.length ? [{ addresses, ports: this.ports() }] : undefined;
      const labels = { ...LABELS, 'endpointslice.kubernetes.io/skip-mirror': 'true' };
      if (!cur) {
        if (!subsets) return;
        await client.create(R.endpoints, KUBE_DNS.namespace, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: KUBE_DNS.name, namespace: KUBE_DNS.namespace, labels }, subsets });
        return;
      }
      const next = { ...cur, metadata: { ...cur.metadata, labels: { ...(cur.metadata?.labels ?? {}), ...labels } } };
      if (subsets) next.subsets = subsets;
      else delete next.subsets;
      await client.update(R.endpoints, KUBE_DNS.namespace, next);
    });
  }
}

/** Runs a read-modify-write until it does not conflict (client-go's retry.RetryOnConflict: 5 attempts). */
async function retryOnConflict(fn: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 5 || !(isStatus(e, 409))) throw e;
      await new Promise((r) => setTimeout(r, 10 * attempt));
    }
  }
}
