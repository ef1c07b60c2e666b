import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE_MS, nextAttemptAfterFailure } from '../../../../src/api/notify/retry-schedule.js';

const AT = new Date('2026-03-02T10:00:00.000Z');

describe('nextAttemptAfterFailure', () => {
  it('waits 5 s, 5 min, 30 min, 2 h, 5 h and 10 h after the failed attempts', () => {
    const delays = [1, 2, 3, 4, 5, 6].map(
      (attempt) => (nextAttemptAfterFailure(attempt, AT, DEFAULT_RETRY_SCHEDULE_MS)?.getTime() ?? 0) - AT.getTime(),
    );
    expect(delays).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000]);
  });

  it('gives up after the seventh attempt', () => {
    expect(nextAttemptAfterFailure(7, AT, DEFAULT_RETRY_SCHEDULE_MS)).toBeNull();
  });

  it('follows an injected schedule', () => {
    expect(nextAttemptAfterFailure(1, AT, [10])).toEqual(new Date(AT.getTime() + 10));
    expect(nextAttemptAfterFailure(2, AT, [10])).toBeNull();
  });
});
