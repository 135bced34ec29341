/**
 * The Kubernetes JSONPath dialect (k8s.io/client-go/util/jsonpath), as used by
 * CRD printer columns and `kubectl -o jsonpath`: templates of text and
 * `{...}` actions with fields, `[i]`/slices, `[*]`, `..`, unions, filters
 * `[?(@.a=="b")]` and `range`/`end`.
 */
import { goScalar, isObject } from './util.js';

type Node =
  | { t: 'list'; nodes: Node[] }
  | { t: 'text'; text: string }
  | { t: 'field'; name: string }
  | { t: 'array'; params: { value: number; known: boolean; derived: boolean }[] }
  | { t: 'filter'; left: Node & { t: 'list' }; right: Node & { t: 'list' }; op: string }
  | { t: 'int'; value: number }
  | { t: 'float'; value: number }
  | { t: 'bool'; value: boolean }
  | { t: 'wildcard' }
  | { t: 'recursive' }
  | { t: 'union'; nodes: (Node & { t: 'list' })[] }
  | { t: 'identifier'; name: string };

type ListNode = Node & { t: 'list' };

const list = (): ListNode => ({ t: 'list', nodes: [] });

/** A parse of one template, following client-go's Parser. */
class Parser {
  readonly root: ListNode = list();
  private pos = 0;
  private start = 0;
  private width = 0;

  constructor(private readonly input: string) {}

  parse(): ListNode {
    this.parseText(this.root);
    return this.root;
  }

  private consume(): string {
    const v = this.input.slice(this.start, this.pos);
    this.start = this.pos;
    return v;
  }

  private next(): string {
    if (this.pos >= this.input.length) {
      this.width = 0;
      return '';
    }
    const cp = this.input.codePointAt(this.pos)!;
    const ch = String.fromCodePoint(cp);
    this.width = ch.length;
    this.pos += this.width;
    return ch;
  }

  private peek(): string {
    const r = this.next();
    this.backup();
    return r;
  }

  private backup(): void {
    this.pos -= this.width;
  }

  private rest(): string {
    return this.input.slice(this.pos);
  }

  private parseText(cur: ListNode): void {
    for (;;) {
      if (this.rest().startsWith('{')) {
        if (this.pos > this.start) cur.nodes.push({ t: 'text', text: this.consume() });
        this.parseLeftDelim(cur);
        return;
      }
      if (this.next() === '') break;
    }
    if (this.pos > this.start) cur.nodes.push({ t: 'text', text: this.consume() });
  }

  private parseLeftDelim(cur: ListNode): void {
    this.pos += 1;
    this.consume();
    const n = list();
    cur.nodes.push(n);
    this.parseInsideAction(n);
  }

  private parseInsideAction(cur: ListNode): void {
    for (;;) {
      const rest = this.rest();
      if (rest.startsWith('}')) {
        this.pos += 1;
        this.consume();
        this.parseText(this.root);
        return;
      }
      if (rest.startsWith('[?(')) return this.parseFilter(cur);
      if (rest.startsWith('..')) return this.parseRecursive(cur);
      const r = this.next();
      if (r === '' || r === '\r' || r === '\n') throw new Error('unclosed action');
      if (r === ' ' || r === '@' || r === '$') {
        this.consume();
        continue;
      }
      if (r === '[') return this.parseArray(cur);
      if (r === '"' || r === "'") return this.parseQuote(cur, r);
      if (r === '.') return this.parseField(cur);
      if (r === '+' || r === '-' || /\p{Nd}/u.test(r)) {
        this.backup();
        return this.parseNumber(cur);
      }
      if (isAlphaNumeric(r)) {
        this.backup();
        return this.parseIdentifier(cur);
      }
      throw new Error(`unrecognized character in action: U+${r.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} '${r}'`);
    }
  }

  private parseIdentifier(cur: ListNode): void {
    for (;;) {
      const r = this.next();
      if (isTerminator(r)) {
        this.backup();
        break;
      }
    }
    const v = this.consume();
    cur.nodes.push(v === 'true' || v === 'false' ? { t: 'bool', value: v === 'true' } : { t: 'identifier', name: v });
    this.parseInsideAction(cur);
  }

  private parseRecursive(cur: ListNode): void {
    if (cur.nodes.at(-1)?.t === 'recursive') throw new Error('invalid multiple recursive descent');
    this.pos += 2;
    this.consume();
    cur.nodes.push({ t: 'recursive' });
    if (isAlphaNumeric(this.peek())) return this.parseField(cur);
    this.parseInsideAction(cur);
  }

