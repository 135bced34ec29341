/**
 * ControllerRevisions, the history of StatefulSets and DaemonSets (upstream
 * pkg/controller/history and the revision code of both controllers): the
 * revision data is a strategic-merge patch that puts a pod template back
 * (`{"spec":{"template":{"$patch":"replace",…}}}`, as `kubectl rollout undo`
 * applies it), revisions are named `<owner>-<hash>` and labelled
 * `controller-revision-hash`, numbered from 1, and old ones beyond
 * `revisionHistoryLimit` are pruned.
 */
import { isStatus, R, type Client } from '../client/client.js';
import { definitions } from '../api/generated/schema.js';
import { SchemaResolver, refName, type SchemaNode } from '../api/schema.js';
import { jsonEqual, newControllerRef, safeEncodeString, type ObjectLike } from './controllerutil.js';

/** The label naming a revision's hash on revisions and on the pods made from them (upstream ControllerRevisionHashLabelKey). */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';

/** revisionHistoryLimit when a spec leaves it unset (the API default for both kinds). */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

/** The longest owner-name prefix of a revision name (upstream ControllerRevisionName keeps 223 characters). */
const MAX_PREFIX = 223;

const resolver = new SchemaResolver(definitions);

/**
 * Struct-valued fields Go's encoding/json writes even when empty (non-pointer
 * structs ignore `omitempty`), by definition: a re-encoded template carries them,
 * so the revision data does too and compares equal to what kubectl computes.
 */
const ALWAYS_ENCODED: Record<string, Record<string, () => unknown>> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { creationTimestamp: () => null },
  'io.k8s.api.core.v1.PodTemplateSpec': { metadata: () => ({}), spec: () => ({}) },
  'io.k8s.api.core.v1.PersistentVolumeClaimTemplate': { metadata: () => ({}), spec: () => ({}) },
  'io.k8s.api.core.v1.Container': { resources: () => ({}) },
  'io.k8s.api.core.v1.EphemeralContainer': { resources: () => ({}) },
  'io.k8s.api.core.v1.PersistentVolumeClaimSpec': { resources: () => ({}) },
};

/** True for a schema node that is a map (`map[string]T` in Go): additionalProperties and no fixed properties. */
function isMapNode(n: SchemaNode | undefined): boolean {
  return !!n && !n.properties && !!n.additionalProperties && typeof n.additionalProperties === 'object';
}

function isEmptyObject(v: unknown): boolean {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0;
}

/**
 * A JSON value re-shaped as Go's encoding/json would write the typed object
 * after decoding it: keys sorted (Go marshals map[string]interface{} so), and
 * what `omitempty` leaves out dropped — nulls, empty lists, empty maps, empty
 * optional strings — while empty structs stay. Equal templates sent by
 * different clients (one with `resources: {}`, one without) thus give equal
 * revisions, and the data matches kubectl's own `getPatch` byte for byte for
 * ordinary templates (upstream hashes and compares the raw bytes).
 */
function goShape(v: unknown, ref: SchemaNode | undefined): unknown {
  const def = ref?.$ref ? refName(ref.$ref) : undefined;
  const node = resolver.resolve(ref);
  if (Array.isArray(v)) {
    const items = node?.items;
    return v.map((x) => goShape(x, items));
  }
  if (!v || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (!node || (!node.properties && !node.additionalProperties)) {
    // No schema (RawExtension, free-form JSON): only the key order changes.
    for (const k of Object.keys(obj).sort()) if (obj[k] !== undefined) out[k] = goShape(obj[k], undefined);
    return out;
  }
  if (isMapNode(node)) {
    // Map entries are never omitted, whatever their value.
    const values = node.additionalProperties as SchemaNode;
    for (const k of Object.keys(obj).sort()) if (obj[k] !== undefined && obj[k] !== null) out[k] = goShape(obj[k], values);
    return out;
  }
  const always = (def && ALWAYS_ENCODED[def]) || {};
  const required = new Set(node.required ?? []);
  const keys = new Set([...Object.keys(obj), ...Object.keys(always)]);
  for (const k of [...keys].sort()) {
    const prop = node.properties?.[k];
    let val = obj[k];
    if ((val === undefined || val === null) && always[k]) val = always[k]!();
    if (val === undefined) continue;
    if (val === null && !always[k]) continue;
    if (!required.has(k)) {
      if (Array.isArray(val) && val.length === 0) continue;
      if (val === '') continue;
      if (isEmptyObject(val) && isMapNode(resolver.resolve(prop))) continue;
    }
    out[k] = goShape(val, prop);
  }
  return out;
}

const POD_TEMPLATE_SPEC: SchemaNode = { $ref: '#/definitions/io.k8s.api.core.v1.PodTemplateSpec' };

/** A pod template as Go would encode it (see goShape): what revision data holds and DaemonSet hashes cover. */
export function canonicalTemplate(template: unknown): Record<string, unknown> {
  return goShape(template ?? {}, POD_TEMPLATE_SPEC) as Record<string, unknown>;
}

/**
 * The revision data for a pod template (upstream getPatch of both
 * controllers): a strategic-merge patch replacing spec.template, keys in
 * Go's order.
 */
export function templateRevisionData(template: unknown): Record<string, unknown> {
  return { spec: { template: { $patch: 'replace', ...canonicalTemplate(template) } } };
}

/** The pod template a revision restores (what applying its patch to an owner puts at spec.template). */
export function templateFromRevision(revision: ObjectLike & { data?: any }): any {
  const t = revision.data?.spec?.template;
  if (!t || typeof t !== 'object') return undefined;
  const { $patch: _ignored, ...template } = t;
  return structuredClone(template);
}

/** True when two revisions hold the same data (upstream EqualRevision compares the raw patches). */
export function revisionDataEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(a ?? null, b ?? null);
}

