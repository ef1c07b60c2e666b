import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, lte } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { adminSessions, adminTokens } from '../../db/schema.js';
import { recordAudit } from '../audit/audit-log.js';

/** A session ends this long after its last request… */
export const SESSION_IDLE_MS = 30 * 60_000;
/** …and this long after the login, however busy. */
export const SESSION_LIFETIME_MS = 12 * 3600_000;
/** lastSeenAt is written at most this often, so a page view is not always a database write. */
const TOUCH_EVERY_MS = 60_000;

export interface AdminSession {
  adminTokenId: string;
  csrfToken: string;
  expiresAt: Date;
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Opens a session for an admin token that was just verified; returns the cookie's value (only its hash is stored). */
export function openAdminSession(
  db: Db,
  adminTokenId: string,
  now: Date,
  sourceAddress: string | null,
): { id: string; session: AdminSession } {
  const id = randomBytes(32).toString('base64url');
  const session = {
    adminTokenId,
    csrfToken: randomBytes(32).toString('base64url'),
    expiresAt: new Date(now.getTime() + SESSION_LIFETIME_MS),
  };
  db.transaction((tx) => {
    tx.delete(adminSessions).where(lte(adminSessions.expiresAt, now)).run();
    tx.insert(adminSessions)
      .values({ idHash: hashId(id), ...session, createdAt: now, lastSeenAt: now, sourceAddress })
      .run();
    recordAudit(tx, now, { actor: `admin:${adminTokenId}`, action: 'admin.login', sourceAddress });
  });
  return { id, session };
}

/** The live session a cookie names, or null: unknown, idle too long, past its lifetime, or its token revoked. */
export function findAdminSession(db: Db, id: string, now: Date): AdminSession | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
  const idHash = hashId(id);
  const row = db
    .select({ session: adminSessions })
    .from(adminSessions)
    .innerJoin(adminTokens, and(eq(adminTokens.id, adminSessions.adminTokenId), isNull(adminTokens.revokedAt)))
    .where(eq(adminSessions.idHash, idHash))
    .get()?.session;
  if (!row) return null;
  const isIdle = now.getTime() - row.lastSeenAt.getTime() >= SESSION_IDLE_MS;
  if (isIdle || row.expiresAt.getTime() <= now.getTime()) {
    db.delete(adminSessions).where(eq(adminSessions.idHash, idHash)).run();
    return null;
  }
  if (now.getTime() - row.lastSeenAt.getTime() >= TOUCH_EVERY_MS) {
    db.update(adminSessions).set({ lastSeenAt: now }).where(eq(adminSessions.idHash, idHash)).run();
  }
  return { adminTokenId: row.adminTokenId, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
}

export function closeAdminSession(db: Db, id: string, now: Date, sourceAddress: string | null): void {
  db.transaction((tx) => {
    const row = tx
      .select()
      .from(adminSessions)
      .where(eq(adminSessions.idHash, hashId(id)))
      .get();
    if (!row) return;
    tx.delete(adminSessions).where(eq(adminSessions.idHash, row.idHash)).run();
    recordAudit(tx, now, { actor: `admin:${row.adminTokenId}`, action: 'admin.logout', sourceAddress });
  });
}
