import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { definitions } from '../../api/generated/schema.js';
import { builtinResources, type ResourceInfo } from '../../api/resources.js';
import { OpenApiDocuments } from '../openapi.js';
import { encodeOpenApiV2Protobuf, negotiateOpenApiV2, OPENAPI_V2_PROTOBUF_CONTENT_TYPE } from './protobuf.js';

// ---------------------------------------------------------------------------
// A small protobuf decoder for these tests: the wire format, the gnostic
// openapi.v2 messages (transcribed independently of the encoder's tables, as
// "number name type" with a leading * for repeated fields), and the inverse of
// gnostic's JSON→message mapping so whole documents can be compared.
// ---------------------------------------------------------------------------

type Wire = { field: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [result, pos];
    shift += 7n;
  }
}

function decodeWire(buf: Buffer): Wire[] {
  const out: Wire[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(buf, pos);
      out.push({ field, wire, value: v });
      pos = p2;
    } else if (wire === 1) {
      out.push({ field, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ field, wire, value: buf.subarray(p2, end) });
      pos = end;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return out;
}

const PRIMITIVE_TAIL = (n: number): string =>
  [
    'default Any', 'maximum double', 'exclusive_maximum bool', 'minimum double', 'exclusive_minimum bool',
    'max_length int64', 'min_length int64', 'pattern string', 'max_items int64', 'min_items int64',
    'unique_items bool', '*enum Any', 'multiple_of double',
  ].map((f, i) => `${n + i} ${f}`).join('; ');

/** The gnostic openapi.v2 messages, transcribed from OpenAPIv2.proto. */
const PROTO: Record<string, string> = {
  AdditionalPropertiesItem: '1 schema Schema; 2 boolean bool',
  Any: '1 value bytes; 2 yaml string',
  ApiKeySecurity: '1 type string; 2 name string; 3 in string; 4 description string; 5 *vendor_extension NamedAny',
  BasicAuthenticationSecurity: '1 type string; 2 description string; 3 *vendor_extension NamedAny',
  BodyParameter: '1 description string; 2 name string; 3 in string; 4 required bool; 5 schema Schema; 6 *vendor_extension NamedAny',
  Contact: '1 name string; 2 url string; 3 email string; 4 *vendor_extension NamedAny',
  Definitions: '1 *additional_properties NamedSchema',
  Document:
    '1 swagger string; 2 info Info; 3 host string; 4 base_path string; 5 *schemes string; 6 *consumes string; 7 *produces string; ' +
    '8 paths Paths; 9 definitions Definitions; 10 parameters ParameterDefinitions; 11 responses ResponseDefinitions; ' +
    '12 *security SecurityRequirement; 13 security_definitions SecurityDefinitions; 14 *tags Tag; 15 external_docs ExternalDocs; ' +
    '16 *vendor_extension NamedAny',
  Examples: '1 *additional_properties NamedAny',
  ExternalDocs: '1 description string; 2 url string; 3 *vendor_extension NamedAny',
  FileSchema:
    '1 format string; 2 title string; 3 description string; 4 default Any; 5 *required string; 6 type string; 7 read_only bool; ' +
    '8 external_docs ExternalDocs; 9 example Any; 10 *vendor_extension NamedAny',
  FormDataParameterSubSchema:
    '1 required bool; 2 in string; 3 description string; 4 name string; 5 allow_empty_value bool; 6 type string; 7 format string; ' +
    `8 items PrimitivesItems; 9 collection_format string; ${PRIMITIVE_TAIL(10)}; 23 *vendor_extension NamedAny`,
  Header:
    `1 type string; 2 format string; 3 items PrimitivesItems; 4 collection_format string; ${PRIMITIVE_TAIL(5)}; ` +
    '18 description string; 19 *vendor_extension NamedAny',
  HeaderParameterSubSchema:
    '1 required bool; 2 in string; 3 description string; 4 name string; 5 type string; 6 format string; 7 items PrimitivesItems; ' +
    `8 collection_format string; ${PRIMITIVE_TAIL(9)}; 22 *vendor_extension NamedAny`,
  Headers: '1 *additional_properties NamedHeader',
  Info: '1 title string; 2 version string; 3 description string; 4 terms_of_service string; 5 contact Contact; 6 license License; 7 *vendor_extension NamedAny',
  ItemsItem: '1 *schema Schema',
  JsonReference: '1 _ref string; 2 description string',
  License: '1 name string; 2 url string; 3 *vendor_extension NamedAny',
  NamedAny: '1 name string; 2 value Any',
  NamedHeader: '1 name string; 2 value Header',
  NamedParameter: '1 name string; 2 value Parameter',
  NamedPathItem: '1 name string; 2 value PathItem',
  NamedResponse: '1 name string; 2 value Response',
  NamedResponseValue: '1 name string; 2 value ResponseValue',
  NamedSchema: '1 name string; 2 value Schema',
  NamedSecurityDefinitionsItem: '1 name string; 2 value SecurityDefinitionsItem',
  NamedString: '1 name string; 2 value string',
  NamedStringArray: '1 name string; 2 value StringArray',
  NonBodyParameter:
    '1 header_parameter_sub_schema HeaderParameterSubSchema; 2 form_data_parameter_sub_schema FormDataParameterSubSchema; ' +
    '3 query_parameter_sub_schema QueryParameterSubSchema; 4 path_parameter_sub_schema PathParameterSubSchema',
  Oauth2AccessCodeSecurity:
    '1 type string; 2 flow string; 3 scopes Oauth2Scopes; 4 authorization_url string; 5 token_url string; 6 description string; 7 *vendor_extension NamedAny',
  Oauth2ApplicationSecurity: '1 type string; 2 flow string; 3 scopes Oauth2Scopes; 4 token_url string; 5 description string; 6 *vendor_extension NamedAny',
  Oauth2ImplicitSecurity:
    '1 type string; 2 flow string; 3 scopes Oauth2Scopes; 4 authorization_url string; 5 description string; 6 *vendor_extension NamedAny',
  Oauth2PasswordSecurity: '1 type string; 2 flow string; 3 scopes Oauth2Scopes; 4 token_url string; 5 description string; 6 *vendor_extension NamedAny',
  Oauth2Scopes: '1 *additional_properties NamedString',
  Operation:
    '1 *tags string; 2 summary string; 3 description string; 4 external_docs ExternalDocs; 5 operation_id string; 6 *produces string; ' +
    '7 *consumes string; 8 *parameters ParametersItem; 9 responses Responses; 10 *schemes string; 11 deprecated bool; ' +
    '12 *security SecurityRequirement; 13 *vendor_extension NamedAny',
  Parameter: '1 body_parameter BodyParameter; 2 non_body_parameter NonBodyParameter',
  ParameterDefinitions: '1 *additional_properties NamedParameter',
  ParametersItem: '1 parameter Parameter; 2 json_reference JsonReference',
  PathItem:
    '1 _ref string; 2 get Operation; 3 put Operation; 4 post Operation; 5 delete Operation; 6 options Operation; 7 head Operation; ' +
    '8 patch Operation; 9 *parameters ParametersItem; 10 *vendor_extension NamedAny',
  PathParameterSubSchema:
    '1 required bool; 2 in string; 3 description string; 4 name string; 5 type string; 6 format string; 7 items PrimitivesItems; ' +
    `8 collection_format string; ${PRIMITIVE_TAIL(9)}; 22 *vendor_extension NamedAny`,
  Paths: '1 *vendor_extension NamedAny; 2 *path NamedPathItem',
  PrimitivesItems:
    `1 type string; 2 format string; 3 items PrimitivesItems; 4 collection_format string; ${PRIMITIVE_TAIL(5)}; 18 *vendor_extension NamedAny`,
  Properties: '1 *additional_properties NamedSchema',
  QueryParameterSubSchema:
    '1 required bool; 2 in string; 3 description string; 4 name string; 5 allow_empty_value bool; 6 type string; 7 format string; ' +
    `8 items PrimitivesItems; 9 collection_format string; ${PRIMITIVE_TAIL(10)}; 23 *vendor_extension NamedAny`,
  Response: '1 description string; 2 schema SchemaItem; 3 headers Headers; 4 examples Examples; 5 *vendor_extension NamedAny',
  ResponseDefinitions: '1 *additional_properties NamedResponse',
  ResponseValue: '1 response Response; 2 json_reference JsonReference',
  Responses: '1 *response_code NamedResponseValue; 2 *vendor_extension NamedAny',
  Schema:
    '1 _ref string; 2 format string; 3 title string; 4 description string; 5 default Any; 6 multiple_of double; 7 maximum double; ' +
    '8 exclusive_maximum bool; 9 minimum double; 10 exclusive_minimum bool; 11 max_length int64; 12 min_length int64; ' +
    '13 pattern string; 14 max_items int64; 15 min_items int64; 16 unique_items bool; 17 max_properties int64; ' +
    '18 min_properties int64; 19 *required string; 20 *enum Any; 21 additional_properties AdditionalPropertiesItem; ' +
    '22 type TypeItem; 23 items ItemsItem; 24 *all_of Schema; 25 properties Properties; 26 discriminator string; ' +
    '27 read_only bool; 28 xml Xml; 29 external_docs ExternalDocs; 30 example Any; 31 *vendor_extension NamedAny',
  SchemaItem: '1 schema Schema; 2 file_schema FileSchema',
  SecurityDefinitions: '1 *additional_properties NamedSecurityDefinitionsItem',
  SecurityDefinitionsItem:
    '1 basic_authentication_security BasicAuthenticationSecurity; 2 api_key_security ApiKeySecurity; ' +
    '3 oauth2_implicit_security Oauth2ImplicitSecurity; 4 oauth2_password_security Oauth2PasswordSecurity; ' +
    '5 oauth2_application_security Oauth2ApplicationSecurity; 6 oauth2_access_code_security Oauth2AccessCodeSecurity',
  SecurityRequirement: '1 *additional_properties NamedStringArray',
  StringArray: '1 *value string',
  Tag: '1 name string; 2 description string; 3 external_docs ExternalDocs; 4 *vendor_extension NamedAny',
  TypeItem: '1 *value string',
  Xml: '1 name string; 2 namespace string; 3 prefix string; 4 attribute bool; 5 wrapped bool; 6 *vendor_extension NamedAny',
};

type FieldDef = { name: string; type: string; repeated: boolean };
const MESSAGES = new Map<string, Map<number, FieldDef>>(
  Object.entries(PROTO).map(([msg, spec]) => [
    msg,
    new Map(
      spec.split(';').map((f) => {
        const [no, name, type] = f.trim().split(/\s+/) as [string, string, string];
        return [Number(no), { name: name.replace(/^\*/, ''), type, repeated: name.startsWith('*') }];
      }),
    ),
  ]),
);

/** A decoded message: proto field names; repeated fields always arrays; absent singular fields absent. */
type Decoded = { [field: string]: unknown };

function decode(buf: Buffer, msg: string): Decoded {
  const fields = MESSAGES.get(msg);
  if (!fields) throw new Error(`unknown message ${msg}`);
  const out: Decoded = {};
  for (const def of fields.values()) if (def.repeated) out[def.name] = [];
  for (const { field, wire, value } of decodeWire(buf)) {
    const def: FieldDef | undefined = fields.get(field);
    if (!def) throw new Error(`${msg}: unknown field ${field}`);
    let v: unknown;
    const expectWire: number = def.type === 'bool' || def.type === 'int64' ? 0 : def.type === 'double' ? 1 : 2;
    assert.equal(wire, expectWire, `${msg}.${def.name}: wire type`);
    if (def.type === 'string') v = (value as Buffer).toString('utf8');
    else if (def.type === 'bytes') v = Buffer.from(value as Buffer);
    else if (def.type === 'bool') v = value !== 0n;
    else if (def.type === 'int64') v = Number(BigInt.asIntN(64, value as bigint));
    else if (def.type === 'double') v = (value as Buffer).readDoubleLE(0);
    else v = decode(value as Buffer, def.type);
    if (def.repeated) (out[def.name] as unknown[]).push(v);
    else out[def.name] = v;
  }
  return out;
}

const camel = (s: string): string => (s === '_ref' ? '$ref' : s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()));

