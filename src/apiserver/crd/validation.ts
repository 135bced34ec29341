/**
 * CustomResourceDefinition validation and defaulting (apiextensions
 * pkg/apis/apiextensions/validation/validation.go, v1/defaults.go).
 *
 * Upstream validates the internal type, into which a v1 CRD converts with
 * per-version schemas, subresources, printer columns and selectable fields
 * that are identical across all versions moved to the top level; errors about
 * them therefore read `spec.validation.openAPIV3Schema...`,
 * `spec.subresources...` and `spec.additionalPrinterColumns[i]...` for such
 * CRDs (e.g. every single-version CRD), and `spec.versions[i]...` otherwise.
 * That is reproduced here. CEL rules in x-kubernetes-validations are checked
 * for shape only, not compiled.
 */
import { field, type FieldError } from '../../api/errors.js';
import { isDNS1035Label, isDNS1123Subdomain, isValidPortNum, nameIsDNSSubdomain } from '../../api/names.js';
import { validateAgainstSchema } from './openapi-validate.js';
import { pruneValue } from './prune.js';
import { additionalSchema, itemSchema, key, structuralConversionError, validateStructural } from './structural.js';
import type { CRD, CRDConversion, CRDNames, CRDVersion, JSONSchemaProps, PrinterColumn, Subresources } from './types.js';
import { deepCopy, deepEqual, isObject } from './util.js';

const PRINTER_COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];
const COLUMN_FORMATS = ['byte', 'date', 'date-time', 'double', 'float', 'int32', 'int64', 'password'];
const OPENAPI_V3_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const META_FIELDS = new Set(['metadata', 'kind', 'apiVersion']);
const ALLOWED_AT_ROOT_WITH_STATUS = [
  'Description', 'Type', 'Format', 'Title', 'Maximum', 'ExclusiveMaximum', 'Minimum', 'ExclusiveMinimum', 'MaxLength',
  'MinLength', 'Pattern', 'MaxItems', 'MinItems', 'UniqueItems', 'MultipleOf', 'Required', 'Items', 'Properties',
  'ExternalDocs', 'Example', 'XPreserveUnknownFields', 'XValidations',
];
/** JSON names of internal JSONSchemaProps fields, in the struct's declaration order. */
const SCHEMA_FIELDS: [json: string, goName: string][] = [
  ['id', 'ID'], ['$schema', 'Schema'], ['$ref', 'Ref'], ['description', 'Description'], ['type', 'Type'], ['nullable', 'Nullable'],
  ['format', 'Format'], ['title', 'Title'], ['default', 'Default'], ['maximum', 'Maximum'], ['exclusiveMaximum', 'ExclusiveMaximum'],
  ['minimum', 'Minimum'], ['exclusiveMinimum', 'ExclusiveMinimum'], ['maxLength', 'MaxLength'], ['minLength', 'MinLength'],
  ['pattern', 'Pattern'], ['maxItems', 'MaxItems'], ['minItems', 'MinItems'], ['uniqueItems', 'UniqueItems'], ['multipleOf', 'MultipleOf'],
  ['enum', 'Enum'], ['maxProperties', 'MaxProperties'], ['minProperties', 'MinProperties'], ['required', 'Required'], ['items', 'Items'],
  ['allOf', 'AllOf'], ['oneOf', 'OneOf'], ['anyOf', 'AnyOf'], ['not', 'Not'], ['properties', 'Properties'],
  ['additionalProperties', 'AdditionalProperties'], ['patternProperties', 'PatternProperties'], ['dependencies', 'Dependencies'],
  ['additionalItems', 'AdditionalItems'], ['definitions', 'Definitions'], ['externalDocs', 'ExternalDocs'], ['example', 'Example'],
  ['x-kubernetes-preserve-unknown-fields', 'XPreserveUnknownFields'], ['x-kubernetes-embedded-resource', 'XEmbeddedResource'],
  ['x-kubernetes-int-or-string', 'XIntOrString'], ['x-kubernetes-list-map-keys', 'XListMapKeys'], ['x-kubernetes-list-type', 'XListType'],
  ['x-kubernetes-map-type', 'XMapType'], ['x-kubernetes-validations', 'XValidations'],
];
const VALIDATION_REASONS = ['FieldValueDuplicate', 'FieldValueForbidden', 'FieldValueInvalid', 'FieldValueRequired'];

/** Options that vary between create and update (upstream validationOptions, the parts that apply here). */
interface Opts {
  requireImmutableNames: boolean;
  requireStructuralSchema: boolean;
  requireValidPropertyType: boolean;
  requirePrunedDefaults: boolean;
  requireAtomicSetType: boolean;
  requireMapListKeysMapSetValidation: boolean;
  requireOpenAPISchema: boolean;
  requireRecognizedConversionReviewVersion: boolean;
}

/** The v1 spec after upstream's conversion to the internal type: identical per-version parts lifted to the top. */
interface InternalSpec {
  validation?: { openAPIV3Schema?: JSONSchemaProps };
  subresources?: Subresources;
  columns?: PrinterColumn[];
  selectableFields?: { jsonPath?: string }[];
  versions: { v: CRDVersion; schema?: { openAPIV3Schema?: JSONSchemaProps }; subresources?: Subresources; columns?: PrinterColumn[]; selectableFields?: { jsonPath?: string }[] }[];
}

function toInternal(versions: CRDVersion[]): InternalSpec {
  const same = <T>(get: (v: CRDVersion) => T) => versions.every((v) => deepEqual(get(v), get(versions[0]!)));
  const schemaSame = versions.length > 0 && same((v) => v.schema);
  const subSame = versions.length > 0 && same((v) => v.subresources);
  const colSame = versions.length > 0 && same((v) => v.additionalPrinterColumns ?? []);
  const selSame = versions.length > 0 && same((v) => v.selectableFields ?? []);
  const first = versions[0];
  return {
    validation: schemaSame ? first?.schema : undefined,
    subresources: subSame ? first?.subresources : undefined,
    columns: colSame ? first?.additionalPrinterColumns : undefined,
    selectableFields: selSame ? first?.selectableFields : undefined,
    versions: versions.map((v) => ({
      v,
      schema: schemaSame ? undefined : v.schema,
      subresources: subSame ? undefined : v.subresources,
      columns: colSame ? undefined : v.additionalPrinterColumns,
      selectableFields: selSame ? undefined : v.selectableFields,
    })),
  };
}

