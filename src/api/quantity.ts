/**
 * Kubernetes resource quantities (`100m`, `1Gi`, `1e3`, `0.5`): parsing and
 * canonical formatting as apimachinery's resource.Quantity does it. A value
 * is held exactly as a count of nano-units (bigint); like upstream, parsing
 * rounds any finer precision up (away from zero) to 1n.
 */

/** The three serialisation families upstream remembers from the parsed suffix. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXPONENT: Record<number, string> = Object.fromEntries(
  Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]),
);
const BINARY_BY_EXPONENT: Record<number, string> = Object.fromEntries(
  Object.entries(BINARY_SUFFIXES).map(([s, e]) => [e, s]),
);
const NANO = 1_000_000_000n;
const MAX_INT64 = (1n << 63n) - 1n;
/** Exponents beyond this would make the exact bigint absurdly large; upstream caps nothing here but nobody writes them. */
const MAX_DECIMAL_EXPONENT = 4096;

/** upstream's splitREString, quoted in its ErrFormatWrong message. */
const SPLIT_RE = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
/** Error text of resource.ErrFormatWrong. */
export const ERR_FORMAT_WRONG = `quantities must match the regular expression '${SPLIT_RE}'`;
/** Error text of resource.ErrNumeric. */
export const ERR_NUMERIC = 'unable to parse numeric part of quantity';
/** Error text of resource.ErrSuffix. */
export const ERR_SUFFIX = "unable to parse quantity's suffix";

/** A parsed, immutable resource quantity. */
export class Quantity {
  /** The exact amount in units of 10^-9. */
  readonly nanos: bigint;
  /** The suffix family used when formatting. */
  readonly format: QuantityFormat;
  /** Upstream keeps the input text when it is already canonical, and re-emits it verbatim. */
  private readonly original: string | undefined;

  private constructor(nanos: bigint, format: QuantityFormat, original?: string) {
    this.nanos = nanos;
    this.format = format;
    this.original = original;
  }

  /** Builds a quantity from an exact nano-unit count (internal and arithmetic use). */
  static fromNanos(nanos: bigint, format: QuantityFormat = 'DecimalSI', original?: string): Quantity {
    return new Quantity(nanos, format, original);
  }

  /** resource.NewMilliQuantity: `milli` thousandths of a unit. */
  static fromMilli(milli: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(milli) * 1_000_000n, format);
  }

  /** resource.NewQuantity: a whole number of units. */
  static fromValue(value: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(value) * NANO, format);
  }

  /** Value in thousandths, rounded up (upstream MilliValue); a JS number, exact below 2^53. */
  milliValue(): number {
    return Number(ceilDiv(this.nanos, 1_000_000n));
  }

  /** Value in whole units, rounded up (upstream Value); a JS number, exact below 2^53. */
  value(): number {
    return Number(ceilDiv(this.nanos, NANO));
  }

  /** -1, 0 or 1 by comparison with `other` (upstream Cmp). */
  cmp(other: Quantity): -1 | 0 | 1 {
    return this.nanos < other.nanos ? -1 : this.nanos > other.nanos ? 1 : 0;
  }

  /** True when the amount is zero. */
  isZero(): boolean {
    return this.nanos === 0n;
  }

  /** Sum, keeping this quantity's format (upstream Add). */
  add(other: Quantity): Quantity {
    return new Quantity(this.nanos + other.nanos, this.format);
  }

  /** Difference, keeping this quantity's format (upstream Sub). */
  sub(other: Quantity): Quantity {
    return new Quantity(this.nanos - other.nanos, this.format);
  }

  /** The canonical text (upstream String / MarshalJSON). */
  toString(): string {
    return this.original ?? canonicalize(this.nanos, this.format);
  }

  /** JSON form is the canonical string, as on the wire. */
  toJSON(): string {
    return this.toString();
  }
}

/** Ceiling division away from zero, as upstream's ScaledValue rounds (inf.RoundUp). */
function ceilDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  if (q * d === n) return q;
  return n > 0n ? q + 1n : q - 1n;
}

/** Canonical form: no fractional digits, the largest exponent/suffix, sign only when negative. */
function canonicalize(nanos: bigint, format: QuantityFormat): string {
  if (nanos === 0n) return '0';
  let fmt = format;
  if (fmt === 'BinarySI') {
    const abs = nanos < 0n ? -nanos : nanos;
    // upstream: values in (-1024, 1024), or not whole, are shown as DecimalSI to avoid rounding.
    if (abs < 1024n * NANO || abs % NANO !== 0n) fmt = 'DecimalSI';
  }
  if (fmt === 'BinarySI') {
    let units = nanos / NANO;
    let exp = 0;
    while (exp < 60 && units % 1024n === 0n) {
      units /= 1024n;
      exp += 10;
    }
    return `${units}${BINARY_BY_EXPONENT[exp] ?? ''}`; // exponent 0 has no suffix
  }
  // Base 10: move all factors of ten into the exponent, then lower it to a multiple of 3.
  let mantissa = nanos;
  let exp = -9;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exp++;
  }
  while (((exp % 3) + 3) % 3 !== 0) {
    mantissa *= 10n;
    exp--;
  }
  if (fmt === 'DecimalExponent') return exp === 0 ? `${mantissa}` : `${mantissa}e${exp}`;
  const suffix = DECIMAL_BY_EXPONENT[exp];
  // Past `E` there is no SI suffix; emit an exponent rather than a wrong number.
  return suffix === undefined ? `${mantissa}e${exp}` : `${mantissa}${suffix}`;
}

