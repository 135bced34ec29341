/**
 * A real in-memory API server for controller tests: a Registry on the memory
 * backend, an InProcessClient acting as cluster admin, and a shared
 * InformerFactory. Not used outside tests.
 */
import { MemoryBackend } from '../storage/memory.js';
import { Registry } from '../apiserver/registry/registry.js';
import { InProcessClient } from '../client/inprocess.js';
import { InformerFactory } from '../client/factory.js';
import { R, isStatus, type Client, type ResourceRef } from '../client/client.js';
import { getFresh } from './controllerutil.js';

/** What a controller test works with. */
export interface TestCluster {
  registry: Registry;
  client: Client;
  informers: InformerFactory;
  /** Creates namespaces (as a user would). */
  namespace(...names: string[]): Promise<void>;
  /** Stops informers, the registry and the backend. */
  close(): Promise<void>;
}

/** Starts an empty in-memory API server. */
export async function startTestCluster(): Promise<TestCluster> {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  const client = new InProcessClient(registry, { name: 'test', groups: ['system:masters'] }, 'test');
  const informers = new InformerFactory(client);
  return {
    registry,
    client,
    informers,
    async namespace(...names) {
      for (const name of names) {
        try {
          await client.create(R.namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
        } catch (e) {
          if (!isStatus(e, 409)) throw e;
        }
      }
    },
    async close() {
      informers.stop();
      registry.stop();
      await backend.close();
    },
  };
}

/**
 * Resolves with the first truthy value of `probe`, polled every few
 * milliseconds; rejects with `what` after `timeoutMs`.
 */
export async function eventually<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The object, or undefined when the API server answers 404 (controllerutil's getFresh). */
export function getOrUndefined<T = any>(client: Client, ref: ResourceRef, ns: string, name: string): Promise<T | undefined> {
  return getFresh<T>(client, ref, ns, name);
}
