/**
 * Label selectors and label validation, as upstream apimachinery has them:
 * the string syntax of `?labelSelector=` (pkg/labels/selector.go), the
 * metav1.LabelSelector struct (LabelSelectorAsSelector in
 * pkg/apis/meta/v1/helpers.go) and the label rules of
 * pkg/util/validation and pkg/apis/meta/v1/validation.
 *
 * Matching runs for every object of every list and every watch event, so a
 * selector is compiled once into one small predicate per requirement.
 */
import { errors, field, type FieldError } from './errors.js';
import { isQualifiedName, isValidLabelValue } from './names.js';

/** Upstream's selection.Operator values (the spelling String() and the parser use). */
export type LabelOperator = '!' | '=' | '==' | 'in' | '!=' | 'notin' | 'exists' | 'gt' | 'lt';

/** One requirement of a label selector: key, operator and values (upstream's labels.Requirement). */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Values in the order given; `in`/`notin` parsed from a string are sorted and de-duplicated, as upstream. */
  readonly values: readonly string[];
}

/** A compiled label selector: the AND of its requirements. */
export interface LabelSelector {
  /** The requirements, sorted by key (stable), as upstream keeps them. */
  readonly requirements: readonly LabelRequirement[];
  /** False only for the selector that matches nothing (a null metav1.LabelSelector); upstream's `selectable`. */
  readonly selectable: boolean;
  /** True when every requirement holds for `labels` (absent labels count as an empty set). */
  matches(labels: Readonly<Record<string, string>> | null | undefined): boolean;
  /** True when the selector does not restrict anything (no requirements and not the nothing-selector). */
  empty(): boolean;
  /** Canonical form, as upstream's String(): requirements joined by `,`, set values sorted. */
  toString(): string;
  /** The single value the selector demands for `key` (`=`, `==`, or `in` with one value), else undefined. */
  requiresExactMatch(key: string): string | undefined;
}

type LabelMap = Readonly<Record<string, string>> | null | undefined;
type Matcher = (labels: LabelMap) => boolean;

// ---------------------------------------------------------------------------
// Validation (pkg/util/validation/validation.go)

// The naming rules live in names.ts; labels re-exports the two that selectors use.
export { isQualifiedName, isValidLabelValue };

/** Field errors for a label key / qualified name at `path` (upstream ValidateLabelName: one Invalid per problem). */
export function validateQualifiedName(value: string, path: string): FieldError[] {
  return isQualifiedName(value).map((msg) => field.invalid(path, value, msg));
}

/** Field errors for a label value at `path` (one Invalid per problem). */
export function validateLabelValue(value: string, path: string): FieldError[] {
  return isValidLabelValue(value).map((msg) => field.invalid(path, value, msg));
}

/** Upstream ValidateLabels: every key a qualified name, every value a label value; errors point at `path` itself. */
export function validateLabels(labels: Readonly<Record<string, string>> | null | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!labels) return errs;
  for (const k of Object.keys(labels)) {
    errs.push(...validateQualifiedName(k, path));
    errs.push(...validateLabelValue(labels[k], path));
  }
  return errs;
}

/** The metav1.LabelSelector struct as it appears in objects. */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] | null }[] | null;
}

/** Switches of upstream's LabelSelectorValidationOptions. */
export interface LabelSelectorValidationOptions {
  /** Accept invalid label values in matchExpressions (kept for objects already stored with them). */
  allowInvalidLabelValueInSelector?: boolean;
  /** Accept operators this server cannot interpret (SubjectAccessReview-style callers). */
  allowUnknownOperatorInRequirement?: boolean;
}

/** Upstream ValidateLabelSelector for a metav1.LabelSelector at `path` (null is valid). */
export function validateLabelSelector(
  ls: LabelSelectorSpec | null | undefined,
  path: string,
  opts: LabelSelectorValidationOptions = {},
): FieldError[] {
  const errs: FieldError[] = [];
  if (!ls) return errs;
  errs.push(...validateLabels(ls.matchLabels, `${path}.matchLabels`));
  (ls.matchExpressions ?? []).forEach((expr, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(field.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(field.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        if (!opts.allowUnknownOperatorInRequirement) errs.push(field.invalid(`${p}.operator`, expr.operator, 'not a valid selector operator'));
    }
    errs.push(...validateQualifiedName(expr.key, `${p}.key`));
    if (!opts.allowInvalidLabelValueInSelector) {
      values.forEach((v, j) => errs.push(...validateLabelValue(v, `${p}.values[${j}]`)));
    }
  });
  return errs;
}

// ---------------------------------------------------------------------------
// Requirements and selectors

const BINARY_OPERATORS: readonly LabelOperator[] = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];
const ALL_OPERATORS: readonly LabelOperator[] = [...BINARY_OPERATORS, 'exists', '!'];

