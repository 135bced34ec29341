/**
 * Watch semantics seen by users and clients: `kubectl get -w` output, the
 * list-then-watch contract (every change exactly once, in order), lists from
 * the watch cache (`resourceVersion=0`), bookmarks, 410 Expired for versions
 * older than the cache window, `timeoutSeconds`, selectors on watches, and
 * many concurrent watchers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { KiteServer, KUBECTL } from './harness.js';
import { apiClient, type ApiClient, type WatchEvent } from './apiclient.js';

let server: KiteServer;
let api: ApiClient;

before(async () => {
  // Bookmarks every second (hidden flag) so the bookmark test need not wait a minute.
  server = new KiteServer({ datastore: 'sqlite', extraArgs: ['--watch-bookmark-interval', '1'] });
  await server.start();
  api = apiClient(server.kubeconfig);
});

after(async () => {
  await server?.cleanup();
});

/** Creates a namespace through the API (kubectl's typed `create namespace` is not needed here). */
async function namespace(name: string): Promise<void> {
  const r = await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  assert.equal(r.status, 201, r.body);
}

/** Creates a ConfigMap and returns the stored object. */
async function createCm(ns: string, name: string, labels?: Record<string, string>, data: Record<string, string> = { a: '1' }): Promise<any> {
  const r = await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });
  assert.equal(r.status, 201, r.body);
  return r.json();
}

/** Merge-patches a ConfigMap and returns the stored object. */
async function patchCm(ns: string, name: string, patch: object): Promise<any> {
  const r = await api.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, patch, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(r.status, 200, r.body);
  return r.json();
}

