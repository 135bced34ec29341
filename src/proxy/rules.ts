/**
 * The service proxy's rules, as data: Services and EndpointSlices in, one
 * nftables transaction (the text `nft -f -` reads) out. No I/O here, so the
 * exact text can be tested.
 *
 * The layout follows kube-proxy's nftables mode (pkg/proxy/nftables): one
 * table of our own; base chains that jump to a `services` dispatch chain
 * (a verdict map keyed by destination IP . protocol . port); per service port
 * a policy chain that picks an endpoint with `numgen random mod N`; per
 * endpoint a chain that DNATs; session affinity with per-endpoint sets that
 * time out; filter chains that reject traffic to services without endpoints
 * and drop traffic to unallocated addresses of the service CIDR.
 */
import { createHash } from 'node:crypto';
import type { EndpointSlice, Service } from '../api/generated/types.js';
import { ipToNumber } from '../kubelet/runtime/network.js';

/** The label that ties an EndpointSlice to its Service (upstream discovery.LabelServiceName). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Services with this label are handled by another proxy (upstream's service.kubernetes.io/service-proxy-name). */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
/** ClientIP affinity timeout when the Service sets none (upstream DefaultClientIPServiceAffinitySeconds, 3 h). */
export const DEFAULT_AFFINITY_SECONDS = 10800;
/** The packet mark bit that asks for masquerading (kube-proxy's default --masquerade-bit 14). */
export const MASQUERADE_MARK = '0x4000';

/** Node-level facts the rules depend on. */
export interface ProxyRulesConfig {
  /** The nftables table (family ip) the proxy owns. */
  table: string;
  /** This node's name: endpoints with this nodeName are local (traffic policy Local). */
  nodeName: string;
  /** This node's primary addresses: NodePorts are served on them. */
  nodeIps: readonly string[];
  /** The pod network of the cluster: traffic from elsewhere to a ClusterIP is masqueraded. */
  clusterCidr: string;
  /** The service CIDR: traffic to an address in it that no Service holds is dropped. */
  serviceCidr: string;
  /** The node bridge the pods hang off (service traffic from a pod back onto it is masqueraded). */
  bridge: string;
  /**
   * Where NodePorts are served: `primary` (the default of kube-proxy's nftables mode: the
   * node IPs only) or `all` (every local address but 127.0.0.0/8, `fib daddr type local`).
   */
  nodePortAddresses?: 'primary' | 'all';
}

/** One port of a Service, as the proxy sees it (upstream BaseServicePortInfo). */
export interface ServicePortInfo {
  namespace: string;
  name: string;
  portName: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  clusterIp: string;
  port: number;
  /** 0 when the Service has none. */
  nodePort: number;
  externalIps: string[];
  /** status.loadBalancer.ingress IPs that are VIPs (ipMode Proxy ones are the load balancer's business). */
  loadBalancerIps: string[];
  loadBalancerSourceRanges: string[];
  /** ClientIP affinity timeout in seconds; undefined without affinity. */
  affinitySeconds?: number;
  internalPolicyLocal: boolean;
  externalPolicyLocal: boolean;
}

/** One endpoint of a service port (upstream BaseEndpointInfo). */
export interface EndpointInfo {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** On this node. */
  local: boolean;
}

/** Where a UDP service port is reached and which endpoints serve it (for clearing conntrack). */
export interface UdpServicePort {
  /** `ip:port` destinations, and `*:nodePort` for a NodePort on any node address. */
  destinations: string[];
  /** `ip:port` of the endpoints traffic is sent to. */
  endpoints: string[];
}

/** What the last transaction created that later ones may have to delete (service chains and affinity sets), and its UDP services. */
export interface AppliedState {
  chains: ReadonlySet<string>;
  sets: ReadonlySet<string>;
  /** By service port key. */
  udp: ReadonlyMap<string, UdpServicePort>;
}

/** A transaction and what the table holds once it is applied. */
export interface Transaction {
  script: string;
  state: AppliedState;
}

