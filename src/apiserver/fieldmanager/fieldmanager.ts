/**
 * Field management on writes, as upstream's managedfields FieldManager
 * chain does it (versionCheck → lastAppliedUpdater → lastAppliedManager →
 * skipNonApplied → capManagers → buildManagerInfo → managedFieldsUpdater →
 * stripMeta → structuredMerge): attribution of changed fields on
 * create/update/patch, and server-side apply with conflicts.
 */
import { ApiError, errors, field, type FieldError } from '../../api/errors.js';
import type { SchemaNode, SchemaResolver } from '../../api/schema.js';
import {
  newSet,
  pathString,
  setDifference,
  setEmpty,
  setFromPaths,
  setHas,
  setIntersection,
  setIterate,
  setRecursiveDifference,
  setUnion,
  compareStrings,
  goJSON,
  type FieldSet,
  type Path,
} from './fieldpath.js';
import {
  copyManaged,
  decodeManagedFields,
  emptyManaged,
  encodeManagedFields,
  isResetManagedFields,
  managerIdentifier,
  parseIdentifier,
  type Managed,
} from './managed.js';
import {
  TypedError,
  clone,
  compare,
  deepEqual,
  ensureNamedFieldsAreMembers,
  fillZero,
  merge,
  removeItems,
  toFieldSet,
  type Comparison,
  type TypedContext,
} from './typed.js';

/** Upstream's cap on Update entries before the oldest are merged into `ancient-changes` buckets. */
export const MAX_UPDATE_MANAGERS = 10;

/** The manager that existing fields are given to when an object without managedFields is first applied. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

/** The annotation kubectl's client-side apply keeps. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** Upstream's FieldManagerMaxLength. */
export const FIELD_MANAGER_MAX_LENGTH = 128;

/** Options shared by both operations. */
interface CommonOptions {
  manager: string;
  /** RFC 3339 time recorded on entries that change (upstream uses the server clock). */
  time: string;
  resolver: SchemaResolver;
  /** Root schema of the kind, e.g. `{ $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' }`. */
  schema: SchemaNode;
  /**
   * Whether objects are Go-typed built-ins (non-pointer structs always present);
   * defaults to true for `io.k8s.*` definitions, false otherwise (CRDs).
   */
  builtin?: boolean;
  /**
   * Fields this endpoint resets and so never attributes (upstream's
   * ResetFieldsStrategy), as field-name paths, e.g. `[['status']]` for the
   * main resource or `[['spec'], ['metadata', 'labels']]` for /status.
   */
  resetFields?: string[][];
}

/** Options of updateManagedFields. */
export interface UpdateOptions extends CommonOptions {
  /** The stored object; undefined on create. */
  live?: any;
  /** The object about to be stored; its `metadata.managedFields` is rewritten. */
  next: any;
  operation?: 'Update';
  /** `status` or `scale` when the write went to a subresource. */
  subresource?: string;
}

/** Options of applyServerSide. */
export interface ApplyOptions extends CommonOptions {
  /** The stored object; undefined when the apply creates it. */
  live?: any;
  /** The applied configuration (parsed YAML). */
  patch: any;
  force: boolean;
  /** apiVersion/kind of the endpoint; default: the live object's, else the patch's. */
  apiVersion?: string;
  kind?: string;
}

function contextFor(o: CommonOptions): TypedContext {
  const builtin = o.builtin ?? (o.schema.$ref?.startsWith('#/definitions/io.k8s.') ?? false);
  return { resolver: o.resolver, builtin };
}

function resetSet(o: CommonOptions): FieldSet | undefined {
  if (!o.resetFields || o.resetFields.length === 0) return undefined;
  return setFromPaths(o.resetFields.map((p) => p.map((f) => ({ field: f }))));
}

// stripMeta: fields that never belong to any manager.
const STRIP_SET = setFromPaths(
  [['apiVersion'], ['kind'], ['metadata'], ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map((f) => ['metadata', f])].map(
    (p) => p.map((f) => ({ field: f })),
  ),
);

/**
 * The object as the typed machinery sees it: without managedFields. A
 * shallow copy down to metadata is enough (and keeps copying off the write
 * path): compare, fillZero, merge and removeItems never change their inputs.
 */
