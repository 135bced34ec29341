import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../runtime/process.js';
import { leftovers, testRuntimeOptions } from '../runtime/testing.js';
import { RuntimeIndex } from './containers.js';
import { PodStreams, StreamRequestError } from './host.js';
import { parseStreamingPath } from './upgrade.js';

describe('kubelet streaming paths', () => {
  it('parses exec, attach and portForward paths, with or without the pod uid', () => {
    assert.deepEqual(parseStreamingPath('/exec/ns/pod/c'), { op: 'exec', namespace: 'ns', pod: 'pod', container: 'c' });
    assert.deepEqual(parseStreamingPath('/attach/ns/pod/uid-1/c'), { op: 'attach', namespace: 'ns', pod: 'pod', uid: 'uid-1', container: 'c' });
    assert.deepEqual(parseStreamingPath('/portForward/ns/pod'), { op: 'portForward', namespace: 'ns', pod: 'pod' });
    assert.deepEqual(parseStreamingPath('/portForward/ns/pod/uid-1'), { op: 'portForward', namespace: 'ns', pod: 'pod', uid: 'uid-1' });
    assert.equal(parseStreamingPath('/exec/ns/pod'), undefined);
    assert.equal(parseStreamingPath('/containerLogs/ns/pod/c'), undefined);
  });
});

describe('streaming targets on the node', () => {
  it("finds a pod's running containers and sandbox through the runtime the pod workers use, refusing as the kubelet does", async (t) => {
    const opts = testRuntimeOptions({ hostNetworkOnly: true, dataDir: mkdtempSync(join(tmpdir(), 'kite-streams-')) });
    const runtime = new ProcessRuntime(opts);
    await runtime.start();
    t.after(async () => {
      await runtime.stop();
      assert.deepEqual(leftovers(opts), []);
      rmSync(opts.dataDir, { recursive: true, force: true });
    });
    const index = new RuntimeIndex();
    const workersRuntime = index.wrap(runtime);
    const pod = { metadata: { namespace: 'ns', name: 'p', uid: 'uid-1' }, spec: { containers: [{ name: 'c', tty: true }, { name: 'idle' }] } };
    const streams = new PodStreams({ pods: { get: (ns, name) => (ns === 'ns' && name === 'p' ? pod : undefined), list: () => [pod] }, index, runtime });
    const refused = (f: () => unknown, code: number, message: string) =>
      assert.throws(f, (e: StreamRequestError) => {
        assert.equal(e.code, code);
        assert.equal(e.message, message);
        return true;
      });

    refused(() => streams.container('ns', 'other', undefined, 'c', 'exec'), 404, 'pod does not exist');
    refused(() => streams.container('ns', 'p', undefined, 'c', 'exec'), 500, 'container not found ("c")');
    refused(() => streams.portForward('ns', 'p', undefined), 500, 'pod not found ("p_ns")');

    const sandbox = await workersRuntime.createSandbox({ podUid: 'uid-1', namespace: 'ns', name: 'p', hostNetwork: true, hostname: 'p' });
    const c = await workersRuntime.startContainer(sandbox, { podUid: 'uid-1', name: 'c', image: 'none', argv: ['sleep', '30'], env: {}, mounts: [], logPath: join(opts.dataDir, 'c.log') });
    const target = streams.container('ns', 'p', undefined, 'c', 'exec');
    assert.equal(target.tty, true);
    const s = await target.exec({ argv: ['echo', 'through the index'], tty: false, stdin: false });
    let out = '';
    s.stdout.on('data', (d: Buffer) => (out += d));
    await s.exited;
    assert.equal(out, 'through the index\n');
    // Another uid is another pod; attach words its refusal differently.
    refused(() => streams.container('ns', 'p', 'uid-2', 'c', 'exec'), 500, 'container not found ("c")');
    refused(() => streams.container('ns', 'p', undefined, 'idle', 'attach'), 500, 'container idle not found in pod p_ns');
    assert.equal(streams.portForward('ns', 'p', 'uid-1').pod, sandbox.id);

    await workersRuntime.stopContainer(c, 0);
    refused(() => streams.container('ns', 'p', undefined, 'c', 'exec'), 500, 'container not found ("c")');
    await workersRuntime.removeSandbox(sandbox);
    refused(() => streams.portForward('ns', 'p', undefined), 500, 'pod not found ("p_ns")');
  });
});
