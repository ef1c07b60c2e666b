import { describe, expect, it } from 'vitest';
import { isValidHostName } from '../../../src/domain/host-name.js';
import {
  copiesBeyondKept,
  FIRST_COPY_DELAY_MS,
  isStateCopyFileName,
  nextCopyDelayMs,
  STATE_COPIES_DIRECTORY,
  stateCopyFileName,
  stateCopyTime,
} from '../../../src/domain/state-copy-schedule.js';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-05T20:00:00.000Z');

describe('the server state copies schedule', () => {
  it('puts the copies where no host directory can be', () => {
    expect(isValidHostName(STATE_COPIES_DIRECTORY)).toBe(false);
    expect(isValidHostName(STATE_COPIES_DIRECTORY.slice(1))).toBe(true);
  });

  it('names a copy by the time it was made, in a name that sorts by it and reads back', () => {
    const name = stateCopyFileName(NOW);
    expect(name).toBe('server-state-2026-12-05T20-00-00.000Z.tar');
    expect(isStateCopyFileName(name)).toBe(true);
    expect(stateCopyTime(name)).toEqual(NOW);
    const later = stateCopyFileName(new Date(NOW.getTime() + 1));
    expect([later, name].sort()).toEqual([name, later]);
  });

  it('takes no other file for a copy', () => {
    for (const name of [
      '.server-state-2026-12-05T20-00-00.000Z.tar.1a2b.tmp',
      'by-hand.tar',
      'server-state-latest.tar',
      'server-state-2026-12-05T20-00-00.000Z.tar.gz',
    ]) {
      expect(isStateCopyFileName(name), name).toBe(false);
      expect(stateCopyTime(name)).toBeNull();
    }
  });

  it('removes the copies beyond the newest ones kept, and nothing else', () => {
    const names = [0, 1, 2, 3].map((days) => stateCopyFileName(new Date(NOW.getTime() - days * DAY_MS)));
    expect(copiesBeyondKept([...names, 'by-hand.tar'], 2)).toEqual([names[3], names[2]]);
    expect(copiesBeyondKept(names, 7)).toEqual([]);
  });

  it('makes the next copy one interval after the newest, at once when that is past', () => {
    const newest = stateCopyFileName(new Date(NOW.getTime() - 3_600_000));
    expect(nextCopyDelayMs([newest], DAY_MS, NOW)).toBe(DAY_MS - 3_600_000);
    expect(nextCopyDelayMs([stateCopyFileName(new Date(NOW.getTime() - 2 * DAY_MS))], DAY_MS, NOW)).toBe(0);
  });

  it('makes the first copy soon, and never waits longer than an interval (a clock set back)', () => {
    expect(nextCopyDelayMs(['by-hand.tar'], DAY_MS, NOW)).toBe(FIRST_COPY_DELAY_MS);
    expect(nextCopyDelayMs([], 5000, NOW)).toBe(5000);
    expect(nextCopyDelayMs([stateCopyFileName(new Date(NOW.getTime() + 10 * DAY_MS))], DAY_MS, NOW)).toBe(DAY_MS);
  });
});
