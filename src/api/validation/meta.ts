/**
 * ObjectMeta validation and the small shared helpers every kind's
 * validation uses (labels, annotations, selectors, immutability), after
 * apimachinery's pkg/api/validation and pkg/apis/meta/v1/validation.
 */
import { field, type FieldError } from '../errors.js';
import { isQualifiedName, nameIsDNSLabel, type NameValidator } from '../names.js';
import { validateLabels as validateLabelMap, validateLabelSelector as validateSelector, type LabelSelectorSpec } from '../labels.js';

/** ValidateLabels (the one home is labels.ts); accepts any decoded value. */
export function validateLabels(labels: unknown, path: string): FieldError[] {
  return labels && typeof labels === 'object' ? validateLabelMap(labels as Record<string, string>, path) : [];
}

/** ValidateLabelSelector (the one home is labels.ts); accepts any decoded value. */
export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  return sel && typeof sel === 'object' ? validateSelector(sel as LabelSelectorSpec, path) : [];
}

/** upstream FieldImmutableErrorMsg. */
export const FIELD_IMMUTABLE = 'field is immutable';
/** upstream IsNegativeErrorMsg. */
export const IS_NEGATIVE = 'must be greater than or equal to 0';
/** upstream TotalAnnotationSizeLimitB: 256 KiB over all keys and values. */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** A loosely typed JSON object as decoded from a request body. */
export type Obj = Record<string, any>;

/** `path[key]`, as upstream's Path.Key renders a map key. */
export function keyPath(path: string, key: string): string {
  return `${path}[${key}]`;
}

/** Deep equality on decoded JSON values (upstream Semantic.DeepEqual, close enough for JSON). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    // upstream treats an unset and an empty pointer/slice/map alike only when both are nil; JSON null ~ absent
    return (a === undefined || a === null) && (b === undefined || b === null);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ao = a as Obj;
  const bo = b as Obj;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!deepEqual(ao[k], bo[k])) return false;
  return true;
}

/** ValidateImmutableField: `Invalid value: <new>: field is immutable` when new differs from old. */
export function validateImmutableField(newVal: unknown, oldVal: unknown, path: string): FieldError[] {
  return deepEqual(newVal, oldVal) ? [] : [field.invalid(path, newVal ?? null, FIELD_IMMUTABLE)];
}

/** ValidateNonnegativeField: `must be greater than or equal to 0`. */
export function validateNonnegative(value: unknown, path: string): FieldError[] {
  return typeof value === 'number' && value < 0 ? [field.invalid(path, value, IS_NEGATIVE)] : [];
}

