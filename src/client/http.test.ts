/**
 * The HTTP transport: URL and error mapping, kubeconfig reading, and the
 * shared client suite against a real `kite server` child process (the built
 * bin/kite.js, so `npm run build` must have run).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { R } from './client.js';
import { HttpClient, resourcePath, responseError } from './http.js';
import { clientConformance } from './client.suite.js';

/** Repository root: this file runs as src/client/http.test.ts (tsx) or dist/src/client/http.test.js. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (const up of [['..', '..'], ['..', '..', '..']]) {
    const root = join(dir, ...up);
    try {
      if (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name === 'kite') return root;
    } catch {
      // not here
    }
  }
  throw new Error(`cannot find the repository root above ${dir}`);
}

/** A `kite server` child process on a free port with a throwaway data dir. */
async function startKite(): Promise<{ kubeconfig: string; dataDir: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kite-client-http-'));
  const args = [join(repoRoot(), 'bin', 'kite.js'), 'server', '--data-dir', dataDir, '--port', '0', '--bind-address', '127.0.0.1', '--datastore', 'memory', '--disable-agent', '--disable-scheduler', '--controllers='];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`kite server exited (${code}) before it was ready:\n${out}${err}`));
      proc.once('exit', onExit);
      proc.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Kite control plane is ready.')) {
          proc.off('exit', onExit);
          resolve();
        }
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { kubeconfig: join(dataDir, 'kubeconfig.yaml'), dataDir, stop };
}

clientConformance('HTTP', async () => {
  const kite = await startKite();
  const client = HttpClient.fromKubeconfig(kite.kubeconfig);
  return {
    client,
    // The server's default watch cache window (cache.ts DEFAULT_WINDOW).
    watchWindow: 4096,
    async close() {
      client.close();
      await kite.stop();
    },
  };
});

