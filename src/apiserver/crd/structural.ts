/**
 * Structural-schema rules for CRD schemas (apiextensions pkg/apiserver/schema
 * validation.go and complete.go): every level specifies a type, value
 * validations inside allOf/anyOf/oneOf/not do not add structure, metadata is
 * only restricted by name/generateName. Errors are sorted by message, as upstream.
 */
import { field, fieldErrorMessage, type FieldError } from '../../api/errors.js';
import type { JSONSchemaProps } from './types.js';
import { isObject } from './util.js';

type Level = 'root' | 'item' | 'field';

/** `p.properties[k]` as field.Path.Key renders it. */
export const key = (p: string, k: string) => `${p}[${k}]`;

/** The single item schema (undefined when absent or an array of schemas). */
export function itemSchema(s: JSONSchemaProps): JSONSchemaProps | undefined {
  return s.items && !Array.isArray(s.items) ? s.items : undefined;
}

/** The additionalProperties schema, when one is given. */
export function additionalSchema(s: JSONSchemaProps): JSONSchemaProps | undefined {
  return isObject(s.additionalProperties) ? (s.additionalProperties as JSONSchemaProps) : undefined;
}

/**
 * Why NewStructural would refuse the schema (fields structural schemas cannot
 * express), or undefined when it converts.
 */
export function structuralConversionError(s: JSONSchemaProps | undefined): string | undefined {
  if (!s) return undefined;
  if (s.id) return "OpenAPIV3Schema 'id' is not supported";
  if (s.$schema) return "OpenAPIV3Schema 'schema' is not supported";
  if (s.$ref) return "OpenAPIV3Schema '$ref' is not supported";
  if (s.patternProperties && Object.keys(s.patternProperties).length > 0) return "OpenAPIV3Schema 'patternProperties' is not supported";
  if (s.dependencies && Object.keys(s.dependencies).length > 0) return "OpenAPIV3Schema 'dependencies' is not supported";
  if (s.additionalItems !== undefined) return "OpenAPIV3Schema 'additionalItems' is not supported";
  if (s.definitions && Object.keys(s.definitions).length > 0) return "OpenAPIV3Schema 'definitions' is not supported";
  if (s['x-kubernetes-preserve-unknown-fields'] === false) return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined";
  if (Array.isArray(s.items)) return "OpenAPIV3Schema 'items' must be a schema, but is an array";
  const subs: (JSONSchemaProps | undefined)[] = [
    itemSchema(s),
    additionalSchema(s),
    s.not,
    ...(s.allOf ?? []),
    ...(s.anyOf ?? []),
    ...(s.oneOf ?? []),
    ...Object.values(s.properties ?? {}),
  ];
  for (const sub of subs) {
    const e = structuralConversionError(sub);
    if (e) return e;
  }
  return undefined;
}

/** Go's regexp error text for the common mistakes, else a generic one. */
export function regexpError(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
    return undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const rep = /^[*+?{]/.exec(pattern);
    if (/nothing to repeat/i.test(msg) && rep) return `error parsing regexp: missing argument to repetition operator: \`${rep[0]}\``;
    if (/unterminated group|missing \)/i.test(msg)) return `error parsing regexp: missing closing ): \`${pattern}\``;
    if (/unterminated character class/i.test(msg)) return `error parsing regexp: missing closing ]: \`${pattern.slice(pattern.lastIndexOf('['))}\``;
    return `error parsing regexp: ${msg}`;
  }
}

/** True for the `anyOf: [{type: integer}, {type: string}]` int-or-string pattern. */
function isIntOrStringAnyOf(anyOf: JSONSchemaProps[] | undefined): boolean {
  if (!anyOf || anyOf.length !== 2) return false;
  const only = (x: JSONSchemaProps, t: string) => Object.keys(x).length === 1 && x.type === t;
  return only(anyOf[0]!, 'integer') && only(anyOf[1]!, 'string');
}

