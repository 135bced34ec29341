import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASS_IN,
  DnsFormatError,
  TYPE,
  decodeMessage,
  encodeMessage,
  ednsOf,
  flags,
  nameToLabels,
  optRecord,
  queryMessage,
  type Message,
  type ResourceRecord,
} from './wire.js';

const rr = (name: string, type: number, f: Partial<ResourceRecord>): ResourceRecord => ({ name, type, class: CLASS_IN, ttl: 5, ...f });

function response(answers: ResourceRecord[], extra: Partial<Message> = {}): Message {
  return {
    id: 0xbeef,
    flags: flags({ qr: true, aa: true, rd: true }),
    questions: [{ name: 'web.default.svc.cluster.local', type: TYPE.A, class: CLASS_IN }],
    answers,
    authorities: [],
    additionals: [],
    ...extra,
  };
}

test('a query encodes to the RFC 1035 bytes (header, labels, type, class)', () => {
  const b = encodeMessage(queryMessage(0x1234, 'svc.ns', TYPE.A));
  assert.equal(
    b.toString('hex'),
    // id 1234, flags 0100 (RD), 1 question, no records; 3"svc" 2"ns" 0; type 1; class 1
    '123401000001000000000000' + '03737663' + '026e73' + '00' + '0001' + '0001',
  );
});

test('every record type round-trips; names are compressed against earlier ones', () => {
  const records = [
    rr('web.default.svc.cluster.local', TYPE.A, { address: '10.96.0.12' }),
    rr('web.default.svc.cluster.local', TYPE.AAAA, { address: 'fd00::1:2' }),
    rr('ext.default.svc.cluster.local', TYPE.CNAME, { target: 'example.com' }),
    rr('12.0.96.10.in-addr.arpa', TYPE.PTR, { target: 'web.default.svc.cluster.local' }),
    rr('_http._tcp.web.default.svc.cluster.local', TYPE.SRV, { priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }),
    rr('cluster.local', TYPE.MX, { preference: 10, target: 'mail.cluster.local' }),
    rr('dns-version.cluster.local', TYPE.TXT, { texts: ['1.1.0', ''] }),
    rr('cluster.local', TYPE.NS, { target: 'ns.dns.cluster.local' }),
    rr('cluster.local', TYPE.SOA, { soa: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1700000000, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 } }),
    rr('weird', 99, { raw: Buffer.from([1, 2, 3]) }),
  ];
  const msg = response(records, { additionals: [optRecord(1232)] });
  const bytes = encodeMessage(msg);
  const back = decodeMessage(bytes);
  assert.deepEqual(back, msg);
  // Compression: the first answer's owner is the question's name, written as a pointer to offset 12.
  const afterQuestion = 12 + 31 + 4;
  assert.equal(bytes.readUInt16BE(afterQuestion).toString(16), 'c00c');
  // The SRV target is never compressed (RFC 2782): it appears spelled out.
  assert.ok(bytes.includes(Buffer.from('\x00\x00\x00\x64\x00\x50\x03web\x07default\x03svc\x07cluster\x05local\x00', 'latin1')));
  assert.deepEqual(ednsOf(back), { udpSize: 1232, version: 0, dnssecOk: false });
});

test('IPv6 addresses encode in all their spellings and decode to the RFC 5952 form', () => {
  for (const [given, canonical] of [
    ['::1', '::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['fe80::', 'fe80::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ]) {
    const back = decodeMessage(encodeMessage(response([rr('x', TYPE.AAAA, { address: given })])));
    assert.equal(back.answers[0]!.address, canonical, given);
  }
});

test('labels with dots, backslashes and odd bytes survive as escapes; bad names are refused', () => {
  const name = 'a\\.b.c\\\\d.\\000x';
  const back = decodeMessage(encodeMessage(response([rr(name, TYPE.A, { address: '1.2.3.4' })])));
  assert.equal(back.answers[0]!.name, name);
  assert.deepEqual(nameToLabels(name).map((l) => [...l]), [[0x61, 0x2e, 0x62], [0x63, 0x5c, 0x64], [0, 0x78]]);
  assert.throws(() => nameToLabels('a..b'), DnsFormatError);
  assert.throws(() => nameToLabels(`${'x'.repeat(64)}.com`), /longer than 63/);
  assert.deepEqual(nameToLabels(''), []);
  assert.deepEqual(nameToLabels('.'), []);
});

test('malformed messages are refused: short, pointer loops, forward pointers, overruns', () => {
  assert.throws(() => decodeMessage(Buffer.alloc(5)), DnsFormatError);
  const header = (qd: number) => Buffer.from([0, 1, 1, 0, 0, qd, 0, 0, 0, 0, 0, 0]);
  // A name that points at itself.
  assert.throws(() => decodeMessage(Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])), /compression pointer/);
  // A label longer than the message.
  assert.throws(() => decodeMessage(Buffer.concat([header(1), Buffer.from([40, 0x61])])), DnsFormatError);
  // More questions than present.
  assert.throws(() => decodeMessage(header(2)), DnsFormatError);
  // An A record with 3 bytes of data.
  const bad = Buffer.concat([Buffer.from([0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3])]);
  assert.throws(() => decodeMessage(bad), /wrong length/);
});

test('over a size limit, additional records go first, then answers, and TC is set', () => {
  const answers = Array.from({ length: 60 }, (_, i) => rr('headless.ml.svc.cluster.local', TYPE.A, { address: `10.244.0.${i + 2}` }));
  const extra = [rr('x.cluster.local', TYPE.A, { address: '10.0.0.1' }), optRecord(512)];
  const msg = response(answers, { additionals: extra });
  const full = encodeMessage(msg);
  assert.ok(full.length > 512);
  const cut = decodeMessage(encodeMessage(msg, { maxSize: 512 }));
  assert.equal(cut.flags.tc, true);
  assert.ok(cut.answers.length > 0 && cut.answers.length < 60, `${cut.answers.length} answers kept`);
  assert.deepEqual(cut.additionals.map((r) => r.type), [TYPE.OPT]);
  assert.ok(encodeMessage(msg, { maxSize: 512 }).length <= 512);
  // Only the additional records had to go: no TC.
  const small = response(answers.slice(0, 20), { additionals: [rr('pad.cluster.local', TYPE.TXT, { texts: ['x'.repeat(250)] })] });
  const trimmed = decodeMessage(encodeMessage(small, { maxSize: 512 }));
  assert.equal(trimmed.flags.tc, false);
  assert.equal(trimmed.answers.length, 20);
  assert.equal(trimmed.additionals.length, 0);
});