/** Deletes a ConfigMap and returns the response body (the deleted object). */
async function deleteCm(ns: string, name: string): Promise<any> {
  const r = await api.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/${name}`);
  assert.equal(r.status, 200, r.body);
  return r.json();
}

/** A kubectl child process whose output lines can be awaited. */
interface LineProcess {
  lines: string[];
  /** Resolves once at least `n` stdout lines match `re` (rejects if kubectl exits first or after 15 s). */
  waitLines(re: RegExp, n?: number): Promise<void>;
  /** Resolves once kubectl's -v=6 log shows the watch request answered (the watch is established). */
  watching: Promise<void>;
  stop(): Promise<void>;
}

/** Spawns kubectl (with -v=6 so the watch request's answer can be awaited on stderr) and collects its lines. */
function kubectlLines(args: string[]): LineProcess {
  const child: ChildProcess = spawn(KUBECTL, [...args, '-v=6'], { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let out = '';
  let err = '';
  let exited = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    notify();
  });
  child.on('exit', () => {
    exited = true;
    notify();
  });
  const until = <T>(check: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; stdout:\n${lines.join('\n')}\nstderr:\n${err.slice(-2000)}`)), 15_000);
      const done = (e?: Error, v?: T) => {
        clearTimeout(timer);
        listeners.delete(attempt);
        if (e) reject(e);
        else resolve(v as T);
      };
      const attempt = () => {
        const v = check();
        if (v !== undefined) done(undefined, v);
        else if (exited) done(new Error(`kubectl exited before ${what}; stdout:\n${lines.join('\n')}\nstderr:\n${err.slice(-2000)}`));
      };
      listeners.add(attempt);
      attempt();
    });
  return {
    lines,
    waitLines: (re, n = 1) => until(() => (lines.filter((l) => re.test(l)).length >= n ? true : undefined), `${n} lines matching ${re}`).then(() => undefined),
    watching: until(() => (/watch=true.* 200 OK/.test(err) ? true : undefined), 'the watch request').then(() => undefined),
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/** Collects the events of a raw watch and lets a test await a condition on them. */
function collect(path: string): { events: WatchEvent[]; until(pred: (evs: WatchEvent[]) => boolean, what: string, ms?: number): Promise<void>; stop(): void; done: Promise<number> } {
  const events: WatchEvent[] = [];
  const waiters = new Set<() => void>();
  const h = api.watch(path, (ev) => {
    events.push(ev);
    for (const w of [...waiters]) w();
  });
  return {
    events,
    until(pred, what, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]))}`));
        }, ms);
        const check = () => {
          if (pred(events)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => h.stop(),
    done: h.done,
  };
}

const rvOf = (o: any) => Number(o.metadata.resourceVersion);

test('kubectl get -w, --watch-only and --output-watch-events show the changes made while watching', async () => {
  const ns = 'wt-kubectl';
  await namespace(ns);
  await createCm(ns, 'pre');
  const all = kubectlLines(['get', 'cm', '-n', ns, '-w']);
  const only = kubectlLines(['get', 'cm', '-n', ns, '--watch-only']);
  const events = kubectlLines(['get', 'cm', '-n', ns, '-w', '--output-watch-events']);
  try {
    await Promise.all([all.watching, only.watching, events.watching]);
    // Changes made with kubectl, as a user would.
    await server.k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live', namespace: ns }, data: { k: 'v' } }));
    await server.k(['label', 'cm', 'live', '-n', ns, 'tier=web']);
    await server.k(['delete', 'cm', 'live', '-n', ns]);

    await events.waitLines(/^DELETED\s+live\s/);
    assert.deepEqual(
      events.lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['EVENT NAME', 'ADDED pre', 'ADDED live', 'MODIFIED live', 'DELETED live'],
    );
    assert.match(events.lines[0], /^EVENT\s+NAME\s+DATA\s+AGE$/);

    // -w prints the existing object, then one row per change (ADDED, MODIFIED, DELETED).
    await all.waitLines(/^live\s+1\s/, 3);
    assert.deepEqual(all.lines.map((l) => l.split(/\s+/)[0]), ['NAME', 'pre', 'live', 'live', 'live']);

    // --watch-only skips the initial listing: only the three changes appear.
    await only.waitLines(/^live\s+1\s/, 3);
    assert.deepEqual(only.lines.map((l) => l.split(/\s+/)[0]), ['NAME', 'live', 'live', 'live']);
  } finally {
    await Promise.all([all.stop(), only.stop(), events.stop()]);
  }
});

test('list, then watch from the list resourceVersion delivers every later write exactly once, in order', async () => {
  const ns = 'wt-listwatch';
  await namespace(ns);
  // A writer runs while the list is taken: creates, updates and deletes, in sequence, so the
  // order of acknowledgements is the order of resourceVersions. A ConfigMap DELETE answers
  // with a Status (no resourceVersion), so deletes are recorded without one.
  const acked: { type: string; name: string; rv?: number }[] = [];
  let listed: Promise<any> | undefined;
  const writer = (async () => {
    for (let i = 0; i < 60; i++) {
      const name = `c${i}`;
      const c = await createCm(ns, name);
      acked.push({ type: 'ADDED', name, rv: rvOf(c) });
      if (i === 20) listed = api.request('GET', `/api/v1/namespaces/${ns}/configmaps`); // list mid-burst
      const u = await patchCm(ns, name, { data: { a: '2' } });
      acked.push({ type: 'MODIFIED', name, rv: rvOf(u) });
      if (i % 3 === 0) {
        await deleteCm(ns, name);
        acked.push({ type: 'DELETED', name });
      }
    }
  })();
  // Start the watch as soon as the list answers, while the writer keeps going.
  while (!listed) await new Promise((r) => setImmediate(r));
  const list = (await listed).json();
  const listRv = Number(list.metadata.resourceVersion);
  const listedNames = new Set<string>(list.items.map((o: any) => o.metadata.name));
  const w = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${listRv}`);
  try {
    await writer;
    const lastName = acked[acked.length - 1].name;
    const lastRv = acked[acked.length - 1].rv!;
    await w.until((evs) => evs.some((e) => e.object.metadata.name === lastName && rvOf(e.object) >= lastRv), `the event at resourceVersion ${lastRv}`);
    // A write belongs after the list when its resourceVersion is newer; a delete when the
    // list still held the object (the object's ADDED/MODIFIED were then at or before the list).
    const after = acked.filter((a) => (a.rv !== undefined ? a.rv > listRv : listedNames.has(a.name) || (acked.find((x) => x.name === a.name && x.type === 'MODIFIED')!.rv! > listRv)));
    const expected = after.map((a) => `${a.type} ${a.name}${a.rv !== undefined ? ` ${a.rv}` : ''}`);
    const got = w.events.map((e) => `${e.type} ${e.object.metadata.name}${e.type === 'DELETED' ? '' : ` ${rvOf(e.object)}`}`);
    assert.ok(expected.length > 50, `the list came before most writes (${expected.length} after it)`);
    assert.deepEqual(got, expected);
    // resourceVersions strictly increase (nothing repeated) and all are newer than the list.
    const rvs = w.events.map((e) => rvOf(e.object));
    assert.ok(rvs[0] > listRv);
    for (let i = 1; i < rvs.length; i++) assert.ok(rvs[i] > rvs[i - 1], `event ${i} (rv ${rvs[i]}) after rv ${rvs[i - 1]}`);
    // The list itself holds exactly the objects alive at its resourceVersion.
    const alive = new Set<string>();
    for (const a of acked) {
      if (a.type === 'ADDED' && a.rv! <= listRv) alive.add(a.name);
    }
    for (const a of acked) if (a.type === 'DELETED' && !listedNames.has(a.name)) alive.delete(a.name);
    assert.deepEqual([...listedNames].sort(), [...alive].sort());
  } finally {
    w.stop();
  }
});

