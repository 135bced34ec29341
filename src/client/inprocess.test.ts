/** The in-process transport against a real registry on the memory backend, through the shared client suite. */
import { startTestCluster } from '../controllers/testenv.js';
import { clientConformance } from './client.suite.js';

clientConformance('in-process', async () => {
  const cluster = await startTestCluster();
  return {
    client: cluster.client,
    // The registry's default watch cache window (cache.ts DEFAULT_WINDOW).
    watchWindow: 4096,
    close: () => cluster.close(),
  };
});