/** The key of a service port: `namespace/name:portName/protocol`. */
export function servicePortKey(namespace: string, name: string, portName: string, protocol: string): string {
  return `${namespace}/${name}:${portName}/${protocol}`;
}

/** True for a dotted IPv4 address. */
export function isIpv4(s: unknown): s is string {
  if (typeof s !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return false;
  try {
    ipToNumber(s);
    return true;
  } catch {
    return false;
  }
}

/** `a.b.c.d/n` (surrounding blanks allowed, as upstream tolerates in loadBalancerSourceRanges), or undefined. */
export function ipv4Cidr(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\S+)\/(\d{1,2})$/.exec(s.trim());
  return m && isIpv4(m[1]) && Number(m[2]) <= 32 ? `${m[1]}/${Number(m[2])}` : undefined;
}

function protocolOf(p: string | undefined): ServicePortInfo['protocol'] | undefined {
  const v = (p ?? 'TCP').toLowerCase();
  return v === 'tcp' || v === 'udp' || v === 'sctp' ? v : undefined;
}

function validPort(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
}

/**
 * The ports of a Service the proxy serves. None for headless and ExternalName
 * Services, for Services another proxy handles, and for non-IPv4 cluster IPs
 * (upstream ShouldSkipService).
 */
export function servicePortsOf(svc: Service): ServicePortInfo[] {
  const spec = svc.spec;
  const meta = svc.metadata ?? {};
  if (!spec || !meta.name || !meta.namespace) return [];
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName' || !isIpv4(spec.clusterIP)) return [];
  if (meta.labels?.[SERVICE_PROXY_NAME_LABEL] !== undefined) return [];
  const externalIps = (spec.externalIPs ?? []).filter(isIpv4);
  const isLb = type === 'LoadBalancer';
  const loadBalancerIps = isLb ? (svc.status?.loadBalancer?.ingress ?? []).filter((i) => isIpv4(i.ip) && i.ipMode !== 'Proxy').map((i) => i.ip!) : [];
  const loadBalancerSourceRanges = isLb ? (spec.loadBalancerSourceRanges ?? []).map(ipv4Cidr).filter((c): c is string => !!c) : [];
  // upstream apiservice.ExternallyAccessible / ExternalPolicyLocal.
  const externallyAccessible = isLb || type === 'NodePort' || externalIps.length > 0;
  let affinitySeconds: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    affinitySeconds = Number.isInteger(t) && t! > 0 ? t : DEFAULT_AFFINITY_SECONDS;
  }
  const out: ServicePortInfo[] = [];
  for (const p of spec.ports ?? []) {
    const protocol = protocolOf(p.protocol);
    if (!protocol || !validPort(p.port)) continue;
    out.push({
      namespace: meta.namespace,
      name: meta.name,
      portName: p.name ?? '',
      protocol,
      clusterIp: spec.clusterIP!,
      port: p.port,
      nodePort: (type === 'NodePort' || isLb) && validPort(p.nodePort) ? p.nodePort : 0,
      externalIps,
      loadBalancerIps,
      loadBalancerSourceRanges,
      affinitySeconds,
      internalPolicyLocal: spec.internalTrafficPolicy === 'Local',
      externalPolicyLocal: externallyAccessible && spec.externalTrafficPolicy === 'Local',
    });
  }
  return out;
}

/**
 * Endpoints per service port key from EndpointSlices (upstream EndpointSliceCache):
 * IPv4 slices only, the first address of each endpoint, ready unless it says
 * otherwise, serving as ready unless it says, terminating only when it says.
 * An address:port listed by several slices counts once (a ready listing wins).
 */
