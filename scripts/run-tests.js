#!/usr/bin/env node
// Runs the compiled test files with Node's test runner and prints its summary.
// Usage: node scripts/run-tests.js [--unit | --e2e] [filter...]
// (run `npm run build` first; `npm test` does both).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const e2eOnly = args.includes('--e2e');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files = walk('dist', []).map((f) => relative('.', f)).sort();
if (unitOnly) files = files.filter((f) => !f.includes('test/e2e/'));
if (e2eOnly) files = files.filter((f) => f.includes('test/e2e/'));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
