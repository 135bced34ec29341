/**
 * The protobuf form of `/openapi/v2`: a swagger 2.0 document encoded as the
 * gnostic `openapi.v2.Document` message (github.com/google/gnostic-models,
 * `openapiv2/OpenAPIv2.proto`), which is what kubectl's discovery client asks
 * for and decodes. Mirrors gnostic's JSON→message mapping: `x-` keys become
 * `NamedAny` vendor extensions whose `Any.yaml` holds the value's text, maps
 * become lists of `Named*` pairs in document order, and the oneof wrappers
 * (parameters, responses, additionalProperties, security schemes) are chosen
 * as gnostic chooses them. Keys gnostic does not know are dropped.
 */

/**
 * The Content-Type of a protobuf `/openapi/v2` answer. Upstream (kube-openapi `handler.go`)
 * answers with the dotted form even when asked for the deprecated `@` form that client-go
 * sends, because Go's `mime.ParseMediaType` (used by client-go on the response) rejects `@`.
 */
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** The Accept media types that select the protobuf `/openapi/v2`: the deprecated one kubectl 1.32 sends, and the current one. */
export const OPENAPI_V2_PROTOBUF_ACCEPT_TYPES: readonly string[] = [
  'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
];

/**
 * Which form of `/openapi/v2` an Accept header selects, as kube-openapi's handler
 * negotiates: clauses ordered by q (then concrete before wildcard), the first clause
 * matching JSON or one of {@link OPENAPI_V2_PROTOBUF_ACCEPT_TYPES} wins, wildcards
 * matching JSON first; undefined means 406. An absent header accepts anything.
 */
export function negotiateOpenApiV2(accept: string | undefined): 'json' | 'protobuf' | undefined {
  const clauses = (accept?.trim() ? accept : '*/*')
    .split(',')
    .map((raw) => {
      const [range = '', ...params] = raw.split(';').map((p) => p.trim());
      const [type = '', subtype = ''] = range.toLowerCase() === '*' ? ['*', '*'] : range.toLowerCase().split('/');
      const q = params.map((p) => /^q\s*=\s*([0-9.]+)$/i.exec(p)).find((m) => m);
      return { type, subtype, q: q ? Number(q[1]) : 1 };
    })
    // A q=0 clause means "not acceptable" (RFC 9110), so it never selects a form.
    .filter((c) => c.type && c.subtype && c.q > 0);
  const rank = (c: { type: string; subtype: string }): number => (c.type === '*' ? 2 : c.subtype === '*' ? 1 : 0);
  clauses.sort((a, b) => b.q - a.q || rank(a) - rank(b));
  const offers: readonly [string, 'json' | 'protobuf'][] = [
    ['application/json', 'json'],
    ...OPENAPI_V2_PROTOBUF_ACCEPT_TYPES.map((t): [string, 'protobuf'] => [t, 'protobuf']),
  ];
  for (const c of clauses) {
    for (const [offer, form] of offers) {
      const [type, subtype] = offer.split('/') as [string, string];
      if ((c.type === type || c.type === '*') && (c.subtype === subtype || c.subtype === '*')) return form;
    }
  }
  return undefined;
}

type Json = Record<string, unknown>;

// Protobuf wire types.
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;

