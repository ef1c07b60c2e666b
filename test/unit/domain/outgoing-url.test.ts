import { describe, expect, it } from 'vitest';
import { parseOutgoingUrl, urlOrigin } from '../../../src/domain/outgoing-url.js';
import { codeOf } from '../../support/error-codes.js';

describe('parseOutgoingUrl', () => {
  it('accepts http and https URLs', () => {
    expect(parseOutgoingUrl('https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278')).toBe(
      'https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278',
    );
    expect(parseOutgoingUrl('http://127.0.0.1:8080/hook?x=1')).toBe('http://127.0.0.1:8080/hook?x=1');
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
    expect(codeOf(() => parseOutgoingUrl(value))).toBe('INVALID_URL');
  });
});

describe('urlOrigin', () => {
  it('keeps only the scheme, host and port', () => {
    expect(urlOrigin('https://hc-ping.com:8443/secret-uuid?key=1')).toBe('https://hc-ping.com:8443');
  });
});
