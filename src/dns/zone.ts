/**
 * The cluster zone: DNS answers for Services and pods, computed from
 * informer caches (Services, EndpointSlices, Namespaces) — never from API
 * reads. It follows the Kubernetes DNS specification (kubernetes/dns
 * docs/specification.md, schema 1.1.0) as the CoreDNS `kubernetes` plugin
 * implements it with `pods insecure`:
 *
 * - `<svc>.<ns>.svc.<zone>`: A of the cluster IP; for a headless Service,
 *   the ready endpoint IPs (NXDOMAIN without any); CNAME for ExternalName.
 * - `<hostname>.<svc>.<ns>.svc.<zone>`: A of the ready endpoint whose
 *   hostname (or dashed IP, when it has none) this is.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV per matching port (and
 *   per ready endpoint of a headless Service), targets in the additional
 *   section.
 * - `<a>-<b>-<c>-<d>.<ns>.pod.<zone>`: A of that address.
 * - PTR of cluster IPs and ready endpoint IPs; `dns-version.<zone>` TXT;
 *   SOA and NS at the apex; `ns.dns.<zone>` A of the cluster DNS address.
 *
 * A name in the zone that does not exist is NXDOMAIN; one that exists
 * without records of the asked type is NODATA. Reverse names nothing here
 * knows are not answered (the server forwards them, as CoreDNS's
 * `fallthrough in-addr.arpa ip6.arpa`).
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { Informer } from '../client/informer.js';
import { RCODE, TYPE, CLASS_IN, type ResourceRecord } from './wire.js';

/** upstream DNSSchemaVersion of the specification implemented. */
export const DNS_SCHEMA_VERSION = '1.1.0';
/** CoreDNS's default TTL of the kubernetes plugin. */
export const DEFAULT_TTL = 5;

/** Configuration of the zone. */
export interface ZoneConfig {
  /** The cluster domain, e.g. `cluster.local`. */
  domain: string;
  /** TTL of every record (default 5). */
  ttl?: number;
  /** The cluster DNS address: the A record of `ns.dns.<zone>` and the NS glue. */
  dnsIp?: string;
}

/** What a lookup in the zone came to. */
export interface ZoneAnswer {
  rcode: number;
  answers: ResourceRecord[];
  additionals: ResourceRecord[];
  /** An ExternalName target outside the zone whose records of this type are to be appended (from upstream). */
  chase?: { name: string; type: number };
}

/** One way a Service name resolves (upstream msg.Service in small). */
interface Entry {
  /** An IP address, or the target name of an ExternalName Service. */
  host: string;
  cname: boolean;
  /** -1 when the endpoints have no ports (headless Services may have none). */
  port: number;
  /** The name SRV records point at. */
  target: string;
}

function wildcard(s: string): boolean {
  return s === '*' || s === 'any';
}

/** CoreDNS match: equal ignoring case, or either side a wildcard. */
function match(a: string, b: string): boolean {
  return wildcard(a) || wildcard(b) || a.toLowerCase() === b.toLowerCase();
}

/** CoreDNS endpointHostname: the endpoint's hostname, else its IP with dashes for dots (or colons). */
export function endpointHostname(hostname: string | undefined, ip: string): string {
  if (hostname) return hostname;
  if (ip.includes('.')) return ip.replaceAll('.', '-');
  return ip.replaceAll(':', '-');
}

/** The IP a reverse name stands for (in-addr.arpa or ip6.arpa), if it is one. */
export function reverseNameToIp(lname: string): string | undefined {
  if (lname.endsWith('.in-addr.arpa')) {
    const parts = lname.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    return parts.reverse().map(Number).join('.');
  }
  if (lname.endsWith('.ip6.arpa')) {
    const nibbles = lname.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    return normalizeIp(groups.join(':'));
  }
  return undefined;
}

/** The canonical text of an IP address (IPv6 compressed as RFC 5952), for comparisons. */
function normalizeIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/** A ready endpoint of a Service (from its EndpointSlices). */
interface ReadyEndpoint {
  ip: string;
  hostname: string;
  ports: { name: string; port: number; protocol: string }[];
}

/** Answers for the cluster zone from Services, EndpointSlices and Namespaces caches. */
export class ClusterZone {
  readonly domain: string;
  private readonly ttl: number;
  private readonly dnsIp?: string;
  /** `<ns>/<service>` → slice key → slice. */
  private readonly slicesByService = new Map<string, Map<string, any>>();
  /** Cluster IP → Service keys. */
  private readonly serviceIps = new Map<string, Set<string>>();
  /** Endpoint IP → keys of the slices listing it. */
  private readonly endpointIps = new Map<string, Set<string>>();
  /** upstream: the SOA serial is the time of the last change seen (seconds). */
  private serial = Math.floor(Date.now() / 1000);

