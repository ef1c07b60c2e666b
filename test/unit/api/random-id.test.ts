import { describe, expect, it } from 'vitest';
import { randomCommandLineId } from '../../../src/api/random-id.js';
import { newTokenId } from '../../../src/api/tokens/enrollment-token.js';

describe('ids an admin passes to borgctl', () => {
  it('never begin with "-", which the command line would read as an option (one draw in 64 did)', () => {
    // 4,000 draws: with a '-' allowed first, all of them missing it has a chance of about 1 in 10^27.
    const ids = Array.from({ length: 2000 }, () => randomCommandLineId()).concat(Array.from({ length: 2000 }, () => newTokenId()));
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