/** The inverse of gnostic's JSON→message mapping: a decoded message back to swagger JSON. */
function toJson(d: Decoded, msg: string): unknown {
  const fields = [...MESSAGES.get(msg)!.values()];
  const value = (def: FieldDef, v: unknown): unknown => (MESSAGES.has(def.type) ? toJson(v as Decoded, def.type) : v);
  // Oneof wrappers and single-field containers collapse to their content.
  switch (msg) {
    case 'Any':
      return YAML.parse(d.yaml as string);
    case 'TypeItem': {
      const v = d.value as string[];
      return v.length === 1 ? v[0] : v;
    }
    case 'ItemsItem': {
      const v = (d.schema as Decoded[]).map((s) => toJson(s, 'Schema'));
      return v.length === 1 ? v[0] : v;
    }
    case 'StringArray':
      return d.value;
    case 'AdditionalPropertiesItem':
      return d.schema !== undefined ? toJson(d.schema as Decoded, 'Schema') : d.boolean;
    case 'Parameter':
    case 'NonBodyParameter':
    case 'ParametersItem':
    case 'ResponseValue':
    case 'SchemaItem':
    case 'SecurityDefinitionsItem': {
      const present = fields.filter((f) => d[f.name] !== undefined);
      assert.equal(present.length, 1, `${msg}: exactly one oneof member`);
      return value(present[0]!, d[present[0]!.name]);
    }
  }
  const out: Record<string, unknown> = {};
  for (const def of fields) {
    const v = d[def.name];
    if (v === undefined) continue;
    if (def.repeated && def.type.startsWith('Named')) {
      // Named pairs: map entries of the JSON object itself (Paths, Responses, extensions) or of the wrapper.
      for (const pair of v as Decoded[]) out[pair.name as string] = value(MESSAGES.get(def.type)!.get(2)!, pair.value);
    } else if (def.repeated) {
      if ((v as unknown[]).length) out[camel(def.name)] = (v as unknown[]).map((x) => value(def, x));
    } else {
      out[camel(def.name)] = value(def, v);
    }
  }
  return out;
}

