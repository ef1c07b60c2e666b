import type { RootReport } from '../../src/channel/root-reports.js';
import type { Db } from '../../src/db/connection.js';
import { pendingReports } from '../../src/root/reports/report-to-api.js';

/** What root has reported to the API and the API has not acknowledged yet, oldest first. */
export function reportsOf(db: Db): RootReport[] {
  return pendingReports(db, 0, 100_000).map(({ report }) => report);
}

/** The audit entries among root's reports: what the API's audit log will show. */
export function reportedAuditEntries(db: Db) {
  return reportsOf(db).flatMap((report) => (report.kind === 'audit' ? [report.entry] : []));
}

/** The actions of those audit entries, oldest first. */
export function reportedAuditActions(db: Db): string[] {
  return reportedAuditEntries(db).map((entry) => entry.action);
}

/** The webhook events among root's reports: what the API will queue. */
export function reportedEvents(db: Db) {
  return reportsOf(db).flatMap((report) => (report.kind === 'event' ? [report.event] : []));
}
