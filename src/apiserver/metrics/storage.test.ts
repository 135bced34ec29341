import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsStorage, usageBetween, type MetricsBatch, type MetricsPoint } from './storage.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const S = 1000;

function point(at: number, cpuSeconds: number, memory = 1024, start = T0 - 3600 * S): MetricsPoint {
  return { startTime: start, timestamp: at, cumulativeCpuNanos: cpuSeconds * 1e9, memoryBytes: memory };
}

function batch(nodes: [string, MetricsPoint][], pods: [string, [string, MetricsPoint][]][] = []): MetricsBatch {
  return { nodes: new Map(nodes), pods: new Map(pods.map(([k, cs]) => [k, new Map(cs)])) };
}

describe('metrics storage', () => {
  it('turns two cumulative samples into a rate over their window', () => {
    assert.deepEqual(usageBetween(point(T0 + 15 * S, 3), point(T0, 0)), { timestamp: T0 + 15 * S, windowMs: 15_000, cpuNanoCores: 200_000_000, memoryBytes: 1024 });
    // A restart in between (start time moved back, or CPU went down) cannot be compared.
    assert.equal(usageBetween(point(T0 + 15 * S, 1), point(T0, 2)), undefined);
    assert.equal(usageBetween(point(T0 + 15 * S, 3, 1, T0 - 10 * S), point(T0, 0, 1, T0)), undefined);
  });

  it('knows a node once it has two points, and forgets nodes missing from a scrape', () => {
    const s = new MetricsStorage(15_000);
    s.store(batch([['n1', point(T0, 10, 500)]]));
    assert.equal(s.nodeUsage('n1'), undefined);
    s.store(batch([['n1', point(T0 + 15 * S, 25, 600)]]));
    assert.deepEqual(s.nodeUsage('n1'), { timestamp: T0 + 15 * S, windowMs: 15_000, cpuNanoCores: 1_000_000_000, memoryBytes: 600 });
    // The same sample again keeps the earlier one as the previous point.
    s.store(batch([['n1', point(T0 + 15 * S, 25, 600)]]));
    assert.equal(s.nodeUsage('n1')?.cpuNanoCores, 1_000_000_000);
    s.store(batch([]));
    assert.equal(s.nodeUsage('n1'), undefined);
  });

  it('reports a pod only when every container has two points of the same run', () => {
    const s = new MetricsStorage(15_000);
    s.store(batch([], [['ns/p', [['a', point(T0, 1)], ['b', point(T0, 2)]]]]));
    assert.equal(s.podUsage('ns', 'p'), undefined);
    s.store(batch([], [['ns/p', [['a', point(T0 + 10 * S, 2)], ['b', point(T0 + 10 * S, 2.5)], ['c', point(T0 + 10 * S, 0.1)]]]]));
    assert.equal(s.podUsage('ns', 'p'), undefined, 'container c has one point only');
    s.store(batch([], [['ns/p', [['a', point(T0 + 20 * S, 3)], ['b', point(T0 + 20 * S, 3)], ['c', point(T0 + 20 * S, 0.2)]]]]));
    assert.deepEqual(s.podUsage('ns', 'p'), {
      timestamp: T0 + 20 * S,
      windowMs: 10_000,
      containers: [
        { name: 'a', cpuNanoCores: 100_000_000, memoryBytes: 1024 },
        { name: 'b', cpuNanoCores: 50_000_000, memoryBytes: 1024 },
        { name: 'c', cpuNanoCores: 10_000_000, memoryBytes: 1024 },
      ],
    });
    // A restarted container (started after the stored point) starts over.
    s.store(batch([], [['ns/p', [['a', point(T0 + 30 * S, 0.5, 1024, T0 + 25 * S)], ['b', point(T0 + 30 * S, 3.5)], ['c', point(T0 + 30 * S, 0.3)]]]]));
    assert.equal(s.podUsage('ns', 'p'), undefined);
  });

  it("takes a fresh container's start as its first point once it has run ten seconds", () => {
    const s = new MetricsStorage(60_000);
    // Started 5 s before its first sample: too short a window to trust.
    s.store(batch([], [['ns/young', [['a', point(T0 + 5 * S, 0.5, 1, T0)]]]]));
    assert.equal(s.podUsage('ns', 'young'), undefined);
    // Started 20 s before (within one resolution): usage from its start, with zero CPU then.
    s.store(batch([], [['ns/fresh', [['a', point(T0 + 20 * S, 4, 1, T0)]]]]));
    assert.deepEqual(s.podUsage('ns', 'fresh'), { timestamp: T0 + 20 * S, windowMs: 20_000, containers: [{ name: 'a', cpuNanoCores: 200_000_000, memoryBytes: 1 }] });
  });
});
