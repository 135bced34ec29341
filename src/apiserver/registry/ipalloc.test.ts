import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODE_PORT_RANGE, RangeAllocator, ipToNumber, numberToIp, parseCidr, serviceIpAllocator } from './ipalloc.js';

test('IPv4 text and numbers convert both ways, including the top of the address space', () => {
  assert.equal(ipToNumber('10.96.0.1'), 0x0a600001);
  assert.equal(ipToNumber('255.255.255.255'), 0xffffffff);
  assert.equal(ipToNumber('0.0.0.0'), 0);
  for (const ip of ['10.96.0.1', '192.168.255.254', '255.255.255.255', '128.0.0.1']) assert.equal(numberToIp(ipToNumber(ip)!), ip);
});

test('malformed addresses are rejected', () => {
  for (const bad of ['', '10.96.0', '10.96.0.256', '1.2.3.4.5', 'a.b.c.d', '::1', ' 10.0.0.1']) assert.equal(ipToNumber(bad), undefined, bad);
});

test('parseCidr aligns the base to the prefix and sizes the block', () => {
  const c = parseCidr('10.96.0.0/12');
  assert.equal(numberToIp(c.base), '10.96.0.0');
  assert.equal(c.size, 2 ** 20);
  // a host address inside the block names the same block
  assert.equal(numberToIp(parseCidr('10.100.3.7/12').base), '10.96.0.0');
  assert.throws(() => parseCidr('10.96.0.0'), /invalid CIDR/);
  assert.throws(() => parseCidr('10.96.0.0/33'), /invalid CIDR/);
  assert.throws(() => parseCidr('nonsense/12'), /invalid CIDR/);
});

test('the service allocator never hands out the network or broadcast address', () => {
  const a = serviceIpAllocator(parseCidr('10.0.0.0/29'));
  assert.equal(numberToIp(a.first), '10.0.0.1');
  assert.equal(numberToIp(a.last), '10.0.0.6');
  const got = new Set<string>();
  for (let i = 0; i < 6; i++) got.add(numberToIp(a.next()!));
  assert.deepEqual([...got].sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.equal(a.next(), undefined, 'a full range hands out nothing');
  assert.equal(a.contains(ipToNumber('10.0.0.0')!), false);
  assert.equal(a.contains(ipToNumber('10.0.0.7')!), false);
});

test('claim is exclusive until release', () => {
  const r = new RangeAllocator(10, 12);
  assert.equal(r.claim(11), true);
  assert.equal(r.claim(11), false);
  assert.equal(r.has(11), true);
  r.release(11);
  assert.equal(r.has(11), false);
  assert.equal(r.claim(11), true);
});

test('next() skips claimed values and reuses released ones', () => {
  const r = new RangeAllocator(1, 3);
  r.claim(2);
  const a = r.next()!;
  const b = r.next()!;
  assert.deepEqual([a, b].sort(), [1, 3]);
  assert.equal(r.next(), undefined);
  r.release(a);
  assert.equal(r.next(), a);
});

test('the node port range is upstream\'s default 30000-32767', () => {
  assert.deepEqual(NODE_PORT_RANGE, { first: 30000, last: 32767 });
  const r = new RangeAllocator(NODE_PORT_RANGE.first, NODE_PORT_RANGE.last);
  assert.equal(r.contains(29999), false);
  assert.equal(r.contains(30000), true);
  assert.equal(r.contains(32767), true);
  assert.equal(r.contains(32768), false);
});
