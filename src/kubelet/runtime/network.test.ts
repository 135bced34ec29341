import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostLocalIpam, gatewayOf, hostVethName, ipamRecords, numberToIp, parseCidr } from './network.js';

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
  it('hands out distinct addresses after the gateway and never the broadcast address', async () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.1.0/29'); // .2 … .6 usable
    const ipam = new HostLocalIpam(dir, cidr);
    const got: string[] = [];
    for (const o of ['a', 'b', 'c', 'd', 'e']) got.push(await ipam.allocate(o));
    assert.deepEqual(got, ['10.250.1.2', '10.250.1.3', '10.250.1.4', '10.250.1.5', '10.250.1.6']);
    await assert.rejects(ipam.allocate('f'), /no IP addresses available in range 10\.250\.1\.0\/29/);
  });

  it('gives an owner the address it already holds', async () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.2.0/24');
    const ipam = new HostLocalIpam(dir, cidr);
    const ip = await ipam.allocate('pod-a');
    assert.equal(await ipam.allocate('pod-a'), ip);
    assert.equal(ipamRecords(dir).size, 1);
  });

  it('survives restarts: allocations are read back from disk and not handed out again', async () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.3.0/24');
    const a = await new HostLocalIpam(dir, cidr).allocate('pod-a');
    // A fresh reader of the same directory (a restarted agent) sees pod-a's address taken.
    assert.equal(ipamRecords(dir).get(a), 'pod-a');
    const restarted = new HostLocalIpam(dir, parseCidr('10.250.3.0/24'));
    assert.equal(await restarted.allocate('pod-a'), a);
    assert.notEqual(await restarted.allocate('pod-b'), a);
  });

  it('releases an owner’s address idempotently, and reuses released addresses only after the others (round robin)', async () => {
    const dir = ipamDir();
    const cidr = parseCidr('10.250.4.0/29');
    const ipam = new HostLocalIpam(dir, cidr);
    const a = await ipam.allocate('a');
    await ipam.allocate('b');
    ipam.release('a');
    ipam.release('a');
    assert.equal([...ipamRecords(dir).values()].includes('a'), false);
    assert.notEqual(await ipam.allocate('c'), a, 'the just-released address is not reused first');
    for (const o of ['d', 'e']) await ipam.allocate(o);
    assert.equal(await ipam.allocate('f'), a, 'released addresses come back when the range wraps');
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
