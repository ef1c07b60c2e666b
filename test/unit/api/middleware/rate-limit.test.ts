import { describe, expect, it } from 'vitest';
import { createRateLimiter, rateLimitedError } from '../../../../src/api/middleware/rate-limit.js';

describe('createRateLimiter', () => {
  it('allows events up to the limit', () => {
    const limiter = createRateLimiter({ limit: 3, windowMs: 1000 });
    expect([limiter.hit('a', 0), limiter.hit('a', 1), limiter.hit('a', 2)]).toEqual([true, true, true]);
  });

  it('refuses the event past the limit', () => {
    const limiter = createRateLimiter({ limit: 2, windowMs: 1000 });
    limiter.hit('a', 0);
    limiter.hit('a', 0);
    expect(limiter.hit('a', 0)).toBe(false);
  });

  it('reports a key as limited once it reached the limit', () => {
    const limiter = createRateLimiter({ limit: 2, windowMs: 1000 });
    limiter.hit('a', 0);
    expect(limiter.isLimited('a', 0)).toBe(false);
    limiter.hit('a', 0);
    expect(limiter.isLimited('a', 0)).toBe(true);
  });

  it('counts each key on its own', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 1000 });
    limiter.hit('a', 0);
    expect(limiter.isLimited('b', 0)).toBe(false);
  });

  it('forgets a key once its window has passed', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 1000 });
    limiter.hit('a', 0);
    expect(limiter.isLimited('a', 999)).toBe(true);
    expect(limiter.isLimited('a', 1000)).toBe(false);
  });

  it('makes room for a new key by forgetting only the oldest window', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 1000, maxKeys: 3 });
    limiter.hit('oldest', 0);
    limiter.hit('b', 1);
    limiter.hit('c', 2);
    limiter.hit('new', 3);
    expect([limiter.isLimited('b', 4), limiter.isLimited('c', 4), limiter.isLimited('new', 4)]).toEqual([true, true, true]);
    expect(limiter.isLimited('oldest', 4)).toBe(false);
  });

  it('counts a key whose window started again as the newest', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 10, maxKeys: 2 });
    limiter.hit('a', 0);
    limiter.hit('b', 5);
    limiter.hit('a', 20);
    limiter.hit('c', 21);
    expect([limiter.isLimited('a', 22), limiter.isLimited('c', 22)]).toEqual([true, true]);
  });

  it.each([
    [0, 1000],
    [1, 0],
  ])('refuses a limit of %d in a window of %d ms when it is built', (limit, windowMs) => {
    expect(() => createRateLimiter({ limit, windowMs })).toThrow(TypeError);
  });

  it('tells how long until the window of a key ends, and nothing for a key without one', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000 });
    limiter.hit('a', 1000);
    expect([limiter.retryAfterMs('a', 1000), limiter.retryAfterMs('a', 31_000), limiter.retryAfterMs('a', 61_000)]).toEqual([
      60_000, 30_000, 0,
    ]);
    expect(limiter.retryAfterMs('b', 1000)).toBe(0);
  });
});

describe('rateLimitedError', () => {
  it('is RATE_LIMITED with the seconds left of the window, rounded up and at least 1', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000 });
    limiter.hit('a', 0);
    expect(rateLimitedError(limiter, 'a', 500, 'slow down')).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'slow down',
      retryAfterSeconds: 60,
    });
    expect(rateLimitedError(limiter, 'a', 59_999, 'slow down').retryAfterSeconds).toBe(1);
    expect(rateLimitedError(limiter, 'a', 60_000, 'slow down').retryAfterSeconds).toBe(1);
  });
});
