/**
 * `npm run bench`: runs the benchmarks one after another, each in its own
 * process (so one's heap and event loop do not colour the next): the API
 * server, the scheduler on hollow nodes, and pod start latency on the real
 * node. Arguments after `--` go to the API server benchmark, as before.
 *
 *   npm run bench [-- --only create,list,watch] [--skip scheduler,podstart]
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCHES = ['apiserver', 'scheduler', 'gang', 'podstart', 'proxy', 'dns', 'readiness', 'cristart', 'training'] as const;

function run(file: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, file), ...args], { stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const skipAt = argv.indexOf('--skip');
  const skip = new Set(skipAt >= 0 ? (argv[skipAt + 1] ?? '').split(',') : []);
  const apiserverArgs = skipAt >= 0 ? [...argv.slice(0, skipAt), ...argv.slice(skipAt + 2)] : argv;
  const started = performance.now();
  let failed = 0;
  for (const name of BENCHES) {
    if (skip.has(name)) continue;
    console.log(`\n=== ${name} benchmark ===`);
    const code = await run(`${name}.bench.js`, name === 'apiserver' ? apiserverArgs : []);
    if (code !== 0) {
      console.log(`${name} benchmark exited with ${code}`);
      failed++;
    }
  }
  console.log(`\nall benchmarks done in ${((performance.now() - started) / 1000).toFixed(0)} s${failed ? `; ${failed} failed` : ''}`);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code));
