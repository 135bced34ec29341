/**
 * Prints the hottest functions and files of a V8 `.cpuprofile` (as written by
 * `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof DIR`):
 *
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile [N]
 *
 * Self time is time spent in the function's own code; inclusive ("total")
 * time adds its callees. Paths are shown relative to the repository.
 */
import { readFileSync } from 'node:fs';

/** The parts of a V8 CPU profile node this tool reads. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** The parts of a V8 CPU profile this tool reads. */
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 6);
  const j = url.indexOf('/node_modules/');
  if (j >= 0) return url.slice(j + 1);
  return url.replace(/^file:\/\//, '') || '(native)';
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
}

function main(argv: string[]): void {
  const [file, topArg] = argv;
  if (!file) {
    process.stderr.write('usage: cpuprofile-top FILE.cpuprofile [N]\n');
    process.exitCode = 2;
    return;
  }
  const top = Number(topArg ?? 30);
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // Time per sample: the delta after it, as V8's own tools attribute it.
  const selfUs = new Map<number, number>();
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const name = frameName(n);
    self.set(name, (self.get(name) ?? 0) + us);
    const file = shortUrl(n.callFrame.url);
    files.set(file, (files.get(file) ?? 0) + us);
    // Inclusive: count each distinct function once per stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const nm = frameName(byId.get(cur)!);
      if (seen.has(nm)) continue;
      seen.add(nm);
      inclusive.set(nm, (inclusive.get(nm) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
  const print = (title: string, m: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [name, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  };
  console.log(`profile ${file}: ${(totalUs / 1e6).toFixed(2)} s sampled`);
  print('self time by function', self, top);
  print('self time by file', files, Math.min(top, 25));
  print('inclusive time by function', inclusive, top);
}

main(process.argv.slice(2));