/** Visits every schema node (items, allOf/anyOf/oneOf/not, properties, additionalProperties, ...) until `pred` holds. */
function schemaHas(s: JSONSchemaProps | undefined, pred: (s: JSONSchemaProps) => boolean): boolean {
  if (!s || typeof s !== "object") return false;
  if (pred(s)) return true;
  const subs: (JSONSchemaProps | undefined)[] = [
    ...(Array.isArray(s.items) ? s.items : [s.items]),
    ...(s.allOf ?? []),
    ...(s.anyOf ?? []),
    ...(s.oneOf ?? []),
    s.not,
    ...Object.values(s.properties ?? {}),
    additionalSchema(s),
    ...Object.values(s.patternProperties ?? {}),
    isObject(s.additionalItems) ? (s.additionalItems as JSONSchemaProps) : undefined,
    ...Object.values(s.definitions ?? {}),
    ...Object.values(s.dependencies ?? {}).map((d) => (Array.isArray(d) ? undefined : d)),
  ];
  return subs.some((x) => schemaHas(x, pred));
}

function allSchemas(spec: InternalSpec): JSONSchemaProps[] {
  const out: JSONSchemaProps[] = [];
  if (spec.validation?.openAPIV3Schema) out.push(spec.validation.openAPIV3Schema);
  for (const v of spec.versions) if (v.schema?.openAPIV3Schema) out.push(v.schema.openAPIV3Schema);
  return out;
}

const hasDefault = (s: JSONSchemaProps) => s.default !== undefined && s.default !== null;

/**
 * Validates a CustomResourceDefinition (apiextensions.k8s.io/v1) the way
 * upstream does on create, or on update when `old` is given (then scope and
 * kind are immutable once the CRD is Established, group and plural always;
 * checks the old object already failed are relaxed as upstream relaxes them).
 * Validates metadata.name but not the rest of ObjectMeta (the generic store does).
 */
