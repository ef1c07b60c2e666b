import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { ADMIN_ROLES } from '../domain/admin-roles.js';
import type { ErrorCode } from '../errors.js';

/** The only table from error codes to HTTP statuses. */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  BAD_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  INVALID_HOST_NAME: 400,
  INVALID_PUBLIC_KEY: 400,
  INVALID_QUOTA: 400,
  INVALID_DURATION: 400,
  INVALID_CIDR: 400,
  INVALID_URL: 400,
  URL_NOT_ALLOWED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_REVOKED: 401,
  TOKEN_USED: 409,
  TOKEN_HOST_MISMATCH: 403,
  TOKEN_SOURCE_MISMATCH: 403,
  NOT_FOUND: 404,
  ENROLLMENT_NOT_PENDING: 409,
  FINGERPRINT_MISMATCH: 409,
  HOST_EXISTS: 409,
  HOST_NAME_TAKEN: 409,
  UID_RANGE_EXHAUSTED: 507,
  COMMAND_FAILED: 500,
  RECONCILE_FAILED: 503,
  HOST_IN_SESSION: 409,
  CHECK_UNAVAILABLE: 503,
  NO_REPOSITORY_YET: 409,
  RESTORE_POINTS_UNAVAILABLE: 503,
  SERVER_BUSY: 503,
  STATE_VOLUME_FULL: 503,
  STATE_VOLUME_READ_ONLY: 503,
  STATE_VOLUME_FAILED: 503,
  BACKUP_VOLUME_FULL: 503,
  BACKUP_VOLUME_READ_ONLY: 503,
  SSHD_DOWN: 503,
  API_DOWN: 503,
  CLOCK_STEPPED_BACK: 503,
  ROOT_UNAVAILABLE: 503,
  INTERNAL: 500,
  UNSAFE_PATH: 500,
  STATE_ARCHIVE_INVALID: 400,
  STATE_IN_USE: 409,
  CONFIG_INVALID: 500,
};

/**
 * The body of every error answer (app.onError, and the not-found handler):
 * a stable code, a message for people, and on a refusal by role the role that would do.
 */
export const errorBody = z
  .strictObject({
    error: z.enum(Object.keys(STATUS_BY_CODE) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    requiredRole: z.enum(ADMIN_ROLES).optional(),
  })
  .meta({ id: 'Error', description: 'An error: its stable code, a message, and for a token whose role is too narrow the role it needs.' });
