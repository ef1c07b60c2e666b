import { describe, expect, it } from 'vitest';
import { STATUS_BY_CODE } from '../../../src/api/error-map.js';

describe('STATUS_BY_CODE', () => {
  it.each([
    ['BAD_REQUEST', 400],
    ['BODY_TOO_LARGE', 413],
    ['INVALID_PUBLIC_KEY', 400],
    ['UNAUTHORIZED', 401],
    ['RATE_LIMITED', 429],
    ['TOKEN_INVALID', 401],
    ['TOKEN_EXPIRED', 401],
    ['TOKEN_REVOKED', 401],
    ['TOKEN_USED', 409],
    ['TOKEN_HOST_MISMATCH', 403],
    ['NOT_FOUND', 404],
    ['FINGERPRINT_MISMATCH', 409],
    ['HOST_EXISTS', 409],
    ['ENROLLMENT_NOT_PENDING', 409],
  ] as const)('maps %s to %d', (code, status) => {
    expect(STATUS_BY_CODE[code]).toBe(status);
  });

  it('maps every code to an error status', () => {
    for (const status of Object.values(STATUS_BY_CODE)) expect(status).toBeGreaterThanOrEqual(400);
  });
});