export function validateCRD(crd: CRD, old?: CRD): FieldError[] {
  const spec = crd.spec ?? {};
  const versions = Array.isArray(spec.versions) ? spec.versions : [];
  const internal = toInternal(versions);
  const oldInternal = old ? toInternal(Array.isArray(old.spec?.versions) ? old.spec!.versions! : []) : undefined;
  const oldHas = (pred: (s: JSONSchemaProps) => boolean) => !!oldInternal && allSchemas(oldInternal).some((s) => schemaHas(s, pred));
  const opts: Opts = {
    requireImmutableNames: !!old && (old.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True'),
    requireStructuralSchema: !oldInternal || !allSchemas(oldInternal).some((s) => structuralConversionError(s) !== undefined || validateStructural(s, '').length > 0),
    requireValidPropertyType: !oldHas((s) => !!s.type && !OPENAPI_V3_TYPES.includes(s.type)),
    requirePrunedDefaults: true,
    requireAtomicSetType: !oldHas(hasNonAtomicSetType),
    requireMapListKeysMapSetValidation: !oldHas((s) => mapListKeysMapSet(s, '').length > 0),
    requireOpenAPISchema: !oldInternal || !!oldInternal.validation?.openAPIV3Schema || oldInternal.versions.every((v) => !!v.schema?.openAPIV3Schema),
    requireRecognizedConversionReviewVersion: !old || hasValidConversionReviewVersionOrEmpty(old.spec?.conversion?.webhook?.conversionReviewVersions),
  };

  const errs: FieldError[] = [];
  // On update the generic ObjectMeta update rules (name immutable, ...) apply instead; the caller runs them.
  if (!old) errs.push(...validateCRDName(crd));
  errs.push(...validateSpec(crd, internal, opts));
  if (old) {
    const o = old.spec ?? {};
    if (opts.requireImmutableNames) {
      if (spec.scope !== o.scope) errs.push(field.invalid('spec.scope', spec.scope ?? '', 'field is immutable'));
      if (spec.names?.kind !== o.names?.kind) errs.push(field.invalid('spec.names.kind', spec.names?.kind ?? '', 'field is immutable'));
    }
    if (spec.group !== o.group) errs.push(field.invalid('spec.group', spec.group ?? '', 'field is immutable'));
    if (spec.names?.plural !== o.names?.plural) errs.push(field.invalid('spec.names.plural', spec.names?.plural ?? '', 'field is immutable'));
  }
  errs.push(...validateNames(crd.status?.acceptedNames ?? {}, 'status.acceptedNames'));
  errs.push(...validateStoredVersions(crd.status?.storedVersions ?? [], versions));
  errs.push(...validateAPIApproval(crd, old));
  if (!(old?.spec?.preserveUnknownFields === true) && spec.preserveUnknownFields === true) {
    errs.push(field.invalid('spec.preserveUnknownFields', true, 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead'));
  }
  return errs;
}

/** metadata.name: a DNS subdomain equal to `<plural>.<group>` (ValidateObjectMeta with the CRD's name function). */
function validateCRDName(crd: CRD): FieldError[] {
  const errs: FieldError[] = [];
  const required = `${crd.spec?.names?.plural ?? ''}.${crd.spec?.group ?? ''}`;
  const nameFn = (n: string, prefix: boolean) => {
    const out = nameIsDNSSubdomain(n, prefix);
    if (n !== required) out.push('must be spec.names.plural+"."+spec.group');
    return out;
  };
  const { name, generateName } = crd.metadata ?? {};
  if (generateName) for (const m of nameFn(generateName, true)) errs.push(field.invalid('metadata.generateName', generateName, m));
  if (!name) errs.push(field.required('metadata.name', 'name or generateName is required'));
  else for (const m of nameFn(name, false)) errs.push(field.invalid('metadata.name', name, m));
  if (crd.metadata?.namespace) errs.push(field.forbidden('metadata.namespace', 'not allowed on this type'));
  return errs;
}

function validateSpec(crd: CRD, internal: InternalSpec, optsIn: Opts): FieldError[] {
  const spec = crd.spec ?? {};
  const errs: FieldError[] = [];
  const opts = { ...optsIn };
  const group = spec.group ?? '';
  if (!group) errs.push(field.required('spec.group'));
  else {
    const e = isDNS1123Subdomain(group);
    if (e.length > 0) errs.push(field.invalid('spec.group', group, e.join(',')));
    else if (group.split('.').length < 2) errs.push(field.invalid('spec.group', group, 'should be a domain with at least one dot'));
  }
  errs.push(...validateEnum('spec.scope', spec.scope ?? '', ['Cluster', 'Namespaced'], true));

  const preserveUnknown = spec.preserveUnknownFields === true;
  if (!preserveUnknown) opts.requireStructuralSchema = true;
  if (opts.requireOpenAPISchema) {
    if (!internal.validation?.openAPIV3Schema) {
      internal.versions.forEach((v, i) => {
        if (!v.schema?.openAPIV3Schema) errs.push(field.required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
      });
    }
  } else if (!preserveUnknown && !internal.validation?.openAPIV3Schema) {
    internal.versions.forEach((v, i) => {
      if (v.v.served && !v.schema?.openAPIV3Schema) errs.push(field.required(`spec.versions[${i}].schema.openAPIV3Schema`, 'because otherwise all fields are pruned'));
    });
  }
  const schemas = allSchemas(internal);
  if (schemas.some((s) => schemaHas(s, hasDefault))) {
    opts.requireStructuralSchema = true;
    if (preserveUnknown) errs.push(field.invalid('spec.preserveUnknownFields', true, 'must be false in order to use defaults in the schema'));
  }

  let storageCount = 0;
  const seen = new Set<string>();
  let unique = true;
  const anyStatus = !!internal.subresources?.status || internal.versions.some((v) => !!v.subresources?.status);
  internal.versions.forEach((iv, i) => {
    const v = iv.v;
    const p = `spec.versions[${i}]`;
    if (v.storage) storageCount++;
    if (seen.has(v.name ?? '')) unique = false;
    seen.add(v.name ?? '');
    const e = isDNS1035Label(v.name ?? '');
    if (e.length > 0) errs.push(field.invalid(`${p}.name`, v.name ?? '', e.join(',')));
    const subresources = internal.versions.some((x) => x.subresources) ? iv.subresources : internal.subresources;
    for (const m of deprecationWarningErrors(!!v.deprecated, v.deprecationWarning)) errs.push(field.invalid(`${p}.deprecationWarning`, v.deprecationWarning ?? '', m));
    errs.push(...validateSchema(iv.schema, !!subresources?.status, opts, `${p}.schema`));
    errs.push(...validateSubresources(iv.subresources, `${p}.subresources`));
    (iv.columns ?? []).forEach((c, j) => errs.push(...validateColumn(c, `${p}.additionalPrinterColumns[${j}]`)));
    if ((iv.selectableFields ?? []).length > 0) {
      if (!iv.schema?.openAPIV3Schema) {
        errs.push(field.invalid(`${p}.selectableFields`, '', 'selectableFields may only be set when version.schema.openAPIV3Schema is not included'));
      } else errs.push(...validateSelectableFields(iv.selectableFields!, iv.schema.openAPIV3Schema, `${p}.selectableFields`));
    }
  });
  if (!unique) errs.push(field.invalid('spec.versions', spec.versions ?? [], 'must contain unique version names'));
  if (storageCount !== 1) errs.push(field.invalid('spec.versions', spec.versions ?? [], 'must have exactly one version marked as storage version'));
  const version = internal.versions[0]?.v.name ?? '';
  if (version) {
    const e = isDNS1035Label(version);
    if (e.length > 0) errs.push(field.invalid('spec.version', version, e.join(',')));
  }

  const names = spec.names ?? {};
  if (!names.plural) errs.push(field.required('spec.names.plural'));
  if (!names.singular) errs.push(field.required('spec.names.singular'));
  if (!names.kind) errs.push(field.required('spec.names.kind'));
  if (!names.listKind) errs.push(field.required('spec.names.listKind'));
  errs.push(...validateNames(names, 'spec.names'));
  errs.push(...validateSchema(internal.validation, anyStatus, opts, 'spec.validation'));
  errs.push(...validateSubresources(internal.subresources, 'spec.subresources'));
  (internal.columns ?? []).forEach((c, j) => errs.push(...validateColumn(c, `spec.additionalPrinterColumns[${j}]`)));
  if ((internal.selectableFields ?? []).length > 0) {
    if (!internal.validation?.openAPIV3Schema) {
      errs.push(field.invalid('spec.selectableFields', '', 'selectableFields may only be set when validations.schema is included'));
    } else errs.push(...validateSelectableFields(internal.selectableFields!, internal.validation.openAPIV3Schema, 'spec.selectableFields'));
  }
  const conv = spec.conversion;
  if (conv && conv.strategy !== 'None' && preserveUnknown) {
    errs.push(field.invalid('spec.conversion.strategy', conv.strategy ?? '', 'must be None if spec.preserveUnknownFields is true'));
  }
  errs.push(...validateConversion(conv, opts.requireRecognizedConversionReviewVersion));
  return errs;
}

function validateEnum(p: string, value: string, accepted: string[], required: boolean): FieldError[] {
  if (!value) return required ? [field.required(p)] : [];
  return accepted.includes(value) ? [] : [field.notSupported(p, value, accepted)];
}

function deprecationWarningErrors(deprecated: boolean, w: string | undefined): string[] {
  if (!deprecated && w !== undefined) return ['can only be set for deprecated versions'];
  if (w === undefined) return [];
  const out: string[] = [];
  if (Buffer.byteLength(w) > 256) out.push('must be <= 256 characters long');
  if (w.length === 0) out.push('must not be an empty string');
  let byteIndex = 0;
  for (const ch of w) {
    if (/\p{Cc}/u.test(ch)) {
      out.push(`must only contain printable UTF-8 characters; control character found at index ${byteIndex}`);
      break;
    }
    if (!/[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(ch)) {
      out.push(`must only contain printable UTF-8 characters; non-printable character found at index ${byteIndex}`);
      break;
    }
    byteIndex += Buffer.byteLength(ch);
  }
  return out;
}

/** ValidateCustomResourceDefinitionNames. */
function validateNames(names: CRDNames, p: string): FieldError[] {
  const errs: FieldError[] = [];
  const label = (v: string | undefined, f: string, mixed: boolean) => {
    if (!v) return;
    const e = isDNS1035Label(mixed ? v.toLowerCase() : v);
    if (e.length > 0) errs.push(field.invalid(`${p}.${f}`, v, mixed ? `may have mixed case, but should otherwise match: ${e.join(',')}` : e.join(',')));
  };
  label(names.plural, 'plural', false);
  label(names.singular, 'singular', false);
  label(names.kind, 'kind', true);
  label(names.listKind, 'listKind', true);
  (names.shortNames ?? []).forEach((s, i) => {
    const e = isDNS1035Label(s);
    if (e.length > 0) errs.push(field.invalid(`${p}.shortNames[${i}]`, s, e.join(',')));
  });
  if (names.kind && names.kind === names.listKind) errs.push(field.invalid(`${p}.listKind`, names.listKind, 'kind and listKind may not be the same'));
  (names.categories ?? []).forEach((c, i) => {
    const e = isDNS1035Label(c);
    if (e.length > 0) errs.push(field.invalid(`${p}.categories[${i}]`, c, e.join(',')));
  });
  return errs;
}

function validateStoredVersions(stored: string[], versions: CRDVersion[]): FieldError[] {
  const p = 'status.storedVersions';
  if (stored.length === 0) return [field.invalid(p, stored, 'must have at least one stored version')];
  const errs: FieldError[] = [];
  const remaining = new Map(stored.map((v, i) => [v, i]));
  for (const v of versions) {
    const has = remaining.has(v.name ?? '');
    if (v.storage && !has) errs.push(field.invalid(p, stored, `must have the storage version ${v.name}`));
    if (has) remaining.delete(v.name ?? '');
  }
  for (const [v, i] of remaining) errs.push(field.invalid(`${p}[${i}]`, v, 'must appear in spec.versions'));
  return errs;
}

/** Approval state of the api-approved.kubernetes.io annotation (apihelpers.GetAPIApprovalState). */
function approvalState(annotations: Record<string, string> | undefined): { state: 'missing' | 'bypassed' | 'approved' | 'invalid'; reason: string } {
  const a = annotations?.['api-approved.kubernetes.io'] ?? '';
  const ann = '"api-approved.kubernetes.io"';
  if (!a) return { state: 'missing', reason: `protected groups must have approval annotation ${ann}, see https://github.com/kubernetes/enhancements/pull/1111` };
  if (a.startsWith('unapproved')) return { state: 'bypassed', reason: `not approved: ${JSON.stringify(a)}` };
  try {
    const u = new URL(a);
    if (u.host && u.protocol) return { state: 'approved', reason: `approved in ${a}` };
  } catch {
    // falls through to invalid
  }
  return {
    state: 'invalid',
    reason: `protected groups must have approval annotation ${ann} with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111`,
  };
}

function validateAPIApproval(crd: CRD, old?: CRD): FieldError[] {
  const g = crd.spec?.group ?? '';
  const isProtected = g === 'k8s.io' || g.endsWith('.k8s.io') || g === 'kubernetes.io' || g.endsWith('.kubernetes.io');
  if (!isProtected) return [];
  const now = approvalState(crd.metadata?.annotations);
  if (old && approvalState(old.metadata?.annotations).state === now.state) return [];
  const p = 'metadata.annotations[api-approved.kubernetes.io]';
  if (now.state === 'missing') return [field.required(p, now.reason)];
  if (now.state === 'invalid') return [field.invalid(p, crd.metadata?.annotations?.['api-approved.kubernetes.io'] ?? '', now.reason)];
  return [];
}

function validateSimpleJSONPath(s: string, p: string): FieldError[] {
  if (s.length === 0) return [field.invalid(p, s, 'must not be empty')];
  if (s[0] !== '.') return [field.invalid(p, s, 'must be a simple json path starting with .')];
  return [];
}

function validateSubresources(sr: Subresources | undefined, p: string): FieldError[] {
  const errs: FieldError[] = [];
  const scale = sr?.scale;
  if (!scale) return errs;
  const check = (v: string | undefined, name: string, prefixes: string[], msg: string, required: boolean) => {
    const fp = `${p}.scale.${name}`;
    if (!v) {
      if (required) errs.push(field.required(fp));
      return;
    }
    const e = validateSimpleJSONPath(v, fp);
    if (e.length > 0) errs.push(...e);
    else if (!prefixes.some((x) => v.startsWith(x))) errs.push(field.invalid(fp, v, msg));
  };
  check(scale.specReplicasPath, 'specReplicasPath', ['.spec.'], 'should be a json path under .spec', true);
  check(scale.statusReplicasPath, 'statusReplicasPath', ['.status.'], 'should be a json path under .status', true);
  check(scale.labelSelectorPath, 'labelSelectorPath', ['.spec.', '.status.'], 'should be a json path under either .spec or .status', false);
  return errs;
}

function validateColumn(c: PrinterColumn, p: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!c.name) errs.push(field.required(`${p}.name`));
  const types = `must be one of ${PRINTER_COLUMN_TYPES.join(',')}`;
  if (!c.type) errs.push(field.required(`${p}.type`, types));
  else if (!PRINTER_COLUMN_TYPES.includes(c.type)) errs.push(field.invalid(`${p}.type`, c.type, types));
  if (c.format && !COLUMN_FORMATS.includes(c.format)) errs.push(field.invalid(`${p}.format`, c.format, `must be one of ${COLUMN_FORMATS.join(',')}`));
  // The internal field is named JSONPath, hence upstream's capitalised path segment.
  if (!c.jsonPath) errs.push(field.required(`${p}.JSONPath`));
  else errs.push(...validateSimpleJSONPath(c.jsonPath, `${p}.JSONPath`));
  return errs;
}

/** cel.ValidFieldPath without array notation: the schema a `.a.b` path reaches, or why it does not. */
function resolveFieldPath(path: string, schema: JSONSchemaProps): { root: string; canonical: string; schema?: JSONSchemaProps; error?: string } {
  const toks = path.match(/'(?:[^'\\]|\\.)*'|[.[\]]|[^.[\]']+/g) ?? [];
  let s: JSONSchemaProps | undefined = schema;
  const parts: string[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '[') return { root: '', canonical: '', error: 'array notation is not allowed' };
    if (t !== '.') return { root: '', canonical: '', error: `expected [ or . but got: ${t}` };
    const name = toks[++i];
    if (name === undefined) return { root: '', canonical: '', error: 'unexpected end of JSON path' };
    if (s?.properties) {
      parts.push(`.${name}`);
      s = s.properties[name];
      if (!s) return { root: '', canonical: '', error: 'does not refer to a valid field' };
    } else if (s?.additionalProperties !== undefined) {
      parts.push(`[${name}]`);
      s = additionalSchema(s);
    } else return { root: '', canonical: '', error: 'does not refer to a valid field' };
  }
  const first = parts[0] ?? '';
  return { root: first.replace(/^\./, ''), canonical: parts.join(''), schema: s };
}

