import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
});