function invariants(s: JSONSchemaProps | undefined, lvl: Level, p: string, errs: FieldError[]): void {
  if (!s) return;
  const items = itemSchema(s);
  if (s.type === 'array' && !items) errs.push(field.required(`${p}.items`, 'must be specified'));
  invariants(items, 'item', `${p}.items`, errs);
  for (const [k, v] of Object.entries(s.properties ?? {})) invariants(v, 'field', key(`${p}.properties`, k), errs);
  if (s.additionalProperties !== undefined) {
    if (lvl === 'root') errs.push(field.forbidden(`${p}.additionalProperties`, 'must not be used at the root'));
    invariants(additionalSchema(s), 'field', `${p}.additionalProperties`, errs);
  }
  const ios = !!s['x-kubernetes-int-or-string'];
  const preserve = !!s['x-kubernetes-preserve-unknown-fields'];
  const embedded = !!s['x-kubernetes-embedded-resource'];
  if (ios && preserve) errs.push(field.invalid(`${p}.x-kubernetes-preserve-unknown-fields`, true, 'must be false if x-kubernetes-int-or-string is true'));
  if (ios && embedded) errs.push(field.invalid(`${p}.x-kubernetes-embedded-resource`, true, 'must be false if x-kubernetes-int-or-string is true'));

  const skipAnyOf = isIntOrStringAnyOf(s.anyOf);
  const skipFirstAllOfAnyOf = (s.allOf?.length ?? 0) >= 1 && isIntOrStringAnyOf(s.allOf![0]!.anyOf);
  valueValidation(s, skipAnyOf, skipFirstAllOfAnyOf, p, errs);

  const checkMetadata = lvl === 'root' || embedded;
  if (embedded && s.type !== 'object') {
    if (!s.type) errs.push(field.required(`${p}.type`, 'must be object if x-kubernetes-embedded-resource is true'));
    else errs.push(field.invalid(`${p}.type`, s.type, 'must be object if x-kubernetes-embedded-resource is true'));
  } else if (!s.type && !ios && !preserve) {
    const detail =
      lvl === 'root' ? 'must not be empty at the root' : lvl === 'item' ? 'must not be empty for specified array items' : 'must not be empty for specified object fields';
    errs.push(field.required(`${p}.type`, detail));
  }
  if (embedded && s.additionalProperties !== undefined) {
    errs.push(field.forbidden(`${p}.additionalProperties`, 'must not be used if x-kubernetes-embedded-resource is set'));
  }
  if (lvl === 'root' && s.type && s.type !== 'object') errs.push(field.invalid(`${p}.type`, s.type, 'must be object at the root'));
  const props = s.properties ?? {};
  for (const meta of ['kind', 'apiVersion']) {
    const m = props[meta];
    if (m && checkMetadata && m.type !== 'string') errs.push(field.invalid(`${key(`${p}.properties`, meta)}.type`, m.type ?? '', 'must be string'));
  }
  if (props.metadata) metadataInvariants(props.metadata, checkMetadata, lvl, key(`${p}.properties`, 'metadata'), errs);
  if (embedded && !preserve && Object.keys(props).length === 0) {
    errs.push(field.required(`${p}.properties`, 'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields'));
  }
}