function validateSelectableFields(fields: { jsonPath?: string }[], schema: JSONSchemaProps, p: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    const fp = `${p}[${i}].jsonPath`;
    if (!f.jsonPath) {
      errs.push(field.required(fp));
      return;
    }
    const r = resolveFieldPath(f.jsonPath, schema);
    if (r.error) {
      errs.push(field.invalid(fp, f.jsonPath, `is an invalid path: ${r.error}`));
      return;
    }
    if (r.root === 'metadata') errs.push(field.invalid(fp, f.jsonPath, 'must not point to fields in metadata'));
    if (!r.schema || !['string', 'boolean', 'integer'].includes(r.schema.type ?? '')) {
      errs.push(field.invalid(fp, f.jsonPath, 'must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.'));
    }
    if (seen.has(r.canonical)) errs.push(field.duplicate(fp, f.jsonPath));
    else seen.add(r.canonical);
  });
  if (seen.size > 8) errs.push(field.tooMany(p, seen.size, 8));
  return errs;
}

function hasValidConversionReviewVersionOrEmpty(versions: string[] | undefined): boolean {
  return !versions || versions.length === 0 || versions.some((v) => v === 'v1' || v === 'v1beta1');
}

function validateConversion(conv: CRDConversion | undefined, requireRecognized: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (!conv) return errs;
  const p = 'spec.conversion';
  errs.push(...validateEnum(`${p}.strategy`, conv.strategy ?? '', ['None', 'Webhook'], true));
  const cc = conv.webhook?.clientConfig;
  const reviewVersions = conv.webhook?.conversionReviewVersions;
  if (conv.strategy === 'Webhook') {
    const cp = `${p}.webhook.clientConfig`;
    if (!cc) errs.push(field.required(cp, 'required when strategy is set to Webhook'));
    else if ((cc.url === undefined) === (cc.service === undefined)) errs.push(field.required(cp, 'exactly one of url or service is required'));
    else if (cc.url !== undefined) errs.push(...validateWebhookURL(`${cp}.url`, cc.url));
    else errs.push(...validateWebhookService(`${cp}.service`, cc.service!));
    const vp = `${p}.webhook.conversionReviewVersions`;
    if (!reviewVersions || reviewVersions.length === 0) errs.push(field.required(vp));
    else {
      const seenV = new Set<string>();
      let accepted = false;
      reviewVersions.forEach((v, i) => {
        if (seenV.has(v)) {
          errs.push(field.invalid(`${vp}[${i}]`, v, 'duplicate version'));
          return;
        }
        seenV.add(v);
        for (const m of isDNS1035Label(v)) errs.push(field.invalid(`${vp}[${i}]`, v, m));
        if (v === 'v1' || v === 'v1beta1') accepted = true;
      });
      if (requireRecognized && !accepted) errs.push(field.invalid(vp, reviewVersions, 'must include at least one of v1, v1beta1'));
    }
  } else {
    if (cc) errs.push(field.forbidden(`${p}.webhook.clientConfig`, 'should not be set when strategy is not set to Webhook'));
    if (reviewVersions && reviewVersions.length > 0) {
      errs.push(field.forbidden(`${p}.webhook.conversionReviewVersions`, 'should not be set when strategy is not set to Webhook'));
    }
  }
  return errs;
}

