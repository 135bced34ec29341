/**
 * A container's environment and argv as kubelet builds them
 * (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables, pkg/kubelet/envvars,
 * third_party/forked/golang/expansion): envFrom, then env in order with
 * `$(VAR)` expansion and valueFrom sources, then the service link variables.
 */
import { parseQuantity, type Quantity } from '../api/quantity.js';
import { R, isStatus, type Client } from '../client/client.js';

/** Thrown when a container's environment cannot be built; kubelet shows it as waiting `CreateContainerConfigError`. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/**
 * Expands `$(VAR)` references with `lookup`; `$$` is an escaped `$`, and
 * references that do not resolve, are unterminated, or are not references
 * are left as written (upstream expansion.Expand).
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== '$' || i + 1 >= input.length) continue;
    out += input.slice(checkpoint, i);
    const next = input[i + 1];
    let advance = 1;
    if (next === '$') out += '$';
    else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) out += '$(';
      else {
        const name = input.slice(i + 2, close);
        const v = lookup(name);
        out += v ?? `$(${name})`;
        advance = close - i;
      }
    } else out += `$${next}`;
    i += advance;
    checkpoint = i + 1;
  }
  return out + input.slice(checkpoint);
}

/** A Service as the service link variables need it. */
interface ServiceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; ports?: { name?: string; port?: number; protocol?: string }[] };
}

/**
 * The Docker-links-style variables of the given services (upstream
 * envvars.FromServices): `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
 * `<NAME>_SERVICE_PORT_<PORTNAME>`, `<NAME>_PORT`, and
 * `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`. Headless services and
 * those without a cluster IP get none.
 */
export function serviceEnv(services: readonly ServiceLike[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const ports = svc.spec?.ports ?? [];
    if (ports.length === 0) continue;
    const name = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(ports[0]!.port);
    for (const p of ports) {
      if (p.name) env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    }
    // IPv6 addresses are bracketed in URLs.
    const host = ip.includes(':') ? `[${ip}]` : ip;
    const first = ports[0]!;
    env[`${name}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${host}:${first.port}`;
    for (const p of ports) {
      const proto = p.protocol ?? 'TCP';
      const prefix = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
      env[prefix] = `${proto.toLowerCase()}://${host}:${p.port}`;
      env[`${prefix}_PROTO`] = proto.toLowerCase();
      env[`${prefix}_PORT`] = String(p.port);
      env[`${prefix}_ADDR`] = ip;
    }
  }
  return env;
}

/** The pod fields a `fieldRef` may name (upstream podFieldSelectorRuntimeValue / fieldpath.ExtractFieldPathAsString). */
export function podFieldValue(pod: any, fieldPath: string, podIPs: readonly string[], hostIP: string): string {
  const md = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (sub) return String(md[sub[1]!]?.[sub[2]!] ?? '');
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return hostIP;
    case 'status.hostIPs':
      return hostIP;
    case 'status.podIP':
      return podIPs[0] ?? '';
    case 'status.podIPs':
      return podIPs.join(',');
  }
  throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
}

/** `key="value"` lines sorted by key, the downward API's form for whole label/annotation maps (upstream FormatMap). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/**
 * The value of a `resourceFieldRef` for a container (upstream
 * ExtractContainerResourceValue): rounded up in units of `divisor`; an unset
 * limit falls back to the node's allocatable, as kubelet does.
 */
export function containerResourceValue(
  ref: { resource: string; divisor?: string | number; containerName?: string },
  container: any,
  allocatable: Record<string, string>,
): string {
  const [kind, name] = ref.resource.split('.', 2) as ['limits' | 'requests', string];
  const divisor = parseQuantity(ref.divisor === undefined || ref.divisor === '' || ref.divisor === '0' ? '1' : ref.divisor);
  const raw = container?.resources?.[kind]?.[name] ?? (kind === 'limits' ? allocatable[name] : undefined) ?? '0';
  const q: Quantity = parseQuantity(raw);
  if (name === 'cpu') return String(Math.ceil(q.milliValue() / divisor.milliValue()));
  if (name === 'memory' || name === 'ephemeral-storage' || name.startsWith('hugepages-')) return String(Math.ceil(q.value() / divisor.value()));
  throw new ContainerConfigError(`unsupported container resource : ${ref.resource}`);
}

