/**
 * Container probes (upstream pkg/kubelet/prober and pkg/probe): the probe
 * kinds — httpGet, tcpSocket, exec and grpc (grpc.health.v1.Health/Check
 * spoken over node:http2 with a hand-encoded message) — with upstream's
 * outputs and error texts, and the probe workers: one timer per container
 * and probe type that honours initialDelaySeconds, periodSeconds,
 * timeoutSeconds and the success/failure thresholds, and caches results by
 * container ID the way kubelet's results managers do.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { joinHostPort } from '../apiserver/printers/format.js';
import type { EventRecorder } from '../client/events.js';
import { KUBERNETES_VERSION } from '../version.js';
import { expand } from './env.js';
import { formatPod, goDuration, goQuote } from './format.js';
import type { StreamSession } from './runtime/runtime.js';

/** `<major>.<minor>` of the Kubernetes release followed, as in `kube-probe/1.32`. */
const KUBE_MINOR = KUBERNETES_VERSION.split('.').slice(0, 2).join('.');
/** upstream maxRespBodyLength / exec maxReadLength: probes keep at most 10 KiB of output. */
const MAX_OUTPUT = 10 * 1024;
/** upstream maxProbeRetries: a probe that errors (rather than fails) is tried this many times. */
const MAX_PROBE_RETRIES = 3;
/** containerd's cap on the output an ExecSync keeps (16 MiB). */
const MAX_EXEC_OUTPUT = 16 * 1024 * 1024;
/** The grpc-go release Kubernetes 1.32 vendors; grpc-go appends it to the dialer's user agent. */
const GRPC_GO_UA = 'grpc-go/1.65.0';

/** The three probe types (their names as kubelet prints them: Liveness, Readiness, Startup). */
export type ProbeType = 'liveness' | 'readiness' | 'startup';

/** How one probe run ended (upstream probe.Result and its output). */
export interface ProbeOutcome {
  result: 'success' | 'warning' | 'failure' | 'unknown';
  output: string;
}

/** A worker's cached verdict for a container (upstream results.Result). */
export type ProbeResult = 'success' | 'failure' | 'unknown';

/** What a command run in a container to completion produced. */
export interface CommandResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** A command run in a container outlived its timeout (the runtime's ExecSync deadline). */
export class CommandTimeoutError extends Error {
  constructor(argv: readonly string[]) {
    super(`command ${goQuote(argv.join(' '))} timed out`);
    this.name = 'CommandTimeoutError';
  }
}

/** Go's http.CanonicalHeaderKey: `x-custom-header` → `X-Custom-Header`. */
function canonicalHeaderKey(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) return name;
  return name
    .toLowerCase()
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('-');
}

/**
 * upstream probe.ResolveContainerPort: a number as is; a name looked up in the
 * container's ports, else read as a number; 1–65535 only.
 */
export function resolveContainerPort(port: unknown, container: any): number {
  let n: number;
  if (typeof port === 'number') n = port;
  else if (typeof port === 'string') {
    const named = (container?.ports ?? []).find((p: any) => p?.name === port);
    if (named) n = Number(named.containerPort);
    else if (/^[+-]?\d+$/.test(port)) n = Number(port);
    else throw new Error(`strconv.Atoi: parsing ${goQuote(port)}: invalid syntax`);
  } else throw new Error(`intOrString had no kind: ${JSON.stringify(port ?? null)}`);
  if (n > 0 && n < 65536) return n;
  throw new Error(`invalid port number: ${n}`);
}

/** An HTTP GET of a probe or lifecycle hook (upstream NewRequestForHTTPGetAction). */
export interface HttpGetRequest {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Path and query as written (`/` when empty on the wire). */
  path: string;
  /** Header lines in order, names canonical. */
  headers: [string, string][];
}

/**
 * Builds the GET of an httpGet probe or hook: the pod IP unless `host` is set,
 * the (named) port, the path, the given headers, `User-Agent:
 * kube-<purpose>/1.32` and `Accept: *\/*` unless given (an empty Accept drops it).
 */
