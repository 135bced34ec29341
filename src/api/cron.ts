/**
 * Cron schedules as the CronJob controller reads them: robfig/cron v3's
 * ParseStandard (five fields, `@hourly`-style descriptors, `@every <duration>`,
 * an optional `TZ=`/`CRON_TZ=` prefix) and SpecSchedule.Next, with the
 * parser's error texts, which upstream reports verbatim.
 */

/** A parsed schedule: the first activation strictly after a time (second 0 of a minute), or undefined when none comes within five years. */
export interface CronSchedule {
  next(after: Date): Date | undefined;
}

interface Field {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DOWS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 6, names: DOWS },
];

/** robfig's descriptors, as the five fields they stand for. */
const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** One field's allowed values; `star` as robfig's starBit (`*` or `?` without a step above 1). */
interface Bits {
  set: boolean[];
  star: boolean;
}

/** Go strconv.Atoi plus robfig's negative check, with their error texts. */
function parseUint(expr: string): number {
  if (!/^[+-]?[0-9]+$/.test(expr)) throw new Error(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: invalid syntax`);
  const n = Number(expr);
  if (n < 0) throw new Error(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

/** robfig getRange: `*`, `?`, `a`, `a-b`, each with an optional `/step`; month and weekday names. */
function addRange(expr: string, f: Field, bits: Bits): void {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0]!.split('-');
  const single = lowAndHigh.length === 1;
  const value = (s: string) => f.names?.[s.toLowerCase()] ?? parseUint(s);
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = f.min;
    end = f.max;
    star = true;
  } else {
    start = value(lowAndHigh[0]!);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = value(lowAndHigh[1]!);
    else throw new Error(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseUint(rangeAndStep[1]!);
    // `N/step` means N through the maximum.
    if (single) end = f.max;
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) throw new Error(`too many slashes: ${expr}`);
  if (start < f.min) throw new Error(`beginning of range (${start}) below minimum (${f.min}): ${expr}`);
  if (end > f.max) throw new Error(`end of range (${end}) above maximum (${f.max}): ${expr}`);
  if (start > end) throw new Error(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new Error(`step of range should be a positive number: ${expr}`);
  for (let v = start; v <= end; v += step) bits.set[v] = true;
  if (star) bits.star = true;
}

function parseField(text: string, f: Field): Bits {
  const bits: Bits = { set: [], star: false };
  // robfig splits with FieldsFunc: empty pieces are dropped.
  for (const expr of text.split(',').filter((x) => x.length > 0)) addRange(expr, f, bits);
  return bits;
}

/** Go time.ParseDuration for the units robfig's `@every` accepts; milliseconds. */
function parseGoDuration(s: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m || s === '0' || s === '') {
    if (s === '0') return 0;
    throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
  }
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * units[part[2]!]!;
  return m[1] === '-' ? -total : total;
}

/** True if the runtime knows this IANA zone (Go's time.LoadLocation; '' and 'UTC' are UTC). */
export function isKnownTimeZone(tz: string): boolean {
  if (tz === '' || tz === 'UTC' || tz === 'Local') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  dow: number;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Reads an instant's wall-clock fields in a zone: undefined = the process's local zone (Go's time.Local). */
function wallReader(tz: string | undefined): (ms: number) => Wall {
  if (tz === undefined || tz === 'Local') {
    return (ms) => {
      const d = new Date(ms);
      return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), dow: d.getDay() };
    };
  }
  if (tz === '' || tz === 'UTC') {
    return (ms) => {
      const d = new Date(ms);
      return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), dow: d.getUTCDay() };
    };
  }
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  });
  return (ms) => {
    const w: Wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, dow: 0 };
    for (const p of fmt.formatToParts(ms)) {
      if (p.type === 'weekday') w.dow = WEEKDAYS[p.value] ?? 0;
      else if (p.type in w) (w as unknown as Record<string, number>)[p.type] = Number(p.value);
    }
    return w;
  };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const MINUTE = 60_000;
/** How far before a day or month boundary a jump stops, so DST shifts never skip a match. */
const JUMP_MARGIN_MIN = 180;

/** A five-field schedule evaluated on the wall clock of its zone (robfig SpecSchedule). */
function specSchedule(fields: Bits[], tz: string | undefined): CronSchedule {
  const [minute, hour, dom, month, dow] = fields as [Bits, Bits, Bits, Bits, Bits];
  const wall = wallReader(tz);
  // robfig dayMatches: when either day field is a star, both must match; otherwise either may.
  const dayMatches = (w: Wall) => {
    const d = !!dom.set[w.day];
    const wd = !!dow.set[w.dow];
    return dom.star || dow.star ? d && wd : d || wd;
  };
  return {
    next(after: Date): Date | undefined {
      let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
      const limit = t + 5 * 366 * 24 * 60 * MINUTE;
      while (t <= limit) {
        const w = wall(t);
        const toNextHour = 60 - w.minute;
        if (!month.set[w.month]) {
          const left = ((daysInMonth(w.year, w.month) - w.day) * 24 + (23 - w.hour)) * 60 + toNextHour;
          t += Math.max(toNextHour, left - JUMP_MARGIN_MIN) * MINUTE;
          continue;
        }
        if (!dayMatches(w)) {
          const left = (23 - w.hour) * 60 + toNextHour;
          t += Math.max(toNextHour, left - JUMP_MARGIN_MIN) * MINUTE;
          continue;
        }
        if (!hour.set[w.hour]) {
          t += toNextHour * MINUTE;
          continue;
        }
        if (!minute.set[w.minute]) {
          let m = w.minute + 1;
          while (m < 60 && !minute.set[m]) m++;
          t += (m - w.minute) * MINUTE;
          continue;
        }
        return new Date(t);
      }
      return undefined;
    },
  };
}

/**
 * Parses a schedule as robfig/cron's ParseStandard; throws an Error with the
 * parser's message when it is invalid. `defaultTimeZone` is where the fields
 * are read when the spec has no `TZ=` prefix (undefined: the local zone).
 */
export function parseCronSchedule(schedule: string, defaultTimeZone?: string): CronSchedule {
  let spec = schedule;
  if (spec.length === 0) throw new Error('empty spec string');
  let tz = defaultTimeZone;
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const i = spec.indexOf(' ');
    const eq = spec.indexOf('=');
    tz = i < 0 ? spec.slice(eq + 1) : spec.slice(eq + 1, i);
    if (!isKnownTimeZone(tz)) throw new Error(`provided bad location ${tz}: unknown time zone ${tz}`);
    spec = i < 0 ? '' : spec.slice(i).trim();
  }
  if (spec.startsWith('@')) {
    const fields = DESCRIPTORS[spec];
    if (fields) return specSchedule(fields.split(' ').map((f, i) => parseField(f, FIELDS[i]!)), tz);
    if (spec.startsWith('@every ')) {
      let ms: number;
      try {
        ms = parseGoDuration(spec.slice(7));
      } catch (e) {
        throw new Error(`failed to parse duration ${spec}: ${(e as Error).message}`);
      }
      // robfig Every: at least one second, truncated to whole seconds.
      const delay = Math.max(1000, Math.floor(ms / 1000) * 1000);
      return { next: (after) => new Date(Math.floor(after.getTime() / 1000) * 1000 + delay) };
    }
    throw new Error(`unrecognized descriptor: ${spec}`);
  }
  const fields = spec.split(/\s+/).filter((f) => f.length > 0);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  return specSchedule(
    fields.map((f, i) => parseField(f, FIELDS[i]!)),
    tz,
  );
}

/** The parser's error text for a schedule, or undefined when it parses (for validation). */
export function cronScheduleError(schedule: string): string | undefined {
  try {
    parseCronSchedule(schedule);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
