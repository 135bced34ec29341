/**
 * DNS messages in RFC 1035 wire format: header, question and resource
 * records, with name compression on encoding and pointer-following (loop
 * safe) on decoding; EDNS(0) OPT records (RFC 6891) and truncation (TC) to
 * a size limit for UDP. Names are presentation-form strings without the
 * final dot (`web.default.svc.cluster.local`; `` for the root); a label
 * containing a dot, a backslash or a non-printable byte is written with
 * `\.`, `\\` or `\DDD` escapes.
 */
import { isIPv6 } from 'node:net';

/** Record types Kite reads or writes. */
export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

/** Type names for logs and metrics. */
export const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** Response codes (the low four bits in the header). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Rcode names for logs and metrics. */
export const RCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));

/** The Internet class. */
export const CLASS_IN = 1;

/** Largest UDP payload without EDNS (RFC 1035 4.2.1). */
export const MAX_UDP_SIZE = 512;

/** A question. */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** The SOA fields. */
export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/**
 * A resource record. The fields of its type are decoded (A/AAAA `address`;
 * CNAME/NS/PTR `target`; SRV `priority`, `weight`, `port`, `target`; MX
 * `preference`, `target`; TXT `texts`; SOA `soa`); anything else, and OPT
 * options, stay as `raw` RDATA. For OPT, `class` is the UDP payload size.
 */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  address?: string;
  target?: string;
  priority?: number;
  weight?: number;
  port?: number;
  preference?: number;
  texts?: string[];
  soa?: SoaData;
  raw?: Buffer;
}

/** Header flags. */
export interface Flags {
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  rcode: number;
}

/** A whole message. */
export interface Message {
  id: number;
  flags: Flags;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

/** A message that cannot be parsed (the server answers FORMERR when at least the header was read). */
export class DnsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

/** Default flags: a plain query. */
export function flags(f: Partial<Flags> = {}): Flags {
  return { qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: 0, ...f };
}

// ---- names ----

/** Splits a presentation-form name into raw labels (escapes resolved); the root is []. */
export function nameToLabels(name: string): Buffer[] {
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  if (n === '') return [];
  if (!n.includes('\\')) {
    // The common case: no escapes, labels are the dot-separated parts.
    const labels = n.split('.').map((l) => Buffer.from(l, 'utf8'));
    for (const l of labels) {
      if (l.length === 0) throw new DnsFormatError(`empty label in ${JSON.stringify(name)}`);
      if (l.length > 63) throw new DnsFormatError(`label longer than 63 octets in ${JSON.stringify(name)}`);
    }
    return labels;
  }
  const labels: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < n.length; i++) {
    const ch = n[i]!;
    if (ch === '\\') {
      const next = n.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(next)) {
        cur.push(Number(next) & 255);
        i += 3;
      } else if (i + 1 < n.length) {
        cur.push(...Buffer.from(n[i + 1]!, 'utf8'));
        i += 1;
      }
      continue;
    }
    if (ch === '.') {
      labels.push(Buffer.from(cur));
      cur = [];
      continue;
    }
    cur.push(...Buffer.from(ch, 'utf8'));
  }
  labels.push(Buffer.from(cur));
  for (const l of labels) {
    if (l.length === 0) throw new DnsFormatError(`empty label in ${JSON.stringify(name)}`);
    if (l.length > 63) throw new DnsFormatError(`label longer than 63 octets in ${JSON.stringify(name)}`);
  }
  return labels;
}

/** Bytes that stand for themselves in presentation form (printable ASCII but `.` and `\\`). */
function plainLabel(l: Buffer): boolean {
  for (let i = 0; i < l.length; i++) {
    const b = l[i]!;
    if (b < 0x21 || b > 0x7e || b === 0x2e || b === 0x5c) return false;
  }
  return true;
}

/** One raw label in presentation form. */
function labelText(l: Buffer): string {
  if (plainLabel(l)) return l.toString('latin1');
  let s = '';
  for (const b of l) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b < 0x21 || b > 0x7e) s += `\\${String(b).padStart(3, '0')}`;
    else s += String.fromCharCode(b);
  }
  return s;
}

