import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goFormat, goSyntaxError, goTypeName } from './gojson.js';

test('goFormat prints decoded JSON as Go %v does', () => {
  assert.equal(goFormat({ name: 'a', b: [1, 'x', null], a: true }), 'map[a:true b:[1 x <nil>] name:a]');
  assert.equal(goFormat(0.5), '0.5');
  assert.equal(goFormat(1234567.5), '1.2345675e+06');
  assert.equal(goFormat(0.00001), '1e-05');
});

test('goTypeName names the Go dynamic type of a decoded value', () => {
  assert.equal(goTypeName({}), 'map[string]interface {}');
  assert.equal(goTypeName([]), '[]interface {}');
  assert.equal(goTypeName(3), 'int64');
  assert.equal(goTypeName(null), '%!s(<nil>)');
});

test('goSyntaxError reproduces encoding/json scanner messages', () => {
  assert.equal(goSyntaxError('{"a":1}'), undefined);
  assert.equal(goSyntaxError('{"a" 1}'), `invalid character '1' after object key`);
  assert.equal(goSyntaxError('{"a":1 "b":2}'), `invalid character '"' after object key:value pair`);
  assert.equal(goSyntaxError('[1 2]'), `invalid character '2' after array element`);
  assert.equal(goSyntaxError('nul'), 'unexpected end of JSON input');
  assert.equal(goSyntaxError('tru!'), `invalid character '!' in literal true (expecting 'e')`);
  assert.equal(goSyntaxError('-x'), `invalid character 'x' in numeric literal`);
  assert.equal(goSyntaxError('"a\nb"'), `invalid character '\\n' in string literal`);
  assert.equal(goSyntaxError("'a'"), `invalid character '\\'' looking for beginning of value`);
});
