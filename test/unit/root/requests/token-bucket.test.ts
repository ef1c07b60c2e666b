import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../../../src/root/requests/token-bucket.js';

describe('a token bucket', () => {
  it('gives a burst at once, then refuses', () => {
    const bucket = createTokenBucket({ ratePerSecond: 50, burst: 200, nowMs: () => 0 });
    const taken = Array.from({ length: 201 }, () => bucket.take());
    expect(taken.filter(Boolean)).toHaveLength(200);
    expect(taken[200]).toBe(false);
  });

  it('refills at its rate, never above its burst', () => {
    let now = 0;
    const bucket = createTokenBucket({ ratePerSecond: 50, burst: 200, nowMs: () => now });
    while (bucket.take()) {}
    now = 100;
    expect(Array.from({ length: 10 }, () => bucket.take()).filter(Boolean)).toHaveLength(5);
    now = 3_600_000;
    expect(Array.from({ length: 300 }, () => bucket.take()).filter(Boolean)).toHaveLength(200);
  });

  it('refuses a rate or burst that would let nothing through', () => {
    expect(() => createTokenBucket({ ratePerSecond: 0, burst: 10 })).toThrow(TypeError);
    expect(() => createTokenBucket({ ratePerSecond: 10, burst: 0 })).toThrow(TypeError);
  });
});
