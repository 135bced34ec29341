/**
 * The shared behaviour suite of the container runtime contract (runtime.ts):
 * one set of node:test tests that every runtime — `process` and `cri` —
 * must pass, so the node agent sees the same pods whichever runs them:
 * sandbox IPs and hostnames, argv/env/working dir, exit codes and reasons
 * (OOMKilled where limits are enforced), logs in the CRI format, volumes,
 * graceful stops, exec, port-forward, and nothing left behind.
 *
 * The containers run busybox applets by name (sh, sleep, dd, httpd…): the
 * cri runtime's test image is busybox, and the process runtime finds the
 * host's busybox-static on its PATH.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../controllers/testenv.js';
import { parseCriLine } from '../logs.js';
import { parseCidr, ipToNumber } from './network.js';
import type { ContainerConfig, Runtime, Sandbox, SandboxConfig, StreamSession } from './runtime.js';

/** A started runtime offered to the suite, with what it can do on this host. */
export interface RuntimeUnderTest {
  runtime: Runtime;
  /** Image reference the containers name (the process runtime ignores it). */
  image: string;
  /** Scratch directory for container logs; removed by `cleanup`. */
  dir: string;
  /** The pod CIDR sandbox IPs come from. */
  podCidr: string;
  /** What this runtime provides here (root, cgroups…); `tty` absent or false skips the terminal case. */
  features: { podNetwork: boolean; mounts: boolean; memoryLimits: boolean; tty?: boolean };
  /** What the runtime left on the host after `stop()`: empty when clean. */
  leftovers(): string[] | Promise<string[]>;
  /** Releases what the factory made (data dir, registry). */
  cleanup(): Promise<void>;
}

/** `{ stream, content }` of each entry of a CRI log file (timestamps checked: RFC 3339, UTC, up to 9 fractional digits). */
export function logEntries(path: string): { stream: string; partial: boolean; content: string }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const e = parseCriLine(Buffer.from(line));
      if (!e || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/.test(e.timestamp)) throw new Error(`not a CRI log line: ${JSON.stringify(line)}`);
      return { stream: e.stream, partial: e.partial, content: e.content.toString('utf8') };
    });
}

/** One stream of a CRI log, lines joined with newlines. */
export function logText(path: string, stream: 'stdout' | 'stderr' = 'stdout'): string {
  return logEntries(path)
    .filter((e) => e.stream === stream)
    .map((e) => e.content)
    .join('\n');
}

/** Everything a stream session's stdout (or stderr) yields until it ends. */
function collect(s: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!s) return Promise.resolve('');
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.once('end', () => resolve(out));
    s.once('close', () => resolve(out));
  });
}

/** Output and exit of an exec session; a command that cannot start rejects with the runtime's message. */
async function finished(s: StreamSession): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const [stdout, stderr, exit] = await Promise.all([collect(s.stdout), collect(s.stderr), s.exited]);
  return { stdout, stderr, exitCode: exit.exitCode };
}

/**
 * Registers the contract's tests for a runtime: `make` builds and starts it
 * (once for the whole describe block); the suite stops it and checks that
 * nothing is left. `skip` skips the block with a reason (e.g. no root).
 */
