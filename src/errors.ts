import { type Fault, faultOfSqliteCode } from './domain/faults.js';

/**
 * Expected failures carry a stable code; the API maps codes to statuses in one
 * table (src/api/error-map.ts) and the CLI prints the message.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'INVALID_HOST_NAME'
  | 'INVALID_PUBLIC_KEY'
  | 'INVALID_QUOTA'
  | 'INVALID_DURATION'
  | 'INVALID_CIDR'
  | 'INVALID_URL'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_REVOKED'
  | 'TOKEN_USED'
  | 'TOKEN_HOST_MISMATCH'
  | 'TOKEN_SOURCE_MISMATCH'
  | 'NOT_FOUND'
  | 'ENROLLMENT_NOT_PENDING'
  | 'FINGERPRINT_MISMATCH'
  | 'HOST_EXISTS'
  | 'HOST_NAME_TAKEN'
  | 'UID_RANGE_EXHAUSTED'
  | 'COMMAND_FAILED'
  | 'RECONCILE_FAILED'
  | 'HOST_IN_SESSION'
  | 'CHECK_UNAVAILABLE'
  | 'NO_REPOSITORY_YET'
  | 'RESTORE_POINTS_UNAVAILABLE'
  | 'SERVER_BUSY'
  | 'STATE_VOLUME_FULL'
  | 'STATE_VOLUME_READ_ONLY'
  | 'STATE_VOLUME_FAILED'
  | 'BACKUP_VOLUME_FULL'
  | 'BACKUP_VOLUME_READ_ONLY'
  | 'SSHD_DOWN'
  | 'API_DOWN'
  | 'CLOCK_STEPPED_BACK'
  | 'ROOT_UNAVAILABLE'
  | 'INTERNAL'
  | 'UNSAFE_PATH'
  | 'STATE_ARCHIVE_INVALID'
  | 'STATE_IN_USE'
  | 'CONFIG_INVALID';

export class AppError extends Error {
  readonly code: ErrorCode;
  /** For a refusal that passes (a rate limit, a busy database): when to ask again, sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ErrorCode, message: string, { retryAfterSeconds }: { retryAfterSeconds?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A busy database is free again within its busy timeout, unless a long write holds it: ask again in a few seconds. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/**
 * An expected failure as an AppError, or null for a bug. A fault of the
 * machine (src/domain/faults.ts) becomes its reason code: a database locked by
 * another writer beyond the busy timeout (SERVER_BUSY: the request did nothing,
 * its transaction rolled back, and may simply be sent again), a full or
 * read-only state volume. `probeStateVolume` tells what an SQLite I/O error was.
 */
export function asExpectedError(error: unknown, probeStateVolume?: () => Fault | null): AppError | null {
  if (isAppError(error)) return error;
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  if (name !== 'SqliteError' || typeof code !== 'string') return null;
  const fault = faultOfSqliteCode(code, probeStateVolume);
  if (!fault) return null;
  // A busy database clears within seconds: say when to ask again.
  return new AppError(fault.code, fault.message, fault.code === 'SERVER_BUSY' ? { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS } : {});
}
