/**
 * The `pods/log` subresource (upstream pkg/registry/core/pod/rest/log.go and
 * pod.LogLocation): picks the container, then streams the answer of the
 * node's kubelet (`https://<InternalIP>:<daemonEndpoints port>/containerLogs/…`)
 * to the client, verifying the kubelet against the cluster CA and presenting
 * the API server's client certificate.
 */
import { request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../api/errors.js';
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
  const address = node.status?.addresses?.find((a: any) => a.type === 'InternalIP')?.address ?? node.status?.addresses?.[0]?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
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
