/**
 * The metrics.k8s.io/v1beta1 API (metrics-server's pkg/api): NodeMetrics and
 * PodMetrics, get and list only, built on request from the scraped usage and
 * the API server's own nodes and pods (their labels and phase). It appears in
 * discovery as the aggregated metrics-server API would, so `kubectl top` and
 * HorizontalPodAutoscalers find it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../../api/errors.js';
import { parseFieldSelector, type FieldSelector } from '../../api/fields.js';
import { parseLabelSelector, type LabelSelector } from '../../api/labels.js';
import { Quantity, parseQuantity } from '../../api/quantity.js';
import { formatDuration } from '../../api/protobuf.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { RequestInfo } from '../requestinfo.js';
import { rfc3339, type Store } from '../registry/store.js';
import { sendJson } from '../http.js';
import type { MetricsStorage, Usage } from './storage.js';

/** The API group. */
export const METRICS_GROUP = 'metrics.k8s.io';
/** The API version (the only one metrics-server serves). */
export const METRICS_VERSION = 'v1beta1';
const API_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`;

/** The two resources as discovery lists them (metrics-server registers no singular names). */
export const METRICS_RESOURCES: readonly ResourceInfo[] = [
  { group: METRICS_GROUP, version: METRICS_VERSION, resource: 'nodes', kind: 'NodeMetrics', listKind: 'NodeMetricsList', singular: '', namespaced: false, verbs: ['get', 'list'], shortNames: [], categories: [], subresources: [] },
  { group: METRICS_GROUP, version: METRICS_VERSION, resource: 'pods', kind: 'PodMetrics', listKind: 'PodMetricsList', singular: '', namespaced: true, verbs: ['get', 'list'], shortNames: [], categories: [], subresources: [] },
];

/** Label and field selectors of a list. */
export interface MetricsListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

/** What the metrics API reads. */
export interface MetricsApiConfig {
  storage: MetricsStorage;
  nodes: () => Store;
  pods: () => Store;
  now?: () => Date;
}

/** CPU in nanocores as metrics-server writes it (`NewScaledQuantity(n, -9)`, e.g. `1234567n`). */
function cpuQuantity(nanoCores: number): Quantity {
  return Quantity.fromNanos(BigInt(Math.max(0, Math.floor(nanoCores))), 'DecimalSI');
}

/** Memory in bytes, binary suffixes (`12345Ki`). */
function memoryQuantity(bytes: number): Quantity {
  return Quantity.fromValue(Math.max(0, Math.floor(bytes)), 'BinarySI');
}

/** metrics-server's field set of an object: its ObjectMeta fields. */
function metaFields(obj: any): Record<string, string> {
  const f: Record<string, string> = { 'metadata.name': obj.metadata?.name ?? '' };
  if (obj.metadata?.namespace !== undefined) f['metadata.namespace'] = obj.metadata.namespace;
  return f;
}

/** Serves metrics.k8s.io from the scraped usage. */
export class MetricsApi {
  private readonly now: () => Date;

  constructor(private readonly cfg: MetricsApiConfig) {
    this.now = cfg.now ?? (() => new Date());
  }

  /** True if a request addresses this API. */
  handles(info: { group: string; version: string }): boolean {
    return info.group === METRICS_GROUP && info.version === METRICS_VERSION;
  }

  /** One NodeMetrics or PodMetrics; NotFound as metrics-server words it. */
  async get(resource: string, namespace: string, name: string): Promise<any> {
    if (resource === 'nodes') {
      // metrics-server's node lister answers NotFound in the singular (`node "x" not found`).
      const node = await this.find(this.cfg.nodes(), '', name, 'node');
      const u = this.cfg.storage.nodeUsage(name);
      if (!u) throw errors.notFound({ group: METRICS_GROUP, resource: 'nodemetrics' }, name);
      return this.nodeMetrics(node, u);
    }
    if (resource === 'pods') {
      // metrics-server watches Running pods only: any other is `pods "x" not found`, as from its pod lister.
      const pod = await this.find(this.cfg.pods(), namespace, name, 'pods', (p) => p.status?.phase === 'Running');
      const item = this.podMetrics(pod);
      if (!item) throw errors.notFound({ group: METRICS_GROUP, resource: 'podmetrics' }, `${namespace}/${name}`);
      return item;
    }
    throw notServed();
  }

  /** A NodeMetricsList or PodMetricsList of the objects matching the selectors that have usage. */
  async list(resource: string, namespace: string, opts: MetricsListOptions = {}): Promise<{ kind: string; apiVersion: string; metadata: object; items: any[] }> {
    const label = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
    const field = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
    if (resource === 'nodes') {
      const nodes = await this.select(this.cfg.nodes(), '', label, field);
      nodes.sort((a, b) => cmp(a.metadata.name, b.metadata.name));
      const items: any[] = [];
      for (const n of nodes) {
        const u = this.cfg.storage.nodeUsage(n.metadata.name);
        if (u) items.push(this.nodeMetrics(n, u));
      }
      return { kind: 'NodeMetricsList', apiVersion: API_VERSION, metadata: {}, items };
    }
    if (resource === 'pods') {
      const pods = await this.select(this.cfg.pods(), namespace, label, field);
      // The order the API gives pods in: by namespace, then name.
      pods.sort((a, b) => cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name));
      const items = pods.map((p) => this.podMetrics(p)).filter((m) => m !== undefined);
      return { kind: 'PodMetricsList', apiVersion: API_VERSION, metadata: {}, items };
    }
    throw notServed();
  }

  /** Answers an HTTP request (already authorized) for this API. */
  async handle(req: IncomingMessage, res: ServerResponse, info: RequestInfo, query: URLSearchParams): Promise<void> {
    const known = METRICS_RESOURCES.find((r) => r.resource === info.resource);
    if (!known || info.subresource) throw notServed();
    const qualified = { group: METRICS_GROUP, resource: info.resource };
    if (info.verb !== 'get' && info.verb !== 'list') throw errors.methodNotSupported(qualified, info.verb);
    const table = wantsTable(req.headers.accept);
    const includeObject = query.get('includeObject') ?? 'Metadata';
    if (info.verb === 'get') {
      const obj = await this.get(info.resource, info.namespace, info.name);
      return sendJson(res, 200, table ? this.table([obj], includeObject) : obj);
    }
    const list = await this.list(info.resource, info.namespace, { labelSelector: query.get('labelSelector') ?? undefined, fieldSelector: query.get('fieldSelector') ?? undefined });
    return sendJson(res, 200, table ? this.table(list.items, includeObject) : list);
  }

  private async find(store: Store, namespace: string, name: string, resource: string, known: (o: any) => boolean = () => true): Promise<any> {
    const found = await store.peek(namespace, name);
    if (!found || !known(found.obj)) throw errors.notFound({ group: '', resource }, name);
    return found.obj;
  }

  private async select(store: Store, namespace: string, label: LabelSelector | undefined, field: FieldSelector | undefined): Promise<any[]> {
    const page = await store.list(namespace, { label });
    return field ? page.items.filter((o) => field.matches(metaFields(o))) : page.items;
  }

  private nodeMetrics(node: any, u: Usage): any {
    return {
      kind: 'NodeMetrics',
      apiVersion: API_VERSION,
      metadata: { name: node.metadata.name, creationTimestamp: rfc3339(this.now()), ...(node.metadata.labels ? { labels: node.metadata.labels } : {}) },
      timestamp: rfc3339(new Date(u.timestamp)),
      window: formatDuration(BigInt(u.windowMs) * 1_000_000n),
      usage: { cpu: cpuQuantity(u.cpuNanoCores).toString(), memory: memoryQuantity(u.memoryBytes).toString() },
    };
  }

  /** A pod's metrics, or undefined for pods not Running or not yet measured twice. */
  private podMetrics(pod: any): any | undefined {
    if (pod.status?.phase !== 'Running') return undefined;
    const u = this.cfg.storage.podUsage(pod.metadata.namespace, pod.metadata.name);
    if (!u) return undefined;
    return {
      kind: 'PodMetrics',
      apiVersion: API_VERSION,
      metadata: {
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        creationTimestamp: rfc3339(this.now()),
        ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
      },
      timestamp: rfc3339(new Date(u.timestamp)),
      window: formatDuration(BigInt(u.windowMs) * 1_000_000n),
      containers: u.containers.map((c) => ({ name: c.name, usage: { cpu: cpuQuantity(c.cpuNanoCores).toString(), memory: memoryQuantity(c.memoryBytes).toString() } })),
    };
  }

  /** metrics-server's Table: NAME, CPU, MEMORY (a pod's summed over containers), WINDOW. */
  private table(items: any[], includeObject: string): any {
    const quantity = (name: string) => ({ name, type: 'string', format: 'quantity', description: '', priority: 0 });
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: {},
      columnDefinitions: [
        { name: 'Name', type: 'string', format: 'name', description: 'Name of the resource', priority: 0 },
        quantity('cpu'),
        quantity('memory'),
        { name: 'Window', type: 'string', format: 'duration', description: '', priority: 0 },
      ],
      rows: items.map((m) => {
        const usage = m.usage ?? sumUsage(m.containers ?? []);
        const row: Record<string, unknown> = { cells: [m.metadata.name, usage.cpu, usage.memory, m.window] };
        if (includeObject === 'Object') row.object = m;
        else if (includeObject !== 'None') row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: m.metadata };
        return row;
      }),
    };
  }
}

/** The usage of a pod's containers added up (Quantity sums keep each resource's format). */
function sumUsage(containers: { usage: { cpu: string; memory: string } }[]): { cpu: string; memory: string } {
  let cpu = cpuQuantity(0);
  let memory = memoryQuantity(0);
  for (const c of containers) {
    cpu = cpu.add(parseQuantity(c.usage.cpu));
    memory = memory.add(parseQuantity(c.usage.memory));
  }
  return { cpu: cpu.toString(), memory: memory.toString() };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when the client asks for a meta.k8s.io Table first (kubectl get). */
function wantsTable(accept: string | undefined): boolean {
  for (const raw of (accept ?? '').split(',')) {
    const p = raw.replace(/\s+/g, '');
    if (p.includes('as=Table') && p.includes('g=meta.k8s.io')) return true;
    if (p.startsWith('application/json') || p.startsWith('*/*') || p === '') return false;
  }
  return false;
}

function notServed(): ApiError {
  return new ApiError('NotFound', 'the server could not find the requested resource', {});
}
