/**
 * A throwaway network for testing the service proxy against a real kernel:
 * a "node" network namespace with a bridge and an uplink, "pod" namespaces on
 * the bridge, and an "outside" namespace behind the uplink (an external
 * client). Everything lives in namespaces of its own — interfaces and
 * addresses never touch the host — and stop() removes it all. Servers and
 * clients are small Python programs (Debian's /usr/bin/python3). Not used
 * outside tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { run, tryRun } from '../kubelet/runtime/sys.js';

/** The Python every helper runs (the system one: fast to start, always there on the node). */
export const PYTHON = '/usr/bin/python3';

/** One pod namespace on the node bridge. */
export interface TestPod {
  netns: string;
  ip: string;
}

/** Options of a TestNetwork. */
export interface TestNetworkOptions {
  pods: number;
  /** bridge-nf-call-iptables inside the node namespace (per namespace; default off, as without br_netfilter). */
  bridgeNetfilter?: boolean;
}

const SERVER = `
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', port)); t.listen(256)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('0.0.0.0', port))
def udp():
    while True:
        data, addr = u.recvfrom(2048)
        u.sendto(('%s %s\\n' % (name, addr[0])).encode(), addr)
threading.Thread(target=udp, daemon=True).start()
print('listening', flush=True)
while True:
    c, addr = t.accept()
    try:
        c.sendall(('%s %s\\n' % (name, addr[0])).encode())
    finally:
        c.close()
`;

/**
 * The network: node namespace with bridge `kbr0` (10.250.1.1/24) and uplink
 * 192.168.250.1/24 (default route to the outside namespace at .2),
 * forwarding on; pods at 10.250.1.2… with hairpin on their bridge ports, as
 * the bridge CNI plugin's hairpinMode sets them.
 */
export class TestNetwork {
  /** The node's namespace (where the proxy's table goes). */
  readonly node: string;
  /** Bridge inside the node namespace. */
  readonly bridge = 'kbr0';
  /** The node's address on its uplink: its primary IP. */
  readonly nodeIp = '192.168.250.1';
  /** Pod network: the bridge holds `.1`, pods `.2` onwards. */
  readonly podCidr = '10.250.1.0/24';
  readonly pods: TestPod[];
  /** A client outside the node; it routes 10.0.0.0/8 (pods, services) through the node. */
  readonly outside: TestPod;
  private readonly procs = new Set<ChildProcess>();

  constructor(private readonly opts: TestNetworkOptions) {
    const tag = randomBytes(3).toString('hex');
    this.node = `kpx-${tag}-node`;
    this.outside = { netns: `kpx-${tag}-out`, ip: '192.168.250.2' };
    this.pods = Array.from({ length: opts.pods }, (_, i) => ({ netns: `kpx-${tag}-p${i + 1}`, ip: `10.250.1.${i + 2}` }));
  }

  private get namespaces(): string[] {
    return [this.node, this.outside.netns, ...this.pods.map((p) => p.netns)];
  }

  /** Creates the namespaces and links; on failure removes what it made. */
  async start(): Promise<void> {
    const { node, outside, pods } = this;
    try {
      for (const ns of this.namespaces) await run('ip', ['netns', 'add', ns]);
      const nodeBatch = [
        'link set dev lo up',
        'link add name kbr0 type bridge',
        'addr add 10.250.1.1/24 dev kbr0',
        'link set dev kbr0 up',
        `link add name up0 type veth peer name eth0 netns ${outside.netns}`,
        'addr add 192.168.250.1/24 dev up0',
        'link set dev up0 up',
        'route add default via 192.168.250.2',
        ...pods.flatMap((p, i) => [`link add name vp${i + 1} type veth peer name eth0 netns ${p.netns}`, `link set dev vp${i + 1} master kbr0 up`, `link set dev vp${i + 1} type bridge_slave hairpin on`]),
      ];
      await run('ip', ['-n', node, '-batch', '-'], { input: `${nodeBatch.join('\n')}\n` });
      await run('ip', ['-n', outside.netns, '-batch', '-'], {
        input: ['link set dev lo up', 'addr add 192.168.250.2/24 dev eth0', 'link set dev eth0 up', 'route add 10.0.0.0/8 via 192.168.250.1', ''].join('\n'),
      });
      for (const p of pods) {
        await run('ip', ['-n', p.netns, '-batch', '-'], {
          input: ['link set dev lo up', `addr add ${p.ip}/24 dev eth0`, 'link set dev eth0 up', 'route add default via 10.250.1.1', ''].join('\n'),
        });
      }
      await this.setBridgeNetfilter(this.opts.bridgeNetfilter ?? false);
      await run('ip', ['netns', 'exec', node, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Sets bridge-nf-call-iptables in the node namespace (a no-op where br_netfilter is not loaded). */
  async setBridgeNetfilter(on: boolean): Promise<void> {
    await run('ip', ['netns', 'exec', this.node, 'sh', '-c', `f=/proc/sys/net/bridge/bridge-nf-call-iptables; [ ! -e $f ] || echo ${on ? 1 : 0} > $f`]);
  }

  /** Stops every process started here and removes every namespace (and so every interface). */
  async stop(): Promise<void> {
    await Promise.all([...this.procs].map((p) => stopProcess(p)));
    this.procs.clear();
    for (const ns of this.namespaces) await tryRun('ip', ['netns', 'del', ns]);
  }

  /**
   * Starts a server in a namespace on `port` (TCP and UDP): to every connection
   * or datagram it answers one line, `<name> <client address>`. Resolves once
   * it listens; it stops with the network.
   */
  async startEchoServer(netns: string, name: string, port: number): Promise<void> {
    await this.spawnIn(netns, [PYTHON, '-c', SERVER, name, String(port)]);
  }

  /** Starts a long-running program in a namespace; resolves at its first line of output (it says it is ready); it stops with the network. */
  async spawnIn(netns: string, argv: string[]): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`${argv[0]} in ${netns} exited (${code}): ${err}`)));
    });
  }
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGKILL');
  await exited;
}

const CLIENT = `
import socket, sys, errno
host, port, count, proto, timeout, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
for i in range(count):
    kind = socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    try:
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('0.0.0.0', sport))
        s.connect((host, port))
        if proto == 'udp':
            s.send(b'hi')
        line = s.recv(2048).decode().strip()
        print('ok ' + line if line else 'closed', flush=True)
    except ConnectionRefusedError:
        print('refused', flush=True)
    except socket.timeout:
        print('timeout', flush=True)
    except OSError as e:
        print('error ' + errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    finally:
        s.close()
`;

/**
 * Opens `count` connections (TCP) or sends `count` datagrams (UDP) from a
 * namespace, one after another, and returns one result per attempt:
 * `ok <server name> <address the server saw>`, `refused`, `timeout` or
 * `error <errno>`. With `sourcePort` every attempt uses that port (one
 * conntrack flow for UDP).
 */
export async function connectMany(netns: string, host: string, port: number, count: number, proto: 'tcp' | 'udp' = 'tcp', timeoutS = 2, sourcePort = 0): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, PYTHON, '-c', CLIENT, host, String(port), String(count), proto, String(timeoutS), String(sourcePort)], {
    timeoutMs: (count * timeoutS + 10) * 1000,
  });
  return stdout.trim().split('\n').filter(Boolean);
}

/** Network namespaces whose names start with `prefix` (to check that none is left behind). */
export async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix));
}
