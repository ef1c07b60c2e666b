import { eq } from 'drizzle-orm';
import type { HostChange, HostChangeAnswer } from '../../channel/host-change.js';
import { type HostRow, toHostRowMessage } from '../../channel/host-row.js';
import type { Db, Queryable } from '../../db/connection.js';
import { hosts, maintainerGrants, maintainers } from '../../db/root-schema.js';
import { parseExpectBackupEvery } from '../../domain/backup-staleness.js';
import { parseCheckEvery } from '../../domain/check-schedule.js';
import { MAX_FULL_ACCESS_SECONDS } from '../../domain/full-access.js';
import { parseHostName } from '../../domain/host-name.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseMaxSessions } from '../../domain/session-cap.js';
import { parseQuota } from '../../domain/sizes.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { allocateUid, findHost, HOST_UID_MAX, HOST_UID_MIN, upsertHost } from '../../host-records/hosts-store.js';
import { uidsRunningIn } from '../../process/process-table.js';
import { reportAudit, reportHost } from '../reports/report-to-api.js';

/**
 * Root's side of every change of a host the API (or an admin's borgctl)
 * asks for. Whatever sent it, the change is checked with the rules an
 * admin's change is checked by, and against root's own state, before
 * anything is written to root's database: a valid name, a key root parses
 * and fingerprints itself, policy values in their ranges, a live host to
 * change, a purge that cannot be revived, and a UID root chooses (the API's
 * number is a hint root takes only when the UID is free). So a hostile API
 * process can ask only what an admin could ask. The row root then serves is
 * the answer, and a report, so the API's copy follows even if it crashed.
 */
export function changeHost(db: Db, change: HostChange, options: { now: Date; procDir?: string; auditAs?: string }): HostChangeAnswer {
  const name = parseHostName(change.name);
  const { now } = options;
  return db.transaction((tx) => {
    const previous = findHost(tx, name) ?? null;
    let row: HostRow | null;
    switch (change.action) {
      case 'put-key':
        row = putKey(tx, name, change, previous, options);
        break;
      case 'set':
        row = setFields(tx, name, change.fields, previous, now);
        break;
      case 'delete':
        row = deleteHost(tx, name, change.purge, previous, now);
        break;
    }
    if (row) reportHost(tx, now, row);
    if (options.auditAs)
      reportAudit(tx, now, { actor: options.auditAs, action: auditActionOf(change), target: name, details: auditDetailsOf(change) });
    return { row: row ? toHostRowMessage(row) : null, previous: previous ? toHostRowMessage(previous) : null };
  });
}

function putKey(
  tx: Queryable,
  name: string,
  change: Extract<HostChange, { action: 'put-key' }>,
  previous: HostRow | null,
  options: { now: Date; procDir?: string },
): HostRow {
  const key = parseSshPublicKey(`${change.keyType} ${change.keyBase64}`);
  // A maintainer's key as a host's own would share a key file's lines with it: sshd would take the first.
  const maintainer = tx.select({ name: maintainers.name }).from(maintainers).where(eq(maintainers.fingerprint, key.fingerprint)).get();
  if (maintainer) throw new AppError('BAD_REQUEST', `that key is maintainer "${maintainer.name}"'s: a host needs a key of its own`);
  return upsertHost(
    tx,
    {
      name,
      keyType: key.type,
      keyBase64: key.base64,
      fingerprint: key.fingerprint,
      appendOnly: change.appendOnly,
      quotaBytes: change.quotaBytes === null ? null : parseQuota(change.quotaBytes),
      allowFrom: change.allowFrom === null ? null : parseAllowFrom(change.allowFrom),
      ...(change.expectBackupEveryMs === undefined ? {} : { expectBackupEveryMs: checkedExpectBackupEvery(change.expectBackupEveryMs) }),
      origin: change.origin,
      enrollmentId: change.enrollmentId,
      ...(previous ? {} : { uid: chooseUid(tx, change.uidHint, options.procDir) }),
    },
    options.now,
  );
}

