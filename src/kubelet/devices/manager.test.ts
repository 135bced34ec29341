import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceManager, type PodRef } from './manager.js';
import { CHECKPOINT_FILE, readCheckpoint } from './checkpoint.js';

const GPU = 'nvidia.com/gpu';

let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kite-devices-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh checkpoint path per test. */
function checkpoint(): string {
  return join(dir, String(n++), CHECKPOINT_FILE);
}

function devices(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `GPU-${i}`);
}

function manager(count: number, path?: string, log: (m: string) => void = () => undefined): DeviceManager {
  const m = new DeviceManager({ devices: { [GPU]: devices(count) }, checkpointPath: path, log });
  m.start();
  return m;
}

interface ContainerSpec {
  name: string;
  gpus: number;
  sidecar?: boolean;
}

function pod(uid: string, containers: ContainerSpec[], inits: ContainerSpec[] = []): any {
  const c = (s: ContainerSpec) => ({
    name: s.name,
    ...(s.sidecar ? { restartPolicy: 'Always' } : {}),
    resources: s.gpus ? { limits: { [GPU]: String(s.gpus) }, requests: { [GPU]: String(s.gpus) } } : {},
  });
  return { metadata: { uid, namespace: 'default', name: `pod-${uid}` }, spec: { initContainers: inits.map(c), containers: containers.map(c) } };
}

