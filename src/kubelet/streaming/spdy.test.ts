import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { inflateSync } from 'node:zlib';
import {
  decodeHeaderBlock,
  encodeFrame,
  encodeHeaderBlock,
  FrameParser,
  HEADER_DICTIONARY,
  HeaderCodec,
  headerValue,
  SpdySession,
  type SpdyFrame,
  type SpdyStream,
} from './spdy.js';
import { socketPair } from './testing.js';

/** Adler-32, as zlib stamps a preset dictionary into a stream header. */
function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

function readAll(s: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (t: string) => (text += t));
    s.once('end', () => resolve(text));
  });
}

describe('SPDY/3.1 framing', () => {
  it('uses the SPDY/3 header dictionary (its length and the checksum zlib stamps into streams)', () => {
    assert.equal(HEADER_DICTIONARY.length, 1423);
    // The dictionary id SPDY/3 implementations check (Chromium's kV3DictionaryId).
    assert.equal(adler32(HEADER_DICTIONARY), 0xe3c6a7c2);
    assert.equal(HEADER_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\u0007options');
    assert.ok(HEADER_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'));
  });

  it('round-trips header blocks, joining several values with NUL and lower-casing names', () => {
    const block = encodeHeaderBlock({ StreamType: ['error'], port: ['8080'], multi: ['a', 'b'] });
    assert.equal(block.readUInt32BE(0), 3);
    assert.ok(block.includes(Buffer.from('a\0b')));
    const h = decodeHeaderBlock(block);
    assert.deepEqual(h, { streamtype: ['error'], port: ['8080'], multi: ['a', 'b'] });
    assert.equal(headerValue(h, 'streamType'), 'error');
    assert.equal(headerValue(h, 'missing'), '');
    assert.throws(() => decodeHeaderBlock(block.subarray(0, 10)), /truncated header block/);
  });

  it('encodes and parses every frame kind, across arbitrary chunk boundaries', () => {
    const frames: SpdyFrame[] = [
      { type: 'synStream', streamId: 1, associatedId: 0, priority: 3, fin: false, unidirectional: false, headerBlock: Buffer.from('hb') },
      { type: 'synReply', streamId: 1, fin: true, headerBlock: Buffer.from('x') },
      { type: 'data', streamId: 1, fin: false, data: Buffer.from('hello') },
      { type: 'data', streamId: 3, fin: true, data: Buffer.alloc(0) },
      { type: 'rstStream', streamId: 5, status: 5 },
      { type: 'ping', id: 7 },
      { type: 'goAway', lastGoodStreamId: 9, status: 0 },
      { type: 'headers', streamId: 1, fin: false, headerBlock: Buffer.from('h') },
    ];
    const wire = Buffer.concat(frames.map(encodeFrame));
    // Control frames: C bit, version 3.
    assert.equal(wire.readUInt16BE(0), 0x8003);
    const parser = new FrameParser();
    const got: SpdyFrame[] = [];
    for (let i = 0; i < wire.length; i += 3) got.push(...parser.push(wire.subarray(i, i + 3)));
    assert.deepEqual(got, frames);
  });

  it('keeps one compression context per direction: later blocks refer to earlier ones', async () => {
    const deflate = new HeaderCodec('compress');
    const inflate = new HeaderCodec('decompress');
    try {
      const h = { streamtype: ['data'], port: ['8080'], requestid: ['0'] };
      const first = await deflate.process(encodeHeaderBlock(h));
      const second = await deflate.process(encodeHeaderBlock(h));
      // The second block is shorter: it points back into the first.
      assert.ok(second.length < first.length, `${second.length} < ${first.length}`);
      // A sync flush ends every block, so each inflates on its own, in order.
      assert.ok(first.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])));
      assert.deepEqual(decodeHeaderBlock(await inflate.process(first)), h);
      assert.deepEqual(decodeHeaderBlock(await inflate.process(second)), h);
      // The stream names the SPDY dictionary, as Go's zlib reader requires.
      assert.throws(() => inflateSync(first), /dictionary/i);
    } finally {
      deflate.close();
      inflate.close();
    }
  });
});

describe('SPDY sessions', () => {
  it('opens, answers, carries data both ways and half-closes streams', async () => {
    const [a, b, close] = await socketPair();
    try {
      const accepted: SpdyStream[] = [];
      const server = new SpdySession(b, {
        server: true,
        onStream: (s) => {
          accepted.push(s);
          void s.reply();
          // Echo upper-cased, then FIN.
          void readAll(s).then((t) => s.end(t.toUpperCase()));
        },
      });
      const client = new SpdySession(a, { server: false });
      const s1 = await client.openStream({ streamtype: ['data'], port: ['80'] });
      await s1.ready;
      s1.end('hello over spdy');
      assert.equal(await readAll(s1), 'HELLO OVER SPDY');
      assert.equal(s1.id, 1);
      assert.equal(headerValue(accepted[0]!.headers, 'port'), '80');
      const s2 = await client.openStream({ streamtype: ['error'] });
      await s2.ready;
      s2.end('x'.repeat(200_000));
      assert.equal((await readAll(s2)).length, 200_000);
      assert.equal(s2.id, 3);
      await client.close();
      await server.closed;
    } finally {
      close();
    }
  });

  it('refuses streams nobody accepts, resets on request and echoes the peer pings', async () => {
    const [a, b, close] = await socketPair();
    try {
      new SpdySession(b, { server: true, onStream: (s) => (headerValue(s.headers, 'streamtype') === 'bad' ? s.reset() : void s.reply()) });
      const client = new SpdySession(a, { server: false });
      const bad = await client.openStream({ streamtype: ['bad'] });
      await assert.rejects(bad.ready, /stream reset/);
      const good = await client.openStream({ streamtype: ['good'] });
      await good.ready;
      // A ping with the client's (odd) parity comes back.
      const pong = new Promise<void>((resolve) => {
        const parser = new FrameParser();
        a.on('data', (c: Buffer) => {
          if (parser.push(c).some((f) => f.type === 'ping' && f.id === 1)) resolve();
        });
      });
      await client.ping(1);
      await pong;
      await client.close();
    } finally {
      close();
    }
  });

  it('ends every stream when the connection drops', async () => {
    const [a, b, close] = await socketPair();
    try {
      let serverStream: SpdyStream | undefined;
      const server = new SpdySession(b, { server: true, onStream: (s) => void s.reply().then(() => (serverStream = s)) });
      const client = new SpdySession(a, { server: false });
      const s = await client.openStream({ streamtype: ['data'] });
      await s.ready;
      const ended = once(s, 'close');
      a.destroy();
      await ended;
      await server.closed;
      assert.ok(client.isClosed && server.isClosed);
      assert.ok(serverStream === undefined || serverStream.destroyed);
    } finally {
      close();
    }
  });
});