function setFields(
  tx: Queryable,
  name: string,
  fields: Extract<HostChange, { action: 'set' }>['fields'],
  previous: HostRow | null,
  now: Date,
): HostRow {
  if (!previous || (previous.status !== 'active' && previous.status !== 'disabled')) {
    throw new AppError('NOT_FOUND', `no host named "${name}"`);
  }
  const values: Partial<HostRow> = {};
  if (fields.appendOnly !== undefined) values.appendOnly = fields.appendOnly;
  if (fields.quotaBytes !== undefined) values.quotaBytes = fields.quotaBytes === null ? null : parseQuota(fields.quotaBytes);
  if (fields.allowFrom !== undefined) values.allowFrom = fields.allowFrom === null ? null : parseAllowFrom(fields.allowFrom);
  if (fields.maxSessions !== undefined) values.maxSessions = parseMaxSessions(fields.maxSessions);
  if (fields.status !== undefined) values.status = fields.status;
  if (fields.checkEverySeconds !== undefined) values.checkEverySeconds = parseCheckEvery(fields.checkEverySeconds);
  if (fields.expectBackupEveryMs !== undefined) values.expectBackupEveryMs = checkedExpectBackupEvery(fields.expectBackupEveryMs);
  if (fields.fullAccessUntil !== undefined) values.fullAccessUntil = checkedWindowEnd(fields.fullAccessUntil, now);
  // Disabling is what an admin does first about a compromised host: enabling it again must not bring back full access.
  else if (fields.status === 'disabled') values.fullAccessUntil = null;
  if (values.fullAccessUntil && !(values.appendOnly ?? previous.appendOnly)) {
    throw new AppError('BAD_REQUEST', `host "${name}" is not append-only: it has full access already`);
  }
  const row = tx
    .update(hosts)
    .set({ ...values, updatedAt: now })
    .where(eq(hosts.name, name))
    .returning()
    .get();
  if (!row) throw new Error('host vanished inside its own transaction');
  return row;
}

function deleteHost(tx: Queryable, name: string, purge: boolean, previous: HostRow | null, now: Date): HostRow {
  const isGone = !previous || previous.status === 'purging' || (previous.status === 'deleted' && !purge);
  if (isGone) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  // A host enrolled later under the name is another machine: no maintainer reaches it by this host's grant.
  tx.delete(maintainerGrants).where(eq(maintainerGrants.hostName, name)).run();
  const row = tx
    .update(hosts)
    .set({ status: purge ? 'purging' : 'deleted', updatedAt: now })
    .where(eq(hosts.name, name))
    .returning()
    .get();
  if (!row) throw new Error('host vanished inside its own transaction');
  return row;
}

export function checkedExpectBackupEvery(milliseconds: number | null): number | null {
  return milliseconds === null ? null : parseExpectBackupEvery(milliseconds / 1000);
}

/** A window ends in the future by at most the longest window an admin may open; one that ended is no window. */
export function checkedWindowEnd(endMs: number | null, now: Date): Date | null {
  if (endMs === null || endMs <= now.getTime()) return null;
  if (endMs > now.getTime() + MAX_FULL_ACCESS_SECONDS * 1000 + 60_000) {
    throw new AppError('INVALID_DURATION', `a full-access window lasts at most ${MAX_FULL_ACCESS_SECONDS / 86_400} days`);
  }
  return new Date(endMs);
}

/** The API's UID for a new host when it is in the range, no host of root's has it and nothing runs as it; else root's own choice. */
function chooseUid(db: Queryable, hint: number | undefined, procDir = '/proc'): number {
  if (hint !== undefined && Number.isSafeInteger(hint) && hint >= HOST_UID_MIN && hint <= HOST_UID_MAX) {
    const isTaken = db.select({ uid: hosts.uid }).from(hosts).where(eq(hosts.uid, hint)).get() !== undefined;
    if (!isTaken && !uidsRunningIn(hint, hint, procDir).has(hint)) return hint;
  }
  return allocateUid(db, procDir);
}

/** The audit entry of a change root records itself: the API's names for the same actions. */
function auditActionOf(change: HostChange): string {
  if (change.action === 'set') return 'host.update';
  if (change.action === 'delete') return change.purge ? 'host.purge' : 'host.delete';
  return 'host.rekey';
}

function auditDetailsOf(change: HostChange): Record<string, unknown> {
  if (change.action === 'set') return { ...change.fields };
  if (change.action === 'delete') return {};
  return { keyType: change.keyType };
}
