import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { adminTokens } from '../../db/schema.js';
import type { AdminRole } from '../../domain/admin-roles.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../audit/audit-log.js';
import { afterTimeAndId, type PageRequest, pageOf, type TimeAndId, timeAndIdOf } from '../list-pages.js';

/**
 * Admin tokens look like `bsa_<id>_<secret>`: the id finds the row, the
 * secret is compared by hash in constant time. Only the hash is stored.
 */
const ADMIN_TOKEN_PATTERN = /^bsa_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** A label: what the token is for, shown in lists and in the audit log beside the token's id. */
const LABEL_PATTERN = /^[\p{L}\p{N} ._:@/+-]{1,64}$/u;

export interface AdminTokenOptions {
  label: string;
  role: AdminRole;
  /** Null: the token does not expire. */
  expiresAt: Date | null;
}

export function createAdminToken(db: Db, { label, role, expiresAt }: AdminTokenOptions, now: Date, actor: string) {
  if (!LABEL_PATTERN.test(label)) {
    throw new AppError('BAD_REQUEST', 'a label is 1 to 64 letters, digits, spaces and . _ : @ / + -');
  }
  const id = randomBytes(9).toString('base64').replace(/[+/]/g, 'x').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  db.transaction((tx) => {
    tx.insert(adminTokens)
      .values({ id, label, role, expiresAt, secretHash: hashSecret(secret).toString('hex'), createdAt: now })
      .run();
    recordAudit(tx, now, {
      actor,
      action: 'admin-token.create',
      target: id,
      details: { label, role, expiresAt: expiresAt?.toISOString() ?? null },
    });
  });
  return { id, label, role, expiresAt, token: `bsa_${id}_${secret}` };
}

/** Who a valid admin token is: what the audit log names and what the role check reads. */
export interface AdminIdentity {
  id: string;
  label: string;
  role: AdminRole;
}

/** The audit log's actor for an admin token: its id and, for people reading the log, its label. */
export function adminActor(identity: AdminIdentity): string {
  return `admin:${identity.id} (${identity.label})`;
}

/** The admin token when the presented token is valid, not revoked and not expired, else null. */
export function verifyAdminToken(db: Db, presented: string, now: Date): AdminIdentity | null {
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
  if (!row || !isMatch || row.revokedAt !== null || isExpired(row.expiresAt, now)) return null;
  db.update(adminTokens).set({ lastUsedAt: now }).where(eq(adminTokens.id, row.id)).run();
  return { id: row.id, label: row.label, role: row.role };
}

export function isExpired(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && expiresAt.getTime() <= now.getTime();
}

/** The admin tokens, newest first. */
export function listAdminTokens(db: Db) {
  return listAdminTokenPage(db, { limit: Number.MAX_SAFE_INTEGER - 1 }).tokens;
}

/** One page of the admin tokens, newest first: a seek on admin_tokens_created. */
export function listAdminTokenPage(db: Db, request: PageRequest<TimeAndId>) {
  const rows = db
    .select({
      id: adminTokens.id,
      label: adminTokens.label,
      role: adminTokens.role,
      createdAt: adminTokens.createdAt,
      revokedAt: adminTokens.revokedAt,
      lastUsedAt: adminTokens.lastUsedAt,
      expiresAt: adminTokens.expiresAt,
    })
    .from(adminTokens)
    .where(afterTimeAndId(adminTokens.createdAt, adminTokens.id, request.after, 'desc'))
    .orderBy(desc(adminTokens.createdAt), desc(adminTokens.id))
    .limit(request.limit + 1)
    .all();
  const page = pageOf(rows, request.limit, (row) => timeAndIdOf(row.createdAt, row.id));
  return { tokens: page.rows, nextCursor: page.nextCursor };
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
