/**
 * Field selectors, as upstream apimachinery's pkg/fields/selector.go: the
 * `fieldSelector=` syntax (`a=b`, `a==b`, `a!=b`, comma-joined, with `\,`
 * `\=` `\\` escapes in values) and matching against an object's field set.
 * Which fields a resource offers lives in `apiserver/fieldselectors.ts`.
 */
import { errors } from './errors.js';

/** One term of a field selector (`==` is stored as `=`, as upstream's hasTerm). */
export interface FieldRequirement {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** A parsed field selector: the AND of its terms. */
export interface FieldSelector {
  /** Terms in upstream's order (sorted by their source text). */
  readonly requirements: readonly FieldRequirement[];
  /** True when every term holds; a field missing from `fields` reads as "" (upstream Fields.Get). */
  matches(fields: Readonly<Record<string, string>>): boolean;
  /** True when the selector does not restrict anything. */
  empty(): boolean;
  /** Canonical form (upstream String()): terms joined by `,`, values escaped. */
  toString(): string;
  /** The value an `=` term demands for `field`, else undefined (upstream RequiresExactMatch). */
  exactValue(field: string): string | undefined;
}

/** Upstream EscapeValue: `\` → `\\`, `,` → `\,`, `=` → `\=`. */
export function escapeFieldValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** Upstream UnescapeValue; throws BadRequest with upstream's text for a bad escape or a bare `,`/`=`. */
function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') {
        throw errors.badRequest(`invalid field selector: invalid escape sequence: \\${c}`);
      }
      out += c;
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    // Go prints the rune with %v, i.e. as its code point number.
    else if (c === ',' || c === '=') throw errors.badRequest(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    else out += c;
  }
  if (inSlash) throw errors.badRequest('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Upstream splitTerms: split on commas that are not escaped. */
function splitTerms(s: string): string[] {
  if (s.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** Upstream splitTerm: the first `!=`, `==` or `=` (tried in that order at each position). */
function splitTerm(term: string): [string, '!=' | '==' | '=', string] | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term.startsWith('!=', i)) return [term.slice(0, i), '!=', term.slice(i + 2)];
    if (term.startsWith('==', i)) return [term.slice(0, i), '==', term.slice(i + 2)];
    if (term[i] === '=') return [term.slice(0, i), '=', term.slice(i + 1)];
  }
  return undefined;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The value of `field` in a field set, "" when absent (own string properties only). */
function get(fields: Readonly<Record<string, string>>, name: string): string {
  const v = fields[name];
  return typeof v === 'string' ? v : '';
}

function makeSelector(requirements: readonly FieldRequirement[]): FieldSelector {
  const n = requirements.length;
  let text: string | undefined;
  return {
    requirements,
    matches(fields) {
      for (let i = 0; i < n; i++) {
        const r = requirements[i];
        if ((get(fields, r.field) === r.value) !== (r.op === '=')) return false;
      }
      return true;
    },
    empty: () => n === 0,
    toString: () => (text ??= requirements.map((r) => `${r.field}${r.op}${escapeFieldValue(r.value)}`).join(',')),
    exactValue(name) {
      for (const r of requirements) if (r.op === '=' && r.field === name) return r.value;
      return undefined;
    },
  };
}

const EVERYTHING = makeSelector([]);

/**
 * Builds a selector from terms, dropping terms with both field and value
 * empty (upstream: such a term transforms to Everything and disappears).
 */
export function fieldSelectorFromRequirements(reqs: readonly FieldRequirement[]): FieldSelector {
  const kept = reqs.filter((r) => r.field !== '' || r.value !== '');
  return kept.length === 0 ? EVERYTHING : makeSelector(kept);
}

/** Upstream fields.SelectorFromSet: `k=v` for every entry. */
export function fieldSelectorFromSet(set: Readonly<Record<string, string>>): FieldSelector {
  return fieldSelectorFromRequirements(Object.keys(set).map((k) => ({ field: k, op: '=' as const, value: set[k] })));
}

/**
 * Parses the `fieldSelector=` syntax (upstream fields.ParseSelector). Throws
 * ApiError BadRequest with upstream's message, e.g.
 * `invalid selector: 'x'; can't understand 'x'`.
 */
export function parseFieldSelector(s: string): FieldSelector {
  const parts = splitTerms(s).sort(byteOrder);
  const reqs: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const split = splitTerm(part);
    if (!split) throw errors.badRequest(`invalid selector: '${s}'; can't understand '${part}'`);
    const [lhs, op, rhs] = split;
    reqs.push({ field: lhs, op: op === '!=' ? '!=' : '=', value: unescapeValue(rhs) });
  }
  return fieldSelectorFromRequirements(reqs);
}

/**
 * Upstream Selector.Transform: rewrites every term's field and value with
 * `fn` (which throws to reject a term); terms that come back with an empty
 * field and value are dropped.
 */
export function transformFieldSelector(
  sel: FieldSelector,
  fn: (field: string, value: string) => { field: string; value: string },
): FieldSelector {
  return fieldSelectorFromRequirements(sel.requirements.map((r) => ({ ...fn(r.field, r.value), op: r.op })));
}
