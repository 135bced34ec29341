/**
 * OpenAPI v3 value validation of custom resources, following the
 * kube-openapi validator that apiextensions-apiserver uses
 * (k8s.io/kube-openapi/pkg/validation/validate) and its conversion of
 * results to field errors (apiextensions pkg/apiserver/validation). Message
 * texts, their order and the match counting that picks which anyOf/oneOf
 * branch's errors to report follow that code.
 */
import { field, type FieldError } from '../../api/errors.js';
import type { JSONSchemaProps } from './types.js';
import { deepEqual, goFloat, isObject } from './util.js';

type Code =
  | 'InvalidType'
  | 'Required'
  | 'TooLong'
  | 'TooShort'
  | 'Pattern'
  | 'Enum'
  | 'MultipleOf'
  | 'Max'
  | 'Min'
  | 'Unique'
  | 'MaxItems'
  | 'MinItems'
  | 'TooFewProperties'
  | 'TooManyProperties'
  | 'UnallowedProperty'
  | 'MultipleOfMustBePositive'
  | 'Composite';

/** One kube-openapi error: a Validation (with a Name) or a plain composite message. */
interface OAError {
  code: Code;
  /** The dotted body path the validator was at ("" at the root); absent for composite errors. */
  name?: string;
  message: string;
  value?: unknown;
  valid?: number;
  values?: unknown[];
}

/** kube-openapi's validate.Result: errors (deduplicated by message) and a match count. */
interface Result {
  errors: OAError[];
  matchCount: number;
}

const IN = 'body';

function newResult(matchCount = 0): Result {
  return { errors: [], matchCount };
}

function addErrors(r: Result, ...errs: OAError[]): void {
  for (const e of errs) if (!r.errors.some((x) => x.message === e.message)) r.errors.push(e);
}

function merge(r: Result, ...others: (Result | undefined)[]): Result {
  for (const o of others) {
    if (!o) continue;
    addErrors(r, ...o.errors);
    r.matchCount += o.matchCount;
  }
  return r;
}

function sErr(e: OAError): Result {
  return { errors: [e], matchCount: 0 };
}

/** Go's %q for the strings that appear in messages. */
function q(s: string): string {
  return JSON.stringify(s);
}

function invalidType(name: string, typeName: string, value: string): OAError {
  return { code: 'InvalidType', name, value, message: `${name} in ${IN} must be of type ${typeName}: ${q(value)}` };
}

type Kind = 'string' | 'int' | 'float' | 'bool' | 'array' | 'object';

/** The Go kind a decoded JSON value has in an unstructured object (integers decode as int64). */
function kindOf(v: unknown): Kind {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** The schema's types as kube-openapi sees them: int-or-string becomes ["integer","string"]. */
function typesOf(s: JSONSchemaProps): string[] {
  if (s['x-kubernetes-int-or-string']) return ['integer', 'string'];
  return s.type ? [s.type] : [];
}

/** Formats upstream keeps (StripUnsupportedFormatsPostProcess); others (int32, int64, float, ...) are dropped. */
const SUPPORTED_FORMATS = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration',
  'datetime',
]);

/** The schema's format after upstream strips unsupported ones ('' when none). */
function formatOf(s: JSONSchemaProps): string {
  if (!s.format) return '';
  return SUPPORTED_FORMATS.has(s.format.replace(/-/g, '')) ? s.format : '';
}

/** swag.IsFloat64AJSONInteger. */
function isJSONInteger(f: number): boolean {
  if (!Number.isFinite(f)) return false;
  const g = Math.trunc(f);
  if (f === g) return true;
  const diff = Math.abs(f - g);
  if (g === 0) return diff < 1e-9 * Number.MIN_VALUE;
  return diff / Math.min(Math.abs(f) + Math.abs(g), Number.MAX_VALUE) < 1e-9;
}

