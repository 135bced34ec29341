/**
 * The cluster's PKI: a CA generated at first start, a serving certificate for
 * the API server and client certificates (the admin's), all kept as PEM files
 * under `<data-dir>/tls/` and reused on later starts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto, randomBytes, X509Certificate } from 'node:crypto';
import { networkInterfaces, hostname } from 'node:os';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** A certificate and its private key, PEM-encoded. */
export interface CertKey {
  cert: string;
  key: string;
}

/** The PEM material the API server and its kubeconfigs need. */
export interface ClusterPki {
  ca: CertKey;
  serving: CertKey;
  admin: CertKey;
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

function serial(): string {
  // Positive serial: clear the top bit.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

/** Creates a self-signed CA. */
export async function createCa(commonName: string): Promise<CertKey> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKey(keys.privateKey) };
}

/** What a leaf certificate is for. */
export interface LeafSpec {
  commonName: string;
  organizations?: string[];
  /** DNS names and IP addresses for a serving certificate. */
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
}

/** Issues a leaf certificate signed by the CA. */
export async function issueCert(ca: CertKey, spec: LeafSpec): Promise<CertKey> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await importKey(ca.key);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const subject = [`CN=${spec.commonName}`, ...(spec.organizations ?? []).map((o) => `O=${o}`)].join(', ');
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([spec.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  if (spec.usage === 'server') {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...(spec.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(spec.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + ONE_YEAR_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKey(keys.privateKey) };
}

/** The machine's non-internal IPv4 addresses, for the serving certificate. */
function localAddresses(): string[] {
  const out = ['127.0.0.1', '::1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && !out.includes(a.address)) out.push(a.address);
  }
  return out;
}

/** True if the PEM certificate is valid for at least another day and names every wanted IP. */
function stillGood(pem: string, ips: string[]): boolean {
  try {
    const c = new X509Certificate(pem);
    if (Date.parse(c.validTo) - Date.now() < 24 * 3600 * 1000) return false;
    return ips.every((ip) => c.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

/**
 * Loads the cluster PKI from `<dir>`, creating what is missing: the CA on first
 * start, and a serving certificate whenever the old one no longer covers this
 * machine's addresses (plus `extraIps`/`extraNames`) or is about to expire.
 */
export async function ensurePki(dir: string, extra: { ips?: string[]; names?: string[] } = {}): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const load = (name: string): CertKey | undefined => {
    const c = join(dir, `${name}.crt`);
    const k = join(dir, `${name}.key`);
    return existsSync(c) && existsSync(k) ? { cert: readFileSync(c, 'utf8'), key: readFileSync(k, 'utf8') } : undefined;
  };
  const save = (name: string, ck: CertKey): CertKey => {
    writeFileSync(join(dir, `${name}.crt`), ck.cert, { mode: 0o644 });
    writeFileSync(join(dir, `${name}.key`), ck.key, { mode: 0o600 });
    return ck;
  };
  let ca = load('ca');
  let fresh = false;
  if (!ca) {
    ca = save('ca', await createCa('kite-ca'));
    fresh = true;
  }
  const ips = [...new Set([...localAddresses(), '10.96.0.1', ...(extra.ips ?? [])])];
  let serving = load('apiserver');
  if (fresh || !serving || !stillGood(serving.cert, ips)) {
    serving = save(
      'apiserver',
      await issueCert(ca, {
        commonName: 'kite-apiserver',
        usage: 'server',
        ips,
        dnsNames: [
          'localhost',
          hostname(),
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
          ...(extra.names ?? []),
        ],
      }),
    );
  }
  let admin = load('admin');
  if (fresh || !admin || !stillGood(admin.cert, [])) {
    admin = save('admin', await issueCert(ca, { commonName: 'kite-admin', organizations: ['system:masters'], usage: 'client' }));
  }
  return { ca, serving, admin };
}

/** Subject of a verified client certificate as a Kubernetes user: CN is the name, O the groups. */
export function userFromCertificate(subject: Record<string, string | string[]> | undefined): { name: string; groups: string[] } | undefined {
  if (!subject || !subject.CN) return undefined;
  const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
  const o = subject.O === undefined ? [] : Array.isArray(subject.O) ? subject.O : [subject.O];
  return { name: cn, groups: o };
}
