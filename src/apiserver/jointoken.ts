/**
 * The node join token: a secret the server keeps in `<data-dir>/tls/node.token`
 * (created at first start) and `kite token` prints. Its full form follows
 * k3s's secure token, `K10<sha256 of the cluster CA>::node:<secret>`, so an
 * agent can check that the server it reaches holds the CA the token was made
 * for before it sends the secret; the bare secret is accepted too, without
 * that check.
 */
import { createHash, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where the server keeps the node join token in its data dir. */
export function nodeTokenPath(dataDir: string): string {
  return join(dataDir, 'tls', 'node.token');
}

/** The parts of a join token: the CA hash (absent in the bare form) and the secret. */
export interface JoinToken {
  caHash?: string;
  secret: string;
}

/** sha256 (hex) of a PEM certificate's DER bytes: what the token's CA hash is (independent of PEM line breaks). */
export function caHash(caPem: string): string {
  return createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex');
}

/** Formats the full token for a CA and secret. */
export function formatJoinToken(caPem: string, secret: string): string {
  return `K10${caHash(caPem)}::node:${secret}`;
}

/** Parses a token in its full (`K10<hash>::node:<secret>`) or bare (`<secret>`) form; undefined when it is neither. */
export function parseJoinToken(token: string): JoinToken | undefined {
  const t = token.trim();
  const full = /^K10([0-9a-f]{64})::([a-z]+):([A-Za-z0-9._-]+)$/.exec(t);
  if (full) return { caHash: full[1]!, secret: full[3]! };
  if (/^[A-Za-z0-9._-]{16,}$/.test(t)) return { secret: t };
  return undefined;
}

/** The server's node join token (full form), created with a fresh secret at first start. */
export function ensureNodeToken(dataDir: string, caPem: string): string {
  const path = nodeTokenPath(dataDir);
  if (existsSync(path)) {
    const parsed = parseJoinToken(readFileSync(path, 'utf8'));
    // A token made for an earlier CA (the tls dir was replaced) is re-issued with the same secret.
    if (parsed) {
      const token = formatJoinToken(caPem, parsed.secret);
      if (parsed.caHash !== caHash(caPem)) writeFileSync(path, `${token}\n`, { mode: 0o600 });
      return token;
    }
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = formatJoinToken(caPem, randomBytes(24).toString('hex'));
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Reads the server's node join token, if the server has made one. */
export function readNodeToken(dataDir: string): string | undefined {
  const path = nodeTokenPath(dataDir);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/** Constant-time comparison of two secrets. */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
