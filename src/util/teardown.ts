/** Stopping several components as one. */

/**
 * Runs every step in order even when one before it fails, then throws the
 * first failure: a broken component must not leave the ones after it (kernel
 * tables, ports, storage) running or behind.
 */
export async function runAll(steps: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      failures.push(e);
    }
  }
  if (failures.length) throw failures[0];
}
