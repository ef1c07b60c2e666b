import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, lte } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { adminSessions, adminTokens } from '../../db/schema.js';
import { recordAudit } from '../audit/audit-log.js';
import { type AdminIdentity, adminActor, isExpired } from './admin-tokens.js';

/** A session ends this long after its last request… */
export const SESSION_IDLE_MS = 30 * 60_000;
/** …and this long after the login, however busy. */
export const SESSION_LIFETIME_MS = 12 * 3600_000;
/** lastSeenAt is written at most this often, so a page view is not always a database write. */
const TOUCH_EVERY_MS = 60_000;

export interface AdminSession {
  /** The admin token the session was opened with: its role is what the page may show and do. */
  admin: AdminIdentity;
  csrfToken: string;
  expiresAt: Date;
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Opens a session for an admin token that was just verified; returns the cookie's value (only its hash is stored). */
export function openAdminSession(
  db: Db,
  admin: AdminIdentity,
  now: Date,
  sourceAddress: string | null,
): { id: string; session: AdminSession } {
  const id = randomBytes(32).toString('base64url');
  const session = {
    admin,
    csrfToken: randomBytes(32).toString('base64url'),
    expiresAt: new Date(now.getTime() + SESSION_LIFETIME_MS),
  };
  db.transaction((tx) => {
    tx.delete(adminSessions).where(lte(adminSessions.expiresAt, now)).run();
    tx.insert(adminSessions)
      .values({
        idHash: hashId(id),
        adminTokenId: admin.id,
        csrfToken: session.csrfToken,
        expiresAt: session.expiresAt,
        createdAt: now,
        lastSeenAt: now,
        sourceAddress,
      })
      .run();
    recordAudit(tx, now, { actor: adminActor(admin), action: 'admin.login', sourceAddress });
  });
  return { id, session };
}

/** The live session a cookie names, or null: unknown, idle too long, past its lifetime, or its token revoked or expired. */
export function findAdminSession(db: Db, id: string, now: Date): AdminSession | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
  const idHash = hashId(id);
  const found = db
    .select({ session: adminSessions, token: adminTokens })
    .from(adminSessions)
    .innerJoin(adminTokens, and(eq(adminTokens.id, adminSessions.adminTokenId), isNull(adminTokens.revokedAt)))
    .where(eq(adminSessions.idHash, idHash))
    .get();
  if (!found) return null;
  const { session: row, token } = found;
  const isIdle = now.getTime() - row.lastSeenAt.getTime() >= SESSION_IDLE_MS;
  if (isIdle || row.expiresAt.getTime() <= now.getTime() || isExpired(token.expiresAt, now)) {
    db.delete(adminSessions).where(eq(adminSessions.idHash, idHash)).run();
    return null;
  }
  if (now.getTime() - row.lastSeenAt.getTime() >= TOUCH_EVERY_MS) {
    db.update(adminSessions).set({ lastSeenAt: now }).where(eq(adminSessions.idHash, idHash)).run();
  }
  return { admin: { id: token.id, label: token.label, role: token.role }, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
}

export function closeAdminSession(db: Db, id: string, now: Date, sourceAddress: string | null): void {
  db.transaction((tx) => {
    const row = tx
      .select({ idHash: adminSessions.idHash, token: adminTokens })
      .from(adminSessions)
      .innerJoin(adminTokens, eq(adminTokens.id, adminSessions.adminTokenId))
      .where(eq(adminSessions.idHash, hashId(id)))
      .get();
    if (!row) return;
    tx.delete(adminSessions).where(eq(adminSessions.idHash, row.idHash)).run();
    recordAudit(tx, now, { actor: adminActor(row.token), action: 'admin.logout', sourceAddress });
  });
}