/** What building an environment needs to know besides the pod. */
export interface EnvContext {
  client: Client;
  podIPs: readonly string[];
  hostIP: string;
  /** Node allocatable, for resourceFieldRef limits that are not set. */
  allocatable: Record<string, string>;
}

/** Reads a ConfigMap or Secret once per environment build; undefined when it does not exist. */
function sourceCache(client: Client, namespace: string) {
  const cache = new Map<string, Record<string, string> | undefined>();
  return async (kind: 'configmap' | 'secret', name: string): Promise<Record<string, string> | undefined> => {
    const key = `${kind}/${name}`;
    if (cache.has(key)) return cache.get(key);
    let data: Record<string, string> | undefined;
    try {
      const obj = await client.get(kind === 'configmap' ? R.configmaps : R.secrets, namespace, name);
      data = {};
      if (kind === 'configmap') {
        Object.assign(data, obj.data ?? {});
        for (const [k, v] of Object.entries((obj.binaryData ?? {}) as Record<string, string>)) data[k] = Buffer.from(v, 'base64').toString('utf8');
      } else {
        for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) data[k] = Buffer.from(v, 'base64').toString('utf8');
      }
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    cache.set(key, data);
    return data;
  };
}

/**
 * Builds a container's environment as kubelet does: envFrom first (with
 * prefixes), then env in order (values expanded against what is defined so
 * far and the service variables; valueFrom resolved), then the service
 * variables the container did not set. Missing non-optional sources throw
 * ContainerConfigError with upstream's message.
 */
export async function containerEnv(pod: any, container: any, ctx: EnvContext): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const source = sourceCache(ctx.client, ns);
  const services = await serviceLinkEnv(pod, ctx.client);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = await source(kind, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  const lookup = (name: string) => (Object.prototype.hasOwnProperty.call(env, name) ? env[name] : services[name]);
  for (const v of container.env ?? []) {
    let value: string | undefined = v.value ?? '';
    if (value !== '') value = expand(v.value as string, lookup);
    else if (v.valueFrom) {
      const vf = v.valueFrom;
      if (vf.fieldRef) value = podFieldValue(pod, vf.fieldRef.fieldPath, ctx.podIPs, ctx.hostIP);
      else if (vf.resourceFieldRef) {
        const target = vf.resourceFieldRef.containerName
          ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c: any) => c.name === vf.resourceFieldRef.containerName)
          : container;
        value = containerResourceValue(vf.resourceFieldRef, target, ctx.allocatable);
      } else if (vf.configMapKeyRef || vf.secretKeyRef) {
        const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
        const kind = vf.configMapKeyRef ? 'configmap' : 'secret';
        const data = await source(kind, ref.name);
        if (!data) {
          if (ref.optional) continue;
          throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
        }
        value = data[ref.key];
        if (value === undefined) {
          if (ref.optional) continue;
          throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind === 'configmap' ? 'ConfigMap' : 'Secret'} ${ns}/${ref.name}`);
        }
      }
    }
    env[v.name] = value;
  }
  for (const [k, v] of Object.entries(services)) if (!Object.prototype.hasOwnProperty.call(env, k)) env[k] = v;
  return env;
}

/**
 * The service variables a pod sees (upstream getServiceEnvVarMap): the
 * services of its namespace when `enableServiceLinks` is not false, and
 * always the `kubernetes` service of `default` (as KUBERNETES_SERVICE_HOST/PORT…).
 */
async function serviceLinkEnv(pod: any, client: Client): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const chosen = new Map<string, ServiceLike>();
  if (pod.spec?.enableServiceLinks !== false) {
    const list = await client.list<ServiceLike>(R.services, ns);
    for (const s of list.items) chosen.set(s.metadata?.name ?? '', s);
  }
  try {
    const master = await client.get<ServiceLike>(R.services, 'default', 'kubernetes');
    // The master service is always exposed, but a same-named service in the pod's own namespace wins.
    if (ns === 'default' || !chosen.has('kubernetes')) chosen.set('kubernetes', master);
  } catch (e) {
    if (!isStatus(e, 404)) throw e;
  }
  return serviceEnv([...chosen.values()]);
}

/** A container's argv: command then args, each expanded against the container's final environment (upstream ExpandContainerCommandAndArgs). */
export function containerArgv(container: any, env: Record<string, string>): string[] {
  const lookup = (name: string) => (Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined);
  return [...(container.command ?? []), ...(container.args ?? [])].map((a: string) => expand(a, lookup));
}
