import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Channel, decodeChannelMessage, encodeChannelMessage, negotiateWsProtocol, WsProtocol } from './wsstream.js';
import { wsPair } from './testing.js';

describe('channel WebSocket protocol', () => {
  it('encodes channel messages, binary and base64', () => {
    assert.deepEqual(encodeChannelMessage(1, Buffer.from('hi'), false), Buffer.from([1, 0x68, 0x69]));
    assert.equal(encodeChannelMessage(3, Buffer.from('hi'), true), '3aGk=');
    assert.deepEqual(decodeChannelMessage(Buffer.from([0, 0x61]), false, false), { channel: 0, data: Buffer.from('a') });
    assert.deepEqual(decodeChannelMessage(Buffer.from('0aGk=', 'latin1'), true, false), { channel: 0, data: Buffer.from('hi') });
    assert.equal(decodeChannelMessage(Buffer.alloc(0), false, true), undefined);
  });

  it('reads v5 close signals and rejects malformed ones', () => {
    assert.deepEqual(decodeChannelMessage(Buffer.from([255, 0]), false, true), { closeChannel: 0 });
    // Before v5, 255 is just an unknown channel.
    assert.deepEqual(decodeChannelMessage(Buffer.from([255, 0]), false, false), { channel: 255, data: Buffer.from([0]) });
    assert.throws(() => decodeChannelMessage(Buffer.from([255, 0, 1]), false, true), /single channel byte should follow stream close signal; got 2 bytes/);
  });

  it('negotiates the first offered protocol the server knows', () => {
    const supported = [WsProtocol.v5, WsProtocol.v4, WsProtocol.v1, ''];
    assert.equal(negotiateWsProtocol(['v5.channel.k8s.io'], supported), 'v5.channel.k8s.io');
    assert.equal(negotiateWsProtocol(['v9.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'], supported), 'v4.channel.k8s.io');
    assert.equal(negotiateWsProtocol([], supported), '');
    assert.equal(negotiateWsProtocol(['v9.channel.k8s.io'], supported), undefined);
    assert.equal(negotiateWsProtocol([], [WsProtocol.v5]), undefined);
  });

  it('delivers client input per channel, ends it on the v5 close signal, and writes outputs as channel messages', async () => {
    const p = await wsPair([WsProtocol.v5], [Channel.stdin, Channel.resize]);
    try {
      const stdin = p.server.input(Channel.stdin);
      let text = '';
      stdin.setEncoding('utf8');
      stdin.on('data', (t: string) => (text += t));
      p.client.send(Buffer.from([0, ...Buffer.from('abc')]));
      p.client.send(Buffer.from([0, ...Buffer.from('def')]));
      // Data for a channel the server does not read is dropped.
      p.client.send(Buffer.from([2, 0x7a]));
      p.client.send(Buffer.from([255, 0]));
      await once(stdin, 'end');
      assert.equal(text, 'abcdef');

      const out = p.server.output(Channel.stdout);
      const got = once(p.client, 'message');
      out.write(Buffer.from('out'));
      const [msg] = (await got) as [Buffer];
      assert.deepEqual(msg, Buffer.from([1, ...Buffer.from('out')]));

      const closed = once(p.client, 'close');
      p.server.close();
      const [code] = (await closed) as [number];
      assert.equal(code, 1000);
    } finally {
      await p.close();
    }
  });

  it('speaks base64 text messages on the base64 protocols', async () => {
    const p = await wsPair([WsProtocol.v4Base64], [Channel.stdin]);
    try {
      assert.equal(p.server.protocol, 'v4.base64.channel.k8s.io');
      const stdin = p.server.input(Channel.stdin);
      const data = once(stdin, 'data');
      p.client.send('0' + Buffer.from('hello').toString('base64'));
      assert.equal(String((await data)[0]), 'hello');
      const got = once(p.client, 'message');
      await p.server.send(Channel.stderr, Buffer.from('oops'));
      const [msg, isBinary] = (await got) as [Buffer, boolean];
      assert.equal(isBinary, false);
      assert.equal(msg.toString(), '2' + Buffer.from('oops').toString('base64'));
    } finally {
      await p.close();
    }
  });
});
