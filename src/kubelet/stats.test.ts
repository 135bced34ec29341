import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../controllers/testenv.js';
import type { Lister } from '../client/informer.js';
import { CgroupManager, detectCgroups, readCgroupUsage } from './runtime/cgroups.js';
import { ProcessRuntime } from './runtime/process.js';
import { leftovers, testRuntimeOptions } from './runtime/testing.js';
import { isRoot } from './runtime/sys.js';
import { SummaryProvider, containerIdOf, parseMeminfo, parseProcStat, parseVmstat } from './stats.js';

const PROC_STAT = `cpu  4705 356 584 3699 23 23 0 12 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
intr 114930548 113199788 3 0 5 263 0 4 [... lots more numbers ...]
ctxt 1990473
btime 1062191376
processes 2915
`;

const MEMINFO = `MemTotal:        1000000 kB
MemFree:          400000 kB
MemAvailable:     700000 kB
Buffers:           10000 kB
Cached:           200000 kB
AnonPages:        250000 kB
Inactive(file):   150000 kB
Active(file):      40000 kB
`;

describe('node usage from /proc', () => {
  it('counts busy ticks of the cpu line (USER_HZ) and reads the boot time', () => {
    const { cpuNanos, bootTime } = parseProcStat(PROC_STAT);
    // user+nice+system+irq+softirq+steal = 4705+356+584+23+0+12 ticks of 10 ms.
    assert.equal(cpuNanos, (4705 + 356 + 584 + 23 + 0 + 12) * 10_000_000);
    assert.equal(bootTime?.toISOString(), '2003-08-29T21:09:36.000Z');
  });

  it("derives cAdvisor's root-cgroup memory figures from meminfo", () => {
    const m = parseMeminfo(MEMINFO);
    assert.deepEqual(m, {
      totalBytes: 1_000_000 * 1024,
      usageBytes: 600_000 * 1024,
      workingSetBytes: 450_000 * 1024,
      availableBytes: 550_000 * 1024,
      rssBytes: 250_000 * 1024,
    });
    assert.deepEqual(parseVmstat('nr_free_pages 1\npgfault 12345\npgmajfault 67\n'), { pageFaults: 12345, majorPageFaults: 67 });
  });

  it('takes the container id out of a containerID', () => {
    assert.equal(containerIdOf('process://abc123'), 'abc123');
    assert.equal(containerIdOf('containerd://f00'), 'f00');
    assert.equal(containerIdOf(undefined), undefined);
  });
});

