import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateIp, gatewayOf, hostVethName, ipamRecords, numberToIp, parseCidr, releaseIp } from './network.js';

const base = mkdtempSync(join(tmpdir(), 'kite-ipam-'));
after(() => rmSync(base, { recursive: true, force: true }));
let dirs = 0;

/** A fresh IPAM directory (not yet created, as on a node's first start). */
function ipamDir(): string {
  return join(base, `ipam-${dirs++}`);
}

describe('pod CIDR arithmetic', () => {
  it('parses a CIDR to its network address and gateway', () => {
    const c = parseCidr('10.244.3.77/24');
    assert.equal(numberToIp(c.base), '10.244.3.0');
    assert.equal(c.prefix, 24);
    assert.equal(gatewayOf(c), '10.244.3.1');
    assert.equal(gatewayOf(parseCidr('192.168.0.0/16')), '192.168.0.1');
  });

  it('rejects what is not an IPv4 CIDR', () => {
    for (const bad of ['10.244.0.0', '10.244.0.0/33', 'fd00::/64', '10.244.0.300/24', '10.244.0.0/31']) {
      assert.throws(() => parseCidr(bad), /invalid/, bad);
    }
  });
});

describe('IP allocation', () => {
  it('hands out distinct addresses after the gateway and never the broadcast address', () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.1.0/29'); // .2 … .6 usable
    const got = ['a', 'b', 'c', 'd', 'e'].map((o) => allocateIp(dir, cidr, o));
    assert.deepEqual(got, ['10.250.1.2', '10.250.1.3', '10.250.1.4', '10.250.1.5', '10.250.1.6']);
    assert.throws(() => allocateIp(dir, cidr, 'f'), /no IP addresses available in range 10\.250\.1\.0\/29/);
  });

  it('gives an owner the address it already holds', () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.2.0/24');
    const ip = allocateIp(dir, cidr, 'pod-a');
    assert.equal(allocateIp(dir, cidr, 'pod-a'), ip);
    assert.equal(ipamRecords(dir).size, 1);
  });

  it('survives restarts: allocations are read back from disk and not handed out again', () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.3.0/24');
    const a = allocateIp(dir, cidr, 'pod-a');
    // A fresh reader of the same directory (a restarted agent) sees pod-a's address taken.
    assert.equal(ipamRecords(dir).get(a), 'pod-a');
    const b = allocateIp(dir, parseCidr('10.250.3.0/24'), 'pod-b');
    assert.notEqual(a, b);
  });

  it('releases an owner’s address idempotently, and reuses released addresses only after the others (round robin)', () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.4.0/29');
    const a = allocateIp(dir, cidr, 'a');
    allocateIp(dir, cidr, 'b');
    releaseIp(dir, 'a');
    releaseIp(dir, 'a');
    assert.equal([...ipamRecords(dir).values()].includes('a'), false);
    assert.notEqual(allocateIp(dir, cidr, 'c'), a, 'the just-released address is not reused first');
    for (const o of ['d', 'e']) allocateIp(dir, cidr, o);
    assert.equal(allocateIp(dir, cidr, 'f'), a, 'released addresses come back when the range wraps');
    assert.deepEqual(readdirSync(dir).filter((n) => n !== 'last_reserved_ip').length, 5);
  });
});

describe('host veth names', () => {
  it('fit the 15-byte interface name limit and differ per sandbox', () => {
    const a = hostVethName('kite-0123456789ab');
    assert.ok(a.length <= 15 && a.startsWith('kv'));
    assert.notEqual(a, hostVethName('kite-0123456789ac'));
  });
});
