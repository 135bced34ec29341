import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { execFile } from 'node:child_process';
import { R } from '../client/client.js';
import { ENDPOINT_SLICES } from '../controllers/endpointsutil.js';
import { eventually, startTestCluster, type TestCluster } from '../controllers/testenv.js';
import { ClusterDns } from './server.js';
import { CLASS_IN, RCODE, TYPE, decodeMessage, encodeMessage, flags, queryMessage, type Message } from './wire.js';

/**
 * A stand-in for the host's resolver on loopback (the real one may not be
 * reachable from a test machine): it records every question and answers
 * example.com/A and www.example.org/A, NXDOMAIN for anything else.
 */
class FakeUpstream {
  readonly asked: { name: string; type: number; proto: string }[] = [];
  private udp?: Socket;
  private tcp?: Server;
  port = 0;

  private answer(raw: Buffer, proto: string): Buffer {
    const q = decodeMessage(raw);
    const question = q.questions[0]!;
    this.asked.push({ name: question.name, type: question.type, proto });
    const known: Record<string, string> = { 'example.com': '93.184.216.34', 'www.example.org': '192.0.2.80' };
    const ip = question.type === TYPE.A ? known[question.name.toLowerCase()] : undefined;
    return encodeMessage({
      id: q.id,
      flags: flags({ qr: true, rd: q.flags.rd, ra: true, rcode: ip || known[question.name.toLowerCase()] ? RCODE.NOERROR : RCODE.NXDOMAIN }),
      questions: q.questions,
      answers: ip ? [{ name: question.name, type: TYPE.A, class: CLASS_IN, ttl: 300, address: ip }] : [],
      authorities: [],
      additionals: [],
    });
  }

