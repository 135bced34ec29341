/**
 * Joining nodes (`kite agent`), in the manner of k3s's supervisor endpoints
 * but under Kite's own prefix `/kite/v1/`, which no Kubernetes URL uses:
 *  - `GET /kite/v1/cacerts` answers the cluster CA (public, like k3s's
 *    /cacerts), so an agent can check it against the hash in its token
 *    before it sends the secret;
 *  - `POST /kite/v1/join` with `Authorization: Bearer <secret>` answers the
 *    node's credentials: a client certificate for `system:node:<name>` in
 *    group `system:nodes`, the serving certificate of its kubelet streaming
 *    server (so logs/exec/port-forward through the API server verify the
 *    kubelet), both signed by the cluster CA, and the cluster's network
 *    settings the node needs.
 * The node's API rights come from the `system:node` ClusterRole bound to the
 * `system:nodes` group (ensureNodeRbac).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { ApiError, errors, field, type FieldError } from '../api/errors.js';
import { isDNS1123Subdomain } from '../api/names.js';
import { isStatus, type Client, type ResourceRef } from '../client/client.js';
import { issueCert, type CertKey } from './auth/certs.js';
import { readBody, sendError, sendJson } from './http.js';
import { parseJoinToken, secretsEqual } from './jointoken.js';

/** URL of the cluster CA. */
export const CACERTS_PATH = '/kite/v1/cacerts';
/** URL a node posts its join request to. */
export const JOIN_PATH = '/kite/v1/join';

/** The cluster's network settings a joining node takes over (it cannot know them otherwise). */
export interface ClusterNetwork {
  /** Range of Service cluster IPs (the proxy's). */
  serviceCidr: string;
  /** Range the nodes' pod CIDRs come from. */
  clusterCidr: string;
  /** Nameservers of ClusterFirst pods. */
  clusterDns: string[];
  clusterDomain: string;
}

/** What a node asks for. */
export interface JoinRequest {
  nodeName: string;
  /** Addresses the node's kubelet serves on (its InternalIP first); they go into its serving certificate. */
  addresses: string[];
}

/** The answer to a join: PEM material and the cluster's settings. */
export interface NodeCredentials {
  apiVersion: 'kite.io/v1';
  kind: 'NodeCredentials';
  nodeName: string;
  /** The cluster CA the API server's certificate chains to. */
  ca: string;
  /** Client certificate for `system:node:<name>` (group system:nodes). */
  client: CertKey;
  /** Serving certificate of the node's kubelet. */
  serving: CertKey;
  cluster: ClusterNetwork;
}

/** Configuration of the join endpoint. */
export interface NodeJoinConfig {
  ca: CertKey;
  /** The server's node join token (full or bare form). */
  token: string;
  cluster: ClusterNetwork;
  log: (msg: string) => void;
}

/** Serves the join endpoints; the API server routes `/kite/v1/` here before authentication. */
export class NodeJoinHandler {
  private readonly secret: string;

  constructor(private readonly config: NodeJoinConfig) {
    const parsed = parseJoinToken(config.token);
    if (!parsed) throw new Error('the node join token is malformed');
    this.secret = parsed.secret;
  }

  /** True for the paths this handler serves. */
  handles(path: string): boolean {
    return path === CACERTS_PATH || path === JOIN_PATH;
  }

  /** Serves one request; errors become Status answers. */
  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      if (path === CACERTS_PATH) {
        if (req.method !== 'GET') throw methodNotAllowed(req.method, path);
        res.writeHead(200, { 'Content-Type': 'application/x-pem-file', 'Content-Length': Buffer.byteLength(this.config.ca.cert) });
        res.end(this.config.ca.cert);
        return;
      }
      if (req.method !== 'POST') throw methodNotAllowed(req.method, path);
      this.authenticate(req);
      const join = parseJoinRequest(await readBody(req, 64 * 1024));
      sendJson(res, 200, await this.credentials(join));
      this.config.log(`node ${join.nodeName} joined (client certificate system:node:${join.nodeName})`);
    } catch (e) {
      sendError(res, e);
    }
  }

  private authenticate(req: IncomingMessage): void {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!given || !secretsEqual(given, this.secret)) {
      // upstream's 401 carries a WWW-Authenticate challenge; the message says what to do, the secret stays unnamed.
      throw new ApiError('Unauthorized', 'invalid node join token: use the token that "kite token" prints on the server');
    }
  }

  private async credentials(join: JoinRequest): Promise<NodeCredentials> {
    const { ca } = this.config;
    const name = join.nodeName;
    const client = await issueCert(ca, { commonName: `system:node:${name}`, organizations: ['system:nodes'], usage: 'client' });
    const ips = [...new Set([...join.addresses, '127.0.0.1'])];
    const serving = await issueCert(ca, { commonName: `system:node:${name}`, usage: 'server', ips, dnsNames: [name, 'localhost'] });
    return { apiVersion: 'kite.io/v1', kind: 'NodeCredentials', nodeName: name, ca: ca.cert, client, serving, cluster: this.config.cluster };
  }
}

