/**
 * Manual measurement (not a test): single-key creates per second on the SQLite
 * backend with N concurrent callers (default 32), each create durable on ack.
 * Usage: node --import tsx src/storage/testdata/create-throughput.ts [callers] [seconds]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBackend } from '../sqlite.js';

const callers = Number(process.argv[2] ?? 32);
const seconds = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'kite-throughput-'));
const backend = new SqliteBackend({ path: join(dir, 'state.db') });
await backend.start();
const value = JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'x', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
const deadline = performance.now() + seconds * 1000;
let done = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: callers }, async (_, w) => {
    for (let i = 0; performance.now() < deadline; i++) {
      await backend.create(`/registry/pods/default/w${w}-${i}`, value);
      done++;
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
await backend.close();
rmSync(dir, { recursive: true, force: true });
console.log(`${callers} callers: ${done} creates in ${elapsed.toFixed(2)}s = ${Math.round(done / elapsed)} creates/s`);
