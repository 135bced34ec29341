import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cronScheduleError, parseCronSchedule } from './cron.js';

const next = (spec: string, from: string, tz = 'UTC') => parseCronSchedule(spec, tz).next(new Date(from))?.toISOString();

test('five-field schedules give the next activation strictly after the time', () => {
  assert.equal(next('*/15 * * * *', '2024-03-01T10:07:30Z'), '2024-03-01T10:15:00.000Z');
  assert.equal(next('* * * * *', '2024-03-01T10:00:00Z'), '2024-03-01T10:01:00.000Z');
  assert.equal(next('30 2 * * *', '2024-03-01T10:00:00Z'), '2024-03-02T02:30:00.000Z');
  assert.equal(next('0 0 29 2 *', '2024-03-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
  assert.equal(next('0 9 * JAN-MAR mon', '2024-03-30T00:00:00Z'), '2025-01-06T09:00:00.000Z');
  // Both day fields restricted: either may match (robfig's day rule).
  assert.equal(next('0 0 13 * 5', '2024-09-01T00:00:00Z'), '2024-09-06T00:00:00.000Z');
});

test('descriptors and @every', () => {
  assert.equal(next('@hourly', '2024-03-01T10:07:00Z'), '2024-03-01T11:00:00.000Z');
  assert.equal(next('@daily', '2024-03-01T10:07:00Z'), '2024-03-02T00:00:00.000Z');
  assert.equal(next('@weekly', '2024-03-01T10:07:00Z'), '2024-03-03T00:00:00.000Z');
  assert.equal(next('@monthly', '2024-03-01T10:07:00Z'), '2024-04-01T00:00:00.000Z');
  assert.equal(next('@yearly', '2024-03-01T10:07:00Z'), '2025-01-01T00:00:00.000Z');
  assert.equal(next('@every 90s', '2024-03-01T10:07:00.500Z'), '2024-03-01T10:08:30.000Z');
});

test('time zones: the fields are read on that zone\'s wall clock', () => {
  // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
  assert.equal(next('0 9 * * *', '2024-01-10T12:00:00Z', 'Europe/Berlin'), '2024-01-11T08:00:00.000Z');
  assert.equal(next('0 9 * * *', '2024-07-10T12:00:00Z', 'Europe/Berlin'), '2024-07-11T07:00:00.000Z');
  assert.equal(parseCronSchedule('TZ=America/New_York 0 12 * * *').next(new Date('2024-01-10T00:00:00Z'))?.toISOString(), '2024-01-10T17:00:00.000Z');
  // A time that does not exist on the spring-forward day is skipped.
  assert.equal(next('30 2 * * *', '2024-03-30T12:00:00Z', 'Europe/Berlin'), '2024-04-01T00:30:00.000Z');
});

test('invalid schedules are refused with the parser\'s message', () => {
  assert.equal(cronScheduleError('* * * *'), 'expected exactly 5 fields, found 4: [* * * *]');
  assert.equal(cronScheduleError('61 * * * *'), 'end of range (61) above maximum (59): 61');
  assert.equal(cronScheduleError('@often'), 'unrecognized descriptor: @often');
  assert.equal(cronScheduleError('*/0 * * * *'), 'step of range should be a positive number: */0');
  assert.equal(cronScheduleError('TZ=Mars/Base * * * * *'), 'provided bad location Mars/Base: unknown time zone Mars/Base');
  assert.equal(cronScheduleError(''), 'empty spec string');
  assert.equal(cronScheduleError('0 0 31 2 *'), undefined);
  assert.equal(parseCronSchedule('0 0 31 2 *', 'UTC').next(new Date('2024-01-01T00:00:00Z')), undefined);
});
