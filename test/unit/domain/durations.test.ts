import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../../src/domain/durations.js';
import { codeOf } from '../../support/error-codes.js';

describe('parseDurationSeconds', () => {
  it.each([
    ['15m', 900],
    ['2h', 7200],
    ['7d', 604_800],
    ['1w', 604_800],
    ['45s', 45],
    ['3600', 3600],
    [' 1h ', 3600],
    [600, 600],
  ])('reads %j as %d seconds', (input, seconds) => {
    expect(parseDurationSeconds(input)).toBe(seconds);
  });

  it.each([
    ['zero seconds', 0],
    ['zero as a string', '0'],
    ['zero minutes', '0m'],
    ['a negative number', -60],
    ['a negative string', '-1h'],
    ['a fraction', 1.5],
    ['a fractional string', '1.5h'],
    ['upper-case units', '1H'],
    ['an unknown unit', '1y'],
    ['two units', '1h30m'],
    ['a space between number and unit', '1 h'],
    ['ten digits', '1234567890'],
    ['the empty string', ''],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['an object', {}],
  ])('refuses %s', (_label, value) => {
    expect(codeOf(() => parseDurationSeconds(value))).toBe('INVALID_DURATION');
  });
});
