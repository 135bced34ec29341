import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service, ServiceSpec, Endpoint } from '../api/generated/types.js';
import { buildTransaction, categorizeEndpoints, conntrackDeletions, endpointsBySlices, servicePortsOf, deleteTableScript, type ProxyRulesConfig } from './rules.js';

const cfg: ProxyRulesConfig = { table: 'kite', nodeName: 'node-a', nodeIps: ['192.168.0.2'], clusterCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/12', bridge: 'kite0' };

function svc(name: string, spec: Partial<ServiceSpec>, status?: Service['status'], labels?: Record<string, string>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'ns1', name, labels }, spec: { ports: [{ name: 'p80', port: 80, protocol: 'TCP' }], ...spec }, status };
}

function slice(service: string, endpoints: Endpoint[], opts: { name?: string; port?: number; portName?: string; protocol?: string; addressType?: string } = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'ns1', name: opts.name ?? `${service}-abc`, labels: { 'kubernetes.io/service-name': service } },
    addressType: opts.addressType ?? 'IPv4',
    ports: [{ name: 'portName' in opts ? opts.portName : 'p80', port: opts.port ?? 8080, protocol: opts.protocol ?? 'TCP' }],
    endpoints,
  };
}

/** The lines of one service port's block (after `# label`, up to the next comment line). */
function block(script: string, label: string): string[] {
  const lines = script.split('\n');
  const start = lines.indexOf(`# ${label}`);
  assert.ok(start >= 0, `no block ${label} in:\n${script}`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith('#') || l === '') break;
    out.push(l);
  }
  return out;
}

/** Everything before the first service block: table, base chains, maps, fixed rules. */
const HEADER = `add table ip kite { comment "rules of the kite service proxy" ; }
delete table ip kite
add table ip kite { comment "rules of the kite service proxy" ; }
add chain ip kite filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
flush chain ip kite filter-prerouting-pre-dnat
add chain ip kite filter-output-pre-dnat { type filter hook output priority -110 ; }
flush chain ip kite filter-output-pre-dnat
add chain ip kite filter-forward { type filter hook forward priority 0 ; }
flush chain ip kite filter-forward
add chain ip kite filter-input { type filter hook input priority 0 ; }
flush chain ip kite filter-input
add chain ip kite filter-output { type filter hook output priority 0 ; }
flush chain ip kite filter-output
add chain ip kite nat-prerouting { type nat hook prerouting priority -100 ; }
flush chain ip kite nat-prerouting
add chain ip kite nat-output { type nat hook output priority -100 ; }
flush chain ip kite nat-output
add chain ip kite nat-postrouting { type nat hook postrouting priority 100 ; }
flush chain ip kite nat-postrouting
add chain ip kite services
flush chain ip kite services
add chain ip kite service-endpoints-check
flush chain ip kite service-endpoints-check
add chain ip kite nodeport-endpoints-check
flush chain ip kite nodeport-endpoints-check
add chain ip kite cluster-ips-check
flush chain ip kite cluster-ips-check
add chain ip kite firewall-check
flush chain ip kite firewall-check
add chain ip kite mark-for-masquerade
flush chain ip kite mark-for-masquerade
add chain ip kite masquerading
flush chain ip kite masquerading
add chain ip kite reject-chain
flush chain ip kite reject-chain
add set ip kite cluster-ips { type ipv4_addr ; comment "active ClusterIPs" ; }
flush set ip kite cluster-ips
add set ip kite nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
flush set ip kite nodeport-ips
add map ip kite service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
flush map ip kite service-ips
add map ip kite service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
flush map ip kite service-nodeports
add map ip kite no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "services without endpoints: reject or drop" ; }
flush map ip kite no-endpoint-services
add map ip kite no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "NodePorts without endpoints: reject or drop" ; }
flush map ip kite no-endpoint-nodeports
add map ip kite firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations subject to loadBalancerSourceRanges" ; }
flush map ip kite firewall-ips
add rule ip kite filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kite filter-output-pre-dnat ct state new jump firewall-check
add rule ip kite filter-forward ct state new jump service-endpoints-check
add rule ip kite filter-forward ct state new jump cluster-ips-check
add rule ip kite filter-input ct state new jump nodeport-endpoints-check
add rule ip kite filter-input ct state new jump service-endpoints-check
add rule ip kite filter-output ct state new jump service-endpoints-check
add rule ip kite filter-output ct state new jump cluster-ips-check
add rule ip kite nat-prerouting jump services
add rule ip kite nat-output jump services
add rule ip kite nat-postrouting jump masquerading
add rule ip kite services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kite services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add rule ip kite service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip kite nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kite cluster-ips-check ip daddr @cluster-ips goto reject-chain comment "reject traffic to invalid ports of ClusterIPs"
add rule ip kite cluster-ips-check ip daddr 10.96.0.0/12 drop comment "drop traffic to unallocated ClusterIPs"
add rule ip kite firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kite mark-for-masquerade mark set mark or 0x4000
add rule ip kite masquerading ct status dnat ip saddr 10.244.0.0/16 oifname "kite0" masquerade fully-random comment "pod to service to pod on the same bridge"
add rule ip kite masquerading mark and 0x4000 == 0 return
add rule ip kite masquerading mark set mark xor 0x4000
add rule ip kite masquerading masquerade fully-random
add rule ip kite reject-chain meta l4proto tcp reject with tcp reset
add rule ip kite reject-chain reject
add element ip kite nodeport-ips { 192.168.0.2 }`;

