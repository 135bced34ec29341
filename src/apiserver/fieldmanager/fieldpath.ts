/**
 * Sets of field paths, as structured-merge-diff's `fieldpath` package keeps
 * them: a tree whose nodes are path elements (`f:` field, `k:` associative
 * list key, `v:` set value, `i:` index), each node either a member of the set,
 * a parent of members, or both. Also the `FieldsV1` wire encoding.
 */

/** One step of a path: exactly one of field / key / value / index. */
export type PathElement =
  | { field: string }
  /** Associative-list key fields, sorted by name. */
  | { key: [string, unknown][] }
  | { value: unknown }
  | { index: number };

/** A path from the object root. */
export type Path = PathElement[];

/** A set of paths: `members` are in the set; `children` hold deeper members (sorted by element). */
export interface FieldSet {
  members: PathElement[];
  children: { pe: PathElement; set: FieldSet }[];
}

/** An empty set. */
export function newSet(): FieldSet {
  return { members: [], children: [] };
}

/** Go's strings.Compare on UTF-8 bytes (== code point order), which JS `<` on UTF-16 units is not. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates encode code points above U+FFFF, which sort after every BMP character in UTF-8.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function typeRank(v: unknown): number {
  // SMD value.Compare: numbers < strings < bools < lists < maps < null.
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (v !== null && typeof v === 'object') return 4;
  return 5;
}

/** SMD's total order over JSON values. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 1:
      return compareStrings(a as string, b as string);
    case 2:
      return a === b ? 0 : a ? 1 : -1;
    case 3: {
      const la = a as unknown[];
      const lb = b as unknown[];
      for (let i = 0; i < Math.min(la.length, lb.length); i++) {
        const c = compareValues(la[i], lb[i]);
        if (c !== 0) return c;
      }
      return la.length < lb.length ? -1 : la.length > lb.length ? 1 : 0;
    }
    case 4: {
      // Maps compare as their sorted (key, value) lists.
      const ea = sortedEntries(a as Record<string, unknown>);
      const eb = sortedEntries(b as Record<string, unknown>);
      for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
        const c = compareStrings(ea[i][0], eb[i][0]) || compareValues(ea[i][1], eb[i][1]);
        if (c !== 0) return c;
      }
      return ea.length < eb.length ? -1 : ea.length > eb.length ? 1 : 0;
    }
    default:
      return 0;
  }
}

function sortedEntries(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort((x, y) => compareStrings(x[0], y[0]));
}

/** Order of path elements: fields, then keys, then values, then indices (fieldpath.PathElement.Compare). */
export function comparePE(a: PathElement, b: PathElement): number {
  const ka = peKind(a);
  const kb = peKind(b);
  if (ka !== kb) return ka < kb ? -1 : 1;
  if ('field' in a) return compareStrings(a.field, (b as { field: string }).field);
  if ('key' in a) {
    const x = a.key;
    const y = (b as { key: [string, unknown][] }).key;
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = compareStrings(x[i][0], y[i][0]) || compareValues(x[i][1], y[i][1]);
      if (c !== 0) return c;
    }
    return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
  }
  if ('value' in a) return compareValues(a.value, (b as { value: unknown }).value);
  const i = (b as { index: number }).index;
  return a.index < i ? -1 : a.index > i ? 1 : 0;
}

function peKind(pe: PathElement): number {
  if ('field' in pe) return 0;
  if ('key' in pe) return 1;
  if ('value' in pe) return 2;
  return 3;
}