  async start(): Promise<void> {
    this.tcp = createServer((sock) => {
      sock.on('data', (d) => {
        const a = this.answer(d.subarray(2, 2 + d.readUInt16BE(0)), 'tcp');
        const head = Buffer.alloc(2);
        head.writeUInt16BE(a.length);
        sock.end(Buffer.concat([head, a]));
      });
    });
    await new Promise<void>((r) => this.tcp!.listen(0, '127.0.0.1', r));
    this.port = (this.tcp.address() as { port: number }).port;
    this.udp = createSocket('udp4');
    this.udp.on('message', (m, rinfo) => this.udp!.send(this.answer(m, 'udp'), rinfo.port, rinfo.address));
    await new Promise<void>((r) => this.udp!.bind(this.port, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.tcp?.close(r));
    await new Promise((r) => (this.udp ? this.udp.close(() => r(undefined)) : r(undefined)));
  }
}

let cluster: TestCluster;
let dns: ClusterDns;
let upstream: FakeUpstream;
let nextId = 1;

/** Asks the server one question over UDP (or TCP) with this client's own codec. */
async function ask(name: string, type: number, opts: { tcp?: boolean; udpSize?: number; port?: number } = {}): Promise<Message> {
  const query = encodeMessage(queryMessage(nextId++ & 0xffff, name, type, { udpSize: opts.udpSize }));
  const port = opts.port ?? dns.port;
  if (opts.tcp) {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port });
      let buf = Buffer.alloc(0);
      sock.on('connect', () => {
        const head = Buffer.alloc(2);
        head.writeUInt16BE(query.length);
        sock.write(Buffer.concat([head, query]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          sock.end();
          resolve(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        }
      });
      sock.on('error', reject);
    });
  }
  const sock = createSocket('udp4');
  try {
    return await new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 5000);
      sock.on('message', (m) => {
        clearTimeout(timer);
        resolve(decodeMessage(m));
      });
      sock.send(query, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

/** `dig` (BIND's resolver tool), an independent parser of what the server sends. */
function dig(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('dig', ['@127.0.0.1', '-p', String(dns.port), '+time=3', '+tries=1', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

const addrs = (m: Message) => m.answers.filter((r) => r.type === TYPE.A).map((r) => r.address!).sort();

function slice(name: string, svc: string, endpoints: any[], ports: any[] = [{ name: 'http', port: 8080, protocol: 'TCP' }]): any {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

const ep = (ip: string, extra: any = {}) => ({ addresses: [ip], conditions: { ready: true }, ...extra });

before(async () => {
  cluster = await startTestCluster();
  await cluster.namespace('default', 'ml');
  const svc = (ns: string, name: string, spec: any) => cluster.client.create(R.services, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec });
  await svc('default', 'web', { clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }] });
  await svc('ml', 'workers', { clusterIP: 'None', ports: [{ name: 'nccl', port: 29500 }] });
  await svc('ml', 'empty', { clusterIP: 'None', ports: [{ port: 1 }] });
  await svc('ml', 'big', { clusterIP: 'None' });
  await svc('default', 'ext', { type: 'ExternalName', externalName: 'www.example.org' });
  await svc('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' });
  await cluster.client.create(
    ENDPOINT_SLICES,
    'ml',
    slice('workers-abc', 'workers', [ep('10.244.1.10', { hostname: 'trainer-0' }), ep('10.244.1.11', { hostname: 'trainer-1' }), ep('10.244.1.12', { conditions: { ready: false } }), ep('10.244.1.13')], [{ name: 'nccl', port: 29500, protocol: 'TCP' }]),
  );
  await cluster.client.create(ENDPOINT_SLICES, 'ml', slice('empty-x', 'empty', [ep('10.244.1.20', { conditions: { ready: false } })]));
  await cluster.client.create(ENDPOINT_SLICES, 'ml', slice('big-x', 'big', Array.from({ length: 60 }, (_, i) => ep(`10.244.2.${i + 2}`)), []));
  upstream = new FakeUpstream();
  await upstream.start();
  dns = new ClusterDns({
    client: cluster.client,
    informers: cluster.informers,
    clusterDomain: 'cluster.local',
    address: '127.0.0.1',
    port: 0,
    upstreams: [`127.0.0.1:${upstream.port}`],
    dnsIp: '10.96.0.10',
    metricsPort: 0,
    log: () => {},
  });
  await dns.start();
});

after(async () => {
  await dns?.stop();
  await upstream?.stop();
  await cluster?.close();
});

test('a Service name resolves to its cluster IP, by FQDN and in any letter case; the answer is authoritative with TTL 5', async () => {
  const m = await ask('web.default.svc.cluster.local', TYPE.A);
  assert.equal(m.flags.rcode, RCODE.NOERROR);
  assert.equal(m.flags.aa, true);
  assert.deepEqual(m.answers, [{ name: 'web.default.svc.cluster.local', type: TYPE.A, class: CLASS_IN, ttl: 5, address: '10.96.0.50' }]);
  const upper = await ask('WEB.Default.SVC.cluster.local', TYPE.A);
  assert.deepEqual(addrs(upper), ['10.96.0.50']);
  // The answer echoes the name as asked.
  assert.equal(upper.answers[0]!.name, 'WEB.Default.SVC.cluster.local');
  assert.equal((await dig(['+short', 'web.default.svc.cluster.local', 'A'])).trim(), '10.96.0.50');
});

test('names that do not exist are NXDOMAIN with the SOA; existing names without such records are NODATA', async () => {
  for (const name of ['nope.default.svc.cluster.local', 'web.nonamespace.svc.cluster.local', 'web.default.nothing.cluster.local', 'a.b.c.web.default.svc.cluster.local']) {
    const m = await ask(name, TYPE.A);
    assert.equal(m.flags.rcode, RCODE.NXDOMAIN, name);
    assert.equal(m.answers.length, 0);
    assert.equal(m.authorities[0]!.type, TYPE.SOA, name);
    assert.equal(m.authorities[0]!.soa!.mname, 'ns.dns.cluster.local');
    assert.equal(m.authorities[0]!.soa!.rname, 'hostmaster.cluster.local');
  }
  for (const [name, type] of [
    ['web.default.svc.cluster.local', TYPE.AAAA],
    ['web.default.svc.cluster.local', TYPE.MX],
    ['default.svc.cluster.local', TYPE.A],
    ['svc.cluster.local', TYPE.A],
    ['cluster.local', TYPE.A],
  ] as const) {
    const m = await ask(name, type);
    assert.equal(m.flags.rcode, RCODE.NOERROR, `${name} ${type}`);
    assert.equal(m.answers.length, 0);
    assert.equal(m.authorities[0]!.type, TYPE.SOA);
  }
  const out = await dig(['nope.default.svc.cluster.local', 'A']);
  assert.match(out, /status: NXDOMAIN/);
  assert.match(out, /cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5/);
});

test('a headless Service resolves to its ready endpoints; each endpoint by hostname or dashed IP; none ready is NXDOMAIN', async () => {
  assert.deepEqual(addrs(await ask('workers.ml.svc.cluster.local', TYPE.A)), ['10.244.1.10', '10.244.1.11', '10.244.1.13']);
  assert.deepEqual(addrs(await ask('trainer-0.workers.ml.svc.cluster.local', TYPE.A)), ['10.244.1.10']);
  assert.deepEqual(addrs(await ask('10-244-1-13.workers.ml.svc.cluster.local', TYPE.A)), ['10.244.1.13']);
  // Not ready: not published.
  assert.equal((await ask('10-244-1-12.workers.ml.svc.cluster.local', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  assert.equal((await ask('trainer-9.workers.ml.svc.cluster.local', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  assert.equal((await ask('empty.ml.svc.cluster.local', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  const short = (await dig(['+short', 'workers.ml.svc.cluster.local'])).trim().split('\n').sort();
  assert.deepEqual(short, ['10.244.1.10', '10.244.1.11', '10.244.1.13']);
});

test('SRV records per named port (ClusterIP) and per ready endpoint (headless), with the targets in the additional section', async () => {
  const m = await ask('_http._tcp.web.default.svc.cluster.local', TYPE.SRV);
  assert.deepEqual(
    m.answers.map((r) => [r.priority, r.weight, r.port, r.target]),
    [[0, 100, 80, 'web.default.svc.cluster.local']],
  );
  assert.deepEqual(m.additionals.map((r) => [r.name, r.address]), [['web.default.svc.cluster.local', '10.96.0.50']]);
  const all = await ask('web.default.svc.cluster.local', TYPE.SRV);
  assert.deepEqual(all.answers.map((r) => [r.weight, r.port]).sort(), [[50, 80], [50, 9090]]);
  const h = await ask('_nccl._tcp.workers.ml.svc.cluster.local', TYPE.SRV);
  assert.deepEqual(h.answers.map((r) => `${r.weight} ${r.port} ${r.target}`).sort(), [
    '33 29500 10-244-1-13.workers.ml.svc.cluster.local',
    '33 29500 trainer-0.workers.ml.svc.cluster.local',
    '33 29500 trainer-1.workers.ml.svc.cluster.local',
  ]);
  assert.deepEqual(h.additionals.filter((r) => r.type === TYPE.A).map((r) => `${r.name} ${r.address}`).sort(), [
    '10-244-1-13.workers.ml.svc.cluster.local 10.244.1.13',
    'trainer-0.workers.ml.svc.cluster.local 10.244.1.10',
    'trainer-1.workers.ml.svc.cluster.local 10.244.1.11',
  ]);
  assert.equal((await ask('_nope._tcp.web.default.svc.cluster.local', TYPE.SRV)).flags.rcode, RCODE.NXDOMAIN);
  assert.equal((await ask('_http._udp.web.default.svc.cluster.local', TYPE.SRV)).flags.rcode, RCODE.NXDOMAIN);
  assert.equal((await dig(['+short', '_http._tcp.web.default.svc.cluster.local', 'SRV'])).trim(), '0 100 80 web.default.svc.cluster.local.');
});

test('PTR for cluster IPs and endpoint IPs; other reverse names go upstream', async () => {
  const svc = await ask('50.0.96.10.in-addr.arpa', TYPE.PTR);
  assert.deepEqual(svc.answers.map((r) => r.target), ['web.default.svc.cluster.local']);
  const pod = await ask('10.1.244.10.in-addr.arpa', TYPE.PTR);
  assert.deepEqual(pod.answers.map((r) => r.target), ['trainer-0.workers.ml.svc.cluster.local']);
  assert.equal((await dig(['+short', '-x', '10.244.1.13'])).trim(), '10-244-1-13.workers.ml.svc.cluster.local.');
  const before = upstream.asked.length;
  const other = await ask('4.3.2.1.in-addr.arpa', TYPE.PTR);
  assert.equal(other.flags.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(upstream.asked.slice(before), [{ name: '4.3.2.1.in-addr.arpa', type: TYPE.PTR, proto: 'udp' }]);
});

test('pod names, ExternalName CNAMEs (chased upstream or in the zone), dns-version, SOA and NS at the apex', async () => {
  assert.deepEqual(addrs(await ask('10-244-0-5.default.pod.cluster.local', TYPE.A)), ['10.244.0.5']);
  assert.equal((await ask('10-244-0-5.nonamespace.pod.cluster.local', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  assert.equal((await ask('not-an-ip.default.pod.cluster.local', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  const ext = await ask('ext.default.svc.cluster.local', TYPE.A);
  assert.deepEqual(
    ext.answers.map((r) => [r.type, r.target ?? r.address]),
    [
      [TYPE.CNAME, 'www.example.org'],
      [TYPE.A, '192.0.2.80'],
    ],
  );
  const alias = await ask('alias.default.svc.cluster.local', TYPE.A);
  assert.deepEqual(alias.answers.map((r) => r.target ?? r.address), ['web.default.svc.cluster.local', '10.96.0.50']);
  const txt = await ask('dns-version.cluster.local', TYPE.TXT);
  assert.deepEqual(txt.answers.map((r) => [r.texts, r.ttl]), [[['1.1.0'], 28800]]);
  const soa = await ask('cluster.local', TYPE.SOA);
  assert.equal(soa.answers[0]!.soa!.refresh, 7200);
  const ns = await ask('cluster.local', TYPE.NS);
  assert.deepEqual(ns.answers.map((r) => r.target), ['ns.dns.cluster.local']);
  assert.deepEqual(ns.additionals.map((r) => r.address), ['10.96.0.10']);
  assert.deepEqual(addrs(await ask('ns.dns.cluster.local', TYPE.A)), ['10.96.0.10']);
});

test('names outside the zone are forwarded over the protocol they came in on; a dead upstream gives SERVFAIL', async () => {
  const before = upstream.asked.length;
  const udp = await ask('example.com', TYPE.A);
  assert.deepEqual(addrs(udp), ['93.184.216.34']);
  assert.equal(udp.answers[0]!.ttl, 300);
  const tcp = await ask('example.com', TYPE.A, { tcp: true });
  assert.deepEqual(addrs(tcp), ['93.184.216.34']);
  assert.equal((await ask('missing.example.com', TYPE.A)).flags.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(upstream.asked.slice(before), [
    { name: 'example.com', type: TYPE.A, proto: 'udp' },
    { name: 'example.com', type: TYPE.A, proto: 'tcp' },
    { name: 'missing.example.com', type: TYPE.A, proto: 'udp' },
  ]);
  // The cluster zone is never forwarded.
  await ask('nope.default.svc.cluster.local', TYPE.A);
  assert.equal(upstream.asked.filter((q) => q.name.endsWith('cluster.local')).length, 0);

  const dead = new ClusterDns({ client: cluster.client, informers: cluster.informers, clusterDomain: 'cluster.local', address: '127.0.0.1', port: 0, upstreams: ['127.0.0.1:9'], forwardTimeoutMs: 200, log: () => {} });
  await dead.start();
  try {
    const m = await ask('example.com', TYPE.A, { port: dead.port });
    assert.equal(m.flags.rcode, RCODE.SERVFAIL);
    // The cluster zone still answers.
    assert.deepEqual(addrs(await ask('web.default.svc.cluster.local', TYPE.A, { port: dead.port })), ['10.96.0.50']);
  } finally {
    await dead.stop();
  }
});

test('UDP answers that do not fit are truncated (TC) and complete over TCP; EDNS raises the limit', async () => {
  const udp = await ask('big.ml.svc.cluster.local', TYPE.A);
  assert.equal(udp.flags.tc, true);
  assert.ok(udp.answers.length < 60);
  const tcp = await ask('big.ml.svc.cluster.local', TYPE.A, { tcp: true });
  assert.equal(tcp.flags.tc, false);
  assert.equal(tcp.answers.length, 60);
  const edns = await ask('big.ml.svc.cluster.local', TYPE.A, { udpSize: 4096 });
  assert.equal(edns.flags.tc, false);
  assert.equal(edns.answers.length, 60);
  assert.equal(edns.additionals.find((r) => r.type === TYPE.OPT)?.class, 4096);
  // dig without EDNS retries over TCP on TC and shows everything.
  assert.equal((await dig(['+short', '+noedns', 'big.ml.svc.cluster.local'])).trim().split('\n').length, 60);
});

test('changes reach answers through the informers; malformed queries get FORMERR; metrics count requests', async () => {
  await cluster.client.create(ENDPOINT_SLICES, 'ml', slice('workers-def', 'workers', [ep('10.244.1.30', { hostname: 'trainer-2' })], [{ name: 'nccl', port: 29500, protocol: 'TCP' }]));
  await eventually(async () => addrs(await ask('trainer-2.workers.ml.svc.cluster.local', TYPE.A))[0] === '10.244.1.30', 'the new endpoint answered');
  await cluster.client.delete(R.services, 'default', 'alias');
  await eventually(async () => (await ask('alias.default.svc.cluster.local', TYPE.A)).flags.rcode === RCODE.NXDOMAIN, 'the deleted Service gone');

  const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]);
  const sock = createSocket('udp4');
  const reply = await new Promise<Message>((resolve) => {
    sock.on('message', (m) => resolve(decodeMessage(m)));
    sock.send(bad, dns.port, '127.0.0.1');
  });
  sock.close();
  assert.equal(reply.id, 0x1234);
  assert.equal(reply.flags.rcode, RCODE.FORMERR);

  const res = await fetch(`http://127.0.0.1:${dns.metricsPort}/metrics`);
  const text = await res.text();
  assert.match(text, /coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",proto="udp",type="A"\} \d+/);
  assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN"\} \d+/);
  assert.match(text, /coredns_dns_requests_total\{[^}]*proto="tcp",type="A"\} \d+/);
});
