/** The results table the benchmarks print: metric, value, target, whether it was met. */

/** One line of a results table. */
export interface Row {
  metric: string;
  value: string;
  target?: string;
  ok?: boolean;
}

/** A number with fixed digits, or `n/a` when it is not finite. */
export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Prints rows as a Markdown-style table. */
export function printTable(rows: Row[]): void {
  const w0 = Math.max(...rows.map((r) => r.metric.length), 6);
  const w1 = Math.max(...rows.map((r) => r.value.length), 5);
  const w2 = Math.max(...rows.map((r) => (r.target ?? '').length), 6);
  const line = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c.padEnd(w2)} | ${d.padEnd(4)} |`;
  console.log(line('metric', 'value', 'target', 'met'));
  console.log(`|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|------|`);
  for (const r of rows) console.log(line(r.metric, r.value, r.target ?? '', r.ok === undefined ? '' : r.ok ? 'yes' : 'NO'));
}
