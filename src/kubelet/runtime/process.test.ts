import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { eventually } from '../../controllers/testenv.js';
import { CriLogWriter, MAX_LOG_LINE, ProcessRuntime, criTimestamp, hostPathOf, sandboxId } from './process.js';
import { StartError, type ContainerConfig, type Sandbox, type SandboxConfig } from './runtime.js';
import { criLogEntries, leftovers, netnsList, testRuntimeOptions } from './testing.js';
import { isRoot } from './sys.js';
import { detectCgroups } from './cgroups.js';

const PY = '/usr/bin/python3';

function podConfig(name = 'pod', extra: Partial<SandboxConfig> = {}): SandboxConfig {
  return { podUid: randomUUID(), namespace: 'default', name, hostNetwork: false, hostname: name, ...extra };
}

function container(dir: string, argv: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = extra.name ?? 'c';
  return { podUid: 'u', name, image: 'none', argv, env: {}, mounts: [], logPath: join(dir, `${name}-${randomUUID()}.log`), ...extra };
}

function logText(path: string, stream = 'stdout'): string {
  return criLogEntries(path)
    .filter((e) => e.stream === stream)
    .map((e) => e.content)
    .join('\n');
}

describe('CRI log format', () => {
  it('formats timestamps as RFC 3339 UTC with nine fractional digits', () => {
    assert.equal(criTimestamp(1475713029669794202n), '2016-10-06T00:17:09.669794202Z');
    assert.equal(criTimestamp(1475713029000000005n), '2016-10-06T00:17:09.000000005Z');
  });

  it('writes one F entry per line, P pieces for over-long lines, and a final unterminated line', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kite-crilog-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'sub', '0.log');
    const w = new CriLogWriter(path);
    const out = new PassThrough();
    const err = new PassThrough();
    w.pipe('stdout', out);
    w.pipe('stderr', err);
    const long = 'x'.repeat(MAX_LOG_LINE * 2 + 10);
    out.write('first line\nsec');
    out.write(`ond\n${long}\n`);
    err.end('oops\n');
    out.end('tail without newline');
    await w.close();
    const entries = criLogEntries(path);
    assert.deepEqual(
      entries.filter((e) => e.stream === 'stdout').map((e) => [e.tag, e.content.length > 20 ? e.content.length : e.content]),
      [['F', 'first line'], ['F', 'second'], ['P', MAX_LOG_LINE], ['P', MAX_LOG_LINE], ['F', 'x'.repeat(10)], ['F', 'tail without newline']],
    );
    assert.deepEqual(entries.filter((e) => e.stream === 'stderr').map((e) => e.content), ['oops']);
  });
});

describe('hostPathOf', () => {
  it('maps container paths through the longest matching mount', () => {
    const mounts = [
      { hostPath: '/h/data', containerPath: '/data', readOnly: false },
      { hostPath: '/h/deep', containerPath: '/data/deep/', readOnly: false },
    ];
    assert.equal(hostPathOf('/data/x', mounts), '/h/data/x');
    assert.equal(hostPathOf('/data/deep/y', mounts), '/h/deep/y');
    assert.equal(hostPathOf('/database', mounts), '/database');
    assert.equal(hostPathOf('/data', mounts), '/h/data');
  });
});