/** The kube-openapi schema validator: runs each applicable sub-validator in upstream's order. */
function validateValue(s: JSONSchemaProps, data: unknown, path: string): Result {
  const r = newResult();
  if (data === null || data === undefined) {
    merge(r, typeValidator(s, null, path));
    merge(r, commonValidator(s, null, path));
    return r;
  }
  const kind = kindOf(data);
  const run = (res: Result | undefined) => {
    merge(r, res);
    r.matchCount++;
  };
  if (typesOf(s).length > 0 || formatOf(s) !== '') run(typeValidator(s, data, path));
  run(schemaPropsValidator(s, data, path));
  if (kind === 'string') run(stringValidator(s, data as string, path));
  if (kind === 'string' && formatOf(s) !== '') run(formatValidator(s, data as string, path));
  if (kind === 'int' || kind === 'float') run(numberValidator(s, data as number, path));
  if (kind === 'array') run(sliceValidator(s, data as unknown[], path));
  run(commonValidator(s, data, path));
  if (kind === 'object') run(objectValidator(s, data as Record<string, unknown>, path));
  r.matchCount++;
  return r;
}

function typeValidator(s: JSONSchemaProps, data: unknown, path: string): Result {
  const types = typesOf(s);
  const tFormat = formatOf(s);
  if (data === null) {
    if (types.length > 0 && !types.includes('null') && !s.nullable) return sErr(invalidType(path, types.join(','), 'null'));
    return newResult(1);
  }
  const kind = kindOf(data);
  const [schType, format] =
    kind === 'int' ? ['integer', 'int64'] : kind === 'float' ? ['number', 'float64'] : kind === 'bool' ? ['boolean', ''] : [kind, ''];
  const isFloatInt = schType === 'number' && isJSONInteger(data as number) && types.includes('integer');
  const isIntFloat = schType === 'integer' && types.includes('number');
  if (kind !== 'string' && kind !== 'array' && tFormat !== '' && !(types.includes(schType) || format === tFormat || isFloatInt || isIntFloat)) {
    return sErr(invalidType(path, tFormat, format));
  }
  if (!(types.includes('number') || types.includes('integer')) && tFormat !== '' && (kind === 'string' || kind === 'array')) {
    return newResult(1);
  }
  if (!(types.includes(schType) || isFloatInt || isIntFloat)) return sErr(invalidType(path, types.join(','), schType));
  return newResult(1);
}

function composite(message: string): OAError {
  return { code: 'Composite', message };
}

function schemaPropsValidator(s: JSONSchemaProps, data: unknown, path: string): Result {
  const main = newResult();
  if (s.anyOf && s.anyOf.length > 0) {
    let best: Result | undefined;
    let firstSuccess: Result | undefined;
    let succeeded = false;
    for (const sub of s.anyOf) {
      const res = validateValue(sub, data, path);
      if (res.errors.length === 0) {
        best = undefined;
        succeeded = true;
        firstSuccess ??= res;
        break;
      }
      if (!best || res.matchCount > best.matchCount) best = res;
    }
    if (!succeeded) addErrors(main, composite(`${q(path)} must validate at least one schema (anyOf)`));
    if (best) merge(main, best);
    else if (firstSuccess) merge(main, firstSuccess);
  }
  if (s.oneOf && s.oneOf.length > 0) {
    let best: Result | undefined;
    let firstSuccess: Result | undefined;
    let validated = 0;
    for (const sub of s.oneOf) {
      const res = validateValue(sub, data, path);
      if (res.errors.length === 0) {
        validated++;
        best = undefined;
        firstSuccess ??= res;
        continue;
      }
      if (validated === 0 && (!best || res.matchCount > best.matchCount)) best = res;
    }
    if (validated !== 1) {
      const extra = validated === 0 ? 'Found none valid' : `Found ${validated} valid alternatives`;
      addErrors(main, composite(`${q(path)} must validate one and only one schema (oneOf). ${extra}`));
      if (best) merge(main, best);
    } else if (firstSuccess) {
      merge(main, firstSuccess);
    }
  }
  if (s.allOf && s.allOf.length > 0) {
    let validated = 0;
    for (const sub of s.allOf) {
      const res = validateValue(sub, data, path);
      if (res.errors.length === 0) validated++;
      merge(main, res);
    }
    if (validated !== s.allOf.length) {
      addErrors(main, composite(`${q(path)} must validate all the schemas (allOf)${validated === 0 ? '. None validated' : ''}`));
    }
  }
  if (s.not) {
    const res = validateValue(s.not, data, path);
    if (res.errors.length === 0) addErrors(main, composite(`${q(path)} must not validate the schema (not)`));
  }
  main.matchCount++;
  return main;
}

