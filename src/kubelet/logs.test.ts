import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCriLine, readLogs, RetainedLogs, rfc3339Nano, type LogReadOptions } from './logs.js';
import { LogRequestError } from './pods.js';
import { eventually } from '../controllers/testenv.js';

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

describe('logs kept after a pod is gone', () => {
  const LABEL = 'training.kubeflow.org/job-name';
  const pod = (name: string, labels: Record<string, string> = { [LABEL]: 'mnist' }) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'ml', name, uid: `uid-${name}`, labels },
    spec: { nodeName: 'n1', initContainers: [{ name: 'init' }], containers: [{ name: 'main' }, { name: 'quiet' }] },
    status: { phase: 'Succeeded' },
  });
  /** A pod directory as the node writes it: logs per container attempt, and other files that are not logs. */
  const podDir = (root: string, name: string): string => {
    const dir = join(root, 'pods', name);
    mkdirSync(join(dir, 'main'), { recursive: true });
    mkdirSync(join(dir, 'init'), { recursive: true });
    mkdirSync(join(dir, 'volumes', 'kubernetes.io~empty-dir', 'data'), { recursive: true });
    writeFileSync(join(dir, 'main', '0.log'), '2024-01-01T00:00:01.000000000Z stdout F first try\n');
    writeFileSync(join(dir, 'main', '1.log'), '2024-01-01T00:00:02.000000000Z stdout F epoch 1\n2024-01-01T00:00:03.000000000Z stderr F epoch 2\n');
    writeFileSync(join(dir, 'init', '0.log'), '2024-01-01T00:00:00.000000000Z stdout F prepared\n');
    writeFileSync(join(dir, 'etc-hosts'), '127.0.0.1 localhost\n');
    return dir;
  };
  const text = async (path: string, opts: LogReadOptions = {}): Promise<string> => {
    const out: Buffer[] = [];
    await readLogs(path, opts, { write: async (b) => void out.push(b), stillRunning: () => false });
    return Buffer.concat(out).toString();
  };
  const logs: string[] = [];
  const make = (root: string, ttlMs: number) => new RetainedLogs({ dir: join(root, 'retained-logs'), ttlMs, label: LABEL, log: (m) => logs.push(m) });

  it("keeps a labelled pod's container logs, serving the last attempt or the one before", async () => {
    const root = mkdtempSync(join(tmpdir(), 'kite-retained-'));
    const kept = make(root, 3600_000);
    try {
      kept.start();
      kept.retain(pod('trainer-0'), podDir(root, 'trainer-0'));
      assert.equal(kept.pod('ml', 'trainer-0')?.metadata?.uid, 'uid-trainer-0');
      assert.equal(kept.pod('ml', 'trainer-0')?.spec?.nodeName, 'n1');
      assert.equal(await text(kept.source('ml', 'trainer-0', 'main', false)!.path), 'epoch 1\nepoch 2\n');
      assert.equal(await text(kept.source('ml', 'trainer-0', 'main', false)!.path, { tailLines: 1 }), 'epoch 2\n');
      assert.equal(await text(kept.source('ml', 'trainer-0', 'main', true)!.path), 'first try\n');
      assert.equal(await text(kept.source('ml', 'trainer-0', 'init', false)!.path), 'prepared\n');
      assert.equal(kept.source('ml', 'trainer-0', 'main', false)!.running(), false);
      // Upstream's words where a live pod would have them.
      assert.throws(() => kept.source('ml', 'trainer-0', 'init', true), (e: LogRequestError) => e.code === 400 && e.message === 'previous terminated container "init" in pod "trainer-0" not found');
      assert.throws(() => kept.source('ml', 'trainer-0', 'quiet', false), (e: LogRequestError) => e.code === 400 && e.message === 'container "quiet" in pod "trainer-0" is terminated');
      assert.throws(() => kept.source('ml', 'trainer-0', 'nope', false), (e: LogRequestError) => e.code === 404 && e.message === 'container "nope" not found in pod "trainer-0"');
      assert.equal(kept.source('ml', 'other', 'main', false), undefined);
      // Only the logs moved: the rest of the pod directory is the node's to remove.
      assert.deepEqual(readdirSync(join(root, 'retained-logs', 'ml', 'trainer-0')).sort(), ['init', 'main', 'retained.json']);
      assert.equal(existsSync(join(root, 'pods', 'trainer-0', 'volumes')), true);
    } finally {
      kept.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('keeps nothing of an unlabelled pod, or with a retention of 0', () => {
    const root = mkdtempSync(join(tmpdir(), 'kite-retained-'));
    try {
      const kept = make(root, 3600_000);
      kept.start();
      kept.retain(pod('plain', {}), podDir(root, 'plain'));
      assert.equal(kept.pod('ml', 'plain'), undefined);
      kept.stop();
      const off = make(root, 0);
      off.start();
      off.retain(pod('trainer-1'), podDir(root, 'trainer-1'));
      assert.equal(off.pod('ml', 'trainer-1'), undefined);
      off.stop();
      assert.equal(existsSync(join(root, 'retained-logs')), false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('removes kept logs once their time is up, and a newer pod of the same name replaces the older', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kite-retained-'));
    const kept = make(root, 200);
    try {
      kept.start();
      kept.retain(pod('trainer-2'), podDir(root, 'trainer-2'));
      const again = { ...pod('trainer-2'), metadata: { ...pod('trainer-2').metadata, uid: 'second' } };
      kept.retain(again, podDir(root, 'trainer-2b'));
      assert.equal(kept.pod('ml', 'trainer-2')?.metadata?.uid, 'second');
      await eventually(() => !existsSync(join(root, 'retained-logs', 'ml')), 'the kept logs removed');
      assert.equal(kept.pod('ml', 'trainer-2'), undefined);
      assert.equal(kept.source('ml', 'trainer-2', 'main', false), undefined);
    } finally {
      kept.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads back what it kept after a restart, removing what expired meanwhile', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kite-retained-'));
    try {
      const first = make(root, 3600_000);
      first.start();
      first.retain(pod('trainer-3'), podDir(root, 'trainer-3'));
      first.stop();
      const later = make(root, 3600_000);
      later.start();
      assert.equal(await text(later.source('ml', 'trainer-3', 'main', false)!.path), 'epoch 1\nepoch 2\n');
      later.stop();
      // A node restarted a day later finds them expired.
      const dayLater = new RetainedLogs({ dir: join(root, 'retained-logs'), ttlMs: 3600_000, label: LABEL, now: () => new Date(Date.now() + 2 * 3600_000), log: () => {} });
      dayLater.start();
      assert.equal(dayLater.pod('ml', 'trainer-3'), undefined);
      assert.equal(existsSync(join(root, 'retained-logs', 'ml', 'trainer-3')), false);
      dayLater.stop();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
