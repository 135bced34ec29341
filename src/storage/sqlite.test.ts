import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError, type WatchEvent } from './backend.js';
import { runBackendConformance } from './conformance.js';
import { SqliteBackend } from './sqlite.js';

/** A fresh temp dir, removed by the returned cleanup. */
function tempDir(): { dir: string; cleanup(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'kite-sqlite-'));
  return { dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

runBackendConformance('sqlite', async () => {
  const { dir, cleanup } = tempDir();
  return { backend: new SqliteBackend({ path: join(dir, 'nested', 'state.db') }), cleanup };
});

// Without an in-memory event window every watch replays from the table.
runBackendConformance('sqlite (replay from table)', async () => {
  const { dir, cleanup } = tempDir();
  return { backend: new SqliteBackend({ path: join(dir, 'state.db'), watchWindow: 0 }), cleanup };
});

/** Runs `fn` with a database path in a temp dir that is removed afterwards. */
async function withPath(fn: (path: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir();
  try {
    await fn(join(dir, 'state.db'));
  } finally {
    await cleanup();
  }
}

/** Opens a started backend on `path`. */
async function open(path: string): Promise<SqliteBackend> {
  const b = new SqliteBackend({ path });
  await b.start();
  return b;
}

describe('sqlite backend', () => {
  test('a restart on the same file keeps every key and the revision keeps increasing', () =>
    withPath(async (path) => {
      const first = await open(path);
      for (let i = 0; i < 20; i++) await first.create(`/registry/pods/ns/p${String(i).padStart(2, '0')}`, `v${i}`);
      const p3 = await first.get('/registry/pods/ns/p03');
      await first.update('/registry/pods/ns/p03', 'changed', p3!.modRevision);
      await first.delete('/registry/pods/ns/p07');
      const before = await first.list('');
      const beforeRev = first.currentRevision();
      await first.close();

      const second = await open(path);
      try {
        assert.equal(second.currentRevision(), beforeRev);
        assert.deepEqual(await second.list(''), before);
        assert.equal((await second.get('/registry/pods/ns/p03'))!.value, 'changed');
        assert.equal(await second.get('/registry/pods/ns/p07'), null);
        assert.equal(await second.count('/registry/pods/'), 19);
        const next = await second.create('/registry/pods/ns/new', 'n');
        assert.equal(next.modRevision, beforeRev + 1);
        // History written before the restart is still there for old lists and watch replay.
        assert.equal((await second.list('/registry/pods/', { revision: 20 })).items.length, 20);
        const events: WatchEvent[] = [];
        await new Promise<void>((resolve, reject) => {
          const w = second.watch('/registry/pods/', 20, {
            onEvents: (evs) => {
              events.push(...evs);
              if (events.length >= 3) {
                w.stop();
                resolve();
              }
            },
            onError: reject,
          });
        });
        assert.deepEqual(
          events.map((e) => [e.type, e.kv.key, e.prev?.value]),
          [
            ['update', '/registry/pods/ns/p03', 'v3'],
            ['delete', '/registry/pods/ns/p07', 'v7'],
            ['create', '/registry/pods/ns/new', undefined],
          ],
        );
      } finally {
        await second.close();
      }
    }));

  test('the revision stays monotonic across a restart after the newest rows were compacted away', () =>
    withPath(async (path) => {
      const first = await open(path);
      await first.create('/a', '1');
      await first.create('/b', '2');
      await first.delete('/b');
      await first.delete('/a');
      await first.compact(4);
      await first.close();
      const second = await open(path);
      try {
        assert.equal(second.currentRevision(), 4);
        assert.equal(second.compactedRevision(), 4);
        assert.deepEqual((await second.list('')).items, []);
        assert.equal((await second.create('/a', '3')).modRevision, 5);
      } finally {
        await second.close();
      }
    }));

  test('writes issued in one turn commit together; a refused one fails alone', () =>
    withPath(async (path) => {
      const b = await open(path);
      let committed = 0;
      try {
        const existing = await b.create('/k/existing', 'x');
        const base = b.currentRevision();
        // All issued before any is awaited, so they share one group commit and are checked in order.
        const results = await Promise.allSettled([
          b.create('/k/a', 'a'),
          b.create('/k/existing', 'dup'),
          b.update('/k/a', 'a2', base + 1),
          b.update('/k/existing', 'stale', existing.modRevision + 100),
          b.create('/k/b', 'b'),
          b.delete('/k/missing'),
          b.delete('/k/b', base + 3),
          b.create('/k/b', 'b again'),
        ]);
        const summary = results.map((r) => (r.status === 'fulfilled' ? r.value.modRevision : r.reason.constructor.name));
        assert.deepEqual(summary, [
          base + 1,
          KeyExistsError.name,
          base + 2,
          RevisionMismatchError.name,
          base + 3,
          KeyNotFoundError.name,
          base + 4,
          base + 5,
        ]);
        assert.equal(b.currentRevision(), base + 5);
        committed = b.currentRevision();
        assert.deepEqual(
          (await b.list('/k/')).items.map((kv) => [kv.key, kv.value, kv.createRevision]),
          [
            ['/k/a', 'a2', base + 1],
            ['/k/b', 'b again', base + 5],
            ['/k/existing', 'x', existing.createRevision],
          ],
        );
      } finally {
        await b.close();
      }
      // What was acknowledged is what was stored.
      const again = await open(path);
      try {
        assert.equal(again.currentRevision(), committed);
        assert.equal((await again.get('/k/a'))!.value, 'a2');
        assert.equal((await again.get('/k/b'))!.value, 'b again');
      } finally {
        await again.close();
      }
    }));

  test('close commits writes still waiting for their group commit', () =>
    withPath(async (path) => {
      const b = await open(path);
      const pending = b.create('/k', 'v');
      await b.close();
      assert.equal((await pending).modRevision, 1);
      await assert.rejects(b.create('/k2', 'v'), /not started/);
      const again = await open(path);
      try {
        assert.equal((await again.get('/k'))!.value, 'v');
      } finally {
        await again.close();
      }
    }));

  test('every acknowledged write survives the writer process being killed mid-burst', { timeout: 60_000 }, () =>
    withPath(async (path) => {
      // Run the helper in the same form as this file (TypeScript under tsx, or compiled JavaScript).
      const ext = extname(fileURLToPath(import.meta.url));
      const script = fileURLToPath(new URL(`./testdata/burst-writer${ext}`, import.meta.url));
      const args = ext === '.ts' ? ['--import', 'tsx', script, path] : [script, path];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const acked: string[] = [];
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          // Only complete lines count: a torn last line was not fully acknowledged to us.
          buf = lines.pop()!;
          for (const line of lines) if (line.startsWith('/burst/')) acked.push(line);
          if (acked.length >= 2000 && child.exitCode === null && !child.killed) {
            child.kill('SIGKILL');
          }
        });
        child.on('exit', (code, signal) => {
          if (signal === 'SIGKILL') resolve();
          else reject(new Error(`writer exited early (code ${code}): ${stderr}`));
        });
      });
      assert.ok(acked.length >= 2000);
      const b = await open(path);
      try {
        const missing = [];
        for (const key of acked) if (!(await b.get(key))) missing.push(key);
        assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged keys lost`);
        // Revisions are dense: every stored write has its own revision.
        assert.ok(b.currentRevision() >= acked.length);
        assert.equal(await b.count('/burst/'), b.currentRevision());
      } finally {
        await b.close();
      }
    }));
});