  constructor(
    private readonly sources: { services: Informer; slices: Informer; namespaces: Informer },
    config: ZoneConfig,
  ) {
    this.domain = config.domain.toLowerCase().replace(/\.$/, '');
    this.ttl = config.ttl ?? DEFAULT_TTL;
    this.dnsIp = config.dnsIp;
    sources.services.addHandlers({
      onAdd: (s) => this.indexService(undefined, s),
      onUpdate: (o, s) => this.indexService(o, s),
      onDelete: (s) => this.indexService(s, undefined),
    });
    sources.slices.addHandlers({
      onAdd: (s) => this.indexSlice(undefined, s),
      onUpdate: (o, s) => this.indexSlice(o, s),
      onDelete: (s) => this.indexSlice(s, undefined),
    });
    sources.namespaces.addHandlers({ onAdd: () => this.touch(), onDelete: () => this.touch() });
  }

  private touch(): void {
    this.serial = Math.floor(Date.now() / 1000);
  }

  private indexService(old: any, cur: any): void {
    this.touch();
    const key = (s: any) => `${s.metadata?.namespace}/${s.metadata?.name}`;
    const ips = (s: any): string[] => (s?.spec?.clusterIPs ?? (s?.spec?.clusterIP ? [s.spec.clusterIP] : [])).filter((ip: string) => isIP(ip)).map(normalizeIp);
    for (const ip of ips(old)) {
      const set = this.serviceIps.get(ip);
      set?.delete(key(old));
      if (set?.size === 0) this.serviceIps.delete(ip);
    }
    for (const ip of ips(cur)) {
      let set = this.serviceIps.get(ip);
      if (!set) this.serviceIps.set(ip, (set = new Set()));
      set.add(key(cur));
    }
  }

  private indexSlice(old: any, cur: any): void {
    this.touch();
    const sliceKey = (s: any) => `${s.metadata?.namespace}/${s.metadata?.name}`;
    const svcKey = (s: any) => {
      const svc = s?.metadata?.labels?.['kubernetes.io/service-name'];
      return svc ? `${s.metadata?.namespace}/${svc}` : undefined;
    };
    const addrs = (s: any): string[] => ((s?.endpoints ?? []) as any[]).flatMap((e) => (e?.addresses ?? []) as string[]).map(normalizeIp);
    if (old) {
      const k = svcKey(old);
      const m = k ? this.slicesByService.get(k) : undefined;
      m?.delete(sliceKey(old));
      if (k && m?.size === 0) this.slicesByService.delete(k);
      for (const ip of addrs(old)) {
        const set = this.endpointIps.get(ip);
        set?.delete(sliceKey(old));
        if (set?.size === 0) this.endpointIps.delete(ip);
      }
    }
    if (cur) {
      const k = svcKey(cur);
      if (k && (cur.addressType === 'IPv4' || cur.addressType === 'IPv6')) {
        let m = this.slicesByService.get(k);
        if (!m) this.slicesByService.set(k, (m = new Map()));
        m.set(sliceKey(cur), cur);
        for (const ip of addrs(cur)) {
          let set = this.endpointIps.get(ip);
          if (!set) this.endpointIps.set(ip, (set = new Set()));
          set.add(sliceKey(cur));
        }
      }
    }
  }

