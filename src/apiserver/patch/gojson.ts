/**
 * Go-flavoured views of JSON values, used so that patch errors read exactly
 * as the upstream apiserver's do: Go type names, `%v` formatting of decoded
 * JSON, and encoding/json's decode error messages.
 */

import { ApiError } from '../../api/errors.js';
import { clone as cloneJson, deepEqual as jsonEqual } from '../../util/json.js';
export { cloneJson, jsonEqual };

/** A decoded JSON object, as Go's map[string]interface{}. */
export type JsonMap = Record<string, unknown>;

/** True for a plain JSON object (not an array, not null). */
export function isMap(v: unknown): v is JsonMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own-property test (JSON keys such as `constructor` must not hit Object.prototype). */
export function has(o: JsonMap, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** Sets a key as an own data property, so that a `__proto__` key stays an ordinary field. */
export function setKey(o: JsonMap, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

/**
 * The Go dynamic type a decoded value would have (`reflect.TypeOf`), with
 * integers kept as int64 as the apiserver's decoder does (PreserveInts).
 */
export type GoKind = 'nil' | 'map' | 'slice' | 'string' | 'bool' | 'int64' | 'float64';

/** Classifies a JSON value by its Go dynamic type. */
export function goKind(v: unknown): GoKind {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'slice';
  switch (typeof v) {
    case 'object':
      return 'map';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int64' : 'float64';
    default:
      return 'nil';
  }
}

/** `reflect.TypeOf(v).String()` as `%s` prints it (nil prints as `%!s(<nil>)`). */
export function goTypeName(v: unknown): string {
  switch (goKind(v)) {
    case 'map':
      return 'map[string]interface {}';
    case 'slice':
      return '[]interface {}';
    case 'nil':
      return '%!s(<nil>)';
    default:
      return goKind(v);
  }
}

/** Go's `%v` of a float64: shortest %g, which switches to %e when the exponent is < -4 or >= 6. */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return '0';
  const [mant, expText] = n.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    return `${mant}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  return String(n);
}

/** Go's `%v` of a decoded JSON value: `map[k:v ...]` with sorted keys, `[a b]`, `<nil>`. */
export function goFormat(v: unknown): string {
  switch (goKind(v)) {
    case 'nil':
      return '<nil>';
    case 'map': {
      const m = v as JsonMap;
      const keys = Object.keys(m).sort();
      return `map[${keys.map((k) => `${k}:${goFormat(m[k])}`).join(' ')}]`;
    }
    case 'slice':
      return `[${(v as unknown[]).map(goFormat).join(' ')}]`;
    case 'float64':
      return goFloat(v as number);
    default:
      return String(v);
  }
}

/** Go's `%s` of a decoded JSON value (non-strings print as `%!s(type=value)`). */
export function goFormatS(v: unknown): string {
  const k = goKind(v);
  if (k === 'string') return v as string;
  if (k === 'nil') return '%!s(<nil>)';
  if (k === 'map' || k === 'slice') return goFormat(v);
  return `%!s(${k}=${goFormat(v)})`;
}

/** A failure the apiserver reports as a plain Go error: HTTP 500, empty reason, the error text as message. */
export function plainError(message: string): ApiError {
  return new ApiError('', message, undefined, 500);
}

/** Go's quoteChar: how encoding/json names an offending character. */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const q = JSON.stringify(c);
  return `'${q.slice(1, -1)}'`;
}

/**
 * The error encoding/json reports for text that is not valid JSON, or
 * undefined when the text is valid. Mirrors Go's scanner messages.
 */
export function goSyntaxError(text: string): string | undefined {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  class Fail extends Error {}
  const fail = (msg: string): never => {
    throw new Fail(msg);
  };
  const eof = (): never => fail('unexpected end of JSON input');
  const bad = (context: string): never => (i >= n ? eof() : fail(`invalid character ${quoteChar(text[i])} ${context}`));
  const digits = (context: string) => {
    if (i >= n || text[i] < '0' || text[i] > '9') bad(context);
    while (i < n && text[i] >= '0' && text[i] <= '9') i++;
  };
  const literal = (word: string) => {
    for (let j = 1; j < word.length; j++) {
      i++;
      if (i >= n) eof();
      if (text[i] !== word[j]) fail(`invalid character ${quoteChar(text[i])} in literal ${word} (expecting ${quoteChar(word[j])})`);
    }
    i++;
  };
  const str = () => {
    i++; // opening quote
    for (;;) {
      if (i >= n) eof();
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        i++;
        if (i >= n) eof();
        const e = text[i];
        if (e === 'u') {
          for (let j = 0; j < 4; j++) {
            i++;
            if (i >= n) eof();
            if (!/[0-9a-fA-F]/.test(text[i])) bad('in \\u hexadecimal character escape');
          }
        } else if (!'"\\/bfnrt'.includes(e)) {
          bad('in string escape code');
        }
        i++;
        continue;
      }
      if (c < ' ') bad('in string literal');
      i++;
    }
  };
  const value = (): void => {
    ws();
    if (i >= n) eof();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') bad('looking for beginning of object key string');
        str();
        ws();
        if (text[i] !== ':') bad('after object key');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        bad('after object key:value pair');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        bad('after array element');
      }
    }
    if (c === '"') return str();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c >= '0' && c <= '9')) {
      if (c === '-') {
        i++;
        digits('in numeric literal');
      } else if (c === '0') {
        i++;
      } else {
        digits('in numeric literal');
      }
      if (text[i] === '.') {
        i++;
        digits('after decimal point in numeric literal');
      }
      if (text[i] === 'e' || text[i] === 'E') {
        i++;
        if (text[i] === '+' || text[i] === '-') i++;
        digits('in exponent of numeric literal');
      }
      return;
    }
    bad('looking for beginning of value');
  };
  try {
    value();
    ws();
    if (i < n) bad('after top-level value');
    return undefined;
  } catch (e) {
    if (e instanceof Fail) return e.message;
    throw e;
  }
}

/** The JSON kind name encoding/json uses in "cannot unmarshal X into ..." messages. */
export function jsonKindName(v: unknown): string {
  switch (goKind(v)) {
    case 'map':
      return 'object';
    case 'slice':
      return 'array';
    case 'string':
      return 'string';
    case 'bool':
      return 'bool';
    case 'nil':
      return 'null';
    default:
      return 'number';
  }
}

/** Parses a request body as JSON, or throws 400 BadRequest with encoding/json's message. */
export function parseJsonBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new ApiError('BadRequest', goSyntaxError(body) ?? 'unexpected end of JSON input');
  }
}
