import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { adminTokens } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../audit/audit-log.js';

/**
 * Admin tokens look like `bsa_<id>_<secret>`: the id finds the row, the
 * secret is compared by hash in constant time. Only the hash is stored.
 */
const ADMIN_TOKEN_PATTERN = /^bsa_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function createAdminToken(db: Db, label: string, now: Date, actor: string) {
  const id = randomBytes(9).toString('base64').replace(/[+/]/g, 'x').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  db.transaction((tx) => {
    tx.insert(adminTokens)
      .values({ id, label, secretHash: hashSecret(secret).toString('hex'), createdAt: now })
      .run();
    recordAudit(tx, now, { actor, action: 'admin-token.create', target: id, details: { label } });
  });
  return { id, label, token: `bsa_${id}_${secret}` };
}

/** The admin token's id when the presented token is valid and not revoked, else null. */
export function verifyAdminToken(db: Db, presented: string, now: Date): string | null {
  const match = ADMIN_TOKEN_PATTERN.exec(presented);
  // Hash something either way, so a malformed token costs the same as a wrong one.
  const presentedHash = hashSecret(match?.[2] ?? presented);
  if (!match) return null;
  const row = db
    .select()
    .from(adminTokens)
    .where(eq(adminTokens.id, match[1] ?? ''))
    .get();
  const storedHash = Buffer.from(row?.secretHash ?? '00'.repeat(32), 'hex');
  const isMatch = timingSafeEqual(presentedHash, storedHash);
  if (!row || !isMatch || row.revokedAt !== null) return null;
  db.update(adminTokens).set({ lastUsedAt: now }).where(eq(adminTokens.id, row.id)).run();
  return row.id;
}

export function listAdminTokens(db: Db) {
  return db
    .select({
      id: adminTokens.id,
      label: adminTokens.label,
      createdAt: adminTokens.createdAt,
      revokedAt: adminTokens.revokedAt,
      lastUsedAt: adminTokens.lastUsedAt,
    })
    .from(adminTokens)
    .orderBy(desc(adminTokens.createdAt))
    .all();
}

export function revokeAdminToken(db: Db, id: string, now: Date, actor: string): void {
  db.transaction((tx) => {
    const row = tx.select().from(adminTokens).where(eq(adminTokens.id, id)).get();
    if (!row) throw new AppError('NOT_FOUND', 'no such admin token');
    if (row.revokedAt !== null) return;
    tx.update(adminTokens).set({ revokedAt: now }).where(eq(adminTokens.id, id)).run();
    recordAudit(tx, now, { actor, action: 'admin-token.revoke', target: id });
  });
}
