import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { applyMergePatch } from './mergepatch.js';

test('RFC 7386 appendix A examples that both the RFC and the apiserver agree on', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [doc, patch, want] of cases) {
    assert.deepEqual(applyMergePatch(doc, patch), want, `${JSON.stringify(doc)} + ${JSON.stringify(patch)}`);
  }
});

test('a null or scalar patch is rejected with 400 "Invalid JSON Patch" (RFC would replace the document)', () => {
  for (const patch of [null, 'bar', 5, true]) {
    assert.throws(
      () => applyMergePatch({ a: 'foo' }, patch),
      (e: unknown) => e instanceof ApiError && e.code === 400 && e.reason === 'BadRequest' && e.message === 'Invalid JSON Patch',
    );
  }
});

test('lists are replaced wholesale, never merged', () => {
  const doc = { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } };
  assert.deepEqual(applyMergePatch(doc, { spec: { containers: [{ name: 'a', image: 'z' }] } }), {
    spec: { containers: [{ name: 'a', image: 'z' }] },
  });
});

test('kubectl label/annotate style patches add, change and remove map keys', () => {
  const doc = { metadata: { name: 'p', labels: { app: 'web', tier: 'fe' }, annotations: { a: '1' } } };
  const out = applyMergePatch(doc, { metadata: { labels: { tier: null, env: 'prod' }, annotations: { a: '2' } } });
  assert.deepEqual(out, { metadata: { name: 'p', labels: { app: 'web', env: 'prod' }, annotations: { a: '2' } } });
});

test('the inputs are never mutated and the result shares nothing with them', () => {
  const doc = { a: { b: 1 }, keep: [1] };
  const patch = { a: { c: { d: null, e: 2 } } };
  const docCopy = structuredClone(doc);
  const patchCopy = structuredClone(patch);
  const out = applyMergePatch(doc, patch) as { a: { b: number; c: { e: number } }; keep: number[] };
  assert.deepEqual(out, { a: { b: 1, c: { e: 2 } }, keep: [1] });
  assert.deepEqual(doc, docCopy);
  assert.deepEqual(patch, patchCopy);
  out.keep.push(2);
  assert.deepEqual(doc.keep, [1]);
});

test('nulls inside objects of an array are pruned when the array replaces a non-object', () => {
  // evanphx/json-patch prunes nulls from the patch value before storing it where nothing mergeable was.
  assert.deepEqual(applyMergePatch({ a: 'x' }, { a: [{ b: null, c: 1 }, null] }), { a: [{ c: 1 }, null] });
});
