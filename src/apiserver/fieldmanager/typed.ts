/**
 * Schema-guided operations on JSON objects, as structured-merge-diff's
 * `typed` package does them: field sets of a value, comparison, merge of an
 * applied configuration, removal of owned items. The schema is read the way
 * kube-openapi's `schemaconv` converts OpenAPI for SMD.
 */
import { refName, type SchemaNode, type SchemaResolver } from '../../api/schema.js';
import {
  newSet,
  setAddMember,
  setChild,
  setEmpty,
  setHas,
  setInsert,
  setWithPrefix,
  pathString,
  comparePE,
  compareStrings,
  type FieldSet,
  type Path,
  type PathElement,
} from './fieldpath.js';
import { clone, deepEqual } from '../../util/json.js';
export { clone, deepEqual };

/** A walker's view of one schema node. */
type Atom =
  | { kind: 'scalar' }
  | { kind: 'map'; fields: Record<string, SchemaNode>; elem: SchemaNode | undefined; atomic: boolean; def?: string; required: string[] }
  | { kind: 'list'; elem: SchemaNode | undefined; associative: boolean; keys: string[]; elemDef?: string; elemNode?: SchemaNode };

/** Raised for values the schema cannot describe (upstream's typed validation errors). */
export class TypedError extends Error {}

/** What the walkers need: the resolver and whether objects are Go-typed built-ins. */
export interface TypedContext {
  resolver: SchemaResolver;
  /** Built-in kinds behave like Go structs: non-pointer structs are always present (see fillZero). */
  builtin: boolean;
}

const RAW_EXTENSION = 'io.k8s.apimachinery.pkg.runtime.RawExtension';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/**
 * Associative-list key defaults that upstream's in-process schema carries
 * (`+default="TCP"`) but the published swagger drops; without them a port
 * applied without `protocol` would not match the defaulted live port.
 */
const KEY_DEFAULTS: Record<string, Record<string, unknown>> = {
  'io.k8s.api.core.v1.ContainerPort': { protocol: 'TCP' },
  'io.k8s.api.core.v1.ServicePort': { protocol: 'TCP' },
};

/**
 * Non-pointer struct fields of built-in types that the swagger does not mark
 * required; Go always serializes them, so upstream's typed objects always
 * have them (which decides where `.` markers appear).
 */
const VALUE_STRUCTS: Record<string, string[]> = {
  'io.k8s.api.apps.v1.DeploymentSpec': ['strategy'],
  'io.k8s.api.apps.v1.DaemonSetSpec': ['updateStrategy'],
  'io.k8s.api.apps.v1.StatefulSetSpec': ['updateStrategy'],
  'io.k8s.api.apps.v1.ReplicaSetSpec': ['template'],
  'io.k8s.api.core.v1.Container': ['resources'],
  'io.k8s.api.core.v1.EphemeralContainer': ['resources'],
  'io.k8s.api.core.v1.PersistentVolumeClaimSpec': ['resources'],
  'io.k8s.api.core.v1.ServiceStatus': ['loadBalancer'],
  'io.k8s.api.networking.v1.IngressStatus': ['loadBalancer'],
  'io.k8s.api.core.v1.PodTemplate': ['template'],
};

interface Resolved {
  node: SchemaNode | undefined;
  def?: string;
  mapType?: string;
}

/**
 * Memo of what is derived from schema nodes alone, per resolver: schema
 * nodes and definitions do not change once built, and every write walks the
 * same few definitions, so resolving `$ref`s and building atoms once per node
 * (rather than once per field of every object written) is what keeps field
 * management off the write path's profile. Weak keys: nothing is kept alive.
 */
interface SchemaMemo {
  resolved: WeakMap<SchemaNode, Resolved>;
  /** The atom of a node when it does not depend on the value; null when it does. */
  atoms: WeakMap<SchemaNode, Atom | null>;
  /** fill()'s per-struct plan: each schema field, whether Go always has it, and whether it is a struct. */
  plans: WeakMap<Atom, FillPlan>;
  /** Whether a node is a (non-RawExtension) struct. */
  structs: WeakMap<SchemaNode, boolean>;
}

interface FillStep {
  name: string;
  prop: SchemaNode;
  present: boolean;
  struct: boolean;
}

/** A struct's fill steps by field name, and those Go always has, in schema order. */
interface FillPlan {
  steps: Map<string, FillStep>;
  present: FillStep[];
}