function stringValidator(s: JSONSchemaProps, data: string, path: string): Result | undefined {
  // Lengths count runes, as Go's utf8.RuneCount.
  const len = [...data].length;
  if (s.maxLength !== undefined && len > s.maxLength) {
    return sErr({ code: 'TooLong', name: path, value: data, valid: s.maxLength, message: `${path} in ${IN} should be at most ${s.maxLength} chars long` });
  }
  if (s.minLength !== undefined && len < s.minLength) {
    return sErr({ code: 'TooShort', name: path, value: data, valid: s.minLength, message: `${path} in ${IN} should be at least ${s.minLength} chars long` });
  }
  if (s.pattern) {
    let re: RegExp | undefined;
    let err = '';
    try {
      re = new RegExp(s.pattern, 'u');
    } catch (e) {
      err = e instanceof Error ? e.message : String(e);
    }
    if (!re) {
      return sErr({ code: 'Pattern', name: path, value: data, message: `${path} in ${IN} should match '${s.pattern}, but pattern is invalid: ${err}'` });
    }
    if (!re.test(data)) return sErr({ code: 'Pattern', name: path, value: data, message: `${path} in ${IN} should match '${s.pattern}'` });
  }
  return undefined;
}

function formatValidator(s: JSONSchemaProps, data: string, path: string): Result | undefined {
  const fmt = formatOf(s);
  if (!checkFormat(fmt.replace(/-/g, ''), data)) return sErr({ ...invalidType(path, fmt, data) });
  return undefined;
}

function numberValidator(s: JSONSchemaProps, data: number, path: string): Result {
  const res = newResult();
  const resMultiple = newResult();
  const resMinimum = newResult();
  const resMaximum = newResult();
  // Integers compare against the bounds truncated to int64, as MaximumNativeType does; floats as floats.
  const isInt = Number.isInteger(data);
  const fmtBound = (b: number) => (isInt ? String(Math.trunc(b)) : goFloat(b));
  if (s.multipleOf !== undefined) {
    const factor = isInt ? Math.trunc(s.multipleOf) : s.multipleOf;
    if (factor <= 0) {
      addErrors(resMultiple, { code: 'MultipleOfMustBePositive', name: path, value: factor, message: `factor MultipleOf declared for ${path} must be positive: ${fmtBound(factor)}` });
    } else {
      const ok = isInt ? data % factor === 0 : isJSONInteger(factor < 1 ? (1 / factor) * data : data / factor);
      if (!ok) addErrors(resMultiple, { code: 'MultipleOf', name: path, value: data, message: `${path} in ${IN} should be a multiple of ${fmtBound(factor)}` });
    }
  }
  if (s.maximum !== undefined) {
    const max = isInt ? Math.trunc(s.maximum) : s.maximum;
    const ex = !!s.exclusiveMaximum;
    if ((!ex && data > max) || (ex && data >= max)) {
      addErrors(resMaximum, { code: 'Max', name: path, value: data, message: `${path} in ${IN} should be less than ${ex ? '' : 'or equal to '}${fmtBound(max)}` });
    }
  }
  if (s.minimum !== undefined) {
    const min = isInt ? Math.trunc(s.minimum) : s.minimum;
    const ex = !!s.exclusiveMinimum;
    if ((!ex && data < min) || (ex && data <= min)) {
      addErrors(resMinimum, { code: 'Min', name: path, value: data, message: `${path} in ${IN} should be greater than ${ex ? '' : 'or equal to '}${fmtBound(min)}` });
    }
  }
  merge(res, resMultiple, resMinimum, resMaximum);
  res.matchCount++;
  return res;
}

function itemsSchema(s: JSONSchemaProps): JSONSchemaProps | undefined {
  return s.items && !Array.isArray(s.items) ? s.items : undefined;
}

function sliceValidator(s: JSONSchemaProps, data: unknown[], path: string): Result {
  const r = newResult();
  const items = itemsSchema(s);
  if (items) data.forEach((v, i) => merge(r, validateValue(items, v, `${path}[${i}]`)));
  const size = data.length;
  if (s.minItems !== undefined && size < s.minItems) {
    addErrors(r, { code: 'MinItems', name: path, value: size, valid: s.minItems, message: `${path} in ${IN} should have at least ${s.minItems} items` });
  }
  if (s.maxItems !== undefined && size > s.maxItems) {
    addErrors(r, { code: 'MaxItems', name: path, value: size, valid: s.maxItems, message: `${path} in ${IN} should have at most ${s.maxItems} items` });
  }
  if (s.uniqueItems && data.some((v, i) => data.slice(0, i).some((u) => deepEqual(u, v)))) {
    addErrors(r, { code: 'Unique', name: path, message: `${path} in ${IN} shouldn't contain duplicates` });
  }
  r.matchCount++;
  return r;
}

