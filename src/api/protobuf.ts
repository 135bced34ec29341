/**
 * Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) request bodies:
 * the 4-byte magic `k8s\0` followed by a `runtime.Unknown` envelope
 * {typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4} whose `raw` is
 * the object's own message (apimachinery pkg/runtime/serializer/protobuf).
 * Decoding yields the object exactly as its JSON encoding would read; the
 * encoder is the inverse, for tests and clients.
 */
import { protoKinds, protoMessages, protoSliceWrappers, type ProtoFieldInfo } from './generated/protobuf.js';

/** The media type kubectl's typed clients send request bodies in. */
export const KUBERNETES_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

/** Field flags in the generated table (kept in step with scripts/gen-proto.ts). */
const FLAG_REPEATED = 1;
const FLAG_OMIT_EMPTY = 2;
const FLAG_INLINE = 4;

// Upstream's protoEncodingPrefix.
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const MAX_DEPTH = 1000;

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
const APIEXT = 'k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1';
const T_TIME = `${META}.Time`;
const T_MICROTIME = `${META}.MicroTime`;
const T_DURATION = `${META}.Duration`;
const T_FIELDSV1 = `${META}.FieldsV1`;
const T_RAW = 'k8s.io.apimachinery.pkg.runtime.RawExtension';
const T_UNKNOWN = 'k8s.io.apimachinery.pkg.runtime.Unknown';
const T_INTORSTRING = 'k8s.io.apimachinery.pkg.util.intstr.IntOrString';
const T_QUANTITY = 'k8s.io.apimachinery.pkg.api.resource.Quantity';
const T_QUANTITYVALUE = 'k8s.io.apimachinery.pkg.api.resource.QuantityValue';
const T_JSON = `${APIEXT}.JSON`;
const T_OR_ARRAY = `${APIEXT}.JSONSchemaPropsOrArray`;
const T_OR_BOOL = `${APIEXT}.JSONSchemaPropsOrBool`;
const T_OR_STRINGS = `${APIEXT}.JSONSchemaPropsOrStringArray`;

/** The result of decoding a protobuf body: its envelope type and the object as JSON would give it. */
export interface DecodedKubernetesProtobuf {
  apiVersion: string;
  kind: string;
  object: any;
}

/** True when a Content-Type header names the Kubernetes protobuf encoding (parameters ignored). */
export function isKubernetesProtobuf(contentType: string): boolean {
  return contentType.split(';')[0].trim().toLowerCase() === KUBERNETES_PROTOBUF_MEDIA_TYPE;
}

/**
 * Decodes a Kubernetes protobuf body into `{apiVersion, kind, object}`, where
 * `object` is the JSON form (apiVersion and kind first). Throws an Error with
 * a readable message when the body is malformed or its kind is unknown.
 */
export function decodeKubernetesProtobuf(body: Buffer): DecodedKubernetesProtobuf {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('provided data does not appear to be a protobuf message, expected prefix 6b 38 73 00');
  }
  if (body.length === MAGIC.length) throw new Error('empty body');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  let contentEncoding = '';
  forEachField(body.subarray(MAGIC.length), 'Unknown', (no, wire, r) => {
    if (no === 1) {
      forEachField(readLengthDelimited(r, wire, 'Unknown.typeMeta'), 'Unknown.typeMeta', (tno, twire, tr) => {
        if (tno === 1) apiVersion = readString(tr, twire, 'typeMeta.apiVersion');
        else if (tno === 2) kind = readString(tr, twire, 'typeMeta.kind');
        else skipField(tr, twire, 'typeMeta');
      });
    } else if (no === 2) raw = readLengthDelimited(r, wire, 'Unknown.raw');
    else if (no === 3) contentEncoding = readString(r, wire, 'Unknown.contentEncoding');
    else skipField(r, wire, 'Unknown');
  });
  if (contentEncoding) throw new Error(`unsupported protobuf content encoding "${contentEncoding}"`);
  if (!kind) throw new Error('Object \'Kind\' is missing in protobuf envelope');
  const type = messageForKind(apiVersion, kind);
  const fields = decodeFields(raw, type, kind, 0);
  return { apiVersion, kind, object: { apiVersion, kind, ...fields } };
}