export function endpointsBySlices(slices: readonly EndpointSlice[], nodeName: string): Map<string, EndpointInfo[]> {
  const byKey = new Map<string, Map<string, EndpointInfo>>();
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const slice of sorted) {
    const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const ns = slice.metadata?.namespace;
    if (!svcName || !ns || slice.addressType !== 'IPv4') continue;
    for (const port of slice.ports ?? []) {
      const protocol = protocolOf(port.protocol);
      if (!protocol || !validPort(port.port)) continue;
      const key = servicePortKey(ns, svcName, port.name ?? '', protocol);
      let eps = byKey.get(key);
      if (!eps) byKey.set(key, (eps = new Map()));
      for (const ep of slice.endpoints ?? []) {
        const ip = ep.addresses?.[0];
        if (!isIpv4(ip)) continue;
        const ready = ep.conditions?.ready ?? true;
        const info: EndpointInfo = {
          ip,
          port: port.port,
          ready,
          serving: ep.conditions?.serving ?? ready,
          terminating: ep.conditions?.terminating ?? false,
          local: !!ep.nodeName && ep.nodeName === nodeName,
        };
        const id = `${ip}:${port.port}`;
        const seen = eps.get(id);
        if (!seen || (!seen.ready && info.ready)) eps.set(id, info);
      }
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [key, eps] of byKey) {
    out.set(key, [...eps.values()].sort((a, b) => ipToNumber(a.ip) - ipToNumber(b.ip) || a.port - b.port));
  }
  return out;
}

/**
 * Splits a service port's endpoints as upstream CategorizeEndpoints does
 * (without topology hints): ready endpoints, or serving-and-terminating ones
 * when none is ready, separately for Cluster and Local traffic policy.
 */
export function categorizeEndpoints(
  eps: readonly EndpointInfo[],
  svc: ServicePortInfo,
): { cluster: EndpointInfo[]; local: EndpointInfo[]; reachable: EndpointInfo[]; hasAny: boolean } {
  const accessible = externallyAccessible(svc);
  // Externally reachable ports need the Cluster endpoints even under Local policy: pods and
  // the node itself short-circuit to them (upstream UsesClusterEndpoints).
  const usesCluster = !svc.internalPolicyLocal || accessible;
  const usesLocal = svc.internalPolicyLocal || (accessible && svc.externalPolicyLocal);
  const usable = (list: readonly EndpointInfo[]) => {
    const ready = list.filter((e) => e.ready);
    return ready.length ? ready : list.filter((e) => e.serving && e.terminating);
  };
  const cluster = usesCluster ? usable(eps) : [];
  const local = usesLocal ? usable(eps.filter((e) => e.local)) : [];
  const hasAny = cluster.length > 0 || (usesLocal && eps.some((e) => e.ready || (e.serving && e.terminating)));
  const reachable = [...cluster];
  for (const e of local) if (!reachable.includes(e)) reachable.push(e);
  return { cluster, local, reachable, hasAny };
}

function externallyAccessible(svc: ServicePortInfo): boolean {
  return svc.nodePort !== 0 || svc.loadBalancerIps.length > 0 || svc.externalIps.length > 0;
}

/** 8 hex digits of a name's SHA-256: keeps chain names unique and tells look-alike ones apart. */
function hash8(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** Characters an nftables chain or set name may hold; anything else (never in a valid object name) becomes `_`. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_./-]/g, '_');
}

/** Printable text only: a newline in a name must not start a new nft command. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_');
}

/** A comment for nft: quotes and backslashes cannot appear inside one. */
function comment(s: string): string {
  return `comment "${printable(s).replace(/["\\]/g, '_')}"`;
}

/**
 * `<hash>-<readable name>`: the hash is of the name as given, so names that only differ in
 * characters nft does not allow stay apart, and long names are cut (nft names hold 256 bytes).
 */
function tagged(name: string): string {
  const readable = safe(name);
  return `${hash8(name)}-${readable.length > 200 ? `${readable.slice(0, 197)}...` : readable}`;
}

/** Chain and set names of one service port (upstream servicePortChainNameBase and friends, own hash). */
function namesOf(svc: ServicePortInfo) {
  const base = `${svc.namespace}/${svc.name}/${svc.protocol}/${svc.portName}`;
  const tag = tagged(base);
  return {
    service: `service-${tag}`,
    local: `local-${tag}`,
    external: `external-${tag}`,
    firewall: `firewall-${tag}`,
    endpoint: (ep: EndpointInfo) => `endpoint-${tagged(`${base}__${ep.ip}/${ep.port}`)}`,
    // The timeout is part of the hash: a changed timeout makes a new set (nft will not change it in place).
    affinity: (ep: EndpointInfo) => {
      const n = `${base}__${ep.ip}/${ep.port}`;
      return `affinity-${hash8(`${n}/${svc.affinitySeconds}`)}-${tagged(n).slice(9)}`;
    },
  };
}

