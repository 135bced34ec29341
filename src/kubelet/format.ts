/**
 * How the node agent writes pods, durations and values into the messages
 * users read (upstream pkg/kubelet/util/format and Go's fmt verbs), so that
 * events and waiting messages read exactly as kubelet's.
 */

/** upstream format.Pod: `name_namespace(uid)`. */
export function formatPod(pod: any): string {
  return `${pod?.metadata?.name}_${pod?.metadata?.namespace}(${pod?.metadata?.uid})`;
}

/** Go's time.Duration String() for whole milliseconds (10s, 1m20s, 5m0s, 200ms). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = +(totalS % 60).toFixed(3);
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** Go's `%q` of a string (a double-quoted literal with Go escapes). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Go's `%v` of a []string: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}