/**
 * Encodes a JSON-form object (with apiVersion and kind) as a Kubernetes
 * protobuf body, magic prefix included. Fields the proto does not define are dropped.
 */
export function encodeKubernetesProtobuf(object: { apiVersion: string; kind: string; [field: string]: unknown }): Buffer {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !kind) throw new Error('object needs string apiVersion and kind');
  const type = messageForKind(apiVersion, kind);
  const typeMeta = Buffer.concat([fieldBytes(1, 2, utf8(apiVersion)), fieldBytes(2, 2, utf8(kind))]);
  return Buffer.concat([
    MAGIC,
    fieldBytes(1, 2, typeMeta),
    fieldBytes(2, 2, encodeFields(object, type, kind)),
    // Go always writes these non-pointer strings, empty.
    fieldBytes(3, 2, Buffer.alloc(0)),
    fieldBytes(4, 2, Buffer.alloc(0)),
  ]);
}

function messageForKind(apiVersion: string, kind: string): string {
  // Option types and Status are registered into every group version
  // (metav1.AddToGroupVersion), so a typed client may label them with its own.
  const type = protoKinds[`${apiVersion} ${kind}`] ?? protoKinds[`meta.k8s.io/v1 ${kind}`];
  if (!type || type === T_UNKNOWN) throw new Error(`no kind "${kind}" is registered for version "${apiVersion}" in the protobuf encoding`);
  return type;
}

// ---- wire reading ----

interface Reader { buf: Buffer; pos: number }

function truncated(path: string): Error {
  return new Error(`protobuf: unexpected end of data in ${path}`);
}

/** Reads an unsigned varint that must fit in a safe integer (tags, lengths). */
function readUint(r: Reader, path: string): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (r.pos >= r.buf.length) throw truncated(path);
    const b = r.buf[r.pos++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) return result;
    mul *= 128;
  }
  throw new Error(`protobuf: varint too large in ${path}`);
}

/** Reads a full 64-bit varint as an unsigned bigint. */
function readVarint64(r: Reader, path: string): bigint {
  let result = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (r.pos >= r.buf.length) throw truncated(path);
    const b = r.buf[r.pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return BigInt.asUintN(64, result);
  }
  throw new Error(`protobuf: varint longer than 10 bytes in ${path}`);
}

function take(r: Reader, n: number, path: string): Buffer {
  if (n > r.buf.length - r.pos) throw truncated(path);
  const out = r.buf.subarray(r.pos, r.pos + n);
  r.pos += n;
  return out;
}

function expectWire(wire: number, want: number, path: string): void {
  if (wire !== want) throw new Error(`protobuf: ${path} has wire type ${wire}, expected ${want}`);
}

function readLengthDelimited(r: Reader, wire: number, path: string): Buffer {
  expectWire(wire, 2, path);
  return take(r, readUint(r, path), path);
}

function readString(r: Reader, wire: number, path: string): string {
  return readLengthDelimited(r, wire, path).toString('utf8');
}

function skipField(r: Reader, wire: number, path: string): void {
  switch (wire) {
    case 0: readVarint64(r, path); return;
    case 1: take(r, 8, path); return;
    case 2: take(r, readUint(r, path), path); return;
    case 5: take(r, 4, path); return;
    default: throw new Error(`protobuf: unsupported wire type ${wire} in ${path}`);
  }
}

/** Walks the fields of one message; the callback must consume each field's value. */
function forEachField(buf: Buffer, path: string, fn: (no: number, wire: number, r: Reader) => void): void {
  const r: Reader = { buf, pos: 0 };
  while (r.pos < buf.length) {
    const tag = readUint(r, path);
    const no = Math.floor(tag / 8);
    if (no === 0) throw new Error(`protobuf: invalid field number 0 in ${path}`);
    fn(no, tag & 7, r);
  }
}

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool']);
const FIXED64_TYPES = new Set(['double', 'fixed64', 'sfixed64']);
const FIXED32_TYPES = new Set(['float', 'fixed32', 'sfixed32']);

function scalarWire(type: string): number | undefined {
  if (VARINT_TYPES.has(type)) return 0;
  if (FIXED64_TYPES.has(type)) return 1;
  if (FIXED32_TYPES.has(type)) return 5;
  if (type === 'string' || type === 'bytes') return 2;
  return undefined;
}