test('a resourceVersion=0 list is served and includes existing objects', async () => {
  const ns = 'wt-rv0';
  await namespace(ns);
  const a = await createCm(ns, 'one');
  const b = await createCm(ns, 'two');
  const r = await api.request('GET', `/api/v1/namespaces/${ns}/configmaps?resourceVersion=0`);
  assert.equal(r.status, 200, r.body);
  const list = r.json();
  assert.equal(list.kind, 'ConfigMapList');
  assert.deepEqual(list.items.map((o: any) => o.metadata.uid).sort(), [a.metadata.uid, b.metadata.uid].sort());
  assert.ok(Number(list.metadata.resourceVersion) >= rvOf(b), 'the list is at least as new as the last write');
  // kubectl's own rv=0 read (get --raw) sees the same.
  const viaKubectl = JSON.parse(await server.k(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?resourceVersion=0`]));
  assert.deepEqual(viaKubectl.items.map((o: any) => o.metadata.name), ['one', 'two']);
});

test('allowWatchBookmarks=true yields BOOKMARK events carrying a current resourceVersion; plain watches get none', async () => {
  const ns = 'wt-bookmark';
  await namespace(ns);
  const c = await createCm(ns, 'x');
  const withBm = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rvOf(c)}&allowWatchBookmarks=true`);
  const plain = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rvOf(c)}`);
  try {
    const u = await patchCm(ns, 'x', { data: { a: '2' } });
    await withBm.until((evs) => evs.filter((e) => e.type === 'BOOKMARK').length >= 2, 'two BOOKMARK events');
    const bm = withBm.events.filter((e) => e.type === 'BOOKMARK');
    assert.equal(bm[0].object.kind, 'ConfigMap');
    assert.equal(bm[0].object.apiVersion, 'v1');
    assert.ok(rvOf(bm[bm.length - 1].object) >= rvOf(u), 'a bookmark after a change is at least that change\'s resourceVersion');
    // The MODIFIED event precedes any bookmark that covers it.
    const mod = withBm.events.findIndex((e) => e.type === 'MODIFIED');
    assert.ok(mod >= 0 && mod < withBm.events.findIndex((e) => e.type === 'BOOKMARK' && rvOf(e.object) >= rvOf(u)));
    await plain.until((evs) => evs.some((e) => e.type === 'MODIFIED'), 'the MODIFIED event on the plain watch');
    assert.deepEqual(plain.events.map((e) => e.type), ['MODIFIED']);
  } finally {
    withBm.stop();
    plain.stop();
  }
});

test('timeoutSeconds=1 ends the watch stream after about a second', async () => {
  const t0 = Date.now();
  const w = collect('/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1');
  const status = await w.done;
  const took = Date.now() - t0;
  assert.equal(status, 200);
  assert.ok(took >= 900 && took < 5000, `stream ended after ${took} ms`);
  // kubectl reading the same stream returns (exit 0) when the server ends it.
  const r = await server.kubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, r.stderr);
});

test('a label selector on a watch: objects that stop matching arrive as DELETED, that start matching as ADDED', async () => {
  const ns = 'wt-labelsel';
  await namespace(ns);
  const start = await createCm(ns, 'other', { app: 'db' });
  const w = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rvOf(start)}&labelSelector=app%3Dweb`);
  const kc = kubectlLines(['get', 'cm', '-n', ns, '-l', 'app=web', '--watch-only', '--output-watch-events']);
  try {
    await kc.watching;
    await createCm(ns, 'web1', { app: 'web' }); // ADDED
    await patchCm(ns, 'web1', { data: { a: '2' } }); // MODIFIED
    const left = await patchCm(ns, 'web1', { metadata: { labels: { app: 'db' } } }); // stops matching → DELETED
    await patchCm(ns, 'web1', { data: { a: '3' } }); // not matching: nothing
    await patchCm(ns, 'other', { metadata: { labels: { app: 'web' } } }); // starts matching → ADDED
    await deleteCm(ns, 'other'); // DELETED
    await w.until((evs) => evs.length >= 5, 'five events');
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED web1', 'MODIFIED web1', 'DELETED web1', 'ADDED other', 'DELETED other'],
    );
    // upstream's cacher: an object that left the selector arrives as DELETED with its last
    // matching content, stamped with the resourceVersion of the change that made it leave.
    assert.equal(w.events[2].object.metadata.labels.app, 'web');
    assert.equal(w.events[2].object.metadata.resourceVersion, left.metadata.resourceVersion);
    await kc.waitLines(/^(ADDED|MODIFIED|DELETED)\s/, 5);
    assert.deepEqual(
      kc.lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['ADDED web1', 'MODIFIED web1', 'DELETED web1', 'ADDED other', 'DELETED other'],
    );
  } finally {
    w.stop();
    await kc.stop();
  }
});

