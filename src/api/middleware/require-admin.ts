import { createMiddleware } from 'hono/factory';
import type { Db } from '../../db/connection.js';
import { rateLimitKeyOf } from '../../domain/networks.js';
import { AppError } from '../../errors.js';
import { verifyAdminToken } from '../admin/admin-tokens.js';
import type { AppEnv } from '../app-env.js';
import { type RateLimiter, rateLimitedError } from './rate-limit.js';

/**
 * Admin routes take `Authorization: Bearer <admin token>`. Failed attempts are
 * counted per client address; past the limit every attempt is refused with
 * 429 until the window passes, right token or not. What the token's role may
 * do is checked by each route's declared role (src/api/routes/route-table.ts).
 */
export function requireAdmin({ db, now, failures }: { db: Db; now: () => Date; failures: RateLimiter }) {
  return createMiddleware<AppEnv>(async function requireAdminToken(c, next) {
    const source = rateLimitKeyOf(c.get('clientAddress'));
    const at = now();
    if (failures.isLimited(source, at.getTime())) {
      throw rateLimitedError(failures, source, at.getTime(), 'too many failed admin logins from this address; try again later');
    }
    const header = c.req.header('authorization') ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const admin = presented ? verifyAdminToken(db, presented, at) : null;
    if (!admin) {
      failures.hit(source, at.getTime());
      throw new AppError('UNAUTHORIZED', 'an admin token is required (not revoked, not expired): Authorization: Bearer <token>');
    }
    c.set('admin', admin);
    await next();
  });
}
