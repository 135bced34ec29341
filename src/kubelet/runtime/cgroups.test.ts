import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupManager, detectCgroups, milliCpuToQuota, milliCpuToShares, sharesToWeight } from './cgroups.js';
import { isRoot } from './sys.js';

const V1_MOUNTS = [
  '25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw',
  '30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
  '31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
].join('\n');
const V1_SELF = ['12:memory:/system.slice/kite.service', '4:cpu,cpuacct:/system.slice/kite.service', '0::/system.slice/kite.service'].join('\n');

describe('cgroup hierarchy detection', () => {
  it('uses v1 controllers (even beside a hybrid unified mount), nested under the agent’s own cgroup', () => {
    assert.deepEqual(detectCgroups(V1_MOUNTS, V1_SELF), {
      version: 1,
      controllers: { memory: '/sys/fs/cgroup/memory/system.slice/kite.service', cpu: '/sys/fs/cgroup/cpu,cpuacct/system.slice/kite.service' },
    });
  });

  it('accounts for a mount that shows only a subtree (cgroup namespaces)', () => {
    const mounts = '31 25 0:28 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory';
    assert.deepEqual(detectCgroups(mounts, '5:memory:/docker/abc'), { version: 1, controllers: { memory: '/sys/fs/cgroup/memory', cpu: undefined } });
  });

  it('names cpuacct only when it is mounted apart from cpu (its CPU accounting is then in its own hierarchy)', () => {
    const mounts = [
      '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
      '33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct',
      '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    ].join('\n');
    assert.deepEqual(detectCgroups(mounts, '4:memory:/a\n2:cpuacct:/a\n1:cpu:/a'), {
      version: 1,
      controllers: { memory: '/sys/fs/cgroup/memory/a', cpu: '/sys/fs/cgroup/cpu/a', cpuacct: '/sys/fs/cgroup/cpuacct/a' },
    });
  });

  it('finds nothing without a memory controller', () => {
    assert.equal(detectCgroups('25 24 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro', '0::/'), undefined);
  });
});

describe('kubelet CPU conversions', () => {
  it('turns requests into shares/weights and limits into CFS quota', () => {
    assert.equal(milliCpuToShares(undefined), 2); // BestEffort
    assert.equal(milliCpuToShares(1000), 1024);
    assert.equal(milliCpuToShares(250), 256);
    assert.equal(milliCpuToShares(1), 2);
    assert.equal(milliCpuToQuota(500), 50_000);
    assert.equal(milliCpuToQuota(1), 1000);
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(262_144), 10_000);
  });
});

