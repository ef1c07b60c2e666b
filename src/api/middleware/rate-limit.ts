import { AppError } from '../../errors.js';

/**
 * A fixed-window counter per key (a client address, see rateLimitKeyOf), in
 * memory: enough for one API process, and it forgets everything on restart.
 * At most `maxKeys` keys are kept: past that the oldest window goes (ended
 * windows are the oldest), so that a flood of new addresses can neither grow
 * the memory nor wipe every other address's count at once.
 */
export interface RateLimiter {
  /** Counts one event for the key; false once the key is over its limit. */
  hit(key: string, now: number): boolean;
  isLimited(key: string, now: number): boolean;
  /** Milliseconds until the key's window ends and its count starts afresh (0 when it has none). */
  retryAfterMs(key: string, now: number): number;
}

/** RATE_LIMITED, telling when the key's window ends (Retry-After, whole seconds, at least 1). */
export function rateLimitedError(limiter: RateLimiter, key: string, now: number, message: string): AppError {
  const retryAfterSeconds = Math.max(1, Math.ceil(limiter.retryAfterMs(key, now) / 1000));
  return new AppError('RATE_LIMITED', message, { retryAfterSeconds });
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
    // Re-inserted when its window starts, so that the Map's first key is always the oldest window.
    windows.delete(key);
    while (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
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
    retryAfterMs(key, now) {
      const window = windows.get(key);
      if (!window || now - window.startedAt >= windowMs) return 0;
      return window.startedAt + windowMs - now;
    },
  };
}