  /** The zone's SOA record (CoreDNS: ns.dns.<zone>, hostmaster.<zone>, refresh 7200, retry 1800, expire 86400). */
  soa(): ResourceRecord {
    return {
      name: this.domain,
      type: TYPE.SOA,
      class: CLASS_IN,
      ttl: this.ttl,
      soa: { mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`, serial: this.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl },
    };
  }

  /** Whether a (lower-case) name is in the cluster zone. */
  inZone(lname: string): boolean {
    return lname === this.domain || lname.endsWith(`.${this.domain}`);
  }

  /** Ready endpoints of a Service from its slices (CoreDNS: not-ready ones are left out; no ports → one port -1). */
  private readyEndpoints(ns: string, name: string): ReadyEndpoint[] {
    const out: ReadyEndpoint[] = [];
    for (const slice of this.slicesByService.get(`${ns}/${name}`)?.values() ?? []) {
      const ports = ((slice.ports ?? []) as any[]).map((p) => ({ name: p?.name ?? '', port: p?.port ?? -1, protocol: p?.protocol ?? 'TCP' }));
      if (ports.length === 0) ports.push({ name: '', port: -1, protocol: '' });
      for (const ep of (slice.endpoints ?? []) as any[]) {
        if (ep?.conditions?.ready === false) continue;
        for (const ip of (ep?.addresses ?? []) as string[]) out.push({ ip, hostname: endpointHostname(ep.hostname, ip), ports });
      }
    }
    return out;
  }

  /**
   * CoreDNS findServices: how `<endpoint>.<svc>.<ns>` (endpoint may be '')
   * with this port and protocol ('*' for any) resolves; undefined when it
   * does not exist.
   */
  private findService(ns: string, name: string, endpoint: string, port: string, proto: string): Entry[] | undefined {
    const svc = this.sources.services.get(ns, name);
    if (!svc) return undefined;
    const fqdn = `${name}.${ns}.svc.${this.domain}`;
    const entries: Entry[] = [];
    let found = false;
    if (svc.spec?.type === 'ExternalName') {
      const ext = String(svc.spec?.externalName ?? '').replace(/\.$/, '');
      // An external name that is an address is not a CNAME and answers nothing (CoreDNS).
      if (ext && !isIP(ext)) return [{ host: ext, cname: true, port: 0, target: fqdn }];
      return undefined;
    }
    if (svc.spec?.clusterIP === 'None' || endpoint !== '') {
      for (const ep of this.readyEndpoints(ns, name)) {
        if (endpoint !== '' && !match(endpoint, ep.hostname)) continue;
        for (const p of ep.ports) {
          if (!(match(port, p.name) && match(proto, p.protocol))) continue;
          found = true;
          entries.push({ host: ep.ip, cname: false, port: p.port, target: `${ep.hostname}.${fqdn}` });
        }
      }
      return found ? entries : undefined;
    }
    const ips: string[] = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
    for (const p of (svc.spec?.ports ?? []) as any[]) {
      if (!(match(port, p?.name ?? '') && match(proto, p?.protocol ?? 'TCP'))) continue;
      found = true;
      for (const ip of ips) entries.push({ host: ip, cname: false, port: p.port, target: fqdn });
    }
    return found ? entries : undefined;
  }

  private rr(name: string, type: number, fields: Partial<ResourceRecord>, ttl = this.ttl): ResourceRecord {
    return { name, type, class: CLASS_IN, ttl, ...fields };
  }

  private nxdomain(): ZoneAnswer {
    return { rcode: RCODE.NXDOMAIN, answers: [], additionals: [] };
  }

  private nodata(): ZoneAnswer {
    return { rcode: RCODE.NOERROR, answers: [], additionals: [] };
  }

  private records(answers: ResourceRecord[], additionals: ResourceRecord[] = []): ZoneAnswer {
    return { rcode: RCODE.NOERROR, answers, additionals };
  }

  /**
   * Answers `qname`/`qtype` from the caches; undefined when the name is not
   * the zone's to answer (outside it, or a reverse name of nothing known).
   */
  lookup(qname: string, qtype: number): ZoneAnswer | undefined {
    const lname = qname.toLowerCase().replace(/\.$/, '');
    if (lname.endsWith('.in-addr.arpa') || lname.endsWith('.ip6.arpa')) return qtype === TYPE.PTR ? this.reverse(qname, lname) : undefined;
    if (!this.inZone(lname)) return undefined;
    const base = lname === this.domain ? '' : lname.slice(0, -(this.domain.length + 1));
    if (base === '') {
      if (qtype === TYPE.SOA) return this.records([{ ...this.soa(), name: qname }]);
      if (qtype === TYPE.NS) {
        const ns = `ns.dns.${this.domain}`;
        return this.records([this.rr(qname, TYPE.NS, { target: ns })], this.dnsIp ? [this.rr(ns, isIPv4(this.dnsIp) ? TYPE.A : TYPE.AAAA, { address: this.dnsIp })] : []);
      }
      return this.nodata();
    }
    if (base === 'dns-version' && qtype === TYPE.TXT) return this.records([this.rr(qname, TYPE.TXT, { texts: [DNS_SCHEMA_VERSION] }, 28800)]);
    if (base === 'ns.dns') {
      const ip = this.dnsIp;
      if (ip && ((qtype === TYPE.A && isIPv4(ip)) || (qtype === TYPE.AAAA && isIPv6(ip)))) return this.records([this.rr(qname, qtype, { address: ip })]);
      return this.nodata();
    }
    const segs = base.split('.');
    const kind = segs.pop()!;
    if (kind !== 'svc' && kind !== 'pod') return this.nxdomain();
    if (segs.length === 0) return this.nodata();
    const ns = segs.pop()!;
    if (!this.sources.namespaces.get('', ns)) return this.nxdomain();
    if (segs.length === 0) return this.nodata();
    if (kind === 'pod') return this.pod(qname, segs, qtype);
    const svc = segs.pop()!;
    let endpoint = '';
    let port = '*';
    let proto = '*';
    if (segs.length === 1) endpoint = segs[0]!;
    else if (segs.length === 2) {
      port = segs[0]!.replace(/^_/, '');
      proto = segs[1]!.replace(/^_/, '');
    } else if (segs.length > 2) return this.nxdomain();
    const entries = this.findService(ns, svc, endpoint, port, proto);
    if (!entries) return this.nxdomain();
    return this.answerEntries(qname, qtype, entries);
  }

  /** `<dashed-ip>.<ns>.pod.<zone>` (pods insecure: any well-formed address in an existing namespace). */
  private pod(qname: string, segs: string[], qtype: number): ZoneAnswer {
    if (segs.length !== 1) return this.nxdomain();
    const label = segs[0]!;
    const ip = (label.match(/-/g) ?? []).length === 3 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
    if (!isIP(ip)) return this.nxdomain();
    if (qtype === TYPE.A && isIPv4(ip)) return this.records([this.rr(qname, TYPE.A, { address: ip })]);
    if (qtype === TYPE.AAAA && isIPv6(ip)) return this.records([this.rr(qname, TYPE.AAAA, { address: normalizeIp(ip) })]);
    return this.nodata();
  }

  /** Records of one type from what a Service name resolves to (CoreDNS plugin.A / AAAA / SRV / CNAME). */
  private answerEntries(qname: string, qtype: number, entries: Entry[]): ZoneAnswer {
    const cname = entries.find((e) => e.cname);
    if (cname) {
      if (qtype === TYPE.CNAME) return this.records([this.rr(qname, TYPE.CNAME, { target: cname.host })]);
      if (qtype !== TYPE.A && qtype !== TYPE.AAAA && qtype !== TYPE.TXT) return this.nodata();
      const answers = [this.rr(qname, TYPE.CNAME, { target: cname.host })];
      const target = cname.host.toLowerCase();
      if (this.inZone(target)) {
        // A target inside the zone is resolved here (one level, as CoreDNS).
        const inner = this.lookup(cname.host, qtype);
        if (inner) answers.push(...inner.answers.filter((r) => r.type === qtype));
        return this.records(answers);
      }
      return { ...this.records(answers), chase: { name: cname.host, type: qtype } };
    }
    if (qtype === TYPE.A || qtype === TYPE.AAAA) {
      const seen = new Set<string>();
      const answers: ResourceRecord[] = [];
      for (const e of entries) {
        const fits = qtype === TYPE.A ? isIPv4(e.host) : isIPv6(e.host);
        if (!fits || seen.has(e.host)) continue;
        seen.add(e.host);
        answers.push(this.rr(qname, qtype, { address: e.host }));
      }
      return this.records(shuffle(answers));
    }
    if (qtype === TYPE.SRV) {
      const seen = new Set<string>();
      const srv = entries.filter((e) => {
        const k = `${e.target}|${e.port}`;
        if (e.port < 0 || seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      // CoreDNS: priority 0 for all; weights share 100 equally (at least 1).
      const weight = Math.max(1, Math.floor(100 / Math.max(1, srv.length)));
      const answers = srv.map((e) => this.rr(qname, TYPE.SRV, { priority: 0, weight, port: e.port, target: e.target }));
      const extraSeen = new Set<string>();
      const additionals: ResourceRecord[] = [];
      for (const e of srv) {
        const k = `${e.target}|${e.host}`;
        if (extraSeen.has(k)) continue;
        extraSeen.add(k);
        additionals.push(this.rr(e.target, isIPv4(e.host) ? TYPE.A : TYPE.AAAA, { address: e.host }));
      }
      return this.records(answers, additionals);
    }
    return this.nodata();
  }

  /** PTR of a cluster IP (its Service) or of ready endpoint IPs (`<hostname>.<svc>.<ns>.svc.<zone>`). */
  private reverse(qname: string, lname: string): ZoneAnswer | undefined {
    const ip = reverseNameToIp(lname);
    if (!ip) return undefined;
    for (const key of this.serviceIps.get(ip) ?? []) {
      const [ns, name] = key.split('/');
      return this.records([this.rr(qname, TYPE.PTR, { target: `${name}.${ns}.svc.${this.domain}` })]);
    }
    const answers: ResourceRecord[] = [];
    const seen = new Set<string>();
    for (const sliceKey of this.endpointIps.get(ip) ?? []) {
      const [ns, sliceName] = sliceKey.split('/') as [string, string];
      const slice = this.sources.slices.get(ns, sliceName);
      const svc = slice?.metadata?.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      for (const ep of (slice.endpoints ?? []) as any[]) {
        if (ep?.conditions?.ready === false) continue;
        for (const a of (ep?.addresses ?? []) as string[]) {
          if (normalizeIp(a) !== ip) continue;
          const target = `${endpointHostname(ep.hostname, a)}.${svc}.${ns}.svc.${this.domain}`;
          if (seen.has(target)) continue;
          seen.add(target);
          answers.push(this.rr(qname, TYPE.PTR, { target }));
        }
      }
    }
    return answers.length ? this.records(answers) : undefined;
  }
}

/** CoreDNS loadbalance (round_robin): address records in random order, spreading clients over endpoints. */
function shuffle<T>(list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