function validateWebhookURL(p: string, raw: string): FieldError[] {
  const form = '; desired format: https://host[/path]';
  let u: URL;
  try {
    u = new URL(raw);
  } catch (e) {
    return [field.required(p, `url must be a valid URL: ${e instanceof Error ? e.message : String(e)}${form}`)];
  }
  const errs: FieldError[] = [];
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'https') errs.push(field.invalid(p, scheme, `'https' is the only allowed URL scheme${form}`));
  if (!u.host) errs.push(field.invalid(p, u.host, `host must be specified${form}`));
  if (u.username || u.password) errs.push(field.invalid(p, u.password ? `${u.username}:${u.password}` : u.username, 'user information is not permitted in the URL'));
  if (u.hash.length > 1) errs.push(field.invalid(p, u.hash.slice(1), 'fragments are not permitted in the URL'));
  if (u.search.length > 1) errs.push(field.invalid(p, u.search.slice(1), 'query parameters are not permitted in the URL'));
  return errs;
}

function validateWebhookService(p: string, svc: { namespace?: string; name?: string; path?: string; port?: number }): FieldError[] {
  const errs: FieldError[] = [];
  if (!svc.name) errs.push(field.required(`${p}.name`, 'service name is required'));
  if (!svc.namespace) errs.push(field.required(`${p}.namespace`, 'service namespace is required'));
  const port = svc.port ?? 443;
  const pe = isValidPortNum(port);
  if (pe.length > 0) errs.push(field.invalid(`${p}.port`, port, `port is not valid: ${pe.join(', ')}`));
  const path = svc.path;
  if (path === undefined || path === '/' || path === '') return errs;
  if (path === '//') return [...errs, field.invalid(`${p}.path`, path, 'segment[0] may not be empty')];
  if (!path.startsWith('/')) errs.push(field.invalid(`${p}.path`, path, "must start with a '/'"));
  let rest = path.slice(1);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  rest.split('/').forEach((step, i) => {
    if (!step) errs.push(field.invalid(`${p}.path`, path, `segment[${i}] may not be empty`));
    else for (const m of isDNS1123Subdomain(step)) errs.push(field.invalid(`${p}.path`, path, `segment[${i}]: ${m}`));
  });
  return errs;
}

