import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { applyJsonPatch, MAX_JSON_PATCH_OPERATIONS } from './jsonpatch.js';

/** Asserts that `fn` throws an ApiError with this code and reason (and message, when given). */
function assertApiError(fn: () => unknown, code: number, reason: string, message?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.reason, reason);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

const REJECTED = 'the server rejected our request due to an error in our request';

test('RFC 6902 A.1/A.2: add an object member and insert an array element', () => {
  assert.deepEqual(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }]), { foo: 'bar', baz: 'qux' });
  assert.deepEqual(applyJsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }]), {
    foo: ['bar', 'qux', 'baz'],
  });
});

test('RFC 6902 A.3/A.4: remove an object member and an array element', () => {
  assert.deepEqual(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }]), { foo: 'bar' });
  assert.deepEqual(applyJsonPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }]), { foo: ['bar', 'baz'] });
});

test('RFC 6902 A.5-A.7: replace a value, move a value, move an array element', () => {
  assert.deepEqual(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }]), {
    baz: 'boo',
    foo: 'bar',
  });
  assert.deepEqual(
    applyJsonPatch({ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [
      { op: 'move', from: '/foo/waldo', path: '/qux/thud' },
    ]),
    { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  );
  assert.deepEqual(applyJsonPatch({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }]), {
    foo: ['all', 'cows', 'eat', 'grass'],
  });
});

test('RFC 6902 A.8/A.9: test succeeds on equal values and fails with 422 otherwise', () => {
  const doc = { baz: 'qux', foo: ['a', 2, 'c'] };
  assert.deepEqual(
    applyJsonPatch(doc, [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ]),
    doc,
  );
  assertApiError(() => applyJsonPatch(doc, [{ op: 'test', path: '/baz', value: 'bar' }]), 422, 'Invalid', REJECTED);
});

test('RFC 6902 A.10/A.12/A.16: nested add, add to a missing parent fails, arrays as values', () => {
  assert.deepEqual(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }]), {
    foo: 'bar',
    child: { grandchild: {} },
  });
  assertApiError(() => applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]), 422, 'Invalid', REJECTED);
  assert.deepEqual(applyJsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }]), {
    foo: ['bar', ['abc', 'def']],
  });
});

test('RFC 6902 A.14: ~0 and ~1 escapes address "~" and "/" in keys', () => {
  const doc = { '/': 9, '~1': 10 };
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'test', path: '/~01', value: 10 }]), doc);
  const patched = applyJsonPatch({ metadata: { labels: { 'app.kubernetes.io/name': 'x' } } }, [
    { op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', value: 'y' },
  ]);
  assert.deepEqual(patched, { metadata: { labels: { 'app.kubernetes.io/name': 'y' } } });
});

test('RFC 6902 A.15: test compares strings exactly (10 vs "10")', () => {
  assertApiError(() => applyJsonPatch({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]), 422, 'Invalid');
});

test('copy duplicates a subtree without aliasing it', () => {
  const out = applyJsonPatch({ a: { b: [1] } }, [
    { op: 'copy', from: '/a', path: '/c' },
    { op: 'add', path: '/c/b/-', value: 2 },
  ]) as { a: { b: number[] }; c: { b: number[] } };
  assert.deepEqual(out, { a: { b: [1] }, c: { b: [1, 2] } });
});

test('operations apply in order and a later failure rejects the whole patch', () => {
  const doc = { spec: { replicas: 1 } };
  assertApiError(
    () =>
      applyJsonPatch(doc, [
        { op: 'replace', path: '/spec/replicas', value: 3 },
        { op: 'remove', path: '/spec/paused' },
      ]),
    422,
    'Invalid',
  );
  assert.deepEqual(doc, { spec: { replicas: 1 } });
});

test('the input document and operations are never mutated', () => {
  const doc = { spec: { containers: [{ name: 'a', image: 'x' }] } };
  const ops = [
    { op: 'add', path: '/spec/containers/-', value: { name: 'b' } },
    { op: 'replace', path: '/spec/containers/0/image', value: 'y' },
  ];
  const docCopy = structuredClone(doc);
  const opsCopy = structuredClone(ops);
  const out = applyJsonPatch(doc, ops) as typeof doc;
  assert.deepEqual(doc, docCopy);
  assert.deepEqual(ops, opsCopy);
  out.spec.containers[1].name = 'changed';
  assert.deepEqual(ops, opsCopy, 'added values are copies, not the patch objects');
});

test('json-patch v4 semantics the apiserver has: replace of a missing key adds it, negative indices count from the end', () => {
  assert.deepEqual(applyJsonPatch({ spec: {} }, [{ op: 'replace', path: '/spec/replicas', value: 2 }]), { spec: { replicas: 2 } });
  assert.deepEqual(applyJsonPatch({ a: [1, 2, 3] }, [{ op: 'remove', path: '/a/-1' }]), { a: [1, 2] });
  assertApiError(() => applyJsonPatch({ a: [1] }, [{ op: 'replace', path: '/a/5', value: 0 }]), 422, 'Invalid');
  assertApiError(() => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/3', value: 0 }]), 422, 'Invalid');
});

test('remove of a missing key, an unknown op and a missing path are 422', () => {
  assertApiError(() => applyJsonPatch({}, [{ op: 'remove', path: '/nope' }]), 422, 'Invalid', REJECTED);
  assertApiError(() => applyJsonPatch({}, [{ op: 'frobnicate', path: '/a' }]), 422, 'Invalid');
  assertApiError(() => applyJsonPatch({}, [{ op: 'add', value: 1 }]), 422, 'Invalid');
});

test('replace with the empty path swaps the whole document', () => {
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
});

test('a patch that is not an array of operations is 400 with encoding/json text', () => {
  assertApiError(
    () => applyJsonPatch({}, { op: 'add', path: '/a', value: 1 }),
    400,
    'BadRequest',
    'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
  );
  assertApiError(() => applyJsonPatch({}, [1]), 400, 'BadRequest', 'json: cannot unmarshal number into Go value of type jsonpatch.Operation');
});

test('more than the maximum number of operations is 413', () => {
  const ops = Array.from({ length: MAX_JSON_PATCH_OPERATIONS + 1 }, () => ({ op: 'test', path: '/a', value: 1 }));
  assertApiError(
    () => applyJsonPatch({ a: 1 }, ops),
    413,
    'RequestEntityTooLarge',
    `Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001`,
  );
});

test('a key named __proto__ is an ordinary field', () => {
  const out = applyJsonPatch({ data: {} }, [{ op: 'add', path: '/data/__proto__', value: 'x' }]) as { data: Record<string, unknown> };
  assert.deepEqual(Object.keys(out.data), ['__proto__']);
  assert.equal(Object.getPrototypeOf(out.data), Object.prototype);
});
