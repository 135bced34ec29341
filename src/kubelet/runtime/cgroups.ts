/**
 * Container cgroups for the process runtime: one cgroup per container under a
 * node-level root, on cgroup v1 (memory and cpu controllers) or v2 (unified).
 * Limits follow kubelet's conversions (pkg/kubelet/cm/helpers_linux.go).
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** The cgroup hierarchy this host uses, as the runtime needs it. */
export type CgroupHierarchy =
  | { version: 2; /** Mount point of the unified hierarchy. */ mount: string }
  | {
      version: 1;
      /**
       * Controller → directory of this process's own cgroup in that controller's hierarchy;
       * `cpuacct` only where it is mounted apart from `cpu` (co-mounted, `cpu` has its files).
       */
      controllers: { memory: string; cpu?: string; cpuacct?: string };
    };

/** Limits of one container, as the runtime contract carries them. */
export interface CgroupLimits {
  memoryLimitBytes?: number;
  cpuLimitMillis?: number;
  cpuRequestMillis?: number;
}

/** kubelet's CFS period (100ms) and its bounds on shares and quota. */
const CFS_PERIOD_US = 100_000;
const MIN_QUOTA_US = 1000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;

/** kubelet's MilliCPUToShares: 1 CPU = 1024 shares, never below 2 (BestEffort gets 2). */
export function milliCpuToShares(milli: number | undefined): number {
  if (!milli) return MIN_SHARES;
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.floor((milli * 1024) / 1000)));
}

/** kubelet's MilliCPUToQuota for the 100ms period, never below 1ms. */
export function milliCpuToQuota(milli: number): number {
  return Math.max(MIN_QUOTA_US, Math.floor((milli * CFS_PERIOD_US) / 1000));
}

/** The cgroup v2 weight for v1 shares (the conversion runc and kubelet use). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262_142);
}

/**
 * Finds the cgroup hierarchy from /proc/self/mountinfo and /proc/self/cgroup.
 * A v1 memory controller wins over a hybrid host's controller-less unified
 * mount; v2 is used when its root offers the memory controller. On v1 the
 * container cgroups nest under this process's own cgroup so that whatever
 * limits the agent runs under also bound its pods.
 */
export function detectCgroups(mountinfo?: string, selfCgroup?: string): CgroupHierarchy | undefined {
  try {
    mountinfo ??= readFileSync('/proc/self/mountinfo', 'utf8');
    selfCgroup ??= readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  const own = new Map<string, string>();
  for (const line of selfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) own.set(c, m[2]!);
  }
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const root = f[3] ?? '/';
    const mountPoint = f[4] ?? '';
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup2') v2 ??= mountPoint;
    if (fstype !== 'cgroup') continue;
    for (const c of superOpts.split(',')) {
      if (c !== 'memory' && c !== 'cpu' && c !== 'cpuacct') continue;
      const self = own.get(c) ?? '/';
      // The mount may show a subtree (cgroup namespaces, bind mounts): our path is relative to its root.
      const rel = root !== '/' && self.startsWith(root) ? self.slice(root.length) : self;
      v1.set(c, join(mountPoint, rel));
    }
  }
  if (v1.has('memory')) {
    const acct = v1.get('cpuacct');
    return { version: 1, controllers: { memory: v1.get('memory')!, cpu: v1.get('cpu'), ...(acct !== undefined && acct !== v1.get('cpu') ? { cpuacct: acct } : {}) } };
  }
  if (v2 !== undefined) {
    try {
      if (readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) return { version: 2, mount: v2 };
    } catch {
      /* not readable: no cgroups */
    }
  }
  return undefined;
}

/** One container's cgroup: the files its first process joins, and what it recorded. */
export interface ContainerCgroup {
  /** `cgroup.procs` files the container's process writes its pid into before it execs. */
  procsFiles: string[];
  /** OOM kills the kernel recorded in this cgroup. */
  oomKills(): number;
  /** Pids still in the cgroup. */
  pids(): number[];
  /** What the cgroup has used so far (undefined once it is gone). */
  usage(): CgroupUsage | undefined;
  /** Kills what is left in it and removes it (idempotent). */
  remove(): Promise<void>;
}