/** JSON as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped (they only occur inside strings). */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** 32-bit FNV-1 (multiply, then xor), as Go's hash/fnv New32 that ControllerRevision hashes use. */
function fnv32(bytes: Uint8Array, hash = 0x811c9dc5): number {
  let h = hash;
  for (const b of bytes) {
    h = Math.imul(h, 0x01000193) >>> 0;
    h = (h ^ b) >>> 0;
  }
  return h >>> 0;
}

/**
 * upstream HashControllerRevision: FNV-32 over the raw data, then the
 * collision count in decimal when given, SafeEncodeString of the sum.
 */
export function hashRevisionData(data: unknown, collisionCount?: number): string {
  let h = fnv32(Buffer.from(goJson(data), 'utf8'));
  if (collisionCount !== undefined) h = fnv32(Buffer.from(String(collisionCount), 'utf8'), h);
  return safeEncodeString(String(h));
}

/** upstream ControllerRevisionName: `<prefix>-<hash>` with the prefix cut to 223 characters. */
export function controllerRevisionName(prefix: string, hash: string): string {
  return `${prefix.length > MAX_PREFIX ? prefix.slice(0, MAX_PREFIX) : prefix}-${hash}`;
}

/** What a new revision is made of. */
export interface RevisionSpec {
  /** The owner (StatefulSet or DaemonSet) and its apiVersion/kind for the controller reference. */
  owner: ObjectLike;
  apiVersion: string;
  kind: string;
  data: Record<string, unknown>;
  revision: number;
  /** The hash naming the revision (and its controller-revision-hash label). */
  hash: string;
}

/**
 * upstream NewControllerRevision: labels of the owner's pod template plus the
 * hash label, the owner's annotations (so `kubectl rollout history` shows a
 * change-cause), a controller reference, the data and the revision number.
 */
export function newControllerRevision(s: RevisionSpec): any {
  const md = s.owner.metadata ?? {};
  const metadata: any = {
    name: controllerRevisionName(md.name, s.hash),
    namespace: md.namespace,
    labels: { ...(s.owner.spec?.template?.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: s.hash },
    ownerReferences: [newControllerRef(s.owner, s.apiVersion, s.kind)],
  };
  if (md.annotations && Object.keys(md.annotations).length) metadata.annotations = { ...md.annotations };
  return { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata, data: s.data, revision: s.revision };
}

function created(o: ObjectLike): number {
  const t = Date.parse(o.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** upstream SortControllerRevisions: by revision number, then creation time, then name. */
export function sortRevisions<T extends ObjectLike & { revision?: number }>(revisions: readonly T[]): T[] {
  return [...revisions].sort(
    (a, b) => (a.revision ?? 0) - (b.revision ?? 0) || created(a) - created(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name)),
  );
}

/** The highest revision number among `revisions` (0 when there are none). */
export function maxRevision(revisions: readonly { revision?: number }[]): number {
  let max = 0;
  for (const r of revisions) if ((r.revision ?? 0) > max) max = r.revision ?? 0;
  return max;
}

/**
 * The revisions to delete to keep at most `limit` of `history` (revisions
 * no longer in use), oldest first, skipping those `live` still needs
 * (upstream truncateHistory / cleanupHistory). A negative limit keeps all.
 */
export function revisionsToPrune<T extends ObjectLike & { revision?: number }>(history: readonly T[], limit: number, live: (rev: T) => boolean): T[] {
  let toKill = history.length - limit;
  if (limit < 0 || toKill <= 0) return [];
  const out: T[] = [];
  for (const rev of sortRevisions(history)) {
    if (toKill <= 0) break;
    if (live(rev)) continue;
    out.push(rev);
    toKill--;
  }
  return out;
}

/**
 * upstream realHistory.CreateControllerRevision: creates the revision; when
 * its name is taken by different data, bumps `collision.count` and retries
 * under the next hash. Returns the stored revision (an existing identical one
 * is returned as is).
 */
export async function createControllerRevision(client: Client, s: Omit<RevisionSpec, 'hash'>, collision: { count: number }): Promise<any> {
  const ns = s.owner.metadata?.namespace ?? '';
  const firstHash = hashRevisionData(s.data, collision.count);
  // upstream keeps the hash label of the first attempt; only the name moves on a collision.
  const rev = newControllerRevision({ ...s, hash: firstHash });
  for (let attempt = 0; attempt < 100; attempt++) {
    rev.metadata.name = controllerRevisionName(s.owner.metadata?.name ?? '', hashRevisionData(s.data, collision.count));
    try {
      return await client.create(R.controllerrevisions, ns, rev);
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      const existing = await client.get<any>(R.controllerrevisions, ns, rev.metadata.name);
      if (revisionDataEqual(existing.data, s.data)) return existing;
      collision.count++;
    }
  }
  throw new Error(`no free ControllerRevision name for ${ns}/${s.owner.metadata?.name}`);
}

/** upstream UpdateControllerRevision: sets a revision's number, retrying on conflicts with a fresh copy. */
export async function setRevisionNumber(client: Client, revision: any, n: number): Promise<any> {
  let cur = revision;
  for (let attempt = 0; ; attempt++) {
    if (cur.revision === n) return cur;
    try {
      return await client.update(R.controllerrevisions, cur.metadata.namespace, { ...cur, revision: n });
    } catch (e) {
      if (!isStatus(e, 409) || attempt >= 4) throw e;
      cur = await client.get(R.controllerrevisions, cur.metadata.namespace, cur.metadata.name);
    }
  }
}
