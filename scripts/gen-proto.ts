/**
 * Generates src/api/generated/protobuf.ts: the wire layout of every Kubernetes
 * protobuf message Kite decodes (request bodies sent as
 * `application/vnd.kubernetes.protobuf`), from the upstream `generated.proto`
 * files plus the Go structs beside them (the Go side gives the JSON field name,
 * `omitempty`, pointer-ness and `json:",inline"`, which the .proto cannot say).
 *
 * Regenerate (tags v0.32.9 of kubernetes/api, kubernetes/apimachinery and
 * kubernetes/apiextensions-apiserver; any clone or bare mirror works):
 *
 *   D=$(mktemp -d); mkdir -p $D/api $D/apimachinery $D/apiextensions-apiserver
 *   git -C /work/.mirror/kubernetes+api/repo archive v0.32.9 | tar -x -C $D/api
 *   git -C /work/.mirror/kubernetes+apimachinery/repo archive v0.32.9 pkg | tar -x -C $D/apimachinery
 *   git -C /work/.mirror/kubernetes+apiextensions-apiserver/repo archive v0.32.9 pkg/apis | tar -x -C $D/apiextensions-apiserver
 *   node --import tsx scripts/gen-proto.ts $D
 *
 * The directory is searched recursively for `generated.proto`; only the proto
 * packages listed in PACKAGES below are kept.
 */
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const inDir = process.argv[2];
if (!inDir) {
  console.error('usage: node --import tsx scripts/gen-proto.ts <dir-with-extracted-sources>');
  process.exit(2);
}
const outFile = join(root, 'src', 'api', 'generated', 'protobuf.ts');

/** Proto package → API group of its top-level kinds ('' = core, null = no kinds). */
const PACKAGES: Record<string, string | null> = {
  'k8s.io.api.core.v1': '',
  'k8s.io.api.apps.v1': 'apps',
  'k8s.io.api.batch.v1': 'batch',
  'k8s.io.api.autoscaling.v1': 'autoscaling',
  'k8s.io.api.autoscaling.v2': 'autoscaling',
  'k8s.io.api.networking.v1': 'networking.k8s.io',
  'k8s.io.api.policy.v1': 'policy',
  'k8s.io.api.rbac.v1': 'rbac.authorization.k8s.io',
  'k8s.io.api.coordination.v1': 'coordination.k8s.io',
  'k8s.io.api.discovery.v1': 'discovery.k8s.io',
  'k8s.io.api.events.v1': 'events.k8s.io',
  'k8s.io.api.scheduling.v1': 'scheduling.k8s.io',
  'k8s.io.api.storage.v1': 'storage.k8s.io',
  'k8s.io.api.authentication.v1': 'authentication.k8s.io',
  'k8s.io.api.authorization.v1': 'authorization.k8s.io',
  'k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1': 'apiextensions.k8s.io',
  'k8s.io.apimachinery.pkg.apis.meta.v1': 'meta.k8s.io',
  'k8s.io.apimachinery.pkg.runtime': null,
  'k8s.io.apimachinery.pkg.runtime.schema': null,
  'k8s.io.apimachinery.pkg.util.intstr': null,
  'k8s.io.apimachinery.pkg.api.resource': null,
};
const SCALARS = new Set(['string', 'bytes', 'bool', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'double', 'float', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);
// Keep in step with FLAG_* in src/api/protobuf.ts.
const REPEATED = 1, OMIT_EMPTY = 2, INLINE = 4;

interface ProtoField { no: number; name: string; type: string; repeated: boolean; mapKey?: string; mapValue?: string }
interface GoField { json?: string; omitempty: boolean; pointer: boolean; inline: boolean }
interface GoInfo { structs: Map<string, Map<number, GoField>>; sliceTypes: Set<string>; kinds: Set<string> }

function findProtos(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findProtos(p, out);
    else if (name === 'generated.proto') out.push(p);
  }
  return out;
}

function parseProto(text: string): { pkg: string; messages: Map<string, ProtoField[]> } {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(src)?.[1];
  if (!pkg) throw new Error('proto file without a package');
  const qualify = (t: string) => (SCALARS.has(t) ? t : t.startsWith('.') ? t.slice(1) : `${pkg}.${t}`);
  const messages = new Map<string, ProtoField[]>();
  for (const m of src.matchAll(/\bmessage\s+(\w+)\s*\{([^{}]*)\}/g)) {
    const fields: ProtoField[] = [];
    for (const stmt of m[2].split(';').map((s) => s.trim()).filter(Boolean)) {
      const map = /^map\s*<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)$/.exec(stmt);
      if (map) {
        fields.push({ no: +map[4], name: map[3], type: 'map', repeated: false, mapKey: map[1], mapValue: qualify(map[2]) });
        continue;
      }
      const f = /^(optional|repeated|required)?\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)(\s*\[.*\])?$/.exec(stmt);
      if (!f) throw new Error(`${pkg}.${m[1]}: cannot parse field "${stmt}"`);
      fields.push({ no: +f[4], name: f[3], type: qualify(f[2]), repeated: f[1] === 'repeated' });
    }
    messages.set(`${pkg}.${m[1]}`, fields);
  }
  // Nested messages would have broken the brace match above; upstream has none.
  if (/\bmessage\s+\w+\s*\{[^{}]*\{/.test(src)) throw new Error(`${pkg}: nested message definitions are not supported`);
  return { pkg, messages };
}

function parseGo(dir: string): GoInfo {
  const info: GoInfo = { structs: new Map(), sliceTypes: new Set(), kinds: new Set() };
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.go') || name.endsWith('_test.go') || name.startsWith('zz_generated') || name === 'generated.pb.go' || name.endsWith('_swagger_doc_generated.go')) continue;
    const src = readFileSync(join(dir, name), 'utf8');
    for (const m of src.matchAll(/^type\s+(\w+)\s+\[\]/gm)) info.sliceTypes.add(m[1]);
    for (const m of src.matchAll(/^type\s+(\w+)\s+struct\s*\{\n([\s\S]*?)\n\}/gm)) {
      const fields = new Map<number, GoField>();
      for (const raw of m[2].split('\n')) {
        const line = raw.trim();
        if (line.startsWith('//')) continue;
        const tagAt = line.indexOf('`');
        if (tagAt < 0) continue;
        const decl = line.slice(0, tagAt).trim().split(/\s+/);
        const tag = line.slice(tagAt);
        const json = /json:"([^"]*)"/.exec(tag)?.[1];
        if (decl.length === 1 && json !== undefined && /^(metav1\.)?TypeMeta$/.test(decl[0]) && json.split(',').includes('inline')) info.kinds.add(m[1]);
        const pb = /protobuf:"([^"]*)"/.exec(tag)?.[1];
        if (!pb) continue;
        const no = Number(pb.split(',')[1]);
        const goType = decl.length === 1 ? decl[0] : decl[1];
        const opts = (json ?? '').split(',');
        fields.set(no, {
          // No JSON name (inline, `json:"-"`, or a type with its own MarshalJSON): keep the proto name.
          json: opts[0] && opts[0] !== '-' ? opts[0] : undefined,
          omitempty: opts.includes('omitempty'),
          pointer: goType.startsWith('*'),
          inline: opts.includes('inline'),
        });
      }
      info.structs.set(m[1], fields);
    }
  }
  return info;
}

