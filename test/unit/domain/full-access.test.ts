import { describe, expect, it } from 'vitest';
import { fullAccessEnd, isAppendOnlyNow, nextFullAccessEnd } from '../../../src/domain/full-access.js';
import { codeOf } from '../../support/error-codes.js';

const NOW = new Date('2026-11-27T10:00:00Z');
const at = (iso: string) => new Date(iso);

describe('fullAccessEnd', () => {
  it.each([
    ['2h', '2026-11-27T12:00:00.000Z'],
    [90, '2026-11-27T10:01:30.000Z'],
    ['7d', '2026-12-04T10:00:00.000Z'],
  ])('ends a window of %j at %s', (duration, end) => {
    expect(fullAccessEnd(duration, NOW).toISOString()).toBe(end);
  });

  it.each(['8d', '604801', 0, -5, '2 hours', '', null])('refuses %j', (duration) => {
    expect(codeOf(() => fullAccessEnd(duration, NOW))).toBe('INVALID_DURATION');
  });
});

describe('isAppendOnlyNow', () => {
  it.each([
    [true, null, true],
    [true, '2026-11-27T11:00:00Z', false],
    [true, '2026-11-27T10:00:00Z', true],
    [true, '2026-11-27T09:00:00Z', true],
    [false, null, false],
    [false, '2026-11-27T11:00:00Z', false],
  ])('appendOnly %s with a window until %s: %s', (appendOnly, until, expected) => {
    expect(isAppendOnlyNow({ appendOnly, fullAccessUntil: until ? at(until) : null }, NOW)).toBe(expected);
  });
});

describe('nextFullAccessEnd', () => {
  it('is the earliest end of the windows still open on append-only hosts', () => {
    const next = nextFullAccessEnd(
      [
        { appendOnly: true, fullAccessUntil: at('2026-11-27T15:00:00Z') },
        { appendOnly: true, fullAccessUntil: at('2026-11-27T11:00:00Z') },
        { appendOnly: true, fullAccessUntil: at('2026-11-27T09:00:00Z') },
        { appendOnly: false, fullAccessUntil: at('2026-11-27T10:30:00Z') },
        { appendOnly: true, fullAccessUntil: null },
      ],
      NOW,
    );
    expect(next?.toISOString()).toBe('2026-11-27T11:00:00.000Z');
  });

  it('is null when no window is open', () => {
    expect(nextFullAccessEnd([{ appendOnly: true, fullAccessUntil: at('2026-11-27T09:00:00Z') }], NOW)).toBeNull();
  });
});