/** A growable output buffer with protobuf primitives; nested messages are written in place and their length prefixed afterwards. */
class ProtoWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(value: number): void {
    this.ensure(10);
    if (value < 0 || !Number.isSafeInteger(value)) {
      // int64 negatives are ten-byte two's complement varints.
      let v = BigInt.asUintN(64, BigInt(Math.trunc(value)));
      while (v >= 0x80n) {
        this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.buf[this.pos++] = Number(v);
      return;
    }
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.pos++] = value;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A string field; the empty string is proto3's default and is not written unless `always`. */
  string(field: number, value: string, always = false): void {
    if (value === '' && !always) return;
    const len = Buffer.byteLength(value, 'utf8');
    this.tag(field, LEN);
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos, len, 'utf8');
  }

  bool(field: number, value: boolean, always = false): void {
    if (!value && !always) return;
    this.tag(field, VARINT);
    this.varint(value ? 1 : 0);
  }

  int64(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, VARINT);
    this.varint(value);
  }

  double(field: number, value: number): void {
    if (value === 0 && !Object.is(value, -0)) return;
    this.tag(field, FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A message field, always written (a present message is never omitted, even when empty). */
  message(field: number, body: () => void): void {
    this.tag(field, LEN);
    // Reserve one length byte, write the body, then widen the prefix if the body needs a longer varint.
    this.ensure(1);
    const lenAt = this.pos++;
    const start = this.pos;
    body();
    const len = this.pos - start;
    const width = varintWidth(len);
    if (width > 1) {
      this.ensure(width - 1);
      this.buf.copyWithin(start + width - 1, start, this.pos);
      this.pos += width - 1;
    }
    let v = len;
    let at = lenAt;
    while (v >= 0x80) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }
}

function varintWidth(n: number): number {
  let w = 1;
  while (n >= 0x80) {
    n >>>= 7;
    w++;
  }
  return w;
}

/** Field kinds of a message table; a function writes a (nested) message field. */
type Kind =
  | 'string'
  | 'bool'
  | 'double'
  | 'int64'
  | 'strings'
  | 'any'
  | 'anys'
  | 'extensions'
  | ((w: ProtoWriter, field: number, value: unknown) => void);

/** One row of a message table: JSON key, field number, kind. */
type Row = readonly [key: string, field: number, kind: Kind];

/** The row of a message's `repeated NamedAny vendor_extension` field, which collects every `x-` key. */
function ext(field: number): Row {
  return ['', field, 'extensions'];
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The text gnostic keeps in `Any.yaml`; readers (`kube-openapi` `VendorExtensionToMap`,
 * `parseDefault`) YAML-unmarshal it. JSON is YAML, so we write JSON, escaping the few
 * characters YAML treats as non-printable or as line breaks inside quoted scalars.
 */
function anyYaml(value: unknown): string {
  return JSON.stringify(value ?? null).replace(
    /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function writeAny(w: ProtoWriter, field: number, value: unknown): void {
  // Any { google.protobuf.Any value = 1; string yaml = 2; } — gnostic fills only `yaml` for plain documents.
  w.message(field, () => w.string(2, anyYaml(value), true));
}

function writeVendorExtensions(w: ProtoWriter, field: number, obj: Json): void {
  for (const key of Object.keys(obj)) {
    if (!key.startsWith('x-')) continue;
    // NamedAny { string name = 1; Any value = 2; }
    w.message(field, () => {
      w.string(1, key, true);
      writeAny(w, 2, obj[key]);
    });
  }
}

/** Writes the fields of `obj` described by `rows`, in field-number order as Go's marshaller does. */
function writeFields(w: ProtoWriter, obj: Json, rows: readonly Row[]): void {
  for (const [key, field, kind] of rows) {
    if (kind === 'extensions') {
      writeVendorExtensions(w, field, obj);
      continue;
    }
    const v = obj[key];
    if (v === undefined) continue;
    switch (kind) {
      case 'string':
        if (typeof v === 'string') w.string(field, v);
        break;
      case 'bool':
        if (typeof v === 'boolean') w.bool(field, v);
        break;
      case 'double':
        if (typeof v === 'number') w.double(field, v);
        break;
      case 'int64':
        if (typeof v === 'number' && Number.isFinite(v)) w.int64(field, Math.trunc(v));
        break;
      case 'strings':
        for (const s of Array.isArray(v) ? v : [v]) if (typeof s === 'string') w.string(field, s, true);
        break;
      case 'any':
        writeAny(w, field, v);
        break;
      case 'anys':
        if (Array.isArray(v)) for (const item of v) writeAny(w, field, item);
        break;
      default:
        kind(w, field, v);
    }
  }
}

/** A message kind from a table (built on first use, so tables may refer to kinds declared later); the value must be an object. */
function msg(table: () => readonly Row[]): (w: ProtoWriter, field: number, value: unknown) => void {
  let rows: readonly Row[] | undefined;
  return (w, field, value) => {
    rows ??= table();
    const r = rows;
    if (isObject(value)) w.message(field, () => writeFields(w, value, r));
  };
}

/** A repeated message kind: each element of the array becomes one occurrence. */
function repeated(write: (w: ProtoWriter, field: number, value: unknown) => void): (w: ProtoWriter, field: number, value: unknown) => void {
  return (w, field, value) => {
    if (Array.isArray(value)) for (const item of value) write(w, field, item);
  };
}

/** A map kind: a `{ repeated Named* additional_properties = 1 }` wrapper holding one `{ name = 1; value = 2 }` pair per key. */
function named(value: (w: ProtoWriter, field: number, v: unknown) => void): (w: ProtoWriter, field: number, v: unknown) => void {
  return (w, field, v) => {
    if (isObject(v)) w.message(field, () => writeNamedPairs(w, 1, v, value, () => true));
  };
}

function writeNamedPairs(
  w: ProtoWriter,
  field: number,
  obj: Json,
  value: (w: ProtoWriter, field: number, v: unknown) => void,
  keep: (key: string) => boolean,
): void {
  for (const key of Object.keys(obj)) {
    if (!keep(key)) continue;
    w.message(field, () => {
      w.string(1, key, true);
      value(w, 2, obj[key]);
    });
  }
}

// ---- message tables (field numbers from gnostic-models openapiv2/OpenAPIv2.proto) ----

const externalDocs = msg(() => [
  ['description', 1, 'string'],
  ['url', 2, 'string'],
  ext(3),
]);

const xml = msg(() => [
  ['name', 1, 'string'],
  ['namespace', 2, 'string'],
  ['prefix', 3, 'string'],
  ['attribute', 4, 'bool'],
  ['wrapped', 5, 'bool'],
  ext(6),
]);

/** AdditionalPropertiesItem: oneof { Schema schema = 1; bool boolean = 2; } (a oneof bool is written even when false). */
function additionalProperties(w: ProtoWriter, field: number, v: unknown): void {
  if (typeof v === 'boolean') w.message(field, () => w.bool(2, v, true));
  else if (isObject(v)) w.message(field, () => schema(w, 1, v));
}

/** TypeItem { repeated string value = 1; } — a single type name or a list. */
const typeItem = (w: ProtoWriter, field: number, v: unknown): void => {
  if (typeof v === 'string' || Array.isArray(v)) w.message(field, () => writeFields(w, { value: v }, [['value', 1, 'strings']]));
};

/** ItemsItem { repeated Schema schema = 1; } — one schema or a tuple of them. */
const itemsItem = (w: ProtoWriter, field: number, v: unknown): void => {
  if (isObject(v)) w.message(field, () => schema(w, 1, v));
  else if (Array.isArray(v)) w.message(field, () => repeated(schema)(w, 1, v));
};

const SCHEMA_ROWS: readonly Row[] = [
  ['$ref', 1, 'string'],
  ['format', 2, 'string'],
  ['title', 3, 'string'],
  ['description', 4, 'string'],
  ['default', 5, 'any'],
  ['multipleOf', 6, 'double'],
  ['maximum', 7, 'double'],
  ['exclusiveMaximum', 8, 'bool'],
  ['minimum', 9, 'double'],
  ['exclusiveMinimum', 10, 'bool'],
  ['maxLength', 11, 'int64'],
  ['minLength', 12, 'int64'],
  ['pattern', 13, 'string'],
  ['maxItems', 14, 'int64'],
  ['minItems', 15, 'int64'],
  ['uniqueItems', 16, 'bool'],
  ['maxProperties', 17, 'int64'],
  ['minProperties', 18, 'int64'],
  ['required', 19, 'strings'],
  ['enum', 20, 'anys'],
  ['additionalProperties', 21, additionalProperties],
  ['type', 22, typeItem],
  ['items', 23, itemsItem],
  ['allOf', 24, repeated((w, f, v) => schema(w, f, v))],
  // Properties { repeated NamedSchema additional_properties = 1; } — present even when empty,
  // which kube-openapi reads as "a kind with no fields" rather than "a map".
  ['properties', 25, named((w, f, v) => schema(w, f, v))],
  ['discriminator', 26, 'string'],
  ['readOnly', 27, 'bool'],
  ['xml', 28, xml],
  ['externalDocs', 29, externalDocs],
  ['example', 30, 'any'],
  ext(31),
];

function schema(w: ProtoWriter, field: number, v: unknown): void {
  if (isObject(v)) w.message(field, () => writeFields(w, v, SCHEMA_ROWS));
}

const fileSchema = msg(() => [
  ['format', 1, 'string'],
  ['title', 2, 'string'],
  ['description', 3, 'string'],
  ['default', 4, 'any'],
  ['required', 5, 'strings'],
  ['type', 6, 'string'],
  ['readOnly', 7, 'bool'],
  ['externalDocs', 8, externalDocs],
  ['example', 9, 'any'],
  ext(10),
]);

/**
 * The validation keywords shared by PrimitivesItems, Header and the non-body
 * parameter sub-schemas, which number them consecutively from `first`.
 */
function primitiveRows(first: number): Row[] {
  return [
    ['default', first, 'any'],
    ['maximum', first + 1, 'double'],
    ['exclusiveMaximum', first + 2, 'bool'],
    ['minimum', first + 3, 'double'],
    ['exclusiveMinimum', first + 4, 'bool'],
    ['maxLength', first + 5, 'int64'],
    ['minLength', first + 6, 'int64'],
    ['pattern', first + 7, 'string'],
    ['maxItems', first + 8, 'int64'],
    ['minItems', first + 9, 'int64'],
    ['uniqueItems', first + 10, 'bool'],
    ['enum', first + 11, 'anys'],
    ['multipleOf', first + 12, 'double'],
  ];
}

const PRIMITIVES_ITEMS_ROWS: readonly Row[] = [
  ['type', 1, 'string'],
  ['format', 2, 'string'],
  ['items', 3, (w, f, v) => primitivesItems(w, f, v)],
  ['collectionFormat', 4, 'string'],
  ...primitiveRows(5),
  ext(18),
];
const primitivesItems = msg(() => PRIMITIVES_ITEMS_ROWS);

const header = msg(() => [
  ['type', 1, 'string'],
  ['format', 2, 'string'],
  ['items', 3, primitivesItems],
  ['collectionFormat', 4, 'string'],
  ...primitiveRows(5),
  ['description', 18, 'string'],
  ext(19),
]);

/** Header and path parameter sub-schemas: required, in, description, name, then type… from 5. */
const HEADER_OR_PATH_PARAM_ROWS: readonly Row[] = [
  ['required', 1, 'bool'],
  ['in', 2, 'string'],
  ['description', 3, 'string'],
  ['name', 4, 'string'],
  ['type', 5, 'string'],
  ['format', 6, 'string'],
  ['items', 7, primitivesItems],
  ['collectionFormat', 8, 'string'],
  ...primitiveRows(9),
  ext(22),
];

/** Query and formData parameter sub-schemas: as header/path with allowEmptyValue at 5, the rest shifted by one. */
const QUERY_OR_FORM_PARAM_ROWS: readonly Row[] = [
  ['required', 1, 'bool'],
  ['in', 2, 'string'],
  ['description', 3, 'string'],
  ['name', 4, 'string'],
  ['allowEmptyValue', 5, 'bool'],
  ['type', 6, 'string'],
  ['format', 7, 'string'],
  ['items', 8, primitivesItems],
  ['collectionFormat', 9, 'string'],
  ...primitiveRows(10),
  ext(23),
];

const bodyParameter = msg(() => [
  ['description', 1, 'string'],
  ['name', 2, 'string'],
  ['in', 3, 'string'],
  ['required', 4, 'bool'],
  ['schema', 5, schema],
  ext(6),
]);

/** NonBodyParameter oneof, chosen by `in` as gnostic's sub-schema validation does. */
const NON_BODY_BY_IN: Record<string, readonly [field: number, rows: readonly Row[]]> = {
  header: [1, HEADER_OR_PATH_PARAM_ROWS],
  formData: [2, QUERY_OR_FORM_PARAM_ROWS],
  query: [3, QUERY_OR_FORM_PARAM_ROWS],
  path: [4, HEADER_OR_PATH_PARAM_ROWS],
};

/** Parameter oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; }. */
function parameter(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  if (v.in === 'body') {
    w.message(field, () => bodyParameter(w, 1, v));
    return;
  }
  const sub = NON_BODY_BY_IN[String(v.in)];
  if (!sub) return;
  const [subField, rows] = sub;
  w.message(field, () => w.message(2, () => w.message(subField, () => writeFields(w, v, rows))));
}

const jsonReference = msg(() => [
  ['$ref', 1, 'string'],
  ['description', 2, 'string'],
]);

/** ParametersItem oneof { Parameter parameter = 1; JsonReference json_reference = 2; }. */
function parametersItem(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  if (typeof v.$ref === 'string') w.message(field, () => jsonReference(w, 2, v));
  else w.message(field, () => parameter(w, 1, v));
}

/** SchemaItem oneof { Schema schema = 1; FileSchema file_schema = 2; } — `type: file` is a file schema. */
function schemaItem(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  if (v.type === 'file') w.message(field, () => fileSchema(w, 2, v));
  else w.message(field, () => schema(w, 1, v));
}

const response = msg(() => [
  ['description', 1, 'string'],
  ['schema', 2, schemaItem],
  ['headers', 3, named(header)],
  ['examples', 4, named(writeAny)],
  ext(5),
]);

/** ResponseValue oneof { Response response = 1; JsonReference json_reference = 2; }. */
function responseValue(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  if (typeof v.$ref === 'string') w.message(field, () => jsonReference(w, 2, v));
  else w.message(field, () => response(w, 1, v));
}

/** Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2; }. */
function responses(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  w.message(field, () => {
    writeNamedPairs(w, 1, v, responseValue, (k) => k === 'default' || /^[0-9]{3}$/.test(k));
    writeVendorExtensions(w, 2, v);
  });
}

/** SecurityRequirement { repeated NamedStringArray additional_properties = 1; } with StringArray { repeated string value = 1; }. */
const securityRequirement = named((w, field, v) => {
  if (Array.isArray(v)) w.message(field, () => writeFields(w, { value: v }, [['value', 1, 'strings']]));
});

const operation = msg(() => [
  ['tags', 1, 'strings'],
  ['summary', 2, 'string'],
  ['description', 3, 'string'],
  ['externalDocs', 4, externalDocs],
  ['operationId', 5, 'string'],
  ['produces', 6, 'strings'],
  ['consumes', 7, 'strings'],
  ['parameters', 8, repeated(parametersItem)],
  ['responses', 9, responses],
  ['schemes', 10, 'strings'],
  ['deprecated', 11, 'bool'],
  ['security', 12, repeated(securityRequirement)],
  ext(13),
]);

const pathItem = msg(() => [
  ['$ref', 1, 'string'],
  ['get', 2, operation],
  ['put', 3, operation],
  ['post', 4, operation],
  ['delete', 5, operation],
  ['options', 6, operation],
  ['head', 7, operation],
  ['patch', 8, operation],
  ['parameters', 9, repeated(parametersItem)],
  ext(10),
]);

/** Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; } — path keys start with "/". */
function paths(w: ProtoWriter, field: number, v: unknown): void {
  if (!isObject(v)) return;
  w.message(field, () => {
    writeVendorExtensions(w, 1, v);
    writeNamedPairs(w, 2, v, pathItem, (k) => k.startsWith('/'));
  });
}

const contact = msg(() => [
  ['name', 1, 'string'],
  ['url', 2, 'string'],
  ['email', 3, 'string'],
  ext(4),
]);

const license = msg(() => [
  ['name', 1, 'string'],
  ['url', 2, 'string'],
  ext(3),
]);

const info = msg(() => [
  ['title', 1, 'string'],
  ['version', 2, 'string'],
  ['description', 3, 'string'],
  ['termsOfService', 4, 'string'],
  ['contact', 5, contact],
  ['license', 6, license],
  ext(7),
]);

/** Oauth2Scopes { repeated NamedString additional_properties = 1; }. */
const oauth2Scopes = named((w, field, v) => {
  if (typeof v === 'string') w.string(field, v, true);
});

/** SecurityDefinitionsItem oneof member by `type` (and `flow` for oauth2), with its message rows. */
function securityScheme(v: Json): readonly [field: number, rows: readonly Row[]] | undefined {
  switch (v.type) {
    case 'basic':
      return [1, [['type', 1, 'string'], ['description', 2, 'string'], ext(3)]];
    case 'apiKey':
      return [2, [['type', 1, 'string'], ['name', 2, 'string'], ['in', 3, 'string'], ['description', 4, 'string'], ext(5)]];
    case 'oauth2': {
      const head: Row[] = [['type', 1, 'string'], ['flow', 2, 'string'], ['scopes', 3, oauth2Scopes]];
      switch (v.flow) {
        case 'implicit':
          return [3, [...head, ['authorizationUrl', 4, 'string'], ['description', 5, 'string'], ext(6)]];
        case 'password':
          return [4, [...head, ['tokenUrl', 4, 'string'], ['description', 5, 'string'], ext(6)]];
        case 'application':
          return [5, [...head, ['tokenUrl', 4, 'string'], ['description', 5, 'string'], ext(6)]];
        case 'accessCode':
          return [6, [...head, ['authorizationUrl', 4, 'string'], ['tokenUrl', 5, 'string'], ['description', 6, 'string'], ext(7)]];
      }
      return undefined;
    }
  }
  return undefined;
}

const securityDefinitions = named((w, field, v) => {
  if (!isObject(v)) return;
  const member = securityScheme(v);
  if (member) w.message(field, () => w.message(member[0], () => writeFields(w, v, member[1])));
});

const tag = msg(() => [
  ['name', 1, 'string'],
  ['description', 2, 'string'],
  ['externalDocs', 3, externalDocs],
  ext(4),
]);

const DOCUMENT_ROWS: readonly Row[] = [
  ['swagger', 1, 'string'],
  ['info', 2, info],
  ['host', 3, 'string'],
  ['basePath', 4, 'string'],
  ['schemes', 5, 'strings'],
  ['consumes', 6, 'strings'],
  ['produces', 7, 'strings'],
  ['paths', 8, paths],
  ['definitions', 9, named(schema)],
  ['parameters', 10, named(parameter)],
  ['responses', 11, named((w, f, v) => response(w, f, v))],
  ['security', 12, repeated(securityRequirement)],
  ['securityDefinitions', 13, securityDefinitions],
  ['tags', 14, repeated(tag)],
  ['externalDocs', 15, externalDocs],
  ext(16),
];

/**
 * Encodes a swagger 2.0 document (the parsed JSON of `/openapi/v2`) as the
 * gnostic `openapi.v2.Document` protobuf message that kubectl decodes when it
 * asks for protobuf (see {@link negotiateOpenApiV2}). Pure; callers cache the result.
 */
export function encodeOpenApiV2Protobuf(swagger: object): Buffer {
  const w = new ProtoWriter();
  writeFields(w, swagger as Json, DOCUMENT_ROWS);
  return w.finish();
}
