/**
 * The cri runtime for real: containerd (Debian's), runc and the CNI plugins,
 * with images from a docker-registry on loopback. The shared runtime
 * behaviour suite first, then what only a runtime with images does: pulls
 * (IfNotPresent, errors with the registry's message, credentials), image
 * ENTRYPOINT/CMD, the sandbox image, restarts, stats.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../../controllers/testenv.js';
import { StartError, type ContainerConfig, type Sandbox } from '../runtime.js';
import { logText, runtimeBehaviourSuite } from '../suite.js';
import { CriError } from './client.js';
import { containerdConfig, cniConfig, insecureHostsToml, mountsUnder, natTableIsEmpty, portmapCleanupScript } from './containerd.js';
import { CriRuntime, commandAndArgs, criPortMappings, resources } from './cri.js';
import { buildImage, busyboxLayer, pauseImage, sha256Digest, tarArchive } from './oci.js';
import { exitFromStatus } from './streams.js';
import { LocalRegistry, busyboxImage, criLeftovers, criTestSkipReason, testCriOptions } from './testimages.js';

const skip = criTestSkipReason();

describe('OCI images built here', () => {
  it('writes ustar archives: header checksum, octal sizes, padding, end blocks', () => {
    const tar = tarArchive([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/motd', mode: 0o640, content: 'hi\n' },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    ]);
    // Three headers, one data block, two end blocks.
    assert.equal(tar.length, 512 * 4 + 1024);
    const header = (i: number) => tar.subarray(i * 512, i * 512 + 512);
    const field = (h: Buffer, off: number, len: number) => h.subarray(off, off + len).toString().replace(/\0.*$/s, '');
    assert.equal(field(header(0), 0, 100), 'etc/');
    assert.equal(field(header(0), 156, 1), '5');
    assert.equal(field(header(1), 0, 100), 'etc/motd');
    assert.equal(parseInt(field(header(1), 124, 12), 8), 3);
    assert.equal(parseInt(field(header(1), 100, 8), 8), 0o640);
    assert.equal(tar.subarray(1024, 1027).toString(), 'hi\n');
    assert.equal(field(header(3), 157, 100), 'busybox');
    // The checksum is the byte sum with its own field as spaces.
    const h = Buffer.from(header(1));
    const stored = parseInt(field(h, 148, 8), 8);
    h.fill(' ', 148, 156);
    assert.equal(stored, h.reduce((a, b) => a + b, 0));
    assert.ok(tar.subarray(tar.length - 1024).every((b) => b === 0));
  });

  it('builds the same digests from the same files, with diff ids of the uncompressed layers', () => {
    const a = buildImage([[{ type: 'file', path: 'x', content: 'same' }]], { cmd: ['x'] });
    const b = buildImage([[{ type: 'file', path: 'x', content: 'same' }]], { cmd: ['x'] });
    assert.equal(a.manifest.digest, b.manifest.digest);
    const config = JSON.parse(a.config.data.toString());
    assert.deepEqual(config.rootfs.diff_ids, [sha256Digest(tarArchive([{ type: 'file', path: 'x', content: 'same' }]))]);
    assert.deepEqual(config.config.Cmd, ['x']);
    const manifest = JSON.parse(a.manifest.data.toString());
    assert.equal(manifest.config.digest, a.config.digest);
    assert.equal(manifest.layers[0].size, a.layers[0]!.data.length);
  });

  it('makes the sandbox image from busybox alone, sleeping', { skip: skip && skip.includes('busybox') ? skip : false }, () => {
    const img = pauseImage();
    const config = JSON.parse(img.config.data.toString());
    assert.deepEqual(config.config.Entrypoint, ['/bin/busybox', 'sleep', '2147483647']);
    assert.equal(img.layers.length, 1);
    assert.ok(busyboxLayer().some((e) => e.path === 'bin/sh' && e.type === 'symlink'));
  });
});

describe('containerd configuration', () => {
  it('keeps root, state, socket, runc root and network namespaces under its own directory', () => {
    const toml = containerdConfig({ dir: '/data/containerd', sandboxImage: 'kite.local/pause:3.10' });
    assert.match(toml, /^version = 2$/m);
    assert.match(toml, /^root = "\/data\/containerd\/root"$/m);
    assert.match(toml, /^state = "\/data\/containerd\/state"$/m);
    assert.match(toml, /address = "\/data\/containerd\/containerd.sock"/);
    assert.match(toml, /Root = "\/data\/containerd\/state\/runc"/);
    assert.match(toml, /netns_mounts_under_state_dir = true/);
    assert.match(toml, /sandbox_image = "kite.local\/pause:3.10"/);
    assert.match(toml, /conf_dir = "\/data\/containerd\/cni\/net.d"/);
  });

  it('puts pods on the node bridge with host-local addresses from the pod CIDR', () => {
    const c = cniConfig({ podCidr: '10.244.3.0/24', bridge: 'kite0', ipamDir: '/d/ipam' }) as any;
    assert.deepEqual(
      c.plugins.map((p: any) => p.type),
      ['bridge', 'portmap', 'loopback'],
    );
    assert.equal(c.plugins[0].bridge, 'kite0');
    assert.equal(c.plugins[0].isGateway, true);
    assert.deepEqual(c.plugins[0].ipam.ranges, [[{ subnet: '10.244.3.0/24', gateway: '10.244.3.1' }]]);
    assert.equal(c.plugins[0].ipam.dataDir, '/d/ipam');
    assert.match(insecureHostsToml('10.0.0.5:5000'), /^server = "http:\/\/10.0.0.5:5000"$/m);
  });

  it('finds mounts under a directory, deepest first, with escaped spaces decoded', () => {
    const info = ['22 1 0:20 / /data rw - ext4 /dev/vda rw', '23 22 0:21 / /data/c/state/netns/cni-1 rw - nsfs nsfs rw', '24 22 0:22 / /data/c/root/with\\040space rw - overlay overlay rw', '25 1 0:23 / /database rw - ext4 x rw'].join('\n');
    assert.deepEqual(mountsUnder('/data/c', info), ['/data/c/state/netns/cni-1', '/data/c/root/with space']);
  });

  it('maps the contract to CRI: command and args, resources as kubelet converts them', () => {
    const base: ContainerConfig = { podUid: 'u', name: 'c', image: 'i', argv: ['a', 'b'], env: {}, mounts: [], logPath: '/l' };
    assert.deepEqual(commandAndArgs(base), { command: ['a', 'b'] });
    assert.deepEqual(commandAndArgs({ ...base, argv: [] }), {});
    assert.deepEqual(commandAndArgs({ ...base, command: undefined, args: ['x'] }), { args: ['x'] });
    assert.deepEqual(commandAndArgs({ ...base, command: ['/bin/sh'], args: [] }), { command: ['/bin/sh'] });
    assert.deepEqual(resources({ ...base, cpuLimitMillis: 500, cpuRequestMillis: 250, memoryLimitBytes: 1 << 20 }), { cpuShares: 256, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimitInBytes: 1 << 20 });
    assert.deepEqual(resources(base), { cpuShares: 2 });
  });

  it('passes host ports as CRI port mappings (protocol numbers, every address when no host IP)', () => {
    assert.deepEqual(
      criPortMappings([
        { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
        { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '10.0.0.5' },
        { containerPort: 9, hostPort: 9009, protocol: 'SCTP' },
      ]),
      [
        { protocol: 0, containerPort: 80, hostPort: 8080, hostIp: '' },
        { protocol: 1, containerPort: 53, hostPort: 5353, hostIp: '10.0.0.5' },
        { protocol: 2, containerPort: 9, hostPort: 9009, hostIp: '' },
      ],
    );
  });

  it("removes portmap's shared chains only once no pod has host ports", () => {
    const shared = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':CNI-HOSTPORT-DNAT - [0:0]',
      ':CNI-HOSTPORT-MASQ - [0:0]',
      ':CNI-HOSTPORT-SETMARK - [0:0]',
      ':KUBE-OTHER - [0:0]',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A PREROUTING -j KUBE-OTHER',
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
      'COMMIT',
    ];
    assert.equal(
      portmapCleanupScript(shared.join('\n')),
      [
        '*nat',
        '-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
        '-D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
        '-F CNI-HOSTPORT-DNAT',
        '-F CNI-HOSTPORT-MASQ',
        '-F CNI-HOSTPORT-SETMARK',
        '-X CNI-HOSTPORT-DNAT',
        '-X CNI-HOSTPORT-MASQ',
        '-X CNI-HOSTPORT-SETMARK',
        'COMMIT',
        '',
      ].join('\n'),
    );
    // A pod's own chain means the shared ones are in use.
    assert.equal(portmapCleanupScript([...shared.slice(0, 3), ':CNI-DN-0123456789abcdef01234 - [0:0]', ...shared.slice(3)].join('\n')), undefined);
    assert.equal(portmapCleanupScript('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n'), undefined);
    const empty = { nftables: [{ metainfo: {} }, { table: { family: 'ip', name: 'nat' } }, { chain: { family: 'ip', table: 'nat', name: 'PREROUTING' } }] };
    assert.equal(natTableIsEmpty(JSON.stringify(empty)), true);
    assert.equal(natTableIsEmpty(JSON.stringify({ nftables: [...empty.nftables, { rule: { chain: 'PREROUTING' } }] })), false);
    assert.equal(natTableIsEmpty('not json'), false);
  });

  it("words CRI errors as Go's gRPC status text, as kubelet shows them", () => {
    assert.equal(new CriError(5, 'image "x" not found', 'PullImage').message, 'rpc error: code = NotFound desc = image "x" not found');
    assert.equal(new CriError(1, 'gone', 'Exec').message, 'rpc error: code = Canceled desc = gone');
    assert.equal(new CriError(9, 'no', 'StartContainer').message, 'rpc error: code = FailedPrecondition desc = no');
  });

  it('reads exec exits from the Status on the error channel', () => {
    assert.deepEqual(exitFromStatus({ status: 'Success' }), { exitCode: 0 });
    assert.deepEqual(exitFromStatus({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '42' }] } }), { exitCode: 42 });
    const e = exitFromStatus({ status: 'Failure', reason: 'InternalError', message: 'Internal error occurred: error executing command in container: failed to exec in container: boom' });
    assert.ok(e instanceof StartError);
    assert.equal(e.message, 'failed to exec in container: boom');
  });
});

/** The behaviour suite with a registry serving the busybox image the containers run. */
runtimeBehaviourSuite(
  'cri',
  async () => {
    const registry = new LocalRegistry();
    await registry.start();
    const opts = testCriOptions();
    try {
      const image = await registry.push('suite/busybox', 'v1', busyboxImage());
      const runtime = new CriRuntime(opts);
      await runtime.start();
      return {
        runtime,
        image,
        dir: join(opts.dataDir, 'suite'),
        podCidr: opts.podCidr,
        features: { podNetwork: true, mounts: true, memoryLimits: true, tty: true },
        leftovers: () => criLeftovers(opts),
        cleanup: async () => {
          await registry.stop();
          rmSync(opts.dataDir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      await registry.stop();
      rmSync(opts.dataDir, { recursive: true, force: true });
      throw e;
    }
  },
  { skip },
);

/** A non-loopback address of this machine (registries there are HTTPS to containerd unless listed insecure). */
const hostAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === 'IPv4' && !a.internal)?.address;

describe('cri runtime: images', { skip }, () => {
  const registry = new LocalRegistry();
  const secured = new LocalRegistry({ auth: { username: 'kite', password: 's3cret' } });
  // Two plain-HTTP registries off loopback: one listed as insecure, one not.
  const listed = new LocalRegistry({ address: hostAddress });
  const unlisted = new LocalRegistry({ address: hostAddress });
  const opts = testCriOptions();
  let runtime: CriRuntime;
  let busybox: string;
  let sandbox: Sandbox;
  const logDir = join(opts.dataDir, 'logs');
  const container = (image: string, extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
    podUid: 'images',
    name: 'c',
    image,
    argv: [],
    env: {},
    mounts: [],
    logPath: join(logDir, randomUUID(), '0.log'),
    ...extra,
  });

  before(async () => {
    await registry.start();
    await secured.start();
    if (hostAddress) {
      await listed.start();
      await unlisted.start();
    }
    busybox = await registry.push('images/busybox', 'v1', busyboxImage());
    runtime = new CriRuntime({ ...opts, insecureRegistries: hostAddress ? [listed.host] : [] });
    await runtime.start();
    sandbox = await runtime.createSandbox({ podUid: randomUUID(), namespace: 'default', name: 'images', hostNetwork: false, hostname: 'images' });
  });
  after(async () => {
    await runtime?.stop();
    await registry.stop();
    await secured.stop();
    await listed.stop();
    await unlisted.stop();
    try {
      assert.deepEqual(criLeftovers(opts), []);
    } finally {
      rmSync(opts.dataDir, { recursive: true, force: true });
    }
  });

  it('reports containerd and its version, and has the sandbox image it built', async () => {
    assert.match(runtime.version, /^containerd:\/\/1\.\d+\.\d+/);
    const pause = await runtime.imageStatus('kite.local/pause:3.10');
    assert.match(pause?.imageRef ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  it('pulls an image that is not present (IfNotPresent), then finds it', async () => {
    assert.equal(await runtime.imageStatus(busybox), undefined);
    const pulled = await runtime.pullImage(busybox);
    assert.match(pulled.imageRef, /^sha256:[0-9a-f]{64}$/);
    assert.ok(pulled.sizeBytes > 1_000_000, `size ${pulled.sizeBytes}`);
    assert.deepEqual(await runtime.imageStatus(busybox), pulled);
  });

  it("fails a pull of a missing image with the registry's answer", async () => {
    const ref = `${registry.host}/images/nothing:v9`;
    await assert.rejects(runtime.pullImage(ref), (e: Error) => {
      assert.equal(e.message, `rpc error: code = NotFound desc = failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": ${ref}: not found`);
      return true;
    });
    // A container of a missing image does not start: ErrImagePull with the same message.
    await assert.rejects(runtime.startContainer(sandbox, container(ref, { argv: ['true'] })), (e: unknown) => {
      assert.ok(e instanceof StartError);
      assert.equal(e.reason, 'ErrImagePull');
      assert.match(e.message, /: not found$/);
      return true;
    });
  });

  it('pulls from a registry that requires credentials only with them', async () => {
    const ref = await secured.push('private/busybox', 'v1', busyboxImage());
    await assert.rejects(runtime.pullImage(ref), /401 Unauthorized/);
    await assert.rejects(runtime.pullImage(ref, { username: 'kite', password: 'wrong' }), /401 Unauthorized/);
    // As kubelet passes them from an imagePullSecret: no server address, the registry is the image's.
    const pulled = await runtime.pullImage(ref, { username: 'kite', password: 's3cret' });
    assert.match(pulled.imageRef, /^sha256:/);
    // A docker config's `auth` (base64 of user:password) works as well.
    const ref2 = await secured.push('private/busybox', 'v2', busyboxImage({ cmd: ['true'] }));
    await runtime.pullImage(ref2, { auth: Buffer.from('kite:s3cret').toString('base64') });
  });

  it('reaches registries named insecure over plain HTTP, others over HTTPS only', { skip: hostAddress ? false : 'no non-loopback IPv4 address' }, async () => {
    const ok = await listed.push('plain/busybox', 'v1', busyboxImage());
    assert.match((await runtime.pullImage(ok)).imageRef, /^sha256:/);
    const refused = await unlisted.push('plain/busybox', 'v1', busyboxImage());
    await assert.rejects(runtime.pullImage(refused), /server gave HTTP response to HTTPS client/);
  });

  it("runs the image's ENTRYPOINT and CMD unless the pod gives command or args", async () => {
    const ref = await registry.push('images/entry', 'v1', busyboxImage({ entrypoint: ['echo', 'entrypoint'], cmd: ['default-cmd'], workingDir: '/tmp' }, [{ type: 'file', path: 'tmp/data', content: 'x' }]));
    const cases: [Partial<ContainerConfig>, string][] = [
      [{}, 'entrypoint default-cmd'],
      [{ command: undefined, args: ['pod-arg'] }, 'entrypoint pod-arg'],
      [{ command: ['sh', '-c', 'echo "own command in $(pwd)"'], args: [] }, 'own command in /tmp'],
      [{ argv: ['echo', 'argv'] }, 'argv'],
    ];
    for (const [extra, want] of cases) {
      const cfg = container(ref, extra);
      const status = await (await runtime.startContainer(sandbox, cfg)).exited;
      assert.equal(status.exitCode, 0, logText(cfg.logPath, 'stderr'));
      assert.equal(logText(cfg.logPath), want);
    }
  });

  it("fails a container whose command is missing with runc's message (RunContainerError)", async () => {
    await assert.rejects(runtime.startContainer(sandbox, container(busybox, { argv: ['no-such-command-kite'] })), (e: unknown) => {
      assert.ok(e instanceof StartError);
      assert.equal(e.reason, 'RunContainerError');
      assert.match(e.message, /exec: "no-such-command-kite": executable file not found in \$PATH/);
      return true;
    });
  });

  it('names the image a container runs by its registry digest (what pod status imageID shows)', async () => {
    // An image of its own: containerd names an image by the first of its digested references, and the same
    // content pushed to several registries (as other tests here do) has several.
    const image = busyboxImage({ cmd: ['echo', 'an image of its own'] });
    const ref = await registry.push('images/digested', 'v1', image);
    const c = await runtime.startContainer(sandbox, container(ref, { argv: ['true'] }));
    await c.exited;
    assert.equal(c.imageRef, `${registry.host}/images/digested@${image.manifest.digest}`);
  });

  it("publishes a pod's hostPort on the node through portmap and removes its rules with the sandbox", async () => {
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    const s = await runtime.createSandbox({
      podUid: randomUUID(),
      namespace: 'default',
      name: 'hostport',
      hostNetwork: false,
      hostname: 'hostport',
      portMappings: [{ containerPort: 8080, hostPort, protocol: 'TCP' }],
    });
    const c = await runtime.startContainer(s, container(busybox, { argv: ['sh', '-c', 'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'] }));
    const get = (host: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host, port: hostPort, path: '/', timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    // From the node itself (localhost, hairpinned by portmap's masquerade) and on the node's address.
    for (const host of ['127.0.0.1', runtime.nodeIp]) assert.equal(await eventually(() => get(host), `${host}:${hostPort}`), 'served by hostport\n');
    const chains = () => execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    assert.match(chains(), new RegExp(`--dport ${hostPort} -j DNAT --to-destination ${s.ip.replace(/[.]/g, '\\.')}:8080`));
    await runtime.stopContainer(c, 0);
    await runtime.removeSandbox(s);
    assert.doesNotMatch(chains(), new RegExp(`--dport ${hostPort}\\b`));
    await assert.rejects(get('127.0.0.1'));
  });

  it('gives a container the host device nodes it is given', async () => {
    const cfg = container(busybox, { argv: ['sh', '-c', 'head -c 5 /dev/kite-dev0 | wc -c; ls -l /dev/kite-dev0'], devices: [{ hostPath: '/dev/zero', containerPath: '/dev/kite-dev0', permissions: 'rw' }] });
    const status = await (await runtime.startContainer(sandbox, cfg)).exited;
    assert.equal(status.exitCode, 0, logText(cfg.logPath, 'stderr'));
    const [count, ls] = logText(cfg.logPath).split('\n');
    assert.equal(count!.trim(), '5');
    // The same character device (major 1, minor 5) as the host's /dev/zero.
    assert.match(ls!, /^crw.* 1,\s+5 .*\/dev\/kite-dev0$/);
  });

  it('ends the containers of a sandbox that is removed', async () => {
    const s = await runtime.createSandbox({ podUid: randomUUID(), namespace: 'default', name: 'doomed', hostNetwork: false, hostname: 'doomed' });
    const c = await runtime.startContainer(s, container(busybox, { argv: ['sleep', '600'] }));
    assert.ok(c.pid > 0);
    await runtime.removeSandbox(s);
    assert.equal((await c.exited).exitCode, 137);
  });

  it('runs host-network pods on the node network', async () => {
    const s = await runtime.createSandbox({ podUid: randomUUID(), namespace: 'default', name: 'hostnet', hostNetwork: true, hostname: 'hostnet' });
    assert.equal(s.ip, runtime.nodeIp);
    assert.equal(s.netnsPath, undefined);
    const cfg = container(busybox, { argv: ['sh', '-c', 'busybox ip -o link show | grep -c . ; readlink /proc/self/ns/net'] });
    assert.equal((await (await runtime.startContainer(s, cfg)).exited).exitCode, 0);
    // It sees the node's own interfaces and namespace.
    assert.equal(logText(cfg.logPath).split('\n')[1], readlinkSync('/proc/self/ns/net'));
    await runtime.removeSandbox(s);
  });

  it('feeds stdin to an exec and reports usage of running containers', async () => {
    const c = await runtime.startContainer(sandbox, container(busybox, { argv: ['sleep', '600'] }));
    const s = await runtime.exec(sandbox, c, { argv: ['sh', '-c', 'read line; echo "got $line"'], tty: false, stdin: true });
    let out = '';
    s.stdout.on('data', (d: Buffer) => (out += d));
    s.stdin!.write('hello\n');
    assert.deepEqual(await s.exited, { exitCode: 0 });
    await eventually(() => out === 'got hello\n', 'exec output');
    const stats = await runtime.containerStats();
    const mine = stats.find((x) => x.id === c.id);
    assert.ok(mine, `stats of ${c.id}`);
    assert.ok((mine.memoryWorkingSetBytes ?? 0) > 0);
    await runtime.stopContainer(c, 0);
  });
});

describe('cri runtime restarted after a crash', { skip }, () => {
  it('stops the containerd an earlier agent left and removes its sandboxes', async () => {
    const registry = new LocalRegistry();
    await registry.start();
    const opts = testCriOptions();
    const first = new CriRuntime(opts);
    const second = new CriRuntime(opts);
    try {
      const image = await registry.push('crash/busybox', 'v1', busyboxImage());
      await first.start();
      const s = await first.createSandbox({ podUid: randomUUID(), namespace: 'default', name: 'left', hostNetwork: false, hostname: 'left' });
      const c = await first.startContainer(s, { podUid: 'x', name: 'c', image, argv: ['sleep', '600'], env: {}, mounts: [], logPath: join(opts.dataDir, 'c.log') });
      // The agent dies without stopping anything; a new one starts on the same data dir.
      await second.start();
      assert.deepEqual(await second.cri.listPodSandbox(), []);
      assert.ok(opts.logs.some((l) => /left by an earlier run/.test(l)), opts.logs.join('\n'));
      let alive = true;
      try {
        process.kill(c.pid, 0);
      } catch {
        alive = false;
      }
      assert.equal(alive, false, 'the old container process is gone');
    } finally {
      await second.stop();
      // The first one's containerd is already gone; its stop only releases what it still holds.
      await first.stop().catch(() => undefined);
      await registry.stop();
    }
    assert.deepEqual(criLeftovers(opts), []);
    rmSync(opts.dataDir, { recursive: true, force: true });
  });
});