export function runtimeBehaviourSuite(name: string, make: () => Promise<RuntimeUnderTest>, opts: { skip?: string | false } = {}): void {
  describe(`runtime contract: ${name}`, { skip: opts.skip ?? false }, () => {
    let rt: RuntimeUnderTest;
    const sandboxes: Sandbox[] = [];
    /** A host path a test creates (the process runtime's containers share the host's file system), removed after it. */
    const hostPath = (t: TestContext, path: string) => {
      t.after(() => rmSync(path, { recursive: true, force: true }));
      return path;
    };

    const pod = async (podName: string, extra: Partial<SandboxConfig> = {}): Promise<Sandbox> => {
      const s = await rt.runtime.createSandbox({ podUid: randomUUID(), namespace: 'default', name: podName, hostNetwork: false, hostname: podName, ...extra });
      sandboxes.push(s);
      return s;
    };
    const container = (argv: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig => {
      const cname = extra.name ?? 'c';
      return { podUid: 'suite', name: cname, image: rt.image, argv, env: {}, mounts: [], logPath: join(rt.dir, 'logs', `${cname}-${randomUUID()}`, '0.log'), ...extra };
    };
    const run = async (s: Sandbox, cfg: ContainerConfig) => (await rt.runtime.startContainer(s, cfg)).exited;

    before(async () => {
      rt = await make();
    });
    after(async () => {
      if (!rt) return;
      for (const s of sandboxes) await rt.runtime.removeSandbox(s);
      await rt.runtime.stop();
      try {
        assert.deepEqual(await rt.leftovers(), []);
      } finally {
        await rt.cleanup();
      }
    });

    it('runs argv with env and working dir, and reports the exit code as Error', async () => {
      const s = await pod('env');
      const cfg = container(['sh', '-c', 'echo "$GREETING from $(pwd)"; exit 3'], { env: { GREETING: 'hello' }, workingDir: '/tmp' });
      const status = await run(s, cfg);
      assert.equal(status.exitCode, 3);
      assert.equal(status.reason, 'Error');
      assert.ok(status.finishedAt >= status.startedAt);
      assert.equal(logText(cfg.logPath), 'hello from /tmp');
    });

    it('ends Completed on exit 0 and logs both streams in the CRI format', async () => {
      const s = await pod('logs');
      const cfg = container(['sh', '-c', 'echo one; echo problem >&2; echo two; printf "no newline"']);
      const status = await run(s, cfg);
      assert.equal(status.exitCode, 0);
      assert.equal(status.reason, 'Completed');
      assert.equal(logText(cfg.logPath), 'one\ntwo\nno newline');
      assert.equal(logText(cfg.logPath, 'stderr'), 'problem');
      // Whole lines are full (F) entries; how an unterminated last line is tagged differs (containerd: P).
      assert.deepEqual(
        logEntries(cfg.logPath).filter((e) => e.content !== 'no newline').map((e) => e.partial),
        [false, false, false],
      );
    });

    it('passes arguments literally, never through a shell', async () => {
      const s = await pod('argv');
      const marker = `/tmp/kite-suite-pwned-${randomUUID()}`;
      const args = ['a b', '$HOME', '`id`', "it's", `$(touch ${marker})`, '*'];
      const cfg = container(['printf', '%s\\n', ...args]);
      assert.equal((await run(s, cfg)).exitCode, 0);
      assert.equal(logText(cfg.logPath), args.join('\n'));
      assert.equal(existsSync(marker), false);
    });

    it('gives each pod its own IP from the pod CIDR and its hostname', async (t) => {
      if (!rt.features.podNetwork) return t.skip('pods share the host network here');
      const a = await pod('pod-a');
      const b = await pod('pod-b');
      const cidr = parseCidr(rt.podCidr);
      const inCidr = (ip: string) => ipToNumber(ip) >>> (32 - cidr.prefix) === cidr.base >>> (32 - cidr.prefix);
      assert.ok(inCidr(a.ip) && inCidr(b.ip), `${a.ip} and ${b.ip} in ${rt.podCidr}`);
      assert.notEqual(a.ip, b.ip);
      const cfg = container(['sh', '-c', 'cat /proc/sys/kernel/hostname; busybox ip -4 -o addr show dev eth0']);
      assert.equal((await run(a, cfg)).exitCode, 0, logText(cfg.logPath, 'stderr'));
      const [hostname, addr] = logText(cfg.logPath).split('\n');
      assert.equal(hostname, 'pod-a');
      assert.match(addr!, new RegExp(` inet ${a.ip.replace(/\./g, '\\.')}/${cidr.prefix} `));
    });

    it('lets containers of one pod share localhost and other pods reach the pod IP', async (t) => {
      if (!rt.features.podNetwork) return t.skip('pods share the host network here');
      const server = await pod('server');
      const client = await pod('client');
      const www = hostPath(t, `/tmp/kite-suite-www-${randomUUID()}`);
      const srv = await rt.runtime.startContainer(
        server,
        container(['sh', '-c', `mkdir -p ${www} && echo hello-from-server > ${www}/index.html && exec busybox httpd -f -p 8080 -h ${www}`], { name: 'server' }),
      );
      const fetchFrom = (host: string) => container(['sh', '-c', `for i in $(seq 1 100); do busybox wget -q -O - http://${host}:8080/ && exit 0; sleep 0.1; done; exit 1`], { name: 'fetch' });
      const sidecar = fetchFrom('127.0.0.1');
      assert.equal((await run(server, sidecar)).exitCode, 0, logText(sidecar.logPath, 'stderr'));
      assert.equal(logText(sidecar.logPath), 'hello-from-server');
      const other = fetchFrom(server.ip);
      assert.equal((await run(client, other)).exitCode, 0, logText(other.logPath, 'stderr'));
      assert.equal(logText(other.logPath), 'hello-from-server');
      await rt.runtime.stopContainer(srv, 5);
    });

    it('mounts volumes at their container path, enforcing readOnly', async (t) => {
      if (!rt.features.mounts) return t.skip('no per-container mounts here');
      const s = await pod('mounts');
      const ro = hostPath(t, mkdtempSync(join(tmpdir(), 'kite-suite-ro-')));
      const rw = hostPath(t, mkdtempSync(join(tmpdir(), 'kite-suite-rw-')));
      writeFileSync(join(ro, 'config'), 'from configmap');
      const file = join(rw, 'single');
      writeFileSync(file, 'one file');
      const target = hostPath(t, `/tmp/kite-suite-mount-${randomUUID()}`);
      const cfg = container(
        ['sh', '-c', 'cat "$1/config/config"; echo; cat "$1/file"; echo; echo written > "$1/data/out" && echo rw-ok; echo nope > "$1/config/new" 2>/dev/null || echo ro-denied; pwd', 'sh', target],
        {
          workingDir: `${target}/data`,
          mounts: [
            { hostPath: ro, containerPath: `${target}/config`, readOnly: true },
            { hostPath: rw, containerPath: `${target}/data`, readOnly: false },
            { hostPath: file, containerPath: `${target}/file`, readOnly: true },
          ],
        },
      );
      const status = await run(s, cfg);
      assert.equal(status.exitCode, 0, logText(cfg.logPath, 'stderr'));
      assert.deepEqual(logText(cfg.logPath).split('\n'), ['from configmap', 'one file', 'rw-ok', 'ro-denied', `${target}/data`]);
      assert.equal(readFileSync(join(rw, 'out'), 'utf8'), 'written\n');
      assert.equal(existsSync(join(ro, 'new')), false);
    });

    it('stops a container that handles SIGTERM within the grace period', { timeout: 25_000 }, async () => {
      const s = await pod('graceful');
      const cfg = container(['sh', '-c', 'trap "echo terminating; exit 0" TERM; echo ready; while :; do sleep 0.05; done']);
      const c = await rt.runtime.startContainer(s, cfg);
      await eventually(() => logText(cfg.logPath).includes('ready'), 'container ready');
      // A 60 s grace period: the test's timeout fails it if the runtime waited for it.
      const status = await rt.runtime.stopContainer(c, 60);
      assert.equal(status.exitCode, 0);
      assert.equal(status.reason, 'Completed');
      assert.equal(logText(cfg.logPath), 'ready\nterminating');
    });

    it('kills a container that outlives SIGTERM once the grace period is over (exit 137)', async () => {
      const s = await pod('stubborn');
      const cfg = container(['sh', '-c', 'trap "echo got-term" TERM; echo ready; while :; do sleep 0.05; done']);
      const c = await rt.runtime.startContainer(s, cfg);
      await eventually(() => logText(cfg.logPath).includes('ready'), 'container ready');
      const status = await rt.runtime.stopContainer(c, 1);
      assert.equal(status.exitCode, 137);
      assert.equal(status.reason, 'Error');
      // It saw SIGTERM first and lived on until SIGKILL.
      assert.equal(logText(cfg.logPath), 'ready\ngot-term');
    });

    it('reports a container over its memory limit as OOMKilled', async (t) => {
      if (!rt.features.memoryLimits) return t.skip('no memory limits enforced here');
      const s = await pod('oom');
      // dd (the container's main process) fills a buffer of its block size: 128 MiB against a 32 MiB limit.
      const hog = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'];
      const status = await run(s, container(hog, { memoryLimitBytes: 32 * 1024 * 1024 }));
      assert.equal(status.reason, 'OOMKilled');
      assert.equal(status.exitCode, 137);
      // Without the limit the same copy completes.
      const free = container(hog);
      assert.equal((await run(s, free)).reason, 'Completed');
      assert.match(logText(free.logPath, 'stderr'), /1\+0 records out/);
    });

    it('execs a command in a running container: its output, its exit code, the container environment', async () => {
      const s = await pod('exec');
      const c = await rt.runtime.startContainer(s, container(['sleep', '600'], { env: { FROM_POD: 'pod-value' }, workingDir: '/tmp' }));
      const r = await finished(await rt.runtime.exec(s, c, { argv: ['sh', '-c', 'echo "out $FROM_POD $(pwd)"; echo err >&2; exit 5'], tty: false, stdin: false }));
      assert.deepEqual(r, { stdout: 'out pod-value /tmp\n', stderr: 'err\n', exitCode: 5 });
      const ok = await finished(await rt.runtime.exec(s, c, { argv: ['true'], tty: false, stdin: false }));
      assert.equal(ok.exitCode, 0);
      await rt.runtime.stopContainer(c, 0);
    });

    it("fails an exec of a missing command with the runtime's message", async () => {
      const s = await pod('exec-missing');
      const c = await rt.runtime.startContainer(s, container(['sleep', '600']));
      // A runtime may refuse the exec at once or report it when the session ends; either way the message is runc's.
      await assert.rejects(
        (async () => finished(await rt.runtime.exec(s, c, { argv: ['no-such-command-kite'], tty: false, stdin: false })))(),
        /exec: "no-such-command-kite": executable file not found in \$PATH/,
      );
      await rt.runtime.stopContainer(c, 0);
    });

    it("attaches to a container's stdin and output", async () => {
      const s = await pod('attach');
      const cfg = container(['sh', '-c', 'echo started; read line; echo "got $line"; sleep 600'], { stdin: true });
      const c = await rt.runtime.startContainer(s, cfg);
      await eventually(() => logText(cfg.logPath).includes('started'), 'container started');
      const session = await rt.runtime.attach(c, { stdin: true, tty: false });
      let out = '';
      session.stdout.on('data', (d: Buffer) => (out += d));
      session.stdin!.write('through attach\n');
      // The attached client sees the output from now on; the log has all of it.
      await eventually(() => out.includes('got through attach'), 'output on the attached stream');
      assert.equal(logText(cfg.logPath), 'started\ngot through attach');
      session.close();
      await rt.runtime.stopContainer(c, 0);
    });

    it('gives a tty container a terminal that attach drives: echo, one output stream, resize', async (t) => {
      if (!rt.features.tty) return t.skip('no terminals for containers in this runtime yet');
      const s = await pod('tty');
      const cfg = container(['sh', '-c', 'tty; echo started; while read line; do echo "got $line"; stty size; done'], { stdin: true, tty: true });
      const c = await rt.runtime.startContainer(s, cfg);
      await eventually(() => logText(cfg.logPath).includes('started'), 'container started');
      const session = await rt.runtime.attach(c, { stdin: true, tty: true });
      // A terminal merges stderr into its one output stream.
      assert.equal(session.stderr, undefined);
      let out = '';
      session.stdout.on('data', (d: Buffer) => (out += d));
      session.stdin!.write('typed\n');
      // The terminal echoes the input (and writes CRLF), then the shell answers.
      await eventually(() => out.includes('typed\r\n') && out.includes('got typed\r\n'), 'echo and answer on the attached terminal');
      // A resize reaches the terminal (stty reads it back on the next line).
      let asked = 0;
      await eventually(() => {
        if (out.includes('41 101')) return true;
        // Resize and input travel apart inside the runtime: ask again until a line sees the new size.
        if (Date.now() - asked > 200) {
          asked = Date.now();
          session.resize!({ width: 101, height: 41 });
          session.stdin!.write('\n');
        }
        return false;
      }, 'the new terminal size');
      const log = logEntries(cfg.logPath);
      assert.ok(log.every((e) => e.stream === 'stdout'), 'a terminal logs one stream');
      assert.match(log[0]!.content, /^\/dev\/pts\/\d+$/);
      session.close();
      await rt.runtime.stopContainer(c, 0);
    });

    it('forwards a port to a listener on localhost inside the pod', async (t) => {
      if (!rt.features.podNetwork) return t.skip('pods share the host network here');
      const s = await pod('forward');
      const www = hostPath(t, `/tmp/kite-suite-pf-${randomUUID()}`);
      const c = await rt.runtime.startContainer(s, container(['sh', '-c', `mkdir -p ${www} && echo forwarded > ${www}/index.html && exec busybox httpd -f -p 127.0.0.1:8081 -h ${www}`]));
      const body = await eventually(async () => {
        const conn = await rt.runtime.portForward(s, 8081);
        const reply = new Promise<string>((resolve) => {
          let text = '';
          conn.on('data', (d: Buffer) => (text += d));
          conn.once('end', () => resolve(text));
          conn.once('close', () => resolve(text));
        });
        conn.end('GET / HTTP/1.0\r\n\r\n');
        const text = await reply;
        conn.destroy();
        return text.includes('200 OK') ? text : undefined;
      }, 'port 8081 answering through port-forward').catch((e: Error) => e.message);
      assert.match(body, /\r\n\r\nforwarded\n$/);
      await assert.rejects(rt.runtime.portForward(s, 8099), /8099/);
      await rt.runtime.stopContainer(c, 0);
    });

    it('stops at once with no grace period, and removes a sandbox idempotently', async () => {
      const s = await pod('gone');
      const c = await rt.runtime.startContainer(s, container(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']));
      const status = await rt.runtime.stopContainer(c, 0);
      assert.equal(status.exitCode, 137);
      await rt.runtime.removeSandbox(s);
      await rt.runtime.removeSandbox(s);
    });
  });
}