describe('DeviceManager', () => {
  it('gives each container whole devices of its own', () => {
    const m = manager(4);
    assert.deepEqual(m.allocate(pod('a', [{ name: 'x', gpus: 1 }, { name: 'y', gpus: 2 }])), { admit: true });
    const x = m.containerDevices('a', 'x')[GPU]!;
    const y = m.containerDevices('a', 'y')[GPU]!;
    assert.equal(x.length, 1);
    assert.equal(y.length, 2);
    assert.equal(new Set([...x, ...y]).size, 3);
    assert.deepEqual(m.allocate(pod('b', [{ name: 'z', gpus: 1 }])), { admit: true });
    assert.equal(new Set([...x, ...y, ...m.containerDevices('b', 'z')[GPU]!]).size, 4);
  });

  it("rejects a pod it cannot serve with upstream's UnexpectedAdmissionError, and gives it nothing", () => {
    const m = manager(3);
    m.allocate(pod('a', [{ name: 'x', gpus: 2 }]));
    const r = m.allocate(pod('b', [{ name: 'ok', gpus: 0 }, { name: 'big', gpus: 2 }]));
    assert.deepEqual(r, {
      admit: false,
      reason: 'UnexpectedAdmissionError',
      message: 'Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. Requested: 2, Available: 1, which is unexpected',
    });
    assert.equal(m.podDevices('b'), undefined);
    assert.equal(m.inUse(GPU).size, 2);
  });

  it('lets app containers reuse the devices of regular init containers, as upstream', () => {
    const m = manager(2);
    assert.deepEqual(m.allocate(pod('a', [{ name: 'app', gpus: 2 }], [{ name: 'init', gpus: 2 }])), { admit: true });
    assert.deepEqual(m.containerDevices('a', 'app')[GPU], m.containerDevices('a', 'init')[GPU]);
    assert.equal(m.inUse(GPU).size, 2);
  });

  it('keeps a sidecar’s devices to itself (it runs beside the app containers)', () => {
    const spec = pod('a', [{ name: 'app', gpus: 1 }], [{ name: 'side', gpus: 1, sidecar: true }]);
    assert.equal(manager(1).allocate(spec).admit, false);
    const m = manager(2);
    assert.deepEqual(m.allocate(spec), { admit: true });
    assert.notDeepEqual(m.containerDevices('a', 'app')[GPU], m.containerDevices('a', 'side')[GPU]);
  });

  it('ignores resources that are not devices of this node', () => {
    const m = manager(1);
    const p = pod('a', [{ name: 'x', gpus: 0 }]);
    p.spec.containers[0].resources = { limits: { cpu: '2', 'example.com/fpga': '3', memory: '1Gi' } };
    assert.equal(m.wantsDevices(p), false);
    assert.deepEqual(m.allocate(p), { admit: true });
    assert.equal(m.podDevices('a'), undefined);
  });

  it('frees a pod’s devices when it is released', () => {
    const m = manager(1);
    m.allocate(pod('a', [{ name: 'x', gpus: 1 }]));
    assert.equal(m.allocate(pod('b', [{ name: 'x', gpus: 1 }])).admit, false);
    m.release('a');
    assert.deepEqual(m.allocate(pod('b', [{ name: 'x', gpus: 1 }])), { admit: true });
  });

  it('gives a pod the same devices after a restart from the checkpoint', () => {
    const path = checkpoint();
    const m1 = manager(4, path);
    m1.allocate(pod('a', [{ name: 'x', gpus: 1 }]));
    m1.allocate(pod('b', [{ name: 'x', gpus: 2 }]));
    const before = { a: m1.podDevices('a'), b: m1.podDevices('b') };
    const m2 = manager(4, path);
    // Until re-admitted, checkpointed pods keep their devices from newcomers.
    assert.equal(m2.allocate(pod('c', [{ name: 'x', gpus: 2 }])).admit, false);
    assert.deepEqual(m2.allocate(pod('b', [{ name: 'x', gpus: 2 }])), { admit: true });
    assert.deepEqual(m2.allocate(pod('a', [{ name: 'x', gpus: 1 }])), { admit: true });
    assert.deepEqual({ a: m2.podDevices('a'), b: m2.podDevices('b') }, before);
  });

  it('frees the devices of pods that went away while the agent was down', () => {
    const path = checkpoint();
    const m1 = manager(2, path);
    m1.allocate(pod('a', [{ name: 'x', gpus: 1 }]));
    m1.allocate(pod('b', [{ name: 'x', gpus: 1 }]));
    const m2 = manager(2, path);
    m2.allocate(pod('b', [{ name: 'x', gpus: 1 }]));
    const asked: string[] = [];
    m2.prune((p: PodRef) => (asked.push(p.uid), false));
    // Only pods not re-admitted are in question; b was admitted again by this run.
    assert.deepEqual(asked, ['a']);
    assert.equal(m2.podDevices('a'), undefined);
    assert.deepEqual(readCheckpoint(path)!.entries.map((e) => e.podUid), ['b']);
  });

  it('rejects a pod whose checkpointed devices are gone from the node', () => {
    const path = checkpoint();
    manager(4, path).allocate(pod('a', [{ name: 'x', gpus: 4 }]));
    const r = manager(2, path).allocate(pod('a', [{ name: 'x', gpus: 4 }]));
    assert.equal(r.admit, false);
    assert.match((r as any).message, /^Allocate failed due to previously allocated devices are no longer healthy; cannot allocate unhealthy devices nvidia\.com\/gpu, which is unexpected$/);
  });

  it('says so and starts afresh when the checkpoint is corrupt', () => {
    const path = checkpoint();
    manager(1, path).allocate(pod('a', [{ name: 'x', gpus: 1 }]));
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('"x"', '"y"'));
    const logs: string[] = [];
    const m = manager(1, path, (l) => logs.push(l));
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /checkpoint .* is corrupt: checksum mismatch/);
    assert.equal(m.inUse(GPU).size, 0);
  });
});

/** A small seeded generator (mulberry32), so a failing mix can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a pod needs at most at one time (the scheduler's effective request with sidecars). */
function effectiveRequest(inits: ContainerSpec[], apps: ContainerSpec[]): number {
  let sidecars = 0;
  let peak = 0;
  for (const c of inits) {
    if (c.sidecar) sidecars += c.gpus;
    else peak = Math.max(peak, c.gpus + sidecars);
  }
  return Math.max(peak, sidecars + apps.reduce((s, c) => s + c.gpus, 0));
}

