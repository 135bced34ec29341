/**
 * `kite up --demo` (what `npm start` runs): the ML example in examples/ml-demo
 * run against the freshly started cluster through the API, one numbered step
 * per line — the model volume, the training Job (its logs streamed as it
 * trains), the batch-inference Job — ending with the metrics.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { HttpClient, resourcePath, responseError } from '../client/http.js';
import { R, isStatus, type Client, type ResourceRef } from '../client/client.js';
import { log } from './server.js';
import { runServingDemo } from './serving.js';

/** The Python the demo's pods run: the process runtime runs host programs, and Debian's python3-sklearn installs for this one. */
export const DEMO_PYTHON = '/usr/bin/python3';

/** What the demo needs to know. */
export interface DemoOptions {
  /** Kubeconfig of the cluster (its current context is used). */
  kubeconfig: string;
  /** The example's folder (default: examples/ml-demo of this package). */
  dir?: string;
  /** Namespace the example runs in (default `default`, where the README's kubectl commands look). */
  namespace?: string;
  /** Where progress text goes (default: stdout). */
  write?: (text: string) => void;
  /** How long one step may take (default 5 minutes). */
  stepTimeoutMs?: number;
}

/** The demo's measurements. */
export interface DemoResult {
  /** Seconds from creating the train Job to its completion. */
  trainSeconds: number;
  trainAccuracy: number;
  /** Accuracy of batch inference on the held-out test split. */
  accuracy: number;
  /** Seconds the whole demo took. */
  seconds: number;
}

/** Resources of the kinds the example contains. */
const REFS: Record<string, ResourceRef> = {
  ConfigMap: R.configmaps,
  PersistentVolumeClaim: R.persistentvolumeclaims,
  Job: R.jobs,
};

const FIELD_MANAGER = 'kite-demo';
/** The annotation where `kubectl apply` keeps the manifest it last applied. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The example's folder shipped with this package (found upwards from this file: src/cmd or dist/src/cmd). */
export function demoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'examples', 'ml-demo');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('examples/ml-demo not found beside this kite installation');
}

