import { describe, expect, it } from 'vitest';
import { backupStatus, isBackupOverdue, parseExpectBackupEvery } from '../../../src/domain/backup-staleness.js';

const createdAt = new Date('2026-03-01T00:00:00Z');
const hours = (count: number) => new Date(createdAt.getTime() + count * 3600_000);

describe('backupStatus', () => {
  it('is never before the first backup, and stale once that lasts longer than expected', () => {
    const facts = { isDisabled: false, lastBackupAt: null, createdAt, expectBackupEveryMs: null };
    expect(backupStatus(facts, hours(1))).toBe('never');
    expect(isBackupOverdue(facts, hours(25))).toBe(false);
    expect(isBackupOverdue(facts, hours(27))).toBe(true);
  });

  it('is ok within 26 hours of the last backup by default, then stale', () => {
    const facts = { isDisabled: false, lastBackupAt: hours(10), createdAt, expectBackupEveryMs: null };
    expect(backupStatus(facts, hours(35))).toBe('ok');
    expect(backupStatus(facts, hours(37))).toBe('stale');
  });

  it("follows the host's own period", () => {
    const facts = { isDisabled: false, lastBackupAt: hours(0), createdAt, expectBackupEveryMs: 2 * 3600_000 };
    expect(backupStatus(facts, hours(3))).toBe('stale');
  });

  it('is disabled for a disabled host, stale or not', () => {
    expect(backupStatus({ isDisabled: true, lastBackupAt: null, createdAt, expectBackupEveryMs: null }, hours(100))).toBe('disabled');
  });
});

describe('parseExpectBackupEvery', () => {
  it('reads durations to milliseconds', () => {
    expect(parseExpectBackupEvery('26h')).toBe(26 * 3600_000);
    expect(parseExpectBackupEvery('7d')).toBe(7 * 86_400_000);
  });

  it.each(['10s', '400d', 'soon', -5])('refuses %s', (value) => {
    expect(() => parseExpectBackupEvery(value)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
