import { asc, gt, lte, max, sql } from 'drizzle-orm';
import { type HostRow, toHostRowMessage } from '../../channel/host-row.js';
import type { NumberedRootReport, RootReport } from '../../channel/root-reports.js';
import type { Queryable } from '../../db/connection.js';
import { rootReports } from '../../db/root-schema.js';
import type { NotificationEvent } from '../../domain/notification-events.js';
import type { MaintenanceHold } from '../../host-records/maintenance-holds.js';
import type { RepositoryCheckRow } from '../../host-records/repository-checks.js';

/**
 * Root's half of its reports to the API (src/channel/root-reports.ts): each
 * is a row in root's own database, written in the transaction of the change
 * it reports, and kept until the API acknowledges it. Root never opens the
 * API's database: what the API shows and sends (sessions, checks, audit
 * entries, webhook events) reaches it this way.
 */
export function reportToApi(db: Queryable, at: Date, report: RootReport): void {
  db.insert(rootReports).values({ report, createdAt: at }).run();
  reportsWritten += 1;
}

let reportsWritten = 0;

/**
 * Reports this process has written (in any transaction, committed or not). With SQLite's
 * `PRAGMA data_version`, which moves when another connection commits (a borgctl command),
 * the report pump knows that nothing new can be waiting without asking the table.
 */
export function reportsWrittenInThisProcess(): number {
  return reportsWritten;
}

/** An audit entry of something root did: by itself (actor "server": the quota watch disabling a host) or for an admin's borgctl. */
export function reportAudit(
  db: Queryable,
  at: Date,
  entry: { actor?: string; action: string; target: string; details?: Record<string, unknown> },
): void {
  reportToApi(db, at, {
    kind: 'audit',
    at: at.getTime(),
    entry: { actor: entry.actor ?? 'server', action: entry.action, target: entry.target, details: entry.details ?? {} },
  });
}

/** A host's row changed on root's side (the quota watch disabled it, a restore kept it out): the API's copy follows. */
export function reportHost(db: Queryable, at: Date, row: HostRow): void {
  reportToApi(db, at, { kind: 'host', name: row.name, row: toHostRowMessage(row) });
}

/** A host's maintenance hold as root now keeps it (null: released). */
export function reportMaintenanceHold(db: Queryable, at: Date, hostName: string, hold: MaintenanceHold | null): void {
  reportToApi(db, at, {
    kind: 'maintenance-hold',
    hostName,
    hold: hold === null ? null : { heldSince: hold.heldSince.getTime(), reason: hold.reason },
  });
}

/** A webhook event root decided on; the API queues and sends it. */
export function reportEvent(db: Queryable, at: Date, event: NotificationEvent): void {
  reportToApi(db, at, {
    kind: 'event',
    at: at.getTime(),
    event: { type: event.type, data: event.data, ...(event.host === undefined ? {} : { host: event.host }) },
  });
}

/** A host's last backup as root worked it out anew (after a restore): the API's copy follows. */
export function reportLastBackup(db: Queryable, at: Date, hostName: string, lastBackupAt: Date | null): void {
  reportToApi(db, at, { kind: 'last-backup', at: at.getTime(), hostName, lastBackupAt: lastBackupAt?.getTime() ?? null });
}

/** A check root started or finished (its row, as the host views show it). */
export function reportCheck(db: Queryable, at: Date, check: RepositoryCheckRow): void {
  reportToApi(db, at, {
    kind: 'check',
    check: { ...check, startedAt: check.startedAt.getTime(), endedAt: check.endedAt === null ? null : check.endedAt.getTime() },
  });
}

/** The oldest reports after `afterId`, at most `limit` of them. */
export function pendingReports(db: Queryable, afterId: number, limit: number): NumberedRootReport[] {
  return db
    .select()
    .from(rootReports)
    .where(gt(rootReports.id, afterId))
    .orderBy(asc(rootReports.id))
    .limit(limit)
    .all()
    .map((row) => ({ id: row.id, report: row.report as RootReport }));
}

/**
 * `pendingReports` as one statement prepared once: the report pump asks four
 * times a second, mostly to find nothing, and building the query each time
 * was most of an idle supervisor's CPU.
 */
export function preparePendingReports(db: Queryable): (afterId: number, limit: number) => NumberedRootReport[] {
  const query = db
    .select()
    .from(rootReports)
    .where(gt(rootReports.id, sql.placeholder('afterId')))
    .orderBy(asc(rootReports.id))
    .limit(sql.placeholder('limit'))
    .prepare();
  return (afterId, limit) => query.all({ afterId, limit }).map((row) => ({ id: row.id, report: row.report as RootReport }));
}

/** The API has applied every report up to `id`. */
export function forgetReportsUpTo(db: Queryable, id: number): void {
  db.delete(rootReports).where(lte(rootReports.id, id)).run();
}

/**
 * Drops the oldest reports beyond `keep`: an API that never acknowledges (taken over, or down for weeks) must not
 * fill root's state volume. Returns how many went.
 */
export function dropReportsBeyond(db: Queryable, keep: number): number {
  const newest =
    db
      .select({ id: max(rootReports.id) })
      .from(rootReports)
      .get()?.id ?? 0;
  return db
    .delete(rootReports)
    .where(lte(rootReports.id, newest - keep))
    .run().changes;
}
