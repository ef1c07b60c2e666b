import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` every 100 ms until it returns something other than undefined,
 * and returns that; throws naming `what` once `timeoutMs` has passed. For
 * waiting on real processes, sockets and files, whose timing tests cannot set.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
