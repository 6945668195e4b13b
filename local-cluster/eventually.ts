import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it returns a value other than undefined (or stops throwing), for a test that waits
 * on a controller converging. Throws the last failure when the time is up.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastProblem: unknown = new Error('condition not met');
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastProblem = new Error('condition not met yet');
    } catch (error) {
      lastProblem = error;
    }
    await sleep(options.intervalMs ?? 100);
  }
  throw lastProblem instanceof Error
    ? new Error(`timed out: ${lastProblem.message}`, { cause: lastProblem })
    : new Error('timed out');
}