function hasNonAtomicSetType(s: JSONSchemaProps): boolean {
  const items = itemSchema(s);
  if (s['x-kubernetes-list-type'] !== 'set' || !items) return false;
  if (items.type === 'array') return items['x-kubernetes-list-type'] !== undefined && items['x-kubernetes-list-type'] !== 'atomic';
  if (items.type === 'object') return items['x-kubernetes-map-type'] !== 'atomic';
  return false;
}

/** validateMapListKeysMapSet: set/map list items and map keys must not be nullable; keys need a default or be required. */
function mapListKeysMapSet(s: JSONSchemaProps, p: string): FieldError[] {
  const items = itemSchema(s);
  const lt = s['x-kubernetes-list-type'];
  if (!items || (lt !== 'set' && lt !== 'map')) return [];
  const errs: FieldError[] = [];
  if (items.nullable) errs.push(field.forbidden(`${p}.items.nullable`, `cannot be nullable when x-kubernetes-list-type is ${lt}`));
  if (lt === 'map') {
    const req = new Set(items.required ?? []);
    for (const k of s['x-kubernetes-list-map-keys'] ?? []) {
      const ks = items.properties?.[k];
      if (!ks) continue;
      const kp = `${key(`${p}.items.properties`, k)}`;
      if (!req.has(k) && !hasDefault(ks)) errs.push(field.required(`${kp}.default`, 'this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property'));
      if (ks.nullable) errs.push(field.forbidden(`${kp}.nullable`, 'this property is in x-kubernetes-list-map-keys, so it cannot be nullable'));
    }
  }
  return errs;
}

/** Per-node context of ValidateCustomResourceDefinitionOpenAPISchema (specStandardValidatorV3). */
interface NodeCtx {
  allowDefaults: boolean;
  disallowDefaultsReason: string;
  insideResourceMeta: boolean;
}

