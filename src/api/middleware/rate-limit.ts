/**
 * A fixed-window counter per key (usually the client address), in memory:
 * enough for one API process, and it forgets everything on restart.
 */
export interface RateLimiter {
  /** Counts one event for the key; false once the key is over its limit. */
  hit(key: string, now: number): boolean;
  isLimited(key: string, now: number): boolean;
}

export function createRateLimiter({
  limit,
  windowMs,
  maxKeys = 100_000,
}: {
  limit: number;
  windowMs: number;
  maxKeys?: number;
}): RateLimiter {
  if (limit < 1 || windowMs < 1) throw new TypeError('rate limiter needs a positive limit and window');
  const windows = new Map<string, { startedAt: number; count: number }>();
  function current(key: string, now: number) {
    const window = windows.get(key);
    if (window && now - window.startedAt < windowMs) return window;
    if (windows.size >= maxKeys) windows.clear();
    const fresh = { startedAt: now, count: 0 };
    windows.set(key, fresh);
    return fresh;
  }
  return {
    hit(key, now) {
      const window = current(key, now);
      window.count += 1;
      return window.count <= limit;
    },
    isLimited(key, now) {
      return current(key, now).count >= limit;
    },
  };
}
