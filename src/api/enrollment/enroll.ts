import { timingSafeEqual } from 'node:crypto';
import { and, desc, eq, gt, lte, not, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { enrollments, enrollmentTokens } from '../../db/schema.js';
import { type EnrollmentStatus, effectiveStatus, PENDING_ENROLLMENT_TTL_MS } from '../../domain/enrollment-state.js';
import { parseHostName } from '../../domain/host-name.js';
import { isAddressAllowed } from '../../domain/networks.js';
import { enrollmentApprovalUrl } from '../../domain/notification-events.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { findHeldNames, findNameHolder } from '../../host-records/hosts-store.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';
import { afterTimeAndId, type PageRequest, pageOf, type TimeAndId, timeAndIdOf } from '../list-pages.js';
import { enqueueEvent } from '../notify/queue.js';
import { randomCommandLineId } from '../random-id.js';
import { hashToken, verifyEnrollmentToken } from '../tokens/enrollment-token.js';
import { approveEnrollment } from './decisions.js';

export type EnrollmentRow = typeof enrollments.$inferSelect;

export interface EnrollRequest {
  token: string;
  /** The name the VM asks for; must match the token's name if it has one. */
  hostname?: string | undefined;
  /** The VM's own name, used only when neither `hostname` nor the token names the host. */
  defaultHostname?: string | undefined;
  publicKey: unknown;
  sourceAddress: string | null;
}

/** What newEnrollmentId makes: 16 random bytes, base64url. */
export const ENROLLMENT_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** The enrollment a path names, by the id POST /v1/enroll answered. */
export const enrollmentIdParams = z.strictObject({
  id: z.string().regex(ENROLLMENT_ID_PATTERN).meta({ description: 'the id POST /v1/enroll answered' }),
});

function newEnrollmentId(): string {
  return randomCommandLineId();
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * A VM asks to be enrolled. The token is verified first (signature, claims),
 * then spent in the same transaction that records the enrollment, so of many
 * simultaneous uses exactly one wins.
 */
export async function submitEnrollment(context: ServerContext, request: EnrollRequest) {
  const now = context.now();
  const claims = await verifyEnrollmentToken(request.token, { keys: [context.signingKey], now });
  const key = parseSshPublicKey(request.publicKey);
  const hostName = parseHostName(request.hostname ?? claims.hostName ?? request.defaultHostname);
  if (claims.hostName !== null && claims.hostName !== hostName) {
    throw new AppError('TOKEN_HOST_MISMATCH', `this token is for host "${claims.hostName}"`);
  }
  const id = newEnrollmentId();
  const enrollment = context.db.transaction((tx) => {
    const token = tx.select().from(enrollmentTokens).where(eq(enrollmentTokens.jti, claims.jti)).get();
    if (!token || !sameHash(token.tokenHash, hashToken(request.token))) {
      throw new AppError('TOKEN_INVALID', 'enrollment token is not known to this server');
    }
    if (token.status === 'revoked') throw new AppError('TOKEN_REVOKED', 'enrollment token was revoked');
    if (token.status === 'consumed') throw new AppError('TOKEN_USED', 'enrollment token was already used');
    if (token.expiresAt.getTime() <= now.getTime() - 60_000) throw new AppError('TOKEN_EXPIRED', 'enrollment token has expired');
    // Refused before it is spent: a token copied to another network stays usable by its own host.
    if (token.allowFrom !== null && !(request.sourceAddress !== null && isAddressAllowed(request.sourceAddress, token.allowFrom))) {
      throw new AppError('TOKEN_SOURCE_MISMATCH', `this token may only be used from ${token.allowFrom}`);
    }
    const spent = tx
      .update(enrollmentTokens)
      .set({ status: 'consumed', consumedAt: now })
      .where(and(eq(enrollmentTokens.jti, claims.jti), eq(enrollmentTokens.status, 'issued')))
      .run();
    if (spent.changes !== 1) throw new AppError('TOKEN_USED', 'enrollment token was already used');
    const row = {
      id,
      tokenJti: claims.jti,
      hostName,
      keyType: key.type,
      keyBase64: key.base64,
      fingerprint: key.fingerprint,
      status: 'pending' as const,
      sourceAddress: request.sourceAddress,
      quotaBytes: token.quotaBytes,
      appendOnly: token.appendOnly,
      allowFrom: token.allowFrom,
      expectBackupEveryMs: token.expectBackupEveryMs,
      createdAt: now,
      expiresAt: new Date(now.getTime() + PENDING_ENROLLMENT_TTL_MS),
    };
    tx.insert(enrollments).values(row).run();
    const conflict = findNameHolder(tx, hostName) !== undefined;
    recordAudit(tx, now, {
      actor: `token:${claims.jti}`,
      action: 'enrollment.submit',
      target: id,
      sourceAddress: request.sourceAddress,
      details: { host: hostName, fingerprint: key.fingerprint, conflict },
    });
    const autoApprove = token.autoApprove && !conflict;
    // An auto-approved enrollment is reported as approved; only one that waits for an admin is "pending".
    if (!autoApprove) enqueueEvent(tx, now, pendingEvent(context, row, conflict));
    return { row, autoApprove };
  });
  if (enrollment.autoApprove) {
    try {
      await approveEnrollment(context, id, { fingerprint: key.fingerprint }, { actor: `token:${claims.jti}` });
    } catch (error) {
      // Not approved after all: it waits for an admin, who must hear of it.
      if (getEnrollment(context, id).status === 'pending') enqueueEvent(context.db, now, pendingEvent(context, enrollment.row, false));
      throw error;
    }
  }
  return getEnrollment(context, id);
}

function pendingEvent(context: ServerContext, row: Omit<EnrollmentRow, 'reason' | 'decidedAt' | 'decidedBy'>, conflict: boolean) {
  return {
    type: 'enrollment.pending' as const,
    host: row.hostName,
    data: {
      enrollmentId: row.id,
      fingerprint: row.fingerprint,
      keyType: row.keyType,
      sourceAddress: row.sourceAddress,
      conflict,
      expiresAt: row.expiresAt.toISOString(),
      approvalUrl: enrollmentApprovalUrl(context.config.publicUrl, row.id),
    },
  };
}

/** The statuses an enrollment is shown with (a pending one past its expiry shows as expired). */
export const enrollmentStatus = z.enum(enrollments.status.enumValues satisfies readonly EnrollmentStatus[]);

/** EnrollmentView as JSON. */
export const enrollmentBody = z
  .strictObject({
    id: z.string(),
    status: enrollmentStatus,
    hostname: z.string(),
    fingerprint: z.string(),
    keyType: z.string(),
    createdAt: timestamp,
    expiresAt: timestamp,
    conflict: z.boolean().meta({ description: "a host (or a deleted host's kept repository) has this name: approving needs replaceKey" }),
    reason: z.string().nullable(),
    sourceAddress: z.string().nullable(),
  })
  .meta({ id: 'Enrollment' });

export interface EnrollmentView {
  id: string;
  status: EnrollmentStatus;
  hostname: string;
  fingerprint: string;
  keyType: string;
  createdAt: Date;
  expiresAt: Date;
  /** A host (or a deleted host's kept repository) has this name: approving needs replaceKey. */
  conflict: boolean;
  reason: string | null;
  sourceAddress: string | null;
}

/**
 * Enrollment rows as the API shows them. Whether a pending one's name is held
 * is asked for all rows in one query: a list of thousands of pending
 * enrollments (a fleet enrolling at once) asked one query per row, and held
 * the API's only thread for most of a second on each page view.
 */
function toViews(context: ServerContext, rows: EnrollmentRow[]): EnrollmentView[] {
  const now = context.now();
  const statuses = rows.map((row) => effectiveStatus(row, now));
  const held = findHeldNames(
    context.db,
    rows.filter((_, index) => statuses[index] === 'pending').map((row) => row.hostName),
  );
  return rows.map((row, index) => {
    const status = statuses[index] as EnrollmentStatus;
    return {
      id: row.id,
      status,
      hostname: row.hostName,
      fingerprint: row.fingerprint,
      keyType: row.keyType,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      conflict: status === 'pending' && held.has(row.hostName),
      reason: row.reason,
      sourceAddress: row.sourceAddress,
    };
  });
}

export function getEnrollment(context: ServerContext, id: string): EnrollmentView {
  const row = context.db.select().from(enrollments).where(eq(enrollments.id, id)).get();
  if (!row) throw new AppError('NOT_FOUND', 'no such enrollment');
  return toViews(context, [row])[0] as EnrollmentView;
}

/** Enrollments whose status (as effectiveStatus gives it: a pending one past its expiry is expired) is `status`, in SQL. */
function hasStatus(status: EnrollmentStatus, now: Date): SQL {
  const isPending = eq(enrollments.status, 'pending');
  if (status === 'pending') return sql`(${isPending} and ${gt(enrollments.expiresAt, now)})`;
  if (status === 'expired') return sql`(${eq(enrollments.status, 'expired')} or (${isPending} and ${lte(enrollments.expiresAt, now)}))`;
  return eq(enrollments.status, status);
}

/** Newest first; filtered in the query, so the overview's pending list stays cheap however many hosts ever enrolled. */
export function listEnrollments(context: ServerContext, status?: EnrollmentStatus, limit?: number): EnrollmentView[] {
  const where = status === undefined ? undefined : hasStatus(status, context.now());
  return selectEnrollments(context, where, limit);
}

/** The newest enrollments that are no longer waiting for an admin: decided or expired. */
export function listPastEnrollments(context: ServerContext, limit: number): EnrollmentView[] {
  return selectEnrollments(context, not(hasStatus('pending', context.now())), limit);
}

function selectEnrollments(context: ServerContext, where: SQL | undefined, limit: number | undefined): EnrollmentView[] {
  const query = context.db.select().from(enrollments).where(where).orderBy(desc(enrollments.createdAt), desc(enrollments.id));
  const rows = limit === undefined ? query.all() : query.limit(limit).all();
  return toViews(context, rows);
}

/**
 * One page of the enrollments, or of those of one status, newest first: a
 * seek on enrollments_created, or on enrollments_status_created with the
 * status. An expired enrollment is one marked so or a pending one past its
 * expiry: two seeks on the status index, merged.
 */
export function listEnrollmentPage(context: ServerContext, request: PageRequest<TimeAndId> & { status?: EnrollmentStatus | undefined }) {
  const now = context.now();
  const after = afterTimeAndId(enrollments.createdAt, enrollments.id, request.after, 'desc');
  const read = (where: SQL | undefined) =>
    context.db
      .select()
      .from(enrollments)
      .where(and(where, after))
      .orderBy(desc(enrollments.createdAt), desc(enrollments.id))
      .limit(request.limit + 1)
      .all();
  const rows =
    request.status === 'expired'
      ? [...read(eq(enrollments.status, 'expired')), ...read(and(eq(enrollments.status, 'pending'), lte(enrollments.expiresAt, now)))]
          .sort(newestFirst)
          .slice(0, request.limit + 1)
      : read(request.status === undefined ? undefined : hasStatus(request.status, now));
  const page = pageOf(rows, request.limit, (row) => timeAndIdOf(row.createdAt, row.id));
  return { enrollments: toViews(context, page.rows), nextCursor: page.nextCursor };
}

/** The order of the enrollment list: by creation time, then id, newest first (as SQLite compares them). */
function newestFirst(left: EnrollmentRow, right: EnrollmentRow): number {
  const byTime = right.createdAt.getTime() - left.createdAt.getTime();
  if (byTime !== 0) return byTime;
  return left.id < right.id ? 1 : left.id > right.id ? -1 : 0;
}
