/** Writing kubeconfig files that point kubectl and client libraries at a Kite cluster. */
import { writeFileSync, mkdirSync, readFileSync, existsSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import YAML from 'yaml';

/** What a kubeconfig for one cluster/user pair contains. */
export interface KubeconfigSpec {
  server: string;
  caPem: string;
  clusterName: string;
  userName: string;
  contextName: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig document (as a plain object) for one cluster, user and context. */
export function kubeconfigObject(spec: KubeconfigSpec): Record<string, unknown> {
  const user: Record<string, string> = {};
  if (spec.clientCertPem) user['client-certificate-data'] = b64(spec.clientCertPem);
  if (spec.clientKeyPem) user['client-key-data'] = b64(spec.clientKeyPem);
  if (spec.token) user.token = spec.token;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.clusterName, cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPem) } }],
    users: [{ name: spec.userName, user }],
    contexts: [{ name: spec.contextName, context: { cluster: spec.clusterName, user: spec.userName } }],
    'current-context': spec.contextName,
    preferences: {},
  };
}

/** Writes a kubeconfig atomically with owner-only permissions. */
export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, YAML.stringify(kubeconfigObject(spec)), { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * Merges one cluster/user/context into an existing kubeconfig (replacing
 * entries of the same names) and makes it the current context.
 */
export function mergeKubeconfig(path: string, spec: KubeconfigSpec): void {
  const add = kubeconfigObject(spec) as { clusters: { name: string }[]; users: { name: string }[]; contexts: { name: string }[] };
  const cur = existsSync(path) ? ((YAML.parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const merge = (key: 'clusters' | 'users' | 'contexts') => {
    const list = (Array.isArray(cur[key]) ? (cur[key] as { name: string }[]) : []).filter((e) => e.name !== add[key][0].name);
    return [...list, add[key][0]];
  };
  const out = {
    apiVersion: 'v1',
    kind: 'Config',
    ...cur,
    clusters: merge('clusters'),
    users: merge('users'),
    contexts: merge('contexts'),
    'current-context': spec.contextName,
  };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, YAML.stringify(out), { mode: 0o600 });
  renameSync(tmp, path);
}