const messages = new Map<string, Array<[number, string, string, number, string?, string?]>>();
const wrappers: string[] = [];
const kinds: Array<[string, string]> = [];
const seen = new Set<string>();
for (const file of findProtos(inDir)) {
  const { pkg, messages: msgs } = parseProto(readFileSync(file, 'utf8'));
  if (!(pkg in PACKAGES) || seen.has(pkg)) continue;
  seen.add(pkg);
  const go = parseGo(dirname(file));
  const group = PACKAGES[pkg];
  const version = pkg.slice(pkg.lastIndexOf('.') + 1);
  for (const [full, fields] of msgs) {
    const short = full.slice(pkg.length + 1);
    const goFields = go.structs.get(short);
    if (!goFields && fields.length) console.error(`note: ${full} has no Go struct; proto names used`);
    // `type Verbs []string` is a message { repeated items = 1 } on the wire but a bare array in JSON.
    if (go.sliceTypes.has(short) && fields.length === 1 && fields[0].repeated) wrappers.push(full);
    if (group !== null && go.kinds.has(short)) kinds.push([`${group ? `${group}/` : ''}${version} ${short}`, full]);
    messages.set(full, fields.map((f) => {
      const g = goFields?.get(f.no);
      let flags = f.repeated ? REPEATED : 0;
      // Go's encoding/json drops zero scalars only for non-pointer fields tagged omitempty.
      if (g && g.omitempty && !g.pointer && !f.repeated && SCALARS.has(f.type)) flags |= OMIT_EMPTY;
      if (g?.inline) flags |= INLINE;
      const row: [number, string, string, number, string?, string?] = [f.no, g?.json ?? f.name, f.type, flags];
      if (f.type === 'map') row.push(f.mapKey, f.mapValue);
      return row;
    }));
  }
}
for (const pkg of Object.keys(PACKAGES)) if (!seen.has(pkg)) console.error(`warning: no generated.proto for ${pkg} under ${inDir}`);
for (const [name, fields] of messages) {
  for (const [, , type, , , value] of fields) {
    for (const t of [type, value]) if (t && t !== 'map' && !SCALARS.has(t) && !messages.has(t)) throw new Error(`${name} refers to unknown message ${t}`);
  }
}

const lines: string[] = [];
lines.push('// Code generated by scripts/gen-proto.ts from the Kubernetes 1.32 (v0.32.9) generated.proto files. DO NOT EDIT.');
lines.push('');
lines.push('/** One field: [json name, proto type (scalar name, fully-qualified message, or \'map\'), flags (1 repeated, 2 omitempty scalar, 4 JSON-inline), map key type, map value type]. */');
lines.push('export type ProtoFieldInfo = readonly [json: string, type: string, flags: number, mapKey?: string, mapValue?: string];');
lines.push('');
lines.push('/** Every message by fully-qualified proto name, its fields keyed by field number. */');
lines.push('export const protoMessages: Readonly<Record<string, Readonly<Record<number, ProtoFieldInfo>>>> = {');
for (const [name, fields] of [...messages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
  const body = fields.map(([no, ...rest]) => `${no}: ${JSON.stringify(rest).replace(/"/g, "'")}`).join(', ');
  lines.push(` '${name}': { ${body} },`);
}
lines.push('};');
lines.push('');
lines.push('/** Messages that stand for a Go slice type (`type X []T`): JSON is the bare array of their one repeated field. */');
lines.push(`export const protoSliceWrappers: ReadonlySet<string> = new Set([${wrappers.sort().map((w) => `'${w}'`).join(', ')}]);`);
lines.push('');
lines.push('/** Top-level kinds: `<apiVersion> <Kind>` → fully-qualified proto message. */');
lines.push('export const protoKinds: Readonly<Record<string, string>> = {');
for (const [k, v] of kinds.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) lines.push(` '${k}': '${v}',`);
lines.push('};');
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, lines.join('\n') + '\n');
console.log(`wrote ${outFile}: ${messages.size} messages, ${kinds.length} kinds, ${wrappers.length} slice wrappers`);