const BASE_CHAINS: readonly [name: string, type: 'filter' | 'nat', hook: string, priority: number][] = [
  // Firewall (loadBalancerSourceRanges) looks at the destination before DNAT.
  ['filter-prerouting-pre-dnat', 'filter', 'prerouting', -110],
  ['filter-output-pre-dnat', 'filter', 'output', -110],
  ['filter-forward', 'filter', 'forward', 0],
  ['filter-input', 'filter', 'input', 0],
  ['filter-output', 'filter', 'output', 0],
  ['nat-prerouting', 'nat', 'prerouting', -100],
  ['nat-output', 'nat', 'output', -100],
  ['nat-postrouting', 'nat', 'postrouting', 100],
];

const FIXED_CHAINS = ['services', 'service-endpoints-check', 'nodeport-endpoints-check', 'cluster-ips-check', 'firewall-check', 'mark-for-masquerade', 'masquerading', 'reject-chain'];

/**
 * The transaction that makes the table match `services` and `slices`. With
 * `previous` (what the last successful transaction left), chains are flushed
 * and refilled in place, so the affinity sets and their entries survive, and
 * chains and sets no longer used are deleted; without it the table is
 * deleted and built from nothing. Either way one `nft -f` applies it
 * atomically.
 */
export function buildTransaction(cfg: ProxyRulesConfig, services: readonly Service[], slices: readonly EndpointSlice[], previous?: AppliedState): Transaction {
  const t = `ip ${cfg.table}`;
  const lines: string[] = [];
  const add = (s: string) => lines.push(s);
  const chain = (name: string, spec = '') => {
    add(`add chain ${t} ${name}${spec}`);
    add(`flush chain ${t} ${name}`);
  };
  const rule = (ch: string, r: string) => add(`add rule ${t} ${ch} ${r}`);

  add(`add table ${t} { ${comment('rules of the kite service proxy')} ; }`);
  if (!previous) {
    add(`delete table ${t}`);
    add(`add table ${t} { ${comment('rules of the kite service proxy')} ; }`);
  }
  for (const [name, type, hook, prio] of BASE_CHAINS) chain(name, ` { type ${type} hook ${hook} priority ${prio} ; }`);
  for (const name of FIXED_CHAINS) chain(name);

  const primary = (cfg.nodePortAddresses ?? 'primary') === 'primary';
  add(`add set ${t} cluster-ips { type ipv4_addr ; ${comment('active ClusterIPs')} ; }`);
  add(`flush set ${t} cluster-ips`);
  if (primary) {
    add(`add set ${t} nodeport-ips { type ipv4_addr ; ${comment('IPs that accept NodePort traffic')} ; }`);
    add(`flush set ${t} nodeport-ips`);
  }
  const maps: [string, string, string][] = [
    ['service-ips', 'ipv4_addr . inet_proto . inet_service', 'ClusterIP, ExternalIP and LoadBalancer IP traffic'],
    ['service-nodeports', 'inet_proto . inet_service', 'NodePort traffic'],
    ['no-endpoint-services', 'ipv4_addr . inet_proto . inet_service', 'services without endpoints: reject or drop'],
    ['no-endpoint-nodeports', 'inet_proto . inet_service', 'NodePorts without endpoints: reject or drop'],
    ['firewall-ips', 'ipv4_addr . inet_proto . inet_service', 'destinations subject to loadBalancerSourceRanges'],
  ];
  for (const [name, key, what] of maps) {
    add(`add map ${t} ${name} { type ${key} : verdict ; ${comment(what)} ; }`);
    add(`flush map ${t} ${name}`);
  }

  // Filtering: only new connections; DNATed ones have a pod address by now (priority 0 is after DNAT).
  rule('filter-prerouting-pre-dnat', 'ct state new jump firewall-check');
  rule('filter-output-pre-dnat', 'ct state new jump firewall-check');
  rule('filter-forward', 'ct state new jump service-endpoints-check');
  rule('filter-forward', 'ct state new jump cluster-ips-check');
  rule('filter-input', 'ct state new jump nodeport-endpoints-check');
  rule('filter-input', 'ct state new jump service-endpoints-check');
  rule('filter-output', 'ct state new jump service-endpoints-check');
  rule('filter-output', 'ct state new jump cluster-ips-check');
  rule('nat-prerouting', 'jump services');
  rule('nat-output', 'jump services');
  rule('nat-postrouting', 'jump masquerading');
  const nodePortMatch = primary ? 'ip daddr @nodeport-ips' : 'fib daddr type local ip daddr != 127.0.0.0/8';
  rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips');
  rule('services', `${nodePortMatch} meta l4proto . th dport vmap @service-nodeports`);
  rule('service-endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services');
  rule('nodeport-endpoints-check', `${nodePortMatch} meta l4proto . th dport vmap @no-endpoint-nodeports`);
  // upstream: a ClusterIP on a port it does not serve is refused; an address of the range no
  // Service holds is dropped — either way service-range traffic never leaves the node.
  rule('cluster-ips-check', `ip daddr @cluster-ips goto reject-chain ${comment('reject traffic to invalid ports of ClusterIPs')}`);
  rule('cluster-ips-check', `ip daddr ${cfg.serviceCidr} drop ${comment('drop traffic to unallocated ClusterIPs')}`);
  rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips');
  rule('mark-for-masquerade', `mark set mark or ${MASQUERADE_MARK}`);
  // Pod → service → pod on the same bridge: the backend answers the client directly over
  // the bridge, bypassing the conntrack entry that would undo the DNAT, unless the host
  // passes bridged traffic through netfilter (br_netfilter, bridge-nf-call-iptables=1,
  // which kube-proxy requires and Kite does not set). Masquerading to the bridge address
  // makes the reply come back through the node either way; the cost is that such
  // backends see the node's bridge address instead of the client pod's.
  rule('masquerading', `ct status dnat ip saddr ${cfg.clusterCidr} oifname "${safe(cfg.bridge)}" masquerade fully-random ${comment('pod to service to pod on the same bridge')}`);
  rule('masquerading', `mark and ${MASQUERADE_MARK} == 0 return`);
  rule('masquerading', `mark set mark xor ${MASQUERADE_MARK}`);
  rule('masquerading', 'masquerade fully-random');
  // A TCP reset rather than ICMP for TCP: the kernel rate-limits ICMP errors per peer
  // (net.ipv4.icmp_ratelimit), which would turn a burst of refusals into 1 s waits.
  rule('reject-chain', 'meta l4proto tcp reject with tcp reset');
  rule('reject-chain', 'reject');
  if (primary) {
    const ips = [...new Set(cfg.nodeIps.filter(isIpv4))];
    if (ips.length) add(`add element ${t} nodeport-ips { ${ips.join(', ')} }`);
  }

  const chains = new Set<string>();
  const sets = new Set<string>();
  const udp = new Map<string, UdpServicePort>();
  const clusterIps = new Set<string>();
  // A destination may be claimed once per map; the first Service (by namespace/name) keeps it.
  const taken = new Set<string>();
  const element = (map: string, key: string, verdict: string, note?: string) => {
    if (taken.has(`${map} ${key}`)) return;
    taken.add(`${map} ${key}`);
    add(`add element ${t} ${map} { ${key}${note ? ` ${comment(note)}` : ''} : ${verdict} }`);
  };

  const ports = services.flatMap(servicePortsOf).sort((a, b) => {
    const ka = `${a.namespace}/${a.name}/${a.protocol}/${a.portName}`;
    const kb = `${b.namespace}/${b.name}/${b.protocol}/${b.portName}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const endpoints = endpointsBySlices(slices, cfg.nodeName);

  for (const svc of ports) {
    const key = servicePortKey(svc.namespace, svc.name, svc.portName, svc.protocol);
    const label = `${svc.namespace}/${svc.name}${svc.portName ? `:${svc.portName}` : ''}`;
    const n = namesOf(svc);
    const { cluster, local, reachable, hasAny } = categorizeEndpoints(endpoints.get(key) ?? [], svc);
    const usesClusterChain = cluster.length > 0;
    const usesLocalChain = local.length > 0;
    const internalChain = svc.internalPolicyLocal ? n.local : n.service;
    const hasInternal = hasAny && (!svc.internalPolicyLocal || usesLocalChain);
    const externalPolicyChain = svc.externalPolicyLocal ? n.local : n.service;
    const hasExternal = hasAny && (!svc.externalPolicyLocal || usesLocalChain);
    const usesExternalChain = hasAny && externallyAccessible(svc);
    const usesFirewall = svc.loadBalancerIps.length > 0 && svc.loadBalancerSourceRanges.length > 0;
    // No endpoints at all: refuse (the client learns at once); none for this policy: drop.
    const noEndpointVerdict = hasAny ? 'drop' : 'goto reject-chain';
    const dport = `${svc.protocol} . ${svc.port}`;

    add(`# ${printable(label)} (${svc.protocol})`);
    const blockChains: string[] = [];
    if (usesClusterChain) blockChains.push(n.service);
    if (usesLocalChain) blockChains.push(n.local);
    if (usesExternalChain) blockChains.push(n.external);
    if (usesFirewall) blockChains.push(n.firewall);
    for (const ep of reachable) blockChains.push(n.endpoint(ep));
    for (const c of blockChains) {
      chain(c);
      chains.add(c);
    }
    if (svc.affinitySeconds !== undefined) {
      for (const ep of reachable) {
        const s = n.affinity(ep);
        add(`add set ${t} ${s} { type ipv4_addr ; flags dynamic,timeout ; timeout ${svc.affinitySeconds}s ; }`);
        sets.add(s);
      }
    }

    // Traffic from outside the pod network to a ClusterIP may have come through another
    // node (a route to the service CIDR): masquerade it so the reply returns the same way.
    if (hasInternal) rule(internalChain, `ip daddr ${svc.clusterIp} ip saddr != ${cfg.clusterCidr} jump mark-for-masquerade`);
    if (usesExternalChain) {
      if (!svc.externalPolicyLocal) {
        // Cluster policy: the endpoint may be anywhere, so the source is rewritten.
        rule(n.external, 'jump mark-for-masquerade');
      } else {
        // Local policy keeps client addresses; pods and the node itself are not subject to it (upstream).
        rule(n.external, `ip saddr ${cfg.clusterCidr} goto ${n.service} ${comment('short-circuit pod traffic')}`);
        rule(n.external, `fib saddr type local jump mark-for-masquerade ${comment('masquerade local traffic')}`);
        rule(n.external, `fib saddr type local goto ${n.service} ${comment('short-circuit local traffic')}`);
      }
      if (hasExternal) rule(n.external, `goto ${externalPolicyChain}`);
    }
    if (usesFirewall) {
      const allowed = [...svc.loadBalancerSourceRanges];
      rule(n.firewall, `ip saddr != { ${allowed.join(', ')} } drop`);
    }
    const toEndpoints = (ch: string, eps: EndpointInfo[]) => {
      if (svc.affinitySeconds !== undefined) for (const ep of eps) rule(ch, `ip saddr @${n.affinity(ep)} goto ${n.endpoint(ep)}`);
      rule(ch, `numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${n.endpoint(ep)}`).join(' , ')} }`);
    };
    if (usesClusterChain) toEndpoints(n.service, cluster);
    if (usesLocalChain) toEndpoints(n.local, local);
    for (const ep of reachable) {
      const c = n.endpoint(ep);
      // A pod reaching itself through its Service must see the reply come from the service address.
      rule(c, `ip saddr ${ep.ip} jump mark-for-masquerade`);
      if (svc.affinitySeconds !== undefined) rule(c, `update @${n.affinity(ep)} { ip saddr }`);
      rule(c, `meta l4proto ${svc.protocol} dnat to ${ep.ip}:${ep.port}`);
    }

    if (svc.protocol === 'udp') {
      udp.set(key, {
        destinations: [svc.clusterIp, ...svc.externalIps, ...svc.loadBalancerIps].map((ip) => `${ip}:${svc.port}`).concat(svc.nodePort ? [`*:${svc.nodePort}`] : []),
        endpoints: reachable.map((ep) => `${ep.ip}:${ep.port}`),
      });
    }
    if (!clusterIps.has(svc.clusterIp)) {
      clusterIps.add(svc.clusterIp);
      add(`add element ${t} cluster-ips { ${svc.clusterIp} }`);
    }
    if (hasInternal) element('service-ips', `${svc.clusterIp} . ${dport}`, `goto ${internalChain}`);
    else element('no-endpoint-services', `${svc.clusterIp} . ${dport}`, noEndpointVerdict, label);
    for (const ip of [...svc.externalIps, ...svc.loadBalancerIps]) {
      if (usesExternalChain) element('service-ips', `${ip} . ${dport}`, `goto ${n.external}`);
      if (!hasExternal) element('no-endpoint-services', `${ip} . ${dport}`, noEndpointVerdict, label);
    }
    if (usesFirewall) for (const ip of svc.loadBalancerIps) element('firewall-ips', `${ip} . ${dport}`, `goto ${n.firewall}`, label);
    if (svc.nodePort) {
      if (usesExternalChain) element('service-nodeports', `${svc.protocol} . ${svc.nodePort}`, `goto ${n.external}`);
      if (!hasExternal) element('no-endpoint-nodeports', `${svc.protocol} . ${svc.nodePort}`, noEndpointVerdict, label);
    }
  }

  // What the last transaction made and this one does not use goes, once nothing refers to it.
  if (previous) {
    const staleChains = [...previous.chains].filter((c) => !chains.has(c)).sort();
    const staleSets = [...previous.sets].filter((s) => !sets.has(s)).sort();
    if (staleChains.length || staleSets.length) add('# no longer used');
    for (const c of staleChains) add(`flush chain ${t} ${c}`);
    for (const c of staleChains) add(`delete chain ${t} ${c}`);
    for (const s of staleSets) add(`delete set ${t} ${s}`);
  }
  return { script: `${lines.join('\n')}\n`, state: { chains, sets, udp } };
}

/**
 * The UDP flows to forget after a sync (`conntrack -D` arguments), as upstream's
 * conntrack cleanup does: UDP has no end, so a conntrack entry keeps sending a
 * client's datagrams where the first one went. Flows to a service port that
 * had no endpoint and now has one (they were refused or dropped, un-NATed),
 * and flows answered by an endpoint that no longer serves the port, go.
 */
export function conntrackDeletions(previous: ReadonlyMap<string, UdpServicePort> | undefined, next: ReadonlyMap<string, UdpServicePort>): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  const flows = (dest: string, replySrc?: string) => {
    const [ip, port] = dest.split(':') as [string, string];
    const args = ['-D', '-p', 'udp', ...(ip === '*' ? [] : ['--orig-dst', ip]), '--orig-port-dst', port, ...(replySrc ? ['--reply-src', replySrc] : [])];
    const id = args.join(' ');
    if (!seen.has(id)) {
      seen.add(id);
      out.push(args);
    }
  };
  for (const [key, now] of next) {
    const before = previous?.get(key);
    if (now.endpoints.length > 0 && !before?.endpoints.length) for (const d of now.destinations) flows(d);
  }
  for (const [key, before] of previous ?? []) {
    const now = next.get(key);
    const gone = before.endpoints.filter((e) => !now?.endpoints.includes(e));
    for (const e of gone) for (const d of before.destinations) flows(d, e.split(':')[0]);
  }
  return out;
}

/** The transaction that removes the table (and succeeds when it is already gone). */
export function deleteTableScript(table: string): string {
  return `add table ip ${table}\ndelete table ip ${table}\n`;
}
