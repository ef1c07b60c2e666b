import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` every 100 ms until it returns something other than undefined,
 * and returns that; throws naming `what` once `timeoutMs` has passed. For
 * waiting on real processes, sockets and files, whose timing tests cannot set.
 * The default bound is generous: the suite must pass while other work keeps
 * both cores busy, and a bound only matters when the thing never comes.
 * `what` may be a function, read only when the wait fails, so the error can
 * carry what the process had printed by then (on a busy machine that output is
 * what tells a slow process from a broken one).
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(100);
  }
}
