import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createServer, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCa, ensurePki, issueCert, userFromCertificate } from './certs.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kite-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the CA is a self-signed CA certificate', async () => {
  const ca = await createCa('test-ca');
  const c = new X509Certificate(ca.cert);
  assert.equal(c.ca, true);
  assert.equal(c.subject, 'CN=test-ca');
  assert.equal(c.issuer, 'CN=test-ca');
  assert.equal(c.verify(c.publicKey), true);
  assert.ok(Date.parse(c.validTo) > Date.now() + 5 * 365 * 24 * 3600 * 1000);
  assert.match(ca.key, /^-----BEGIN PRIVATE KEY-----\n/);
});

test('ensurePki: the serving certificate verifies against the CA and names 127.0.0.1, localhost and the kubernetes service', async (t) => {
  const dir = tempDir(t);
  const pki = await ensurePki(dir);
  const ca = new X509Certificate(pki.ca.cert);
  const serving = new X509Certificate(pki.serving.cert);
  assert.equal(serving.verify(ca.publicKey), true);
  assert.equal(serving.checkIssued(ca), true);
  assert.equal(serving.ca, false);
  assert.equal(serving.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(serving.checkIP('10.96.0.1'), '10.96.0.1', 'the kubernetes Service IP');
  for (const host of ['localhost', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']) {
    assert.equal(serving.checkHost(host), host);
  }
  assert.deepEqual(serving.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
});

test('ensurePki: the admin client certificate is kite-admin in system:masters', async (t) => {
  const dir = tempDir(t);
  const pki = await ensurePki(dir);
  const admin = new X509Certificate(pki.admin.cert);
  assert.equal(admin.verify(new X509Certificate(pki.ca.cert).publicKey), true);
  assert.equal(admin.subject, 'CN=kite-admin\nO=system:masters');
  assert.deepEqual(admin.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'clientAuth');
});

test('ensurePki keeps private keys private on disk', async (t) => {
  const dir = tempDir(t);
  await ensurePki(dir);
  for (const name of ['ca', 'apiserver', 'admin']) {
    assert.equal(statSync(join(dir, `${name}.key`)).mode & 0o077, 0, `${name}.key`);
    assert.ok(readFileSync(join(dir, `${name}.crt`), 'utf8').startsWith('-----BEGIN CERTIFICATE-----'));
  }
});

test('a second ensurePki on the same directory reuses the CA and certificates', async (t) => {
  const dir = tempDir(t);
  const first = await ensurePki(dir);
  const second = await ensurePki(dir);
  assert.equal(second.ca.cert, first.ca.cert);
  assert.equal(second.ca.key, first.ca.key);
  assert.equal(second.serving.cert, first.serving.cert);
  assert.equal(second.admin.cert, first.admin.cert);
});

test('a new address gets a new serving certificate from the same CA', async (t) => {
  const dir = tempDir(t);
  const first = await ensurePki(dir);
  const second = await ensurePki(dir, { ips: ['10.11.12.13'], names: ['kite.example.com'] });
  assert.equal(second.ca.cert, first.ca.cert);
  assert.notEqual(second.serving.cert, first.serving.cert);
  const serving = new X509Certificate(second.serving.cert);
  assert.equal(serving.checkIP('10.11.12.13'), '10.11.12.13');
  assert.equal(serving.checkHost('kite.example.com'), 'kite.example.com');
  assert.equal(serving.verify(new X509Certificate(first.ca.cert).publicKey), true);
  // the admin credentials already handed out stay valid
  assert.equal(second.admin.cert, first.admin.cert);
});

test('certificates from another CA do not verify', async () => {
  const ca1 = await createCa('one');
  const ca2 = await createCa('two');
  const leaf = await issueCert(ca1, { commonName: 'x', usage: 'client' });
  assert.equal(new X509Certificate(leaf.cert).verify(new X509Certificate(ca2.cert).publicKey), false);
});

test('userFromCertificate: CN is the user, O entries are groups', () => {
  assert.deepEqual(userFromCertificate({ CN: 'jane', O: ['devs', 'ops'] }), { name: 'jane', groups: ['devs', 'ops'] });
  assert.deepEqual(userFromCertificate({ CN: 'jane', O: 'devs' }), { name: 'jane', groups: ['devs'] });
  assert.deepEqual(userFromCertificate({ CN: 'jane' }), { name: 'jane', groups: [] });
  assert.equal(userFromCertificate({ O: 'devs' }), undefined);
  assert.equal(userFromCertificate(undefined), undefined);
});

test('a TLS client trusting the CA reaches the server on 127.0.0.1 and is identified by its certificate', async (t) => {
  const dir = tempDir(t);
  const pki = await ensurePki(dir);
  const server = createServer(
    { cert: pki.serving.cert, key: pki.serving.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const sock = req.socket as TLSSocket;
      const user = sock.authorized ? userFromCertificate(sock.getPeerCertificate().subject as any) : undefined;
      res.end(JSON.stringify(user ?? null));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const body = await new Promise<string>((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path: '/', ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key, agent: false }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve(s));
    });
    r.on('error', reject);
    r.end();
  });
  assert.deepEqual(JSON.parse(body), { name: 'kite-admin', groups: ['system:masters'] });
});
