import { describe, expect, it } from 'vitest';
import {
  CHECK_RESUME_AFTER_SECONDS,
  CHECK_RETRY_AFTER_SECONDS,
  type CheckCandidate,
  chooseHostToCheck,
  DEFAULT_CHECK_EVERY_SECONDS,
  type LastCheck,
  nextCheckDue,
  parseCheckEvery,
} from '../../../src/domain/check-schedule.js';
import { codeOf } from '../../support/error-codes.js';

const NOW = new Date('2026-11-27T03:00:00.000Z');
const WEEK = DEFAULT_CHECK_EVERY_SECONDS;
const secondsBefore = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);
const ended = (outcome: LastCheck['outcome'], secondsAgo: number, isPartial = false): LastCheck => ({
  endedAt: secondsBefore(secondsAgo),
  outcome,
  isPartial,
});
const candidate = (name: string, last: LastCheck | null, changes: Partial<CheckCandidate> = {}): CheckCandidate => ({
  name,
  checkEverySeconds: WEEK,
  last,
  isInSession: false,
  isRequested: false,
  hasRepository: true,
  ...changes,
});

describe('when a check is due', () => {
  it('is now for a host never checked', () => {
    expect(nextCheckDue(WEEK, null, NOW)).toEqual(NOW);
  });

  it('is a week after a check that went through', () => {
    expect(nextCheckDue(WEEK, ended('ok', 3600), NOW)).toEqual(new Date(NOW.getTime() + (WEEK - 3600) * 1000));
  });

  it('is a week after a check that found a problem', () => {
    expect(nextCheckDue(WEEK, ended('failed', 0), NOW)).toEqual(new Date(NOW.getTime() + WEEK * 1000));
  });

  it('is soon after a slice that stopped before the last segment', () => {
    expect(nextCheckDue(WEEK, ended('ok', 0, true), NOW)).toEqual(new Date(NOW.getTime() + CHECK_RESUME_AFTER_SECONDS * 1000));
  });

  it('is soon after a check a backup interrupted', () => {
    expect(nextCheckDue(WEEK, ended('interrupted', 0), NOW)).toEqual(new Date(NOW.getTime() + CHECK_RESUME_AFTER_SECONDS * 1000));
  });

  it('is an hour after a check that could not run', () => {
    expect(nextCheckDue(WEEK, ended('error', 0), NOW)).toEqual(new Date(NOW.getTime() + CHECK_RETRY_AFTER_SECONDS * 1000));
  });

  it('is never for a host whose checks are off', () => {
    expect(nextCheckDue(null, null, NOW)).toBeNull();
  });
});

describe('which host is checked next', () => {
  it('is the most overdue one', () => {
    const hosts = [
      candidate('web1', ended('ok', WEEK + 10)),
      candidate('web2', ended('ok', WEEK + 500)),
      candidate('web3', ended('ok', 5)),
    ];
    expect(chooseHostToCheck(hosts, NOW)).toBe('web2');
  });

  it('is none while no check is due', () => {
    expect(chooseHostToCheck([candidate('web1', ended('ok', 5)), candidate('web2', null, { checkEverySeconds: null })], NOW)).toBeNull();
  });

  it('is never a host with a session open', () => {
    expect(chooseHostToCheck([candidate('web1', null, { isInSession: true }), candidate('web2', ended('ok', WEEK))], NOW)).toBe('web2');
    expect(chooseHostToCheck([candidate('web1', null, { isInSession: true, isRequested: true })], NOW)).toBeNull();
  });

  it('is never a host whose VM has not run borg init: nothing to check, asked for or due', () => {
    expect(chooseHostToCheck([candidate('new1', null, { hasRepository: false }), candidate('web2', ended('ok', WEEK))], NOW)).toBe('web2');
    expect(chooseHostToCheck([candidate('new1', null, { hasRepository: false, isRequested: true })], NOW)).toBeNull();
  });

  it('is one an admin asked for before any that is due, schedule or not', () => {
    const hosts = [candidate('web1', null), candidate('web2', ended('ok', 5), { checkEverySeconds: null, isRequested: true })];
    expect(chooseHostToCheck(hosts, NOW)).toBe('web2');
  });
});

describe('--check-every', () => {
  it('takes a duration, or none', () => {
    expect(parseCheckEvery('7d')).toBe(WEEK);
    expect(parseCheckEvery(7200)).toBe(7200);
    expect(parseCheckEvery('none')).toBeNull();
    expect(parseCheckEvery(null)).toBeNull();
  });

  it('refuses less than an hour, more than a year, and what is no duration', () => {
    for (const value of ['59m', '400d', 'weekly', 0, -5]) expect(codeOf(() => parseCheckEvery(value))).toBe('INVALID_DURATION');
  });
});
