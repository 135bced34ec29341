import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podDnsConfig, podResolvConf, type NodeDnsSettings } from './dns.js';
import { parseResolvConf } from '../dns/resolvconf.js';

let dir: string;
let node: NodeDnsSettings;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kite-dns-'));
  const hostFile = join(dir, 'resolv.conf');
  writeFileSync(hostFile, '# host resolver\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example. lab.example\noptions timeout:2 attempts:3\n');
  node = { clusterDns: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf: hostFile };
});

after(() => rmSync(dir, { recursive: true, force: true }));

const pod = (spec: any, ns = 'ml') => ({ metadata: { name: 'p', namespace: ns, uid: 'u1' }, spec });

test('parseResolvConf: nameservers accumulate, the last search and options lines win, trailing dots go', () => {
  assert.deepEqual(parseResolvConf('nameserver 1.1.1.1\nsearch a.\nnameserver 8.8.8.8\n; comment\nsearch b c.\noptions ndots:1\noptions rotate\n'), {
    nameservers: ['1.1.1.1', '8.8.8.8'],
    searches: ['b', 'c'],
    options: ['rotate'],
  });
});

test('ClusterFirst: the cluster DNS alone, cluster search domains before the node\'s, ndots:5 — written as containerd writes it', () => {
  assert.equal(
    podResolvConf(pod({ dnsPolicy: 'ClusterFirst' }), node),
    'search ml.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n',
  );
  // ClusterFirstWithHostNet gives a host-network pod the cluster DNS too.
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }, 'default'), node).searches.slice(0, 3), [
    'default.svc.cluster.local',
    'svc.cluster.local',
    'cluster.local',
  ]);
});

test('Default, and ClusterFirst with host networking, use the node\'s resolver settings', () => {
  const host = { nameservers: ['192.0.2.53', '192.0.2.54'], searches: ['corp.example', 'lab.example'], options: ['timeout:2', 'attempts:3'] };
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'Default' }), node), host);
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'ClusterFirst', hostNetwork: true }), node), host);
  // A host-network pod keeping the node's own /etc/resolv.conf needs no file of its own.
  assert.equal(podResolvConf(pod({ dnsPolicy: 'Default', hostNetwork: true }), { ...node, resolvConf: '/etc/resolv.conf' }), undefined);
  // Without a resolver file: the local machine's nameserver and a "." search.
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'Default' }), { ...node, resolvConf: '' }), { nameservers: ['127.0.0.1'], searches: ['.'], options: [] });
});

test('None uses dnsConfig alone; dnsConfig merges into other policies (duplicates dropped, options by name)', () => {
  const none = pod({
    dnsPolicy: 'None',
    dnsConfig: { nameservers: ['1.2.3.4'], searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
  });
  assert.equal(podResolvConf(none, node), 'search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n');
  const merged = podDnsConfig(
    pod({ dnsPolicy: 'ClusterFirst', dnsConfig: { nameservers: ['10.96.0.10', '1.1.1.1'], searches: ['svc.cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request-reopen' }] } }),
    node,
  );
  assert.deepEqual(merged, {
    nameservers: ['10.96.0.10', '1.1.1.1'],
    searches: ['ml.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example'],
    options: ['ndots:1', 'single-request-reopen'],
  });
});

test('limits: 3 nameservers, 32 search domains, 2048 characters, no domain over 253; each cut is reported', () => {
  const warnings: [string, string, string][] = [];
  const warn = (reason: string, message: string, on = 'pod') => void warnings.push([reason, message, on]);
  const searches = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
  const conf = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'], searches } }), node, warn);
  assert.deepEqual(conf.nameservers, ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  assert.deepEqual(conf.searches, searches.slice(0, 32));
  assert.deepEqual(warnings, [
    ['DNSConfigForming', 'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3', 'pod'],
    ['DNSConfigForming', `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${searches.slice(0, 32).join(' ')}`, 'pod'],
  ]);
  const long = Array.from({ length: 10 }, (_, i) => `${String(i).repeat(60)}.${'x'.repeat(180)}`);
  const cut = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: [...long, 'y'.repeat(254)] } }), node);
  assert.ok(cut.searches.join(' ').length <= 2048);
  assert.ok(!cut.searches.includes('y'.repeat(254)));
  assert.deepEqual(cut.searches, long.slice(0, 8));
});

test('ClusterFirst without --cluster-dns falls back to Default, with MissingClusterDNS on the node and the pod', () => {
  const warnings: string[] = [];
  const conf = podDnsConfig(pod({ dnsPolicy: 'ClusterFirst' }), { ...node, clusterDns: [] }, (reason, message, on = 'pod') => void warnings.push(`${on} ${reason} ${message}`));
  assert.deepEqual(conf.nameservers, ['192.0.2.53', '192.0.2.54']);
  assert.deepEqual(warnings, [
    'node MissingClusterDNS kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
    'pod MissingClusterDNS pod: "p_ml(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
  ]);
});
