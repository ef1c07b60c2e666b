import { describe, expect, it } from 'vitest';
import { configVersionName, configVersionTime, lastConfigVersionBefore, newestConfigVersion } from '../../../src/domain/config-versions.js';

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
