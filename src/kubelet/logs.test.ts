import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCriLine, readLogs, rfc3339Nano, type LogReadOptions } from './logs.js';

const FILE = [
  '2024-01-01T00:00:01.100000000Z stdout F one',
  '2024-01-01T00:00:02.000000000Z stderr P tw',
  '2024-01-01T00:00:02.500000000Z stderr F o',
  '2024-01-01T00:00:03.123456789Z stdout F three',
  '',
].join('\n');

async function read(opts: LogReadOptions): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kite-logs-'));
  try {
    const path = join(dir, '0.log');
    writeFileSync(path, FILE);
    const out: Buffer[] = [];
    await readLogs(path, opts, { write: async (b) => void out.push(b), stillRunning: () => false });
    return Buffer.concat(out).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('CRI log reading', () => {
  it('parses entries', () => {
    assert.deepEqual(parseCriLine(Buffer.from('2024-01-01T00:00:00Z stdout P a b'))?.content.toString(), 'a b');
    assert.equal(parseCriLine(Buffer.from('garbage')), undefined);
  });
  it('joins partial entries into lines', async () => {
    assert.equal(await read({}), 'one\ntwo\nthree\n');
  });
  it('applies tailLines, since, limitBytes and timestamps', async () => {
    assert.equal(await read({ tailLines: 1 }), 'three\n');
    assert.equal(await read({ tailLines: 0 }), '');
    assert.equal(await read({ since: new Date('2024-01-01T00:00:02.400Z') }), 'o\nthree\n');
    assert.equal(await read({ limitBytes: 5 }), 'one\nt');
    assert.equal(await read({ timestamps: true, tailLines: 3 }), '2024-01-01T00:00:02Z two\n2024-01-01T00:00:03.123456789Z three\n');
  });
  it('trims trailing zeros as Go RFC3339Nano does', () => {
    assert.equal(rfc3339Nano('2024-01-01T00:00:01.100000000Z'), '2024-01-01T00:00:01.1Z');
    assert.equal(rfc3339Nano('2024-01-01T00:00:01.000000000Z'), '2024-01-01T00:00:01Z');
  });
});
