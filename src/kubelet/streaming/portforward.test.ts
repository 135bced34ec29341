import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { parsePort, parsePortsQuery, serveWebSocketPortForward, SpdyPortForwarder } from './portforward.js';
import { SpdySession, type SpdyStream } from './spdy.js';
import { WsProtocol } from './wsstream.js';
import { socketPair, wsPair } from './testing.js';

/** A loopback TCP server that answers every line with `echo: <line>` and closes after `bye`. */
async function echoServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((s: Socket) => {
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (t: string) => {
      buf += t;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'bye') s.end('bye\n');
        else s.write(`echo: ${line}\n`);
      }
    });
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

const dialLocal = (port: number) =>
  new Promise<Duplex>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`dial tcp4 127.0.0.1:${port}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`)));
  });

const readAll = (s: SpdyStream) =>
  new Promise<string>((resolve) => {
    let t = '';
    s.on('data', (c: Buffer) => (t += c));
    s.once('end', () => resolve(t));
    s.once('close', () => resolve(t));
  });

describe('port-forward requests', () => {
  it('parses ports with upstream messages', () => {
    assert.equal(parsePort('8080'), 8080);
    assert.equal(parsePort('x'), 'unable to parse "x" as a port: strconv.ParseUint: parsing "x": invalid syntax');
    assert.equal(parsePort('70000'), 'unable to parse "70000" as a port: strconv.ParseUint: parsing "70000": value out of range');
    assert.equal(parsePort('0'), 'port "0" must be > 0');
    assert.deepEqual(parsePortsQuery(new URLSearchParams('port=80,8080&port=9090')), [80, 8080, 9090]);
    assert.throws(() => parsePortsQuery(new URLSearchParams('')), /^PortForwardRequestError: query parameter "port" is required$/);
    assert.throws(() => parsePortsQuery(new URLSearchParams('port=')), /query parameter "port" cannot be empty/);
    assert.throws(() => parsePortsQuery(new URLSearchParams('port=80,x')), /unable to parse "80,x" as a port/);
  });
});

describe('port-forward over SPDY', () => {
  it('forwards a stream pair to the port and ends both streams when the pod side closes', async () => {
    const echo = await echoServer();
    const [a, b, close] = await socketPair();
    try {
      const fwd = new SpdyPortForwarder(dialLocal, { pod: 'p', uid: 'u' }, () => undefined);
      new SpdySession(b, { server: true, onStream: (s) => fwd.onStream(s) });
      const client = new SpdySession(a, { server: false });
      const headers = { port: [String(echo.port)], requestid: ['0'] };
      // As client-go does: the error stream first, half-closed at once, then the data stream.
      const error = await client.openStream({ ...headers, streamtype: ['error'] });
      await error.ready;
      error.end();
      const data = await client.openStream({ ...headers, streamtype: ['data'] });
      await data.ready;
      const errText = readAll(error);
      const out = readAll(data);
      data.write('one\ntwo\nbye\n');
      assert.equal(await out, 'echo: one\necho: two\nbye\n');
      assert.equal(await errText, '');
      await client.close();
    } finally {
      close();
      echo.server.close();
    }
  });

  it('reports a port nothing listens on on the error stream, and refuses streams without a port', async () => {
    const [a, b, close] = await socketPair();
    const closedPort = await echoServer();
    closedPort.server.close();
    try {
      const fwd = new SpdyPortForwarder(dialLocal, { pod: 'p', uid: 'u' }, () => undefined);
      new SpdySession(b, { server: true, onStream: (s) => fwd.onStream(s) });
      const client = new SpdySession(a, { server: false });
      const noPort = await client.openStream({ streamtype: ['data'] });
      await assert.rejects(noPort.ready, /stream reset/);
      const headers = { port: [String(closedPort.port)], requestid: ['1'] };
      const error = await client.openStream({ ...headers, streamtype: ['error'] });
      await error.ready;
      error.end();
      const data = await client.openStream({ ...headers, streamtype: ['data'] });
      await data.ready;
      assert.equal(await readAll(error), `error forwarding port ${closedPort.port} to pod p, uid u: dial tcp4 127.0.0.1:${closedPort.port}: connect: connection refused`);
      await client.close();
    } finally {
      close();
    }
  });
});

describe('port-forward over WebSocket channels', () => {
  it('announces the port on both channels, then carries the data', async () => {
    const echo = await echoServer();
    const p = await wsPair([WsProtocol.v4], [0]);
    try {
      const done = serveWebSocketPortForward(p.server, [echo.port], dialLocal, { pod: 'p', uid: 'u' }, () => undefined);
      const port = Buffer.alloc(2);
      port.writeUInt16LE(echo.port);
      while (p.messages.length < 2) await once(p.client, 'message');
      assert.deepEqual(p.messages.slice(0, 2), [Buffer.from([0, ...port]), Buffer.from([1, ...port])]);
      p.client.send(Buffer.from([0, ...Buffer.from('hi\nbye\n')]));
      await once(p.client, 'close');
      await done;
      const data = Buffer.concat(p.messages.slice(2).filter((m) => m[0] === 0).map((m) => m.subarray(1))).toString();
      assert.equal(data, 'echo: hi\nbye\n');
    } finally {
      await p.close();
      echo.server.close();
    }
  });
});
