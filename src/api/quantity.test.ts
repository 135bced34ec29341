import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity, isValidQuantity, Quantity, ERR_FORMAT_WRONG, ERR_SUFFIX } from './quantity.js';

test('canonical forms match upstream', () => {
  const table: [string | number, string][] = [
    ['0', '0'],
    ['1000m', '1'],
    ['100m', '100m'],
    ['1.5', '1500m'],
    ['0.5', '500m'],
    ['1Gi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['1024Mi', '1Gi'],
    ['1024Ki', '1Mi'],
    ['0.5Ki', '512'],
    ['1e3', '1e3'],
    ['1000e0', '1e3'],
    ['1E', '1E'],
    ['1000k', '1M'],
    ['0.1m', '100u'],
    ['1n', '1n'],
    ['0.0000000001', '1n'],
    ['12e6', '12e6'],
    ['2000', '2k'],
    ['-1.5', '-1500m'],
    ['1.', '1.'], // upstream re-emits fast-path inputs verbatim
    ['.5', '500m'],
    [0.25, '250m'],
    [3, '3'],
    ['+1', '+1'],
  ];
  for (const [input, want] of table) assert.equal(parseQuantity(input).toString(), want, `parseQuantity(${JSON.stringify(input)})`);
});

test('invalid quantities throw upstream errors', () => {
  assert.throws(() => parseQuantity('1.1.1'), { message: ERR_FORMAT_WRONG });
  assert.throws(() => parseQuantity(''), { message: ERR_FORMAT_WRONG });
  assert.throws(() => parseQuantity('1Zi'), { message: ERR_FORMAT_WRONG });
  assert.throws(() => parseQuantity('1mi'), { message: ERR_SUFFIX });
  assert.throws(() => parseQuantity('abc'), { message: ERR_FORMAT_WRONG });
  assert.equal(isValidQuantity('100Mi'), true);
  assert.equal(isValidQuantity('1.1.1'), false);
});

test('milliValue, value and cmp', () => {
  assert.equal(parseQuantity('100m').milliValue(), 100);
  assert.equal(parseQuantity('2').milliValue(), 2000);
  assert.equal(parseQuantity('1Gi').value(), 1073741824);
  assert.equal(parseQuantity('1500m').value(), 2); // rounds up like upstream Value()
  assert.equal(parseQuantity('1Gi').cmp(parseQuantity('1024Mi')), 0);
  assert.equal(parseQuantity('500m').cmp(parseQuantity('1')), -1);
  assert.equal(parseQuantity('2').cmp(parseQuantity('1999m')), 1);
  assert.equal(Quantity.fromMilli(1500).toString(), '1500m');
  assert.equal(parseQuantity('1Gi').add(parseQuantity('512Mi')).toString(), '1536Mi');
});