/** Resource usage a cgroup records, as cAdvisor reads it for kubelet's stats. */
export interface CgroupUsage {
  /** Cumulative CPU time of every task that ran in the cgroup, in nanoseconds. */
  cpuUsageNanos?: number;
  memoryUsageBytes?: number;
  /** Usage minus inactive file pages: kubelet's working set (what `kubectl top` and evictions use). */
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/** Parses a `memory.stat` (or `cpu.stat`) file: one `key value` pair per line. */
export function parseKeyedFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/**
 * Reads a cgroup's usage from its memory directory and its CPU accounting
 * directory (v1 `cpuacct`, v2 the same unified directory). The working set
 * is usage minus `inactive_file`, never below zero, as cAdvisor computes it.
 */
export function readCgroupUsage(version: 1 | 2, memDir: string, cpuDir: string | undefined): CgroupUsage | undefined {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const memText = read(join(memDir, version === 1 ? 'memory.usage_in_bytes' : 'memory.current'));
  if (memText === undefined) return undefined;
  const out: CgroupUsage = {};
  const usage = Number(memText.trim());
  const stat = parseKeyedFile(read(join(memDir, 'memory.stat')) ?? '');
  // v1 reports the hierarchy's totals under `total_*` (the cgroup and its descendants).
  const key = (k: string) => stat.get(version === 1 ? `total_${k}` : k);
  const inactiveFile = key('inactive_file') ?? 0;
  out.memoryUsageBytes = usage;
  out.workingSetBytes = inactiveFile < usage ? usage - inactiveFile : 0;
  const rss = version === 1 ? key('rss') : key('anon');
  if (rss !== undefined) out.rssBytes = rss;
  const faults = key('pgfault');
  const major = key('pgmajfault');
  if (faults !== undefined) out.pageFaults = faults;
  if (major !== undefined) out.majorPageFaults = major;
  if (cpuDir !== undefined) {
    if (version === 1) {
      const ns = read(join(cpuDir, 'cpuacct.usage'));
      if (ns !== undefined && /^\d+$/.test(ns.trim())) out.cpuUsageNanos = Number(ns.trim());
    } else {
      const usec = parseKeyedFile(read(join(cpuDir, 'cpu.stat')) ?? '').get('usage_usec');
      if (usec !== undefined) out.cpuUsageNanos = usec * 1000;
    }
  }
  return out;
}

/** Options of a CgroupManager. */
export interface CgroupManagerOptions {
  hierarchy: CgroupHierarchy;
  /** Name of the node-level root cgroup, e.g. `kite`. */
  name: string;
  /** The node's allocatable CPU in millicores (default: every CPU of the machine); the root cgroup's CPU weight. */
  cpuMillis?: number;
  log: (msg: string) => void;
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

function tryWrite(path: string, value: string): boolean {
  try {
    if (!existsSync(path)) return false;
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

function readPids(procs: string): number[] {
  try {
    return readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Removes a cgroup directory once its processes are gone, killing stragglers (cgroup dirs only empty after every task exits). */
async function removeCgroupDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (!existsSync(dir)) return;
    for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) await removeCgroupDir(join(dir, child.name));
    for (const pid of readPids(join(dir, 'cgroup.procs'))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY while killed tasks are still being torn down by the kernel.
      if (code !== 'EBUSY' || attempt >= 100) throw new Error(`removing cgroup ${dir}: ${(e as Error).message}`);
      await delay(20);
    }
  }
}

/**
 * The CPU cgroup shared by the containers of one gang on this node (the pods
 * of one PodGroup). Ranks of a distributed job wait on each other at every
 * collective, and scheduled as separate CPU cgroups they lose time at each:
 * a 4-rank gloo job on 2 CPUs, each rank in a CPU cgroup of its own, ran
 * 1.7x slower than the same processes in one. In one group the gang still weighs what its members request
 * together (the sum of their CPU requests), and is capped at the sum of their
 * limits when every member has one; between members CPU is shared per task
 * like processes started by hand. Memory limits, OOM kills and usage stay per
 * container.
 */
export class CpuGroup {
  /** Members' limits by container id. */
  readonly members = new Map<string, CgroupLimits>();
  /** The group's directory in the cpu hierarchy (v1) or the unified one (v2). */
  readonly dir: string;

  constructor(
    private readonly hierarchy: CgroupHierarchy,
    cpuRoot: string,
    readonly name: string,
  ) {
    this.dir = join(cpuRoot, `group-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`);
  }

  /** Creates the group's cgroup if needed and sets its weight and cap from its members. */
  apply(): void {
    let requested = 0;
    let limit: number | undefined = 0;
    for (const l of this.members.values()) {
      requested += l.cpuRequestMillis ?? 0;
      limit = limit === undefined || l.cpuLimitMillis === undefined ? undefined : limit + l.cpuLimitMillis;
    }
    const shares = milliCpuToShares(requested);
    if (!existsSync(this.dir)) {
      mkdirSync(this.dir);
      // v2: members get memory and pids controllers of their own, and no cpu controller: they are scheduled as one.
      if (this.hierarchy.version === 2) {
        const available = readFileSync(join(this.dir, 'cgroup.controllers'), 'utf8').split(/\s+/);
        const enable = ['memory', 'pids'].filter((c) => available.includes(c));
        if (enable.length) write(join(this.dir, 'cgroup.subtree_control'), enable.map((c) => `+${c}`).join(' '));
      }
    }
    if (this.hierarchy.version === 1) {
      write(join(this.dir, 'cpu.shares'), String(shares));
      write(join(this.dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      write(join(this.dir, 'cpu.cfs_quota_us'), limit === undefined ? '-1' : String(milliCpuToQuota(limit)));
    } else {
      tryWrite(join(this.dir, 'cpu.weight'), String(sharesToWeight(shares)));
      tryWrite(join(this.dir, 'cpu.max'), `${limit === undefined ? 'max' : milliCpuToQuota(limit)} ${CFS_PERIOD_US}`);
    }
  }
}

/** The node-level cgroup root and the per-container cgroups under it. */
export class CgroupManager {
  private readonly roots: string[] = [];
  private created: string[] = [];
  /** Index in `roots` of the directory with CPU accounting (v1 `cpuacct`, co-mounted `cpu`, or the v2 root). */
  private acctRoot: number | undefined;
  /** Live container cgroups by id (what usage() reports on). */
  private readonly live = new Map<string, ContainerCgroup>();
  /** CPU groups with members on this node, by name. */
  private readonly groups = new Map<string, CpuGroup>();

  constructor(private readonly opts: CgroupManagerOptions) {}

  /** Directories of the root cgroup (one per v1 controller, one on v2). */
  get rootDirs(): string[] {
    return [...this.roots];
  }

  /**
   * Creates the root cgroup (and on v2 enables the memory and cpu controllers
   * for its children); throws when it cannot. Container cgroups left in an
   * existing root by an earlier run are killed and removed: their processes
   * cannot be re-attached to.
   */
  async start(): Promise<void> {
    const h = this.opts.hierarchy;
    if (h.version === 1) {
      for (const base of [h.controllers.memory, h.controllers.cpu]) {
        if (base === undefined) continue;
        this.roots.push(this.ensureDir(join(base, this.opts.name)));
      }
      // CPU usage is accounted by cpuacct: in the cpu directory when co-mounted, else in its own hierarchy.
      if (h.controllers.cpuacct !== undefined) this.roots.push(this.ensureDir(join(h.controllers.cpuacct, this.opts.name)));
      this.acctRoot = h.controllers.cpuacct !== undefined ? this.roots.length - 1 : h.controllers.cpu !== undefined ? 1 : undefined;
      // v1 memory hierarchy must be on for the root's limit to bound children (the default since 5.x; harmless elsewhere).
      tryWrite(join(this.roots[0]!, 'memory.use_hierarchy'), '1');
      if (h.controllers.cpu !== undefined) tryWrite(join(h.controllers.cpu, this.opts.name, 'cpu.shares'), String(this.rootShares()));
      await this.removeStale();
      return;
    }
    const controllers = readFileSync(join(h.mount, 'cgroup.controllers'), 'utf8').split(/\s+/).filter((c) => c === 'memory' || c === 'cpu' || c === 'pids');
    const enable = controllers.map((c) => `+${c}`).join(' ');
    const active = readFileSync(join(h.mount, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
    if (!controllers.every((c) => active.includes(c))) write(join(h.mount, 'cgroup.subtree_control'), enable);
    const root = this.ensureDir(join(h.mount, this.opts.name));
    this.roots.push(root);
    this.acctRoot = 0;
    write(join(root, 'cgroup.subtree_control'), enable);
    tryWrite(join(root, 'cpu.weight'), String(sharesToWeight(this.rootShares())));
    await this.removeStale();
  }

  /**
   * The pods' root cgroup weighs as much as the node's allocatable CPU, as the kubelet
   * sets its kubepods cgroup: otherwise all pods together compete with any one host
   * process as equals and lose most of the machine when it is busy.
   */
  private rootShares(): number {
    return milliCpuToShares(this.opts.cpuMillis ?? availableParallelism() * 1000);
  }

  private async removeStale(): Promise<void> {
    let stale = 0;
    for (const root of this.roots) {
      for (const child of readdirSync(root, { withFileTypes: true })) {
        if (!child.isDirectory()) continue;
        await removeCgroupDir(join(root, child.name));
        stale++;
      }
    }
    if (stale) this.opts.log(`process runtime: removed ${stale} container cgroups (and their processes) left by an earlier run`);
  }

  /** Removes the root cgroup if this manager created it (after any leftover container cgroups). */
  async stop(): Promise<void> {
    for (const dir of this.created.reverse()) await removeCgroupDir(dir);
    this.created = [];
    this.roots.length = 0;
    this.live.clear();
    this.groups.clear();
  }

  /**
   * Whether containers of one CPU group can share a CPU cgroup and still have
   * their own CPU accounting: on v2 always (a cgroup's cpu.stat usage is kept
   * whether or not the cpu controller is enabled for it), on v1 only where
   * cpuacct is mounted apart from cpu.
   */
  get cpuGroupsSupported(): boolean {
    const h = this.opts.hierarchy;
    return h.version === 2 || (h.controllers.cpu !== undefined && h.controllers.cpuacct !== undefined);
  }

  /**
   * Creates a container's cgroup with its limits; the process joins it through
   * `procsFiles`. With `group` (see CpuGroup) the container's CPU is scheduled
   * in the group's cgroup; its memory limit, OOM kills and usage stay its own.
   */
  async create(id: string, limits: CgroupLimits, group?: string): Promise<ContainerCgroup> {
    const h = this.opts.hierarchy;
    const grouped = group !== undefined && this.cpuGroupsSupported ? this.joinGroup(group, id, limits) : undefined;
    // v1: no cpu directory of its own in a group (index 1 is the cpu root); v2: the container's directory sits inside the group's.
    const dirs = h.version === 1 ? this.roots.map((r, i) => (grouped && i === 1 ? '' : join(r, id))) : [join(grouped?.dir ?? this.roots[0]!, id)];
    try {
      // The group's cgroup first: on v2 its controllers must be set before a member directory exists in it.
      if (grouped) grouped.apply();
      for (const d of dirs) if (d) mkdirSync(d, { recursive: true });
      if (h.version === 1) {
        const mem = dirs[0];
        const cpu = h.controllers.cpu !== undefined ? dirs[1] || undefined : undefined;
        if (limits.memoryLimitBytes !== undefined) {
          write(join(mem!, 'memory.limit_in_bytes'), String(limits.memoryLimitBytes));
          // No swap for containers (kubelet's NoSwap default): memory+swap capped at the same value.
          tryWrite(join(mem!, 'memory.memsw.limit_in_bytes'), String(limits.memoryLimitBytes));
        }
        tryWrite(join(mem!, 'memory.swappiness'), '0');
        if (cpu !== undefined) {
          write(join(cpu, 'cpu.shares'), String(milliCpuToShares(limits.cpuRequestMillis)));
          if (limits.cpuLimitMillis !== undefined) {
            write(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
            write(join(cpu, 'cpu.cfs_quota_us'), String(milliCpuToQuota(limits.cpuLimitMillis)));
          }
        }
      } else {
        const [dir] = dirs;
        if (limits.memoryLimitBytes !== undefined) write(join(dir!, 'memory.max'), String(limits.memoryLimitBytes));
        tryWrite(join(dir!, 'memory.swap.max'), '0');
        // The whole container is killed on OOM, as kubelet configures on cgroup v2 (memory.oom.group).
        tryWrite(join(dir!, 'memory.oom.group'), '1');
        if (!grouped) {
          tryWrite(join(dir!, 'cpu.weight'), String(sharesToWeight(milliCpuToShares(limits.cpuRequestMillis))));
          if (limits.cpuLimitMillis !== undefined) write(join(dir!, 'cpu.max'), `${milliCpuToQuota(limits.cpuLimitMillis)} ${CFS_PERIOD_US}`);
        }
      }
    } catch (e) {
      for (const d of dirs) if (d) await removeCgroupDir(d);
      if (grouped) await this.leaveGroup(grouped, id);
      throw new Error(`setting cgroup limits for ${id}: ${(e as Error).message}`);
    }
    const memDir = dirs[0]!;
    const acctDir = this.acctRoot === undefined ? undefined : dirs[this.acctRoot];
    const procsFiles = dirs.map((d) => join(d || grouped!.dir, 'cgroup.procs'));
    const handle: ContainerCgroup = {
      procsFiles,
      oomKills: () => {
        try {
          const text = readFileSync(join(memDir, h.version === 1 ? 'memory.oom_control' : 'memory.events'), 'utf8');
          return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
        } catch {
          return 0;
        }
      },
      pids: () => readPids(join(memDir, 'cgroup.procs')),
      usage: () => readCgroupUsage(h.version, memDir, acctDir),
      remove: async () => {
        if (!this.live.delete(id)) return;
        for (const d of dirs) if (d) await removeCgroupDir(d);
        if (grouped) await this.leaveGroup(grouped, id);
      },
    };
    this.live.set(id, handle);
    return handle;
  }

  /** Adds a container to its CPU group, creating the group's cgroup for its first member. */
  private joinGroup(name: string, id: string, limits: CgroupLimits): CpuGroup {
    let g = this.groups.get(name);
    if (!g) {
      g = new CpuGroup(this.opts.hierarchy, this.opts.hierarchy.version === 1 ? this.roots[1]! : this.roots[0]!, name);
      this.groups.set(name, g);
    }
    g.members.set(id, limits);
    return g;
  }

  /** Takes a container out of its CPU group; the group's cgroup goes with its last member. */
  private async leaveGroup(g: CpuGroup, id: string): Promise<void> {
    g.members.delete(id);
    if (g.members.size > 0) return g.apply();
    this.groups.delete(g.name);
    await removeCgroupDir(g.dir);
  }

  /** Usage of every live container cgroup, by container id (kubelet's stats come from here). */
  usage(): Map<string, CgroupUsage> {
    const out = new Map<string, CgroupUsage>();
    for (const [id, cg] of this.live) {
      const u = cg.usage();
      if (u) out.set(id, u);
    }
    return out;
  }

  private ensureDir(dir: string): string {
    if (!existsSync(dir)) {
      mkdirSync(dir);
      this.created.push(dir);
    }
    return dir;
  }
}
