import { AppError } from '../errors.js';
import { parseDurationSeconds } from './durations.js';

/**
 * What an admin token may do. `admin` does everything; `read` reads everything
 * of the admin API and the page (every GET) and changes nothing; `metrics` may
 * only scrape /metrics; `enroll` may only mint and list enrollment tokens.
 */
export const ADMIN_ROLES = ['admin', 'read', 'metrics', 'enroll'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** One line per role, for the CLI's help and the README. */
export const ADMIN_ROLE_MEANINGS: Record<AdminRole, string> = {
  admin: 'everything',
  read: 'every GET of the admin API and the page; changes nothing',
  metrics: 'GET /metrics only',
  enroll: 'mint and list enrollment tokens, nothing else',
};

/** The longest an admin token may be made to last (`--expires`); a token may also not expire at all. */
export const MAX_ADMIN_TOKEN_LIFETIME_SECONDS = 3650 * 86400;

export function parseAdminRole(value: string): AdminRole {
  const role = ADMIN_ROLES.find((candidate) => candidate === value);
  if (!role) throw new AppError('BAD_REQUEST', `role must be one of ${ADMIN_ROLES.join(', ')} (not "${value}")`);
  return role;
}

/** "90d", "12h" (or any duration parseDurationSeconds takes) to seconds, at most ten years. */
export function parseAdminTokenLifetimeSeconds(value: string): number {
  const seconds = parseDurationSeconds(value);
  if (seconds > MAX_ADMIN_TOKEN_LIFETIME_SECONDS) {
    throw new AppError('INVALID_DURATION', 'an admin token may last at most 3650d; leave --expires out for one that does not expire');
  }
  return seconds;
}

/**
 * Whether a token of `role` may call a route that requires `required`: admin
 * may call everything, each role its own routes, and read every route that only
 * reads (GET or HEAD) of the admin API and the page (/metrics is not one).
 */
export function roleMeets(role: AdminRole, required: AdminRole, method: string): boolean {
  if (role === 'admin' || role === required) return true;
  const isReading = method === 'GET' || method === 'HEAD';
  return role === 'read' && isReading && required !== 'metrics';
}
