/**
 * The client side of a CRI streaming session (the URL Exec and Attach
 * return): a WebSocket speaking Kubernetes' channel protocol
 * `v4.channel.k8s.io` — each message's first byte names the stream (0 stdin,
 * 1 stdout, 2 stderr, 3 error: a metav1.Status when the command ends,
 * 4 resize) — turned into the runtime contract's StreamSession.
 */
import { PassThrough, Writable } from 'node:stream';
import WebSocket from 'ws';
import { StartError, type StreamSession, type TerminalSize } from '../runtime.js';

/** The subprotocol spoken (v4: the error channel carries a Status object with the exit code). */
export const CHANNEL_PROTOCOL = 'v4.channel.k8s.io';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/**
 * How a session ended, from the Status on the error channel: Success is exit
 * 0; NonZeroExitCode carries the code in its `ExitCode` cause; any other
 * failure (the command could not run) is a StartError with the runtime's message.
 */
export function exitFromStatus(status: any): { exitCode: number } | StartError {
  if (!status || status.status === 'Success') return { exitCode: 0 };
  if (status.reason === 'NonZeroExitCode') {
    const cause = (status.details?.causes ?? []).find((c: any) => c.reason === 'ExitCode');
    const code = Number(cause?.message);
    if (Number.isInteger(code)) return { exitCode: code };
  }
  // containerd words it as an API error ("Internal error occurred: error executing command in container: …");
  // the node agent's streaming server adds its own prefix, so only the runtime's part is kept.
  const message = String(status.message ?? 'command failed')
    .replace(/^Internal error occurred: /, '')
    .replace(/^error executing command in container: /, '');
  return new StartError('RunContainerError', message);
}

/**
 * Opens a session to a CRI streaming URL. Its `exited` resolves with the
 * exit code once the runtime closes the session, or rejects with StartError
 * when the command could not be started. The v4 protocol has no way to
 * close stdin alone: ending `stdin` only stops sending.
 */
export async function openStreamSession(url: string, opts: { stdin: boolean; tty: boolean }): Promise<StreamSession> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [CHANNEL_PROTOCOL]);
  // A socket error must never go unhandled (it would end the node agent); the close that follows settles the session.
  ws.on('error', () => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (e) => reject(new StartError('RunContainerError', `opening the stream ${url}: ${e.message}`)));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(new StartError('RunContainerError', body.trim() || `the runtime's streaming server answered ${res.statusCode}`)));
    });
  });
  const stdout = new PassThrough();
  const stderr = opts.tty ? undefined : new PassThrough();
  let status: any;
  ws.on('message', (data: Buffer) => {
    if (data.length === 0) return;
    const payload = data.subarray(1);
    switch (data[0]) {
      case STDOUT:
        if (payload.length) stdout.write(payload);
        break;
      case STDERR:
        if (payload.length) (stderr ?? stdout).write(payload);
        break;
      case ERROR:
        if (payload.length) {
          try {
            status = JSON.parse(payload.toString());
          } catch {
            status = { status: 'Failure', message: payload.toString() };
          }
        }
        break;
    }
  });
  const exited = new Promise<{ exitCode: number }>((resolve, reject) => {
    const done = () => {
      stdout.end();
      stderr?.end();
      const r = exitFromStatus(status);
      if (r instanceof StartError) reject(r);
      else resolve(r);
    };
    ws.once('close', done);
  });
  // Callers may only look at the exit later; an unobserved failure must not crash the agent.
  exited.catch(() => undefined);
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
  };
  const stdin = opts.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          send(STDIN, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
          cb();
        },
      })
    : undefined;
  return {
    ...(stdin ? { stdin } : {}),
    stdout,
    ...(stderr ? { stderr } : {}),
    ...(opts.tty ? { resize: (size: TerminalSize) => send(RESIZE, Buffer.from(JSON.stringify({ Width: size.width, Height: size.height }))) } : {}),
    exited,
    close: () => ws.close(),
  };
}
