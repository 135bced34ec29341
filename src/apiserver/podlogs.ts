/**
 * The `pods/log` subresource (upstream pkg/registry/core/pod/rest/log.go and
 * pod.LogLocation): picks the container, then streams the answer of the
 * node's kubelet (`https://<InternalIP>:<daemonEndpoints port>/containerLogs/…`)
 * to the client, verifying the kubelet against the cluster CA and presenting
 * the API server's client certificate.
 *
 * Kite's addition: the logs of a deleted training pod stay on its node for a
 * while (kubelet/logs.ts RetainedLogs). For a pod the store no longer has,
 * the Ready nodes are asked, all at once, whether they keep it
 * (`/retainedPods/<ns>/<pod>` on their streaming server); the pod object the
 * node kept stands in for the deleted one and its logs are read as usual.
 * Asking the nodes, rather than recording kept pods in the API, leaves no
 * state to go stale: the node that removes the logs is the one answering.
 */
import { request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../api/errors.js';
import { HOLLOW_ANNOTATION } from '../kubelet/hollow.js';
import type { Store } from './registry/store.js';

/** How the API server reaches kubelets. */
export interface KubeletClientConfig {
  nodes: Store;
  /** CA that signed the kubelets' serving certificates, and the API server's client certificate. */
  tls: { ca: string; cert: string; key: string };
}

/** The PodLogOptions a kubelet understands, passed through as given. */
const LOG_PARAMS = ['follow', 'previous', 'timestamps', 'tailLines', 'limitBytes', 'sinceSeconds', 'sinceTime'];

/** upstream ValidateContainer: the named container, or the only one; otherwise BadRequest listing the choices. */
export function logContainer(pod: any, requested: string): string {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])].map((c: any) => c.name as string);
  const name = pod.metadata?.name;
  if (!requested) {
    const regular = pod.spec?.containers ?? [];
    if (regular.length === 1) return regular[0].name;
    if (regular.length === 0) throw errors.badRequest(`a container name must be specified for pod ${name}`);
    throw errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${all.join(' ')}]`);
  }
  if (!all.includes(requested)) throw errors.badRequest(`container ${requested} is not valid for pod ${name}`);
  return requested;
}

/** Serves GET pods/<name>/log by proxying to the pod's kubelet. */
export async function proxyPodLog(req: IncomingMessage, res: ServerResponse, pod: any, query: URLSearchParams, kubelet: KubeletClientConfig | undefined): Promise<void> {
  const container = logContainer(pod, query.get('container') ?? '');
  const nodeName = pod.spec?.nodeName;
  // upstream: a pod not yet on a node has no logs; the answer is empty.
  if (!nodeName) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end();
    return;
  }
  if (!kubelet) throw errors.internal(new Error('no kubelet client configured'));
  const node = await kubelet.nodes.get('', nodeName);
  const { address, port } = kubeletEndpoint(node);
  if (!address || !port) throw errors.internal(new Error(`node "${nodeName}" has no kubelet address`));
  const params = new URLSearchParams();
  for (const k of LOG_PARAMS) {
    const v = query.get(k);
    if (v !== null) params.set(k, v);
  }
  const host = address.includes(':') ? `[${address}]` : address;
  const path = `/containerLogs/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/${encodeURIComponent(container)}?${params}`;
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const r = request({ host: address, hostname: address, port, path, method: 'GET', ca: kubelet.tls.ca, cert: kubelet.tls.cert, key: kubelet.tls.key }, resolve);
    r.on('error', (e) => reject(errors.internal(new Error(`Get "https://${host}:${port}${path}": ${e.message}`))));
    req.on('close', () => r.destroy());
    r.end();
  });
  const code = upstream.statusCode ?? 500;
  if (code < 200 || code > 206) {
    // upstream GenericHttpResponseChecker: the kubelet's text becomes the error message.
    const chunks: Buffer[] = [];
    for await (const c of upstream) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8').slice(0, 1024);
    if (code === 400) throw errors.badRequest(text);
    if (code === 500) throw errors.internal(new Error(text));
    if (code === 404) throw new ApiError('NotFound', text, { name: pod.metadata.name, kind: 'pods/log' });
    throw new ApiError('InternalError', text, undefined, code);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  upstream.pipe(res);
  await new Promise<void>((resolve) => {
    upstream.on('end', resolve);
    upstream.on('error', () => resolve());
    res.on('close', () => {
      upstream.destroy();
      resolve();
    });
  });
}

/** Where a node's kubelet serves (its InternalIP, else its first address, and daemonEndpoints port). */
function kubeletEndpoint(node: any): { address?: string; port?: number } {
  const address = node.status?.addresses?.find((a: any) => a.type === 'InternalIP')?.address ?? node.status?.addresses?.[0]?.address;
  return { address, port: node.status?.daemonEndpoints?.kubeletEndpoint?.Port };
}

/** How long one node may take to say whether it keeps a pod's logs. */
const RETAINED_LOOKUP_MS = 5000;

/** Asks one kubelet for the pod whose logs it keeps; undefined when it keeps none (or cannot be reached). */
function askRetained(node: any, kubelet: KubeletClientConfig, namespace: string, name: string, signal: AbortSignal): Promise<any> {
  const { address, port } = kubeletEndpoint(node);
  if (!address || !port) return Promise.resolve(undefined);
  const path = `/retainedPods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  return new Promise((resolve) => {
    const r = request({ host: address, hostname: address, port, path, method: 'GET', ca: kubelet.tls.ca, cert: kubelet.tls.cert, key: kubelet.tls.key, timeout: RETAINED_LOOKUP_MS, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve(undefined));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const pod = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          // Only an answer about this very pod counts.
          resolve(pod?.metadata?.namespace === namespace && pod?.metadata?.name === name ? pod : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    r.on('timeout', () => r.destroy());
    r.on('error', () => resolve(undefined));
    r.end();
  });
}

/** Nodes worth asking: Ready, with a kubelet endpoint, and real (simulated nodes run no kubelet). */
function askableNodes(nodes: readonly any[]): any[] {
  return nodes.filter(
    (n) =>
      n.metadata?.annotations?.[HOLLOW_ANNOTATION] !== 'true' &&
      n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') &&
      kubeletEndpoint(n).port,
  );
}

/** The pod a node keeps the logs of, after its deletion (see the module comment); undefined when no node does. */
export async function findRetainedPod(kubelet: KubeletClientConfig, namespace: string, name: string): Promise<any> {
  const nodes = askableNodes((await kubelet.nodes.list('', {})).items);
  if (!nodes.length) return undefined;
  const abort = new AbortController();
  try {
    // The first node to say yes wins; the others' answers are not waited for.
    return await new Promise<any>((resolve) => {
      let left = nodes.length;
      for (const n of nodes) {
        void askRetained(n, kubelet, namespace, name, abort.signal).then((pod) => {
          if (pod) resolve(pod);
          else if (--left === 0) resolve(undefined);
        });
      }
    });
  } finally {
    abort.abort();
  }
}

/**
 * The pod for a log request: from the store, or when the store has none, the
 * one a node keeps the logs of; otherwise the store's NotFound as it was.
 */
export async function podForLogs(pods: Store, namespace: string, name: string, kubelet: KubeletClientConfig | undefined): Promise<any> {
  try {
    return await pods.get(namespace, name);
  } catch (e) {
    if (!(e instanceof ApiError) || e.reason !== 'NotFound' || !kubelet) throw e;
    const kept = await findRetainedPod(kubelet, namespace, name).catch(() => undefined);
    if (!kept) throw e;
    return kept;
  }
}

/**
 * Whether a GET of a pod is kubectl logs looking it up before it reads the
 * logs (kubectl sends the command it runs in the Kubectl-Command header,
 * KEP-859). kubectl cannot ask for logs without getting the pod first, so
 * such a GET of a deleted pod whose logs are kept answers with the kept pod;
 * every other GET of it stays NotFound.
 */
export function isKubectlLogs(req: IncomingMessage): boolean {
  return String(req.headers['kubectl-command'] ?? '') === 'kubectl logs';
}
