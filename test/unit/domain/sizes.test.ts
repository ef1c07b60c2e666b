import { describe, expect, it } from 'vitest';
import { formatBytes, MIN_QUOTA_BYTES, parseQuota } from '../../../src/domain/sizes.js';
import { codeOf } from '../../support/error-codes.js';

describe('parseQuota', () => {
  it.each([
    ['500G', 500e9],
    ['500g', 500e9],
    ['1.5T', 1.5e12],
    ['10M', 10e6],
    ['20000K', 20e6],
    ['2P', 2e15],
    ['10000000', 10e6],
    [' 1G ', 1e9],
    [12_345_678, 12_345_678],
  ])('reads %j as %d bytes', (input, bytes) => {
    expect(parseQuota(input)).toBe(bytes);
  });

  it('accepts exactly the 10M borg needs', () => {
    expect(parseQuota(MIN_QUOTA_BYTES)).toBe(10e6);
  });

  it.each([
    ['less than 10M', '9M'],
    ['less than 10M as bytes', 9_999_999],
    ['zero', 0],
    ['a negative number', -10e6],
    ['a fraction of a byte as a number', 10e6 + 0.5],
    ['more than 2^53 bytes', '9999999999999999P'],
    ['an unknown unit', '500X'],
    ['binary units', '500GiB'],
    ['a unit with B', '500GB'],
    ['a negative string', '-500G'],
    ['an exponent', '1e12'],
    ['the empty string', ''],
    ['a space inside', '500 G'],
    ['a shell metacharacter', '500G;id'],
    ['an option', '--append-only'],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['a boolean', true],
  ])('refuses %s', (_label, value) => {
    expect(codeOf(() => parseQuota(value))).toBe('INVALID_QUOTA');
  });
});

describe('formatBytes', () => {
  it.each([
    [500e9, '500G'],
    [1.5e12, '1500G'],
    [10e6, '10M'],
    [1234, '1234'],
    [2e15, '2P'],
  ])('writes %d as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
