/**
 * resolv.conf, read as upstream kubelet reads it (pkg/kubelet/network/dns
 * parseResolvConf) and written as containerd writes a pod's (search line,
 * nameserver lines, options line).
 */
import { readFileSync } from 'node:fs';

/** What a resolv.conf says. */
export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

/**
 * Parses resolv.conf text: `nameserver` lines accumulate, the last `search`
 * line wins (trailing dots dropped, so a domain counts once), the last
 * `options` line wins; comments and unknown lines are ignored.
 */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const fields = trimmed.split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    if (fields[0] === 'nameserver' && fields.length >= 2) out.nameservers.push(fields[1]!);
    if (fields[0] === 'search') out.searches = fields.slice(1).map((s) => s.replace(/\.$/, ''));
    if (fields[0] === 'options') out.options = fields.slice(1);
  }
  return out;
}

/** Reads and parses a resolv.conf file; an unreadable file says nothing (empty lists). */
export function readResolvConf(path: string): ResolvConf {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { nameservers: [], searches: [], options: [] };
  }
}

/** Formats a resolv.conf as containerd writes a sandbox's: search, nameserver, options. */
export function formatResolvConf(conf: ResolvConf): string {
  let out = '';
  if (conf.searches.length) out += `search ${conf.searches.join(' ')}\n`;
  for (const ns of conf.nameservers) out += `nameserver ${ns}\n`;
  if (conf.options.length) out += `options ${conf.options.join(' ')}\n`;
  return out;
}