function commonValidator(s: JSONSchemaProps, data: unknown, path: string): Result | undefined {
  if (!s.enum || s.enum.length === 0) return undefined;
  if (data !== null && s.enum.some((e) => e !== null && deepEqual(e, data))) return undefined;
  return sErr({ code: 'Enum', name: path, value: data, values: s.enum, message: `${path} in ${IN} should be one of ${JSON.stringify(s.enum)}` });
}

function objectValidator(s: JSONSchemaProps, data: Record<string, unknown>, path: string): Result {
  const r = newResult();
  const keys = Object.keys(data);
  const props = s.properties ?? {};
  const has = (k: string) => Object.prototype.hasOwnProperty.call(props, k);
  if (s.minProperties !== undefined && keys.length < s.minProperties) {
    addErrors(r, { code: 'TooFewProperties', name: path, value: keys.length, valid: s.minProperties, message: `${path} in ${IN} should have at least ${s.minProperties} properties` });
  }
  if (s.maxProperties !== undefined && keys.length > s.maxProperties) {
    addErrors(r, { code: 'TooManyProperties', name: path, value: keys.length, valid: s.maxProperties, message: `${path} in ${IN} should have at most ${s.maxProperties} properties` });
  }
  if (s.additionalProperties === false) {
    for (const k of keys) {
      if (!has(k)) addErrors(r, { code: 'UnallowedProperty', name: path, value: k, message: `${path}.${k} in ${IN} is a forbidden property` });
    }
  } else if (isObject(s.additionalProperties)) {
    const ap = s.additionalProperties as JSONSchemaProps;
    for (const k of keys) if (!has(k)) merge(r, validateValue(ap, data[k], `${path}.${k}`));
  }
  for (const [p, ps] of Object.entries(props)) {
    if (Object.prototype.hasOwnProperty.call(data, p)) merge(r, validateValue(ps, data[p], path ? `${path}.${p}` : p));
  }
  for (const k of s.required ?? []) {
    if (!Object.prototype.hasOwnProperty.call(data, k)) addErrors(r, { code: 'Required', name: `${path}.${k}`, message: `${path}.${k} in ${IN} is required` });
  }
  return r;
}

const UUID_RE: Record<string, RegExp> = {
  uuid: /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i,
  uuid3: /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i,
  uuid4: /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i,
  uuid5: /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i,
};

/** time.Parse("2006-01-02", s): a real calendar date. */
function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= days;
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIPv6(s: string): boolean {
  if (!s.includes(':')) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 0;
  } catch {
    return false;
  }
}

/** Go's time.ParseDuration or go-openapi's looser "3 days" form (strfmt.ParseDuration). */
function isDuration(s: string): boolean {
  if (/^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/.test(s) || s === '0') return true;
  const units = ['ns', 'nano', 'us', 'µs', 'micro', 'ms', 'milli', 's', 'sec', 'm', 'min', 'h', 'hr', 'hour', 'd', 'day', 'w', 'wk', 'week'];
  const matches = [...s.matchAll(/(\d+)\s*([A-Za-zµ]+)/g)];
  return matches.length > 0 && matches.every((m) => units.some((u) => m[2]!.toLowerCase().startsWith(u)));
}