describe('container cgroups on this host', { skip: isRoot() ? false : 'needs root' }, () => {
  it('creates a container cgroup with its limits under the root, and removes both', async (t) => {
    const hierarchy = detectCgroups();
    if (!hierarchy) return t.skip('no cgroup hierarchy with a memory controller here');
    const logs: string[] = [];
    const name = `kitetest-${randomBytes(4).toString('hex')}`;
    const cg = new CgroupManager({ hierarchy, name, cpuMillis: 3000, log: (m) => logs.push(m) });
    try {
      await cg.start();
    } catch (e) {
      return t.skip(`cannot create a cgroup root here: ${(e as Error).message}`);
    }
    const roots = cg.rootDirs;
    const c = await cg.create('c1', { memoryLimitBytes: 64 * 1024 * 1024, cpuLimitMillis: 500, cpuRequestMillis: 250 });
    const read = (dir: string, file: string) => readFileSync(join(dir, 'c1', file), 'utf8').trim();
    if (hierarchy.version === 1) {
      assert.equal(read(roots[0]!, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
      if (roots[1]) {
        assert.equal(read(roots[1], 'cpu.cfs_quota_us'), '50000');
        assert.equal(read(roots[1], 'cpu.cfs_period_us'), '100000');
        assert.equal(read(roots[1], 'cpu.shares'), '256');
        // The pods' root weighs as the node's allocatable CPU (kubelet's kubepods cgroup).
        assert.equal(readFileSync(join(roots[1], 'cpu.shares'), 'utf8').trim(), '3072');
      }
    } else {
      assert.equal(read(roots[0]!, 'memory.max'), String(64 * 1024 * 1024));
      assert.equal(read(roots[0]!, 'cpu.max'), '50000 100000');
      assert.equal(read(roots[0]!, 'cpu.weight'), String(sharesToWeight(256)));
      assert.equal(readFileSync(join(roots[0]!, 'cpu.weight'), 'utf8').trim(), String(sharesToWeight(3072)));
    }
    assert.equal(c.procsFiles.length, roots.length);
    assert.equal(c.oomKills(), 0);
    assert.deepEqual(c.pids(), []);
    await c.remove();
    await c.remove();
    for (const r of roots) assert.equal(existsSync(join(r, 'c1')), false);
    await cg.stop();
    for (const r of roots) assert.equal(existsSync(r), false, `${r} removed`);
  });

  it('puts the containers of one CPU group in one CPU cgroup weighing their requests together, each keeping its memory limit and usage', async (t) => {
    const hierarchy = detectCgroups();
    if (!hierarchy) return t.skip('no cgroup hierarchy with a memory controller here');
    const name = `kitetest-${randomBytes(4).toString('hex')}`;
    const cg = new CgroupManager({ hierarchy, name, log: () => {} });
    try {
      await cg.start();
    } catch (e) {
      return t.skip(`cannot create a cgroup root here: ${(e as Error).message}`);
    }
    if (!cg.cpuGroupsSupported) {
      await cg.stop();
      return t.skip('cpu and cpuacct share a v1 hierarchy here: containers keep CPU cgroups of their own');
    }
    try {
      const a = await cg.create('a', { memoryLimitBytes: 64 * 1024 * 1024, cpuRequestMillis: 250, cpuLimitMillis: 500 }, 'ns/gang');
      const b = await cg.create('b', { memoryLimitBytes: 32 * 1024 * 1024, cpuRequestMillis: 500, cpuLimitMillis: 1000 }, 'ns/gang');
      const other = await cg.create('c', { cpuRequestMillis: 100 }, 'ns/other');
      const shared = (c: typeof a) => c.procsFiles.map((f) => f.slice(0, -'/cgroup.procs'.length)).filter((d) => d.includes('/group-'));
      const cpuDir = hierarchy.version === 1 ? shared(a)[0]! : a.procsFiles[0]!.split('/').slice(0, -2).join('/');
      const read = (file: string) => readFileSync(join(cpuDir, file), 'utf8').trim();
      if (hierarchy.version === 1) {
        assert.deepEqual(shared(a), shared(b), 'one CPU cgroup for both');
        assert.notDeepEqual(shared(a), shared(other), 'another group has its own');
        assert.equal(read('cpu.shares'), String(milliCpuToShares(750)));
        assert.equal(read('cpu.cfs_quota_us'), String(milliCpuToQuota(1500)));
        assert.equal(readFileSync(join(cg.rootDirs[0]!, 'a', 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
        assert.equal(readFileSync(join(cg.rootDirs[0]!, 'b', 'memory.limit_in_bytes'), 'utf8').trim(), String(32 * 1024 * 1024));
        assert.equal(existsSync(join(cg.rootDirs[1]!, 'a')), false, 'no CPU cgroup of its own');
      } else {
        assert.equal(read('cpu.weight'), String(sharesToWeight(milliCpuToShares(750))));
        assert.equal(read('cpu.max'), `${milliCpuToQuota(1500)} 100000`);
        assert.equal(readFileSync(join(cpuDir, 'a', 'memory.max'), 'utf8').trim(), String(64 * 1024 * 1024));
        assert.equal(read('cgroup.subtree_control').includes('cpu '), false, 'members are not CPU cgroups of their own');
      }
      // A member without a limit lifts the group's cap.
      const d = await cg.create('d', { cpuRequestMillis: 250 }, 'ns/gang');
      if (hierarchy.version === 1) {
        assert.equal(read('cpu.cfs_quota_us'), '-1');
        assert.equal(read('cpu.shares'), String(milliCpuToShares(1000)));
      } else assert.equal(read('cpu.max'), 'max 100000');
      // A process that joins a member's cgroups is accounted to that member alone.
      const burner = spawn('sh', ['-c', 'for f in "$@"; do echo $$ > "$f"; done; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done', 'sh', ...a.procsFiles], { stdio: 'ignore' });
      const [code] = await once(burner, 'exit');
      assert.equal(code, 0);
      assert.ok((a.usage()?.cpuUsageNanos ?? 0) > 0, 'usage of the member that ran');
      assert.equal(b.usage()?.cpuUsageNanos ?? 0, 0, 'no usage for the member that did not');
      await d.remove();
      await a.remove();
      assert.ok(existsSync(cpuDir), 'the group stays while it has members');
      if (hierarchy.version === 1) assert.equal(read('cpu.shares'), String(milliCpuToShares(500)));
      await b.remove();
      assert.equal(existsSync(cpuDir), false, 'the group goes with its last member');
      await other.remove();
    } finally {
      await cg.stop();
    }
    for (const r of cg.rootDirs) assert.equal(existsSync(r), false);
  });
});
