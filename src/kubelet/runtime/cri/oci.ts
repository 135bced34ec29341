/**
 * OCI images built from files on this machine, without a builder or a
 * registry: a layer is a tar archive (ustar, written here) of the entries
 * given, gzipped; the image is its config and manifest as the OCI image
 * spec lays them out (image-spec v1.0 `manifest.json`, `config.json`,
 * `image-layout.md`). The node agent builds its sandbox (pause) image this
 * way from Debian's busybox-static; tests build the images their pods run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** One file system entry of a layer; paths are relative to the image root (no leading `/`). */
export type LayerEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; mode?: number; content: Buffer | string }
  | { type: 'symlink'; path: string; target: string };

/** The runtime defaults an image carries (OCI image config `config`). */
export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** `NAME=value` strings. */
  env?: string[];
  workingDir?: string;
  user?: string;
  stopSignal?: string;
}

/** A content-addressed blob: its bytes, `sha256:` digest and media type. */
export interface Blob {
  mediaType: string;
  digest: string;
  data: Buffer;
}

/** A built image: its manifest, config and layer blobs. */
export interface OciImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

/** OCI media types (image-spec `media-types.md`). */
export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: sha256Digest(data), data };
}

/** The GOARCH name of this machine's architecture (what image configs and manifests name). */
export function goArch(arch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[arch] ?? arch;
}

/** Writes `value` as a NUL-terminated octal number filling `width` bytes at `offset` (ustar numeric fields). */
function octal(header: Buffer, offset: number, width: number, value: number): void {
  header.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

/** Splits a path into ustar's `prefix` (≤155 bytes) and `name` (≤100 bytes); throws when it cannot. */
function ustarName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { name, prefix };
  }
  throw new Error(`path too long for a tar header: ${path}`);
}

/** One 512-byte ustar header. */
function tarHeader(path: string, typeflag: string, mode: number, size: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  const { name, prefix } = ustarName(path);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid: root
  octal(h, 116, 8, 0); // gid: root
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0); // mtime: the epoch, so that the same files give the same digest
  h.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  h.write(typeflag, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/**
 * A tar archive of the entries (ustar; owner root, mtime 0, in the order
 * given), ending with the two zero blocks. Parent directories are not
 * implied: list them first, as a layer that sets their modes would.
 */
export function tarArchive(entries: LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (!path) throw new Error('a layer entry needs a path');
    if (e.type === 'dir') parts.push(tarHeader(path.endsWith('/') ? path : `${path}/`, '5', e.mode ?? 0o755, 0));
    else if (e.type === 'symlink') parts.push(tarHeader(path, '2', 0o777, 0, e.target));
    else {
      const data = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
      parts.push(tarHeader(path, '0', e.mode ?? 0o644, data.length), data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * Builds an image of the given layers (each a list of entries, lowest first)
 * and run configuration, for this machine's OS and architecture. Building
 * the same inputs twice gives the same digests.
 */
export function buildImage(layers: LayerEntry[][], run: ImageRunConfig = {}): OciImage {
  const tars = layers.map((entries) => tarArchive(entries));
  // gzip with a fixed header (no name, mtime 0): the digest depends on content only.
  const layerBlobs = tars.map((t) => blob(MEDIA_TYPES.layerGzip, gzipSync(t)));
  const config = {
    architecture: goArch(),
    os: 'linux',
    config: {
      ...(run.user ? { User: run.user } : {}),
      ...(run.env ? { Env: run.env } : {}),
      ...(run.entrypoint ? { Entrypoint: run.entrypoint } : {}),
      ...(run.cmd ? { Cmd: run.cmd } : {}),
      ...(run.workingDir ? { WorkingDir: run.workingDir } : {}),
      ...(run.stopSignal ? { StopSignal: run.stopSignal } : {}),
    },
    rootfs: { type: 'layers', diff_ids: tars.map((t) => sha256Digest(t)) },
  };
  const configBlob = blob(MEDIA_TYPES.config, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.data.length },
    layers: layerBlobs.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.data.length })),
  };
  return { manifest: blob(MEDIA_TYPES.manifest, Buffer.from(JSON.stringify(manifest))), config: configBlob, layers: layerBlobs };
}

/**
 * The image as an OCI image layout in one tar archive (what `ctr images
 * import` reads), naming it `name` (a full reference such as
 * `kite.local/pause:3.10`) through the annotations containerd and the
 * image-spec use for that.
 */
export function ociLayoutArchive(image: OciImage, name: string): Buffer {
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        mediaType: image.manifest.mediaType,
        digest: image.manifest.digest,
        size: image.manifest.data.length,
        platform: { architecture: goArch(), os: 'linux' },
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  const blobs = [image.manifest, image.config, ...image.layers];
  const seen = new Set<string>();
  const entries: LayerEntry[] = [
    { type: 'file', path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { type: 'file', path: 'index.json', content: JSON.stringify(index) },
    { type: 'dir', path: 'blobs' },
    { type: 'dir', path: 'blobs/sha256' },
  ];
  for (const b of blobs) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    entries.push({ type: 'file', path: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, content: b.data });
  }
  return tarArchive(entries);
}

/** Where Debian's busybox-static puts its binary. */
export const BUSYBOX = '/bin/busybox';

/** The applets a busybox binary was built with (`busybox --list`). */
export function busyboxApplets(busyboxPath: string = BUSYBOX): string[] {
  return execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.\[\]-]+$/.test(a));
}

/**
 * The layer of a minimal busybox file system: `/bin/busybox` (from
 * `busyboxPath`), a symlink per applet in /bin (default: every applet the
 * binary has), and the directories programs expect (/etc, /tmp, /root, /var…).
 */
export function busyboxLayer(busyboxPath: string = BUSYBOX, applets: string[] = busyboxApplets(busyboxPath)): LayerEntry[] {
  const entries: LayerEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', mode: 0o755, content: readFileSync(busyboxPath) },
  ];
  for (const a of applets) if (a !== 'busybox') entries.push({ type: 'symlink', path: `bin/${a}`, target: 'busybox' });
  for (const d of ['dev', 'etc', 'proc', 'root', 'sys', 'usr', 'var', 'var/www']) entries.push({ type: 'dir', path: d, mode: d === 'root' ? 0o700 : 0o755 });
  entries.push({ type: 'dir', path: 'tmp', mode: 0o1777 });
  entries.push({ type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' });
  entries.push({ type: 'file', path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' });
  return entries;
}

/** The default environment of an image built here (what Docker's busybox image sets). */
export const IMAGE_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The sandbox ("pause") image: busybox sleeping as the pod's first process,
 * holding its namespaces. Its stop signal is SIGKILL, as nothing runs in it
 * that needs a graceful end.
 */
export function pauseImage(busyboxPath: string = BUSYBOX): OciImage {
  return buildImage([busyboxLayer(busyboxPath, [])], { entrypoint: ['/bin/busybox', 'sleep', '2147483647'], env: [IMAGE_PATH_ENV], stopSignal: 'SIGKILL' });
}
