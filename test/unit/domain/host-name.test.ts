import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidHostName, parseHostName } from '../../../src/domain/host-name.js';
import type { AppError } from '../../../src/errors.js';
import { codeOf } from '../../support/error-codes.js';

const HOST_NAME_RULE = /^[a-z][a-z0-9-]{0,30}$/;

describe('parseHostName', () => {
  it.each(['web1', 'a', 'db-primary-2', `a${'b'.repeat(30)}`, 'web-'])('accepts %s', (name) => {
    expect(parseHostName(name)).toBe(name);
  });

  it.each(['root', 'sshd', 'daemon', 'nobody', 'backup', 'borg', 'borg-api', 'admin', 'systemd-network', 'systemd-anything'])(
    'refuses the reserved name %s',
    (name) => {
      expect(codeOf(() => parseHostName(name))).toBe('INVALID_HOST_NAME');
    },
  );

  it.each([
    ['upper case', 'Web1'],
    ['all upper case', 'WEB'],
    ['unicode letters', 'wéb1'],
    ['a unicode look-alike', 'wеb1'],
    ['200 characters', 'a'.repeat(200)],
    ['32 characters', `a${'b'.repeat(31)}`],
    ['a path', '../x'],
    ['a slash', 'web/1'],
    ['a leading digit', '1web'],
    ['a leading hyphen', '-web'],
    ['an underscore', 'web_1'],
    ['a dot', 'web.example'],
    ['the empty string', ''],
    ['a semicolon', 'web;id'],
    ['command substitution', '$(id)'],
    ['backticks', '`id`'],
    ['a pipe', 'web|sh'],
    ['an ampersand', 'web&&id'],
    ['a quote', "web'1"],
    ['a double quote', 'web"1'],
    ['a space', 'web 1'],
    ['a trailing newline', 'web1\n'],
    ['an embedded newline', 'web1\nroot'],
    ['a NUL byte', 'web1\u0000'],
  ])('refuses %s', (_label, name) => {
    expect(codeOf(() => parseHostName(name))).toBe('INVALID_HOST_NAME');
  });

  it.each([undefined, null, 42, {}, ['web1']])('refuses the non-string %j', (value) => {
    expect(codeOf(() => parseHostName(value))).toBe('INVALID_HOST_NAME');
  });

  it('never accepts a name outside ^[a-z][a-z0-9-]{0,30}$', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z0-9-]{0,40}\n?$/)), (name) => {
        let accepted: string | undefined;
        try {
          accepted = parseHostName(name);
        } catch (error) {
          expect((error as AppError).code).toBe('INVALID_HOST_NAME');
          return;
        }
        expect(accepted).toBe(name);
        expect(HOST_NAME_RULE.test(accepted)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every name that matches the rule and is not reserved', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/), (name) => {
        if (!isValidHostName(name)) return;
        expect(parseHostName(name)).toBe(name);
      }),
    );
  });
});

describe('isValidHostName', () => {
  it('is false for a reserved name', () => {
    expect(isValidHostName('root')).toBe(false);
  });

  it('is true for an ordinary name', () => {
    expect(isValidHostName('web1')).toBe(true);
  });
});