// ---- encoding ----

/** Writes a message into a growing buffer, compressing names (RFC 1035 4.1.4). */
class Writer {
  private buf = Buffer.allocUnsafe(512);
  len = 0;
  /** Name suffix (exact case, escaped form) → offset where it was written. */
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v & 0xff, this.len);
    this.len += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }
  name(name: string, compress = true): void {
    // The common case, an ASCII name without escapes, is written straight from the string.
    if (!/[^\x21-\x5b\x5d-\x7e]/.test(name)) return this.plainName(name.endsWith('.') ? name.slice(0, -1) : name, compress);
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).map(labelText).join('.');
      const at = this.names.get(suffix);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(suffix, this.len);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
  private plainName(n: string, compress: boolean): void {
    if (n.length > 253) throw new DnsFormatError(`name longer than 255 octets: ${JSON.stringify(n)}`);
    for (let start = 0; start < n.length; ) {
      const suffix = start === 0 ? n : n.slice(start);
      const at = this.names.get(suffix);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(suffix, this.len);
      const dot = n.indexOf('.', start);
      const end = dot < 0 ? n.length : dot;
      const len = end - start;
      if (len === 0) throw new DnsFormatError(`empty label in ${JSON.stringify(n)}`);
      if (len > 63) throw new DnsFormatError(`label longer than 63 octets in ${JSON.stringify(n)}`);
      this.ensure(1 + len);
      this.buf[this.len++] = len;
      for (let i = start; i < end; i++) this.buf[this.len++] = n.charCodeAt(i);
      start = end + 1;
    }
    this.u8(0);
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function ipv4Bytes(ip: string): Buffer {
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) part = 5;
      else out[part++] = value;
      value = digits = 0;
      if (part > 4) break;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) break;
    } else {
      part = 5;
      break;
    }
  }
  if (part !== 4) throw new DnsFormatError(`invalid IPv4 address ${JSON.stringify(ip)}`);
  return out;
}

function ipv6Bytes(ip: string): Buffer {
  if (!isIPv6(ip)) throw new DnsFormatError(`invalid IPv6 address ${JSON.stringify(ip)}`);
  let s = ip;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:10.0.0.1) supplies the last two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = ipv4Bytes(v4[2]!);
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    s = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const hex = (parts: string[]) => parts.map((h) => parseInt(h, 16));
  let groups: number[];
  if (s.includes('::')) {
    const [a, b] = s.split('::') as [string, string];
    const head = a ? hex(a.split(':')) : [];
    const rest = b ? hex(b.split(':')) : [];
    groups = [...head, ...Array<number>(8 - tail.length - head.length - rest.length).fill(0), ...rest, ...tail];
  } else {
    groups = [...hex(s.split(':')), ...tail];
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function ipv6Text(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // RFC 5952: the longest run (2+) of zero groups becomes `::`.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  switch (rr.type) {
    case TYPE.A:
      w.bytes(ipv4Bytes(rr.address ?? ''));
      break;
    case TYPE.AAAA:
      w.bytes(ipv6Bytes(rr.address ?? ''));
      break;
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      w.name(rr.target ?? '');
      break;
    case TYPE.MX:
      w.u16(rr.preference ?? 0);
      w.name(rr.target ?? '');
      break;
    case TYPE.SRV:
      w.u16(rr.priority ?? 0);
      w.u16(rr.weight ?? 0);
      w.u16(rr.port ?? 0);
      // RFC 2782: the SRV target is not compressed.
      w.name(rr.target ?? '', false);
      break;
    case TYPE.TXT:
      for (const t of rr.texts ?? ['']) {
        const b = Buffer.from(t, 'utf8');
        if (b.length > 255) throw new DnsFormatError('TXT string longer than 255 octets');
        w.u8(b.length);
        w.bytes(b);
      }
      break;
    case TYPE.SOA: {
      const s = rr.soa!;
      w.name(s.mname);
      w.name(s.rname);
      w.u32(s.serial);
      w.u32(s.refresh);
      w.u32(s.retry);
      w.u32(s.expire);
      w.u32(s.minimum);
      break;
    }
    default:
      w.bytes(rr.raw ?? Buffer.alloc(0));
  }
  w.setU16(lenAt, w.len - start);
}

