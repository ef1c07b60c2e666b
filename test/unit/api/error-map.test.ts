import { describe, expect, it } from 'vitest';
import { STATUS_BY_CODE } from '../../../src/api/error-map.js';
import { FAULT_CODES } from '../../../src/domain/faults.js';
import { asExpectedError } from '../../../src/errors.js';

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

  it('maps every fault to 503: the server cannot do it now, and will again once the fault is gone', () => {
    for (const code of FAULT_CODES) expect(STATUS_BY_CODE[code]).toBe(503);
  });

  it('maps every code to an error status', () => {
    for (const status of Object.values(STATUS_BY_CODE)) expect(status).toBeGreaterThanOrEqual(400);
  });
});

describe('asExpectedError', () => {
  const sqliteError = (code: string) => Object.assign(new Error('sqlite says no'), { name: 'SqliteError', code });

  it.each([
    ['SQLITE_BUSY', 'SERVER_BUSY'],
    ['SQLITE_FULL', 'STATE_VOLUME_FULL'],
    ['SQLITE_READONLY', 'STATE_VOLUME_READ_ONLY'],
    ['SQLITE_IOERR_WRITE', 'STATE_VOLUME_FAILED'],
  ] as const)('turns the database error %s into %s', (sqliteCode, code) => {
    expect(asExpectedError(sqliteError(sqliteCode))?.code).toBe(code);
  });

  it('leaves another database error a bug (null: logged, then 500)', () => {
    expect(asExpectedError(sqliteError('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
  });
});
