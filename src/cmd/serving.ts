/**
 * The serving half of `kite up --demo`: the model the training Job saved is
 * served by the example model server (examples/ml-serving) behind a Service,
 * an Ingress and an autoscaler, and one prediction is made through the
 * Ingress, as a user outside the cluster would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { HttpClient } from '../client/http.js';
import { R, type ResourceRef } from '../client/client.js';
import { DEMO_PYTHON, apply, demoDir, until } from './demo.js';

/** Kinds in examples/ml-serving (its load/ subfolder is applied by hand). */
const REFS: Record<string, ResourceRef> = {
  ConfigMap: R.configmaps,
  Deployment: R.deployments,
  Service: R.services,
  Ingress: R.ingresses,
  HorizontalPodAutoscaler: { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers' },
};

/** What the serving demo needs. */
export interface ServingDemoOptions {
  kubeconfig: string;
  /** Where the node's Ingress controller answers, e.g. `http://127.0.0.1:80`. */
  ingressUrl: string;
  /** The example's folder (default: examples/ml-serving of this package). */
  dir?: string;
  namespace?: string;
  write?: (text: string) => void;
  stepTimeoutMs?: number;
}

/** What the serving demo measured. */
export interface ServingDemoResult {
  /** Predicted and true labels of the held-out digits sent through the Ingress. */
  predictions: number[];
  labels: number[];
  /** The pod that answered. */
  servedBy: string;
}

/** The example's objects, in file order. */
export function loadServingManifests(dir: string): any[] {
  const objs = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS()))
    .filter((o) => o && typeof o === 'object');
  for (const o of objs) if (!REFS[o.kind]) throw new Error(`${dir}: unexpected kind ${o.kind} in the serving example`);
  return objs;
}

/**
 * A few digits the model never saw in training (the train Job's held-out
 * split, recomputed with its seed by the same Python).
 */
export function heldOutDigits(count: number): { instances: number[][]; labels: number[] } {
  const script = [
    'import json',
    'from sklearn.datasets import load_digits',
    'from sklearn.model_selection import train_test_split',
    'd = load_digits()',
    '_, X, _, y = train_test_split(d.data, d.target, test_size=0.25, random_state=42, stratify=d.target)',
    `print(json.dumps({"instances": X[:${count}].tolist(), "labels": y[:${count}].tolist()}))`,
  ].join('\n');
  const r = spawnSync(DEMO_PYTHON, ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`cannot compute held-out digits with ${DEMO_PYTHON}: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout);
}

/** POSTs JSON and resolves with the status and parsed body. */
export function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': data.length }, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: any = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* plain text (e.g. the Ingress controller's 404/503) */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Deploys the model server and makes a prediction through the Ingress. */
export async function runServingDemo(opts: ServingDemoOptions): Promise<ServingDemoResult> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const ns = opts.namespace ?? 'default';
  const timeoutMs = opts.stepTimeoutMs ?? 300_000;
  const dir = opts.dir ?? join(dirname(demoDir()), 'ml-serving');
  if (!existsSync(dir)) throw new Error(`${dir} not found beside this kite installation`);
  const objs = loadServingManifests(dir);
  const client = HttpClient.fromKubeconfig(opts.kubeconfig, undefined, { fieldManager: 'kite-demo', userAgent: 'kite-demo' });
  const since = (t: number) => ((Date.now() - t) / 1000).toFixed(1);
  try {
    let t = Date.now();
    write('[5/6] serving the model (Deployment, Service, Ingress, autoscaler)… ');
    for (const o of objs) await apply(client, ns, o, REFS[o.kind]);
    const deployment = objs.find((o) => o.kind === 'Deployment');
    await until(client, R.deployments, ns, { name: deployment.metadata.name }, timeoutMs, `deployment/${deployment.metadata.name} to have a ready replica (its readiness probe passes once the model is loaded)`, ([d]) =>
      (d?.status?.readyReplicas ?? 0) >= 1 ? true : undefined,
    );
    write(`ready (${since(t)} s)\n`);

    t = Date.now();
    const model = deployment.spec.template.spec.containers[0].env?.find((e: any) => e.name === 'MODEL_NAME')?.value ?? 'digits';
    const url = `${opts.ingressUrl}/v1/models/${model}:predict`;
    write(`[6/6] predicting through the Ingress: POST ${url}… `);
    const { instances, labels } = heldOutDigits(5);
    // The Ingress controller learns of the ready endpoint through its informers: give it a moment.
    let answer: { status: number; body: any } | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      answer = await postJson(url, { instances });
      if (answer.status === 200 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (answer.status !== 200) throw new Error(`the model server answered ${answer.status}: ${typeof answer.body === 'string' ? answer.body.trim() : JSON.stringify(answer.body)}`);
    const predictions: number[] = answer.body.predictions;
    const right = predictions.filter((p, i) => p === labels[i]).length;
    write(`${right}/${labels.length} right (${since(t)} s)\n`);
    write(`      predicted ${JSON.stringify(predictions)}, true ${JSON.stringify(labels)}, answered by pod ${answer.body.served_by}\n`);
    return { predictions, labels, servedBy: answer.body.served_by };
  } finally {
    client.close();
  }
}