  private parseNumber(cur: ListNode): void {
    const r = this.peek();
    if (r === '+' || r === '-') this.next();
    for (;;) {
      const c = this.next();
      if (c !== '.' && !/\p{Nd}/u.test(c)) {
        this.backup();
        break;
      }
    }
    const v = this.consume();
    if (/^[+-]?\d+$/.test(v)) cur.nodes.push({ t: 'int', value: Number(v) });
    else if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(v)) cur.nodes.push({ t: 'float', value: Number(v) });
    else throw new Error(`cannot parse number ${v}`);
    this.parseInsideAction(cur);
  }

  private parseArray(cur: ListNode): void {
    for (;;) {
      const c = this.next();
      if (c === '' || c === '\n') throw new Error('unterminated array');
      if (c === ']') break;
    }
    let text = this.consume().slice(1, -1);
    if (text === '*') text = ':';
    const strs = text.split(',');
    if (strs.length > 1) {
      cur.nodes.push({ t: 'union', nodes: strs.map((s) => parseAction(`[${s.trim()}]`)) });
      return this.parseInsideAction(cur);
    }
    const dict = /^'([^']*)'$/.exec(text);
    if (dict) {
      cur.nodes.push(...parseAction(`.${dict[1]}`).nodes);
      return this.parseInsideAction(cur);
    }
    const m = /^(-?\d*)(:-?\d*)?(:-?\d*)?$/.exec(text);
    if (!m) throw new Error(`invalid array index ${text}`);
    const params: { value: number; known: boolean; derived: boolean }[] = [];
    for (let i = 0; i < 3; i++) {
      let v = m[i + 1] ?? '';
      if (v !== '') {
        if (i > 0) v = v.slice(1);
        if (i > 0 && v === '') params.push({ value: 0, known: false, derived: false });
        else {
          if (!/^-?\d+$/.test(v)) throw new Error(`array index ${v} is not a number`);
          params.push({ value: Number(v), known: true, derived: false });
        }
      } else if (i === 1) params.push({ value: params[0]!.value + 1, known: true, derived: true });
      else params.push({ value: 0, known: false, derived: false });
    }
    cur.nodes.push({ t: 'array', params });
    this.parseInsideAction(cur);
  }

  private parseFilter(cur: ListNode): void {
    this.pos += 3;
    this.consume();
    let begin = false;
    let end = false;
    let pair = '';
    for (;;) {
      const r = this.next();
      if (r === '' || r === '\n') throw new Error('unterminated filter');
      if (r === '"' || r === "'") {
        if (!begin) {
          begin = true;
          pair = r;
          continue;
        }
        if (this.input[this.pos - 2] !== '\\' && r === pair) end = true;
      } else if (r === ')' && begin === end) break;
    }
    if (this.next() !== ']') throw new Error('unclosed array expect ]');
    const text = this.consume().slice(0, -2);
    const m = /^([^!<>=]+)([!<>=]+)(.+?)$/.exec(text);
    if (!m) cur.nodes.push({ t: 'filter', left: parseAction(text), right: list(), op: 'exists' });
    else cur.nodes.push({ t: 'filter', left: parseAction(m[1]!), right: parseAction(m[3]!), op: m[2]! });
    this.parseInsideAction(cur);
  }

  private parseQuote(cur: ListNode, endCh: string): void {
    for (;;) {
      const c = this.next();
      if (c === '' || c === '\n') throw new Error('unterminated quoted string');
      if (c === endCh && this.input[this.pos - 2] !== '\\') break;
    }
    const v = this.consume();
    cur.nodes.push({ t: 'text', text: unquote(v) });
    this.parseInsideAction(cur);
  }

  private parseField(cur: ListNode): void {
    this.consume();
    for (;;) {
      const r = this.next();
      if (r === '\\') this.next();
      else if (isTerminator(r)) {
        this.backup();
        break;
      }
    }
    const v = this.consume();
    cur.nodes.push(v === '*' ? { t: 'wildcard' } : { t: 'field', name: v.replace(/\\/g, '') });
    this.parseInsideAction(cur);
  }
}

/** parseAction: a `{text}` template's single action list. */
function parseAction(text: string): ListNode {
  const root = new Parser(`{${text}}`).parse();
  return root.nodes[0] as ListNode;
}