export function httpGetRequest(action: any, container: any, podIP: string, purpose: 'probe' | 'lifecycle'): HttpGetRequest {
  const scheme = String(action?.scheme || 'HTTP').toLowerCase() === 'https' ? 'https' : 'http';
  const port = resolveContainerPort(action?.port, container);
  let path = String(action?.path ?? '');
  // Go's URL.String puts a slash between host and a relative path.
  if (path && !path.startsWith('/')) path = `/${path}`;
  const headers: [string, string][] = [];
  for (const h of action?.httpHeaders ?? []) headers.push([canonicalHeaderKey(String(h?.name ?? '')), String(h?.value ?? '')]);
  const has = (name: string) => headers.some(([k]) => k === name);
  if (!has('User-Agent')) headers.push(['User-Agent', `kube-${purpose}/${KUBE_MINOR}`]);
  if (!has('Accept')) headers.push(['Accept', '*/*']);
  else if (headers.find(([k]) => k === 'Accept')![1] === '') {
    for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0] === 'Accept') headers.splice(i, 1);
  }
  return { scheme, host: String(action?.host || podIP), port, path, headers };
}

/** The URL of a request as Go prints it (`http://10.244.0.5:8080/healthz`). */
export function requestUrl(req: HttpGetRequest): string {
  return `${req.scheme}://${joinHostPort(req.host, req.port)}${req.path}`;
}

/** A socket error as Go's dialer words it (`dial tcp 10.0.0.1:80: connect: connection refused`). */
function dialError(addr: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${addr}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${addr}: connect: network is unreachable`;
    case 'ETIMEDOUT':
      return `dial tcp ${addr}: i/o timeout`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${addr.replace(/:\d+$/, '')}: no such host`;
    case 'ECONNRESET':
      return `read tcp ${addr}: read: connection reset by peer`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'http: server gave HTTP response to HTTPS client';
    default:
      return e.message;
  }
}

/** Options of one HTTP GET exchange (redirects included). */
interface HttpGetOptions {
  /** Deadline for the whole exchange, as Go's http.Client.Timeout; 0: none. */
  timeoutMs: number;
  /** Whether a redirect to another host is followed (probes stop at it; hooks follow). */
  followOtherHosts: boolean;
  /** Verify the server certificate (probes skip it, as upstream's probe transport does). */
  verifyTls: boolean;
  /** Ends the exchange early (the container went away). */
  signal?: AbortSignal;
}

/** The response an HTTP GET ended with (body cut at 10 KiB). */
interface HttpGetResponse {
  status: number;
  body: string;
}

/** An error of an HTTP GET, worded as Go's client.Do error (`Get "url": …`). */
export class HttpGetError extends Error {
  constructor(
    url: string,
    readonly detail: string,
  ) {
    super(`Get ${goQuote(url)}: ${detail}`);
    this.name = 'HttpGetError';
  }
}

/** One GET on the wire; resolves with the response head, rejects with the Go-worded cause. */
function sendGet(req: HttpGetRequest, verifyTls: boolean): { done: Promise<IncomingMessage>; abort: () => void } {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of req.headers) {
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  let r: ClientRequest;
  const done = new Promise<IncomingMessage>((resolve, reject) => {
    const opts = { host: req.host, port: req.port, path: req.path || '/', method: 'GET', headers, agent: false as const };
    r = req.scheme === 'https' ? httpsRequest({ ...opts, rejectUnauthorized: verifyTls }, resolve) : httpRequest(opts, resolve);
    r.on('error', (e: NodeJS.ErrnoException) => reject(new Error(dialError(joinHostPort(req.host, req.port), e))));
    r.end();
  });
  return { done, abort: () => r?.destroy() };
}

/** Reads at most MAX_OUTPUT bytes of a body, then lets the rest go. */
function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      res.destroy();
      resolve(Buffer.concat(chunks).subarray(0, MAX_OUTPUT).toString('utf8'));
    };
    res.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      // upstream ReadAtMost: a longer body is cut, not an error.
      if (size >= MAX_OUTPUT) finish();
    });
    res.once('end', finish);
    res.on('error', reject);
  });
}

