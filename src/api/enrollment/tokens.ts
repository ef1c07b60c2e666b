import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { enrollmentTokens } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { parseExpectBackupEvery } from '../../domain/backup-staleness.js';
import { parseDurationSeconds } from '../../domain/durations.js';
import { parseHostName } from '../../domain/host-name.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseQuota } from '../../domain/sizes.js';
import { AppError } from '../../errors.js';
import type { TlsIdentity } from '../../identity/tls-identity.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';
import { afterTimeAndId, type PageRequest, pageOf, type TimeAndId, timeAndIdOf } from '../list-pages.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  hashToken,
  MAX_TOKEN_TTL_SECONDS,
  mintEnrollmentToken,
  newTokenId,
} from '../tokens/enrollment-token.js';

/** A token just minted, as POST /v1/admin/tokens answers: the token itself is shown only here. */
export const createdTokenBody = z
  .strictObject({
    token: z.string(),
    jti: z.string(),
    expiresAt: timestamp,
    command: z.string().meta({ description: 'the one line to run on the new VM' }),
  })
  .meta({ id: 'CreatedEnrollmentToken' });

/** One enrollment token of the list (never the token itself); an issued token past its expiry shows as expired. */
export const enrollmentTokenBody = z
  .strictObject({
    jti: z.string(),
    host: z.string().nullable(),
    status: z.enum([...enrollmentTokens.status.enumValues, 'expired']),
    issuedAt: timestamp,
    expiresAt: timestamp,
    quotaBytes: z.number().int().nullable(),
    appendOnly: z.boolean(),
    allowFrom: z.string().nullable(),
    autoApprove: z.boolean(),
    expectBackupEveryMs: z.number().int().nullable(),
    createdBy: z.string(),
  })
  .meta({ id: 'EnrollmentToken' });

export interface TokenRequest {
  host?: string | undefined;
  ttl?: string | number | undefined;
  quota?: string | number | undefined;
  appendOnly?: boolean | undefined;
  allowFrom?: string | undefined;
  autoApprove?: boolean | undefined;
  /** The host it enrolls is stale after this long without a backup ("26h"). */
  expectBackupEvery?: string | number | undefined;
}

/**
 * The one command an admin hands to a new VM, one line for any POSIX shell.
 * It downloads enroll.sh whole before running a line of it (a download that
 * fails or is cut off stops the line with curl's non-zero status, so the VM's
 * provisioning sees the failure), and hands the token over in the
 * environment, where no other user of the VM can read it (/proc/PID/cmdline
 * is world-readable, /proc/PID/environ is not). Over HTTPS it carries the pin
 * of the server's TLS key: curl checks it before sending anything, and
 * enroll.sh uses it for every request, so no step trusts the network.
 */
export function enrollCommand(publicUrl: string, token: string, tls: TlsIdentity | null): string {
  const download = enrollScriptDownload(publicUrl, tls);
  const pinArgument = tls ? ` --pin '${tls.pin}'` : '';
  return `enroll=$(${download}) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${token}' sh -s --${pinArgument}`;
}

/** The curl command that fetches enroll.sh, pinned to the server's TLS key over HTTPS. */
function enrollScriptDownload(publicUrl: string, tls: TlsIdentity | null): string {
  if (!tls) return `curl -fsS ${publicUrl}/enroll.sh`;
  const insecureFlag = tls.isSelfSigned ? '-k ' : '';
  return `curl ${insecureFlag}--pinnedpubkey '${tls.pin}' -fsS ${publicUrl}/enroll.sh`;
}

