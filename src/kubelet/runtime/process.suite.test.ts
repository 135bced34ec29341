/**
 * The process runtime against the shared runtime behaviour suite (suite.ts).
 * As root it gets pod networks, per-container mounts and cgroups; without
 * root the suite skips what needs them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessRuntime } from './process.js';
import { runtimeBehaviourSuite } from './suite.js';
import { isRoot, lookPath } from './sys.js';
import { leftovers, testRuntimeOptions } from './testing.js';

runtimeBehaviourSuite(
  'process',
  async () => {
    const opts = testRuntimeOptions();
    const runtime = new ProcessRuntime(opts);
    await runtime.start();
    return {
      runtime,
      image: 'busybox',
      dir: join(opts.dataDir, 'suite'),
      podCidr: opts.podCidr,
      // tty containers run on a terminal from util-linux script.
      features: { podNetwork: runtime.podNetworkEnabled, mounts: isRoot(), memoryLimits: runtime.cgroupsEnabled, tty: lookPath('script') !== undefined },
      leftovers: () => leftovers(opts),
      cleanup: async () => rmSync(opts.dataDir, { recursive: true, force: true }),
    };
  },
  // The containers run busybox applets; the process runtime finds them on the host.
  { skip: lookPath('busybox') ? false : 'needs busybox on the PATH (Debian busybox-static)' },
);