describe('DeviceManager over random pod mixes', () => {
  it('never gives a device to two pods or two containers running together, admits exactly what fits, and leaks none', () => {
    for (let seed = 1; seed <= 120; seed++) {
      const rand = rng(seed);
      const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
      const total = int(1, 6);
      const path = checkpoint();
      let m = manager(total, path);
      /** Admitted pods and their specs; `pending` ones await re-admission after a restart. */
      const live = new Map<string, { inits: ContainerSpec[]; apps: ContainerSpec[]; devices: any }>();
      const pending = new Set<string>();
      let next = 0;
      // Mostly none or a few, sometimes the whole node.
      const gpus = () => {
        const r = rand();
        return r < 0.5 ? 0 : r < 0.9 ? int(1, Math.min(total, 2)) : int(1, total);
      };
      const check = (what: string) => {
        const ctx = `seed ${seed}, ${what}`;
        const owner = new Map<string, string>();
        for (const [uid, p] of live) {
          const pd = m.podDevices(uid);
          assert.deepEqual(pd, p.devices, `${ctx}: pod ${uid} kept its devices`);
          const all = (c: ContainerSpec) => (pd?.[c.name]?.[GPU] ?? []) as string[];
          for (const c of [...p.inits, ...p.apps]) assert.equal(all(c).length, c.gpus, `${ctx}: ${uid}/${c.name} got what it asked for`);
          // Running together: sidecars and app containers; each regular init container with the sidecars before it.
          const together = [...p.inits.filter((c) => c.sidecar), ...p.apps].flatMap(all);
          assert.equal(new Set(together).size, together.length, `${ctx}: containers of ${uid} running together share no device`);
          p.inits.forEach((c, i) => {
            if (c.sidecar) return;
            const before = p.inits.slice(0, i).filter((s) => s.sidecar).flatMap(all);
            assert.ok(!all(c).some((d) => before.includes(d)), `${ctx}: init container ${uid}/${c.name} shares no device with a running sidecar`);
          });
          for (const d of new Set([...p.inits, ...p.apps].flatMap(all))) {
            assert.ok(!owner.has(d), `${ctx}: device ${d} held by ${owner.get(d)} and ${uid}`);
            owner.set(d, uid);
          }
        }
        assert.deepEqual([...m.inUse(GPU)].sort(), [...owner.keys()].sort(), `${ctx}: nothing held beyond the live pods`);
      };
      for (let step = 0; step < 40; step++) {
        const r = rand();
        if (r < 0.5) {
          const uid = `p${next++}`;
          const inits = Array.from({ length: int(0, 2) }, (_, i) => ({ name: `i${i}`, gpus: gpus(), sidecar: rand() < 0.3 }));
          const apps = Array.from({ length: int(1, 3) }, (_, i) => ({ name: `c${i}`, gpus: gpus() }));
          const free = total - m.inUse(GPU).size;
          const res = m.allocate(pod(uid, apps, inits));
          const fits = effectiveRequest(inits, apps) <= free;
          assert.equal(res.admit, fits, `seed ${seed}: pod ${uid} (needs ${effectiveRequest(inits, apps)}, ${free} free) admitted iff it fits`);
          if (res.admit) live.set(uid, { inits, apps, devices: m.podDevices(uid) });
          else assert.match(res.message, /^Allocate failed due to requested number of devices unavailable for nvidia\.com\/gpu\. Requested: \d+, Available: \d+, which is unexpected$/);
          check(`after admitting ${uid}`);
        } else if (r < 0.8 && live.size) {
          const uids = [...live.keys()];
          const uid = uids[int(0, uids.length - 1)]!;
          live.delete(uid);
          pending.delete(uid);
          m.release(uid);
          check(`after ${uid} finished`);
        } else if (r < 0.9) {
          // The agent restarts; some pods are deleted meanwhile, the rest are admitted again in any order.
          m = manager(total, path);
          for (const uid of live.keys()) pending.add(uid);
          for (const uid of [...pending]) {
            if (rand() < 0.3) {
              live.delete(uid);
              pending.delete(uid);
            }
          }
          m.prune((p) => live.has(p.uid));
          check('after a restart');
        } else if (pending.size) {
          const uid = [...pending][int(0, pending.size - 1)]!;
          const p = live.get(uid)!;
          assert.deepEqual(m.allocate(pod(uid, p.apps, p.inits)), { admit: true }, `seed ${seed}: ${uid} admitted again`);
          pending.delete(uid);
          check(`after re-admitting ${uid}`);
        }
      }
      for (const uid of live.keys()) m.release(uid);
      live.clear();
      check('after every pod finished');
      assert.deepEqual(readCheckpoint(path)?.entries ?? [], [], `seed ${seed}: the checkpoint holds nothing once every pod finished`);
    }
  });
});
