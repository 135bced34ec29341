/**
 * The resource metrics scraper (metrics-server's pkg/scraper): every
 * resolution it fetches each node's kubelet Summary API
 * (`https://<InternalIP>:<kubelet port>/stats/summary`, with the API server's
 * client certificate, checking the kubelet against the cluster CA — the same
 * path `pods/log` takes) and stores the batch. Components keep talking only
 * through APIs: the kubelet publishes usage over its HTTP API, the API server
 * serves it as metrics.k8s.io, and consumers (kubectl top, the HPA) read that.
 * Like metrics-server it scrapes continuously, so the first answer after a
 * pod starts needs no waiting for two fresh samples.
 */
import { request } from 'node:https';
import { HOLLOW_ANNOTATION } from '../../kubelet/hollow.js';
import type { MetricsBatch, MetricsPoint, MetricsStorage } from './storage.js';

/** What the scraper needs. */
export interface MetricsScraperConfig {
  /** The nodes to scrape now (the API server's node cache). */
  nodes: () => Promise<readonly any[]>;
  /** CA that signed the kubelets' serving certificates, and the client certificate to present. */
  tls: { ca: string; cert: string; key: string };
  storage: MetricsStorage;
  /** Scrape interval (metrics-server --metric-resolution, default 15 s). */
  resolutionMs: number;
  log: (msg: string) => void;
}


/** Where a node's kubelet listens, or undefined when it publishes no endpoint. */
export function kubeletEndpoint(node: any): { host: string; port: number } | undefined {
  const addrs: any[] = node?.status?.addresses ?? [];
  const host = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'Hostname')?.address;
  const port = node?.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  // Hollow (simulated) nodes run no kubelet endpoint to scrape.
  if (!host || !port || node?.metadata?.annotations?.[HOLLOW_ANNOTATION]) return undefined;
  return { host, port };
}

/** Milliseconds since the epoch of an RFC 3339 time, or undefined. */
function ms(t: unknown): number | undefined {
  if (typeof t !== 'string') return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

/**
 * A metrics point from a Summary API cpu/memory pair (metrics-server's
 * summary decoding): cumulative CPU and working set are required; the CPU
 * sample's time is the point's time.
 */
function point(startTime: unknown, cpu: any, memory: any): MetricsPoint | undefined {
  const timestamp = ms(cpu?.time);
  const start = ms(startTime);
  const cumulative = cpu?.usageCoreNanoSeconds;
  const ws = memory?.workingSetBytes;
  if (timestamp === undefined || start === undefined || typeof cumulative !== 'number' || typeof ws !== 'number') return undefined;
  return { startTime: start, timestamp, cumulativeCpuNanos: cumulative, memoryBytes: ws };
}

/** Adds one node's Summary document to a batch. */
export function decodeSummary(nodeName: string, summary: any, into: MetricsBatch): void {
  const node = point(summary?.node?.startTime, summary?.node?.cpu, summary?.node?.memory);
  if (node) into.nodes.set(nodeName, node);
  for (const pod of summary?.pods ?? []) {
    const ref = pod?.podRef;
    if (!ref?.namespace || !ref?.name) continue;
    const containers = new Map<string, MetricsPoint>();
    for (const c of pod.containers ?? []) {
      const p = point(c?.startTime, c?.cpu, c?.memory);
      if (p && typeof c.name === 'string') containers.set(c.name, p);
    }
    if (containers.size > 0) into.pods.set(`${ref.namespace}/${ref.name}`, containers);
  }
}

/** Scrapes every node each resolution (see the module comment). */
export class MetricsScraper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** Nodes whose last scrape failed (their failure is logged once, not every interval). */
  private readonly failing = new Set<string>();

  constructor(private readonly cfg: MetricsScraperConfig) {}

  /** Starts scraping (the first scrape at once); returns without waiting for it. */
  start(): void {
    this.stopped = false;
    const tick = () => {
      // A scrape still running when the next is due is not doubled up.
      this.running ??= this.scrape().finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.cfg.resolutionMs);
    this.timer.unref();
  }

  /** Stops scraping; resolves when a scrape in flight has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Scrapes every node once and stores the batch. */
  async scrape(): Promise<void> {
    let nodes: readonly any[];
    try {
      nodes = await this.cfg.nodes();
    } catch (e) {
      this.cfg.log(`metrics: listing nodes: ${(e as Error).message}`);
      return;
    }
    const batch: MetricsBatch = { nodes: new Map(), pods: new Map() };
    // metrics-server's scrape timeout: 90% of the resolution, so one slow node never delays the next round.
    const timeoutMs = Math.max(1000, Math.floor(this.cfg.resolutionMs * 0.9));
    await Promise.all(
      nodes.map(async (node) => {
        const name: string = node?.metadata?.name ?? '';
        const ep = kubeletEndpoint(node);
        if (!ep) return;
        try {
          decodeSummary(name, await this.fetch(ep, timeoutMs), batch);
          if (this.failing.delete(name)) this.cfg.log(`metrics: scraping node "${name}" works again`);
        } catch (e) {
          if (!this.failing.has(name)) this.cfg.log(`metrics: failed to scrape node "${name}": ${(e as Error).message}`);
          this.failing.add(name);
        }
      }),
    );
    if (!this.stopped) this.cfg.storage.store(batch);
  }

  private fetch(ep: { host: string; port: number }, timeoutMs: number): Promise<any> {
    const { ca, cert, key } = this.cfg.tls;
    const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
    const url = `https://${host}:${ep.port}/stats/summary`;
    return new Promise((resolve, reject) => {
      const req = request({ host: ep.host, port: ep.port, path: '/stats/summary', method: 'GET', ca, cert, key, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`request failed, status: ${JSON.stringify(`${res.statusCode} ${res.statusMessage ?? ''}`.trim())}`));
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(new Error(`GET "${url}": decoding the summary: ${(e as Error).message}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`GET "${url}": context deadline exceeded`)));
      req.on('error', (e) => reject(e.message.startsWith('GET') ? e : new Error(`GET "${url}": ${e.message}`)));
      req.end();
    });
  }
}
