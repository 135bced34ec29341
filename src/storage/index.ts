/**
 * The storage entry point: picks a Backend by the configured datastore. Every
 * backend implements the same `Backend` contract (see backend.ts) and passes
 * the same conformance suite.
 */
import type { Backend } from './backend.js';
import { MemoryBackend } from './memory.js';
import { SqliteBackend } from './sqlite.js';

export * from './backend.js';
export { MemoryBackend } from './memory.js';
export { SqliteBackend, type SqliteBackendOptions } from './sqlite.js';

/** Which datastore to use and where: `memory` keeps nothing across restarts; `sqlite` (the default) persists to `path`. */
export type StorageConfig = { datastore: 'memory' } | { datastore: 'sqlite'; path: string };

/** Creates (but does not start) the backend for `config`; call `start()` before use. */
export function openBackend(config: StorageConfig): Backend {
  switch (config.datastore) {
    case 'memory':
      return new MemoryBackend();
    case 'sqlite':
      return new SqliteBackend({ path: config.path });
  }
}
