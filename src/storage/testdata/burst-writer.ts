/**
 * Test helper process for the SQLite durability test: opens the database named
 * in argv[2] and creates keys from 32 concurrent callers until killed, printing
 * each key to stdout only after its create was acknowledged.
 */
import { SqliteBackend } from '../sqlite.js';

const backend = new SqliteBackend({ path: process.argv[2]! });
await backend.start();
process.stdout.write('ready\n');
await Promise.all(
  Array.from({ length: 32 }, async (_, w) => {
    for (let i = 0; ; i++) {
      const kv = await backend.create(`/burst/${w}/${i}`, `value ${w} ${i}`);
      process.stdout.write(`${kv.key}\n`);
    }
  }),
);
