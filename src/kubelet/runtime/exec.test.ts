import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { execInContainer, execStartMessage, shellQuote, ttyArgv, type ContainerProcess } from './exec.js';
import { ProcessRuntime } from './process.js';
import type { ContainerConfig, Sandbox, StreamSession } from './runtime.js';
import { DEFAULT_PATH, isRoot, lookPath } from './sys.js';
import { criLogEntries, leftovers, testRuntimeOptions } from './testing.js';
import { eventually } from '../../controllers/testenv.js';

const PY = '/usr/bin/python3';

function collect(r: NodeJS.ReadableStream | undefined): Promise<string> {
  return new Promise((resolve) => {
    if (!r) return resolve('');
    let t = '';
    (r as Readable).on('data', (c: Buffer) => (t += c));
    (r as Readable).once('end', () => resolve(t));
  });
}

/** Runs a session to its end: what it wrote and how it exited. */
async function finish(s: StreamSession, input?: string): Promise<{ out: string; err: string; code: number }> {
  if (input !== undefined) s.stdin!.end(input);
  const [out, err, exit] = await Promise.all([collect(s.stdout), collect(s.stderr), s.exited]);
  return { out, err, code: exit.exitCode };
}

describe('exec helpers', () => {
  it('quotes words for the shell script runs', () => {
    assert.equal(shellQuote('plain/word-1.2'), 'plain/word-1.2');
    assert.equal(shellQuote("it's $HOME"), `'it'\\''s $HOME'`);
    assert.equal(shellQuote(''), "''");
  });

  it("words exec failures as runc's exec error reaches kubectl", () => {
    assert.equal(
      execStartMessage('abc', 'exec: "ps": executable file not found in $PATH'),
      'failed to exec in container: failed to start exec "abc": OCI runtime exec failed: exec failed: unable to start container process: exec: "ps": executable file not found in $PATH: unknown',
    );
  });

  it('runs a terminal command through script, reporting the terminal on fd 3, with the container SHELL put back', () => {
    const argv = ttyArgv('/usr/bin/script', ['sh', '-c', 'echo "a b"'], { SHELL: '/bin/bash' });
    assert.deepEqual(argv.slice(0, 6), ['/usr/bin/script', '--quiet', '--return', '--echo', 'always', '--command']);
    assert.equal(argv[6], `tty >&3; exec 3>&-; SHELL=/bin/bash; export SHELL; exec sh -c 'echo "a b"'`);
    assert.equal(argv[7], '/dev/null');
  });

  it("reports the command's pid with the terminal on another fd for a container", () => {
    const argv = ttyArgv('/usr/bin/script', ['sh', '-c', 'init'], {}, { fd: 4, pid: true });
    assert.equal(argv[6], `echo "$$ $(tty)" >&4; exec 4>&-; unset SHELL; exec sh -c init`);
  });
});

describe('exec in the host namespaces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-exec-'));
  mkdirSync(join(dir, 'work'));
  /** This test process stands for the container: same namespaces, so no nsenter is needed. */
  const self: ContainerProcess = { pid: process.pid, env: { PATH: process.env.PATH ?? DEFAULT_PATH, GREETING: 'hi there' }, workingDir: join(dir, 'work'), mounts: [], cgroupProcs: [] };
  const tools = { sh: '/bin/sh', script: lookPath('script'), stty: lookPath('stty') };
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs the command with the container's environment and working directory, and its exit code", async () => {
    const r = await finish(await execInContainer(self, { argv: ['sh', '-c', 'echo "$GREETING"; pwd; echo oops >&2; exit 7'], tty: false, stdin: false }, tools));
    assert.deepEqual(r, { out: `hi there\n${join(dir, 'work')}\n`, err: 'oops\n', code: 7 });
  });

  it('feeds stdin to the command until it ends', async () => {
    const r = await finish(await execInContainer(self, { argv: ['tr', 'a-z', 'A-Z'], tty: false, stdin: true }, tools), 'shout\n');
    assert.equal(r.out, 'SHOUT\n');
  });

  it('refuses a missing command or working directory as runc does', async () => {
    await assert.rejects(execInContainer(self, { argv: ['no-such-command'], tty: false, stdin: false }, tools), (e: Error) => {
      assert.equal(e.name, 'StartError');
      assert.match(e.message, /^failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown$/);
      return true;
    });
    await assert.rejects(execInContainer({ ...self, workingDir: join(dir, 'gone') }, { argv: ['true'], tty: false, stdin: false }, tools), /unable to start container process: chdir to cwd \(".*\/gone"\) set in config.json failed: no such file or directory: unknown$/);
    await assert.rejects(execInContainer(self, { argv: [join(dir, 'missing.sh')], tty: false, stdin: false }, tools), /exec: ".*missing.sh": stat .*missing.sh: no such file or directory: unknown$/);
  });

  it('ends the command on close (its process group is killed)', async () => {
    const s = await execInContainer(self, { argv: ['sleep', '30'], tty: false, stdin: false }, tools);
    s.close();
    assert.equal((await s.exited).exitCode, 128 + 9);
  });

  it('gives a terminal a real pseudo-terminal that resizes', { skip: !tools.script || !tools.stty ? 'needs util-linux script and stty' : false }, async () => {
    // The command waits until the terminal has the size the client sent, then reports it.
    const s = await execInContainer(self, { argv: ['sh', '-c', 'tty; until [ "$(stty size)" = "33 101" ]; do sleep 0.05; done; read l; echo "size $(stty size) $l"; exit 4'], tty: true, stdin: true }, tools);
    assert.equal(s.stderr, undefined);
    const out = collect(s.stdout);
    s.resize!({ width: 101, height: 33 });
    s.stdin!.write('typed\n');
    const [text, exit] = await Promise.all([out, s.exited]);
    // The terminal echoes input and ends lines with CR LF.
    assert.match(text, /\/dev\/pts\/\d+\r\n/);
    assert.match(text, /size 33 101 typed\r\n$/);
    assert.ok(text.includes('typed\r\n'), 'input is echoed');
    assert.equal(exit.exitCode, 4);
  });
});

