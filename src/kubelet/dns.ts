/**
 * A pod's DNS settings (upstream pkg/kubelet/network/dns Configurer.GetPodDNS):
 * the resolv.conf its containers see, from its dnsPolicy and dnsConfig and
 * the node's --cluster-dns, --cluster-domain and --resolv-conf.
 *
 * - ClusterFirst (and ClusterFirstWithHostNet): the cluster DNS as the only
 *   nameserver, search `<ns>.svc.<domain> svc.<domain> <domain>` then the
 *   node's search domains, `options ndots:5`. A host-network pod with
 *   ClusterFirst gets Default instead; without --cluster-dns, ClusterFirst
 *   falls back to Default with a MissingClusterDNS event.
 * - Default: the node's resolv.conf.
 * - None: only what dnsConfig says.
 * - dnsConfig is merged in (duplicates dropped; options by name, the pod's
 *   value winning), then cut to 3 nameservers and 32 search domains of at
 *   most 2048 characters, with a DNSConfigForming event when something is cut.
 */
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { formatResolvConf, readResolvConf, type ResolvConf } from '../dns/resolvconf.js';

/** upstream validation.MaxDNSNameservers. */
export const MAX_DNS_NAMESERVERS = 3;
/** upstream validation.MaxDNSSearchPaths (ExpandedDNSConfig, GA in 1.28). */
export const MAX_DNS_SEARCH_PATHS = 32;
/** upstream validation.MaxDNSSearchListChars (ExpandedDNSConfig). */
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
/** A search domain longer than a DNS subdomain makes some resolvers (glibc 2.28) abort; upstream drops it. */
const MAX_SEARCH_LENGTH = 253;

/** The node's DNS settings (kubelet flags). */
export interface NodeDnsSettings {
  /** --cluster-dns: the cluster DNS addresses (empty: ClusterFirst pods fall back to Default). */
  clusterDns: readonly string[];
  /** --cluster-domain, e.g. `cluster.local` ('' for none). */
  clusterDomain: string;
  /** --resolv-conf: the node's resolver file ('' for none). */
  resolvConf: string;
  /** The node's IPs (for the localhost nameserver used when --resolv-conf is ''). */
  nodeIps?: readonly string[];
}

/** Reports a Warning event: `node` ones go on the Node, the rest on the pod. */
export type DnsWarning = (reason: string, message: string, on?: 'pod' | 'node') => void;

/**
 * The resolver file the node agent uses by default, as kubeadm picks it:
 * with systemd-resolved the stub at 127.0.0.53 is unreachable from a pod's
 * network, so its upstream list (/run/systemd/resolve/resolv.conf) is used.
 */
export function defaultResolvConf(): string {
  const stub = readResolvConf('/etc/resolv.conf');
  const alt = '/run/systemd/resolve/resolv.conf';
  if (stub.nameservers.length > 0 && stub.nameservers.every((n) => n.startsWith('127.')) && existsSync(alt)) return alt;
  return '/etc/resolv.conf';
}

function omitDuplicates(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** upstream mergeDNSOptions: by option name, dnsConfig's values winning; `name` or `name:value`. */
function mergeOptions(existing: readonly string[], extra: readonly { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i >= 0) byName.set(op.slice(0, i), op.slice(i + 1));
    else byName.set(op, '');
  }
  for (const op of extra) byName.set(op.name ?? '', op.value ?? '');
  return [...byName].map(([k, v]) => (v ? `${k}:${v}` : k));
}

/** upstream getPodDNSType. */
function dnsType(pod: any): 'cluster' | 'host' | 'none' {
  switch (pod?.spec?.dnsPolicy) {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'Default':
      return 'host';
    case 'ClusterFirst':
    default:
      // A host-network pod with ClusterFirst uses the node's DNS (upstream falls through to Default).
      return pod?.spec?.hostNetwork ? 'host' : 'cluster';
  }
}

/** upstream formDNSSearchFitsLimits. */
function fitSearches(searches: string[], warn: DnsWarning): string[] {
  let cut = false;
  let list = searches;
  if (list.length > MAX_DNS_SEARCH_PATHS) {
    list = list.slice(0, MAX_DNS_SEARCH_PATHS);
    cut = true;
  }
  const kept = list.filter((s) => s.length <= MAX_SEARCH_LENGTH);
  if (kept.length !== list.length) cut = true;
  list = kept;
  const lineLength = list.join(' ').length;
  if (lineLength > MAX_DNS_SEARCH_LIST_CHARS) {
    let removed = 0;
    let removedLen = 0;
    for (let i = list.length - 1; i >= 0; i--) {
      removedLen += list[i]!.length + 1;
      removed++;
      if (lineLength - removedLen <= MAX_DNS_SEARCH_LIST_CHARS) break;
    }
    list = list.slice(0, list.length - removed);
    cut = true;
  }
  if (cut) warn('DNSConfigForming', `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${list.join(' ')}`);
  return list;
}