function validateOpenAPISchema(s: JSONSchemaProps | undefined, p: string, ctx: NodeCtx, isRoot: boolean, opts: Opts, errs: FieldError[]): void {
  if (!s || typeof s !== "object") return;
  // specStandardValidatorV3.validate
  if (opts.requireValidPropertyType && s.type && !OPENAPI_V3_TYPES.includes(s.type)) errs.push(field.notSupported(`${p}.type`, s.type, OPENAPI_V3_TYPES));
  if (s.default !== undefined && s.default !== null && !ctx.allowDefaults) {
    errs.push(field.forbidden(`${p}.default`, `must not be set${ctx.disallowDefaultsReason ? ` ${ctx.disallowDefaultsReason}` : ''}`));
  }
  if (s.id) errs.push(field.forbidden(`${p}.id`, 'id is not supported'));
  if (s.additionalItems !== undefined) errs.push(field.forbidden(`${p}.additionalItems`, 'additionalItems is not supported'));
  if (s.patternProperties && Object.keys(s.patternProperties).length > 0) errs.push(field.forbidden(`${p}.patternProperties`, 'patternProperties is not supported'));
  if (s.definitions && Object.keys(s.definitions).length > 0) errs.push(field.forbidden(`${p}.definitions`, 'definitions is not supported'));
  if (s.dependencies !== undefined) errs.push(field.forbidden(`${p}.dependencies`, 'dependencies is not supported'));
  if (s.$ref !== undefined) errs.push(field.forbidden(`${p}.$ref`, '$ref is not supported'));
  if (s.type === 'null') errs.push(field.forbidden(`${p}.type`, 'type cannot be set to null, use nullable as an alternative'));
  if (Array.isArray(s.items) && s.items.length > 0) errs.push(field.forbidden(`${p}.items`, 'items must be a schema object and not an array'));
  if (ctx.insideResourceMeta && s['x-kubernetes-embedded-resource']) {
    errs.push(field.forbidden(`${p}.x-kubernetes-embedded-resource`, 'must not be used inside of resource meta'));
  }

  if (s.uniqueItems) errs.push(field.forbidden(`${p}.uniqueItems`, 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));
  const props = s.properties ?? {};
  if (s.additionalProperties !== undefined) {
    if (Object.keys(props).length > 0 && (s.additionalProperties === false || isObject(s.additionalProperties))) {
      errs.push(field.forbidden(`${p}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'));
    }
    const sub = ctx.insideResourceMeta ? { ...ctx, allowDefaults: false, disallowDefaultsReason: 'inside additionalProperties applying to object metadata' } : ctx;
    validateOpenAPISchema(additionalSchema(s), `${p}.additionalProperties`, sub, false, opts, errs);
  }
  for (const [k, ps] of Object.entries(props)) {
    let sub = ctx;
    if ((isRoot || s['x-kubernetes-embedded-resource']) && META_FIELDS.has(k)) {
      sub = { ...sub, insideResourceMeta: true };
      if (isRoot) sub = { ...sub, allowDefaults: false, disallowDefaultsReason: `in top-level ${k}` };
    }
    validateOpenAPISchema(ps, key(`${p}.properties`, k), sub, false, opts, errs);
  }
  validateOpenAPISchema(s.not, `${p}.not`, ctx, false, opts, errs);
  (s.allOf ?? []).forEach((x, i) => validateOpenAPISchema(x, `${p}.allOf[${i}]`, ctx, false, opts, errs));
  (s.oneOf ?? []).forEach((x, i) => validateOpenAPISchema(x, `${p}.oneOf[${i}]`, ctx, false, opts, errs));
  (s.anyOf ?? []).forEach((x, i) => validateOpenAPISchema(x, `${p}.anyOf[${i}]`, ctx, false, opts, errs));
  for (const [k, d] of Object.entries(s.definitions ?? {})) validateOpenAPISchema(d, key(`${p}.definitions`, k), ctx, false, opts, errs);
  if (Array.isArray(s.items)) s.items.forEach((x, i) => validateOpenAPISchema(x, `${p}.items[${i}]`, ctx, false, opts, errs));
  else validateOpenAPISchema(s.items, `${p}.items`, ctx, false, opts, errs);
  for (const [k, d] of Object.entries(s.dependencies ?? {})) if (!Array.isArray(d)) validateOpenAPISchema(d, key(`${p}.dependencies`, k), ctx, false, opts, errs);

  if (s['x-kubernetes-preserve-unknown-fields'] === false) {
    errs.push(field.invalid(`${p}.x-kubernetes-preserve-unknown-fields`, false, 'must be true or undefined'));
  }
  const mapType = s['x-kubernetes-map-type'];
  if (mapType !== undefined && s.type !== 'object') {
    if (!s.type) errs.push(field.required(`${p}.type`, 'must be object if x-kubernetes-map-type is specified'));
    else errs.push(field.invalid(`${p}.type`, s.type, 'must be object if x-kubernetes-map-type is specified'));
  }
  if (mapType !== undefined && mapType !== 'atomic' && mapType !== 'granular') {
    errs.push(field.notSupported(`${p}.x-kubernetes-map-type`, mapType, ['atomic', 'granular']));
  }
  const listType = s['x-kubernetes-list-type'];
  const items = itemSchema(s);
  if (listType !== undefined && s.type !== 'array') {
    if (!s.type) errs.push(field.required(`${p}.type`, 'must be array if x-kubernetes-list-type is specified'));
    else errs.push(field.invalid(`${p}.type`, s.type, 'must be array if x-kubernetes-list-type is specified'));
  } else if (opts.requireAtomicSetType && listType === 'set' && items) {
    if (items.type === 'array' && items['x-kubernetes-list-type'] !== undefined && items['x-kubernetes-list-type'] !== 'atomic') {
      errs.push(field.invalid(`${p}.items.x-kubernetes-list-type`, items['x-kubernetes-list-type'], 'must be atomic as item of a list with x-kubernetes-list-type=set'));
    } else if (items.type === 'object' && items['x-kubernetes-map-type'] !== 'atomic') {
      // upstream reports the items' list type here (usually unset, hence null)
      errs.push(field.invalid(`${p}.items.x-kubernetes-map-type`, items['x-kubernetes-list-type'] ?? null, 'must be atomic as item of a list with x-kubernetes-list-type=set'));
    }
  }
  if (listType !== undefined && !['atomic', 'set', 'map'].includes(listType)) {
    errs.push(field.notSupported(`${p}.x-kubernetes-list-type`, listType, ['atomic', 'set', 'map']));
  }
  const mapKeys = s['x-kubernetes-list-map-keys'] ?? [];
  if (mapKeys.length > 0) {
    if (listType === undefined) errs.push(field.required(`${p}.x-kubernetes-list-type`, 'must be map if x-kubernetes-list-map-keys is non-empty'));
    else if (listType !== 'map') errs.push(field.invalid(`${p}.x-kubernetes-list-type`, listType, 'must be map if x-kubernetes-list-map-keys is non-empty'));
  }
  if (listType === 'map') {
    if (mapKeys.length === 0) errs.push(field.required(`${p}.x-kubernetes-list-map-keys`, 'must not be empty if x-kubernetes-list-type is map'));
    if (s.items === undefined) errs.push(field.required(`${p}.items`, 'must have a schema if x-kubernetes-list-type is map'));
    if (Array.isArray(s.items)) errs.push(field.invalid(`${p}.items`, s.items, 'must only have a single schema if x-kubernetes-list-type is map'));
    if (items && items.type !== 'object') errs.push(field.invalid(`${p}.items.type`, items.type ?? '', "must be object if parent array's x-kubernetes-list-type is map"));
    if (items && items.type === 'object') {
      const seenKeys = new Set<string>();
      for (const k of mapKeys) {
        const ks = items.properties?.[k];
        if (ks) {
          if (ks.type === 'array' || ks.type === 'object') {
            errs.push(field.invalid(`${key(`${p}.items.properties`, k)}.type`, items.type, "must be a scalar type if parent array's x-kubernetes-list-type is map"));
          }
        } else errs.push(field.invalid(`${p}.x-kubernetes-list-map-keys`, mapKeys, 'entries must all be names of item properties'));
        if (seenKeys.has(k)) errs.push(field.invalid(`${p}.x-kubernetes-list-map-keys`, mapKeys, 'must not contain duplicate entries'));
        seenKeys.add(k);
      }
    }
  }
  if (opts.requireMapListKeysMapSetValidation) errs.push(...mapListKeysMapSet(s, p));
  (s['x-kubernetes-validations'] ?? []).forEach((r, i) => {
    const rp = `${p}.x-kubernetes-validations[${i}]`;
    const rule = (r.rule ?? '').trim();
    const msg = (r.message ?? '').trim();
    if (!rule) errs.push(field.required(`${rp}.rule`, 'rule is not specified'));
    else if ((r.message ?? '').length > 0 && !msg) errs.push(field.invalid(`${rp}.message`, r.message, 'message must be non-empty if specified'));
    else if (/[\n\r]/.test(msg)) errs.push(field.invalid(`${rp}.message`, r.message, 'message must not contain line breaks'));
    else if (/[\n\r]/.test(rule) && !msg) errs.push(field.required(`${rp}.message`, 'message must be specified if rule contains line breaks'));
    if ((r.messageExpression ?? '').length > 0 && !(r.messageExpression ?? '').trim()) {
      errs.push(field.required(`${rp}.messageExpression`, 'messageExpression must be non-empty if specified'));
    }
    if (r.reason !== undefined && !VALIDATION_REASONS.includes(r.reason)) errs.push(field.notSupported(`${rp}.reason`, r.reason, VALIDATION_REASONS));
    if ((r.fieldPath ?? '').length > 0 && !(r.fieldPath ?? '').trim()) errs.push(field.invalid(`${rp}.fieldPath`, r.fieldPath, 'fieldPath must be non-empty if specified'));
    if (/[\n\r]/.test(r.fieldPath ?? '')) errs.push(field.invalid(`${rp}.fieldPath`, r.fieldPath, 'fieldPath must not contain line breaks'));
  });
}

/** validate() of structuraldefaulting.ValidateDefaults: each default must be pruned, valid metadata and valid for its schema. */
function validateDefaults(s: JSONSchemaProps | undefined, p: string, insideMeta: boolean, requirePruned: boolean, errs: FieldError[], isRoot = false): void {
  if (!s) return;
  const embedded = isRoot || !!s['x-kubernetes-embedded-resource'];
  if (embedded) insideMeta = false;
  if (s.default !== undefined && s.default !== null) {
    const dp = `${p}.default`;
    if (insideMeta) {
      errs.push(...validateAgainstSchema(s, s.default, dp));
    } else {
      if (requirePruned) {
        const pruned = deepCopy(s.default);
        pruneValue(s, pruned, embedded);
        if (!deepEqual(pruned, s.default)) errs.push(field.invalid(dp, s.default, 'must not have unknown fields'));
      }
      const metaErrs = embedded && isObject(s.default) ? embeddedDefaultErrors(dp, s.default) : [];
      if (metaErrs.length > 0) errs.push(...metaErrs);
      else errs.push(...validateAgainstSchema(s, s.default, dp));
    }
  }
  validateDefaults(itemSchema(s), `${p}.items`, insideMeta, requirePruned, errs);
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    validateDefaults(sub, key(`${p}.properties`, k), insideMeta || (embedded && META_FIELDS.has(k)), requirePruned, errs);
  }
}

/** objectmeta.Validate of an embedded resource's default (apiVersion and kind must be present). */
function embeddedDefaultErrors(p: string, v: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  if (!('apiVersion' in v)) errs.push(field.required(`${p}.apiVersion`, 'must not be empty'));
  if (!('kind' in v)) errs.push(field.required(`${p}.kind`, 'must not be empty'));
  return errs;
}

/** validateCustomResourceDefinitionValidation for one (top-level or per-version) schema at path `p`. */
function validateSchema(validation: { openAPIV3Schema?: JSONSchemaProps } | undefined, statusEnabled: boolean, opts: Opts, p: string): FieldError[] {
  const errs: FieldError[] = [];
  const schema = validation?.openAPIV3Schema;
  if (!schema || !isObject(schema)) return errs;
  const sp = `${p}.openAPIV3Schema`;
  if (statusEnabled) {
    for (const [json, goName] of SCHEMA_FIELDS) {
      const v = (schema as Record<string, unknown>)[json];
      if (v === undefined || v === false || v === '' || v === null) continue;
      if (goName === 'Type') {
        if (schema.type !== 'object') {
          errs.push(field.invalid(`${sp}.type`, schema.type, 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled'));
          break;
        }
        continue;
      }
      if (!ALLOWED_AT_ROOT_WITH_STATUS.includes(goName)) {
        errs.push(field.invalid(sp, schema, `only [${ALLOWED_AT_ROOT_WITH_STATUS.join(' ')}] fields are allowed at the root of the schema if the status subresource is enabled`));
        break;
      }
    }
  }
  if (schema.nullable) errs.push(field.forbidden(`${sp}.nullable`, 'nullable cannot be true at the root'));
  let initErrs: FieldError[] = [];
  if (opts.requireStructuralSchema) {
    const convErr = structuralConversionError(schema);
    if (convErr) initErrs = [field.invalid(sp, '', convErr)];
    else {
      const structural = validateStructural(schema, sp);
      if (structural.length > 0) errs.push(...structural);
      else validateDefaults(schema, sp, false, opts.requirePrunedDefaults, errs, true);
    }
  }
  validateOpenAPISchema(schema, sp, { allowDefaults: true, disallowDefaultsReason: '', insideResourceMeta: false }, true, opts, errs);
  if (errs.length === 0) errs.push(...initErrs);
  return errs;
}

/**
 * apiextensions/v1 defaulting (SetDefaults_CustomResourceDefinition): singular
 * is the lowercased kind, listKind `<Kind>List`, conversion strategy None,
 * webhook service port 443, and status.storedVersions the storage version when
 * empty. Mutates and returns `crd`.
 */
export function defaultCRD<T extends CRD>(crd: T): T {
  crd.spec ??= {};
  const spec = crd.spec;
  spec.names ??= {};
  const names = spec.names;
  if (!names.singular && names.kind) names.singular = names.kind.toLowerCase();
  if (!names.listKind && names.kind) names.listKind = `${names.kind}List`;
  spec.conversion ??= { strategy: 'None' };
  const svc = spec.conversion.webhook?.clientConfig?.service;
  if (svc && svc.port === undefined) svc.port = 443;
  if (!crd.status?.storedVersions || crd.status.storedVersions.length === 0) {
    const storage = (spec.versions ?? []).find((v) => v.storage);
    if (storage?.name) {
      crd.status ??= {};
      crd.status.storedVersions = [storage.name];
    }
  }
  return crd;
}
