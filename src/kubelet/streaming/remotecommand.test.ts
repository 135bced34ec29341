import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execInContainer, type ContainerProcess } from '../runtime/exec.js';
import { DEFAULT_PATH } from '../runtime/sys.js';
import type { ExecRequest } from '../runtime/runtime.js';
import {
  exitCodeStatus,
  internalErrorStatus,
  JsonObjectSplitter,
  parseCommandOptions,
  serveCommand,
  spdyTransport,
  StreamInbox,
  successStatus,
  webSocketTransport,
} from './remotecommand.js';
import { SpdySession, type SpdyStream } from './spdy.js';
import { Channel, WsProtocol } from './wsstream.js';
import { socketPair, wsPair } from './testing.js';

/** This test process as a "container": exec runs commands in its own namespaces. */
const SELF: ContainerProcess = { pid: process.pid, env: { PATH: process.env.PATH ?? DEFAULT_PATH }, workingDir: '/', mounts: [], cgroupProcs: [] };
const TOOLS = { sh: '/bin/sh' };
const open = (req: ExecRequest) => () => execInContainer(SELF, req, TOOLS);
const noLog = () => undefined;

describe('remote command options and statuses', () => {
  it('reads the stream flags as the kubelet does', () => {
    assert.deepEqual(parseCommandOptions(new URLSearchParams('stdin=1&stdout=1&stderr=1')), { stdin: true, stdout: true, stderr: true, tty: false });
    // A terminal has no separate stderr.
    assert.deepEqual(parseCommandOptions(new URLSearchParams('stdout=1&stderr=1&tty=1')), { stdin: false, stdout: true, stderr: false, tty: true });
    assert.throws(() => parseCommandOptions(new URLSearchParams('stdout=true')), /^CommandRequestError: you must specify at least 1 of stdin, stdout, stderr$/);
  });

  it('writes the statuses upstream writes on the error channel', () => {
    assert.equal(JSON.stringify(successStatus()), '{"metadata":{},"status":"Success"}');
    assert.equal(
      JSON.stringify(exitCodeStatus(['sh', '-c', 'exit 3'], 3)),
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
    assert.equal(
      JSON.stringify(internalErrorStatus('boom')),
      '{"metadata":{},"status":"Failure","message":"Internal error occurred: boom","reason":"InternalError","details":{"causes":[{"message":"boom"}]},"code":500}',
    );
  });

  it('splits concatenated JSON objects across chunk boundaries', () => {
    const s = new JsonObjectSplitter();
    assert.deepEqual(s.push('{"Width":80,"Hei'), []);
    assert.deepEqual(s.push('ght":24}{"Width":1'), [{ Width: 80, Height: 24 }]);
    assert.deepEqual(s.push('00,"Height":40,"x":"}{"}\n'), [{ Width: 100, Height: 40, x: '}{' }]);
  });
});

describe('exec over WebSocket channels', () => {
  it('copies stdin to the command and its output back, then reports success and closes (v5)', async () => {
    const p = await wsPair([WsProtocol.v5], [Channel.stdin, Channel.resize]);
    try {
      const opts = { stdin: true, stdout: true, stderr: true, tty: false };
      const done = serveCommand(webSocketTransport(p.server, opts), { kind: 'exec', argv: ['sh', '-c', 'tr a-z A-Z; echo bye >&2'] }, open({ argv: ['sh', '-c', 'tr a-z A-Z; echo bye >&2'], stdin: true, tty: false }), noLog);
      p.client.send(Buffer.from([Channel.stdin, ...Buffer.from('hello')]));
      p.client.send(Buffer.from([Channel.close, Channel.stdin]));
      await once(p.client, 'close');
      await done;
      const by = (ch: number) => Buffer.concat(p.messages.filter((m) => m[0] === ch).map((m) => m.subarray(1))).toString();
      // The first message is the empty one on the lowest output channel.
      assert.deepEqual(p.messages[0], Buffer.from([Channel.stdout]));
      assert.equal(by(Channel.stdout), 'HELLO');
      assert.equal(by(Channel.stderr), 'bye\n');
      assert.equal(by(Channel.error), '{"metadata":{},"status":"Success"}');
    } finally {
      await p.close();
    }
  });

  it('reports a non-zero exit code, and a command that cannot start as an internal error', async () => {
    const p = await wsPair([WsProtocol.v4], [Channel.stdin, Channel.resize]);
    try {
      const argv = ['sh', '-c', 'exit 3'];
      await serveCommand(webSocketTransport(p.server, { stdin: false, stdout: true, stderr: true, tty: false }), { kind: 'exec', argv }, open({ argv, stdin: false, tty: false }), noLog);
      await once(p.client, 'close');
      const status = JSON.parse(p.messages.find((m) => m[0] === Channel.error)!.subarray(1).toString());
      assert.equal(status.reason, 'NonZeroExitCode');
      assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    } finally {
      await p.close();
    }
    const q = await wsPair([WsProtocol.v4], [Channel.stdin, Channel.resize]);
    try {
      await serveCommand(webSocketTransport(q.server, { stdin: false, stdout: true, stderr: true, tty: false }), { kind: 'exec', argv: ['nosuchcmd'] }, open({ argv: ['nosuchcmd'], stdin: false, tty: false }), noLog);
      await once(q.client, 'close');
      const status = JSON.parse(q.messages.find((m) => m[0] === Channel.error)!.subarray(1).toString());
      assert.equal(status.reason, 'InternalError');
      assert.match(status.message, /^Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in \$PATH: unknown$/);
    } finally {
      await q.close();
    }
  });

  it('writes plain error text before v4', async () => {
    const p = await wsPair([WsProtocol.v1], [Channel.stdin, Channel.resize]);
    try {
      const argv = ['sh', '-c', 'exit 2'];
      await serveCommand(webSocketTransport(p.server, { stdin: false, stdout: true, stderr: false, tty: false }), { kind: 'exec', argv }, open({ argv, stdin: false, tty: false }), noLog);
      await once(p.client, 'close');
      const errors = p.messages.filter((m) => m[0] === Channel.error).map((m) => m.subarray(1).toString());
      assert.deepEqual(errors, ['command terminated with non-zero exit code: error executing command [sh -c exit 2], exit code 2']);
    } finally {
      await p.close();
    }
  });
});

describe('exec over SPDY streams', () => {
  /** Opens the client streams of a request, as client-go's v4 protocol does (error first). */
  async function clientStreams(client: SpdySession, types: string[]): Promise<Record<string, SpdyStream>> {
    const out: Record<string, SpdyStream> = {};
    for (const t of types) {
      const s = await client.openStream({ streamtype: [t] });
      await s.ready;
      out[t] = s;
    }
    return out;
  }
  const readAll = (s: SpdyStream) =>
    new Promise<string>((resolve) => {
      let t = '';
      s.on('data', (c: Buffer) => (t += c));
      s.once('end', () => resolve(t));
      s.once('close', () => resolve(t));
    });

  for (const [protocol, expected] of [
    ['v4.channel.k8s.io', '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c read l; echo got $l; echo e >&2; exit 4], exit code 4","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"4"}]}}'],
    ['v3.channel.k8s.io', 'command terminated with non-zero exit code: error executing command [sh -c read l; echo got $l; echo e >&2; exit 4], exit code 4'],
  ] as const) {
    it(`waits for the streams the client asked for and reports on the error stream (${protocol})`, async () => {
      const [a, b, close] = await socketPair();
      try {
        const inbox = new StreamInbox();
        const server = new SpdySession(b, { server: true, onStream: (s) => inbox.add(s) });
        const client = new SpdySession(a, { server: false });
        const opts = { stdin: true, stdout: true, stderr: true, tty: false };
        const transport = spdyTransport(server, inbox, protocol, opts);
        const streams = await clientStreams(client, ['error', 'stdin', 'stdout', 'stderr']);
        const argv = ['sh', '-c', 'read l; echo got $l; echo e >&2; exit 4'];
        const done = serveCommand(await transport, { kind: 'exec', argv }, open({ argv, stdin: true, tty: false }), noLog);
        const [out, err, status] = [readAll(streams.stdout!), readAll(streams.stderr!), readAll(streams.error!)];
        streams.stdin!.end('line\n');
        assert.equal(await out, 'got line\n');
        assert.equal(await err, 'e\n');
        assert.equal(await status, expected);
        await done;
        await server.closed;
      } finally {
        close();
      }
    });
  }

  it('gives up when the client does not open its streams in time', async () => {
    const [a, b, close] = await socketPair();
    try {
      const inbox = new StreamInbox();
      const server = new SpdySession(b, { server: true, onStream: (s) => inbox.add(s) });
      new SpdySession(a, { server: false });
      await assert.rejects(spdyTransport(server, inbox, 'v4.channel.k8s.io', { stdin: false, stdout: true, stderr: false, tty: false }, 50), /timed out waiting for client to create streams/);
    } finally {
      close();
    }
  });
});