const roundTrip = (doc: object): unknown => toJson(decode(encodeOpenApiV2Protobuf(doc), 'Document'), 'Document');

/** The vendor extensions of a decoded message as name → parsed YAML value. */
function extensions(d: Decoded): Record<string, unknown> {
  return Object.fromEntries((d.vendor_extension as Decoded[]).map((e) => [e.name, YAML.parse((e.value as Decoded).yaml as string)]));
}

function named(list: unknown, name: string): Decoded {
  const hit = (list as Decoded[]).find((p) => p.name === name);
  assert.ok(hit, `no entry named ${name}`);
  return hit.value as Decoded;
}

function builtinDocument(extra: ResourceInfo[] = []): { json: string; doc: object } {
  const docs = new OpenApiDocuments(definitions);
  docs.setResources([...builtinResources(), ...extra]);
  const json = docs.v2();
  return { json, doc: JSON.parse(json) as object };
}

// ---------------------------------------------------------------------------

describe('negotiateOpenApiV2', () => {
  test('kubectl\'s protobuf Accept selects protobuf, answered with the dotted media type', () => {
    assert.equal(negotiateOpenApiV2('application/com.github.proto-openapi.spec.v2@v1.0+protobuf'), 'protobuf');
    assert.equal(negotiateOpenApiV2('application/com.github.proto-openapi.spec.v2.v1.0+protobuf'), 'protobuf');
    // client-go parses the response Content-Type with Go's mime package, which rejects "@".
    assert.equal(OPENAPI_V2_PROTOBUF_CONTENT_TYPE, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
  });

  test('JSON for JSON, wildcards and no header; q orders clauses; nothing matching is undefined', () => {
    assert.equal(negotiateOpenApiV2(undefined), 'json');
    assert.equal(negotiateOpenApiV2('application/json, */*'), 'json');
    assert.equal(negotiateOpenApiV2('*/*'), 'json');
    assert.equal(negotiateOpenApiV2('application/*'), 'json');
    assert.equal(negotiateOpenApiV2('*/*, application/com.github.proto-openapi.spec.v2@v1.0+protobuf'), 'protobuf');
    assert.equal(negotiateOpenApiV2('application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf'), 'protobuf');
    assert.equal(negotiateOpenApiV2('application/json;q=0, application/yaml'), undefined);
    assert.equal(negotiateOpenApiV2('application/vnd.kubernetes.protobuf'), undefined);
  });
});

describe('encodeOpenApiV2Protobuf wire format', () => {
  test('encodes fields with the numbers and wire types of OpenAPIv2.proto', () => {
    const bytes = encodeOpenApiV2Protobuf({
      swagger: '2.0',
      definitions: { A: { type: 'object', additionalProperties: false, maxLength: 300 } },
    });
    assert.deepEqual(
      [...bytes],
      [
        0x0a, 3, ...Buffer.from('2.0'), // Document.swagger = 1
        0x4a, 26, // Document.definitions = 9
        0x0a, 24, // Definitions.additional_properties = 1 (NamedSchema)
        0x0a, 1, 0x41, // NamedSchema.name = "A"
        0x12, 19, // NamedSchema.value = 2 (Schema)
        0x58, 0xac, 0x02, // Schema.max_length = 11, varint 300
        0xaa, 0x01, 2, 0x10, 0x00, // Schema.additional_properties = 21 → oneof boolean = 2, false still written
        0xb2, 0x01, 8, 0x0a, 6, ...Buffer.from('object'), // Schema.type = 22 → TypeItem.value = 1
      ],
    );
  });

  test('length prefixes of large nested messages are multi-byte varints', () => {
    const long = 'x'.repeat(20000);
    const d = decode(encodeOpenApiV2Protobuf({ swagger: '2.0', info: { title: long, version: 'v1' }, definitions: { A: { description: long } } }), 'Document');
    assert.equal((d.info as Decoded).title, long);
    assert.equal(named((d.definitions as Decoded).additional_properties, 'A').description, long);
  });

  test('scalars at their proto3 default are omitted, present empty messages are kept', () => {
    const d = decode(
      encodeOpenApiV2Protobuf({ swagger: '2.0', definitions: { A: { type: 'object', properties: {}, minimum: 0, uniqueItems: false, format: '' } } }),
      'Document',
    );
    const a = named((d.definitions as Decoded).additional_properties, 'A');
    // kube-openapi treats an object with a properties message as a kind, without one as a map.
    assert.deepEqual(a.properties, { additional_properties: [] });
    assert.equal(a.minimum, undefined);
    assert.equal(a.unique_items, undefined);
    assert.equal(a.format, undefined);
  });

  test('numbers: doubles, negative and large int64 values', () => {
    const d = decode(
      encodeOpenApiV2Protobuf({ definitions: { A: { minimum: -1.5, maximum: 1e300, minLength: -3, maxLength: 2 ** 40, multipleOf: 0.25 } } }),
      'Document',
    );
    const a = named((d.definitions as Decoded).additional_properties, 'A');
    assert.equal(a.minimum, -1.5);
    assert.equal(a.maximum, 1e300);
    assert.equal(a.min_length, -3);
    assert.equal(a.max_length, 2 ** 40);
    assert.equal(a.multiple_of, 0.25);
  });
});

describe('encodeOpenApiV2Protobuf mapping', () => {
  test('vendor extensions carry their value as YAML text that parses back to the same value', () => {
    const value = { group: '', kind: 'Pod', list: ['a', 'b'], n: 3, t: true, odd: 'line\u2028sep \u0085 "quoted" y' };
    const d = decode(encodeOpenApiV2Protobuf({ swagger: '2.0', definitions: { A: { type: 'object', 'x-test': value, 'x-s': 'name' } } }), 'Document');
    const a = named((d.definitions as Decoded).additional_properties, 'A');
    assert.deepEqual(extensions(a), { 'x-test': value, 'x-s': 'name' });
    // The Any's google.protobuf.Any member stays unset, as gnostic leaves it for plain documents.
    assert.equal(((a.vendor_extension as Decoded[])[0]!.value as Decoded).value, undefined);
    // The escaped forms keep the text on one YAML line.
    assert.doesNotMatch(((a.vendor_extension as Decoded[])[0]!.value as Decoded).yaml as string, /[\u2028\u0085]/);
  });

  test('parameters pick the oneof member gnostic picks', () => {
    const op = {
      parameters: [
        { in: 'body', name: 'body', required: true, schema: { $ref: '#/definitions/A' } },
        { in: 'query', name: 'q', type: 'string', uniqueItems: true, allowEmptyValue: true },
        { in: 'path', name: 'p', type: 'string', required: true },
        { in: 'header', name: 'h', type: 'array', items: { type: 'string' }, collectionFormat: 'csv' },
        { in: 'formData', name: 'f', type: 'integer', default: 5, enum: [1, 5] },
        { $ref: '#/parameters/shared' },
      ],
      responses: { '200': { description: 'OK' } },
    };
    const d = decode(encodeOpenApiV2Protobuf({ paths: { '/x': { get: op } } }), 'Document');
    const get = named((d.paths as Decoded).path, '/x').get as Decoded;
    const items = get.parameters as Decoded[];
    const nonBody = (i: number): Decoded => ((items[i]!.parameter as Decoded).non_body_parameter as Decoded);
    assert.equal(((items[0]!.parameter as Decoded).body_parameter as Decoded).schema !== undefined, true);
    assert.equal((nonBody(1).query_parameter_sub_schema as Decoded).allow_empty_value, true);
    assert.equal((nonBody(2).path_parameter_sub_schema as Decoded).required, true);
    assert.equal(((nonBody(3).header_parameter_sub_schema as Decoded).items as Decoded).type, 'string');
    assert.equal(YAML.parse(((nonBody(4).form_data_parameter_sub_schema as Decoded).default as Decoded).yaml as string), 5);
    assert.deepEqual((items[5]!.json_reference as Decoded)._ref, '#/parameters/shared');
    assert.deepEqual(roundTrip({ paths: { '/x': { get: op } } }), { paths: { '/x': { get: op } } });
  });

  test('responses, security schemes, tags, schema shapes and document-level maps round-trip', () => {
    const doc = {
      swagger: '2.0',
      info: { title: 'T', version: 'v', contact: { name: 'c', email: 'e' }, license: { name: 'Apache-2.0' }, 'x-info': 1 },
      host: 'h:6443',
      basePath: '/',
      schemes: ['https'],
      consumes: ['application/json'],
      produces: ['application/json'],
      paths: {
        'x-paths': 'p',
        '/a/{name}': {
          parameters: [{ in: 'path', name: 'name', type: 'string', required: true }],
          get: {
            responses: {
              '200': { description: 'OK', schema: { type: 'array', items: { $ref: '#/definitions/A' } }, headers: { 'X-H': { type: 'string' } } },
              '404': { $ref: '#/responses/NotFound' },
              default: { description: 'file', schema: { type: 'file' } },
              'x-r': ['z'],
            },
            security: [{ BearerToken: [] }, { OAuth: ['read', 'write'] }],
            deprecated: true,
            'x-kubernetes-action': 'get',
          },
        },
      },
      definitions: {
        A: {
          type: ['object', 'null'],
          required: ['b'],
          properties: { b: { type: 'string', enum: ['x', 'y'], default: 'x', pattern: '^[a-z]$' }, c: { allOf: [{ $ref: '#/definitions/B' }] } },
          additionalProperties: { type: 'integer', format: 'int32' },
          xml: { name: 'a', wrapped: true },
          externalDocs: { url: 'https://e' },
          example: { b: 'x' },
        },
        B: { type: 'array', items: [{ type: 'string' }, { type: 'number' }], readOnly: true, discriminator: 'k', title: 'B' },
      },
      parameters: { shared: { in: 'query', name: 'pretty', type: 'string' } },
      responses: { NotFound: { description: 'nf', examples: { 'application/json': { a: 1 } } } },
      security: [{ BearerToken: [] }],
      securityDefinitions: {
        BearerToken: { in: 'header', name: 'authorization', type: 'apiKey' },
        Basic: { type: 'basic' },
        OAuth: { type: 'oauth2', flow: 'accessCode', authorizationUrl: 'https://a', tokenUrl: 'https://t', scopes: { read: 'r' } },
        Imp: { type: 'oauth2', flow: 'implicit', authorizationUrl: 'https://a', scopes: {} },
      },
      tags: [{ name: 'core_v1', description: 'd', 'x-t': true }],
      'x-doc': { a: [1, 2] },
    };
    assert.deepEqual(roundTrip(doc), doc);
  });

  test('keys gnostic has no field for are dropped', () => {
    const d = roundTrip({ swagger: '2.0', definitions: { A: { type: 'string', nullable: true, anyOf: [{ type: 'string' }] } } });
    assert.deepEqual(d, { swagger: '2.0', definitions: { A: { type: 'string' } } });
  });
});

describe('encodeOpenApiV2Protobuf of the built-in document', () => {
  const { json, doc } = builtinDocument();
  const bytes = encodeOpenApiV2Protobuf(doc);
  const d = decode(bytes, 'Document');

  test('is swagger 2.0 with the document info', () => {
    assert.equal(d.swagger, '2.0');
    assert.equal((d.info as Decoded).title, 'Kubernetes');
    assert.ok(((d.info as Decoded).version as string).startsWith('v1.'));
  });

  test('the Pod containers property carries its strategic-merge metadata as kubectl reads it', () => {
    const podSpec = named((d.definitions as Decoded).additional_properties, 'io.k8s.api.core.v1.PodSpec');
    const containers = named((podSpec.properties as Decoded).additional_properties, 'containers');
    const ext = extensions(containers);
    assert.equal(ext['x-kubernetes-patch-merge-key'], 'name');
    assert.equal(ext['x-kubernetes-patch-strategy'], 'merge');
    assert.deepEqual((containers.type as Decoded).value, ['array']);
    assert.equal((((containers.items as Decoded).schema as Decoded[])[0] as Decoded)._ref, '#/definitions/io.k8s.api.core.v1.Container');
    const pod = named((d.definitions as Decoded).additional_properties, 'io.k8s.api.core.v1.Pod');
    assert.deepEqual(extensions(pod)['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Pod', version: 'v1' }]);
  });

  test('path operations carry x-kubernetes-group-version-kind and x-kubernetes-action', () => {
    const item = named((d.paths as Decoded).path, '/api/v1/namespaces/{namespace}/pods/{name}');
    const ext = extensions(item.get as Decoded);
    assert.deepEqual(ext['x-kubernetes-group-version-kind'], { group: '', kind: 'Pod', version: 'v1' });
    assert.equal(ext['x-kubernetes-action'], 'get');
    const params = (item.parameters as Decoded[]).map((p) => (p.parameter as Decoded).non_body_parameter as Decoded);
    assert.ok(params.some((p) => (p.path_parameter_sub_schema as Decoded | undefined)?.name === 'namespace'));
  });

  test('decodes back to the same JSON document, custom resources included', () => {
    assert.deepEqual(roundTrip(doc), JSON.parse(json));
    const cronTab: ResourceInfo = {
      group: 'stable.example.com', version: 'v1', resource: 'crontabs', kind: 'CronTab', listKind: 'CronTabList',
      singular: 'crontab', namespaced: true, verbs: ['get', 'list', 'create', 'patch'], shortNames: [], categories: [], subresources: [],
      custom: true,
      schema: {
        type: 'object',
        properties: {
          spec: {
            type: 'object',
            properties: {
              ports: { type: 'array', items: { type: 'integer' }, 'x-kubernetes-list-type': 'set' },
              extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    };
    const withCrd = builtinDocument([cronTab]).doc;
    assert.deepEqual(roundTrip(withCrd), withCrd);
  });

  test('encodes in well under a second', () => {
    const start = performance.now();
    encodeOpenApiV2Protobuf(JSON.parse(json) as object);
    assert.ok(performance.now() - start < 1000, 'encoding took too long');
  });
});
