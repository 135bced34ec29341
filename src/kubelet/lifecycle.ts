/**
 * Container lifecycle hooks (upstream pkg/kubelet/lifecycle/handlers.go):
 * runs a postStart or preStop handler — exec in the container, an HTTP GET
 * (status codes are not checked, as upstream; an HTTPS hook that meets an
 * HTTP server is retried over HTTP), or a sleep — and words a failure as
 * kubelet does.
 */
import { joinHostPort } from '../apiserver/printers/format.js';
import type { EventRecorder } from '../client/events.js';
import { formatPod, goList, goQuote } from './format.js';
import { httpGet, httpGetRequest, type CommandResult, type HttpGetRequest } from './probes.js';

/** What a hook runs against. */
export interface HookEnv {
  pod: any;
  container: any;
  podIP: string;
  /** Runs a command in the container to completion (hooks have no timeout of their own). */
  exec(argv: string[]): Promise<CommandResult>;
  /** Aborted when the container is gone: a sleep or HTTP hook stops then. */
  signal?: AbortSignal;
  recorder: EventRecorder;
}

/** How a hook ended: `error` set when it failed, `message` the text kubelet keeps (the waiting message of PostStartHookError). */
export interface HookResult {
  error?: Error;
  message: string;
}

/** upstream handlerRunner.Run: runs one LifecycleHandler. */
export async function runLifecycleHandler(handler: any, env: HookEnv): Promise<HookResult> {
  const name = goQuote(String(env.container.name));
  const pod = goQuote(formatPod(env.pod));
  if (handler?.exec) {
    const argv: string[] = (handler.exec.command ?? []).map(String);
    let output = '';
    let error: Error | undefined;
    try {
      const r = await env.exec(argv);
      output = Buffer.concat([r.stdout, r.stderr]).toString('utf8');
      // What the runtime's ExecSync reports for a non-zero exit (utilexec.CodeExitError).
      if (r.exitCode !== 0) error = new Error(`command '${argv.join(' ')}' exited with ${r.exitCode}: ${r.stderr.toString('utf8')}`);
    } catch (e) {
      error = e as Error;
    }
    if (!error) return { message: '' };
    return { error, message: `Exec lifecycle hook (${goList(argv)}) for Container ${name} in Pod ${pod} failed - error: ${error.message}, message: ${goQuote(output)}` };
  }
  if (handler?.httpGet) {
    const error = await runHttpHook(handler.httpGet, env);
    if (!error) return { message: '' };
    return { error, message: `HTTP lifecycle hook (${handler.httpGet.path ?? ''}) for Container ${name} in Pod ${pod} failed - error: ${error.message}` };
  }
  if (handler?.sleep) {
    const seconds = Number(handler.sleep.seconds ?? 0);
    const error = await sleepHook(seconds, env.signal);
    if (!error) return { message: '' };
    return { error, message: `Sleep lifecycle hook (${seconds}) for Container ${name} in Pod ${pod} failed - error: ${error.message}` };
  }
  const error = new Error(`invalid handler: ${JSON.stringify(handler ?? null)}`);
  return { error, message: `Cannot run handler: ${error.message}` };
}

/** upstream runHTTPHandler: the GET with kubelet's plain client (no timeout, redirects followed, certificates checked). */
async function runHttpHook(action: any, env: HookEnv): Promise<Error | undefined> {
  let req: HttpGetRequest;
  try {
    req = httpGetRequest(action, env.container, env.podIP, 'lifecycle');
  } catch (e) {
    return e as Error;
  }
  try {
    await httpGet(req, { timeoutMs: 0, followOtherHosts: true, verifyTls: true, signal: env.signal });
    return undefined;
  } catch (e) {
    if (req.scheme !== 'https' || !(e as Error).message.includes('server gave HTTP response to HTTPS client')) return e as Error;
    // upstream: an HTTPS hook answered in plain HTTP is retried over HTTP (without Authorization), with a warning event.
    const plain: HttpGetRequest = { ...req, scheme: 'http', headers: req.headers.filter(([k]) => k !== 'Authorization') };
    try {
      await httpGet(plain, { timeoutMs: 0, followOtherHosts: true, verifyTls: true, signal: env.signal });
    } catch {
      return e as Error;
    }
    void env.recorder.event(env.pod, 'Warning', 'LifecycleHTTPFallback', `request to HTTPS lifecycle hook ${joinHostPort(req.host, req.port)} got HTTP response, retry with HTTP succeeded`);
    return undefined;
  }
}

/** upstream runSleepHandler: waits, unless the container goes first. */
function sleepHook(seconds: number, signal: AbortSignal | undefined): Promise<Error | undefined> {
  const gone = () => new Error('container terminated before sleep hook finished');
  if (signal?.aborted) return Promise.resolve(gone());
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(gone());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, seconds * 1000);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
