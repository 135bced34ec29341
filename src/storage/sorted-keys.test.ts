import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SortedKeys } from './sorted-keys.js';

/** A deterministic pseudo-random generator, so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

test('scan and count agree with a plain filter over many inserts and deletes', () => {
  const rand = rng(7);
  const keys = new SortedKeys(['/b/1', '/a/1', '/b/1']);
  const model = new Set(['/a/1', '/b/1']);
  const randomKey = () => `/${'abc'[Math.floor(rand() * 3)]}${rand() < 0.2 ? 'x' : ''}/${Math.floor(rand() * 3000)}`;
  // Enough keys to split chunks many times, with deletes that empty some.
  for (let step = 0; step < 20000; step++) {
    const k = randomKey();
    if (rand() < 0.3) {
      keys.delete(k);
      model.delete(k);
    } else {
      keys.insert(k);
      model.add(k);
    }
  }
  const sorted = [...model].sort();
  assert.equal(keys.size, sorted.length);
  assert.deepEqual([...keys.scan('')], sorted);
  for (const prefix of ['', '/a', '/a/', '/ax/', '/b/1', '/b/29', '/c/', '/d/', '/']) {
    const expected = sorted.filter((k) => k.startsWith(prefix));
    assert.deepEqual([...keys.scan(prefix)], expected, `scan ${prefix}`);
    assert.equal(keys.count(prefix), expected.length, `count ${prefix}`);
    for (const after of ['/a/1500', '/b/', '/b/2999', '/c/9', '/0', expected[5] ?? '/zz']) {
      assert.deepEqual([...keys.scan(prefix, after)], expected.filter((k) => k > after), `scan ${prefix} after ${after}`);
    }
  }
});

test('an empty set scans and counts nothing; deleting an absent key is harmless', () => {
  const keys = new SortedKeys();
  keys.delete('/x');
  assert.deepEqual([...keys.scan('/')], []);
  assert.equal(keys.count('/'), 0);
  keys.insert('/x');
  keys.insert('/x');
  assert.equal(keys.size, 1);
  keys.delete('/x');
  assert.equal(keys.size, 0);
  assert.deepEqual([...keys.scan('')], []);
});

test('deleting whole runs of keys (emptying internal chunks) keeps scans and counts exact', () => {
  const all = Array.from({ length: 3000 }, (_, i) => `/k/${String(i).padStart(4, '0')}`);
  const keys = new SortedKeys();
  for (const k of all) keys.insert(k);
  const gone = new Set(all.slice(500, 1800));
  for (const k of gone) keys.delete(k);
  const left = all.filter((k) => !gone.has(k));
  assert.deepEqual([...keys.scan('/k/')], left);
  assert.equal(keys.count('/k/1'), left.filter((k) => k.startsWith('/k/1')).length);
  assert.deepEqual([...keys.scan('/k/', '/k/0600')].slice(0, 2), ['/k/1800', '/k/1801']);
  keys.insert('/k/1000');
  assert.deepEqual([...keys.scan('/k/10')], ['/k/1000']);
  assert.equal(keys.size, left.length + 1);
});