function metadataInvariants(s: JSONSchemaProps, checkMetadata: boolean, lvl: Level, p: string, errs: FieldError[]): void {
  if (checkMetadata && s.type !== 'object') errs.push(field.invalid(`${p}.type`, s.type ?? '', 'must be object'));
  if (lvl !== 'root') return;
  // At the resource root only name and generateName may be constrained: metadata is implicitly ObjectMeta.
  const rest: Record<string, unknown> = { ...s };
  delete rest.type;
  delete rest.default;
  const propNames = Object.keys(s.properties ?? {});
  if (propNames.length > 0 && propNames.every((n) => n === 'name' || n === 'generateName')) delete rest.properties;
  const meaningful = Object.entries(rest).filter(([, v]) => v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0));
  if (meaningful.length > 0) {
    errs.push(field.forbidden(p, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
  }
}

function valueValidation(v: JSONSchemaProps, skipAnyOf: boolean, skipFirstAllOfAnyOf: boolean, p: string, errs: FieldError[]): void {
  if (!skipAnyOf) (v.anyOf ?? []).forEach((x, i) => nested(x, false, `${p}.anyOf[${i}]`, errs));
  (v.allOf ?? []).forEach((x, i) => nested(x, skipFirstAllOfAnyOf && i === 0, `${p}.allOf[${i}]`, errs));
  (v.oneOf ?? []).forEach((x, i) => nested(x, false, `${p}.oneOf[${i}]`, errs));
  if (v.not) nested(v.not, false, `${p}.not`, errs);
  if (v.pattern) {
    const err = regexpError(v.pattern);
    if (err) errs.push(field.invalid(`${p}.pattern`, v.pattern, `must be a valid regular expression, but isn't: ${err}`));
  }
}

function nested(v: JSONSchemaProps | undefined, skipAnyOf: boolean, p: string, errs: FieldError[]): void {
  if (!v) return;
  valueValidation(v, skipAnyOf, false, p, errs);
  nested(itemSchema(v), false, `${p}.items`, errs);
  for (const [k, x] of Object.entries(v.properties ?? {})) nested(x, false, key(`${p}.properties`, k), errs);
  if (v.type) errs.push(field.forbidden(`${p}.type`, 'must be empty to be structural'));
  if (v.additionalProperties !== undefined && v.additionalProperties !== false) {
    errs.push(field.forbidden(`${p}.additionalProperties`, 'must be undefined to be structural'));
  }
  if (v.default !== undefined && v.default !== null) errs.push(field.forbidden(`${p}.default`, 'must be undefined to be structural'));
  if (v.title) errs.push(field.forbidden(`${p}.title`, 'must be empty to be structural'));
  if (v.description) errs.push(field.forbidden(`${p}.description`, 'must be empty to be structural'));
  if (v.nullable) errs.push(field.forbidden(`${p}.nullable`, 'must be false to be structural'));
  if (v['x-kubernetes-preserve-unknown-fields']) errs.push(field.forbidden(`${p}.x-kubernetes-preserve-unknown-fields`, 'must be false to be structural'));
  if (v['x-kubernetes-embedded-resource']) errs.push(field.forbidden(`${p}.x-kubernetes-embedded-resource`, 'must be false to be structural'));
  if (v['x-kubernetes-int-or-string']) errs.push(field.forbidden(`${p}.x-kubernetes-int-or-string`, 'must be false to be structural'));
  if ((v['x-kubernetes-list-map-keys'] ?? []).length > 0) errs.push(field.forbidden(`${p}.x-kubernetes-list-map-keys`, 'must be empty to be structural'));
  if (v['x-kubernetes-list-type'] !== undefined) errs.push(field.forbidden(`${p}.x-kubernetes-list-type`, 'must be undefined to be structural'));
  if (v['x-kubernetes-map-type'] !== undefined) errs.push(field.forbidden(`${p}.x-kubernetes-map-type`, 'must be undefined to be structural'));
  if ((v['x-kubernetes-validations'] ?? []).length > 0) errs.push(field.forbidden(`${p}.x-kubernetes-validations`, 'must be empty to be structural'));
  if (v.properties && 'metadata' in v.properties) errs.push(field.forbidden(key(`${p}.properties`, 'metadata'), 'must not be specified in a nested context'));
}

/** complete.go: value validations in the root's allOf/anyOf/oneOf/not may only mention fields the structure defines. */
function completeness(s: JSONSchemaProps, p: string, errs: FieldError[]): void {
  const visitValue = (v: JSONSchemaProps, st: JSONSchemaProps | undefined, sPath: string, vPath: string) => {
    if (v.not) visitNested(v.not, st, sPath, `${vPath}.not`);
    (v.allOf ?? []).forEach((x, i) => visitNested(x, st, sPath, `${vPath}.allOf[${i}]`));
    (v.anyOf ?? []).forEach((x, i) => visitNested(x, st, sPath, `${vPath}.anyOf[${i}]`));
    (v.oneOf ?? []).forEach((x, i) => visitNested(x, st, sPath, `${vPath}.oneOf[${i}]`));
  };
  const visitNested = (v: JSONSchemaProps | undefined, st: JSONSchemaProps | undefined, sPath: string, vPath: string) => {
    if (!v) return;
    if (!st) {
      errs.push(field.required(sPath, `because it is defined in ${vPath}`));
      return;
    }
    visitValue(v, st, sPath, vPath);
    visitNested(itemSchema(v), itemSchema(st), `${sPath}.items`, `${vPath}.items`);
    for (const [k, x] of Object.entries(v.properties ?? {})) {
      const sf = st.properties?.[k];
      if (!sf) errs.push(field.required(key(`${sPath}.properties`, k), `because it is defined in ${key(`${vPath}.properties`, k)}`));
      else visitNested(x, sf, key(`${sPath}.properties`, k), key(`${vPath}.properties`, k));
    }
  };
  visitValue(s, s, p, p);
}

/** ValidateStructural: structural-schema violations of `schema` at path `p`, sorted by message. */
export function validateStructural(schema: JSONSchemaProps, p: string): FieldError[] {
  const errs: FieldError[] = [];
  invariants(schema, 'root', p, errs);
  completeness(schema, p, errs);
  return errs
    .map((e) => ({ e, m: fieldErrorMessage(e) }))
    .sort((a, b) => (a.m < b.m ? -1 : a.m > b.m ? 1 : 0))
    .map((x) => x.e);
}