const INT64_RE = /^[+-]?[0-9]+$/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Go strconv.ParseInt(s, 10, 64): an int64 or undefined. */
function parseInt64(s: string): bigint | undefined {
  if (!INT64_RE.test(s)) return undefined;
  const n = BigInt(s);
  return n > INT64_MAX || n < INT64_MIN ? undefined : n;
}

/** Go %#v of a []string, the way a field error shows a slice value. */
function goStringSlice(vals: readonly string[]): string {
  return `[]string{${vals.map((v) => JSON.stringify(v)).join(', ')}}`;
}

/** Upstream utilerrors aggregate text: one message as is, several de-duplicated inside brackets. */
function aggregate(msgs: string[]): string {
  const uniq = [...new Set(msgs)];
  return uniq.length === 1 ? uniq[0] : `[${uniq.join(', ')}]`;
}

/**
 * Upstream NewRequirement: validates and builds one requirement. Paths are
 * relative to a nil root (`key`, `values[0][k]`), as upstream prints them.
 * Throws BadRequest with the aggregated field errors.
 */
function newRequirement(key: string, operator: LabelOperator, values: readonly string[]): LabelRequirement {
  const msgs: string[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) msgs.push(`key: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) msgs.push(`values: Invalid value: ${goStringSlice(values)}: for 'in', 'notin' operators, values set can't be empty`);
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) msgs.push(`values: Invalid value: ${goStringSlice(values)}: exact-match compatibility requires one single value`);
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) msgs.push(`values: Invalid value: ${goStringSlice(values)}: values set must be empty for exists and does not exist`);
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) msgs.push(`values: Invalid value: ${goStringSlice(values)}: for 'Gt', 'Lt' operators, exactly one value is required`);
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined) {
          msgs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
        }
      });
      break;
    default:
      msgs.push(
        `operator: Unsupported value: ${JSON.stringify(operator)}: supported values: ${ALL_OPERATORS.map((o) => JSON.stringify(o)).join(', ')}`,
      );
  }
  values.forEach((v, i) => {
    const valueErrs = isValidLabelValue(v);
    if (valueErrs.length) msgs.push(`values[${i}][${key}]: Invalid value: ${JSON.stringify(v)}: ${valueErrs.join('; ')}`);
  });
  if (msgs.length) throw errors.badRequest(aggregate(msgs));
  return { key, operator, values };
}

/** The value of `key` when it is present as a string (own data of a label map is always a string). */
function lookup(labels: LabelMap, key: string): string | undefined {
  if (labels == null) return undefined;
  const v = labels[key];
  return typeof v === 'string' ? v : undefined;
}

/** Compiles one requirement into a predicate, following upstream Requirement.Matches. */
function compile(r: LabelRequirement): Matcher {
  const { key, values } = r;
  let has: (v: string) => boolean;
  if (values.length === 1) {
    const only = values[0];
    has = (v) => v === only;
  } else if (values.length <= 8) {
    has = (v) => values.includes(v);
  } else {
    const set = new Set(values);
    has = (v) => set.has(v);
  }
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return (labels) => {
        const v = lookup(labels, key);
        return v !== undefined && has(v);
      };
    case 'notin':
    case '!=':
      // A missing key satisfies != and notin (upstream rule 4).
      return (labels) => {
        const v = lookup(labels, key);
        return v === undefined || !has(v);
      };
    case 'exists':
      return (labels) => lookup(labels, key) !== undefined;
    case '!':
      return (labels) => lookup(labels, key) === undefined;
    case 'gt':
    case 'lt': {
      const bound = values.length === 1 ? parseInt64(values[0]) : undefined;
      if (bound === undefined) return () => false;
      const gt = r.operator === 'gt';
      return (labels) => {
        const v = lookup(labels, key);
        if (v === undefined) return false;
        const n = parseInt64(v);
        if (n === undefined) return false;
        return gt ? n > bound : n < bound;
      };
    }
    default:
      return () => false;
  }
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Upstream Requirement.String(). */
function requirementString(r: LabelRequirement): string {
  const prefix = r.operator === '!' ? `!${r.key}` : r.key;
  if (r.operator === 'exists' || r.operator === '!') return prefix;
  const vals = r.values.length === 1 ? r.values[0] : [...r.values].sort(byteOrder).join(',');
  switch (r.operator) {
    case 'in':
      return `${prefix} in (${vals})`;
    case 'notin':
      return `${prefix} notin (${vals})`;
    case 'gt':
      return `${prefix}>${vals}`;
    case 'lt':
      return `${prefix}<${vals}`;
    default:
      return `${prefix}${r.operator}${vals}`;
  }
}