const memos = new WeakMap<SchemaResolver, SchemaMemo>();

function memoOf(ctx: TypedContext): SchemaMemo {
  let m = memos.get(ctx.resolver);
  if (!m) {
    m = { resolved: new WeakMap(), atoms: new WeakMap(), plans: new WeakMap(), structs: new WeakMap() };
    memos.set(ctx.resolver, m);
  }
  return m;
}

function follow(ctx: TypedContext, ref: SchemaNode | undefined): Resolved {
  if (ref === undefined) return { node: undefined };
  const memo = memoOf(ctx).resolved;
  let r = memo.get(ref);
  if (r === undefined) {
    r = followUncached(ctx, ref);
    memo.set(ref, r);
  }
  return r;
}

function followUncached(ctx: TypedContext, ref: SchemaNode): Resolved {
  let node: SchemaNode | undefined = ref;
  let def: string | undefined;
  let mapType = ref['x-kubernetes-map-type'];
  for (let i = 0; node?.$ref && i < 16; i++) {
    def = refName(node.$ref);
    node = ctx.resolver.definition(def);
    mapType ??= node?.['x-kubernetes-map-type'];
  }
  if (node && !node.$ref && node.allOf?.length === 1 && node.allOf[0].$ref && !node.type && !node.properties) {
    // kube-openapi puts a `$ref` inside a single-element allOf to attach siblings.
    return followUncached(ctx, { ...node.allOf[0], 'x-kubernetes-map-type': mapType });
  }
  return { node, def, mapType };
}

/** The atom for a schema node; `value` settles untyped/deduced nodes as upstream's deduceAtom does. */
function atomFor(ctx: TypedContext, ref: SchemaNode | undefined, value: unknown): Atom {
  if (ref === undefined) return deduced(value);
  const memo = memoOf(ctx).atoms;
  let a = memo.get(ref);
  if (a === undefined) {
    a = staticAtom(ctx, ref);
    memo.set(ref, a);
  }
  return a ?? atomUncached(ctx, ref, value);
}

/** The atom of a node whose atom does not depend on the value, else null. */
function staticAtom(ctx: TypedContext, ref: SchemaNode): Atom | null {
  const { node, def } = follow(ctx, ref);
  if (def === RAW_EXTENSION || !node) return null;
  if (node['x-kubernetes-int-or-string']) return { kind: 'scalar' };
  const t = node.type;
  if (t === 'array' || (!t && node.items)) return t === undefined ? null : atomUncached(ctx, ref, undefined);
  if (t === 'object' || (!t && (node.properties || node.additionalProperties))) return atomUncached(ctx, ref, undefined);
  if (t) return { kind: 'scalar' };
  return null;
}

function atomUncached(ctx: TypedContext, ref: SchemaNode | undefined, value: unknown): Atom {
  const { node, def, mapType } = follow(ctx, ref);
  if (def === RAW_EXTENSION) return untypedAtomic(value);
  if (!node) return deduced(value);
  if (node['x-kubernetes-int-or-string']) return { kind: 'scalar' };
  const t = node.type;
  if (t === 'array' || (!t && node.items)) {
    if (t === undefined && !Array.isArray(value) && value !== null && value !== undefined) return deduced(value);
    return listAtom(ctx, node);
  }
  if (t === 'object' || (!t && (node.properties || node.additionalProperties))) {
    const fields = node.properties ?? {};
    let elem: SchemaNode | undefined;
    if (node.additionalProperties && typeof node.additionalProperties === 'object') elem = node.additionalProperties;
    // No additionalProperties (or `true`): unknown keys are deduced from their values.
    return { kind: 'map', fields, elem, atomic: mapType === 'atomic', def, required: node.required ?? [] };
  }
  if (t) return { kind: 'scalar' };
  return deduced(value);
}

function listAtom(ctx: TypedContext, node: SchemaNode): Atom {
  const lt = node['x-kubernetes-list-type'];
  let associative = false;
  let keys: string[] = [];
  // schemaconv: list-type wins; otherwise patch-strategy merge makes an associative list keyed by the merge key (or a set).
  if (lt) {
    associative = lt === 'set' || lt === 'map';
    if (lt === 'map') keys = node['x-kubernetes-list-map-keys'] ?? [];
  } else {
    const ps = node['x-kubernetes-patch-strategy'];
    if (ps === 'merge' || ps === 'merge,retainKeys') {
      associative = true;
      const mk = node['x-kubernetes-patch-merge-key'];
      if (mk) keys = [mk];
    }
  }
  const elemResolved = follow(ctx, node.items);
  return { kind: 'list', elem: node.items, associative, keys, elemDef: elemResolved.def, elemNode: elemResolved.node };
}

