import { test } from 'node:test';
import assert from 'node:assert/strict';

import { age, formatLabels, formatLabelSelector, humanDuration, labelSelectorString, quantityString } from './format.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration matches duration.HumanDuration at every boundary', () => {
  const cases: Array<[number, string]> = [
    [-2 * S, '<invalid>'],
    [-1999, '0s'], // Go truncates -1.999s to -1: tolerated clock skew
    [-1 * S, '0s'],
    [0, '0s'],
    [999, '0s'],
    [59 * S, '59s'],
    [119 * S, '119s'],
    [120 * S, '2m'],
    [121 * S, '2m1s'],
    [5 * M + 10 * S, '5m10s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M, '10m'],
    [10 * M + 30 * S, '10m'],
    [179 * M + 59 * S, '179m'],
    [3 * H, '3h'],
    [3 * H + M, '3h1m'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H, '8h'],
    [47 * H + 59 * M, '47h'],
    [48 * H, '2d'],
    [49 * H, '2d1h'],
    [7 * D + 23 * H, '7d23h'],
    [8 * D, '8d'],
    [729 * D, '729d'],
    [730 * D, '2y'],
    [731 * D, '2y1d'],
    [8 * 365 * D - D, '7y364d'],
    [8 * 365 * D, '8y'],
    [10 * 365 * D + 100 * D, '10y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `humanDuration(${ms})`);
});

test('age is relative to the injected now and <unknown> without a timestamp', () => {
  const now = new Date('2024-06-01T12:00:00Z');
  assert.equal(age('2024-06-01T11:54:50Z', now), '5m10s');
  assert.equal(age('2024-05-30T12:00:00Z', now), '2d');
  assert.equal(age('2024-06-01T12:00:05Z', now), '<invalid>');
  assert.equal(age(undefined, now), '<unknown>');
  assert.equal(age('', now), '<unknown>');
  assert.equal(age('not a time', now), '<unknown>');
  assert.equal(age('0001-01-01T00:00:00Z', now), '<unknown>');
  // MicroTime (eventTime) has fractional seconds
  assert.equal(age('2024-06-01T11:00:00.123456Z', now), '59m');
});

test('formatLabels sorts k=v pairs and prints <none> when empty', () => {
  assert.equal(formatLabels({ tier: 'fe', app: 'web' }), 'app=web,tier=fe');
  assert.equal(formatLabels({}), '<none>');
  assert.equal(formatLabels(undefined), '<none>');
});

test('label selectors render like metav1.LabelSelectorAsSelector().String()', () => {
  const sel = {
    matchLabels: { tier: 'fe', app: 'web' },
    matchExpressions: [
      { key: 'env', operator: 'In', values: ['prod', 'dev'] },
      { key: 'canary', operator: 'DoesNotExist' },
      { key: 'zone', operator: 'NotIn', values: ['a'] },
      { key: 'gpu', operator: 'Exists' },
    ],
  };
  assert.equal(labelSelectorString(sel), 'app=web,!canary,env in (dev,prod),gpu,tier=fe,zone notin (a)');
  assert.equal(formatLabelSelector({}), '<none>');
  assert.equal(formatLabelSelector(undefined), '<none>');
  assert.equal(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }), '<error>');
  assert.equal(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), '<error>');
});

test('quantities print in canonical form', () => {
  const cases: Array<[unknown, string]> = [
    ['10Gi', '10Gi'],
    ['1024Mi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['0.5Gi', '512Mi'],
    ['500Ki', '500Ki'],
    ['1Ki', '1Ki'],
    ['0.5Ki', '512'],
    ['1.1Mi', '1153433600m'],
    ['1500m', '1500m'],
    ['1000m', '1'],
    ['1.5', '1500m'],
    ['0.1', '100m'],
    ['1000', '1k'],
    ['1500', '1500'],
    ['2G', '2G'],
    ['1e3', '1e3'],
    ['12e6', '12e6'],
    ['0.1n', '1n'],
    ['0', '0'],
    ['0Gi', '0'],
    [undefined, '0'],
    [4, '4'],
    ['garbage', 'garbage'],
  ];
  for (const [input, want] of cases) assert.equal(quantityString(input), want, `quantityString(${String(input)})`);
});