/** Builds a selector over requirements already sorted by key. */
function makeSelector(requirements: readonly LabelRequirement[]): LabelSelector {
  const matchers = requirements.map(compile);
  const n = matchers.length;
  let text: string | undefined;
  return {
    requirements,
    selectable: true,
    matches(labels) {
      for (let i = 0; i < n; i++) if (!matchers[i](labels)) return false;
      return true;
    },
    empty: () => n === 0,
    toString: () => (text ??= requirements.map(requirementString).join(',')),
    requiresExactMatch(key) {
      for (const r of requirements) {
        if (r.key !== key) continue;
        if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
        return undefined;
      }
      return undefined;
    },
  };
}

/** Stable sort by key, as upstream's sort.Sort(ByKey) on its (small) requirement lists. */
function sortByKey(reqs: LabelRequirement[]): LabelRequirement[] {
  return reqs.sort((a, b) => byteOrder(a.key, b.key));
}

const EVERYTHING: LabelSelector = makeSelector([]);

const NOTHING: LabelSelector = {
  requirements: [],
  selectable: false,
  matches: () => false,
  empty: () => false,
  toString: () => '',
  requiresExactMatch: () => undefined,
};

/** The selector that matches every object. */
export function everything(): LabelSelector {
  return EVERYTHING;
}

/** The selector that matches no object (what a null metav1.LabelSelector means). */
export function nothing(): LabelSelector {
  return NOTHING;
}

/** True only for the nothing-selector (upstream MatchesNothing). */
export function matchesNothing(sel: LabelSelector): boolean {
  return sel === NOTHING;
}

/** Upstream SelectorFromValidatedSet: `k=v` for every entry, without validation; empty or missing set → everything. */
export function selectorFromSet(set: Readonly<Record<string, string>> | null | undefined): LabelSelector {
  if (!set) return EVERYTHING;
  const keys = Object.keys(set);
  if (keys.length === 0) return EVERYTHING;
  return makeSelector(sortByKey(keys.map((k) => ({ key: k, operator: '=' as const, values: [set[k]] }))));
}

const STRUCT_OPERATORS: Record<string, LabelOperator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/**
 * Upstream LabelSelectorAsSelector: null → nothing, `{}` → everything,
 * otherwise matchLabels as `=` and matchExpressions as set operators.
 * Throws BadRequest (upstream's error text) for an unknown operator or an
 * invalid key or value.
 */
