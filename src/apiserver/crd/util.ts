/**
 * Small helpers shared by the CRD machinery: JSON value tests, deep
 * equality, and Go's %v rendering of floats (which upstream messages use).
 */
import { clone as deepCopy, deepEqual } from '../../util/json.js';
export { deepCopy, deepEqual };

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Go's `%v` of a float64 (strconv 'g' with the shortest digits): exponent
 * form below 1e-4 and from 1e+06 on, with a two-digit exponent ("1e+06").
 */
export function goFloat(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mant, expStr] = v.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    const abs = Math.abs(exp);
    return `${mant}e${sign}${abs < 10 ? '0' : ''}${abs}`;
  }
  return String(v);
}

/** Go's `%v` of a decoded JSON number: integers as int64, the rest as float64. */
export function goNumber(v: number): string {
  return Number.isInteger(v) && Math.abs(v) < 2 ** 63 ? BigInt(v).toString() : goFloat(v);
}

/** Go's `%v` of a JSON value as fmt.Fprint prints it (used by JSONPath text output). */
export function goScalar(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'number') return goNumber(v);
  return String(v);
}
