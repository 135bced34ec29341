/**
 * Readiness latency of the node agent: P pods (host processes, the process
 * runtime on the host network) with an httpGet readiness probe every second
 * against a server in this process; once all run, their endpoints turn from
 * 500 to 200 and later back. Per pod it measures the time from the first
 * probe answer with the new code to the watch event that shows the pod's
 * Ready condition flipped — p50/p99 next to the target (p99 < 1 s, half of
 * the service proxy's 2 s end-to-end budget). The API server is in-process
 * on the memory backend, so this is the agent's own share. It prints a
 * table; it asserts nothing.
 *
 *   npm run build && node dist/bench/readiness.bench.js [--pods 20]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { MemoryBackend } from '../src/storage/memory.js';
import { Registry } from '../src/apiserver/registry/registry.js';
import { InProcessClient } from '../src/client/inprocess.js';
import { R, type ClientWatch } from '../src/client/client.js';
import { Kubelet } from '../src/kubelet/kubelet.js';
import { ProcessRuntime } from '../src/kubelet/runtime/process.js';
import { summarize } from './stats.js';
import { fmt, printTable, type Row } from './table.js';

const NODE = 'bench-readiness';
const NAMESPACE = 'default';
const TARGET_P99_MS = 1000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pods: { type: 'string', default: '20' } } });
  const pods = Number(values.pods);
  const dir = mkdtempSync(join(tmpdir(), 'kite-readiness-'));
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const client = new InProcessClient(registry, { name: 'bench', groups: ['system:masters'] }, 'bench');
  for (const name of [NAMESPACE, 'kube-node-lease']) await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  // What each pod's probe endpoint answers, and when it first answered the current code.
  const code = new Map<string, number>();
  const firstAnswer = new Map<string, number>();
  const server = createServer((req, res) => {
    const name = req.url!.slice(1);
    const c = code.get(name) ?? 500;
    if (!firstAnswer.has(`${name}:${c}`)) firstAnswer.set(`${name}:${c}`, performance.now());
    res.writeHead(c).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  const runtime = new ProcessRuntime({ dataDir: join(dir, 'runtime'), podCidr: '10.250.250.0/24', bridge: 'ktbench0', hostNetworkOnly: true, nodeIp: '127.0.0.1', cgroupName: 'kitebench-readiness', log: () => {} });
  const kubelet = new Kubelet({ client, nodeName: NODE, dataDir: join(dir, 'kubelet'), runtime, podCidr: '10.250.250.0/24', nodeIp: '127.0.0.1', log: () => {}, port: 0 });
  await kubelet.start();

  const names = Array.from({ length: pods }, (_, i) => `ready-${i}`);
  const readyAt = new Map<string, { status: string; at: number }[]>();
  const watch: ClientWatch = await client.watch(R.pods, NAMESPACE, {}, (ev) => {
    const p = ev.object;
    const name = p?.metadata?.name as string;
    const ready = (p?.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.status;
    if (!name || !ready) return;
    const seen = readyAt.get(name) ?? [];
    if (seen.at(-1)?.status !== ready) seen.push({ status: ready, at: performance.now() });
    readyAt.set(name, seen);
  });
  const rows: Row[] = [];
  const notes: string[] = [];
  const waitAll = async (what: string, ok: (name: string) => boolean) => {
    const deadline = Date.now() + 60_000;
    while (!names.every(ok)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const flip = async (to: number, ready: string, label: string) => {
    for (const n of names) {
      firstAnswer.delete(`${n}:${to}`);
      code.set(n, to);
    }
    await waitAll(`Ready=${ready}`, (n) => readyAt.get(n)?.at(-1)?.status === ready && firstAnswer.has(`${n}:${to}`));
    const lat = names.map((n) => readyAt.get(n)!.at(-1)!.at - firstAnswer.get(`${n}:${to}`)!);
    const s = summarize(lat);
    rows.push({ metric: `${label}, probe answer -> Ready ${ready} in a watch, p50 (${pods} pods)`, value: `${fmt(s.p50, 0)} ms` });
    rows.push({ metric: `${label}, p99`, value: `${fmt(s.p99, 0)} ms`, target: `< ${TARGET_P99_MS} ms`, ok: s.p99 < TARGET_P99_MS });
    rows.push({ metric: `${label}, max`, value: `${fmt(s.max, 0)} ms` });
  };
  try {
    await Promise.all(
      names.map((name) =>
        client.create(R.pods, NAMESPACE, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: {
            nodeName: NODE,
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'], readinessProbe: { httpGet: { host: '127.0.0.1', port, path: `/${name}` }, periodSeconds: 1, failureThreshold: 1 } }],
          },
        }),
      ),
    );
    await waitAll('every pod running and unready', (n) => readyAt.get(n)?.at(-1)?.status === 'False');
    await flip(200, 'True', 'ready');
    await flip(500, 'False', 'unready');
    notes.push('probes run every second: the time from a pod turning healthy to its first passing probe (up to 1 s) comes on top');
  } finally {
    watch.stop();
    await Promise.all(names.map((n) => client.delete(R.pods, NAMESPACE, n, { gracePeriodSeconds: 0 }).catch(() => undefined)));
    await kubelet.stop();
    server.close();
    registry.stop();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  console.log(`Kite readiness benchmark (process runtime, host network, in-process API server, ${process.platform} ${process.arch}, node ${process.version})`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
