import { describe, expect, it } from 'vitest';
import { judgeFlatness } from '../../support/process-memory.js';

/** The load test's leak check: a raised floor fails it, a collector's peak does not. */
const MiB = 2 ** 20;
const series = (values: number[]) => values.map((value) => value * MiB);

describe('judgeFlatness', () => {
  it('passes memory that peaks between collections and comes down again', () => {
    expect(judgeFlatness(series([120, 130, 140, 135, 138, 141, 160, 240, 150])).isFlat).toBe(true);
  });

  it('fails memory whose floor keeps rising (a leak)', () => {
    const verdict = judgeFlatness(series([120, 130, 140, 150, 160, 170, 240, 250, 260]));
    expect(verdict).toMatchObject({ isFlat: false, middleMaxBytes: 170 * MiB, lastMinBytes: 240 * MiB });
  });
});