function withoutManagedFields(obj: any): any {
  if (obj === undefined || obj === null || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  const md = obj.metadata;
  if (!md || typeof md !== 'object' || Array.isArray(md) || md.managedFields === undefined) return obj;
  const { managedFields: _drop, ...rest } = md;
  return { ...obj, metadata: rest };
}

function groupVersionKind(apiVersion: unknown, kind: unknown): string {
  // schema.GroupVersionKind.String(): "<group>/<version>, Kind=<kind>".
  const av = typeof apiVersion === 'string' ? apiVersion : '';
  const i = av.indexOf('/');
  const group = i >= 0 ? av.slice(0, i) : '';
  const version = i >= 0 ? av.slice(i + 1) : av;
  return `${group}/${version}, Kind=${typeof kind === 'string' ? kind : ''}`;
}

/** A conflict: a field another manager owns whose value the apply would change. */
interface Conflict {
  manager: string;
  path: Path;
}

class ConflictsError extends Error {
  constructor(readonly conflicts: Conflict[]) {
    super('conflicts');
  }
}

/** Upstream's printManager: `"kubectl"`, `"x" with subresource "status"`, `"kubectl-create" using apps/v1`. */
function printManager(id: string): string {
  const e = parseIdentifier(id);
  let s = JSON.stringify(e.manager ?? '');
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion ?? ''}`;
  return s;
}

/** The 409 apply-conflict error with upstream's message and FieldManagerConflict causes. */
function conflictError(conflicts: Conflict[]): ApiError {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c.manager)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].manager)}: ${pathString(conflicts[0].path)}`;
  } else {
    const byManager = new Map<string, Path[]>();
    for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.path]);
    const lines: string[] = [];
    for (const m of [...byManager.keys()].sort(compareStrings)) {
      lines.push(`conflicts with ${printManager(m)}:`);
      for (const p of byManager.get(m)!) lines.push(`- ${pathString(p)}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError('Conflict', message, { causes });
}

/** A failure inside the typed machinery, surfaced as upstream surfaces plain errors (500, no reason). */
function internalFailure(prefix: string, e: unknown): ApiError {
  const msg = e instanceof Error ? e.message : String(e);
  return new ApiError('', `${prefix}: ${msg}`, undefined, 500);
}

// --- structured merge core (merge.Updater) ---

interface Core {
  ctx: TypedContext;
  ref: SchemaNode;
  apiVersion: string;
  ignore?: FieldSet;
}

function filtered(core: Core, s: FieldSet): FieldSet {
  return core.ignore ? setRecursiveDifference(s, core.ignore) : s;
}

/** merge.Updater.update: takes changed fields away from other managers; conflicts unless forced. */
function updateManagers(core: Core, liveF: unknown, newF: unknown, managed: Managed, workflow: string, force: boolean): Comparison {
  const raw = compare(core.ctx, liveF, newF, core.ref);
  const cmp: Comparison = { removed: filtered(core, raw.removed), modified: filtered(core, raw.modified), added: filtered(core, raw.added) };
  const changed = setUnion(cmp.modified, cmp.added);
  const conflicts = new Map<string, FieldSet>();
  for (const [m, vs] of managed.fields) {
    if (m === workflow) continue;
    const c = setIntersection(vs.set, changed);
    if (!setEmpty(c)) conflicts.set(m, c);
  }
  if (!force && conflicts.size > 0) {
    const list: Conflict[] = [];
    for (const m of [...conflicts.keys()].sort(compareStrings)) setIterate(conflicts.get(m)!, (p) => list.push({ manager: m, path: p }));
    throw new ConflictsError(list);
  }
  for (const [m, vs] of managed.fields) {
    if (m === workflow) continue;
    let s = vs.set;
    const c = conflicts.get(m);
    if (c) s = setDifference(s, c);
    if (!setEmpty(cmp.removed)) s = setDifference(s, cmp.removed);
    managed.fields.set(m, { ...vs, set: s });
  }
  for (const [m, vs] of [...managed.fields]) if (setEmpty(vs.set)) managed.fields.delete(m);
  return cmp;
}

/** merge.Updater.Update + stripMeta for one manager identifier. */
function coreUpdate(core: Core, live: unknown, next: unknown, managed: Managed, manager: string): void {
  const cmp = updateManagers(core, fillZero(core.ctx, live, core.ref), fillZero(core.ctx, next, core.ref), managed, manager, true);
  const prev = managed.fields.get(manager)?.set ?? newSet();
  let set = setUnion(setUnion(setDifference(prev, cmp.removed), cmp.modified), cmp.added);
  if (core.ignore) set = setRecursiveDifference(set, core.ignore);
  set = setDifference(set, STRIP_SET);
  if (setEmpty(set)) managed.fields.delete(manager);
  else managed.fields.set(manager, { set, apiVersion: core.apiVersion, applied: false });
}

/** managedFieldsUpdater.Update: attribute via a scratch manager, then fold into the real one and stamp time. */
function trackedUpdate(core: Core, live: unknown, next: unknown, managed: Managed, id: string, time: string): void {
  const self = 'current-operation';
  coreUpdate(core, live, next, managed, self);
  const vs = managed.fields.get(self);
  if (vs) {
    managed.fields.delete(self);
    const prev = managed.fields.get(id);
    managed.fields.set(id, prev ? { ...vs, set: setUnion(vs.set, prev.set) } : vs);
    managed.times.set(id, time);
  }
  capUpdateManagers(managed);
}

/** capManagersManager: merge the oldest Update entries into per-version `ancient-changes` buckets. */
function capUpdateManagers(managed: Managed): void {
  // Nearly every write stays under the cap: count before building anything.
  let count = 0;
  for (const vs of managed.fields.values()) if (!vs.applied) count++;
  if (count <= MAX_UPDATE_MANAGERS) return;
  const updaters = [...managed.fields].filter(([, vs]) => !vs.applied).map(([m]) => m);
  const secs = (m: string) => {
    const t = managed.times.get(m);
    const ms = t ? Date.parse(t) : NaN;
    return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
  };
  updaters.sort((a, b) => secs(a) - secs(b) || compareStrings(a, b));
  const firstOfVersion = new Map<string, string>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > MAX_UPDATE_MANAGERS; i++) {
    const m = updaters[i];
    const vs = managed.fields.get(m)!;
    const time = managed.times.get(m);
    const bucket = managerIdentifier({ manager: 'ancient-changes', operation: 'Update', apiVersion: vs.apiVersion });
    const first = firstOfVersion.get(vs.apiVersion);
    if (first === undefined) {
      firstOfVersion.set(vs.apiVersion, m);
      continue;
    }
    if (!managed.fields.has(bucket)) {
      const s = managed.fields.get(first)!;
      managed.fields.delete(first);
      managed.fields.set(bucket, s);
    }
    managed.fields.set(bucket, { ...vs, set: setUnion(vs.set, managed.fields.get(bucket)!.set) });
    managed.fields.delete(m);
    length--;
    managed.times.set(bucket, time);
  }
}

function decodeOrEmpty(mf: unknown): Managed {
  try {
    return decodeManagedFields(mf);
  } catch {
    return emptyManaged();
  }
}

/**
 * Records in `next.metadata.managedFields` who changed what on a create,
 * update or non-apply patch: fields that differ from `live` go to `manager`
 * (operation Update) and are taken from other managers; empty entries are
 * dropped. As upstream, an existing object without managedFields stays
 * untracked until its first apply, and clients may set or reset
 * (`managedFields: []`) the entries on the main resource.
 */
export function updateManagedFields(opts: UpdateOptions): void {
  const { live, next } = opts;
  if (!next || typeof next !== 'object') return;
  const subresource = opts.subresource ?? '';
  if (subresource === 'binding') {
    // upstream BindingREST.assignPod writes the pod to storage directly, past the field manager: a binding attributes nothing.
    if (next.metadata && typeof next.metadata === 'object') {
      const kept = live?.metadata?.managedFields;
      if (kept === undefined) delete next.metadata.managedFields;
      else next.metadata.managedFields = kept;
    }
    return;
  }
  const ctx = contextFor(opts);
  const apiVersion: string = next.apiVersion ?? live?.apiVersion ?? '';
  // decodeLiveOrNew: subresource writes cannot touch managedFields; main-resource writes may set or reset them.
  let managed: Managed;
  const requested = next.metadata?.managedFields;
  if (subresource) managed = decodeOrEmpty(live?.metadata?.managedFields);
  else if (isResetManagedFields(requested)) managed = emptyManaged();
  else {
    let fromNew: Managed | undefined;
    try {
      fromNew = decodeManagedFields(requested);
    } catch {
      fromNew = undefined;
    }
    managed = fromNew && fromNew.fields.size > 0 ? fromNew : decodeOrEmpty(live?.metadata?.managedFields);
  }
  if (next.metadata && typeof next.metadata === 'object') delete next.metadata.managedFields;
  // skipNonAppliedManager: an existing object without managedFields is not tracked until it is applied.
  if (managed.fields.size === 0 && live !== undefined) return;
  const core: Core = { ctx, ref: opts.schema, apiVersion, ignore: resetSet(opts) };
  const id = managerIdentifier({ manager: opts.manager || 'unknown', operation: 'Update', apiVersion, subresource });
  const work = copyManaged(managed);
  try {
    trackedUpdate(core, withoutManagedFields(live) ?? {}, withoutManagedFields(next), work, id, opts.time);
  } catch (e) {
    // UpdateNoErrors: keep the live entries rather than fail the write.
    if (!(e instanceof TypedError)) throw e;
    const kept = live?.metadata?.managedFields;
    if (kept !== undefined && next.metadata) next.metadata.managedFields = clone(kept);
    return;
  }
  const encoded = encodeManagedFields(work);
  if (encoded) {
    next.metadata ??= {};
    next.metadata.managedFields = encoded;
  }
}

/** Rejects an apply patch whose apiVersion/kind is not the endpoint's or that carries managedFields (400). */
export function validateApplyPatch(patch: any, target: { apiVersion: string; kind: string }): void {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw errors.badRequest(`invalid object type: ${groupVersionKind(undefined, undefined)}`);
  }
  if (patch.apiVersion !== target.apiVersion || patch.kind !== target.kind) {
    throw errors.badRequest(`invalid object type: ${groupVersionKind(patch.apiVersion, patch.kind)}`);
  }
  const mf = patch.metadata?.managedFields;
  if (mf !== undefined && mf !== null) throw errors.badRequest('metadata.managedFields must be nil');
}

/**
 * Validates PatchOptions' fieldManager/force as upstream does: apply needs a
 * fieldManager, force is only for apply, names are at most 128 printable
 * characters. Throws 422 `PatchOptions.meta.k8s.io "" is invalid: ...`.
 */
export function validatePatchOptions(opts: { apply: boolean; fieldManager?: string; force?: boolean | string }): void {
  const errs: FieldError[] = [];
  const fm = opts.fieldManager ?? '';
  if (!opts.apply) {
    if (opts.force !== undefined) errs.push(field.forbidden('force', 'may not be specified for non-apply patch'));
  } else if (fm === '') {
    // kubectl defaults this to "kubectl", but controllers must set it explicitly.
    errs.push(field.required('fieldManager', 'is required for apply patch'));
  }
  errs.push(...fieldManagerErrors(fm));
  if (errs.length > 0) throw errors.invalid('meta.k8s.io', 'PatchOptions', '', errs);
}

/** Validates a fieldManager query value on create/update (length and printable characters). */
export function validateFieldManager(fieldManager: string | undefined, optionsKind = 'CreateOptions'): void {
  const errs = fieldManagerErrors(fieldManager ?? '');
  if (errs.length > 0) throw errors.invalid('meta.k8s.io', optionsKind, '', errs);
}

function fieldManagerErrors(fm: string): FieldError[] {
  const errs: FieldError[] = [];
  if (Buffer.byteLength(fm, 'utf8') > FIELD_MANAGER_MAX_LENGTH) errs.push(field.tooLong('fieldManager', fm, FIELD_MANAGER_MAX_LENGTH));
  let pos = 0;
  for (const ch of fm) {
    if (!isPrintable(ch)) {
      const cp = ch.codePointAt(0)!;
      const hex = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
      errs.push(field.invalid('fieldManager', fm, `invalid character ${hex} (at position ${pos})`));
    }
    pos += Buffer.byteLength(ch, 'utf8');
  }
  return errs;
}

function isPrintable(ch: string): boolean {
  // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
  return ch === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch);
}

/**
 * Upstream's default manager for writes without `fieldManager`: the
 * User-Agent up to its first `/`, printable characters only, at most 128
 * bytes (`kubectl/v1.32.4 (linux/amd64) kubernetes/abc` → `kubectl`).
 */
export function managerFromUserAgent(ua: string): string {
  const head = ua.split('/')[0];
  let out = '';
  let bytes = 0;
  for (const ch of head) {
    if (!isPrintable(ch)) continue;
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > FIELD_MANAGER_MAX_LENGTH) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** The manager name for a non-apply write: the fieldManager option, else derived from the User-Agent. */
export function managerOrUserAgent(fieldManager: string | undefined, userAgent: string | undefined): string {
  return fieldManager ? fieldManager : managerFromUserAgent(userAgent ?? '');
}

// --- apply ---

/** structuredMergeManager.Apply + stripMeta + managedFieldsUpdater for the identifier `id`. */
function coreApply(core: Core, live: any, patch: any, managed: Managed, id: string, force: boolean, time: string): { object: any; changed: boolean } {
  const { ctx, ref } = core;
  let merged: unknown;
  let configSet: FieldSet;
  try {
    merged = merge(ctx, live, patch, ref);
    configSet = toFieldSet(ctx, patch, ref);
  } catch (e) {
    if (e instanceof TypedError) throw internalFailure('failed to create typed patch object', e);
    throw e;
  }
  const lastSet = managed.fields.get(id);
  managed.fields.set(id, { set: core.ignore ? setRecursiveDifference(configSet, core.ignore) : configSet, apiVersion: core.apiVersion, applied: true });
  merged = prune(core, merged, managed, id, lastSet?.set);
  updateManagers(core, fillZero(ctx, live, ref), fillZero(ctx, merged, ref), managed, id, force);
  const mine = managed.fields.get(id);
  if (mine) {
    const s = setDifference(mine.set, STRIP_SET);
    if (setEmpty(s)) managed.fields.delete(id);
    else managed.fields.set(id, { ...mine, set: s });
  }
  const changed = !deepEqual(live, merged);
  if (changed) managed.times.set(id, time);
  return { object: changed ? merged : clone(live), changed };
}

/** Updater.prune: drop what this applier applied last time but not now, unless someone else owns it. */
function prune(core: Core, merged: unknown, managed: Managed, id: string, lastSet: FieldSet | undefined): unknown {
  if (!lastSet || setEmpty(lastSet)) return merged;
  const { ctx, ref } = core;
  const ensure = (s: FieldSet) => ensureNamedFieldsAreMembers(ctx, s, ref);
  let pruned = removeItems(ctx, merged, ensure(lastSet), ref);
  // addBackOwnedItems: anything still owned by any manager (including this apply) comes back.
  let owned = newSet();
  for (const vs of managed.fields.values()) owned = setUnion(owned, vs.set);
  const mergedSet = ensure(toFieldSet(ctx, merged, ref));
  pruned = removeItems(ctx, merged, setDifference(mergedSet, setUnion(ensure(toFieldSet(ctx, pruned, ref)), ensure(owned))), ref);
  // addBackDanglingItems: only remove what this applier really had.
  const prunedSet = ensure(toFieldSet(ctx, pruned, ref));
  return removeItems(ctx, merged, setIntersection(setDifference(mergedSet, prunedSet), ensure(lastSet)), ref) ?? {};
}

/** lastAppliedManager: fields whose live value still matches kubectl's last-applied annotation. */
function allowedFromLastApplied(core: Core, live: any): FieldSet | undefined {
  const raw = live?.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
  if (typeof raw !== 'string' || raw === '') return undefined;
  let last: any;
  try {
    last = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!last || typeof last !== 'object' || last.apiVersion !== core.apiVersion) return undefined;
  try {
    const set = toFieldSet(core.ctx, last, core.ref);
    const cmp = compare(core.ctx, last, fillZero(core.ctx, live, core.ref), core.ref);
    return setDifference(setDifference(setDifference(set, cmp.modified), cmp.added), cmp.removed);
  } catch {
    return undefined;
  }
}

/** buildLastApplied: the applied object without the annotation, as Go's JSON encoder writes it. */
function buildLastApplied(patch: any): string {
  const c = clone(patch);
  const ann = c?.metadata?.annotations;
  if (ann && typeof ann === 'object') delete ann[LAST_APPLIED_ANNOTATION];
  return goJSONLine(c);
}

function goJSONLine(v: unknown): string {
  return goJSON(v) + '\n';
}


/**
 * Server-side apply: merges the applied configuration into `live` (or an
 * empty object on create) and returns the new object with managedFields
 * updated (operation Apply). Fields the manager applied before but omits now
 * are removed unless another manager owns them. Another manager's field
 * whose value would change is a 409 conflict unless `force`, which moves
 * ownership to the applier. When nothing changes the result deep-equals
 * `live` (see `deepEqual`), so the caller can skip the write.
 */
export function applyServerSide(opts: ApplyOptions): any {
  const { patch, manager, force } = opts;
  const apiVersion = opts.apiVersion ?? opts.live?.apiVersion ?? patch?.apiVersion;
  const kind = opts.kind ?? opts.live?.kind ?? patch?.kind;
  validateApplyPatch(patch, { apiVersion, kind });
  let managed: Managed;
  try {
    managed = decodeManagedFields(opts.live?.metadata?.managedFields);
  } catch (e) {
    throw internalFailure('failed to decode managed fields', e);
  }
  const ctx = contextFor(opts);
  const core: Core = { ctx, ref: opts.schema, apiVersion, ignore: resetSet(opts) };
  const live = withoutManagedFields(opts.live) ?? {};
  const id = managerIdentifier({ manager: manager || 'unknown', operation: 'Apply', apiVersion });

  const attempt = (forced: boolean): { object: any; managed: Managed } => {
    const work = copyManaged(managed);
    if (work.fields.size === 0) {
      // skipNonAppliedManager: give what exists to "before-first-apply" so the applier does not silently own it.
      const zero = ctx.builtin ? {} : { apiVersion, kind };
      const bfa = managerIdentifier({ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion });
      trackedUpdate(core, zero, live, work, bfa, opts.time);
    }
    const r = coreApply(core, live, patch, work, id, forced, opts.time);
    return { object: r.object, managed: work };
  };

  let result: { object: any; managed: Managed };
  try {
    result = attempt(force);
  } catch (e) {
    if (!(e instanceof ConflictsError)) {
      if (e instanceof TypedError) throw internalFailure('failed to update managed fields', e);
      throw e;
    }
    // lastAppliedManager: `kubectl` upgrading from client-side apply may take fields whose value matches last-applied.
    const allowed = manager === 'kubectl' ? allowedFromLastApplied(core, live) : undefined;
    if (!allowed) throw conflictError(e.conflicts);
    const remaining = e.conflicts.filter((c) => !setHas(allowed, c.path));
    if (remaining.length > 0) throw conflictError(remaining);
    result = attempt(true);
  }

  const out = result.object ?? {};
  const encoded = encodeManagedFields(result.managed);
  out.metadata ??= {};
  if (encoded) out.metadata.managedFields = encoded;
  else delete out.metadata.managedFields;
  // lastAppliedUpdater: keep kubectl's client-side annotation in step when kubectl applies server-side.
  if (manager === 'kubectl' && typeof out.metadata.annotations?.[LAST_APPLIED_ANNOTATION] === 'string' && out.metadata.annotations[LAST_APPLIED_ANNOTATION] !== '') {
    out.metadata.annotations[LAST_APPLIED_ANNOTATION] = buildLastApplied(patch);
  }
  if (opts.live === undefined && Object.keys(out.metadata).length === 0) delete out.metadata;
  return out;
}

export { deepEqual };