/** Reads one scalar of `type` in its JSON form (int64 as a number, bytes as base64). */
function readScalar(r: Reader, type: string, path: string): unknown {
  switch (type) {
    case 'string': return take(r, readUint(r, path), path).toString('utf8');
    case 'bytes': return take(r, readUint(r, path), path).toString('base64');
    case 'bool': return readVarint64(r, path) !== 0n;
    case 'int32': return Number(BigInt.asIntN(32, readVarint64(r, path)));
    case 'int64': return Number(BigInt.asIntN(64, readVarint64(r, path)));
    case 'uint32': return Number(BigInt.asUintN(32, readVarint64(r, path)));
    case 'uint64': return Number(readVarint64(r, path));
    case 'sint32':
    case 'sint64': {
      const v = readVarint64(r, path);
      return Number((v >> 1n) ^ -(v & 1n));
    }
    case 'double': return take(r, 8, path).readDoubleLE(0);
    case 'fixed64': return Number(take(r, 8, path).readBigUInt64LE(0));
    case 'sfixed64': return Number(take(r, 8, path).readBigInt64LE(0));
    case 'float': return take(r, 4, path).readFloatLE(0);
    case 'fixed32': return take(r, 4, path).readUInt32LE(0);
    case 'sfixed32': return take(r, 4, path).readInt32LE(0);
    default: throw new Error(`protobuf: unknown scalar type ${type} in ${path}`);
  }
}