describe('exec, attach and port-forward in process runtime containers (root)', { skip: !isRoot() ? 'needs root (namespaces, cgroups)' : !existsSync(PY) ? `needs ${PY}` : !lookPath('socat') ? 'needs socat (Debian socat)' : false }, () => {
  const opts = testRuntimeOptions();
  const rt = new ProcessRuntime(opts);
  const dir = join(opts.dataDir, 'logs');
  const vol = join(opts.dataDir, 'vol');
  let sandbox: Sandbox;
  const started: { stop: () => Promise<unknown> }[] = [];
  const start = async (argv: string[], extra: Partial<ContainerConfig> = {}) => {
    const c = await rt.startContainer(sandbox, { podUid: 'u', name: extra.name ?? 'c', image: 'none', argv, env: { PATH: DEFAULT_PATH }, mounts: [], logPath: join(dir, `${randomUUID()}.log`), ...extra });
    started.push({ stop: () => rt.stopContainer(c, 0) });
    return c;
  };

  before(async () => {
    await rt.start();
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, 'data.txt'), 'from the volume\n');
    sandbox = await rt.createSandbox({ podUid: randomUUID(), namespace: 'default', name: 'execpod', hostNetwork: false, hostname: 'execpod' });
  });
  after(async () => {
    for (const c of started) await c.stop();
    await rt.removeSandbox(sandbox);
    await rt.stop();
    assert.deepEqual(leftovers(opts), []);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });

  it("enters the container's network, mount and uts namespaces and joins its cgroup", async () => {
    const logPath = join(dir, 'ns.log');
    const c = await start(['sh', '-c', 'echo ready; exec sleep 60'], { mounts: [{ hostPath: vol, containerPath: '/data', readOnly: true }], workingDir: '/data', logPath });
    // The container has set up its mounts once its command runs.
    await eventually(() => criLogEntries(logPath).some((e) => e.content === 'ready'), 'container running');
    const r = await finish(await rt.exec(sandbox, c, { argv: ['sh', '-c', 'cat /proc/sys/kernel/hostname; ip -4 -o addr show dev eth0; cat data.txt; cat /proc/self/cgroup'], tty: false, stdin: false }));
    assert.equal(r.code, 0, r.err);
    const [hostname, addr, data, ...cgroups] = r.out.trim().split('\n');
    assert.equal(hostname, 'execpod');
    assert.match(addr!, new RegExp(` inet ${sandbox.ip.replace(/\./g, '\\.')}/24 `));
    assert.equal(data, 'from the volume');
    if (rt.cgroupsEnabled) assert.ok(cgroups.some((l) => l.includes(opts.cgroupName)), cgroups.join('\n'));
  });

  it('refuses an exec into a container that has exited', async () => {
    const c = await start(['true'], { name: 'done' });
    await c.exited;
    await assert.rejects(rt.exec(sandbox, c, { argv: ['true'], tty: false, stdin: false }), /^StartError: failed to exec in container: container is in CONTAINER_EXITED state$/);
  });

  it("attaches to a container's stdin and its output from now on; stdinOnce closes stdin after the first attach", async () => {
    const c = await start(['sh', '-c', 'while read l; do echo "got $l"; done; echo "stdin closed"'], { name: 'reader', stdin: true, stdinOnce: true });
    const s = await rt.attach(c, { stdin: true, tty: false });
    const out = collect(s.stdout);
    s.stdin!.write('one\n');
    s.stdin!.end('two\n');
    assert.equal(await out, 'got one\ngot two\nstdin closed\n');
    assert.deepEqual(await s.exited, { exitCode: 0 });
    await c.exited;
  });

  it('runs a tty container on a terminal: attach echoes input, resizes it, one output stream; the log is stdout only', async () => {
    const logPath = join(dir, 'tty.log');
    const script = 'echo "TERM=$TERM on $(tty)"; while read l; do echo "size $(stty size) got $l"; done';
    const c = await start(['sh', '-c', script], { name: 'tty', stdin: true, tty: true, logPath });
    await eventually(() => criLogEntries(logPath).some((e) => e.content.startsWith('TERM=')), 'container running');
    const s = await rt.attach(c, { stdin: true, tty: true });
    assert.equal(s.stderr, undefined);
    assert.ok(s.resize, 'a terminal resizes');
    let out = '';
    s.stdout.on('data', (d: Buffer) => (out += d));
    s.resize!({ width: 101, height: 33 });
    // The resize runs apart from the input: the line is typed once the size shows.
    const exec = await rt.exec(sandbox, c, { argv: ['sh', '-c', 'until [ "$(stty -F "$1" size)" = "33 101" ]; do sleep 0.05; done', 'wait', criLogEntries(logPath)[0]!.content.split(' on ')[1]!], tty: false, stdin: false });
    assert.equal((await finish(exec)).code, 0);
    s.stdin!.write('typed\n');
    await eventually(() => out.includes('size 33 101 got typed'), 'the answer on the attached stream');
    // The terminal echoes input and ends lines with CR LF.
    assert.ok(out.includes('typed\r\n'), JSON.stringify(out));
    s.close();
    await rt.stopContainer(c, 0);
    const entries = criLogEntries(logPath);
    assert.ok(entries.every((e) => e.stream === 'stdout'), JSON.stringify(entries));
    assert.match(entries[0]!.content, /^TERM=xterm on \/dev\/pts\/\d+$/);
    assert.ok(entries.some((e) => e.content === 'size 33 101 got typed'), JSON.stringify(entries));
  });

  it("a tty container's background jobs end with it, and SIGTERM reaches its command", async () => {
    const logPath = join(dir, 'tty-jobs.log');
    // set -m: job control, as an interactive shell has, puts the job in a process group of its own.
    const c = await start(['sh', '-c', 'trap "echo term; exit 3" TERM; set -m; sleep 300 & echo "job $!"; while :; do sleep 0.1; done'], { name: 'jobs', stdin: true, tty: true, logPath });
    const job = Number(await eventually(() => criLogEntries(logPath).find((e) => e.content.startsWith('job '))?.content.slice(4).trim(), 'job started'));
    const exit = await rt.stopContainer(c, 5);
    assert.equal(exit.exitCode, 3);
    assert.ok(criLogEntries(logPath).some((e) => e.content === 'term'));
    // Killed with the container (reaped by whoever inherited it, just after).
    await eventually(() => !existsSync(`/proc/${job}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${job}/stat`, 'utf8')), 'the background job gone');
  });

  it('connects to localhost inside the pod network, and says when nothing listens', async () => {
    const serve = ['import socket', 's = socket.socket(); s.bind(("127.0.0.1", 8081)); s.listen()', 'while True:', '  c, _ = s.accept(); c.recv(100); c.sendall(b"pong from the pod"); c.close()'].join('\n');
    await start([PY, '-c', serve], { name: 'server' });
    const conn: Duplex = await eventually(() => rt.portForward(sandbox, 8081), 'the pod port listening');
    const reply = collect(conn);
    conn.end('ping');
    assert.equal(await reply, 'pong from the pod');
    await assert.rejects(rt.portForward(sandbox, 8099), (e: Error) => {
      assert.equal(e.message, `failed to execute portforward in network namespace "${sandbox.netnsPath}": failed to connect to localhost:8099 inside namespace "${sandbox.id}", IPv4: dial tcp4 127.0.0.1:8099: connect: connection refused `);
      return true;
    });
  });
});