export function selectorFromLabelSelector(ls: LabelSelectorSpec | null | undefined): LabelSelector {
  if (ls == null) return NOTHING;
  const matchLabels = ls.matchLabels ?? {};
  const exprs = ls.matchExpressions ?? [];
  const labelKeys = Object.keys(matchLabels);
  if (labelKeys.length + exprs.length === 0) return EVERYTHING;
  const reqs: LabelRequirement[] = [];
  for (const k of labelKeys) reqs.push(newRequirement(k, '=', [matchLabels[k]]));
  for (const expr of exprs) {
    const op = Object.hasOwn(STRUCT_OPERATORS, expr.operator) ? STRUCT_OPERATORS[expr.operator] : undefined;
    if (!op) throw errors.badRequest(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
    reqs.push(newRequirement(expr.key, op, [...(expr.values ?? [])]));
  }
  return makeSelector(sortByKey(reqs));
}

/** Builds a selector from requirements (validated as upstream NewRequirement does; throws BadRequest). */
export function selectorFromRequirements(reqs: readonly LabelRequirement[]): LabelSelector {
  if (reqs.length === 0) return EVERYTHING;
  return makeSelector(sortByKey(reqs.map((r) => newRequirement(r.key, r.operator, [...r.values]))));
}

// ---------------------------------------------------------------------------
// The string syntax (upstream Lexer and Parser)

const T_EOS = 1;
const T_CLOSE = 2;
const T_COMMA = 3;
const T_NOT = 4;
const T_DOUBLE_EQ = 5;
const T_EQ = 6;
const T_GT = 7;
const T_ID = 8;
const T_IN = 9;
const T_LT = 10;
const T_NEQ = 11;
const T_NOTIN = 12;
const T_OPEN = 13;

const STRING_TO_TOKEN: Readonly<Record<string, number>> = {
  ')': T_CLOSE,
  ',': T_COMMA,
  '!': T_NOT,
  '==': T_DOUBLE_EQ,
  '=': T_EQ,
  '>': T_GT,
  in: T_IN,
  '<': T_LT,
  '!=': T_NEQ,
  notin: T_NOTIN,
  '(': T_OPEN,
};

interface Token {
  tok: number;
  lit: string;
}

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function isSpecial(ch: string): boolean {
  return ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',' || ch === '>' || ch === '<';
}

/**
 * Upstream Lexer + Parser.scan: the whole token list, ending with
 * end-of-string. Ported with Go's read/unread so that odd input (a NUL byte,
 * which Go's lexer reads as "no character") tokenizes exactly as upstream.
 */
function lex(s: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  const read = (): string => (pos < s.length ? s[pos++] : '\0');
  for (;;) {
    let ch = read();
    while (isWhitespace(ch)) ch = read();
    if (ch === '\0') {
      out.push({ tok: T_EOS, lit: '' });
      return out;
    }
    if (isSpecial(ch)) {
      // Longest run of special characters that still forms an operator ("!=", "==").
      pos--; // unread: the scan below starts at this character
      let buf = '';
      let last: Token | undefined;
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (!isSpecial(c)) {
          pos--;
          break;
        }
        buf += c;
        const t = Object.hasOwn(STRING_TO_TOKEN, buf) ? STRING_TO_TOKEN[buf] : undefined;
        if (t !== undefined) {
          last = { tok: t, lit: buf };
        } else if (last) {
          pos--;
          break;
        }
      }
      // Every single special character is an operator, so `last` is always set here.
      out.push(last ?? { tok: 0, lit: `error expected: keyword found '${buf}'` });
      continue;
    }
    let word = ch;
    for (;;) {
      const c = read();
      if (c === '\0') break;
      if (isSpecial(c) || isWhitespace(c)) {
        pos--;
        break;
      }
      word += c;
    }
    const kw = word === 'in' ? T_IN : word === 'notin' ? T_NOTIN : T_ID;
    out.push({ tok: kw, lit: word });
  }
}

/** Thrown inside the parser; parse() turns it into the BadRequest the API server returns. */
class ParseError extends Error {}

/** Upstream's recursive-descent Parser over the scanned tokens (holds only its read position). */
class Parser {
  private position = 0;
  constructor(private readonly items: Token[]) {}

  /** In value context `in` and `notin` are plain identifiers (`x in (in)`). */
  private asValue(t: Token): Token {
    return t.tok === T_IN || t.tok === T_NOTIN ? { tok: T_ID, lit: t.lit } : t;
  }

  private lookahead(values: boolean): Token {
    const t = this.items[this.position];
    return values ? this.asValue(t) : t;
  }