/**
 * An HTTP GET as Go's http.Client does it for kubelet: redirects followed up
 * to 10 times (to other hosts only if allowed, else the redirect response is
 * the answer), the deadline over the whole exchange, keep-alives off.
 */
export async function httpGet(first: HttpGetRequest, opts: HttpGetOptions): Promise<HttpGetResponse> {
  let req = first;
  let hops = 0;
  const deadline = opts.timeoutMs > 0 ? Date.now() + opts.timeoutMs : Infinity;
  for (;;) {
    const url = requestUrl(req);
    const { done, abort } = sendGet(req, opts.verifyTls);
    let timer: NodeJS.Timeout | undefined;
    let res: IncomingMessage;
    let onAbort = () => abort();
    try {
      res = await Promise.race([
        done,
        new Promise<never>((_, reject) => {
          // The caller gave up (its context was cancelled).
          onAbort = () => {
            abort();
            reject(new Error('context canceled'));
          };
          if (opts.signal?.aborted) onAbort();
          opts.signal?.addEventListener('abort', onAbort);
          if (deadline !== Infinity) {
            timer = setTimeout(() => {
              abort();
              reject(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)'));
            }, Math.max(0, deadline - Date.now()));
          }
        }),
      ]);
    } catch (e) {
      done.catch(() => undefined);
      throw new HttpGetError(url, (e as Error).message);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    // Errors after the head (a reset while the body is dropped) must not go unheard.
    res.on('error', () => undefined);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      let next: URL;
      try {
        next = new URL(location, `${req.scheme}://${joinHostPort(req.host, req.port)}${req.path || '/'}`);
      } catch {
        res.destroy();
        throw new HttpGetError(url, `failed to parse Location header ${goQuote(location)}`);
      }
      const nextHost = next.hostname.replace(/^\[|\]$/g, '');
      // upstream RedirectChecker: a probe does not leave the first host; the redirect itself is the answer then.
      if (opts.followOtherHosts || nextHost === first.host) {
        res.destroy();
        const nextReq: HttpGetRequest = {
          scheme: next.protocol === 'https:' ? 'https' : 'http',
          host: nextHost,
          port: next.port ? Number(next.port) : next.protocol === 'https:' ? 443 : 80,
          path: `${next.pathname}${next.search}`,
          headers: req.headers,
        };
        if (++hops >= 10) throw new HttpGetError(requestUrl(nextReq), 'stopped after 10 redirects');
        req = nextReq;
        continue;
      }
    }
    const body = await Promise.race([
      readBody(res),
      new Promise<string>((_, reject) => {
        if (deadline !== Infinity) {
          timer = setTimeout(() => {
            res.destroy();
            reject(new Error('context deadline exceeded (Client.Timeout or context cancellation while reading body)'));
          }, Math.max(0, deadline - Date.now()));
        }
      }),
    ]).finally(() => clearTimeout(timer));
    return { status, body };
  }
}

