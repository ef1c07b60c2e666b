/**
 * A token bucket: `burst` requests at once, then `ratePerSecond` on average.
 * Root gives one to each connection on its sockets, so that a peer that floods
 * is refused cheaply while a steady one is never noticed.
 */
export interface TokenBucket {
  /** Takes one token; false when none is left (the request is over the rate). */
  take(): boolean;
}

export function createTokenBucket({
  ratePerSecond,
  burst,
  nowMs = () => performance.now(),
}: {
  ratePerSecond: number;
  burst: number;
  nowMs?: () => number;
}): TokenBucket {
  if (!(ratePerSecond > 0) || !(burst >= 1)) throw new TypeError('a token bucket needs a positive rate and a burst of at least 1');
  let tokens = burst;
  let filledAt = nowMs();
  return {
    take() {
      const now = nowMs();
      tokens = Math.min(burst, tokens + ((now - filledAt) / 1000) * ratePerSecond);
      filledAt = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