function untypedAtomic(value: unknown): Atom {
  if (Array.isArray(value)) return { kind: 'list', elem: undefined, associative: false, keys: [] };
  if (isMap(value)) return { kind: 'map', fields: {}, elem: undefined, atomic: true, required: [] };
  return { kind: 'scalar' };
}

function deduced(value: unknown): Atom {
  // SMD's "__untyped_deduced_": maps are granular with deduced values, lists are atomic.
  if (Array.isArray(value)) return { kind: 'list', elem: undefined, associative: false, keys: [] };
  if (isMap(value)) return { kind: 'map', fields: {}, elem: undefined, atomic: false, required: [] };
  return { kind: 'scalar' };
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fieldType(a: Atom & { kind: 'map' }, key: string): SchemaNode | undefined {
  return Object.prototype.hasOwnProperty.call(a.fields, key) ? a.fields[key] : a.elem;
}

/** Whether a value fits the atom; mismatches are treated as opaque leaves (upstream would reject them). */
function fits(a: Atom, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (a.kind === 'map') return isMap(v);
  if (a.kind === 'list') return Array.isArray(v);
  return !isMap(v) && !Array.isArray(v);
}

/** The path element of one associative-list item (keyed by its key fields, or by value for sets). */
function itemPE(a: Atom & { kind: 'list' }, item: unknown): PathElement {
  if (a.keys.length > 0) {
    if (!isMap(item)) throw new TypedError('associative list with keys may not have non-map elements');
    const key: [string, unknown][] = [];
    for (const k of a.keys) {
      if (item[k] !== undefined) key.push([k, item[k]]);
      else {
        const d = a.elemNode?.properties?.[k]?.default ?? (a.elemDef ? KEY_DEFAULTS[a.elemDef]?.[k] : undefined);
        if (d !== undefined) key.push([k, d]);
      }
    }
    if (key.length === 0) {
      throw new TypedError(
        `associative list with keys has an element that omits all key fields ${goQuoteList(a.keys)} (and doesn't have default values for any key fields)`,
      );
    }
    key.sort((x, y) => compareStrings(x[0], y[0]));
    return { key };
  }
  if (item === null || item === undefined) throw new TypedError("associative list without keys has an element that's an explicit null");
  if (isMap(item)) throw new TypedError("associative list without keys has an element that's a map type");
  if (Array.isArray(item)) throw new TypedError('not supported: associative list with lists as elements');
  return { value: item };
}

function goQuoteList(xs: string[]): string {
  return '[' + xs.map((x) => JSON.stringify(x)).join(' ') + ']';
}

function withPrefix(path: Path, e: TypedError): TypedError {
  return new TypedError(`${pathString(path)}: ${e.message}`);
}

// --- ToFieldSet ---

/** The set of fields a configuration specifies (TypedValue.ToFieldSet): what an applier owns. */
export function toFieldSet(ctx: TypedContext, value: unknown, ref: SchemaNode | undefined): FieldSet {
  const set = newSet();
  walkToSet(ctx, value, ref, [], set);
  return set;
}

function walkToSet(ctx: TypedContext, value: unknown, ref: SchemaNode | undefined, path: Path, set: FieldSet): void {
  const a = atomFor(ctx, ref, value);
  if (!fits(a, value) || a.kind === 'scalar') {
    setInsert(set, path);
    return;
  }
  if (a.kind === 'list') {
    if (!a.associative) {
      setInsert(set, path);
      return;
    }
    if (!Array.isArray(value)) return;
    const seen: PathElement[] = [];
    const dups: PathElement[] = [];
    const pes = value.map((item) => {
      try {
        return itemPE(a, item);
      } catch (e) {
        throw e instanceof TypedError ? withPrefix(path, e) : e;
      }
    });
    for (const pe of pes) {
      if (seen.some((s) => comparePE(s, pe) === 0)) {
        // Duplicated items are owned as a whole (upstream records only the item path).
        if (!dups.some((d) => comparePE(d, pe) === 0)) {
          dups.push(pe);
          setInsert(set, [...path, pe]);
        }
      } else seen.push(pe);
    }
    value.forEach((item, i) => {
      const pe = pes[i];
      if (dups.some((d) => comparePE(d, pe) === 0)) return;
      const p = [...path, pe];
      walkToSet(ctx, item, a.elem, p, set);
      setInsert(set, p);
    });
    return;
  }
  if (a.atomic) {
    setInsert(set, path);
    return;
  }
  if (!isMap(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const p = [...path, { field: k }];
    walkToSet(ctx, v, fieldType(a, k), p, set);
    const known = Object.prototype.hasOwnProperty.call(a.fields, k);
    // Empty/null values and map keys (not struct fields) are members themselves.
    if (v === null || (isMap(v) && Object.keys(v).length === 0) || !known) setInsert(set, p);
  }
}

// --- Compare ---

/** Field-level differences between two versions of an object (typed.Comparison). */
export interface Comparison {
  removed: FieldSet;
  modified: FieldSet;
  added: FieldSet;
}

/** Compares two values field by field (TypedValue.Compare). */
export function compare(ctx: TypedContext, lhs: unknown, rhs: unknown, ref: SchemaNode | undefined): Comparison {
  const c: Comparison = { removed: newSet(), modified: newSet(), added: newSet() };
  walkCompare(ctx, lhs, rhs, ref, { parent: undefined, pe: undefined }, c);
  return c;
}

/**
 * Where the comparison walk is: the element under its parent, and the
 * subtree of each result set at this path once something was put below it.
 * Inserting level by level (rather than a whole path from the root per
 * field, copying the path at every step) is what keeps comparisons — one
 * per write — cheap.
 */
interface Cursor {
  readonly parent: Cursor | undefined;
  readonly pe: PathElement | undefined;
  removed?: FieldSet;
  modified?: FieldSet;
  added?: FieldSet;
}

/** The subtree of a result set at the cursor's path, created on first use. */
function subtree(c: Comparison, cur: Cursor, which: keyof Comparison): FieldSet {
  if (!cur.parent) return c[which];
  return (cur[which] ??= setChild(subtree(c, cur.parent, which), cur.pe!));
}

/** Makes the cursor's path a member of a result set (the root, an empty path, never is). */
function mark(c: Comparison, cur: Cursor, which: keyof Comparison): void {
  if (cur.parent) setAddMember(subtree(c, cur.parent, which), cur.pe!);
}

function pathOf(cur: Cursor): Path {
  const p: Path = [];
  for (let x: Cursor | undefined = cur; x?.parent; x = x.parent) p.push(x.pe!);
  return p.reverse();
}

function walkCompare(ctx: TypedContext, lhs: unknown, rhs: unknown, ref: SchemaNode | undefined, cur: Cursor, c: Comparison): void {
  const a = atomFor(ctx, ref, rhs !== undefined && rhs !== null ? rhs : lhs);
  let leaf = true;
  if (fits(a, lhs) && fits(a, rhs)) {
    if (a.kind === 'list') leaf = !compareList(ctx, a, lhs, rhs, cur, c);
    else if (a.kind === 'map') leaf = !compareMap(ctx, a, lhs, rhs, cur, c);
  }
  if (leaf) {
    if (lhs === undefined) mark(c, cur, 'added');
    else if (rhs === undefined) mark(c, cur, 'removed');
    else if (!deepEqual(lhs, rhs)) mark(c, cur, 'modified');
    return;
  }
  // A granular node that appears or disappears is itself added/removed (hence `.` entries).
  if (lhs === undefined) mark(c, cur, 'added');
  else if (rhs === undefined) mark(c, cur, 'removed');
}

function emptyish(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (!isMap(v)) return false;
  for (const _ in v) return false;
  return true;
}

/** Returns false when the list is treated as a leaf. */
function compareList(ctx: TypedContext, a: Atom & { kind: 'list' }, lhs: unknown, rhs: unknown, cur: Cursor, c: Comparison): boolean {
  // Both empty/null: a leaf, to keep the empty/null distinction.
  if (!a.associative || (emptyish(lhs) && emptyish(rhs))) return false;
  const l = Array.isArray(lhs) ? lhs : [];
  const r = Array.isArray(rhs) ? rhs : [];
  const order: PathElement[] = [];
  const lv: { pe: PathElement; items: unknown[] }[] = [];
  const rv: { pe: PathElement; items: unknown[] }[] = [];
  const find = (xs: typeof lv, pe: PathElement) => xs.find((x) => comparePE(x.pe, pe) === 0);
  const index = (list: unknown[], into: typeof lv, addOrder: (pe: PathElement) => boolean) => {
    for (const item of list) {
      let pe: PathElement;
      try {
        pe = itemPE(a, item);
      } catch (e) {
        throw e instanceof TypedError ? withPrefix(pathOf(cur), e) : e;
      }
      const got = find(into, pe);
      if (got) got.items.push(item);
      else {
        into.push({ pe, items: [item] });
        if (addOrder(pe)) order.push(pe);
      }
    }
  };
  index(l, lv, () => true);
  index(r, rv, (pe) => !find(lv, pe));
  for (const pe of order) {
    const ll = find(lv, pe)?.items ?? [];
    const rl = find(rv, pe)?.items ?? [];
    const p: Cursor = { parent: cur, pe };
    if (ll.length <= 1 && rl.length <= 1) walkCompare(ctx, ll[0], rl[0], a.elem, p, c);
    else if (ll.length >= 2 && rl.length >= 2) {
      if (!deepEqual(ll, rl)) mark(c, p, 'modified');
    } else if (ll.length >= 2) {
      if (rl.length) walkCompare(ctx, undefined, rl[0], a.elem, p, c);
      mark(c, p, 'removed');
    } else {
      if (ll.length) walkCompare(ctx, ll[0], undefined, a.elem, p, c);
      mark(c, p, 'added');
    }
  }
  return true;
}

function compareMap(ctx: TypedContext, a: Atom & { kind: 'map' }, lhs: unknown, rhs: unknown, cur: Cursor, c: Comparison): boolean {
  if (a.atomic || (emptyish(lhs) && emptyish(rhs))) return false;
  const l = isMap(lhs) ? lhs : {};
  const r = isMap(rhs) ? rhs : {};
  for (const k of unionKeys(l, r)) walkCompare(ctx, l[k], r[k], fieldType(a, k), { parent: cur, pe: { field: k } }, c);
  return true;
}

function unionKeys(l: Record<string, unknown>, r: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k in l) if (l[k] !== undefined) keys.push(k);
  for (const k in r) if (r[k] !== undefined && l[k] === undefined) keys.push(k);
  return keys;
}

// --- Merge ---

/** Merges an applied configuration into a live object (TypedValue.Merge with keep-RHS leaves). */
export function merge(ctx: TypedContext, lhs: unknown, rhs: unknown, ref: SchemaNode | undefined): unknown {
  return walkMerge(ctx, lhs, rhs, ref, []);
}

function walkMerge(ctx: TypedContext, lhs: unknown, rhs: unknown, ref: SchemaNode | undefined, path: Path): unknown {
  const a = atomFor(ctx, ref, rhs !== undefined && rhs !== null ? rhs : lhs);
  const keepRHS = () => clone(rhs !== undefined ? rhs : lhs);
  if (!fits(a, lhs) || !fits(a, rhs) || a.kind === 'scalar') return keepRHS();
  if (a.kind === 'list') {
    if (!a.associative || (emptyish(lhs) && emptyish(rhs))) return keepRHS();
    if (!Array.isArray(lhs) && !Array.isArray(rhs)) return keepRHS();
    return mergeList(ctx, a, Array.isArray(lhs) ? lhs : [], Array.isArray(rhs) ? rhs : [], path);
  }
  if (a.atomic || (emptyish(lhs) && emptyish(rhs))) return keepRHS();
  const l = isMap(lhs) ? lhs : {};
  const r = isMap(rhs) ? rhs : {};
  const out: Record<string, unknown> = {};
  for (const k of unionKeys(l, r)) out[k] = walkMerge(ctx, l[k], r[k], fieldType(a, k), [...path, { field: k }]);
  return out;
}

function mergeList(ctx: TypedContext, a: Atom & { kind: 'list' }, lhs: unknown[], rhs: unknown[], path: Path): unknown[] {
  const pe = (item: unknown) => {
    try {
      return itemPE(a, item);
    } catch (e) {
      throw e instanceof TypedError ? withPrefix(path, e) : e;
    }
  };
  const rPEs = rhs.map(pe);
  const lPEs = lhs.map(pe);
  const same = (x: PathElement, y: PathElement) => comparePE(x, y) === 0;
  // Index both sides; duplicates are an error on the applied side, and left unmerged on the live side.
  const observedR: { pe: PathElement; v: unknown }[] = [];
  rPEs.forEach((p, i) => {
    if (observedR.some((o) => same(o.pe, p))) throw new TypedError(`${pathString(path)}: duplicate entries for key ${pathString([p])}`);
    observedR.push({ pe: p, v: rhs[i] });
  });
  const observedL: { pe: PathElement; v: unknown }[] = [];
  lPEs.forEach((p, i) => {
    const got = observedL.find((o) => same(o.pe, p));
    if (got) got.v = null;
    else observedL.push({ pe: p, v: lhs[i] });
  });
  const getR = (p: PathElement) => observedR.find((o) => same(o.pe, p));
  const getL = (p: PathElement) => observedL.find((o) => same(o.pe, p));

  // Follows SMD's visitListItems: items shared by both sides keep the applied order,
  // live-only items stay where they were relative to them.
  const sharedOrder = rPEs.filter((p) => getL(p));
  let nextShared: PathElement | undefined = sharedOrder.shift();
  const mergedR: PathElement[] = [];
  const out: unknown[] = [];
  const mergeItem = (p: PathElement, l: unknown, r: unknown) => {
    const v = walkMerge(ctx, l, r, a.elem, [...path, p]);
    if (v !== undefined) out.push(v);
  };
  let lI = 0;
  let rI = 0;
  while (lI < lPEs.length || rI < rPEs.length) {
    if (lI < lPEs.length && rI < rPEs.length) {
      const p = lPEs[lI];
      if (same(p, rPEs[rI])) {
        mergedR.push(p);
        mergeItem(p, getL(p)?.v, getR(p)?.v);
        lI++;
        rI++;
        nextShared = sharedOrder.shift();
        continue;
      }
      if (getR(p) && nextShared && !same(nextShared, p)) {
        lI++;
        continue;
      }
    }
    if (lI < lPEs.length) {
      const p = lPEs[lI];
      if (!getR(p)) {
        mergeItem(p, lhs[lI], undefined);
        lI++;
        continue;
      } else if (mergedR.some((m) => same(m, p))) {
        lI++;
      }
    }
    if (rI < rPEs.length) {
      const p = rPEs[rI];
      mergedR.push(p);
      mergeItem(p, getL(p)?.v, getR(p)?.v);
      rI++;
      if (nextShared && same(nextShared, p)) nextShared = sharedOrder.shift();
    }
  }
  return out;
}

// --- RemoveItems ---

/** Removes the fields in `toRemove` from a value (TypedValue.RemoveItems); emptied maps/lists disappear. */
export function removeItems(ctx: TypedContext, value: unknown, toRemove: FieldSet, ref: SchemaNode | undefined): unknown {
  const a = atomFor(ctx, ref, value);
  if (!fits(a, value) || a.kind === 'scalar') return value;
  if (a.kind === 'list') {
    if (!Array.isArray(value) || value.length === 0 || !a.associative) return value;
    const out: unknown[] = [];
    for (const item of value) {
      const pe = itemPE(a, item);
      if (setHas(toRemove, [pe])) continue;
      const sub = setWithPrefix(toRemove, pe);
      out.push(setEmpty(sub) ? item : removeItems(ctx, item, sub, a.elem));
    }
    return out.length > 0 ? out : undefined;
  }
  if (!isMap(value) || a.atomic || Object.keys(value).length === 0) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const pe: PathElement = { field: k };
    if (setHas(toRemove, [pe])) continue;
    const sub = setWithPrefix(toRemove, pe);
    if (setEmpty(sub)) out[k] = v;
    else {
      const nv = removeItems(ctx, v, sub, fieldType(a, k));
      // Upstream leaves a nil map/list, which Go objects then omit.
      if (nv !== undefined) out[k] = nv;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Adds to a set the struct fields whose children it holds (fieldpath.Set.EnsureNamedFieldsAreMembers). */
export function ensureNamedFieldsAreMembers(ctx: TypedContext, s: FieldSet, ref: SchemaNode | undefined): FieldSet {
  const a = ref === undefined ? undefined : atomFor(ctx, ref, {});
  const out: FieldSet = { members: [...s.members], children: [] };
  for (const c of s.children) {
    let childRef: SchemaNode | undefined;
    if ('field' in c.pe && a?.kind === 'map') {
      if (Object.prototype.hasOwnProperty.call(a.fields, c.pe.field)) {
        setInsert(out, [c.pe]);
        childRef = a.fields[c.pe.field];
      } else childRef = a.elem;
    } else if ('key' in c.pe && a?.kind === 'list') {
      childRef = a.elem;
    }
    out.children.push({ pe: c.pe, set: ensureNamedFieldsAreMembers(ctx, c.set, childRef) });
  }
  return out;
}

// --- Go zero values ---

/**
 * For built-in kinds, fills in the struct fields a Go object always carries
 * (required fields and non-pointer structs), so comparisons see what
 * upstream's typed objects see: e.g. a new Deployment's `spec.template` is
 * not "added" (it exists in the zero value), but `spec.strategy.rollingUpdate`
 * (a pointer) is. The input is not changed; the result shares the parts
 * that needed nothing, so it is for reading only.
 */
export function fillZero(ctx: TypedContext, value: unknown, ref: SchemaNode | undefined): unknown {
  if (!ctx.builtin) return value;
  return fill(ctx, value, ref, 0);
}

function fill(ctx: TypedContext, value: unknown, ref: SchemaNode | undefined, depth: number): unknown {
  if (depth > 64) return value;
  const a = atomFor(ctx, ref, value);
  if (a.kind === 'list') {
    if (!Array.isArray(value) || !isStruct(ctx, a.elem)) return value;
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const f = fill(ctx, value[i], a.elem, depth + 1);
      if (f !== value[i]) (out ??= value.slice())[i] = f;
    }
    return out ?? value;
  }
  if (a.kind !== 'map' || !isMap(value)) return value;
  if (!a.def) {
    // A map (additionalProperties) of structs: fill each value.
    if (a.elem && isStruct(ctx, a.elem)) {
      let out: Record<string, unknown> | undefined;
      for (const k of Object.keys(value)) {
        const f = fill(ctx, value[k], a.elem, depth + 1);
        if (f !== value[k]) (out ??= { ...value })[k] = f;
      }
      return out ?? value;
    }
    return value;
  }
  // Only what the value holds is walked (a struct's schema has many more fields than an object sets); scalars and nulls fill to themselves.
  const plan = fillPlan(ctx, a);
  let out: Record<string, unknown> | undefined;
  for (const k in value) {
    const v = value[k];
    if (v === null || typeof v !== 'object') continue;
    const step = plan.steps.get(k);
    if (!step) continue;
    const f = fill(ctx, v, step.prop, depth + 1);
    if (f !== v) (out ??= { ...value })[k] = f;
  }
  for (const step of plan.present) {
    if (value[step.name] !== undefined) continue;
    (out ??= { ...value })[step.name] = step.struct ? fill(ctx, {}, step.prop, depth + 1) : null;
  }
  return out ?? value;
}

function fillPlan(ctx: TypedContext, a: Atom & { kind: 'map' }): FillPlan {
  const memo = memoOf(ctx).plans;
  let plan = memo.get(a);
  if (!plan) {
    const steps = new Map<string, FillStep>();
    const present: FillStep[] = [];
    for (const [name, prop] of Object.entries(a.fields)) {
      const step = { name, prop, present: alwaysPresent(ctx, a, name, prop), struct: isStruct(ctx, prop) };
      steps.set(name, step);
      if (step.present) present.push(step);
    }
    plan = { steps, present };
    // Only cached atoms are worth a memo entry; value-dependent atoms are built afresh each time anyway.
    memo.set(a, plan);
  }
  return plan;
}

function isStruct(ctx: TypedContext, ref: SchemaNode | undefined): boolean {
  if (ref === undefined) return false;
  const memo = memoOf(ctx).structs;
  let r = memo.get(ref);
  if (r === undefined) {
    const { node, def } = follow(ctx, ref);
    r = !!node && !!node.properties && def !== RAW_EXTENSION;
    memo.set(ref, r);
  }
  return r;
}

function alwaysPresent(ctx: TypedContext, a: Atom & { kind: 'map' }, name: string, prop: SchemaNode): boolean {
  if (a.required.includes(name)) return true;
  if (!isStruct(ctx, prop)) return false;
  const def = follow(ctx, prop).def;
  if (def === OBJECT_META) return true;
  // spec/status beside metadata (kinds and templates) are value structs in Go.
  if ((name === 'spec' || name === 'status') && Object.prototype.hasOwnProperty.call(a.fields, 'metadata')) return true;
  return !!a.def && (VALUE_STRUCTS[a.def]?.includes(name) ?? false);
}

// --- helpers ---