  private consume(values: boolean): Token {
    const t = this.items[this.position++];
    return values ? this.asValue(t) : t;
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      if (tok === T_ID || tok === T_NOT) {
        let r: LabelRequirement;
        try {
          r = this.parseRequirement();
        } catch (e) {
          if (e instanceof ParseError) throw new ParseError(`unable to parse requirement: ${e.message}`);
          throw e;
        }
        reqs.push(r);
        const t = this.consume(true);
        if (t.tok === T_EOS) return reqs;
        if (t.tok === T_COMMA) {
          const t2 = this.lookahead(true);
          if (t2.tok !== T_ID && t2.tok !== T_NOT) throw new ParseError(`found '${t2.lit}', expected: identifier after ','`);
        } else {
          throw new ParseError(`found '${t.lit}', expected: ',' or 'end of string'`);
        }
      } else if (tok === T_EOS) {
        return reqs;
      } else {
        throw new ParseError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    const { key, operator: inferred } = this.parseKeyAndInferOperator();
    if (inferred === 'exists' || inferred === '!') return this.requirement(key, inferred, []);
    const op = this.parseOperator();
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    return this.requirement(key, op, values);
  }

  /** NewRequirement, with its BadRequest turned into a parse error message. */
  private requirement(key: string, op: LabelOperator, values: string[]): LabelRequirement {
    try {
      return newRequirement(key, op, values);
    } catch (e) {
      throw new ParseError((e as Error).message);
    }
  }

  private parseKeyAndInferOperator(): { key: string; operator: LabelOperator | '' } {
    let operator: LabelOperator | '' = '';
    let t = this.consume(true);
    if (t.tok === T_NOT) {
      operator = '!';
      t = this.consume(true);
    }
    if (t.tok !== T_ID) throw new ParseError(`found '${t.lit}', expected: identifier`);
    const keyErrs = isQualifiedName(t.lit);
    // The parser validates the key against a nil path, which Go prints as "<nil>".
    if (keyErrs.length) throw new ParseError(`<nil>: Invalid value: ${JSON.stringify(t.lit)}: ${keyErrs.join('; ')}`);
    const next = this.lookahead(true).tok;
    if ((next === T_EOS || next === T_COMMA) && operator !== '!') operator = 'exists';
    return { key: t.lit, operator };
  }

  private parseOperator(): LabelOperator {
    const { tok, lit } = this.consume(false);
    switch (tok) {
      case T_IN:
        return 'in';
      case T_EQ:
        return '=';
      case T_DOUBLE_EQ:
        return '==';
      case T_GT:
        return 'gt';
      case T_LT:
        return 'lt';
      case T_NOTIN:
        return 'notin';
      case T_NEQ:
        return '!=';
      default:
        throw new ParseError(`found '${lit}', expected: ${BINARY_OPERATORS.join(', ')}`);
    }
  }

  /** `(a,b,...)`: the values as a sorted set, as upstream's sets.String.List(). */
  private parseValues(): string[] {
    let t = this.consume(true);
    if (t.tok !== T_OPEN) throw new ParseError(`found '${t.lit}' expected: '('`);
    t = this.lookahead(true);
    if (t.tok === T_ID || t.tok === T_COMMA) {
      const set = this.parseIdentifiersList();
      if (this.consume(true).tok !== T_CLOSE) throw new ParseError(`found '${t.lit}', expected: ')'`);
      return [...set].sort(byteOrder);
    }
    if (t.tok === T_CLOSE) {
      this.consume(true);
      return [''];
    }
    throw new ParseError(`found '${t.lit}', expected: ',', ')' or identifier`);
  }

  private parseIdentifiersList(): Set<string> {
    const s = new Set<string>();
    for (;;) {
      const t = this.consume(true);
      if (t.tok === T_ID) {
        s.add(t.lit);
        const t2 = this.lookahead(true);
        if (t2.tok === T_COMMA) continue;
        if (t2.tok === T_CLOSE) return s;
        throw new ParseError(`found '${t2.lit}', expected: ',' or ')'`);
      } else if (t.tok === T_COMMA) {
        // Empty entries ("(,a)", "(a,,b)", "(a,)") are the empty string.
        if (s.size === 0) s.add('');
        const t2 = this.lookahead(true);
        if (t2.tok === T_CLOSE) {
          s.add('');
          return s;
        }
        if (t2.tok === T_COMMA) {
          this.consume(true);
          s.add('');
        }
      } else {
        throw new ParseError(`found '${t.lit}', expected: ',', or identifier`);
      }
    }
  }

  private parseExactValue(): string[] {
    const la = this.lookahead(true).tok;
    if (la === T_EOS || la === T_COMMA) return [''];
    const t = this.consume(true);
    if (t.tok === T_ID) return [t.lit];
    throw new ParseError(`found '${t.lit}', expected: identifier`);
  }
}

/**
 * Parses the `labelSelector=` string syntax (upstream labels.Parse): `a=b`,
 * `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
 * comma-separated. Throws ApiError BadRequest with upstream's message.
 */
export function parseLabelSelector(s: string): LabelSelector {
  let reqs: LabelRequirement[];
  try {
    reqs = new Parser(lex(s)).parse();
  } catch (e) {
    if (e instanceof ParseError) throw errors.badRequest(e.message);
    throw e;
  }
  return reqs.length === 0 ? EVERYTHING : makeSelector(sortByKey(reqs));
}
