/**
 * Helpers for tests that run the process runtime for real: options that
 * cannot clash with a running node or a concurrent test run, and a check
 * that nothing was left behind on the host. Not used outside tests.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroups } from './cgroups.js';
import { ipamRecords } from './network.js';
import type { ProcessRuntimeOptions } from './process.js';

/**
 * Options for a throwaway runtime: its own data dir, a bridge `kt<hex>`, a
 * pod CIDR in 10.250.0.0/16 and a cgroup root `kitetest-<hex>`, all random
 * so that parallel test runs on one host do not meet.
 */
export function testRuntimeOptions(overrides: Partial<ProcessRuntimeOptions> = {}): ProcessRuntimeOptions & { cgroupName: string; logs: string[] } {
  const tag = randomBytes(4).toString('hex');
  const logs: string[] = [];
  return {
    // A data dir is made only when the caller brings none (a made one would be left behind).
    dataDir: overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'kite-runtime-')),
    podCidr: `10.250.${randomBytes(1)[0]}.0/24`,
    bridge: `kt${tag}`,
    cgroupName: `kitetest-${tag}`,
    log: (msg) => logs.push(msg),
    logs,
    ...overrides,
  };
}

/** What a runtime left on the host: its bridge, pod namespaces/veths it recorded, its cgroup root. Empty when clean. */
export function leftovers(opts: { dataDir: string; bridge: string; cgroupName?: string }): string[] {
  const out: string[] = [];
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  if (new RegExp(`^\\d+: ${opts.bridge}[:@]`, 'm').test(links)) out.push(`bridge ${opts.bridge}`);
  const owners = new Set(ipamRecords(join(opts.dataDir, 'ipam')).values());
  for (const o of owners) out.push(`ip allocation of ${o}`);
  const netns = existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];
  for (const o of owners) if (netns.includes(o)) out.push(`netns ${o}`);
  // Host veths are attached to the bridge: any `master <bridge>` link is a leftover.
  for (const line of links.split('\n')) if (line.includes(` master ${opts.bridge} `)) out.push(`link ${line.split(':')[1]?.trim()}`);
  if (opts.cgroupName) {
    const h = detectCgroups();
    const dirs = !h ? [] : h.version === 2 ? [join(h.mount, opts.cgroupName)] : [h.controllers.memory, h.controllers.cpu, h.controllers.cpuacct].filter((d) => d !== undefined).map((d) => join(d, opts.cgroupName!));
    for (const d of dirs) if (existsSync(d)) out.push(`cgroup ${d}`);
  }
  return out;
}

/** Network namespaces currently on the host (`ip netns list`). */
export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** The content of a CRI log file as `{ stream, tag, content }` entries (timestamps checked and dropped). */
export function criLogEntries(path: string): { stream: string; tag: string; content: string }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(line)}`);
      return { stream: m[2]!, tag: m[3]!, content: m[4]! };
    });
}
