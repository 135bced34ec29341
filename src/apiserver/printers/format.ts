/**
 * Cell formatting helpers shared by the per-kind printers: ages, label and
 * selector rendering, quantities and the tolerant accessors that let a printer
 * read any JSON shape without throwing. Each follows the upstream helper named
 * in its comment (pkg/printers/internalversion, apimachinery).
 */

import { selectorFromLabelSelector, type LabelSelectorSpec } from '../../api/labels.js';
import { parseQuantity } from '../../api/quantity.js';

/** A string field, or '' when absent or not a scalar. */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** An integer field, or 0 when absent or not a number (Go's zero value). */
export function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
}

/** An array field, or [] when absent or not an array. */
export function arr(v: unknown): any[] {
  return Array.isArray(v) ? v : [];
}

/** An object field, or {} when absent or not a plain object. */
export function rec(v: unknown): Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, any>) : {};
}

/** metadata.name of any object, '' when absent. */
export function nameOf(obj: unknown): string {
  return str(rec(rec(obj).metadata).name);
}

// Go's zero time.Time serialized as RFC3339; metav1.Time.IsZero() is true for it.
const ZERO_TIME_MS = -62135596800000; // 0001-01-01T00:00:00Z

/** Milliseconds since the epoch of an RFC3339 timestamp; undefined when absent, unparsable or Go's zero time. */
export function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms) || ms === ZERO_TIME_MS) return undefined;
  return ms;
}

/**
 * apimachinery duration.HumanDuration: ~2-3 significant figures, e.g. "90s",
 * "5m10s", "3h", "2d5h", "1y30d"; up to 2s in the future reads "0s" (clock
 * skew), further is "<invalid>".
 */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '<invalid>';
  // Go truncates toward zero when converting a Duration to whole units.
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / 3_600_000);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    const d = Math.trunc(hours / 24);
    return h === 0 ? `${d}d` : `${d}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const years = Math.trunc(hours / 24 / 365);
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: age of an RFC3339 timestamp relative to now, "<unknown>" when absent. */
export function age(timestamp: string | undefined, now: Date): string {
  const t = parseTime(timestamp);
  if (t === undefined) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

/** age() of a field of unknown type (non-strings read as absent). */
export function ageOf(v: unknown, now: Date): string {
  return age(typeof v === 'string' ? v : undefined, now);
}

/** The age cell of an object's metadata.creationTimestamp. */
export function creationAge(obj: unknown, now: Date): string {
  return ageOf(rec(rec(obj).metadata).creationTimestamp, now);
}

/** labels.FormatLabels: "k=v" pairs sorted as strings and comma-joined, "<none>" when empty. */
export function formatLabels(labels: unknown): string {
  const pairs = Object.entries(rec(labels)).map(([k, v]) => `${k}=${str(v)}`);
  if (pairs.length === 0) return '<none>';
  return pairs.sort(compareBytes).join(',');
}

/** Go's byte-wise string ordering (sort.Strings), as opposed to localeCompare. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key,
 * `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; '' for a nil or empty
 * selector. Undefined when the selector is malformed (upstream returns an error).
 */
export function labelSelectorString(selector: unknown): string | undefined {
  if (selector === undefined || selector === null) return '';
  if (typeof selector !== 'object' || Array.isArray(selector)) return undefined;
  try {
    return selectorFromLabelSelector(selector as LabelSelectorSpec).toString();
  } catch {
    return undefined;
  }
}

/** metav1.FormatLabelSelector: the selector string, "<none>" when empty, "<error>" when malformed. */
export function formatLabelSelector(selector: unknown): string {
  const s = labelSelectorString(selector);
  if (s === undefined) return '<error>';
  return s === '' ? '<none>' : s;
}

/** layoutContainerCells: container names and images, each comma-joined. */
export function containerCells(containers: unknown): [string, string] {
  const list = arr(containers).map(rec);
  return [list.map((c) => str(c.name)).join(','), list.map((c) => str(c.image)).join(',')];
}

/** The containers of a pod template (`spec.template.spec.containers` of a workload). */
export function templateContainers(obj: unknown): unknown {
  return rec(rec(rec(rec(obj).spec).template).spec).containers;
}

/** printBoolPtr: "True"/"False", "<unset>" when absent. */
export function boolPtr(v: unknown): string {
  if (typeof v !== 'boolean') return '<unset>';
  return v ? 'True' : 'False';
}

/** intstr.IntOrString.String(): the number in decimal or the string as is. */
export function intOrString(v: unknown): string {
  if (typeof v === 'number') return String(Math.trunc(v));
  return str(v);
}

/** net.JoinHostPort: IPv6 hosts are bracketed. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** listWithMoreString: "a,b,c + N more...", "<unset>" when the list is empty. */
export function listWithMore(list: string[], more: boolean, count: number, max: number): string {
  const ret = list.join(',');
  if (more) return `${ret} + ${count - max} more...`;
  return ret === '' ? '<unset>' : ret;
}

/** helper.GetAccessModesAsString: RWO, ROX, RWX, RWOP in that fixed order. */
export function accessModesString(modes: unknown): string {
  const set = new Set(arr(modes).map(str));
  const out: string[] = [];
  if (set.has('ReadWriteOnce')) out.push('RWO');
  if (set.has('ReadOnlyMany')) out.push('ROX');
  if (set.has('ReadWriteMany')) out.push('RWX');
  if (set.has('ReadWriteOncePod')) out.push('RWOP');
  return out.join(',');
}

/** The controller owner reference (metav1.GetControllerOf), if any. */
export function controllerOf(obj: unknown): Record<string, any> | undefined {
  for (const ref of arr(rec(rec(obj).metadata).ownerReferences)) {
    if (rec(ref).controller === true) return rec(ref);
  }
  return undefined;
}

/**
 * resource.Quantity.String(): the canonical form the API server would serve,
 * e.g. "1024Mi" → "1Gi", "1.5" → "1500m", zero → "0" (also for an absent
 * quantity, Go's zero value). Unparsable input is returned as is.
 */
export function quantityString(v: unknown): string {
  if (v === undefined || v === null) return '0';
  if (typeof v !== 'string' && typeof v !== 'number') return str(v);
  try {
    return parseQuantity(typeof v === 'string' ? v.trim() : v).toString();
  } catch {
    return String(v);
  }
}
