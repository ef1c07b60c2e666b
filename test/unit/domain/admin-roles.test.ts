import { describe, expect, it } from 'vitest';
import { parseAdminRole, parseAdminTokenLifetimeSeconds, roleMeets } from '../../../src/domain/admin-roles.js';
import { codeOf } from '../../support/error-codes.js';

describe('roleMeets', () => {
  it.each([
    ['admin', 'admin', 'DELETE', true],
    ['admin', 'metrics', 'GET', true],
    ['read', 'read', 'GET', true],
    ['read', 'read', 'HEAD', true],
    ['read', 'enroll', 'GET', true],
    ['read', 'enroll', 'POST', false],
    ['read', 'admin', 'POST', false],
    ['read', 'metrics', 'GET', false],
    ['metrics', 'metrics', 'GET', true],
    ['metrics', 'read', 'GET', false],
    ['enroll', 'enroll', 'POST', true],
    ['enroll', 'read', 'GET', false],
    ['enroll', 'admin', 'DELETE', false],
  ] as const)('a %s token meets a route requiring %s by %s: %s', (role, required, method, meets) => {
    expect(roleMeets(role, required, method)).toBe(meets);
  });
});

describe('parseAdminRole', () => {
  it('takes each role by name', () => {
    expect(['admin', 'read', 'metrics', 'enroll'].map(parseAdminRole)).toEqual(['admin', 'read', 'metrics', 'enroll']);
  });

  it.each(['', 'Admin', 'root', 'read,metrics'])('refuses %j with BAD_REQUEST', (value) => {
    expect(codeOf(() => parseAdminRole(value))).toBe('BAD_REQUEST');
  });
});

describe('parseAdminTokenLifetimeSeconds', () => {
  it('takes days and hours', () => {
    expect(parseAdminTokenLifetimeSeconds('90d')).toBe(90 * 86400);
    expect(parseAdminTokenLifetimeSeconds('12h')).toBe(12 * 3600);
  });

  it.each(['', '90x', '-1d', '0d', '3651d'])('refuses %j with INVALID_DURATION', (value) => {
    expect(codeOf(() => parseAdminTokenLifetimeSeconds(value))).toBe('INVALID_DURATION');
  });
});