describe('nftables transaction', () => {
  it('first sync: rebuilds the table; a ClusterIP with one endpoint and one without any (exact text)', () => {
    const tx = buildTransaction(cfg, [svc('svc1', { clusterIP: '10.96.0.41' }), svc('svc2', { clusterIP: '10.96.0.42' })], [slice('svc1', [{ addresses: ['10.244.0.5'] }])]);
    assert.equal(
      tx.script,
      `${HEADER}
# ns1/svc1:p80 (tcp)
add chain ip kite service-a2d9507a-ns1/svc1/tcp/p80
flush chain ip kite service-a2d9507a-ns1/svc1/tcp/p80
add chain ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080
flush chain ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080
add rule ip kite service-a2d9507a-ns1/svc1/tcp/p80 ip daddr 10.96.0.41 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kite service-a2d9507a-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080 }
add rule ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080 ip saddr 10.244.0.5 jump mark-for-masquerade
add rule ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080 meta l4proto tcp dnat to 10.244.0.5:8080
add element ip kite cluster-ips { 10.96.0.41 }
add element ip kite service-ips { 10.96.0.41 . tcp . 80 : goto service-a2d9507a-ns1/svc1/tcp/p80 }
# ns1/svc2:p80 (tcp)
add element ip kite cluster-ips { 10.96.0.42 }
add element ip kite no-endpoint-services { 10.96.0.42 . tcp . 80 comment "ns1/svc2:p80" : goto reject-chain }
`,
    );
    assert.deepEqual([...tx.state.chains].sort(), ['endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080', 'service-a2d9507a-ns1/svc1/tcp/p80']);
  });

  it('later syncs refill the table in place and delete what is no longer used, after flushing it', () => {
    const first = buildTransaction(cfg, [svc('svc1', { clusterIP: '10.96.0.41', sessionAffinity: 'ClientIP' })], [slice('svc1', [{ addresses: ['10.244.0.5'] }])]);
    const second = buildTransaction(cfg, [], [], first.state);
    const lines = second.script.split('\n');
    assert.equal(lines[0], 'add table ip kite { comment "rules of the kite service proxy" ; }');
    assert.ok(!lines.includes('delete table ip kite'), 'the table (and the affinity it holds) survives');
    assert.deepEqual(lines.slice(lines.indexOf('# no longer used')), [
      '# no longer used',
      'flush chain ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080',
      'flush chain ip kite service-a2d9507a-ns1/svc1/tcp/p80',
      'delete chain ip kite endpoint-bbeea128-ns1/svc1/tcp/p80__10.244.0.5/8080',
      'delete chain ip kite service-a2d9507a-ns1/svc1/tcp/p80',
      `delete set ip kite ${[...first.state.sets][0]}`,
      '',
    ]);
    assert.equal(second.state.chains.size + second.state.sets.size, 0);
    // Nothing changed: nothing to delete, and the same text as the sync before.
    const third = buildTransaction(cfg, [], [], second.state);
    assert.equal(buildTransaction(cfg, [], [], third.state).script, third.script);
    assert.ok(!third.script.includes('# no longer used'));
  });

  it('ClientIP affinity: a set per endpoint with the timeout, checked before balancing and refreshed on DNAT', () => {
    const tx = buildTransaction(
      cfg,
      [svc('sticky', { clusterIP: '10.96.0.50', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } })],
      [slice('sticky', [{ addresses: ['10.244.0.6'] }, { addresses: ['10.244.0.5'] }])],
    );
    const lines = block(tx.script, 'ns1/sticky:p80 (tcp)');
    const sets = lines.filter((l) => l.startsWith('add set'));
    assert.equal(sets.length, 2);
    for (const s of sets) assert.match(s, /^add set ip kite affinity-[0-9a-f]{8}-ns1\/sticky\/tcp\/p80__10\.244\.0\.[56]\/8080 \{ type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; \}$/);
    const aff5 = sets[0]!.split(' ')[4]!;
    const svcChain = lines.find((l) => l.startsWith('add chain ip kite service-'))!.split(' ')[4]!;
    const ep5 = lines.find((l) => l.startsWith('add chain ip kite endpoint-') && l.includes('10.244.0.5'))!.split(' ')[4]!;
    const ep6 = lines.find((l) => l.startsWith('add chain ip kite endpoint-') && l.includes('10.244.0.6'))!.split(' ')[4]!;
    const rules = (chain: string) => lines.filter((l) => l.startsWith(`add rule ip kite ${chain} `)).map((l) => l.slice(`add rule ip kite ${chain} `.length));
    // Endpoints in address order: .5 before .6.
    assert.deepEqual(rules(svcChain).slice(1), [`ip saddr @${aff5} goto ${ep5}`, `ip saddr @${sets[1]!.split(' ')[4]} goto ${ep6}`, `numgen random mod 2 vmap { 0 : goto ${ep5} , 1 : goto ${ep6} }`]);
    assert.deepEqual(rules(ep5), ['ip saddr 10.244.0.5 jump mark-for-masquerade', `update @${aff5} { ip saddr }`, 'meta l4proto tcp dnat to 10.244.0.5:8080']);
    // A changed timeout makes new sets (nft does not change a set's timeout in place).
    const other = buildTransaction(cfg, [svc('sticky', { clusterIP: '10.96.0.50', sessionAffinity: 'ClientIP' })], [slice('sticky', [{ addresses: ['10.244.0.5'] }])], tx.state);
    assert.match(other.script, /timeout 10800s/);
    assert.match(other.script, new RegExp(`delete set ip kite ${aff5.replace(/[./]/g, '\\$&')}`));
  });

  it('NodePort, LoadBalancer (VIP ingress only) with source ranges, and externalIPs go through the external chain', () => {
    const tx = buildTransaction(
      cfg,
      [
        svc(
          'lb',
          { type: 'LoadBalancer', clusterIP: '10.96.0.60', externalIPs: ['203.0.113.9', 'not-an-ip'], loadBalancerSourceRanges: [' 198.51.100.0/24 '], ports: [{ name: 'p80', port: 80, nodePort: 30080 }] },
          { loadBalancer: { ingress: [{ ip: '192.168.0.2', ipMode: 'VIP' }, { ip: '192.168.0.99', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }] } },
        ),
      ],
      [slice('lb', [{ addresses: ['10.244.0.7'] }])],
    );
    const lines = block(tx.script, 'ns1/lb:p80 (tcp)');
    const ext = lines.find((l) => l.startsWith('add chain ip kite external-'))!.split(' ')[4]!;
    const fw = lines.find((l) => l.startsWith('add chain ip kite firewall-'))!.split(' ')[4]!;
    const svcChain = lines.find((l) => l.startsWith('add chain ip kite service-'))!.split(' ')[4]!;
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`add rule ip kite ${ext} `) || l.startsWith(`add rule ip kite ${fw} `) || l.startsWith('add element')),
      [
        `add rule ip kite ${ext} jump mark-for-masquerade`,
        `add rule ip kite ${ext} goto ${svcChain}`,
        `add rule ip kite ${fw} ip saddr != { 198.51.100.0/24 } drop`,
        'add element ip kite cluster-ips { 10.96.0.60 }',
        `add element ip kite service-ips { 10.96.0.60 . tcp . 80 : goto ${svcChain} }`,
        `add element ip kite service-ips { 203.0.113.9 . tcp . 80 : goto ${ext} }`,
        `add element ip kite service-ips { 192.168.0.2 . tcp . 80 : goto ${ext} }`,
        `add element ip kite firewall-ips { 192.168.0.2 . tcp . 80 comment "ns1/lb:p80" : goto ${fw} }`,
        `add element ip kite service-nodeports { tcp . 30080 : goto ${ext} }`,
      ],
    );
  });

  it('a NodePort without endpoints is refused; with all of them unready too', () => {
    const tx = buildTransaction(cfg, [svc('np', { type: 'NodePort', clusterIP: '10.96.0.61', ports: [{ port: 80, nodePort: 30081, protocol: 'UDP' }] })], [
      slice('np', [{ addresses: ['10.244.0.7'], conditions: { ready: false } }], { portName: undefined, protocol: 'UDP' }),
    ]);
    assert.deepEqual(block(tx.script, 'ns1/np (udp)'), [
      'add element ip kite cluster-ips { 10.96.0.61 }',
      'add element ip kite no-endpoint-services { 10.96.0.61 . udp . 80 comment "ns1/np" : goto reject-chain }',
      'add element ip kite no-endpoint-nodeports { udp . 30081 comment "ns1/np" : goto reject-chain }',
    ]);
  });

  it('externalTrafficPolicy Local: pods and the node short-circuit to all endpoints, others only reach local ones', () => {
    const spec = { type: 'NodePort', clusterIP: '10.96.0.62', externalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, nodePort: 30082 }] };
    const local = buildTransaction(cfg, [svc('loc', spec)], [slice('loc', [{ addresses: ['10.244.0.8'], nodeName: 'node-a' }, { addresses: ['10.244.1.8'], nodeName: 'node-b' }])]);
    const lines = block(local.script, 'ns1/loc:p80 (tcp)');
    const name = (prefix: string) => lines.find((l) => l.startsWith(`add chain ip kite ${prefix}-`))!.split(' ')[4]!;
    const [ext, svcChain, loc] = [name('external'), name('service'), name('local')];
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`add rule ip kite ${ext} `)).map((l) => l.slice(`add rule ip kite ${ext} `.length)),
      [
        `ip saddr 10.244.0.0/16 goto ${svcChain} comment "short-circuit pod traffic"`,
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        `fib saddr type local goto ${svcChain} comment "short-circuit local traffic"`,
        `goto ${loc}`,
      ],
    );
    assert.ok(lines.some((l) => l.startsWith(`add rule ip kite ${loc} numgen random mod 1 vmap { 0 : goto endpoint-`) && l.includes('10.244.0.8/8080')));
    assert.ok(lines.some((l) => l.startsWith(`add rule ip kite ${svcChain} numgen random mod 2 `)));
    // Only remote endpoints: outside traffic is dropped rather than refused (the service has endpoints).
    const remote = buildTransaction(cfg, [svc('loc', spec)], [slice('loc', [{ addresses: ['10.244.1.8'], nodeName: 'node-b' }])]);
    assert.ok(block(remote.script, 'ns1/loc:p80 (tcp)').includes('add element ip kite no-endpoint-nodeports { tcp . 30082 comment "ns1/loc:p80" : drop }'));
  });

  it('internalTrafficPolicy Local without a local endpoint drops ClusterIP traffic', () => {
    const tx = buildTransaction(cfg, [svc('itp', { clusterIP: '10.96.0.63', internalTrafficPolicy: 'Local' })], [slice('itp', [{ addresses: ['10.244.1.9'], nodeName: 'node-b' }])]);
    assert.deepEqual(block(tx.script, 'ns1/itp:p80 (tcp)'), [
      'add element ip kite cluster-ips { 10.96.0.63 }',
      'add element ip kite no-endpoint-services { 10.96.0.63 . tcp . 80 comment "ns1/itp:p80" : drop }',
    ]);
  });

  it('headless, ExternalName, IPv6 and other proxies’ Services get no rules', () => {
    const tx = buildTransaction(
      cfg,
      [
        svc('headless', { clusterIP: 'None' }),
        svc('name', { type: 'ExternalName', externalName: 'db.example.com' }),
        svc('v6', { clusterIP: 'fd00::10' }),
        svc('other', { clusterIP: '10.96.0.70' }, undefined, { 'service.kubernetes.io/service-proxy-name': 'elsewhere' }),
      ],
      [slice('headless', [{ addresses: ['10.244.0.9'] }])],
    );
    assert.equal(tx.script, `${HEADER}\n`);
  });

  it('one destination per map: the first Service (by namespace/name) keeps an external IP both claim', () => {
    const tx = buildTransaction(cfg, [svc('b', { clusterIP: '10.96.0.81', externalIPs: ['203.0.113.1'] }), svc('a', { clusterIP: '10.96.0.80', externalIPs: ['203.0.113.1'] })], [
      slice('a', [{ addresses: ['10.244.0.10'] }]),
      slice('b', [{ addresses: ['10.244.0.11'] }]),
    ]);
    const claims = tx.script.split('\n').filter((l) => l.includes('service-ips { 203.0.113.1 '));
    assert.equal(claims.length, 1);
    assert.match(claims[0]!, /goto external-[0-9a-f]{8}-ns1\/a\//);
  });

  it('odd names cannot break the script: only safe characters reach chain names, comments and comment lines', () => {
    const odd = 'a"b c;d\nadd table ip evil';
    const tx = buildTransaction(cfg, [svc('odd', { clusterIP: '10.96.0.90', ports: [{ name: odd, port: 80 }] })], [slice('odd', [{ addresses: ['10.244.0.12'] }], { portName: odd })]);
    assert.ok(!tx.script.includes('\nadd table ip evil'));
    const lines = block(tx.script, 'ns1/odd:a"b c;d_add table ip evil (tcp)');
    assert.match(lines[0]!, /^add chain ip kite service-[0-9a-f]{8}-ns1\/odd\/tcp\/a_b_c_d_add_table_ip_evil$/);
    assert.ok(!lines.some((l) => /[";]/.test(l.replace(/comment "[^"]*"/, ''))), lines.join('\n'));
    // Names that only differ where nft allows no character still get chains of their own; long ones are cut.
    const two = buildTransaction(cfg, [svc('odd', { clusterIP: '10.96.0.90', ports: [{ name: 'a"b', port: 80 }, { name: 'a_b', port: 81 }, { name: 'x'.repeat(300), port: 82 }] })], [
      slice('odd', [{ addresses: ['10.244.0.12'] }], { portName: 'a"b' }),
      slice('odd', [{ addresses: ['10.244.0.12'] }], { name: 'odd-2', portName: 'a_b' }),
      slice('odd', [{ addresses: ['10.244.0.12'] }], { name: 'odd-3', portName: 'x'.repeat(300) }),
    ]);
    const chains = [...two.state.chains];
    assert.equal(chains.length, 6);
    assert.equal(new Set(chains).size, 6);
    assert.ok(chains.every((c) => c.length <= 220), chains.join('\n'));
  });

  it('nodePortAddresses all: NodePorts on every local address but loopback', () => {
    const tx = buildTransaction({ ...cfg, nodePortAddresses: 'all' }, [], []);
    assert.ok(tx.script.includes('add rule ip kite services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n'));
    assert.ok(!tx.script.includes('nodeport-ips'));
  });

  it('UDP: flows of a port that gains its first endpoint, and flows answered by an endpoint that left, are to be forgotten', () => {
    const dns = (eps: string[]) =>
      buildTransaction(cfg, [svc('dns', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] })], [
        slice('dns', eps.map((ip) => ({ addresses: [ip] })), { port: 5353, portName: 'dns', protocol: 'UDP' }),
      ]).state.udp;
    assert.deepEqual(conntrackDeletions(dns([]), dns(['10.244.0.5'])), [
      ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53'],
      ['-D', '-p', 'udp', '--orig-port-dst', '30053'],
    ]);
    assert.deepEqual(conntrackDeletions(dns(['10.244.0.5', '10.244.0.6']), dns(['10.244.0.6'])), [
      ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53', '--reply-src', '10.244.0.5'],
      ['-D', '-p', 'udp', '--orig-port-dst', '30053', '--reply-src', '10.244.0.5'],
    ]);
    assert.deepEqual(conntrackDeletions(dns(['10.244.0.5']), dns(['10.244.0.5'])), []);
    // TCP needs none of this: a new connection is a new flow.
    assert.equal(buildTransaction(cfg, [svc('web', { clusterIP: '10.96.0.11' })], [slice('web', [{ addresses: ['10.244.0.5'] }])]).state.udp.size, 0);
  });

  it('deleting the table works whether or not it exists', () => {
    assert.equal(deleteTableScript('kite'), 'add table ip kite\ndelete table ip kite\n');
  });
});

