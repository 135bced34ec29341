import { runBackendConformance } from './conformance.js';
import { MemoryBackend } from './memory.js';

runBackendConformance('memory', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));