/** upstream formDNSNameserversFitsLimits. */
function fitNameservers(servers: string[], warn: DnsWarning): string[] {
  if (servers.length <= MAX_DNS_NAMESERVERS) return servers;
  const kept = servers.slice(0, MAX_DNS_NAMESERVERS);
  warn('DNSConfigForming', `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${kept.join(' ')}`);
  return kept;
}

/** upstream GetPodDNS: the pod's nameservers, search domains and options. */
export function podDnsConfig(pod: any, node: NodeDnsSettings, warn: DnsWarning = () => {}): ResolvConf {
  const host = node.resolvConf ? readResolvConf(node.resolvConf) : { nameservers: [], searches: [], options: [] };
  let conf: ResolvConf = { nameservers: [...host.nameservers], searches: [...host.searches], options: [...host.options] };
  let type = dnsType(pod);
  if (type === 'none') conf = { nameservers: [], searches: [], options: [] };
  if (type === 'cluster') {
    if (node.clusterDns.length > 0) {
      // The cluster DNS is the only nameserver: it forwards what it does not know itself.
      conf.nameservers = [...node.clusterDns];
      if (node.clusterDomain) {
        const d = node.clusterDomain;
        conf.searches = omitDuplicates([`${pod?.metadata?.namespace ?? 'default'}.svc.${d}`, `svc.${d}`, d, ...conf.searches]);
      }
      conf.options = ['ndots:5'];
    } else {
      const msg = `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`;
      warn('MissingClusterDNS', msg, 'node');
      warn('MissingClusterDNS', `pod: "${pod?.metadata?.name}_${pod?.metadata?.namespace}(${pod?.metadata?.uid})". ${msg}`);
      type = 'host';
    }
  }
  if (type === 'host' && !node.resolvConf) {
    // No resolver file: the resolver library's default, a nameserver on the local machine.
    const ips = node.nodeIps?.length ? node.nodeIps : ['127.0.0.1'];
    conf.nameservers = [...conf.nameservers, ...ips.map((ip) => (isIPv6(ip) ? '::1' : '127.0.0.1'))];
    conf.searches = ['.'];
  }
  const dc = pod?.spec?.dnsConfig;
  if (dc) {
    conf.nameservers = omitDuplicates([...conf.nameservers, ...((dc.nameservers as string[] | undefined) ?? [])]);
    conf.searches = omitDuplicates([...conf.searches, ...((dc.searches as string[] | undefined) ?? [])]);
    conf.options = mergeOptions(conf.options, (dc.options as { name?: string; value?: string }[] | undefined) ?? []);
  }
  conf.nameservers = fitNameservers(conf.nameservers, warn);
  conf.searches = fitSearches(conf.searches, warn);
  return conf;
}

/**
 * The resolv.conf to mount at /etc/resolv.conf in the pod's containers, or
 * undefined when a host-network pod simply keeps the node's own file (it
 * uses the node's DNS and adds nothing to it).
 */
export function podResolvConf(pod: any, node: NodeDnsSettings, warn: DnsWarning = () => {}): string | undefined {
  if (pod?.spec?.hostNetwork && dnsType(pod) === 'host' && !pod?.spec?.dnsConfig && node.resolvConf === '/etc/resolv.conf') return undefined;
  return formatResolvConf(podDnsConfig(pod, node, warn));
}

/**
 * What the pod workers call for a pod's DNS on this node: the cluster domain
 * (hosts-file FQDNs) and its resolv.conf. `nodeWarn` records the Node's
 * events; pod events go to the `warn` the workers pass.
 */
export function podDnsHook(node: NodeDnsSettings, nodeWarn: (reason: string, message: string) => void) {
  return {
    clusterDomain: node.clusterDomain,
    resolvConf: (pod: any, warn: (reason: string, message: string) => void) => podResolvConf(pod, node, (reason, message, on) => (on === 'node' ? nodeWarn : warn)(reason, message)),
  };
}