/** ValidateAnnotations: keys are qualified names (checked lower-cased), total size ≤ 256 KiB. */
export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!annotations || typeof annotations !== 'object') return errs;
  let total = 0;
  for (const [k, v] of Object.entries(annotations as Obj)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(field.invalid(path, k, m));
    total += Buffer.byteLength(k) + Buffer.byteLength(String(v ?? ''));
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(field.tooLong(path, '', TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

/** Does a metav1.LabelSelector select this label set? (an absent selector selects nothing, an empty one everything) */
export function selectorMatches(sel: unknown, labels: unknown): boolean {
  if (!sel || typeof sel !== 'object') return false;
  const s = sel as Obj;
  const l: Obj = labels && typeof labels === 'object' ? (labels as Obj) : {};
  for (const [k, v] of Object.entries((s.matchLabels ?? {}) as Obj)) if (l[k] !== v) return false;
  for (const r of (Array.isArray(s.matchExpressions) ? s.matchExpressions : []) as Obj[]) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const values: unknown[] = r.values ?? [];
    switch (r.operator) {
      case 'In':
        if (!has || !values.includes(l[r.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** True when a selector has no requirements at all. */
export function selectorIsEmpty(sel: unknown): boolean {
  if (!sel || typeof sel !== 'object') return true;
  const s = sel as Obj;
  return Object.keys(s.matchLabels ?? {}).length + (s.matchExpressions ?? []).length === 0;
}

/** Options for validateObjectMeta. */
export interface ObjectMetaOptions {
  /** Whether the resource is namespaced (namespace required) or cluster-scoped (namespace forbidden). */
  namespaced: boolean;
  /** The resource's name rule, from nameValidatorFor(). */
  nameValidator: NameValidator;
}

/** Splits an apiVersion into group and version as schema.ParseGroupVersion/FromAPIVersionAndKind do. */
function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  if (apiVersion.split('/').length > 2) return { group: '', version: '' };
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** ValidateOwnerReferences: required parts, no Event owners, at most one controller. */
export function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(refs)) return errs;
  let firstController = '';
  for (const ref of refs as Obj[]) {
    const apiVersion = String(ref?.apiVersion ?? '');
    const kind = String(ref?.kind ?? '');
    const gv = splitApiVersion(apiVersion);
    if (!gv.version) errs.push(field.invalid(`${path}.apiVersion`, apiVersion, 'version must not be empty'));
    if (!kind) errs.push(field.invalid(`${path}.kind`, kind, 'kind must not be empty'));
    if (!ref?.name) errs.push(field.invalid(`${path}.name`, String(ref?.name ?? ''), 'name must not be empty'));
    if (!ref?.uid) errs.push(field.invalid(`${path}.uid`, String(ref?.uid ?? ''), 'uid must not be empty'));
    if (gv.group === '' && gv.version === 'v1' && kind === 'Event') {
      errs.push(field.invalid(path, ref, '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref?.controller === true) {
      const cur = `${kind}/${ref.name}`;
      if (firstController) {
        errs.push(
          field.invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`),
        );
      } else firstController = cur;
    }
  }
  return errs;
}

/** ValidateFinalizers: qualified names; orphan and foregroundDeletion exclude each other. */
export function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(finalizers)) return errs;
  for (const f of finalizers as string[]) for (const m of isQualifiedName(String(f))) errs.push(field.invalid(path, f, m));
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(field.invalid(path, finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/** ValidateObjectMeta: name/generateName, namespace by scope, generation, labels, annotations, owners, finalizers. */
export function validateObjectMeta(meta: Obj | undefined, opts: ObjectMetaOptions, path = 'metadata'): FieldError[] {
  const m: Obj = meta ?? {};
  const errs: FieldError[] = [];
  const name = typeof m.name === 'string' ? m.name : '';
  const generateName = typeof m.generateName === 'string' ? m.generateName : '';
  const namespace = typeof m.namespace === 'string' ? m.namespace : '';
  if (generateName) for (const msg of opts.nameValidator(generateName, true)) errs.push(field.invalid(`${path}.generateName`, generateName, msg));
  if (!name) errs.push(field.required(`${path}.name`, 'name or generateName is required'));
  else for (const msg of opts.nameValidator(name, false)) errs.push(field.invalid(`${path}.name`, name, msg));
  if (opts.namespaced) {
    if (!namespace) errs.push(field.required(`${path}.namespace`, ''));
    else for (const msg of nameIsDNSLabel(namespace, false)) errs.push(field.invalid(`${path}.namespace`, namespace, msg));
  } else if (namespace) {
    errs.push(field.forbidden(`${path}.namespace`, 'not allowed on this type'));
  }
  errs.push(...validateNonnegative(m.generation, `${path}.generation`));
  errs.push(...validateLabels(m.labels, `${path}.labels`));
  errs.push(...validateAnnotations(m.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(m.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateFinalizers(m.finalizers, `${path}.finalizers`));
  return errs;
}

/** ValidateObjectMetaUpdate: identity and timestamps immutable, generation never decreases, no new finalizers while deleting. */
export function validateObjectMetaUpdate(newMeta: Obj | undefined, oldMeta: Obj | undefined, path = 'metadata'): FieldError[] {
  const n: Obj = newMeta ?? {};
  const o: Obj = oldMeta ?? {};
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) {
    const oldF = new Set<string>(o.finalizers ?? []);
    const extra = [...new Set<string>(n.finalizers ?? [])].filter((f) => !oldF.has(f)).sort();
    if (extra.length > 0) {
      errs.push(
        field.forbidden(
          `${path}.finalizers`,
          `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`,
        ),
      );
    }
  }
  if (!n.resourceVersion) errs.push(field.invalid(`${path}.resourceVersion`, n.resourceVersion ?? '', 'must be specified for an update'));
  if ((n.generation ?? 0) < (o.generation ?? 0)) errs.push(field.invalid(`${path}.generation`, n.generation ?? 0, 'must not be decremented'));
  for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
    // unset and empty string are the same value in Go's typed ObjectMeta
    const nv = n[k] === '' ? undefined : n[k];
    const ov = o[k] === '' ? undefined : o[k];
    errs.push(...validateImmutableField(nv ?? (typeof ov === 'string' ? '' : nv), ov ?? (typeof nv === 'string' ? '' : ov), `${path}.${k}`));
  }
  errs.push(...validateLabels(n.labels, `${path}.labels`));
  errs.push(...validateAnnotations(n.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(n.ownerReferences, `${path}.ownerReferences`));
  return errs;
}