describe('ProcessRuntime with host networking', () => {
  const opts = testRuntimeOptions({ hostNetworkOnly: true });
  const rt = new ProcessRuntime(opts);
  const dir = join(opts.dataDir, 'logs');
  const pod = podConfig();
  let sandbox: Sandbox;

  before(async () => {
    await rt.start();
    sandbox = await rt.createSandbox(pod);
  });
  after(async () => {
    await rt.removeSandbox(sandbox);
    await rt.stop();
    assert.deepEqual(leftovers(opts), []);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });

  it('gives the pod the node IP and no network namespace', () => {
    assert.equal(sandbox.ip, rt.nodeIp);
    assert.equal(sandbox.netnsPath, undefined);
    assert.equal(sandbox.id, `kite-${pod.podUid.replace(/-/g, '').slice(0, 12)}`);
    assert.equal(sandboxId(pod.podUid), sandbox.id);
  });

  it('runs argv with env and workingDir, logs both streams in CRI format, reports the exit code', async () => {
    mkdirSync(join(opts.dataDir, 'work'), { recursive: true });
    const c = await rt.startContainer(
      sandbox,
      container(dir, ['sh', '-c', 'echo "$GREETING from $(pwd)"; echo problem >&2; printf "no newline"; exit 3'], { env: { GREETING: 'hello' }, workingDir: join(opts.dataDir, 'work') }),
    );
    assert.ok(c.pid > 0);
    const status = await c.exited;
    assert.equal(status.exitCode, 3);
    assert.equal(status.reason, 'Error');
    assert.equal(status.signal, undefined);
    assert.ok(status.finishedAt >= status.startedAt);
  });

  it('writes the log where the container config says, ending Completed on exit 0', async () => {
    const cfg = container(dir, ['sh', '-c', 'echo "$GREETING from $(pwd)"; echo problem >&2; printf "no newline"'], { env: { GREETING: 'hello' }, workingDir: '/tmp' });
    const status = await (await rt.startContainer(sandbox, cfg)).exited;
    assert.equal(status.exitCode, 0);
    assert.equal(status.reason, 'Completed');
    assert.equal(logText(cfg.logPath), 'hello from /tmp\nno newline');
    assert.equal(logText(cfg.logPath, 'stderr'), 'problem');
    assert.match(readFileSync(cfg.logPath, 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F hello from \/tmp\n/);
  });

  it('passes arguments literally, never through a shell', async () => {
    const args = ['a b', '$HOME', '`id`', "it's", '$(touch /tmp/kite-pwned)', '*'];
    const cfg = container(dir, ['printf', '%s\\n', ...args]);
    await (await rt.startContainer(sandbox, cfg)).exited;
    assert.equal(logText(cfg.logPath), args.join('\n'));
    assert.equal(existsSync('/tmp/kite-pwned'), false);
  });

  it('fails fast with StartError when the command is not on the container PATH', async () => {
    await assert.rejects(rt.startContainer(sandbox, container(dir, ['no-such-command-kite'])), (e: unknown) => {
      assert.ok(e instanceof StartError);
      assert.equal(e.reason, 'RunContainerError');
      assert.match(e.message, /exec: "no-such-command-kite": executable file not found in \$PATH/);
      return true;
    });
    // PATH comes from the container's environment, not the agent's.
    await assert.rejects(rt.startContainer(sandbox, container(dir, ['sh', '-c', 'true'], { env: { PATH: '/nonexistent' } })), /exec: "sh": executable file not found in \$PATH/);
    await assert.rejects(rt.startContainer(sandbox, container(dir, ['/no/such/binary'])), /exec: "\/no\/such\/binary": stat \/no\/such\/binary: no such file or directory/);
    await assert.rejects(rt.startContainer(sandbox, container(dir, ['true'], { workingDir: '/no/such/dir' })), /chdir to cwd \("\/no\/such\/dir"\) set in config.json failed/);
  });

  it('stops a container that handles SIGTERM gracefully', async () => {
    const cfg = container(dir, ['sh', '-c', 'trap "echo terminating; exit 0" TERM; echo ready; while :; do sleep 0.05; done']);
    const c = await rt.startContainer(sandbox, cfg);
    await eventually(() => logText(cfg.logPath).includes('ready'), 'container ready');
    const began = Date.now();
    const status = await rt.stopContainer(c, 30);
    assert.ok(Date.now() - began < 10_000, 'did not wait for the grace period');
    assert.equal(status.exitCode, 0);
    assert.equal(status.reason, 'Completed');
    assert.match(logText(cfg.logPath), /terminating/);
  });

  it('kills a container that ignores SIGTERM once the grace period is over', async () => {
    const cfg = container(dir, ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']);
    const c = await rt.startContainer(sandbox, cfg);
    await eventually(() => logText(cfg.logPath).includes('ready'), 'container ready');
    const began = Date.now();
    const status = await rt.stopContainer(c, 1);
    assert.ok(Date.now() - began >= 950, `killed after ${Date.now() - began}ms, before the grace period`);
    assert.equal(status.exitCode, 137);
    assert.equal(status.signal, 'SIGKILL');
    assert.equal(status.reason, 'Error');
  });

  it('leaves nothing of the container running after its main process exits', async () => {
    const cfg = container(dir, ['sh', '-c', 'sleep 1000 & echo $!']);
    await (await rt.startContainer(sandbox, cfg)).exited;
    const pid = Number(logText(cfg.logPath));
    assert.ok(pid > 0);
    await eventually(() => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 'background process killed');
  });
});

describe('ProcessRuntime with pod networks, mounts and cgroups (root)', { skip: !isRoot() ? 'needs root (network namespaces, mounts, cgroups)' : !existsSync(PY) ? `needs ${PY} (Debian python3-minimal)` : false }, () => {
  const opts = testRuntimeOptions();
  const rt = new ProcessRuntime(opts);
  const dir = join(opts.dataDir, 'logs');
  const sandboxes: Sandbox[] = [];
  const newSandbox = async (name: string, extra: Partial<SandboxConfig> = {}) => {
    const s = await rt.createSandbox(podConfig(name, extra));
    sandboxes.push(s);
    return s;
  };

  before(async () => {
    await rt.start();
  });
  after(async () => {
    for (const s of sandboxes) await rt.removeSandbox(s);
    await rt.stop();
    assert.deepEqual(leftovers(opts), []);
    for (const s of sandboxes) assert.ok(!netnsList().includes(s.id), `netns ${s.id} removed`);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });

  it('gives each pod its own namespace and IP from the pod CIDR', async () => {
    assert.ok(rt.podNetworkEnabled, opts.logs.join('\n'));
    const a = await newSandbox('a');
    const b = await newSandbox('b');
    const prefix = opts.podCidr.split('.').slice(0, 3).join('.') + '.';
    assert.ok(a.ip.startsWith(prefix) && b.ip.startsWith(prefix), `${a.ip} ${b.ip} in ${opts.podCidr}`);
    assert.notEqual(a.ip, b.ip);
    assert.ok(netnsList().includes(a.id));
    assert.equal(a.netnsPath, `/var/run/netns/${a.id}`);
    const cfg = container(dir, ['sh', '-c', 'cat /proc/sys/kernel/hostname; ip -4 -o addr show dev eth0'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    assert.equal((await (await rt.startContainer(a, cfg)).exited).exitCode, 0);
    const [hostname, addr] = logText(cfg.logPath).split('\n');
    assert.equal(hostname, 'a');
    assert.match(addr!, new RegExp(` inet ${a.ip.replace(/\./g, '\\.')}/24 `));
  });

  it('lets pods reach each other by IP, and containers of one pod share localhost', async () => {
    const server = await newSandbox('server');
    const client = await newSandbox('client');
    // A bare socket server: http.server would resolve its own name (no DNS inside a test pod).
    const serve = [
      'import socket',
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen()',
      'while True:',
      '  c, peer = s.accept(); c.recv(4096)',
      '  c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from the server pod"); c.close()',
      '  print("peer", peer[0], flush=True)',
    ].join('\n');
    const srvCfg = container(dir, [PY, '-c', serve], { name: 'server' });
    const srv = await rt.startContainer(server, srvCfg);
    const fetch = (url: string) => [
      PY,
      '-c',
      'import sys, time, urllib.request\nfor i in range(100):\n  try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()); break\n  except Exception as e:\n    err = e; time.sleep(0.05)\nelse:\n  print("failed:", err); sys.exit(1)',
      url,
    ];
    const other = container(dir, fetch(`http://${server.ip}:8080/`), { name: 'client' });
    const viaIp = await (await rt.startContainer(client, other)).exited;
    assert.equal(logText(other.logPath), 'hello from the server pod');
    assert.equal(viaIp.exitCode, 0);
    // The server saw the client pod's own IP, not the node's.
    await eventually(() => logText(srvCfg.logPath) === `peer ${client.ip}`, `server logs the client pod IP ${client.ip}`);

    const sidecar = container(dir, fetch('http://127.0.0.1:8080/'), { name: 'sidecar' });
    assert.equal((await (await rt.startContainer(server, sidecar)).exited).exitCode, 0);
    assert.equal(logText(sidecar.logPath), 'hello from the server pod');

    // Another pod's localhost is its own.
    const outsider = container(dir, [PY, '-c', 'import socket\ntry:\n  socket.create_connection(("127.0.0.1", 8080), timeout=2); print("connected")\nexcept OSError as e:\n  print("refused")'], { name: 'outsider' });
    await (await rt.startContainer(client, outsider)).exited;
    assert.equal(logText(outsider.logPath), 'refused');
    await rt.stopContainer(srv, 5);
  });

  it('mounts volumes at their container path, enforcing readOnly', async () => {
    const pod = await newSandbox('mounts');
    const ro = mkdtempSync(join(tmpdir(), 'kite-ro-'));
    const rw = mkdtempSync(join(tmpdir(), 'kite-rw-'));
    writeFileSync(join(ro, 'config'), 'from configmap');
    const file = join(rw, 'single');
    writeFileSync(file, 'one file');
    const target = `/tmp/kite-mount-test-${randomUUID()}`;
    const cfg = container(
      dir,
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
    const status = await (await rt.startContainer(pod, cfg)).exited;
    assert.equal(status.exitCode, 0, logText(cfg.logPath, 'stderr'));
    assert.deepEqual(logText(cfg.logPath).split('\n'), ['from configmap', 'one file', 'rw-ok', 'ro-denied', `${target}/data`]);
    assert.equal(readFileSync(join(rw, 'out'), 'utf8'), 'written\n');
    assert.equal(existsSync(join(ro, 'new')), false);
    // The bind mounts lived only in the container's mount namespace.
    assert.equal(existsSync(`${target}/config/config`), false);
    rmSync(target, { recursive: true, force: true });
    rmSync(ro, { recursive: true, force: true });
    rmSync(rw, { recursive: true, force: true });
  });

  it('ends a container over its memory limit OOMKilled', { skip: false }, async (t) => {
    if (!rt.cgroupsEnabled) return t.skip(`no cgroups here: ${opts.logs.join('; ')}`);
    const pod = await newSandbox('oom');
    const cfg = container(dir, [PY, '-c', 'x = "a" * (200 * 1024 * 1024); print("survived")'], { memoryLimitBytes: 32 * 1024 * 1024 });
    const status = await (await rt.startContainer(pod, cfg)).exited;
    assert.equal(status.reason, 'OOMKilled');
    assert.equal(status.exitCode, 137);
    assert.equal(logText(cfg.logPath), '');
    // Without a limit the same process completes.
    const free = container(dir, [PY, '-c', 'x = "a" * (200 * 1024 * 1024); print("survived")']);
    assert.equal((await (await rt.startContainer(pod, free)).exited).reason, 'Completed');
  });

  it('schedules the containers of one gang in one CPU cgroup, other pods in their own', async (t) => {
    if (!rt.cgroupsEnabled) return t.skip(`no cgroups here: ${opts.logs.join('; ')}`);
    const h = detectCgroups();
    if (h?.version === 1 && h.controllers.cpuacct === undefined) return t.skip('cpu and cpuacct share a hierarchy here: every container keeps its own CPU cgroup');
    // The CPU cgroup a container's process is in: v1 its cpu line; v2 the unified path's parent for gang members.
    const cpuCgroup = async (pod: Sandbox, name: string) => {
      const cfg = container(dir, ['cat', '/proc/self/cgroup'], { name, cpuRequestMillis: 250 });
      assert.equal((await (await rt.startContainer(pod, cfg)).exited).exitCode, 0);
      const lines = logText(cfg.logPath).split('\n');
      return h?.version === 1 ? lines.find((l) => /^\d+:cpu:/.test(l))!.split(':')[2]! : lines.find((l) => l.startsWith('0::'))!.slice(3);
    };
    const rank0 = await cpuCgroup(await newSandbox('rank-0', { cpuGroup: 'default/job' }), 'trainer');
    const rank1 = await cpuCgroup(await newSandbox('rank-1', { cpuGroup: 'default/job' }), 'trainer');
    const solo = await cpuCgroup(await newSandbox('solo'), 'solo');
    if (h?.version === 1) assert.equal(rank0, rank1);
    else assert.equal(dirname(rank0), dirname(rank1));
    assert.match(rank0, /\/group-[0-9a-f]{16}(\/|$)/);
    assert.doesNotMatch(solo, /group-/);
  });

  it('removes sandboxes idempotently and releases their IPs', async () => {
    const pod = await newSandbox('gone');
    await rt.removeSandbox(pod);
    await rt.removeSandbox(pod);
    assert.ok(!netnsList().includes(pod.id));
    assert.deepEqual(
      leftovers({ dataDir: opts.dataDir, bridge: 'none' }).filter((l) => l.includes(pod.id)),
      [],
    );
  });
});

describe('ProcessRuntime restarted after a crash (root)', { skip: isRoot() ? false : 'needs root' }, () => {
  it('kills the containers and removes the pod namespaces an earlier run left behind', async () => {
    const opts = testRuntimeOptions();
    const first = new ProcessRuntime(opts);
    await first.start();
    const pod = await first.createSandbox(podConfig('left'));
    const host = await first.createSandbox({ ...podConfig('host'), hostNetwork: true });
    assert.equal(host.ip, first.nodeIp);
    assert.equal(host.netnsPath, undefined);
    const cfg = container(join(opts.dataDir, 'logs'), ['sh', '-c', 'echo ready; exec sleep 1000']);
    const c = await first.startContainer(pod, cfg);
    await eventually(() => logText(cfg.logPath) === 'ready', 'container ready');
    // The agent dies without stopping anything; a new one starts on the same data dir.
    const second = new ProcessRuntime(opts);
    await second.start();
    try {
      const status = await c.exited;
      if (second.cgroupsEnabled) assert.equal(status.signal, 'SIGKILL');
      assert.ok(!netnsList().includes(pod.id), 'stale pod namespace removed');
      const again = await second.createSandbox(podConfig('new'));
      await second.removeSandbox(again);
    } finally {
      await first.stop();
      await second.stop();
    }
    assert.deepEqual(leftovers(opts), []);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });
});