function unquote(s: string): string {
  const inner = s.slice(1, -1);
  if (!inner.includes('\\')) return inner;
  return inner.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    if (e[0] === 'u' || e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' } as Record<string, string>)[e] ?? e;
  });
}

function isTerminator(r: string): boolean {
  return r === '' || r === ' ' || r === '\t' || r === '\r' || r === '\n' || '.,[]$@{}'.includes(r);
}

function isAlphaNumeric(r: string): boolean {
  return r === '_' || /[\p{L}\p{Nd}]/u.test(r);
}

/** Options for evaluation. */
export interface JsonPathOptions {
  /** Missing map keys yield no result instead of an error (the apiserver and kubectl both allow them). Default true. */
  allowMissingKeys?: boolean;
}

/** Comparison kinds of template.basicKind for decoded JSON. */
function basicKind(v: unknown): 'bool' | 'int' | 'float' | 'string' {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'string';
  throw new Error('invalid type for comparison');
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== kb) throw new Error('incompatible types for comparison');
  const eq = a === b;
  const less = () => {
    if (ka === 'bool') throw new Error('invalid type for comparison');
    return (a as number | string) < (b as number | string);
  };
  switch (op) {
    case '==':
      return eq;
    case '!=':
      return !eq;
    case '<':
      return less();
    case '<=':
      return less() || eq;
    case '>':
      return !(less() || eq);
    case '>=':
      return !less();
    default:
      throw new Error(`unrecognized filter operator ${op}`);
  }
}

function typeName(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (isObject(v)) return 'map[string]interface {}';
  return 'interface {}';
}

/** One evaluation of a parsed template; holds range/end state as client-go's JSONPath does. */
class Evaluator {
  private beginRange = 0;
  private inRange = 0;
  private endRange = 0;
  private lastEndNode: Node | undefined;

  constructor(private readonly allowMissingKeys: boolean) {}

  findResults(nodes: Node[], data: unknown): unknown[][] {
    const cur = [data];
    const full: unknown[][] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const results = this.walk(cur, node);
      if (this.endRange > 0 && this.endRange <= this.inRange) {
        this.endRange--;
        this.lastEndNode = node;
        break;
      }
      if (this.beginRange > 0) {
        this.beginRange--;
        this.inRange++;
        const rest = nodes.slice(i + 1);
        if (results.length > 0) for (const v of results) full.push(...this.findResults(rest, v));
        else this.findResults(rest, null);
        this.inRange--;
        for (let k = i + 1; k < nodes.length; k++) {
          if (nodes[k] === this.lastEndNode) {
            i = k;
            break;
          }
        }
        continue;
      }
      full.push(results);
    }
    return full;
  }

  private walk(input: unknown[], node: Node): unknown[] {
    switch (node.t) {
      case 'list': {
        let cur = input;
        for (const n of node.nodes) cur = this.walk(cur, n);
        return cur;
      }
      case 'text':
        return [node.text];
      case 'int':
      case 'float':
      case 'bool':
        return input.map(() => node.value);
      case 'field':
        return this.evalField(input, node.name);
      case 'array':
        return this.evalArray(input, node.params);
      case 'filter':
        return this.evalFilter(input, node);
      case 'wildcard':
        return input.flatMap((v) => children(v));
      case 'recursive':
        return this.evalRecursive(input);
      case 'union':
        return node.nodes.flatMap((l) => this.walk(input, l));
      case 'identifier':
        if (node.name === 'range') {
          this.beginRange++;
          return input;
        }
        if (node.name === 'end') {
          if (this.inRange > 0) {
            this.endRange++;
            return [];
          }
          throw new Error('not in range, nothing to end');
        }
        throw new Error(`unrecognized identifier ${node.name}`);
    }
  }

  private evalField(input: unknown[], name: string): unknown[] {
    const out: unknown[] = [];
    if (input.length === 0) return out;
    for (const v of input) {
      if (v === null || v === undefined) continue;
      if (isObject(v) && Object.prototype.hasOwnProperty.call(v, name)) out.push(v[name]);
    }
    if (out.length === 0 && !this.allowMissingKeys) throw new Error(`${name} is not found`);
    return out;
  }

  private evalArray(input: unknown[], p0: { value: number; known: boolean; derived: boolean }[]): unknown[] {
    const out: unknown[] = [];
    for (const v of input) {
      if (v === null || v === undefined) continue;
      if (!Array.isArray(v) && typeof v !== 'string') throw new Error(`${typeName(v)} is not array or slice`);
      if (!Array.isArray(v)) throw new Error('string is not array or slice');
      const params = p0.map((x) => ({ ...x }));
      const len = v.length;
      if (!params[0]!.known) params[0]!.value = 0;
      if (params[0]!.value < 0) params[0]!.value += len;
      if (!params[1]!.known) params[1]!.value = len;
      if (params[1]!.value < 0 || (params[1]!.value === 0 && params[1]!.derived)) params[1]!.value += len;
      const [a, b] = [params[0]!.value, params[1]!.value];
      if (b === a) return out;
      if (a >= len || a < 0) throw new Error(`array index out of bounds: index ${a}, length ${len}`);
      if (b > len || b < 0) throw new Error(`array index out of bounds: index ${b - 1}, length ${len}`);
      if (a > b) throw new Error(`starting index ${a} is greater than ending index ${b}`);
      let step = 1;
      if (params[2]!.known) {
        if (params[2]!.value <= 0) throw new Error('step must be > 0');
        step = params[2]!.value;
      }
      const slice = v.slice(a, b);
      for (let i = 0; i < slice.length; i += step) out.push(slice[i]);
    }
    return out;
  }

  private evalFilter(input: unknown[], node: Node & { t: 'filter' }): unknown[] {
    const out: unknown[] = [];
    for (const v of input) {
      if (!Array.isArray(v)) throw new Error(`${JSON.stringify(v) ?? '<nil>'} is not array or slice and cannot be filtered`);
      for (const el of v) {
        let lefts: unknown[];
        try {
          lefts = this.walk([el], node.left);
        } catch (e) {
          if (node.op === 'exists') continue;
          throw e;
        }
        if (node.op === 'exists') {
          if (lefts.length > 0) out.push(el);
          continue;
        }
        if (lefts.length === 0) continue;
        if (lefts.length > 1) throw new Error('can only compare one element at a time');
        const rights = this.walk([el], node.right);
        if (rights.length === 0) continue;
        if (rights.length > 1) throw new Error('can only compare one element at a time');
        if (compare(node.op, lefts[0], rights[0])) out.push(el);
      }
    }
    return out;
  }

  private evalRecursive(input: unknown[]): unknown[] {
    const out: unknown[] = [];
    for (const v of input) {
      if (v === null || v === undefined) continue;
      const kids = children(v);
      if (kids.length > 0) {
        out.push(v);
        out.push(...this.evalRecursive(kids));
      }
    }
    return out;
  }
}