function flagBits(f: Flags): number {
  return (
    (f.qr ? 0x8000 : 0) |
    ((f.opcode & 0xf) << 11) |
    (f.aa ? 0x0400 : 0) |
    (f.tc ? 0x0200 : 0) |
    (f.rd ? 0x0100 : 0) |
    (f.ra ? 0x0080 : 0) |
    (f.ad ? 0x0020 : 0) |
    (f.cd ? 0x0010 : 0) |
    (f.rcode & 0xf)
  );
}

function encodeSections(msg: Message, answers: ResourceRecord[], authorities: ResourceRecord[], additionals: ResourceRecord[], tc: boolean): Buffer {
  const w = new Writer();
  w.u16(msg.id);
  w.u16(flagBits({ ...msg.flags, tc: tc || msg.flags.tc }));
  w.u16(msg.questions.length);
  w.u16(answers.length);
  w.u16(authorities.length);
  w.u16(additionals.length);
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of answers) writeRecord(w, rr);
  for (const rr of authorities) writeRecord(w, rr);
  for (const rr of additionals) writeRecord(w, rr);
  return w.result();
}

/**
 * Encodes a message. With `maxSize` (a UDP limit) a message that does not
 * fit loses its additional records first (the OPT record stays), then as
 * many answers as needed, and is marked truncated (TC) so that the client
 * asks again over TCP (RFC 2181 9).
 */
export function encodeMessage(msg: Message, opts: { maxSize?: number } = {}): Buffer {
  const full = encodeSections(msg, msg.answers, msg.authorities, msg.additionals, false);
  const max = opts.maxSize;
  if (max === undefined || full.length <= max) return full;
  const opt = msg.additionals.filter((r) => r.type === TYPE.OPT);
  const noExtra = encodeSections(msg, msg.answers, msg.authorities, opt, false);
  if (noExtra.length <= max) return noExtra;
  // Keep the longest prefix of answers that fits (binary search), without authority records.
  let lo = 0;
  let hi = msg.answers.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (encodeSections(msg, msg.answers.slice(0, mid), [], opt, true).length <= max) lo = mid;
    else hi = mid - 1;
  }
  return encodeSections(msg, msg.answers.slice(0, lo), [], opt, true);
}

// ---- decoding ----

