#!/usr/bin/env node
// Runs the compiled `kite` command (built by `npm install` / `npm run build`).
import { main } from '../dist/src/cmd/kite.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kite: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