function methodNotAllowed(method: string | undefined, path: string): ApiError {
  return new ApiError('MethodNotAllowed', `the server does not allow ${method ?? ''} on ${path}`);
}

/** Parses and checks a join request body; a bad one is 400 (not JSON) or 422 with field causes. */
export function parseJoinRequest(body: Buffer): JoinRequest {
  let obj: any;
  try {
    obj = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw errors.badRequest(`the join request is not JSON: ${(e as Error).message}`);
  }
  const errs: FieldError[] = [];
  const name = obj?.nodeName;
  if (typeof name !== 'string' || !name) errs.push(field.required('nodeName'));
  else for (const msg of isDNS1123Subdomain(name)) errs.push(field.invalid('nodeName', name, msg));
  const addresses = obj?.addresses ?? [];
  if (!Array.isArray(addresses)) errs.push(field.invalid('addresses', addresses, 'must be a list of IP addresses'));
  else addresses.forEach((a: unknown, i: number) => {
    if (typeof a !== 'string' || !isIP(a)) errs.push(field.invalid(`addresses[${i}]`, a, 'must be a valid IP address'));
  });
  if (errs.length) throw errors.invalid('kite.io', 'NodeJoin', typeof name === 'string' ? name : '', errs);
  return { nodeName: name, addresses };
}

/** A rule of an RBAC role. */
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const READ = ['get', 'list', 'watch'];
const CLUSTER_ROLES: ResourceRef = { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles' };
const CLUSTER_ROLE_BINDINGS: ResourceRef = { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings' };

/**
 * What a node's components (kubelet, service proxy, cluster DNS, Ingress
 * controller, route syncer) do through the API: upstream's NodeRules plus
 * system:node-proxier's, and the writes Kite's node DNS and Ingress
 * controller make.
 */
export const NODE_RULES: readonly Rule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: [...READ, 'create', 'update', 'patch'] },
  { apiGroups: [''], resources: ['nodes/status'], verbs: ['update', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: [...READ, 'create', 'delete', 'patch'] },
  { apiGroups: [''], resources: ['pods/status'], verbs: ['update', 'patch'] },
  { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'update', 'patch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch', 'delete'] },
  // Only what pods on the node name, one by one: without upstream's Node authorizer, no listing of every secret.
  { apiGroups: [''], resources: ['configmaps', 'secrets', 'persistentvolumeclaims', 'persistentvolumes', 'serviceaccounts'], verbs: ['get'] },
  { apiGroups: [''], resources: ['namespaces'], verbs: READ },
  { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
  { apiGroups: [''], resources: ['persistentvolumeclaims/status'], verbs: ['update', 'patch'] },
  { apiGroups: [''], resources: ['services'], verbs: READ },
  { apiGroups: [''], resources: ['endpoints'], verbs: [...READ, 'create', 'update'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: [...READ, 'create', 'update', 'delete'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses'], verbs: READ },
  { apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: ['create'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update', 'patch'] },
  { apiGroups: ['storage.k8s.io'], resources: ['csinodes', 'csidrivers', 'volumeattachments'], verbs: READ },
  { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: READ },
];

/**
 * Creates (or brings up to date) the `system:node` ClusterRole and its binding
 * to the `system:nodes` group — upstream's arrangement before the Node
 * authorizer existed, which Kite keeps: joined nodes authenticate as
 * `system:node:<name>` in that group.
 */
export async function ensureNodeRbac(client: Client): Promise<void> {
  const meta = { labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } };
  const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:node', ...meta }, rules: NODE_RULES };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'system:node', ...meta },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:nodes' }],
  };
  await createOrUpdate(client, CLUSTER_ROLES, role, (cur) => ({ ...cur, rules: role.rules }));
  await createOrUpdate(client, CLUSTER_ROLE_BINDINGS, binding, (cur) => ({ ...cur, roleRef: binding.roleRef, subjects: binding.subjects }));
}

async function createOrUpdate(client: Client, ref: ResourceRef, obj: any, merge: (cur: any) => any): Promise<void> {
  try {
    await client.create(ref, '', obj);
  } catch (e) {
    if (!isStatus(e, 409)) throw e;
    const cur = await client.get(ref, '', obj.metadata.name);
    // upstream's reconciliation of rbac-defaults: autoupdate roles are brought back to the defaults on start.
    if (cur.metadata?.annotations?.['rbac.authorization.kubernetes.io/autoupdate'] === 'false') return;
    await client.update(ref, '', merge(cur));
  }
}