/** upstream DoHTTPProbe: 2xx succeeds, 3xx (a redirect not followed) warns, anything else fails. */
export async function httpProbe(req: HttpGetRequest, timeoutMs: number): Promise<ProbeOutcome> {
  let res: HttpGetResponse;
  try {
    res = await httpGet(req, { timeoutMs, followOtherHosts: false, verifyTls: false });
  } catch (e) {
    // Transport errors and timeouts are failures (upstream converts them to catch timeouts).
    return { result: 'failure', output: (e as Error).message };
  }
  if (res.status >= 200 && res.status < 400) {
    if (res.status >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${res.body}` };
    return { result: 'success', output: res.body };
  }
  // upstream keeps the body out of the message (it may hold secrets).
  return { result: 'failure', output: `HTTP probe failed with statuscode: ${res.status}` };
}

/** upstream DoTCPProbe: success once a connection opens (closed at once). */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const addr = joinHostPort(host, port);
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ result: 'failure', output: `dial tcp ${addr}: i/o timeout` });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ result: 'success', output: '' });
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ result: 'failure', output: dialError(addr, e) });
    });
  });
}

/** gRPC status codes by number, with grpc-go's names. */
const GRPC_CODES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];
/** grpc.health.v1.HealthCheckResponse.ServingStatus names. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** A protobuf varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-prefixed gRPC message frame holding HealthCheckRequest{service}. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const svc = Buffer.from(service, 'utf8');
  // Field 1 (service, string): tag 0x0a, length, bytes; an empty string is left out, as proto3 does.
  const msg = svc.length ? Buffer.concat([Buffer.from([0x0a]), varint(svc.length), svc]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(msg.length, 1);
  return Buffer.concat([frame, msg]);
}

/** HealthCheckResponse.status from one gRPC message frame (0 when absent, as proto3 defaults). */
export function decodeHealthCheckResponse(frame: Buffer): number {
  if (frame.length < 5) throw new Error('grpc: received message is too short');
  if (frame.readUInt8(0) !== 0) throw new Error('grpc: compressed messages are not supported');
  const msg = frame.subarray(5, 5 + frame.readUInt32BE(1));
  let status = 0;
  let i = 0;
  const readVarint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = msg[i++];
      if (b === undefined) throw new Error('grpc: truncated message');
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
  };
  while (i < msg.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (field === 1) status = v;
    } else if (wire === 2) i += readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`grpc: unsupported wire type ${wire}`);
  }
  return status;
}

/** grpc-go's status for a non-200 HTTP answer (its HTTP → gRPC code table). */
function httpStatusToGrpc(status: number): { code: number; message: string } {
  const code = status === 400 ? 13 : status === 401 ? 16 : status === 403 ? 7 : status === 404 ? 12 : [429, 502, 503, 504].includes(status) ? 14 : 2;
  return { code, message: `unexpected HTTP status code received from server: ${status}` };
}

/** Opens an h2c session within `timeoutMs`; rejects (and closes it) otherwise. */
function openH2(host: string, port: number, timeoutMs: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${joinHostPort(host, port)}`);
    const fail = (e: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error('deadline')), timeoutMs);
    session.on('error', fail);
    session.once('connect', () => {
      clearTimeout(timer);
      session.off('error', fail);
      // Later session errors surface on the request stream; an unheard one must not take the agent down.
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

/**
 * upstream grpcProber.Probe: grpc.health.v1.Health/Check over cleartext
 * HTTP/2 within one deadline; SERVING succeeds, other statuses and RPC
 * errors fail with grpc_health_probe's words.
 */
export async function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeOutcome> {
  const addr = joinHostPort(host, port);
  const timeout = goDuration(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  // grpc.WithBlock: keep dialling (grpc-go backs off from 1 s) until connected or out of time.
  let session: ClientHttp2Session | undefined;
  let backoff = 1000;
  while (!session) {
    try {
      session = await openH2(host, port, Math.max(0, deadline - Date.now()));
    } catch {
      const left = deadline - Date.now();
      if (left <= 0) return { result: 'failure', output: `timeout: failed to connect service ${goQuote(addr)} within ${timeout}: context deadline exceeded` };
      await new Promise((r) => setTimeout(r, Math.min(backoff, left)));
      backoff *= 1.6;
    }
  }
  try {
    const left = Math.max(1, deadline - Date.now());
    const reply = await new Promise<{ code: number; message: string; body: Buffer }>((resolve, reject) => {
      const stream = session!.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        ':scheme': 'http',
        ':authority': addr,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': `kube-probe/${KUBE_MINOR} ${GRPC_GO_UA}`,
        'grpc-timeout': `${left}m`,
      });
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error('deadline'));
      }, left);
      const chunks: Buffer[] = [];
      let head: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      stream.on('response', (h) => (head = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      stream.once('close', () => {
        clearTimeout(timer);
        const httpStatus = Number(head[':status'] ?? 0);
        if (httpStatus !== 200) return resolve({ ...httpStatusToGrpc(httpStatus), body: Buffer.alloc(0) });
        // A trailers-only answer carries grpc-status in the headers.
        const st = trailers['grpc-status'] ?? head['grpc-status'];
        const msg = String(trailers['grpc-message'] ?? head['grpc-message'] ?? '');
        if (st === undefined) return resolve({ code: 13, message: 'server closed the stream without sending trailers', body: Buffer.alloc(0) });
        let message = msg;
        try {
          message = decodeURIComponent(msg);
        } catch {
          /* left as sent */
        }
        resolve({ code: Number(st), message, body: Buffer.concat(chunks) });
      });
      stream.end(encodeHealthCheckRequest(service));
    }).catch((e: Error) => (e.message === 'deadline' ? { code: 4, message: 'context deadline exceeded', body: Buffer.alloc(0) } : { code: 14, message: e.message, body: Buffer.alloc(0) }));
    if (reply.code === 12) return { result: 'failure', output: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${reply.message}` };
    if (reply.code === 4) return { result: 'failure', output: `timeout: health rpc did not complete within ${timeout}` };
    if (reply.code !== 0) return { result: 'failure', output: `error: health rpc probe failed: rpc error: code = ${GRPC_CODES[reply.code] ?? `Code(${reply.code})`} desc = ${reply.message}` };
    let status: number;
    try {
      status = decodeHealthCheckResponse(reply.body);
    } catch (e) {
      return { result: 'failure', output: `error: health rpc probe failed: rpc error: code = Internal desc = ${(e as Error).message}` };
    }
    if (status !== 1) return { result: 'failure', output: `service unhealthy (responded with ${goQuote(SERVING_STATUS[status] ?? String(status))})` };
    return { result: 'success', output: 'service is serving' };
  } finally {
    session.destroy();
  }
}

/** Collects a stream into a buffer (at most `max` bytes kept); resolves when it ends. */
function collect(stream: NodeJS.ReadableStream | undefined, max: number): { data: () => Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const ended = new Promise<void>((resolve) => {
    if (!stream) return resolve();
    stream.on('data', (d: Buffer | string) => {
      const b = typeof d === 'string' ? Buffer.from(d) : d;
      if (size < max) chunks.push(b.subarray(0, max - size));
      size += b.length;
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.on('error', () => resolve());
  });
  return { data: () => Buffer.concat(chunks), ended };
}

/**
 * Runs a command in a container to completion, as kubelet's RunInContainer
 * does through the runtime's ExecSync: stdout and stderr apart, the exit
 * code, and CommandTimeoutError once `timeoutMs` (0: none) has passed. An
 * aborted `signal` ends the command (the caller's context was cancelled).
 */
export async function runInContainer(open: () => Promise<StreamSession>, argv: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<CommandResult> {
  signal?.throwIfAborted();
  const session = await open();
  const out = collect(session.stdout, MAX_EXEC_OUTPUT);
  const err = collect(session.stderr, MAX_EXEC_OUTPUT);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('context canceled'));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const exited = session.exited.then(async (x) => {
      // Output still in the pipes belongs to the answer; a process that leaves them open gets a second.
      await Promise.race([Promise.all([out.ended, err.ended]), new Promise((r) => setTimeout(r, 1000).unref())]);
      return x;
    });
    const x = await Promise.race([
      exited,
      aborted,
      ...(timeoutMs > 0 ? [new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CommandTimeoutError(argv)), timeoutMs)))] : []),
    ]);
    return { exitCode: x.exitCode, stdout: out.data(), stderr: err.data() };
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    session.close();
  }
}

/** upstream execProber.Probe: exit 0 succeeds, another code fails with the output, a timeout fails with its message. */
export async function execProbe(run: (argv: string[], timeoutMs: number) => Promise<CommandResult>, argv: string[], timeoutMs: number): Promise<ProbeOutcome> {
  try {
    const r = await run(argv, timeoutMs);
    // upstream RunInContainer appends stderr to stdout; the prober keeps the first 10 KiB.
    const output = Buffer.concat([r.stdout, r.stderr]).subarray(0, MAX_OUTPUT).toString('utf8');
    return { result: r.exitCode === 0 ? 'success' : 'failure', output };
  } catch (e) {
    if (e instanceof CommandTimeoutError) return { result: 'failure', output: e.message };
    throw e;
  }
}

/** upstream ExpandContainerCommandOnlyStatic: `$(VAR)` from the container's env values only (valueFrom ones read as empty). */
export function expandStatic(argv: readonly string[], env: readonly any[] | undefined): string[] {
  const values = new Map<string, string>();
  for (const e of env ?? []) values.set(String(e?.name), e?.value ?? '');
  return argv.map((a) => expand(String(a), (n) => values.get(n)));
}

/** What probes and hooks of one container run with. */
export interface ProbeEnv {
  pod: any;
  container: any;
  podIP: string;
  /** Runs a command in the container to completion within `timeoutMs`. */
  exec(argv: string[], timeoutMs: number): Promise<CommandResult>;
}

/** upstream prober.runProbe: one attempt of the probe's handler; throws when the probe cannot even be run. */
export async function runProbe(spec: any, env: ProbeEnv): Promise<ProbeOutcome> {
  const timeoutMs = (spec.timeoutSeconds ?? 1) * 1000;
  if (spec.exec) return execProbe((argv, t) => env.exec(argv, t), expandStatic(spec.exec.command ?? [], env.container.env), timeoutMs);
  if (spec.httpGet) return httpProbe(httpGetRequest(spec.httpGet, env.container, env.podIP, 'probe'), timeoutMs);
  if (spec.tcpSocket) return tcpProbe(spec.tcpSocket.host || env.podIP, resolveContainerPort(spec.tcpSocket.port, env.container), timeoutMs);
  if (spec.grpc) return grpcProbe(env.podIP, Number(spec.grpc.port), spec.grpc.service ?? '', timeoutMs);
  throw new Error(`missing probe handler for ${formatPod(env.pod)}:${env.container.name}`);
}

/** The probe type as kubelet names it in events. */
function probeLabel(type: ProbeType): string {
  return type === 'liveness' ? 'Liveness' : type === 'readiness' ? 'Readiness' : 'Startup';
}

/**
 * upstream prober.probe: runs a probe (retrying only errors), records the
 * `Unhealthy`/`ProbeWarning` events, and returns the verdict — undefined when
 * the probe errored, so that the worker keeps its last result.
 */
export async function probeContainer(type: ProbeType, spec: any, env: ProbeEnv, recorder: EventRecorder): Promise<'success' | 'failure' | undefined> {
  let outcome: ProbeOutcome | undefined;
  let error: Error | undefined;
  for (let i = 0; i < MAX_PROBE_RETRIES; i++) {
    try {
      outcome = await runProbe(spec, env);
      error = undefined;
      break;
    } catch (e) {
      error = e as Error;
    }
  }
  const label = probeLabel(type);
  if (error || !outcome) {
    void recorder.event(env.pod, 'Warning', 'Unhealthy', `${label} probe errored: ${error?.message}`);
    return undefined;
  }
  if (outcome.result === 'success') return 'success';
  if (outcome.result === 'warning') {
    void recorder.event(env.pod, 'Warning', 'ProbeWarning', `${label} probe warning: ${outcome.output}`);
    return 'success';
  }
  void recorder.event(env.pod, 'Warning', 'Unhealthy', `${label} probe failed: ${outcome.output}`);
  return 'failure';
}

/** What the pod workers tell a probe worker about its container at each tick (upstream reads the status manager). */
export interface ProbeTarget {
  /** The container ID of the latest attempt, once one was started. */
  containerID?: string;
  /** When the latest attempt started, while it runs (its postStart hook done). */
  runningSince?: Date;
  /** The latest attempt has ended. */
  terminated: boolean;
  /** An ended container will be started again (restartPolicy, or a sidecar). */
  willRestart: boolean;
  /** The pod has reached Succeeded or Failed. */
  podTerminal: boolean;
  /** The pod is being deleted (liveness and startup probing stops). */
  deleting: boolean;
  podIP: string;
  pod: any;
  /** Runs a command in the container to completion within `timeoutMs`. */
  exec(argv: string[], timeoutMs: number): Promise<CommandResult>;
}

/** Configuration of the probe manager. */
export interface ProbeManagerConfig {
  /** The current state of a pod's container, or undefined while unknown. */
  target(podUid: string, container: string): ProbeTarget | undefined;
  /** Called when a cached result changes (upstream results-manager updates). */
  onResult(podUid: string, container: string, type: ProbeType, result: ProbeResult): void;
  recorder: EventRecorder;
  now: () => Date;
  log: (msg: string) => void;
}

/** A probe worker: one timer probing one container for one probe type (upstream prober worker). */
class ProbeWorker {
  private timer?: NodeJS.Timeout;
  private probing = false;
  private triggered = false;
  private stopped = false;
  private containerID?: string;
  private onHold = false;
  private lastResult?: 'success' | 'failure';
  private resultRun = 0;

  constructor(
    private readonly manager: ProbeManager,
    readonly podUid: string,
    readonly container: any,
    readonly type: ProbeType,
    readonly spec: any,
  ) {}

  /** Probes at once, then every periodSeconds. */
  start(): void {
    void this.tick();
  }

  /** Runs a probe now (upstream manualTriggerCh: a pending one is kept if a probe is running). */
  trigger(): void {
    if (this.stopped) return;
    if (this.probing) {
      this.triggered = true;
      return;
    }
    clearTimeout(this.timer);
    void this.tick();
  }

  /** Stops the timer and drops the worker's cached result. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.containerID) this.manager.remove(this.type, this.containerID);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.probing = true;
    const began = Date.now();
    let keepGoing = true;
    try {
      keepGoing = await this.doProbe();
    } catch (e) {
      // upstream HandleCrash: a broken probe never stops the worker.
      this.manager.log(`kubelet: ${this.type} probe of ${this.container.name}: ${(e as Error).message}`);
    }
    this.probing = false;
    if (this.stopped) return;
    if (!keepGoing) {
      this.manager.workerDone(this);
      return;
    }
    const period = Math.max(1, this.spec.periodSeconds ?? 10) * 1000;
    const wait = this.triggered ? 0 : Math.max(0, period - (Date.now() - began));
    this.triggered = false;
    this.timer = setTimeout(() => void this.tick(), wait);
  }

  /** upstream worker.doProbe; false stops the worker. */
  private async doProbe(): Promise<boolean> {
    const t = this.manager.target(this.podUid, this.container.name);
    if (!t) return true;
    if (t.podTerminal) return false;
    if (!t.containerID) return true;
    if (t.containerID !== this.containerID) {
      if (this.containerID) this.manager.remove(this.type, this.containerID);
      this.containerID = t.containerID;
      // A new container starts from the initial verdict: not ready, alive, not yet started.
      this.manager.set(this.podUid, this.container.name, this.type, t.containerID, this.type === 'readiness' ? 'failure' : this.type === 'liveness' ? 'success' : 'unknown');
      this.onHold = false;
    }
    if (this.onHold) return true;
    if (!t.runningSince) {
      this.manager.set(this.podUid, this.container.name, this.type, t.containerID, 'failure');
      // Stop once the container will not run again.
      return !t.terminated || t.willRestart;
    }
    if (t.deleting && this.type !== 'readiness') {
      // Graceful shutdown: a last success keeps the kill quiet.
      this.manager.set(this.podUid, this.container.name, this.type, t.containerID, 'success');
      return false;
    }
    const sinceStart = Math.trunc((this.manager.now().getTime() - t.runningSince.getTime()) / 1000);
    if (sinceStart < (this.spec.initialDelaySeconds ?? 0)) return true;
    const started = this.manager.isStarted(this.podUid, this.container.name, t.containerID);
    // Startup probing ends once started; the other probes wait for it.
    if (started ? this.type === 'startup' : this.type !== 'startup') return true;

    const id = t.containerID;
    const result = await probeContainer(this.type, this.spec, { pod: t.pod, container: this.container, podIP: t.podIP, exec: t.exec }, this.manager.recorder);
    if (result === undefined || this.stopped || this.containerID !== id) return true;
    if (this.lastResult === result) this.resultRun++;
    else {
      this.lastResult = result;
      this.resultRun = 1;
    }
    if ((result === 'failure' && this.resultRun < (this.spec.failureThreshold ?? 3)) || (result === 'success' && this.resultRun < (this.spec.successThreshold ?? 1))) {
      return true;
    }
    this.manager.set(this.podUid, this.container.name, this.type, id, result);
    if (result === 'failure' && this.type !== 'readiness') {
      // The container is restarted; probe again only once a new one runs.
      this.onHold = true;
      this.resultRun = 0;
    }
    return true;
  }
}

/**
 * The node agent's probe manager (upstream prober.Manager): workers for the
 * probes of each pod's app containers and sidecars, and the cached results
 * the pod status and the pod workers read.
 */
export class ProbeManager {
  private readonly workers = new Map<string, ProbeWorker>();
  private readonly results: Record<ProbeType, Map<string, ProbeResult>> = { liveness: new Map(), readiness: new Map(), startup: new Map() };

  constructor(private readonly cfg: ProbeManagerConfig) {}

  /** The event recorder of probe events. */
  get recorder(): EventRecorder {
    return this.cfg.recorder;
  }

  /** The clock. */
  now(): Date {
    return this.cfg.now();
  }

  /** Logs a probe problem. */
  log(msg: string): void {
    this.cfg.log(msg);
  }

  /** The state of a container, for its workers. */
  target(podUid: string, container: string): ProbeTarget | undefined {
    return this.cfg.target(podUid, container);
  }

  /** upstream AddPod: starts workers for the probes of the pod's containers and restartable init containers. */
  addPod(pod: any): void {
    const uid = pod.metadata.uid;
    const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c: any) => c.restartPolicy === 'Always')];
    for (const c of containers) {
      for (const [type, spec] of [
        ['startup', c.startupProbe],
        ['readiness', c.readinessProbe],
        ['liveness', c.livenessProbe],
      ] as const) {
        if (!spec) continue;
        const key = workerKey(uid, c.name, type);
        if (this.workers.has(key)) continue;
        const w = new ProbeWorker(this, uid, c, type, spec);
        this.workers.set(key, w);
        w.start();
      }
    }
  }

  /** upstream RemovePod: stops the pod's workers and forgets their results. */
  removePod(podUid: string): void {
    for (const [key, w] of this.workers) {
      if (w.podUid !== podUid) continue;
      w.stop();
      this.workers.delete(key);
    }
  }

  /** Stops every worker. */
  stop(): void {
    for (const w of this.workers.values()) w.stop();
    this.workers.clear();
  }

  /** Called by a worker that stopped on its own. */
  workerDone(w: ProbeWorker): void {
    const key = workerKey(w.podUid, w.container.name, w.type);
    if (this.workers.get(key) === w) this.workers.delete(key);
    w.stop();
  }

  /** Whether a pod container has a worker of this type. */
  hasProbe(podUid: string, container: string, type: ProbeType): boolean {
    return this.workers.has(workerKey(podUid, container, type));
  }

  /** The cached result of a container (by container ID), if any. */
  result(type: ProbeType, containerID: string): ProbeResult | undefined {
    return this.results[type].get(containerID);
  }

  /** Caches a result; reports a change. */
  set(podUid: string, container: string, type: ProbeType, containerID: string, result: ProbeResult): void {
    if (this.results[type].get(containerID) === result) return;
    this.results[type].set(containerID, result);
    this.cfg.onResult(podUid, container, type, result);
  }

  /** Forgets a container's result. */
  remove(type: ProbeType, containerID: string): void {
    this.results[type].delete(containerID);
  }

  /** upstream isContainerStarted for a running container: its startup probe passed, or it has none. */
  isStarted(podUid: string, container: string, containerID: string): boolean {
    const r = this.results.startup.get(containerID);
    if (r !== undefined) return r === 'success';
    return !this.hasProbe(podUid, container, 'startup');
  }

  /**
   * upstream UpdatePodStatus for a started, running container: ready when
   * its readiness probe last succeeded or it has none; a readiness worker
   * without a success is asked to probe now.
   */
  isReady(podUid: string, container: string, containerID: string): boolean {
    if (this.results.readiness.get(containerID) === 'success') return true;
    const w = this.workers.get(workerKey(podUid, container, 'readiness'));
    if (!w) return true;
    w.trigger();
    return false;
  }
}

function workerKey(podUid: string, container: string, type: ProbeType): string {
  return `${podUid}\u0000${container}\u0000${type}`;
}