function scalarZero(type: string): unknown {
  return type === 'string' || type === 'bytes' ? '' : type === 'bool' ? false : 0;
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

/** Reads one value (scalar or message) of `type` whose tag has been read. */
function readValue(r: Reader, wire: number, type: string, path: string, depth: number): unknown {
  const want = scalarWire(type);
  if (want !== undefined) {
    expectWire(wire, want, path);
    return readScalar(r, type, path);
  }
  return decodeMessage(readLengthDelimited(r, wire, path), type, path, depth + 1);
}

function fieldsOf(type: string, path: string): Readonly<Record<number, ProtoFieldInfo>> {
  const fields = protoMessages[type];
  if (!fields) throw new Error(`protobuf: no message ${type} (at ${path})`);
  return fields;
}

/** Decodes a message of `type` to its JSON value, honouring the types with their own JSON form. */
function decodeMessage(buf: Buffer, type: string, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error(`protobuf: nesting deeper than ${MAX_DEPTH} at ${path}`);
  switch (type) {
    case T_TIME:
    case T_MICROTIME: {
      // An unset Time marshals to zero bytes and reads back as the zero time, which JSON writes as null.
      if (buf.length === 0) return null;
      let seconds = 0n;
      let nanos = 0;
      forEachField(buf, path, (no, wire, r) => {
        if (no === 1) { expectWire(wire, 0, path); seconds = BigInt.asIntN(64, readVarint64(r, path)); }
        else if (no === 2) { expectWire(wire, 0, path); nanos = Number(BigInt.asIntN(32, readVarint64(r, path))); }
        else skipField(r, wire, path);
      });
      // metav1.Time keeps whole seconds only; MicroTime truncates to microseconds.
      return formatTime(seconds, type === T_MICROTIME ? Math.floor(nanos / 1000) : undefined, path);
    }
    case T_DURATION: {
      let ns = 0n;
      forEachField(buf, path, (no, wire, r) => {
        if (no === 1) { expectWire(wire, 0, path); ns = BigInt.asIntN(64, readVarint64(r, path)); }
        else skipField(r, wire, path);
      });
      return formatDuration(ns);
    }
    case T_QUANTITY:
    case T_QUANTITYVALUE: {
      let s = '';
      forEachField(buf, path, (no, wire, r) => { if (no === 1) s = readString(r, wire, path); else skipField(r, wire, path); });
      // The zero Quantity marshals to JSON "0".
      return s || '0';
    }
    case T_INTORSTRING: {
      let kind = 0n;
      let intVal = 0;
      let strVal = '';
      forEachField(buf, path, (no, wire, r) => {
        if (no === 1) { expectWire(wire, 0, path); kind = readVarint64(r, path); }
        else if (no === 2) { expectWire(wire, 0, path); intVal = Number(BigInt.asIntN(32, readVarint64(r, path))); }
        else if (no === 3) strVal = readString(r, wire, path);
        else skipField(r, wire, path);
      });
      return kind === 1n ? strVal : intVal;
    }
    case T_RAW:
    case T_FIELDSV1:
    case T_JSON: {
      let raw: Buffer = Buffer.alloc(0);
      forEachField(buf, path, (no, wire, r) => { if (no === 1) raw = readLengthDelimited(r, wire, path); else skipField(r, wire, path); });
      if (raw.length === 0) return null;
      // An embedded object may itself be in the protobuf encoding.
      if (raw.length >= MAGIC.length && raw.subarray(0, MAGIC.length).equals(MAGIC)) return decodeKubernetesProtobuf(raw).object;
      try {
        return JSON.parse(raw.toString('utf8'));
      } catch {
        throw new Error(`protobuf: ${path} holds bytes that are not JSON`);
      }
    }
    case T_OR_ARRAY: {
      const v = decodeFields(buf, type, path, depth) as { Schema?: unknown; JSONSchemas?: unknown[] };
      return v.JSONSchemas?.length ? v.JSONSchemas : v.Schema ?? null;
    }
    case T_OR_BOOL: {
      const v = decodeFields(buf, type, path, depth) as { Allows?: boolean; Schema?: unknown };
      return v.Schema ?? v.Allows ?? false;
    }
    case T_OR_STRINGS: {
      const v = decodeFields(buf, type, path, depth) as { Schema?: unknown; Property?: string[] };
      return v.Property?.length ? v.Property : v.Schema ?? null;
    }
  }
  const obj = decodeFields(buf, type, path, depth);
  if (protoSliceWrappers.has(type)) {
    // `type Verbs []string`: JSON is the bare list.
    const [only] = Object.values(fieldsOf(type, path));
    return obj[only[0]] ?? [];
  }
  return obj;
}

/** Decodes a message's fields into a JSON object keyed by the Go JSON names. */
function decodeFields(buf: Buffer, type: string, path: string, depth: number): Record<string, unknown> {
  const fields = fieldsOf(type, path);
  const out: Record<string, unknown> = {};
  forEachField(buf, path, (no, wire, r) => {
    const f = fields[no];
    if (!f) return skipField(r, wire, path);
    const [json, ftype, flags, , mapValue] = f;
    const fpath = `${path}.${json}`;
    if (ftype === 'map') {
      const entry = readLengthDelimited(r, wire, fpath);
      let key: unknown = '';
      let value: unknown;
      forEachField(entry, fpath, (eno, ewire, er) => {
        if (eno === 1) key = readValue(er, ewire, f[3] ?? 'string', fpath, depth);
        else if (eno === 2) value = readValue(er, ewire, mapValue!, `${fpath}[${String(key)}]`, depth);
        else skipField(er, ewire, fpath);
      });
      // A map entry without a value carries the value type's zero.
      if (value === undefined) value = scalarWire(mapValue!) !== undefined ? scalarZero(mapValue!) : decodeMessage(Buffer.alloc(0), mapValue!, fpath, depth + 1);
      const map = (out[json] ??= {}) as Record<string, unknown>;
      // defineProperty so a `__proto__` key is an own property, as JSON.parse would make it.
      Object.defineProperty(map, String(key), { value, enumerable: true, writable: true, configurable: true });
      return;
    }
    if (flags & FLAG_REPEATED) {
      const list = (out[json] ??= []) as unknown[];
      const sw = scalarWire(ftype);
      if (wire === 2 && sw !== undefined && sw !== 2) {
        // Packed repeated scalars: accepted as the proto spec requires, though Go writes them unpacked.
        const packed: Reader = { buf: readLengthDelimited(r, wire, fpath), pos: 0 };
        while (packed.pos < packed.buf.length) list.push(readScalar(packed, ftype, fpath));
        return;
      }
      list.push(readValue(r, wire, ftype, fpath, depth));
      return;
    }
    const value = readValue(r, wire, ftype, fpath, depth);
    if (flags & FLAG_INLINE) {
      // `json:",inline"`: the embedded struct's fields sit in the parent object.
      if (value && typeof value === 'object') Object.assign(out, value);
      return;
    }
    // Go's encoding/json drops a zero non-pointer field tagged omitempty; it is on the wire all the same.
    if (flags & FLAG_OMIT_EMPTY && isZero(value)) {
      delete out[json];
      return;
    }
    out[json] = value;
  });
  return out;
}

// ---- special JSON forms ----

function formatTime(seconds: bigint, micros: number | undefined, path: string): string {
  const ms = Number(seconds) * 1000;
  const d = new Date(ms);
  if (!Number.isFinite(ms) || Number.isNaN(d.getTime())) throw new Error(`protobuf: ${path} is out of range`);
  // Go's RFC3339 layout in UTC: no fraction for Time, six digits for MicroTime.
  const base = d.toISOString().replace(/\.\d{3}Z$/, '');
  return micros === undefined ? `${base}Z` : `${base}.${String(micros).padStart(6, '0')}Z`;
}

function parseTime(s: string, path: string): { seconds: bigint; nanos: number } {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new Error(`${path}: "${s}" is not an RFC3339 time`);
  const frac = /T\d\d:\d\d:\d\d\.(\d+)/.exec(s)?.[1] ?? '';
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: Number(frac.slice(0, 9).padEnd(9, '0')) };
}

