/**
 * The kubelet-managed /etc/hosts of a pod with its own network: localhost
 * entries, the pod's IP with its hostname (and FQDN under a subdomain), then
 * spec.hostAliases — upstream's managedHostsFileContent. It lets programs in
 * the pod resolve their own name without DNS.
 */

/** The hosts file for a pod whose IP is `ip`. */
export function managedHostsFile(pod: any, ip: string, clusterDomain = 'cluster.local'): string {
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  const hostname: string = pod?.spec?.hostname || pod?.metadata?.name || '';
  const subdomain: string | undefined = pod?.spec?.subdomain;
  const ns: string = pod?.metadata?.namespace ?? 'default';
  if (ip && hostname) {
    lines.push(subdomain ? `${ip}\t${hostname}.${subdomain}.${ns}.svc.${clusterDomain}\t${hostname}` : `${ip}\t${hostname}`);
  }
  const aliases: { ip?: string; hostnames?: string[] }[] = pod?.spec?.hostAliases ?? [];
  if (aliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) if (a.ip && a.hostnames?.length) lines.push(`${a.ip}\t${a.hostnames.join('\t')}`);
  }
  return `${lines.join('\n')}\n`;
}