describe('container cgroup usage', () => {
  it('reads cumulative CPU and the working set (usage minus inactive file) of a v1 or v2 cgroup', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kite-cgroup-files-'));
    try {
      writeFileSync(join(dir, 'memory.usage_in_bytes'), '10485760\n');
      writeFileSync(join(dir, 'memory.stat'), 'cache 1\ntotal_inactive_file 4194304\ntotal_rss 5242880\ntotal_pgfault 900\ntotal_pgmajfault 3\n');
      writeFileSync(join(dir, 'cpuacct.usage'), '123456789\n');
      assert.deepEqual(readCgroupUsage(1, dir, dir), {
        memoryUsageBytes: 10485760,
        workingSetBytes: 6291456,
        rssBytes: 5242880,
        pageFaults: 900,
        majorPageFaults: 3,
        cpuUsageNanos: 123456789,
      });
      writeFileSync(join(dir, 'memory.current'), '2048\n');
      writeFileSync(join(dir, 'memory.stat'), 'anon 1024\ninactive_file 4096\npgfault 5\npgmajfault 0\n');
      writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\n');
      // More inactive file pages than usage: the working set is zero, never negative.
      assert.deepEqual(readCgroupUsage(2, dir, dir), { memoryUsageBytes: 2048, workingSetBytes: 0, rssBytes: 1024, pageFaults: 5, majorPageFaults: 0, cpuUsageNanos: 1_500_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('measures a real process in its own cgroup on this host', { skip: isRoot() ? false : 'needs root' }, async (t) => {
    const hierarchy = detectCgroups();
    if (!hierarchy) return t.skip('no cgroup hierarchy with a memory controller here');
    const cg = new CgroupManager({ hierarchy, name: `kitetest-${randomBytes(4).toString('hex')}`, log: () => {} });
    await cg.start();
    const roots = cg.rootDirs;
    const c = await cg.create('busy', {});
    // The process joins the cgroup before it starts burning CPU (as a container's first process does).
    const child = spawn('/bin/sh', ['-c', 'for f in "$@"; do echo $$ > "$f"; done; while :; do :; done', 'sh', ...c.procsFiles], { stdio: 'ignore' });
    try {
      await eventually(() => c.pids().includes(child.pid!), 'the process to join its cgroup');
      const first = c.usage();
      assert.ok(first, 'usage is readable');
      const busy = await eventually(() => {
        const u = c.usage();
        return u && (u.cpuUsageNanos ?? 0) > (first.cpuUsageNanos ?? 0) + 50_000_000 ? u : undefined;
      }, 'the cgroup to account 50 ms more CPU');
      assert.ok(busy.memoryUsageBytes! > 0, 'a running shell uses memory');
      assert.ok(busy.workingSetBytes! <= busy.memoryUsageBytes!);
      assert.deepEqual([...cg.usage().keys()], ['busy']);
    } finally {
      child.kill('SIGKILL');
      await c.remove();
      await cg.stop();
    }
    assert.equal(cg.usage().size, 0);
    for (const r of roots) assert.equal(existsSync(r), false, `${r} removed`);
  });
});

/** A Lister over a fixed set of pods (the agent's informer cache in the real node). */
function podLister(pods: any[]): Lister<any> {
  return {
    get: (ns, name) => pods.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
    list: (ns) => pods.filter((p) => !ns || p.metadata.namespace === ns),
  };
}

describe('the Summary API document', { skip: isRoot() ? false : 'needs root (container cgroups)' }, () => {
  it('reports the node and each running container of the node’s pods, with a CPU rate from the second request on', async (t) => {
    const opts = testRuntimeOptions({ hostNetworkOnly: true });
    const rt = new ProcessRuntime(opts);
    await rt.start();
    if (!rt.cgroupsEnabled) {
      await rt.stop();
      rmSync(opts.dataDir, { recursive: true, force: true });
      return t.skip('no container cgroups here');
    }
    const uid = randomUUID();
    const sandbox = await rt.createSandbox({ podUid: uid, namespace: 'ns1', name: 'burn', hostNetwork: true, hostname: 'burn' });
    const logs = join(opts.dataDir, 'logs');
    mkdirSync(logs, { recursive: true });
    const running = await rt.startContainer(sandbox, {
      podUid: uid,
      name: 'main',
      image: 'busybox',
      argv: ['sh', '-c', 'while :; do :; done'],
      env: {},
      mounts: [],
      cpuLimitMillis: 200,
      cpuRequestMillis: 100,
      logPath: join(logs, 'main.log'),
    });
    try {
      const started = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const pods = [
        {
          metadata: { name: 'burn', namespace: 'ns1', uid },
          spec: { containers: [{ name: 'main', resources: { limits: { memory: '64Mi' } } }] },
          status: { phase: 'Running', startTime: started, containerStatuses: [{ name: 'main', containerID: `process://${running.id}`, state: { running: { startedAt: started } } }] },
        },
        // A pod whose container is not running has nothing to report.
        { metadata: { name: 'done', namespace: 'ns1', uid: randomUUID() }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'c', containerID: 'process://gone', state: { terminated: { exitCode: 0 } } }] } },
      ];
      const provider = new SummaryProvider({ nodeName: 'node-a', runtime: rt, pods: podLister(pods) });
      const first = await provider.summary();
      assert.equal(first.node.nodeName, 'node-a');
      assert.ok(first.node.cpu!.usageCoreNanoSeconds! > 0);
      assert.equal(first.node.cpu!.usageNanoCores, undefined, 'no rate from a single sample');
      assert.ok(first.node.memory!.workingSetBytes! > 0);
      assert.ok(first.node.startTime);
      assert.deepEqual(first.pods.map((p) => p.podRef), [{ name: 'burn', namespace: 'ns1', uid }]);
      const c1 = first.pods[0]!.containers[0]!;
      assert.equal(c1.name, 'main');
      assert.equal(c1.startTime, started);
      // With a memory limit, available = limit − working set.
      assert.equal(c1.memory!.availableBytes, 64 * 1024 * 1024 - c1.memory!.workingSetBytes!);
      // Each request's rate is over the time since the one before: keep the previous sample to check it.
      let prev = c1.cpu!;
      const second = await eventually(async () => {
        const s = await provider.summary();
        const cpu = s.pods[0]?.containers[0]?.cpu;
        const before = prev;
        if (cpu) prev = cpu;
        return cpu && cpu.usageCoreNanoSeconds! > c1.cpu!.usageCoreNanoSeconds! + 20_000_000 ? { s, before } : undefined;
      }, 'a sample after the container used 20 ms more CPU');
      const cpu = second.s.pods[0]!.containers[0]!.cpu!;
      const expected = ((cpu.usageCoreNanoSeconds! - second.before.usageCoreNanoSeconds!) * 1000) / (Date.parse(cpu.time) - Date.parse(second.before.time));
      assert.equal(cpu.usageNanoCores, Math.round(expected));
      assert.ok(cpu.usageNanoCores! > 0);
      assert.equal(second.s.pods[0]!.cpu!.usageNanoCores, cpu.usageNanoCores, 'the pod total is the sum of its containers');
      assert.ok(second.s.node.cpu!.usageNanoCores !== undefined);
    } finally {
      await rt.stopContainer(running, 0);
      await rt.removeSandbox(sandbox);
      await rt.stop();
    }
    assert.deepEqual(leftovers(opts), []);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });
});
