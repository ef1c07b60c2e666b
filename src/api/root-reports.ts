import { eq } from 'drizzle-orm';
import type { NumberedRootReport, RootReport } from '../channel/root-reports.js';
import type { Db, Queryable } from '../db/connection.js';
import { appliedRootReports, repositoryChecks } from '../db/schema.js';
import { updateBackupState } from '../host-records/backup-state.js';
import { holdMaintenance, releaseMaintenance } from '../host-records/maintenance-holds.js';
import { pruneChecks } from '../host-records/repository-checks.js';
import { recordAudit } from './audit/audit-log.js';
import { copyHostRow, forgetHost } from './hosts/host-copies.js';
import { recordEndedSession } from './monitoring/session-ended.js';
import { enqueueEvent } from './notify/queue.js';

/**
 * The API's half of root's reports (src/channel/root-reports.ts): each is
 * applied to the API's own database once, in order, in one transaction with
 * the id of the last one applied, so a batch root sends again after an API
 * restart changes nothing twice. Returns the id to acknowledge.
 */
export function applyRootReports(db: Db, reports: NumberedRootReport[]): number {
  return db.transaction((tx) => {
    let lastApplied = tx.select().from(appliedRootReports).where(eq(appliedRootReports.id, 1)).get()?.lastReportId ?? 0;
    for (const { id, report } of reports) {
      if (id <= lastApplied) continue;
      applyRootReport(tx, report);
      lastApplied = id;
    }
    tx.insert(appliedRootReports)
      .values({ id: 1, lastReportId: lastApplied })
      .onConflictDoUpdate({ target: appliedRootReports.id, set: { lastReportId: lastApplied } })
      .run();
    return lastApplied;
  });
}

function applyRootReport(tx: Queryable, report: RootReport): void {
  switch (report.kind) {
    case 'host':
      if (report.row === null) forgetHost(tx, report.name);
      else copyHostRow(tx, report.row);
      return;
    case 'session-ended': {
      const { session } = report;
      recordEndedSession(tx, { ...session, startedAt: new Date(session.startedAt), endedAt: new Date(session.endedAt) });
      return;
    }
    case 'check': {
      const row = {
        ...report.check,
        startedAt: new Date(report.check.startedAt),
        endedAt: report.check.endedAt === null ? null : new Date(report.check.endedAt),
      };
      tx.insert(repositoryChecks).values(row).onConflictDoUpdate({ target: repositoryChecks.id, set: row }).run();
      pruneChecks(tx, row.hostName);
      return;
    }
    case 'last-backup':
      updateBackupState(tx, new Date(report.at), report.hostName, {
        lastBackupAt: report.lastBackupAt === null ? null : new Date(report.lastBackupAt),
      });
      return;
    case 'audit':
      recordAudit(tx, new Date(report.at), report.entry);
      return;
    case 'event':
      enqueueEvent(tx, new Date(report.at), report.event);
      return;
    case 'maintenance-hold':
      releaseMaintenance(tx, report.hostName);
      if (report.hold) {
        holdMaintenance(tx, { hostName: report.hostName, heldSince: new Date(report.hold.heldSince), reason: report.hold.reason });
      }
      return;
  }
}
