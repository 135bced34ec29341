/**
 * `metadata.managedFields` on the wire and in memory: manager identifiers,
 * decoding/encoding of entries and their order, as upstream's
 * `managedfields/internal/managedfields.go` does it.
 */
import { compareStrings, setFromFieldsV1, setToFieldsV1, type FieldSet } from './fieldpath.js';

/** One `metadata.managedFields` entry (meta/v1 ManagedFieldsEntry). */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: unknown;
  subresource?: string;
}

/** What one manager owns, at which version, and whether by apply. */
export interface VersionedSet {
  set: FieldSet;
  apiVersion: string;
  applied: boolean;
}

/** Decoded managedFields: sets and times keyed by manager identifier. */
export interface Managed {
  fields: Map<string, VersionedSet>;
  times: Map<string, string | undefined>;
}

/** An empty Managed. */
export function emptyManaged(): Managed {
  return { fields: new Map(), times: new Map() };
}

/** A copy whose maps can be changed without touching the original (sets are treated as immutable). */
export function copyManaged(m: Managed): Managed {
  return { fields: new Map(m.fields), times: new Map(m.times) };
}

/**
 * The identifier upstream keys managers by: the entry's JSON without
 * fieldsType, fieldsV1 and time, and without apiVersion for appliers
 * (BuildManagerIdentifier), so an Update at another version or via a
 * subresource is a separate manager.
 */
export function managerIdentifier(e: Pick<ManagedFieldsEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  const o: Record<string, string> = {};
  if (e.manager) o.manager = e.manager;
  if (e.operation) o.operation = e.operation;
  if (e.apiVersion && e.operation !== 'Apply') o.apiVersion = e.apiVersion;
  if (e.subresource) o.subresource = e.subresource;
  return JSON.stringify(o);
}

/** Identifiers parsed so far: a cluster has few managers, and every write encodes its entries again. */
const parsedIdentifiers = new Map<string, Readonly<ManagedFieldsEntry>>();
/** Bound on the memo (cleared when reached), so odd client-chosen names cannot grow it without end. */
const MAX_PARSED_IDENTIFIERS = 1024;

/** Parses an identifier back into its entry fields (a shared object: read it, do not change it). */
export function parseIdentifier(id: string): Readonly<ManagedFieldsEntry> {
  let e = parsedIdentifiers.get(id);
  if (e) return e;
  try {
    const o = JSON.parse(id) as ManagedFieldsEntry;
    e = o !== null && typeof o === 'object' ? o : {};
  } catch {
    e = {};
  }
  if (parsedIdentifiers.size >= MAX_PARSED_IDENTIFIERS) parsedIdentifiers.clear();
  parsedIdentifiers.set(id, Object.freeze(e));
  return e;
}

/** Decodes wire entries; throws on entries upstream rejects (bad operation, apiVersion, fieldsType). */
export function decodeManagedFields(entries: unknown): Managed {
  const m = emptyManaged();
  if (entries === undefined || entries === null) return m;
  if (!Array.isArray(entries)) throw new Error('managedFields must be a list');
  entries.forEach((raw: ManagedFieldsEntry, i) => {
    if (raw === null || typeof raw !== 'object') throw new Error(`invalid managed fields entry ${i}`);
    if (raw.operation !== 'Apply' && raw.operation !== 'Update') throw new Error('operation must be `Apply` or `Update`');
    if (!raw.apiVersion) throw new Error('apiVersion must not be empty');
    if (!raw.fieldsType) throw new Error(`missing fieldsType in managed fields entry ${i}`);
    if (raw.fieldsType !== 'FieldsV1') throw new Error(`invalid fieldsType ${JSON.stringify(raw.fieldsType)} in managed fields entry ${i}`);
    const id = managerIdentifier(raw);
    m.fields.set(id, { set: setFromFieldsV1(raw.fieldsV1 ?? {}), apiVersion: raw.apiVersion, applied: raw.operation === 'Apply' });
    m.times.set(id, raw.time);
  });
  return m;
}

function seconds(t: string | undefined): number {
  if (!t) return 0;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

/** Encodes to wire entries in upstream's order: Apply before Update, then time, manager, apiVersion, subresource. */
export function encodeManagedFields(m: Managed): ManagedFieldsEntry[] | undefined {
  if (m.fields.size === 0) return undefined;
  const out: ManagedFieldsEntry[] = [];
  for (const [id, vs] of m.fields) {
    const base = parseIdentifier(id);
    const e: ManagedFieldsEntry = {};
    if (base.manager) e.manager = base.manager;
    e.operation = vs.applied ? 'Apply' : (base.operation ?? 'Update');
    e.apiVersion = vs.apiVersion;
    const t = m.times.get(id);
    if (t) e.time = t;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = setToFieldsV1(vs.set);
    if (base.subresource) e.subresource = base.subresource;
    out.push(e);
  }
  out.sort(
    (p, q) =>
      compareStrings(p.operation ?? '', q.operation ?? '') ||
      seconds(p.time) - seconds(q.time) ||
      compareStrings(p.manager ?? '', q.manager ?? '') ||
      compareStrings(p.apiVersion ?? '', q.apiVersion ?? '') ||
      compareStrings(p.subresource ?? '', q.subresource ?? ''),
  );
  return out;
}

/** True when a request asks to clear managedFields: `[]` or a single empty entry. */
export function isResetManagedFields(mf: unknown): boolean {
  if (!Array.isArray(mf)) return false;
  if (mf.length === 0) return true;
  return mf.length === 1 && mf[0] !== null && typeof mf[0] === 'object' && Object.keys(mf[0] as object).length === 0;
}
