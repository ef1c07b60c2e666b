import { describe, expect, it } from 'vitest';
import { isAddressAllowed, parseAllowFrom, rateLimitKeyOf } from '../../../src/domain/networks.js';
import { codeOf } from '../../support/error-codes.js';

describe('parseAllowFrom', () => {
  it.each([
    ['192.0.2.0/24', '192.0.2.0/24'],
    ['192.0.2.7/24', '192.0.2.0/24'],
    ['192.0.2.7', '192.0.2.7'],
    ['192.0.2.7/32', '192.0.2.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7/120', '192.0.2.0/24'],
    ['::ffff:192.0.2.7/128', '192.0.2.7/32'],
    ['::ffff:0:0/64', '::/64'],
    [' 10.0.0.0/8 , 192.168.1.0/24', '10.0.0.0/8,192.168.1.0/24'],
  ])('renders %s canonically as %s', (input, canonical) => {
    expect(parseAllowFrom(input)).toBe(canonical);
  });

  it('takes 32 ranges', () => {
    const ranges = Array.from({ length: 32 }, (_, index) => `10.0.${index}.0/24`).join(',');
    expect(parseAllowFrom(ranges).split(',')).toHaveLength(32);
  });

  it.each([
    ['the empty string', ''],
    ['a trailing comma', '192.0.2.0/24,'],
    ['a prefix beyond 32', '192.0.2.0/33'],
    ['a prefix beyond 128', '2001:db8::/129'],
    ['an empty prefix', '192.0.2.0/'],
    ['a host name', 'example.com'],
    ['a wildcard', '*'],
    ['a negated pattern', '!192.0.2.1'],
    ['sshd pattern syntax', '192.0.2.*'],
    ['a quote that would end from="…"', '192.0.2.1"'],
    ['an option smuggled after a quote', '192.0.2.1",command="/bin/sh'],
    ['a newline', '192.0.2.1\nssh-ed25519 AAAA'],
    ['octal, which reads as 8.0.0.1', '010.0.0.1'],
    ['a shortened IPv4 address', '127.1'],
    ['a hexadecimal IPv4 address', '0x7f.0.0.1'],
    ['a single 32-bit number', '3221225985'],
    ['an IPv6 zone id', 'fe80::1%eth0'],
    ['an IPv6 zone id with a prefix', 'fe80::1%eth0/64'],
    ['33 ranges', Array.from({ length: 33 }, (_, index) => `10.0.${index}.0/24`).join(',')],
    ['more than 1024 characters', `${'192.0.2.1,'.repeat(110)}192.0.2.1`],
  ])('refuses %s', (_label, value) => {
    expect(codeOf(() => parseAllowFrom(value))).toBe('INVALID_CIDR');
  });

  it.each([undefined, null, 42, ['192.0.2.0/24']])('refuses the non-string %j', (value) => {
    expect(codeOf(() => parseAllowFrom(value))).toBe('INVALID_CIDR');
  });
});

describe('isAddressAllowed', () => {
  it('allows an address inside a range', () => {
    expect(isAddressAllowed('192.0.2.9', '192.0.2.0/24')).toBe(true);
  });

  it('allows an IPv4-mapped IPv6 address inside an IPv4 range', () => {
    expect(isAddressAllowed('::ffff:192.0.2.9', '192.0.2.0/24')).toBe(true);
  });

  it('allows an address listed alone', () => {
    expect(isAddressAllowed('2001:db8::5', '192.0.2.0/24,2001:db8::5')).toBe(true);
  });

  it('refuses an address outside every range', () => {
    expect(isAddressAllowed('192.0.3.9', '192.0.2.0/24,2001:db8::/32')).toBe(false);
  });

  it('refuses an IPv6 address against an IPv4 range', () => {
    expect(isAddressAllowed('2001:db8::1', '0.0.0.0/0')).toBe(false);
  });

  it('refuses something that is not an address', () => {
    expect(isAddressAllowed('unknown', '0.0.0.0/0')).toBe(false);
  });
});

describe('rateLimitKeyOf', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['::1', '::/64'],
  ])('counts %s as %s', (address, key) => {
    expect(rateLimitKeyOf(address)).toBe(key);
  });

  it('counts every address of one IPv6 /64 together, and another /64 apart', () => {
    expect(rateLimitKeyOf('2001:db8::1')).toBe(rateLimitKeyOf('2001:db8::ffff:1'));
    expect(rateLimitKeyOf('2001:db8:0:1::1')).not.toBe(rateLimitKeyOf('2001:db8::1'));
  });

  it.each([null, '', 'example.com'])('counts %j as unknown', (address) => {
    expect(rateLimitKeyOf(address)).toBe('unknown');
  });
});