/** The strfmt.Default checkers for the formats upstream keeps (normalized names, without '-'). */
function checkFormat(fmt: string, v: string): boolean {
  switch (fmt) {
    case 'datetime': {
      // strfmt.IsDateTime: a date, 't', then hh:mm:ss[.frac](z|±hh:mm), case-insensitive.
      const parts = v.toLowerCase().split('t');
      if (v.length < 4 || parts.length < 2 || !isDate(parts[0]!)) return false;
      const m = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/.exec(parts[1]!);
      return !!m && m[1]! <= '23' && m[2]! <= '59' && m[3]! <= '59';
    }
    case 'date':
      return isDate(v);
    case 'duration':
      return isDuration(v);
    case 'byte':
      return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.test(v);
    case 'password':
      return true;
    case 'uuid':
    case 'uuid3':
    case 'uuid4':
    case 'uuid5':
      return UUID_RE[fmt]!.test(v);
    case 'ipv4':
      return isIPv4(v);
    case 'ipv6':
      return isIPv6(v);
    case 'cidr': {
      const [ip, bits, extra] = v.split('/');
      if (extra !== undefined || bits === undefined || !/^\d+$/.test(bits)) return false;
      return (isIPv4(ip!) && Number(bits) <= 32) || (isIPv6(ip!) && Number(bits) <= 128);
    }
    case 'mac':
      return /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(v) || /^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(v);
    case 'hostname':
      return /^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$/u.test(v);
    case 'email':
      return /^[^\s@<>]+@[^\s@<>]+$/.test(v);
    case 'uri':
      try {
        return new URL(v).protocol.length > 0;
      } catch {
        return v.startsWith('/');
      }
    case 'hexcolor':
      return /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(v);
    case 'rgbcolor':
      return /^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$/.test(v);
    case 'ssn':
      return /^\d{3}[- ]?\d{2}[- ]?\d{4}$/.test(v);
    case 'bsonobjectid':
      return /^[0-9a-fA-F]{24}$/.test(v);
    case 'isbn10':
      return isISBN(v, 10);
    case 'isbn13':
      return isISBN(v, 13);
    case 'isbn':
      return isISBN(v, 10) || isISBN(v, 13);
    case 'creditcard': {
      const d = v.replace(/[^0-9]/g, '');
      return /^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$/.test(d) && luhn(d);
    }
    default:
      return true;
  }
}

function isISBN(v: string, n: 10 | 13): boolean {
  const s = v.replace(/[\s-]/g, '');
  if (n === 10) {
    if (!/^\d{9}[\dX]$/.test(s)) return false;
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += (i + 1) * Number(s[i]);
    sum += s[9] === 'X' ? 100 : 10 * Number(s[9]);
    return sum % 11 === 0;
  }
  if (!/^\d{13}$/.test(s)) return false;
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(s[i]) * (i % 2 === 0 ? 1 : 3);
  return (10 - (sum % 10)) % 10 === Number(s[12]);
}

function luhn(d: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = d.length - 1; i >= 0; i--) {
    let x = Number(d[i]);
    if (dbl) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** Prefixes a kube-openapi body path onto a field path, as field.Path.Child does. */
function childPath(prefix: string | undefined, name: string): string {
  if (prefix === undefined) return name;
  return name ? `${prefix}.${name}` : prefix;
}

/**
 * Validates `value` against `schema` with upstream's OpenAPI validator and
 * returns the field errors upstream reports (ValidateCustomResource). `prefix`
 * is the field path of `value` (undefined for a whole object, whose errors are
 * named by their body path, e.g. `spec.replicas`).
 */
export function validateAgainstSchema(schema: JSONSchemaProps, value: unknown, prefix?: string): FieldError[] {
  const res = validateValue(schema, value, '');
  const out: FieldError[] = [];
  for (const e of res.errors) {
    if (e.code === 'Composite') {
      // Non-Validation errors are reported at the prefix (Go prints a nil path as "<nil>").
      out.push(field.invalid(prefix ?? '<nil>', '', e.message));
      continue;
    }
    const trimmed = e.name && e.name !== '.' ? e.name.replace(/^\./, '') : '';
    const path = trimmed ? childPath(prefix, trimmed) : prefix ?? '<nil>';
    switch (e.code) {
      case 'Required':
        out.push(field.required(path));
        break;
      case 'Enum':
        out.push(field.notSupported(path, e.value ?? null, (e.values ?? []).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))));
        break;
      case 'TooLong':
        out.push(field.tooLong(path, '', e.valid ?? -1));
        break;
      case 'MaxItems':
      case 'TooManyProperties':
        out.push(field.tooMany(path, (e.value as number) ?? -1, e.valid ?? -1));
        break;
      case 'InvalidType':
        out.push(field.typeInvalid(path, e.value ?? '', e.message));
        break;
      default:
        out.push(field.invalid(path, e.value ?? '', e.message));
    }
  }
  return out;
}