/** Why the host cannot run the demo's Python (no python3 or no scikit-learn), with how to fix it; undefined when it can. */
export function checkScikitLearn(python = DEMO_PYTHON): string | undefined {
  const fix = 'install it with "apt-get install -y python3-sklearn" (npm test\'s host-packages step installs it too)';
  if (!existsSync(python)) return `the demo runs ${python}, which does not exist: ${fix}`;
  const r = spawnSync(python, ['-c', 'import sklearn'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return `scikit-learn is not installed for ${python} (${lastLine(r.stderr) || r.error?.message || 'import sklearn failed'}): ${fix}`;
  return undefined;
}

/** The value of the last `<name>: <number>` line of a log (e.g. `accuracy: 0.967`), if any. */
export function metricFrom(logText: string, name: string): number | undefined {
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\s*([0-9]*\\.?[0-9]+)\\s*$`, 'gm');
  let value: number | undefined;
  for (const m of logText.matchAll(re)) value = Number(m[1]);
  return value;
}

/** The example's objects: the folder's manifests (volume, scripts, train Job) and those of its predict/ subfolder. */
export function loadDemoManifests(dir: string): { setup: any[]; train: any; predict: any } {
  const read = (d: string) =>
    readdirSync(d)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(d, f), 'utf8')).map((doc) => doc.toJS()))
      .filter((o) => o && typeof o === 'object');
  const top = read(dir);
  const later = read(join(dir, 'predict'));
  for (const o of [...top, ...later]) if (!REFS[o.kind]) throw new Error(`${dir}: unexpected kind ${o.kind} in the demo's manifests`);
  const train = top.find((o) => o.kind === 'Job');
  const predict = later.find((o) => o.kind === 'Job');
  if (!train || !predict) throw new Error(`${dir}: the demo needs a train Job in the folder and a predict Job in predict/`);
  return { setup: top.filter((o) => o !== train), train, predict };
}

/** Runs the demo to its end; rejects with a message that says what went wrong and how to fix it. */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const ns = opts.namespace ?? 'default';
  const timeoutMs = opts.stepTimeoutMs ?? 300_000;
  const problem = checkScikitLearn();
  if (problem) throw new Error(problem);
  const { setup, train, predict } = loadDemoManifests(opts.dir ?? demoDir());
  const client = HttpClient.fromKubeconfig(opts.kubeconfig, undefined, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER });
  const logs = logReader(opts.kubeconfig);
  const started = Date.now();
  const since = (t: number) => ((Date.now() - t) / 1000).toFixed(1);
  try {
    // A second run starts over: finished Jobs do not run again, and their pod templates cannot change.
    for (const job of [predict, train]) await deleteAndWait(client, ns, job.metadata.name, timeoutMs);

    let t = Date.now();
    write('[1/6] creating the model volume… ');
    for (const o of setup) await apply(client, ns, o);
    const claim = setup.find((o) => o.kind === 'PersistentVolumeClaim');
    const pv = claim ? await until(client, R.persistentvolumeclaims, ns, { name: claim.metadata.name }, timeoutMs, `claim ${claim.metadata.name} to be bound`, ([c]) => (c?.status?.phase === 'Bound' ? c.spec.volumeName : undefined)) : '';
    write(`done (claim ${claim?.metadata.name} bound to ${pv}, ${since(t)} s)\n`);

    t = Date.now();
    write('[2/6] starting the training job… ');
    await apply(client, ns, train);
    const trainPod = await startedPod(client, logs, ns, train.metadata.name, timeoutMs);
    write(`done (pod ${trainPod.metadata.name} on node ${trainPod.spec.nodeName}, ${since(t)} s)\n`);

    write(`[3/6] training (logs of job/${train.metadata.name}):\n`);
    let trainLog = '';
    const container = trainPod.spec.containers[0].name;
    const streamed = logs.follow(ns, trainPod.metadata.name, container, (line) => {
      trainLog += `${line}\n`;
      write(`      ${line}\n`);
    });
    await finished(client, logs, ns, train.metadata.name, timeoutMs);
    // The stream ends when the container exits; it is only a display, so a broken one is not waited for.
    await Promise.race([streamed.catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
    const trainSeconds = (Date.now() - t) / 1000;
    const trainAccuracy = metricFrom(trainLog, 'train accuracy') ?? metricFrom(await logs.read(ns, trainPod.metadata.name, container), 'train accuracy');
    if (trainAccuracy === undefined) throw new Error(`job/${train.metadata.name} completed without printing "train accuracy: <n>"`);
    write(`[3/6] training… done in ${trainSeconds.toFixed(1)} s (train accuracy ${trainAccuracy.toFixed(3)})\n`);

    t = Date.now();
    write('[4/6] batch inference… ');
    await apply(client, ns, predict);
    const predictPod = await finished(client, logs, ns, predict.metadata.name, timeoutMs);
    const predictLog = await logs.read(ns, predictPod.metadata.name, predictPod.spec.containers[0].name);
    const accuracy = metricFrom(predictLog, 'accuracy');
    if (accuracy === undefined) throw new Error(`job/${predict.metadata.name} completed without printing "accuracy: <n>":\n${tail(predictLog)}`);
    const scored = /predicted (\d+) held-out digits: (\d+) correct/.exec(predictLog);
    write(`accuracy ${accuracy.toFixed(3)}${scored ? ` (${scored[2]}/${scored[1]} held-out digits right)` : ''}, ${since(t)} s\n`);

    const seconds = (Date.now() - started) / 1000;
    write(
      [
        `ML demo done in ${seconds.toFixed(1)} s: train accuracy ${trainAccuracy.toFixed(3)}, test accuracy ${accuracy.toFixed(3)}; the model is on claim "${claim?.metadata.name}".`,
        `  kubectl logs job/${train.metadata.name}`,
        `  kubectl logs job/${predict.metadata.name}`,
        '',
      ].join('\n'),
    );
    return { trainSeconds, trainAccuracy, accuracy, seconds };
  } finally {
    client.close();
  }
}

/**
 * `kite up --demo`'s step: runs the demo unless the cluster is stopped first
 * (Ctrl-C while it runs). A failed demo is reported and the cluster stays up.
 * Resolves true while the cluster is still up.
 */
export async function upDemo(kubeconfig: string, stopped: Promise<unknown>, ingressUrl?: string): Promise<boolean> {
  let up = true;
  const down = stopped.then(() => (up = false));
  process.stdout.write(
    `Running the ML demo (${join('examples', 'ml-demo')}, ${join('examples', 'ml-serving')}): train a scikit-learn model in a Job, batch inference in another, then serve it behind an Ingress.\n`,
  );
  const serve = async () => {
    if (!ingressUrl) {
      process.stdout.write('[5/6] serving the model… skipped: the Ingress controller is not running (see --ingress-port)\n');
      return;
    }
    await runServingDemo({ kubeconfig, ingressUrl });
  };
  await Promise.race([
    runDemo({ kubeconfig }).then(serve).catch((e) => {
      if (up) {
        process.stdout.write('\n');
        log(`the ML demo failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }),
    down,
  ]);
  return up;
}

/**
 * Applies one object (creating it if missing) with server-side apply. It also
 * records the manifest in kubectl's last-applied annotation, as `kubectl apply`
 * does, so that the README's `kubectl apply -f examples/ml-demo/` after
 * `npm start` updates these objects without a warning.
 */
export async function apply(client: Client, ns: string, obj: any, ref: ResourceRef = REFS[obj.kind]!): Promise<void> {
  const withNs = { ...obj, metadata: { ...obj.metadata, namespace: ns } };
  const annotations = { ...(obj.metadata.annotations ?? {}), [LAST_APPLIED]: `${JSON.stringify(withNs)}\n` };
  const applied = { ...withNs, metadata: { ...withNs.metadata, annotations } };
  await client.patch(ref, ns, obj.metadata.name, 'apply', applied, { fieldManager: FIELD_MANAGER, force: true });
}

/** Deletes a Job of an earlier run (its pods with it) and waits until it is gone. */
async function deleteAndWait(client: Client, ns: string, name: string, timeoutMs: number): Promise<void> {
  try {
    await client.delete(R.jobs, ns, name, { propagationPolicy: 'Background' });
  } catch (e) {
    if (isStatus(e, 404)) return;
    throw e;
  }
  await until(client, R.jobs, ns, { name }, timeoutMs, `job/${name} of an earlier run to be deleted`, (items) => items.length === 0 || undefined);
}

/** The Job's pod once its container has started (or the Job failed: then rejects with why). */
async function startedPod(client: Client, logs: LogReader, ns: string, jobName: string, timeoutMs: number): Promise<any> {
  const job = await client.get(R.jobs, ns, jobName);
  const stop = new AbortController();
  try {
    return await Promise.race([
      until(client, R.pods, ns, { labelSelector: selectorOf(job) }, timeoutMs, `a pod of job/${jobName} to start`, (pods) =>
        pods.find((p) => (p.status?.containerStatuses ?? []).some((s: any) => s.state?.running || s.state?.terminated)), stop.signal),
      finished(client, logs, ns, jobName, timeoutMs, stop.signal),
    ]);
  } finally {
    stop.abort();
  }
}

/** Waits for the Job to complete and returns its succeeded pod; rejects with the Job's reason and its pod's last log lines if it fails. */
async function finished(client: Client, logs: LogReader, ns: string, jobName: string, timeoutMs: number, signal?: AbortSignal): Promise<any> {
  const cond = (j: any, type: string) => (j?.status?.conditions ?? []).find((c: any) => c.type === type && c.status === 'True');
  const job = await until(client, R.jobs, ns, { name: jobName }, timeoutMs, `job/${jobName} to finish`, ([j]) => (cond(j, 'Complete') || cond(j, 'Failed') ? j : undefined), signal);
  const pods = (await client.list(R.pods, ns, { labelSelector: selectorOf(job) })).items;
  const failed = cond(job, 'Failed');
  if (!failed) {
    const pod = pods.find((p) => p.status?.phase === 'Succeeded');
    if (!pod) throw new Error(`job/${jobName} completed but its succeeded pod is gone`);
    return pod;
  }
  throw new Error(await failureReport(logs, ns, jobName, failed, pods));
}

/** Why a Job failed, in words a user can act on: the Job's reason, the container's state, its last log lines. */
async function failureReport(logs: LogReader, ns: string, jobName: string, failed: any, pods: any[]): Promise<string> {
  const lines = [`job/${jobName} failed: ${failed.reason ?? 'Failed'}${failed.message ? `: ${failed.message}` : ''}`];
  const pod = pods.find((p) => p.status?.phase === 'Failed') ?? pods[0];
  if (pod) {
    const st = pod.status?.containerStatuses?.[0]?.state ?? {};
    const why = st.terminated ?? st.waiting;
    if (why) lines.push(`pod ${pod.metadata.name}: ${why.reason ?? ''}${why.exitCode !== undefined ? ` (exit code ${why.exitCode})` : ''}${why.message ? `: ${why.message}` : ''}`);
    const text = await logs.read(ns, pod.metadata.name, pod.spec.containers[0].name).catch(() => '');
    if (text.trim()) lines.push(`last lines of its log:\n${tail(text)}`);
    if (/No module named '(sklearn|numpy|scipy)'/.test(text)) lines.push(checkScikitLearn() ?? 'install scikit-learn with "apt-get install -y python3-sklearn"');
  }
  lines.push(`see: kubectl describe job/${jobName}; kubectl logs job/${jobName}`);
  return lines.join('\n');
}

/**
 * Lists and watches the objects (one by name, or by label selector) until
 * `check` returns a value for them, which it resolves with; `check` throwing
 * rejects. A watch that ends early is resumed from a new list.
 */
export async function until<T>(
  client: Client,
  ref: ResourceRef,
  ns: string,
  sel: { name?: string; labelSelector?: string },
  timeoutMs: number,
  what: string,
  check: (items: any[]) => T | undefined,
  signal?: AbortSignal,
): Promise<T> {
  const opts = { fieldSelector: sel.name ? `metadata.name=${sel.name}` : undefined, labelSelector: sel.labelSelector };
  const deadline = Date.now() + timeoutMs;
  while (!signal?.aborted) {
    const list = await client.list(ref, ns, opts);
    const items = new Map<string, any>(list.items.map((o) => [o.metadata.name, o]));
    const first = check([...items.values()]);
    if (first !== undefined) return first;
    let settle!: (v: { value?: T; error?: unknown; ended?: boolean }) => void;
    const outcome = new Promise<{ value?: T; error?: unknown; ended?: boolean }>((r) => (settle = r));
    const watch = await client.watch(ref, ns, { ...opts, resourceVersion: list.resourceVersion }, (ev) => {
      if (ev.type === 'ERROR') return settle({ ended: true });
      if (ev.type === 'BOOKMARK') return;
      if (ev.type === 'DELETED') items.delete(ev.object.metadata.name);
      else items.set(ev.object.metadata.name, ev.object);
      try {
        const v = check([...items.values()]);
        if (v !== undefined) settle({ value: v });
      } catch (error) {
        settle({ error });
      }
    });
    void watch.done.then(() => settle({ ended: true }));
    const timer = setTimeout(() => settle({ error: new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`) }), Math.max(0, deadline - Date.now()));
    const onAbort = () => settle({ ended: true });
    signal?.addEventListener('abort', onAbort);
    const result = await outcome;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    watch.stop();
    if (result.error) throw result.error;
    if (result.value !== undefined) return result.value;
  }
  throw new Error(`stopped waiting for ${what}`);
}

/** The label selector of a Job's pods (set by the API server on create). */
function selectorOf(job: any): string {
  return Object.entries(job.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function lastLine(text: string | undefined): string {
  return (text ?? '').trim().split('\n').pop() ?? '';
}

function tail(text: string, n = 10): string {
  return text
    .trimEnd()
    .split('\n')
    .slice(-n)
    .map((l) => `  ${l}`)
    .join('\n');
}

/** Reads container logs through the API server (`pods/<name>/log`), whole or followed line by line. */
interface LogReader {
  read(ns: string, pod: string, container: string): Promise<string>;
  follow(ns: string, pod: string, container: string, onLine: (line: string) => void): Promise<void>;
}

/**
 * A LogReader for a kubeconfig's current context. The log subresource answers
 * plain text (a stream with follow=true), which the JSON client does not read,
 * so this opens the request itself with the same credentials.
 */
function logReader(kubeconfig: string): LogReader {
  const kc = YAML.parse(readFileSync(kubeconfig, 'utf8')) ?? {};
  const ctx = (kc.contexts ?? []).find((c: any) => c.name === kc['current-context'])?.context ?? {};
  const cluster = (kc.clusters ?? []).find((c: any) => c.name === ctx.cluster)?.cluster ?? {};
  const user = (kc.users ?? []).find((u: any) => u.name === ctx.user)?.user ?? {};
  const pem = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined);
  const url = new URL(cluster.server);
  const open = (ns: string, pod: string, container: string, follow: boolean) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const query = new URLSearchParams({ container, ...(follow ? { follow: 'true' } : {}) });
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send({
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        path: `${resourcePath(R.pods, ns, pod, 'log')}?${query}`,
        headers: { 'User-Agent': FIELD_MANAGER, ...(user.token ? { Authorization: `Bearer ${user.token}` } : {}) },
        ca: pem(cluster['certificate-authority-data']),
        cert: pem(user['client-certificate-data']),
        key: pem(user['client-key-data']),
      });
      req.once('response', (res) => {
        if ((res.statusCode ?? 0) < 300) return resolve(res);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () => reject(responseError(res.statusCode ?? 0, body)));
      });
      req.once('error', reject);
      req.end();
    });
  return {
    async read(ns, pod, container) {
      const res = await open(ns, pod, container, false);
      res.setEncoding('utf8');
      let text = '';
      for await (const chunk of res) text += chunk;
      return text;
    },
    async follow(ns, pod, container, onLine) {
      const res = await open(ns, pod, container, true);
      res.setEncoding('utf8');
      let buf = '';
      for await (const chunk of res) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
      if (buf) onLine(buf);
    },
  };
}
