import { describe, expect, it } from 'vitest';
import { parseOutgoingUrl, urlOrigin } from '../../../src/domain/outgoing-url.js';
import { codeOf } from '../../support/error-codes.js';

describe('parseOutgoingUrl', () => {
  it('accepts http and https URLs', () => {
    expect(parseOutgoingUrl('https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278', null)).toBe(
      'https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278',
    );
    expect(parseOutgoingUrl('http://93.184.215.14:8080/hook?x=1', null)).toBe('http://93.184.215.14:8080/hook?x=1');
    expect(parseOutgoingUrl('http://[2606:4700::1]/hook', null)).toBe('http://[2606:4700::1]/hook');
  });

  it.each([
    ['a loopback address', 'http://127.0.0.1:8080/hook'],
    ['loopback in another spelling', 'http://2130706433/hook'],
    ['IPv6 loopback', 'http://[::1]/hook'],
    ['an IPv4-mapped loopback address', 'http://[::ffff:127.0.0.1]/hook'],
    ['localhost', 'http://localhost:8080/hook'],
    ['a name under localhost', 'http://api.LOCALHOST./hook'],
    ['the cloud metadata address (link-local)', 'http://169.254.169.254/latest/meta-data/'],
    ['an IPv6 link-local address', 'http://[fe80::1]/hook'],
    ['a private address', 'https://192.168.1.10/hook'],
    ['a unique-local address', 'https://[fd12:3456::1]/hook'],
    ['a carrier-grade NAT address', 'https://100.64.0.1/hook'],
    ['the unspecified address', 'http://0.0.0.0:8080/hook'],
    ['the IPv6 unspecified address', 'http://[::]/hook'],
    ['a multicast address', 'http://224.0.0.1/hook'],
  ])('refuses a URL to %s with URL_NOT_ALLOWED', (_, value) => {
    expect(codeOf(() => parseOutgoingUrl(value, null))).toBe('URL_NOT_ALLOWED');
  });

  it('takes an address in the allowed ranges, and localhost when loopback is allowed', () => {
    expect(parseOutgoingUrl('http://192.168.1.10/hook', '192.168.1.0/24')).toBe('http://192.168.1.10/hook');
    expect(parseOutgoingUrl('http://localhost:9/hook', '127.0.0.0/8')).toBe('http://localhost:9/hook');
    expect(codeOf(() => parseOutgoingUrl('http://192.168.2.10/hook', '192.168.1.0/24'))).toBe('URL_NOT_ALLOWED');
  });

  it.each([
    ['not a URL', 'hook.example.test'],
    ['another scheme', 'ftp://hook.example.test/'],
    ['a file URL', 'file:///etc/passwd'],
    ['a user name and password', 'https://user:secret@hook.example.test/'],
    ['a user name', 'https://user@hook.example.test/'],
    ['a fragment', 'https://hook.example.test/#x'],
    ['an empty string', ''],
    ['a very long URL', `https://hook.example.test/${'a'.repeat(2048)}`],
    ['a number', 42],
  ])('refuses %s', (_, value) => {
    expect(codeOf(() => parseOutgoingUrl(value, null))).toBe('INVALID_URL');
  });
});

describe('urlOrigin', () => {
  it('keeps only the scheme, host and port', () => {
    expect(urlOrigin('https://hc-ping.com:8443/secret-uuid?key=1')).toBe('https://hc-ping.com:8443');
  });
});