test('resource paths follow the Kubernetes URL scheme', () => {
  assert.equal(resourcePath(R.pods, 'ns', 'p', 'binding'), '/api/v1/namespaces/ns/pods/p/binding');
  assert.equal(resourcePath(R.pods, '', undefined), '/api/v1/pods');
  assert.equal(resourcePath(R.nodes, '', 'n1', 'status'), '/api/v1/nodes/n1/status');
  assert.equal(resourcePath(R.deployments, 'ns', 'd', 'scale'), '/apis/apps/v1/namespaces/ns/deployments/d/scale');
  assert.equal(resourcePath(R.leases, 'kube-node-lease', undefined), '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
  assert.equal(resourcePath(R.configmaps, 'a b', 'x/y'), '/api/v1/namespaces/a%20b/configmaps/x%2Fy');
});

test('a non-2xx answer becomes an ApiError: the Status as sent, or a generic one for its code', () => {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "p" not found', reason: 'NotFound', details: { name: 'p', kind: 'pods' }, code: 404 };
  const e = responseError(404, JSON.stringify(status));
  assert.equal(e.name, 'ApiError');
  assert.equal(e.code, 404);
  assert.equal(e.reason, 'NotFound');
  assert.equal(e.message, 'pods "p" not found');
  assert.deepEqual(e.details, { name: 'p', kind: 'pods' });
  const g = responseError(503, 'upstream connect error');
  assert.equal(g.code, 503);
  assert.equal(g.reason, 'ServiceUnavailable');
  assert.equal(g.message, 'the server is currently unable to handle the request (upstream connect error)');
});

describe('HttpClient against a recording server', () => {
  // A plain-HTTP stand-in that records what was asked of it and answers from a script.
  let server: Server;
  let base = '';
  const seen: { method: string; url: string; type?: string; body: string; auth?: string; agent?: string }[] = [];
  let answer: (url: string, res: import('node:http').ServerResponse) => void = (_u, res) => res.end('{}');
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body, auth: req.headers.authorization, agent: req.headers['user-agent'] });
        answer(req.url!, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('query parameters, patch content types, delete options and credentials are sent as upstream clients send them', async () => {
    seen.length = 0;
    answer = (_u, res) => res.end('{"items":[],"metadata":{"resourceVersion":"7","continue":"tok"}}');
    const c = new HttpClient({ server: base, ca: '', token: 'secret', userAgent: 'tester/1.0', fieldManager: 'mgr' });
    try {
      const l = await c.list(R.pods, 'ns', { labelSelector: 'a=b,c', fieldSelector: 'spec.nodeName=n1', limit: 10, continue: 'x', resourceVersion: '0' });
      assert.deepEqual(l, { items: [], resourceVersion: '7', continue: 'tok' });
      await c.patch(R.deployments, 'ns', 'd', 'apply', { kind: 'Deployment' }, { force: true, fieldManager: 'me' });
      await c.patch(R.deployments, 'ns', 'd', 'strategic', { spec: {} }, { subresource: 'scale' });
      await c.patch(R.configmaps, 'ns', 'c', 'json', [], { dryRun: true });
      await c.patch(R.configmaps, 'ns', 'c', 'merge', {}, { force: true });
      await c.delete(R.pods, 'ns', 'p', { gracePeriodSeconds: 0, propagationPolicy: 'Foreground', preconditions: { uid: 'u' } });
      await c.create(R.pods, 'ns', { metadata: { name: 'p' }, target: { name: 'n' } }, { subresource: 'binding' });
      await c.update(R.namespaces, '', { metadata: { name: 'gone' } }, { subresource: 'finalize' });
    } finally {
      c.close();
    }
    const q = (u: string) => Object.fromEntries(new URL(u, base).searchParams);
    assert.equal(new URL(seen[0].url, base).pathname, '/api/v1/namespaces/ns/pods');
    assert.deepEqual(q(seen[0].url), { labelSelector: 'a=b,c', fieldSelector: 'spec.nodeName=n1', limit: '10', continue: 'x', resourceVersion: '0' });
    assert.deepEqual(
      seen.slice(1).map((s) => `${s.method} ${s.url} ${s.type}`),
      [
        'PATCH /apis/apps/v1/namespaces/ns/deployments/d?fieldManager=me&force=true application/apply-patch+yaml',
        'PATCH /apis/apps/v1/namespaces/ns/deployments/d/scale?fieldManager=mgr application/strategic-merge-patch+json',
        'PATCH /api/v1/namespaces/ns/configmaps/c?fieldManager=mgr&dryRun=All application/json-patch+json',
        'PATCH /api/v1/namespaces/ns/configmaps/c?fieldManager=mgr application/merge-patch+json',
        'DELETE /api/v1/namespaces/ns/pods/p application/json',
        'POST /api/v1/namespaces/ns/pods/p/binding?fieldManager=mgr application/json',
        'PUT /api/v1/namespaces/gone/finalize?fieldManager=mgr application/json',
      ],
    );
    assert.deepEqual(JSON.parse(seen[5].body), { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, propagationPolicy: 'Foreground', preconditions: { uid: 'u' } });
    assert.ok(seen.every((s) => s.auth === 'Bearer secret' && s.agent === 'tester/1.0'));
  });

  test('a watch parses events split across chunks, and done resolves when the server ends the stream', async () => {
    const lines = [
      { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '2' } } },
      { type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '3' } } },
    ].map((e) => JSON.stringify(e) + '\n');
    const text = lines.join('');
    answer = (_u, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // Split in the middle of the first document and write the rest in a later tick.
      res.write(text.slice(0, 17));
      setTimeout(() => {
        res.write(text.slice(17, text.length - 5));
        setTimeout(() => res.end(text.slice(text.length - 5)), 5);
      }, 5);
    };
    seen.length = 0;
    const c = new HttpClient({ server: base, ca: '' });
    const got: string[] = [];
    try {
      const w = await c.watch(R.pods, '', { resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 30 }, (ev) => got.push(`${ev.type} ${ev.object.metadata.resourceVersion}`));
      await w.done;
    } finally {
      c.close();
    }
    assert.deepEqual(got, ['ADDED 2', 'MODIFIED 3']);
    assert.equal(seen[0].url, '/api/v1/pods?watch=true&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=30');
  });

  test('a watch refused by the server rejects with its ApiError; stop() ends a running watch', async () => {
    answer = (u, res) => {
      if (u.includes('resourceVersion=bad')) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'invalid resource version "bad"', reason: 'BadRequest', code: 400 }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('');
    };
    const c = new HttpClient({ server: base, ca: '' });
    try {
      await assert.rejects(c.watch(R.pods, 'ns', { resourceVersion: 'bad' }, () => {}), { name: 'ApiError', code: 400, reason: 'BadRequest', message: 'invalid resource version "bad"' });
      const w = await c.watch(R.pods, 'ns', {}, () => {});
      w.stop();
      await w.done;
    } finally {
      c.close();
    }
  });

  test('a connection whose TLS handshake never completes times out instead of hanging', async () => {
    // Accepts TCP connections and never answers: the TLS handshake cannot finish.
    const sockets: import('node:net').Socket[] = [];
    const silent = createNetServer((s) => sockets.push(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const c = new HttpClient({ server: `https://127.0.0.1:${(silent.address() as import('node:net').AddressInfo).port}`, ca: '', connectTimeoutMs: 100 });
    try {
      await assert.rejects(c.get(R.pods, 'ns', 'p'), /timed out after 100 ms connecting to https:\/\/127\.0\.0\.1:/);
    } finally {
      c.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

test('fromKubeconfig reads the named context (or the current one) with inline data or files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-kubeconfig-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), 'CA-PEM');
    writeFileSync(join(dir, 'token'), 'file-token\n');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const kc = `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: { server: 'https://10.0.0.1:6443', certificate-authority-data: ${b64('INLINE-CA')} }
- name: two
  cluster: { server: 'https://10.0.0.2:6443', certificate-authority: ca.pem }
users:
- name: certs
  user: { client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')} }
- name: tok
  user: { tokenFile: token }
contexts:
- name: a
  context: { cluster: one, user: certs }
- name: b
  context: { cluster: two, user: tok }
current-context: a
`;
    const path = join(dir, 'config');
    writeFileSync(path, kc);
    const cfg = (c: HttpClient) => (c as unknown as { config: Record<string, unknown> }).config;
    const a = HttpClient.fromKubeconfig(path);
    assert.deepEqual(cfg(a), { server: 'https://10.0.0.1:6443', ca: 'INLINE-CA', cert: 'CERT', key: 'KEY', token: undefined });
    a.close();
    const b = HttpClient.fromKubeconfig(path, 'b');
    assert.deepEqual(cfg(b), { server: 'https://10.0.0.2:6443', ca: 'CA-PEM', cert: undefined, key: undefined, token: 'file-token' });
    b.close();
    assert.throws(() => HttpClient.fromKubeconfig(path, 'nope'), /context "nope" does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
