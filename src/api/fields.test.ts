import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from './errors.js';
import { parseFieldSelector, escapeFieldValue, fieldSelectorFromSet, transformFieldSelector } from './fields.js';

function parseFails(s: string, message: string): void {
  assert.throws(
    () => parseFieldSelector(s),
    (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 400);
      assert.equal(e.message, message);
      return true;
    },
    s,
  );
}

test('parses =, == and != terms, sorted as upstream does', () => {
  const sel = parseFieldSelector('status.phase!=Running,spec.nodeName==node-1,metadata.name=web');
  assert.deepEqual(sel.requirements, [
    { field: 'metadata.name', op: '=', value: 'web' },
    { field: 'spec.nodeName', op: '=', value: 'node-1' },
    { field: 'status.phase', op: '!=', value: 'Running' },
  ]);
  assert.equal(sel.toString(), 'metadata.name=web,spec.nodeName=node-1,status.phase!=Running');
});

test('empty selector and empty terms select everything', () => {
  assert.ok(parseFieldSelector('').empty());
  assert.ok(parseFieldSelector(',,').empty());
  // A term with neither field nor value disappears, as upstream's Transform drops it.
  assert.ok(parseFieldSelector('=').empty());
  assert.ok(parseFieldSelector('').matches({}));
});

test('escaped commas, equals and backslashes belong to the value', () => {
  const sel = parseFieldSelector('a=x\\,y\\=z\\\\,b=c');
  assert.deepEqual(sel.requirements, [
    { field: 'a', op: '=', value: 'x,y=z\\' },
    { field: 'b', op: '=', value: 'c' },
  ]);
  assert.equal(sel.toString(), 'a=x\\,y\\=z\\\\,b=c');
  assert.equal(escapeFieldValue('a,b=c\\'), 'a\\,b\\=c\\\\');
  assert.ok(sel.matches({ a: 'x,y=z\\', b: 'c' }));
});

test('values are taken literally otherwise (no whitespace trimming)', () => {
  const sel = parseFieldSelector('metadata.name = web');
  assert.deepEqual(sel.requirements, [{ field: 'metadata.name ', op: '=', value: ' web' }]);
  assert.deepEqual(parseFieldSelector('a=').requirements, [{ field: 'a', op: '=', value: '' }]);
});

test('malformed selectors fail with upstream messages', () => {
  parseFails('abc', "invalid selector: 'abc'; can't understand 'abc'");
  parseFails('a=b,junk', "invalid selector: 'a=b,junk'; can't understand 'junk'");
  parseFails('a=b=c', 'invalid field selector: unescaped character in value: 61');
  parseFails('a=b\\x', 'invalid field selector: invalid escape sequence: \\x');
  parseFails('a=b\\', 'invalid field selector: invalid escape sequence: \\');
});

test('a missing field reads as the empty string', () => {
  assert.equal(parseFieldSelector('spec.nodeName=').matches({}), true);
  assert.equal(parseFieldSelector('spec.nodeName!=').matches({}), false);
  assert.equal(parseFieldSelector('spec.nodeName!=n1').matches({}), true);
  assert.equal(parseFieldSelector('spec.nodeName=n1').matches({}), false);
  assert.equal(parseFieldSelector('toString=').matches({}), true);
});

test('matching requires every term', () => {
  const sel = parseFieldSelector('spec.nodeName=n1,status.phase!=Succeeded');
  assert.equal(sel.matches({ 'spec.nodeName': 'n1', 'status.phase': 'Running' }), true);
  assert.equal(sel.matches({ 'spec.nodeName': 'n1', 'status.phase': 'Succeeded' }), false);
  assert.equal(sel.matches({ 'spec.nodeName': 'n2', 'status.phase': 'Running' }), false);
});

test('exactValue reports the value of an = term only', () => {
  const sel = parseFieldSelector('metadata.name==web,status.phase!=Failed');
  assert.equal(sel.exactValue('metadata.name'), 'web');
  assert.equal(sel.exactValue('status.phase'), undefined);
  assert.equal(sel.exactValue('spec.nodeName'), undefined);
});

test('fieldSelectorFromSet and transformFieldSelector build selectors for clients and conversion', () => {
  const sel = fieldSelectorFromSet({ 'spec.nodeName': 'n1' });
  assert.equal(sel.toString(), 'spec.nodeName=n1');
  const renamed = transformFieldSelector(parseFieldSelector('spec.host=n1,a!=b'), (f, v) => ({ field: f === 'spec.host' ? 'spec.nodeName' : f, value: v }));
  assert.equal(renamed.toString(), 'a!=b,spec.nodeName=n1');
  assert.ok(transformFieldSelector(parseFieldSelector('x=y'), () => ({ field: '', value: '' })).empty());
});