describe('services and endpoints as the proxy sees them', () => {
  it('service ports: protocol and defaults, node ports only for NodePort/LoadBalancer, affinity timeout', () => {
    const [p] = servicePortsOf(svc('s', { clusterIP: '10.96.0.1', sessionAffinity: 'ClientIP', ports: [{ port: 53, protocol: 'UDP', nodePort: 30000 }] }));
    assert.deepEqual(p, {
      namespace: 'ns1',
      name: 's',
      portName: '',
      protocol: 'udp',
      clusterIp: '10.96.0.1',
      port: 53,
      nodePort: 0,
      externalIps: [],
      loadBalancerIps: [],
      loadBalancerSourceRanges: [],
      affinitySeconds: 10800,
      internalPolicyLocal: false,
      externalPolicyLocal: false,
    });
  });

  it('endpoints: conditions default as upstream, IPv4 slices only, duplicates merged with the ready one winning', () => {
    const eps = endpointsBySlices(
      [
        slice('s', [{ addresses: ['10.244.0.3'], conditions: { ready: false } }, { addresses: ['10.244.0.2'], nodeName: 'node-a' }], { name: 's-1' }),
        slice('s', [{ addresses: ['10.244.0.3'], conditions: { ready: true } }, { addresses: ['10.244.0.4'], conditions: { ready: false, serving: true, terminating: true } }], { name: 's-2' }),
        slice('s', [{ addresses: ['fd00::1'] }], { name: 's-3', addressType: 'IPv6' }),
      ],
      'node-a',
    ).get('ns1/s:p80/tcp');
    assert.deepEqual(eps, [
      { ip: '10.244.0.2', port: 8080, ready: true, serving: true, terminating: false, local: true },
      { ip: '10.244.0.3', port: 8080, ready: true, serving: true, terminating: false, local: false },
      { ip: '10.244.0.4', port: 8080, ready: false, serving: true, terminating: true, local: false },
    ]);
    const info = servicePortsOf(svc('s', { clusterIP: '10.96.0.1' }))[0]!;
    assert.deepEqual(categorizeEndpoints(eps!, info).cluster.map((e) => e.ip), ['10.244.0.2', '10.244.0.3'], 'ready ones only');
    const terminating = categorizeEndpoints(eps!.filter((e) => !e.ready), info);
    assert.deepEqual(terminating.cluster.map((e) => e.ip), ['10.244.0.4'], 'serving+terminating when none is ready');
    assert.equal(terminating.hasAny, true);
  });
});