test('a field selector on a pod watch follows status.phase changes', async () => {
  const ns = 'wt-fieldsel';
  await namespace(ns);
  const pod = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    // No node carries this label, so nothing runs the pod and its phase is only what we set.
    spec: { nodeSelector: { 'kite.test/unschedulable': 'true' }, containers: [{ name: 'c', image: 'busybox' }] },
  });
  const setPhase = async (name: string, phase: string) => {
    const r = await api.request('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { phase } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(r.status, 200, r.body);
  };
  const created = await api.request('POST', `/api/v1/namespaces/${ns}/pods`, pod('p1'));
  assert.equal(created.status, 201, created.body);
  const w = collect(`/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${rvOf(created.json())}&fieldSelector=status.phase%3DRunning`);
  const byName = collect(`/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${rvOf(created.json())}&fieldSelector=metadata.name%3Dp2`);
  try {
    await setPhase('p1', 'Running'); // starts matching → ADDED
    const p2 = await api.request('POST', `/api/v1/namespaces/${ns}/pods`, pod('p2'));
    assert.equal(p2.status, 201, p2.body);
    await setPhase('p1', 'Succeeded'); // stops matching → DELETED (with the last matching content, as upstream)
    await w.until((evs) => evs.length >= 2, 'two events');
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.status.phase}`), ['ADDED p1 Running', 'DELETED p1 Running']);
    await byName.until((evs) => evs.length >= 1, 'the p2 event');
    assert.deepEqual(byName.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED p2']);
  } finally {
    w.stop();
    byName.stop();
  }
});

test('50 concurrent watchers all receive the same events in the same order', async () => {
  const ns = 'wt-fanout';
  await namespace(ns);
  const base = await createCm(ns, 'seed');
  const watchers = Array.from({ length: 50 }, () => collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rvOf(base)}`));
  try {
    const N = 30;
    const expected: string[] = [];
    for (let i = 0; i < N; i++) {
      const c = i % 2 === 0 ? await createCm(ns, `f${i}`) : await patchCm(ns, 'seed', { data: { a: `v${i}` } });
      expected.push(`${i % 2 === 0 ? 'ADDED' : 'MODIFIED'} ${c.metadata.name} ${c.metadata.resourceVersion}`);
    }
    await Promise.all(watchers.map((w) => w.until((evs) => evs.length >= N, `${N} events`)));
    for (const w of watchers) {
      assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`), expected);
    }
  } finally {
    for (const w of watchers) w.stop();
  }
});

// Last in this file: it restarts the server.
test('a watch from a resourceVersion older than the watch cache window gets 410 Expired "too old resource version"', async () => {
  const ns = 'wt-expired';
  await namespace(ns);
  const first = await createCm(ns, 'churn');
  const oldRv = rvOf(first);
  await patchCm(ns, 'churn', { data: { a: 'newer' } });
  // The cache window (4096 events per resource) starts where the cache was loaded: after a
  // restart on the same data dir, every version before the restart is older than the window.
  // (Pushing 4096 writes through it instead takes tens of seconds.)
  assert.equal(await server.stop(), 0);
  await server.start();
  api = apiClient(server.kubeconfig);
  const w = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${oldRv}`);
  await w.until((evs) => evs.length >= 1, 'the ERROR event');
  const status = await w.done; // the server ends the stream after the error
  assert.equal(status, 200);
  assert.equal(w.events.length, 1);
  const ev = w.events[0];
  assert.equal(ev.type, 'ERROR');
  assert.equal(ev.object.kind, 'Status');
  assert.equal(ev.object.status, 'Failure');
  assert.equal(ev.object.code, 410);
  assert.equal(ev.object.reason, 'Expired');
  assert.match(ev.object.message, new RegExp(`^too old resource version: ${oldRv} \\(\\d+\\)$`));
  // A watch from a recent version still works.
  const cur = (await api.request('GET', `/api/v1/namespaces/${ns}/configmaps/churn`)).json();
  const ok = collect(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rvOf(cur)}`);
  try {
    const u = await patchCm(ns, 'churn', { data: { a: 'last' } });
    await ok.until((evs) => evs.some((e) => e.type === 'MODIFIED' && rvOf(e.object) === rvOf(u)), 'the latest change');
  } finally {
    ok.stop();
  }
});