/** Splits v into whole units and a fraction with trailing zeros dropped, as Go's Duration.String does. */
function fractional(v: bigint, unit: bigint, digits: number): string {
  const whole = v / unit;
  const rest = v % unit;
  if (rest === 0n) return `${whole}`;
  return `${whole}.${rest.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Formats nanoseconds the way Go's time.Duration.String does (`1h2m3.5s`, `1m0s`, `300ms`). */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  let u = ns < 0n ? -ns : ns;
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fractional(u, 1000n, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fractional(u, 1_000_000n, 6)}ms`;
  const h = u / 3_600_000_000_000n;
  u %= 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u %= 60_000_000_000n;
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${fractional(u, 1_000_000_000n, 9)}s`;
}

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
};

/** Parses a Go duration string (`1h30m`, `1.5s`, `-2ms`) into nanoseconds. */
export function parseDuration(s: string): bigint {
  const m = /^([-+]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(s);
  if (!m) throw new Error(`invalid duration "${s}"`);
  let total = 0n;
  for (const part of m[2].matchAll(/(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g)) {
    const unit = DURATION_UNITS[part[3]];
    const frac = part[2] ?? '';
    total += BigInt(part[1] || '0') * unit + (frac ? (BigInt(frac) * unit) / 10n ** BigInt(frac.length) : 0n);
  }
  return m[1] === '-' ? -total : total;
}

// ---- encoding ----

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

function varint(v: bigint): Buffer {
  let u = BigInt.asUintN(64, v);
  const bytes: number[] = [];
  while (u >= 0x80n) {
    bytes.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  bytes.push(Number(u));
  return Buffer.from(bytes);
}

function fieldBytes(no: number, wire: number, payload: Buffer): Buffer {
  const tag = varint(BigInt(no * 8 + wire));
  return wire === 2 ? Buffer.concat([tag, varint(BigInt(payload.length)), payload]) : Buffer.concat([tag, payload]);
}

function toBigInt(v: unknown, path: string): bigint {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'boolean') return v ? 1n : 0n;
  throw new Error(`${path}: expected an integer, got ${JSON.stringify(v)}`);
}

function encodeScalar(no: number, type: string, v: unknown, path: string): Buffer {
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw new Error(`${path}: expected a string`);
      return fieldBytes(no, 2, utf8(v));
    case 'bytes':
      if (typeof v !== 'string') throw new Error(`${path}: expected a base64 string`);
      return fieldBytes(no, 2, Buffer.from(v, 'base64'));
    case 'sint32':
    case 'sint64': {
      const n = toBigInt(v, path);
      return fieldBytes(no, 0, varint((n << 1n) ^ (n < 0n ? -1n : 0n)));
    }
    case 'double':
    case 'fixed64':
    case 'sfixed64': {
      const b = Buffer.alloc(8);
      if (type === 'double') b.writeDoubleLE(Number(v));
      else b.writeBigUInt64LE(BigInt.asUintN(64, toBigInt(v, path)));
      return fieldBytes(no, 1, b);
    }
    case 'float':
    case 'fixed32':
    case 'sfixed32': {
      const b = Buffer.alloc(4);
      if (type === 'float') b.writeFloatLE(Number(v));
      else b.writeUInt32LE(Number(BigInt.asUintN(32, toBigInt(v, path))));
      return fieldBytes(no, 5, b);
    }
    default:
      return fieldBytes(no, 0, varint(toBigInt(v, path)));
  }
}

function encodeValue(no: number, type: string, v: unknown, path: string): Buffer {
  return scalarWire(type) !== undefined ? encodeScalar(no, type, v, path) : fieldBytes(no, 2, encodeMessage(v, type, path));
}

/** Encodes a JSON value of message `type` (the inverse of decodeMessage). */
function encodeMessage(v: unknown, type: string, path: string): Buffer {
  switch (type) {
    case T_TIME:
    case T_MICROTIME: {
      if (v === null || v === undefined) return Buffer.alloc(0);
      const { seconds, nanos } = parseTime(String(v), path);
      return Buffer.concat([fieldBytes(1, 0, varint(seconds)), ...(type === T_MICROTIME && nanos ? [fieldBytes(2, 0, varint(BigInt(nanos)))] : [])]);
    }
    case T_DURATION:
      return fieldBytes(1, 0, varint(parseDuration(String(v))));
    case T_QUANTITY:
    case T_QUANTITYVALUE:
      return fieldBytes(1, 2, utf8(String(v)));
    case T_INTORSTRING:
      return typeof v === 'string'
        ? Buffer.concat([fieldBytes(1, 0, varint(1n)), fieldBytes(2, 0, varint(0n)), fieldBytes(3, 2, utf8(v))])
        : Buffer.concat([fieldBytes(1, 0, varint(0n)), fieldBytes(2, 0, varint(toBigInt(v, path))), fieldBytes(3, 2, Buffer.alloc(0))]);
    case T_RAW:
    case T_FIELDSV1:
    case T_JSON:
      return v === null || v === undefined ? Buffer.alloc(0) : fieldBytes(1, 2, utf8(JSON.stringify(v)));
    case T_OR_ARRAY:
      return Array.isArray(v) ? encodeFields({ JSONSchemas: v }, type, path) : encodeFields({ Schema: v }, type, path);
    case T_OR_BOOL:
      return typeof v === 'boolean' ? encodeFields({ Allows: v }, type, path) : encodeFields({ Allows: true, Schema: v }, type, path);
    case T_OR_STRINGS:
      return Array.isArray(v) ? encodeFields({ Property: v }, type, path) : encodeFields({ Schema: v }, type, path);
  }
  if (protoSliceWrappers.has(type)) {
    const [only] = Object.values(fieldsOf(type, path));
    return encodeFields({ [only[0]]: v }, type, path);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}: expected an object`);
  return encodeFields(v as Record<string, unknown>, type, path);
}

function encodeFields(obj: Record<string, unknown>, type: string, path: string): Buffer {
  const out: Buffer[] = [];
  const fields = fieldsOf(type, path);
  for (const no of Object.keys(fields).map(Number).sort((a, b) => a - b)) {
    const [json, ftype, flags, , mapValue] = fields[no];
    const fpath = `${path}.${json}`;
    if (flags & FLAG_INLINE) {
      out.push(fieldBytes(no, 2, encodeFields(obj, ftype, path)));
      continue;
    }
    const v = obj[json];
    if (v === undefined || (v === null && ftype !== T_TIME && ftype !== T_MICROTIME)) continue;
    if (ftype === 'map') {
      if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${fpath}: expected an object`);
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        out.push(fieldBytes(no, 2, Buffer.concat([encodeScalar(1, fields[no][3] ?? 'string', k, fpath), encodeValue(2, mapValue!, val, `${fpath}[${k}]`)])));
      }
    } else if (flags & FLAG_REPEATED) {
      if (!Array.isArray(v)) throw new Error(`${fpath}: expected an array`);
      for (const item of v) out.push(encodeValue(no, ftype, item, fpath));
    } else {
      out.push(encodeValue(no, ftype, v, fpath));
    }
  }
  return Buffer.concat(out);
}