/** The pieces upstream's parseQuantityString scanner extracts. */
interface Scanned {
  positive: boolean;
  num: string;
  denom: string;
  suffix: string;
}

/** A transliteration of the scanning rules of upstream's parseQuantityString (not a regex: it has quirks, e.g. `1.` and `.5` are valid). */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (pos < end && (str[0] === '-' || str[0] === '+')) {
    positive = str[0] !== '-';
    pos++;
  }
  while (pos < end && str[pos] === '0') pos++;
  if (pos >= end) return { positive, num: '0', denom: '', suffix: '' };
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  let num = str.slice(pos, i);
  pos = i;
  if (num === '') num = '0';
  let denom = '';
  if (pos < end && str[pos] === '.') {
    pos++;
    i = pos;
    while (i < end && isDigit(str[i])) i++;
    denom = str.slice(pos, i);
    pos = i;
  }
  const suffixStart = pos;
  while (pos < end && 'eEinumkKMGTP'.includes(str[pos]!)) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str[pos])) pos++;
  if (pos < end) throw new Error(ERR_FORMAT_WRONG);
  return { positive, num, denom, suffix: str.slice(suffixStart) };
}

/** Interprets a suffix as base/exponent/format, as upstream's quantitySuffixer.interpret. */
function interpretSuffix(s: string): { base: 2 | 10; exponent: number; format: QuantityFormat } | undefined {
  if (s in DECIMAL_SUFFIXES) return { base: 10, exponent: DECIMAL_SUFFIXES[s]!, format: 'DecimalSI' };
  if (s in BINARY_SUFFIXES) return { base: 2, exponent: BINARY_SUFFIXES[s]!, format: 'BinarySI' };
  if (s.length > 1 && (s[0] === 'e' || s[0] === 'E')) {
    const rest = s.slice(1);
    if (!/^[+-]?[0-9]+$/.test(rest)) return undefined;
    return { base: 10, exponent: Number(rest), format: 'DecimalExponent' };
  }
  return undefined;
}

/** Quantities parsed lately, by their text: a cluster's requests repeat a few values ("1", "4Gi"), and Quantity is immutable. */
const recentlyParsed = new Map<string, Quantity>();
const RECENTLY_PARSED_MAX = 1024;

/** Parses a quantity string (or a JSON number) exactly as resource.ParseQuantity; throws Error with upstream's text when invalid. */
export function parseQuantity(input: string | number): Quantity {
  const str = typeof input === 'number' ? String(input) : input;
  let q = recentlyParsed.get(str);
  if (q === undefined) {
    q = parseQuantityText(str);
    if (recentlyParsed.size >= RECENTLY_PARSED_MAX) recentlyParsed.clear();
    recentlyParsed.set(str, q);
  }
  return q;
}

function parseQuantityText(str: string): Quantity {
  if (str.length === 0) throw new Error(ERR_FORMAT_WRONG);
  if (str === '0') return Quantity.fromNanos(0n, 'DecimalSI', '0');
  const { positive, num, denom, suffix } = scan(str);
  const suf = interpretSuffix(suffix);
  if (!suf) throw new Error(ERR_SUFFIX);
  let { format } = suf;
  if (suf.base === 10 && Math.abs(suf.exponent) > MAX_DECIMAL_EXPONENT) throw new Error(ERR_NUMERIC);

  // Exact value = digits * 10^-len(denom) * base^exponent; express it in nanos, rounding up.
  const digits = BigInt(num + denom);
  let numerator = digits;
  let denominator = 10n ** BigInt(denom.length);
  if (suf.base === 10) {
    if (suf.exponent >= 0) numerator *= 10n ** BigInt(suf.exponent);
    else denominator *= 10n ** BigInt(-suf.exponent);
  } else {
    numerator <<= BigInt(suf.exponent);
  }
  numerator *= NANO;
  let nanos = numerator / denominator;
  if (nanos * denominator !== numerator) nanos += 1n; // RoundUp: non-zero values never round to zero
  if (format === 'BinarySI') {
    // upstream caps binary values at 2^63-1 and shows sub-unit binary values as DecimalSI
    if (nanos > MAX_INT64 * NANO) nanos = MAX_INT64 * NANO;
    if (nanos > 0n && nanos < NANO) format = 'DecimalSI';
  }
  if (!positive) nanos = -nanos;

  // upstream's fast path reuses the input text when it is already in canonical shape.
  let original: string | undefined;
  const shifted = num + denom;
  if (suf.base === 2) {
    if (denom.length === 0 && (digits & 7n) !== 0n && nanos <= MAX_INT64 * NANO) original = str;
  } else {
    const scale = suf.exponent - denom.length;
    if (scale >= -9 && ((scale % 3) + 3) % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0' && fitsInt64(nanos)) {
      original = str;
    }
  }
  return Quantity.fromNanos(nanos, format, original);
}

/** upstream's fast path only applies when the scaled value fits an int64. */
function fitsInt64(nanos: bigint): boolean {
  const abs = nanos < 0n ? -nanos : nanos;
  return abs <= MAX_INT64 * NANO;
}

/** True when `s` parses as a quantity. */
export function isValidQuantity(s: string | number): boolean {
  try {
    parseQuantity(s);
    return true;
  } catch {
    return false;
  }
}
