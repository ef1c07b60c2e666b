import { describe, expect, it } from 'vitest';
import {
  CLOCK_STEP_TOLERANCE_MS,
  clockFault,
  compareFaults,
  type Fault,
  faultListSchema,
  faultOfErrno,
  faultOfError,
  faultOfSqliteCode,
  isVolumeFull,
} from '../../../src/domain/faults.js';

const sqliteError = (code: string) => Object.assign(new Error('sqlite says no'), { name: 'SqliteError', code });
const errnoError = (code: string) => Object.assign(new Error(`${code}: no`), { code });

describe('faultOfErrno', () => {
  it.each([
    ['ENOSPC', 'state', 'STATE_VOLUME_FULL'],
    ['EDQUOT', 'state', 'STATE_VOLUME_FULL'],
    ['EROFS', 'state', 'STATE_VOLUME_READ_ONLY'],
    ['EIO', 'state', 'STATE_VOLUME_FAILED'],
    ['ENOSPC', 'backup', 'BACKUP_VOLUME_FULL'],
    ['EDQUOT', 'backup', 'BACKUP_VOLUME_FULL'],
    ['EROFS', 'backup', 'BACKUP_VOLUME_READ_ONLY'],
  ] as const)('names %s on the %s volume %s', (errno, volume, code) => {
    expect(faultOfErrno(errno, volume)?.code).toBe(code);
  });

  it.each(['ENOENT', 'EACCES', 'EEXIST', undefined])('names no fault for %s (a bug or a missing file, not the machine)', (errno) => {
    expect(faultOfErrno(errno, 'state')).toBeNull();
  });
});

describe('faultOfSqliteCode', () => {
  it.each([
    ['SQLITE_BUSY', 'SERVER_BUSY'],
    ['SQLITE_BUSY_SNAPSHOT', 'SERVER_BUSY'],
    ['SQLITE_LOCKED', 'SERVER_BUSY'],
    ['SQLITE_FULL', 'STATE_VOLUME_FULL'],
    ['SQLITE_READONLY', 'STATE_VOLUME_READ_ONLY'],
    ['SQLITE_READONLY_DBMOVED', 'STATE_VOLUME_READ_ONLY'],
    ['SQLITE_IOERR_WRITE', 'STATE_VOLUME_FAILED'],
  ] as const)('names %s %s', (sqliteCode, code) => {
    expect(faultOfSqliteCode(sqliteCode)?.code).toBe(code);
  });

  it('asks the state volume what an I/O error was: a write that failed on a read-only volume is that', () => {
    const readOnly = faultOfErrno('EROFS', 'state');
    expect(faultOfSqliteCode('SQLITE_IOERR_WRITE', () => readOnly)?.code).toBe('STATE_VOLUME_READ_ONLY');
    expect(faultOfSqliteCode('SQLITE_IOERR_FSYNC', () => faultOfErrno('ENOSPC', 'state'))?.code).toBe('STATE_VOLUME_FULL');
  });

  it.each(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_CORRUPT'])('names no fault for %s', (code) => {
    expect(faultOfSqliteCode(code)).toBeNull();
  });
});

describe('faultOfError', () => {
  it('reads an SQLite error by its code and a file-system error by its errno, on the volume it was for', () => {
    expect(faultOfError(sqliteError('SQLITE_FULL'))?.code).toBe('STATE_VOLUME_FULL');
    expect(faultOfError(errnoError('ENOSPC'), 'backup')?.code).toBe('BACKUP_VOLUME_FULL');
  });

  it('names no fault for an error without a code, or no error', () => {
    expect(faultOfError(new Error('a bug'))).toBeNull();
    expect(faultOfError(undefined)).toBeNull();
  });
});

describe('isVolumeFull', () => {
  it('is full with no block left for an unprivileged writer', () => {
    expect(isVolumeFull({ bavail: 0, ffree: 1000, files: 2000 })).toBe(true);
  });

  it('is full with no inode left', () => {
    expect(isVolumeFull({ bavail: 1000, ffree: 0, files: 2000 })).toBe(true);
  });

  it('is not full with one block and one inode left, nor on a file system that counts no inodes', () => {
    expect(isVolumeFull({ bavail: 1, ffree: 1, files: 2000 })).toBe(false);
    expect(isVolumeFull({ bavail: 1, ffree: 0, files: 0 })).toBe(false);
  });
});

describe('clockFault', () => {
  const seen = Date.parse('2026-12-05T12:00:00Z');

  it('is none while the clock runs forward, or steps back within the tolerance', () => {
    expect(clockFault(seen, seen + 1000)).toBeNull();
    expect(clockFault(seen, seen - CLOCK_STEP_TOLERANCE_MS)).toBeNull();
  });

  it('is CLOCK_STEPPED_BACK, saying by how much, once the clock is behind a time already seen by more', () => {
    const fault = clockFault(seen, seen - 3600_000);
    expect(fault?.code).toBe('CLOCK_STEPPED_BACK');
    expect(fault?.message).toContain('3600 s behind');
  });
});

describe('compareFaults', () => {
  const full: Fault = { code: 'STATE_VOLUME_FULL', message: 'full' };
  const sshd: Fault = { code: 'SSHD_DOWN', message: 'down' };

  it('tells what began and what ended, by code', () => {
    expect(compareFaults([full], [sshd])).toEqual({ began: [sshd], ended: [full] });
  });

  it('tells nothing of a fault still present, whatever its message says now', () => {
    expect(compareFaults([full], [{ ...full, message: 'still full' }])).toEqual({ began: [], ended: [] });
  });
});

describe('faultListSchema', () => {
  it('takes a list of known faults and refuses an unknown code or extra fields', () => {
    expect(faultListSchema.safeParse([{ code: 'SSHD_DOWN', message: 'down' }]).success).toBe(true);
    expect(faultListSchema.safeParse([{ code: 'DISK_ON_FIRE', message: 'hot' }]).success).toBe(false);
    expect(faultListSchema.safeParse([{ code: 'SSHD_DOWN', message: 'down', extra: 1 }]).success).toBe(false);
  });
});
