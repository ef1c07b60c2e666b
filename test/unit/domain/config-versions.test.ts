import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_CHURN,
  configVersionName,
  configVersionsToDrop,
  configVersionTime,
  isConfigChurning,
  lastConfigVersionBefore,
  newestConfigVersion,
} from '../../../src/domain/config-versions.js';

const at = (iso: string) => configVersionName(new Date(iso));

describe('configVersionName', () => {
  it('names a version for the moment it was seen, and reads that moment back', () => {
    const name = at('2026-11-27T03:00:00.000Z');
    expect(name).toBe('config.2026-11-27T03:00:00.000Z');
    expect(configVersionTime(name)).toEqual(new Date('2026-11-27T03:00:00.000Z'));
  });

  it.each(['config', 'config.tmp', '.config.2026-11-27T03:00:00.000Z.abc.tmp', 'config.yesterday'])('reads no time from %s', (name) => {
    expect(configVersionTime(name)).toBeNull();
  });
});

describe('lastConfigVersionBefore', () => {
  const names = [at('2026-11-27T01:00:00.000Z'), at('2026-11-27T03:00:00.000Z'), at('2026-11-27T02:00:00.000Z'), 'config.tmp'];

  it('picks the newest version seen before the time', () => {
    expect(lastConfigVersionBefore(names, new Date('2026-11-27T02:30:00.000Z'))).toBe(at('2026-11-27T02:00:00.000Z'));
  });

  it('leaves out a version seen exactly at the time', () => {
    expect(lastConfigVersionBefore(names, new Date('2026-11-27T02:00:00.000Z'))).toBe(at('2026-11-27T01:00:00.000Z'));
  });

  it('is null when every version is later', () => {
    expect(lastConfigVersionBefore(names, new Date('2026-11-27T00:00:00.000Z'))).toBeNull();
  });

  it('finds the newest of all', () => {
    expect(newestConfigVersion(names)).toBe(at('2026-11-27T03:00:00.000Z'));
  });
});

describe('configVersionsToDrop', () => {
  const limits = { maxVersions: 6, maxBytes: 1_000_000, keepFirst: 2 };
  const versions = (count: number, bytes = 4096) =>
    Array.from({ length: count }, (_, index) => ({ name: at(new Date(Date.UTC(2026, 10, 27, 0, index)).toISOString()), bytes }));

  it('keeps everything within the limits', () => {
    expect(configVersionsToDrop(versions(6), limits)).toEqual([]);
  });

  it('keeps the first versions and the newest ones, and drops the middle, oldest first', () => {
    const all = versions(9);
    const dropped = configVersionsToDrop(all, limits);
    expect(dropped).toEqual([all[2]?.name, all[3]?.name, all[4]?.name]);
  });

  it('drops the middle until the bytes fit too, never the very first nor the newest', () => {
    const all = versions(5, 400_000);
    const dropped = configVersionsToDrop(all, limits);
    expect(dropped).toEqual([all[2]?.name, all[3]?.name, all[1]?.name]);
  });

  it('never keeps more than the cap, however many versions came', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), (count) => {
        const all = versions(count);
        const kept = all.length - configVersionsToDrop(all, limits).length;
        expect(kept).toBeLessThanOrEqual(limits.maxVersions);
        if (count > 0) expect(configVersionsToDrop(all, limits)).not.toContain(all[0]?.name);
      }),
    );
  });
});

describe('isConfigChurning', () => {
  const now = new Date('2026-11-27T12:00:00.000Z');
  const minutesAgo = (minutes: number[]) => minutes.map((minute) => new Date(now.getTime() - minute * 60_000));

  it('is false for the few versions an owner makes', () => {
    expect(isConfigChurning(minutesAgo([1, 2, 3, 600, 6000]), now)).toBe(false);
  });

  it('is true for more new versions within the window than the limit', () => {
    const times = minutesAgo(Array.from({ length: CONFIG_CHURN.maxVersions + 1 }, (_, index) => index));
    expect(isConfigChurning(times, now)).toBe(true);
  });

  it('counts only the versions after the last change an admin made to the host', () => {
    const times = minutesAgo(Array.from({ length: CONFIG_CHURN.maxVersions + 1 }, (_, index) => index));
    expect(isConfigChurning(times, now, new Date(now.getTime() - 5 * 60_000))).toBe(false);
  });

  it('does not count versions older than the window', () => {
    const times = minutesAgo(Array.from({ length: CONFIG_CHURN.maxVersions + 1 }, (_, index) => 61 + index));
    expect(isConfigChurning(times, now)).toBe(false);
  });
});
