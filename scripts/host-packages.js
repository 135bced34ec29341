#!/usr/bin/env node
// Installs the Debian packages Kite's node agent and tests use, if missing
// (idempotent; says what it installs). Runs before `npm test` and `kite up`
// set-up; does nothing without root or apt-get (and says so).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Package → why Kite needs it. */
const PACKAGES = {
  iproute2: 'pod network namespaces, veth pairs and the node bridge (ip)',
  'util-linux': 'per-container namespaces (unshare, nsenter)',
  mount: 'volumes bind-mounted at their mountPath (mount)',
  socat: 'kubectl port-forward to localhost inside a pod network namespace (socat)',
  nftables: 'the service proxy: Service addresses DNATed to endpoints (nft)',
  conntrack: 'the service proxy: forgetting UDP flows to endpoints that went away (conntrack)',
  containerd: 'the cri runtime: the node agent runs its own containerd (and ctr to import the sandbox image)',
  runc: 'the cri runtime: the OCI runtime containerd starts containers with',
  'containernetworking-plugins': 'the cri runtime: CNI bridge, host-local, portmap and loopback plugins for pod networks',
  'busybox-static': 'the cri runtime: the sandbox (pause) image and the test images are built from it',
  'docker-registry': 'tests and benchmarks of the cri runtime: a registry on loopback to pull images from',
  'apache2-utils': 'tests of the cri runtime: htpasswd for a registry that requires credentials',
  'python3-minimal': 'the Python the tests and examples run (/usr/bin/python3)',
  'python3-sklearn': 'scikit-learn for the ML demo that npm start and its e2e test run (examples/ml-demo)',
  'python3-torch': 'PyTorch (CPU) for the distributed-training examples, their e2e test and the training benchmark (examples/ml-training)',
  'bind9-dnsutils': 'dig, an independent DNS client the cluster DNS tests check answers with',
};

const missing = Object.keys(PACKAGES).filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
if (missing.length === 0) process.exit(0);
if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
  console.error(`kite: missing Debian packages ${missing.join(', ')} (${missing.map((p) => PACKAGES[p]).join('; ')}); install them as root: apt-get install -y ${missing.join(' ')}`);
  process.exit(0);
}
console.error(`kite: installing Debian packages: ${missing.map((p) => `${p} (${PACKAGES[p]})`).join(', ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env }) : update;
if (install.status !== 0) {
  console.error(`kite: could not install ${missing.join(', ')} (apt-get exited ${install.status}); tests that need them will fail`);
  process.exit(1);
}