export async function createEnrollmentToken(context: ServerContext, request: TokenRequest, by: Actor) {
  const ttlSeconds = request.ttl === undefined ? DEFAULT_TOKEN_TTL_SECONDS : parseDurationSeconds(request.ttl);
  if (ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new AppError('INVALID_DURATION', 'token lifetime may not exceed 7 days');
  }
  const hostName = request.host === undefined ? null : parseHostName(request.host);
  const quotaBytes = request.quota === undefined ? null : parseQuota(request.quota);
  const allowFrom = request.allowFrom === undefined ? null : parseAllowFrom(request.allowFrom);
  const autoApprove = request.autoApprove ?? false;
  const expectBackupEveryMs = request.expectBackupEvery === undefined ? null : parseExpectBackupEvery(request.expectBackupEvery);
  if (autoApprove && hostName === null) {
    throw new AppError('BAD_REQUEST', 'autoApprove needs a token bound to a host name');
  }
  const now = context.now();
  const jti = newTokenId();
  const token = await mintEnrollmentToken(context.signingKey, { jti, now, ttlSeconds, hostName });
  const issuedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const expiresAt = new Date(issuedAt.getTime() + ttlSeconds * 1000);
  context.db.transaction((tx) => {
    tx.insert(enrollmentTokens)
      .values({
        jti,
        tokenHash: hashToken(token),
        kid: context.signingKey.kid,
        hostName,
        quotaBytes,
        appendOnly: request.appendOnly ?? true,
        allowFrom,
        autoApprove,
        expectBackupEveryMs,
        status: 'issued',
        createdBy: by.actor,
        issuedAt,
        expiresAt,
      })
      .run();
    recordAudit(tx, now, {
      ...by,
      action: 'token.create',
      target: jti,
      details: {
        host: hostName,
        expiresAt: expiresAt.toISOString(),
        quotaBytes,
        appendOnly: request.appendOnly ?? true,
        allowFrom,
        autoApprove,
        expectBackupEveryMs,
      },
    });
  });
  return { token, jti, expiresAt, command: enrollCommand(context.config.publicUrl, token, context.tlsIdentity()) };
}

/** The enrollment tokens, newest first: every one (the page's list), or one page of them. */
export function listEnrollmentTokens(context: ServerContext) {
  return listEnrollmentTokenPage(context, { limit: Number.MAX_SAFE_INTEGER - 1 }).tokens;
}

/** One page of the enrollment tokens, newest first: a seek on enrollment_tokens_issued. */
export function listEnrollmentTokenPage(context: ServerContext, request: PageRequest<TimeAndId>) {
  const now = context.now().getTime();
  const rows = context.db
    .select({
      jti: enrollmentTokens.jti,
      host: enrollmentTokens.hostName,
      status: enrollmentTokens.status,
      issuedAt: enrollmentTokens.issuedAt,
      expiresAt: enrollmentTokens.expiresAt,
      quotaBytes: enrollmentTokens.quotaBytes,
      appendOnly: enrollmentTokens.appendOnly,
      allowFrom: enrollmentTokens.allowFrom,
      autoApprove: enrollmentTokens.autoApprove,
      expectBackupEveryMs: enrollmentTokens.expectBackupEveryMs,
      createdBy: enrollmentTokens.createdBy,
    })
    .from(enrollmentTokens)
    .where(afterTimeAndId(enrollmentTokens.issuedAt, enrollmentTokens.jti, request.after, 'desc'))
    .orderBy(desc(enrollmentTokens.issuedAt), desc(enrollmentTokens.jti))
    .limit(request.limit + 1)
    .all();
  const page = pageOf(rows, request.limit, (row) => timeAndIdOf(row.issuedAt, row.jti));
  const tokens = page.rows.map((row) => ({
    ...row,
    status: row.status === 'issued' && row.expiresAt.getTime() <= now ? ('expired' as const) : row.status,
  }));
  return { tokens, nextCursor: page.nextCursor };
}

export function revokeEnrollmentToken(context: ServerContext, jti: string, by: Actor): void {
  const now = context.now();
  context.db.transaction((tx) => {
    const row = tx.select().from(enrollmentTokens).where(eq(enrollmentTokens.jti, jti)).get();
    if (!row) throw new AppError('NOT_FOUND', 'no such token');
    if (row.status === 'consumed') throw new AppError('TOKEN_USED', 'token was already used; deny or delete the enrollment instead');
    if (row.status === 'revoked') return;
    tx.update(enrollmentTokens).set({ status: 'revoked', revokedAt: now }).where(eq(enrollmentTokens.jti, jti)).run();
    recordAudit(tx, now, { ...by, action: 'token.revoke', target: jti });
  });
}