function readName(buf: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = start;
  let next = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (pos >= buf.length) throw new DnsFormatError('name runs past the end of the message');
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsFormatError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (next < 0) next = pos + 2;
      // A pointer must go backwards; more jumps than the message has bytes means a loop.
      if (target >= pos || ++jumps > 127) throw new DnsFormatError('bad compression pointer');
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('unknown label type');
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) throw new DnsFormatError('label runs past the end of the message');
    total += len + 1;
    if (total > 255) throw new DnsFormatError('name longer than 255 octets');
    labels.push(labelText(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function need(buf: Buffer, pos: number, n: number): void {
  if (pos + n > buf.length) throw new DnsFormatError('message truncated');
}

function readRecord(buf: Buffer, start: number): { rr: ResourceRecord; next: number } {
  const { name, next: p } = readName(buf, start);
  need(buf, p, 10);
  const type = buf.readUInt16BE(p);
  const klass = buf.readUInt16BE(p + 2);
  const ttl = buf.readUInt32BE(p + 4);
  const rdlen = buf.readUInt16BE(p + 8);
  const rd = p + 10;
  need(buf, rd, rdlen);
  const end = rd + rdlen;
  const rr: ResourceRecord = { name, type, class: klass, ttl };
  const nameIn = (at: number) => {
    const r = readName(buf, at);
    if (r.next > end) throw new DnsFormatError('name runs past its record');
    return r;
  };
  switch (type) {
    case TYPE.A:
      if (rdlen !== 4) throw new DnsFormatError('A record of the wrong length');
      rr.address = [...buf.subarray(rd, end)].join('.');
      break;
    case TYPE.AAAA:
      if (rdlen !== 16) throw new DnsFormatError('AAAA record of the wrong length');
      rr.address = ipv6Text(buf.subarray(rd, end));
      break;
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      rr.target = nameIn(rd).name;
      break;
    case TYPE.MX:
      need(buf, rd, 2);
      rr.preference = buf.readUInt16BE(rd);
      rr.target = nameIn(rd + 2).name;
      break;
    case TYPE.SRV:
      need(buf, rd, 6);
      rr.priority = buf.readUInt16BE(rd);
      rr.weight = buf.readUInt16BE(rd + 2);
      rr.port = buf.readUInt16BE(rd + 4);
      rr.target = nameIn(rd + 6).name;
      break;
    case TYPE.TXT: {
      const texts: string[] = [];
      for (let i = rd; i < end; ) {
        const l = buf[i]!;
        if (i + 1 + l > end) throw new DnsFormatError('TXT string runs past its record');
        texts.push(buf.subarray(i + 1, i + 1 + l).toString('utf8'));
        i += 1 + l;
      }
      rr.texts = texts;
      break;
    }
    case TYPE.SOA: {
      const m = nameIn(rd);
      const r = nameIn(m.next);
      need(buf, r.next, 20);
      rr.soa = {
        mname: m.name,
        rname: r.name,
        serial: buf.readUInt32BE(r.next),
        refresh: buf.readUInt32BE(r.next + 4),
        retry: buf.readUInt32BE(r.next + 8),
        expire: buf.readUInt32BE(r.next + 12),
        minimum: buf.readUInt32BE(r.next + 16),
      };
      break;
    }
    default:
      rr.raw = Buffer.from(buf.subarray(rd, end));
  }
  return { rr, next: end };
}

/** Reads the 12-byte header only (enough to answer FORMERR to a message that cannot be parsed). */
export function decodeHeader(buf: Buffer): { id: number; flags: Flags; qdcount: number } {
  if (buf.length < 12) throw new DnsFormatError('message shorter than a header');
  const f = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    qdcount: buf.readUInt16BE(4),
    flags: {
      qr: !!(f & 0x8000),
      opcode: (f >> 11) & 0xf,
      aa: !!(f & 0x0400),
      tc: !!(f & 0x0200),
      rd: !!(f & 0x0100),
      ra: !!(f & 0x0080),
      ad: !!(f & 0x0020),
      cd: !!(f & 0x0010),
      rcode: f & 0xf,
    },
  };
}

/** Decodes a whole message; throws DnsFormatError on anything malformed. */
export function decodeMessage(buf: Buffer): Message {
  const { id, flags: fl } = decodeHeader(buf);
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let pos = 12;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]!; i++) {
    const { name, next } = readName(buf, pos);
    need(buf, next, 4);
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const { rr, next } = readRecord(buf, pos);
      sections[s]!.push(rr);
      pos = next;
    }
  }
  return { id, flags: fl, questions, answers: sections[0]!, authorities: sections[1]!, additionals: sections[2]! };
}

// ---- EDNS ----

/** The EDNS(0) parameters of a message, if it has an OPT record. */
export function ednsOf(msg: Message): { udpSize: number; version: number; dnssecOk: boolean } | undefined {
  const opt = msg.additionals.find((r) => r.type === TYPE.OPT);
  if (!opt) return undefined;
  return { udpSize: opt.class, version: (opt.ttl >>> 16) & 0xff, dnssecOk: !!(opt.ttl & 0x8000) };
}

/** An OPT record advertising `udpSize` (no options). */
export function optRecord(udpSize: number, dnssecOk = false): ResourceRecord {
  return { name: '', type: TYPE.OPT, class: udpSize, ttl: dnssecOk ? 0x8000 : 0, raw: Buffer.alloc(0) };
}

/** A query message for one question (recursion desired). */
export function queryMessage(id: number, name: string, type: number, opts: { udpSize?: number } = {}): Message {
  return {
    id,
    flags: flags({ rd: true }),
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: opts.udpSize ? [optRecord(opts.udpSize)] : [],
  };
}