/** Values below a map, array or string (evalWildcard); a string yields its characters' code points as Go does bytes. */
function children(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (isObject(v)) return Object.values(v);
  if (typeof v === 'string') return [...Buffer.from(v)];
  return [];
}

/** Parses a template: an expression without braces (e.g. `.spec.replicas`) is taken as one action `{...}`. */
function parseTemplate(expr: string): ListNode {
  return new Parser(expr.includes('{') ? expr : `{${expr}}`).parse();
}

/**
 * client-go's FindResults: the result lists of each action of `expr` (a
 * template, or a bare expression such as `.status.conditions[?(@.type=="Ready")].status`).
 * Throws on syntax errors and evaluation errors, with client-go's messages.
 */
export function findJsonPathResults(expr: string, obj: unknown, opts: JsonPathOptions = {}): unknown[][] {
  const root = parseTemplate(expr);
  return new Evaluator(opts.allowMissingKeys ?? true).findResults(root.nodes, obj);
}

/** Checks that `expr` parses as a JSONPath template; returns the parse error message, or undefined. */
export function jsonPathSyntaxError(expr: string): string | undefined {
  try {
    parseTemplate(expr);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The values `expr` selects in `obj`, all result lists concatenated (missing keys select nothing). */
export function evaluateJsonPath(expr: string, obj: unknown, opts: JsonPathOptions = {}): unknown[] {
  return findJsonPathResults(expr, obj, opts).flat();
}

/** PrintResults of one result list: maps and arrays as compact JSON, scalars as Go prints them, space-separated. */
export function printJsonPathResults(values: unknown[]): string {
  return values.map((v) => (Array.isArray(v) || isObject(v) ? JSON.stringify(v) : v === null ? 'null' : goScalar(v))).join(' ');
}

/** `kubectl -o jsonpath=<template>`-style output: every result list printed, concatenated. */
export function executeJsonPath(template: string, obj: unknown, opts: JsonPathOptions = {}): string {
  return findJsonPathResults(template, obj, opts)
    .map((r) => printJsonPathResults(r))
    .join('');
}
