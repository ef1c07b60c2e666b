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
  | 'RESTORE_POINTS_UNAVAILABLE'
  | 'SERVER_BUSY'
  | 'ROOT_UNAVAILABLE'
  | 'INTERNAL'
  | 'UNSAFE_PATH'
  | 'STATE_ARCHIVE_INVALID'
  | 'STATE_IN_USE'
  | 'CONFIG_INVALID';

export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/**
 * The database still locked by another writer after its busy timeout: the
 * request did nothing (its transaction rolled back), and may simply be sent again.
 */
function isDatabaseBusy(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return name === 'SqliteError' && typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** An expected failure as an AppError (a busy database becomes SERVER_BUSY), or null for a bug. */
export function asExpectedError(error: unknown): AppError | null {
  if (isAppError(error)) return error;
  if (isDatabaseBusy(error)) return new AppError('SERVER_BUSY', 'the server is busy; try again in a few seconds');
  return null;
}
