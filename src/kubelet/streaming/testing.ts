/**
 * Helpers for the streaming protocol tests: real loopback connections
 * (TCP socket pairs, WebSocket server and client) to run both ends of a
 * protocol over. Not used outside tests.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { ChannelConnection, negotiateWsProtocol } from './wsstream.js';

/** A connected pair of loopback TCP sockets and a function that closes them and their listener. */
export async function socketPair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection');
  const client = connect(port, '127.0.0.1');
  const [serverSide] = (await accepted) as [Socket];
  if (client.connecting) await once(client, 'connect');
  return [
    client,
    serverSide,
    () => {
      client.destroy();
      serverSide.destroy();
      server.close();
    },
  ];
}

/**
 * A loopback WebSocket server whose connection becomes a ChannelConnection
 * (reading the given channels), and a client offering `protocols`; the
 * client's messages are collected. `close` ends all of it.
 */
export async function wsPair(protocols: string[], readable: number[]): Promise<{ server: ChannelConnection; client: WebSocket; messages: Buffer[]; close: () => Promise<void> }> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, handleProtocols: (offered) => negotiateWsProtocol([...offered], protocols) ?? false });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as { port: number }).port;
  const accepted = once(wss, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
  const messages: Buffer[] = [];
  client.on('message', (m: Buffer, isBinary: boolean) => messages.push(isBinary ? m : Buffer.from(m.toString(), 'latin1')));
  await once(client, 'open');
  const [ws] = (await accepted) as [WebSocket];
  const server = new ChannelConnection(ws, client.protocol, readable);
  return {
    server,
    client,
    messages,
    close: async () => {
      client.terminate();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
