import { createRateLimiter, type RateLimiter } from './middleware/rate-limit.js';

/** The rate limits of the API and the admin page, one limiter per kind of request (in memory, per API process). */
export interface ApiLimits {
  adminFailures: RateLimiter;
  enrollAttempts: RateLimiter;
  lookups: RateLimiter;
}

export function defaultLimits(): ApiLimits {
  return {
    adminFailures: createRateLimiter({ limit: 20, windowMs: 5 * 60_000 }),
    enrollAttempts: createRateLimiter({ limit: 60, windowMs: 60_000 }),
    lookups: createRateLimiter({ limit: 60, windowMs: 60_000 }),
  };
}