/** Go's `%v`-style rendering of a value inside a path string (value.ToString). */
function valueToString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map(valueToString).join(',') + ']';
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}=${valueToString(x)}`)
    .join('');
}

/** Human form of one element: `.name`, `[name="nginx"]`, `[="x"]`, `[0]`. */
export function peString(pe: PathElement): string {
  if ('field' in pe) return '.' + pe.field;
  if ('key' in pe) return '[' + pe.key.map(([k, v]) => `${k}=${valueToString(v)}`).join(',') + ']';
  if ('value' in pe) return `[=${valueToString(pe.value)}]`;
  return `[${pe.index}]`;
}

/** Human form of a path as conflict messages show it, e.g. `.spec.replicas`. */
export function pathString(p: Path): string {
  return p.map(peString).join('');
}

function search<T>(arr: T[], pe: PathElement, get: (t: T) => PathElement): { i: number; found: boolean } {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = comparePE(get(arr[mid]), pe);
    if (c === 0) return { i: mid, found: true };
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return { i: lo, found: false };
}

const idPE = (pe: PathElement): PathElement => pe;
const nodePE = (n: { pe: PathElement }): PathElement => n.pe;

/** Adds one path (its parents are not added, as upstream). The empty path is ignored. */
export function setInsert(s: FieldSet, p: Path): void {
  if (p.length === 0) return;
  let cur = s;
  for (let k = 0; k < p.length - 1; k++) cur = descend(cur, p[k]);
  const last = p[p.length - 1];
  const r = search(cur.members, last, idPE);
  if (!r.found) cur.members.splice(r.i, 0, last);
}

function descend(s: FieldSet, pe: PathElement): FieldSet {
  const r = search(s.children, pe, nodePE);
  if (r.found) return s.children[r.i].set;
  const child = newSet();
  s.children.splice(r.i, 0, { pe, set: child });
  return child;
}

/** The subtree under one element, created empty when missing (for walkers that insert level by level instead of path by path). */
export function setChild(s: FieldSet, pe: PathElement): FieldSet {
  return descend(s, pe);
}

/** Adds one element as a member at this level (setInsert of a one-element path). */
export function setAddMember(s: FieldSet, pe: PathElement): void {
  const r = search(s.members, pe, idPE);
  if (!r.found) s.members.splice(r.i, 0, pe);
}

/** Whether `p` is a member. */
export function setHas(s: FieldSet, p: Path): boolean {
  if (p.length === 0) return false;
  let cur: FieldSet | undefined = s;
  for (let k = 0; k < p.length - 1; k++) {
    cur = childOf(cur, p[k]);
    if (!cur) return false;
  }
  return search(cur.members, p[p.length - 1], idPE).found;
}

function childOf(s: FieldSet, pe: PathElement): FieldSet | undefined {
  const r = search(s.children, pe, nodePE);
  return r.found ? s.children[r.i].set : undefined;
}

/** The subtree under one element (empty when there is none). */
export function setWithPrefix(s: FieldSet, pe: PathElement): FieldSet {
  return childOf(s, pe) ?? newSet();
}

/** True when no path is a member. */
export function setEmpty(s: FieldSet): boolean {
  if (s.members.length > 0) return false;
  return s.children.every((c) => setEmpty(c.set));
}

/** Union of two sets. */
export function setUnion(a: FieldSet, b: FieldSet): FieldSet {
  const members = mergeSorted(a.members, b.members, idPE, (x) => x);
  const children: FieldSet['children'] = [];
  let i = 0;
  let j = 0;
  while (i < a.children.length && j < b.children.length) {
    const c = comparePE(a.children[i].pe, b.children[j].pe);
    if (c < 0) children.push(a.children[i++]);
    else if (c > 0) children.push(b.children[j++]);
    else children.push({ pe: a.children[i].pe, set: setUnion(a.children[i++].set, b.children[j++].set) });
  }
  while (i < a.children.length) children.push(a.children[i++]);
  while (j < b.children.length) children.push(b.children[j++]);
  return { members, children };
}

function mergeSorted<T>(a: T[], b: T[], get: (t: T) => PathElement, pick: (t: T) => T): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = comparePE(get(a[i]), get(b[j]));
    if (c < 0) out.push(pick(a[i++]));
    else if (c > 0) out.push(pick(b[j++]));
    else {
      out.push(pick(a[i++]));
      j++;
    }
  }
  while (i < a.length) out.push(pick(a[i++]));
  while (j < b.length) out.push(pick(b[j++]));
  return out;
}

/** Members present in both sets. */
export function setIntersection(a: FieldSet, b: FieldSet): FieldSet {
  const members = a.members.filter((m) => search(b.members, m, idPE).found);
  const children: FieldSet['children'] = [];
  for (const c of a.children) {
    const o = childOf(b, c.pe);
    if (!o) continue;
    const r = setIntersection(c.set, o);
    if (!setEmpty(r)) children.push({ pe: c.pe, set: r });
  }
  return { members, children };
}

/** Members of `a` not in `b` (a parent minus a child keeps the parent). */
export function setDifference(a: FieldSet, b: FieldSet): FieldSet {
  const members = a.members.filter((m) => !search(b.members, m, idPE).found);
  const children: FieldSet['children'] = [];
  for (const c of a.children) {
    const o = childOf(b, c.pe);
    if (!o) {
      children.push(c);
      continue;
    }
    const r = setDifference(c.set, o);
    if (!setEmpty(r)) children.push({ pe: c.pe, set: r });
  }
  return { members, children };
}

/** Like difference, but a member of `b` also removes everything beneath it in `a`. */
export function setRecursiveDifference(a: FieldSet, b: FieldSet): FieldSet {
  const members = a.members.filter((m) => !search(b.members, m, idPE).found);
  const children: FieldSet['children'] = [];
  for (const c of a.children) {
    if (search(b.members, c.pe, idPE).found) continue;
    const o = childOf(b, c.pe);
    if (!o) {
      children.push(c);
      continue;
    }
    const r = setRecursiveDifference(c.set, o);
    if (!setEmpty(r)) children.push({ pe: c.pe, set: r });
  }
  return { members, children };
}

/** Structural equality of two sets. */
export function setEquals(a: FieldSet, b: FieldSet): boolean {
  if (a.members.length !== b.members.length || a.children.length !== b.children.length) return false;
  for (let i = 0; i < a.members.length; i++) if (comparePE(a.members[i], b.members[i]) !== 0) return false;
  for (let i = 0; i < a.children.length; i++) {
    if (comparePE(a.children[i].pe, b.children[i].pe) !== 0) return false;
    if (!setEquals(a.children[i].set, b.children[i].set)) return false;
  }
  return true;
}

/** Calls `f` for each member, pre-order: a node's members before its children's (Set.Iterate). */
export function setIterate(s: FieldSet, f: (p: Path) => void, prefix: Path = []): void {
  for (const m of s.members) f([...prefix, m]);
  for (const c of s.children) setIterate(c.set, f, [...prefix, c.pe]);
}

/** Builds a set from paths. */
export function setFromPaths(paths: Path[]): FieldSet {
  const s = newSet();
  for (const p of paths) setInsert(s, p);
  return s;
}

// --- FieldsV1 encoding ---

/** JSON as Go's encoding/json writes it: map keys sorted, `<`, `>`, `&`, U+2028/9 escaped. */
export function goJSON(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(goJSON).join(',') + ']';
  const o = v as Record<string, unknown>;
  return (
    '{' +
    Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort(compareStrings)
      .map((k) => goString(k) + ':' + goJSON(o[k]))
      .join(',') +
    '}'
  );
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The `FieldsV1` key for one element: `f:name`, `k:{"name":"nginx"}`, `v:"x"`, `i:0`. */
export function serializePE(pe: PathElement): string {
  if ('field' in pe) return 'f:' + pe.field;
  if ('key' in pe) return 'k:{' + pe.key.map(([k, v]) => goString(k) + ':' + goJSON(v)).join(',') + '}';
  if ('value' in pe) return 'v:' + goJSON(pe.value);
  return 'i:' + pe.index;
}

/** Parses a `FieldsV1` key; undefined for an unknown element type (dropped, as upstream does). */
export function deserializePE(s: string): PathElement | undefined {
  if (s.length < 2 || s[1] !== ':') throw new Error(`invalid path element: ${JSON.stringify(s)}`);
  const body = s.slice(2);
  switch (s[0]) {
    case 'f':
      return { field: body };
    case 'v':
      return { value: JSON.parse(body) };
    case 'k': {
      const o = JSON.parse(body) as Record<string, unknown>;
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`invalid key: ${body}`);
      return { key: Object.entries(o).sort((a, b) => compareStrings(a[0], b[0])) };
    }
    case 'i': {
      const n = Number(body);
      if (!Number.isInteger(n)) throw new Error(`invalid index: ${body}`);
      return { index: n };
    }
    default:
      return undefined;
  }
}

/** The `fieldsV1` object for a set, keys in upstream's order (`.` first, then elements sorted). */
export function setToFieldsV1(s: FieldSet): Record<string, unknown> {
  return emit(s, false);
}

function emit(s: FieldSet, includeSelf: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (includeSelf && (s.members.length > 0 || s.children.length > 0)) out['.'] = {};
  let mi = 0;
  let ci = 0;
  while (mi < s.members.length || ci < s.children.length) {
    const m = s.members[mi];
    const c = s.children[ci];
    const cmp = m === undefined ? 1 : c === undefined ? -1 : comparePE(m, c.pe);
    if (cmp < 0) {
      out[serializePE(m)] = {};
      mi++;
    } else if (cmp > 0) {
      out[serializePE(c.pe)] = emit(c.set, false);
      ci++;
    } else {
      // A node that is both a member and a parent carries a `.` entry.
      out[serializePE(c.pe)] = emit(c.set, true);
      mi++;
      ci++;
    }
  }
  return out;
}

/** Decodes a `fieldsV1` object (or its JSON text) into a set. */
export function setFromFieldsV1(v: unknown): FieldSet {
  const obj = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
  if (obj === null || obj === undefined) return newSet();
  if (typeof obj !== 'object' || Array.isArray(obj)) throw new Error('fieldsV1 must be an object');
  return read(obj as Record<string, unknown>).children ?? newSet();
}

function read(o: Record<string, unknown>): { children?: FieldSet; isMember: boolean } {
  let children: FieldSet | undefined;
  let isMember = false;
  for (const [k, v] of Object.entries(o)) {
    if (k === '.') {
      isMember = true;
      continue;
    }
    const pe = deserializePE(k);
    if (!pe) continue;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`fieldsV1 entry ${JSON.stringify(k)} must be an object`);
    const sub = read(v as Record<string, unknown>);
    if (sub.isMember) {
      children ??= newSet();
      const r = search(children.members, pe, idPE);
      if (!r.found) children.members.splice(r.i, 0, pe);
    }
    if (sub.children) {
      children ??= newSet();
      const r = search(children.children, pe, nodePE);
      if (r.found) children.children[r.i].set = setUnion(children.children[r.i].set, sub.children);
      else children.children.splice(r.i, 0, { pe, set: sub.children });
    }
  }
  // An entry with no sub-entries (`{}`) is itself a member.
  if (!children) isMember = true;
  return { children, isMember };
}
