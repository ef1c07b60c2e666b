import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { hostBackupState, hostSessions, hosts, maintainerGrants, maintainers, maintenanceHolds, repositoryChecks } from './schema.js';

/**
 * Root's own database (STATE/root/root.db, root-only): what root acts on.
 * The hosts it serves (its copy, written only after it validated the API's
 * request), the sessions and checks it recorded, and the reports waiting to
 * reach the API. The table definitions are the API's (schema.ts): one row
 * shape on both sides of the line, so a report is a row. Its migrations are
 * migrations/root (drizzle.root.config.ts).
 */
export { hostBackupState, hostSessions, hosts, maintainerGrants, maintainers, maintenanceHolds, repositoryChecks };

/**
 * What root has to tell the API (a host's new row, a session, a check, an
 * audit entry or a webhook event), kept until the API acknowledges it, so a
 * report outlives an API restart. See src/root/reports/report-to-api.ts.
 */
export const rootReports = sqliteTable('root_reports', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  report: text('report', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
});

/** Users of secured-borg-server imported once (src/root/upgrade/import-ancestor.ts): a host deleted afterwards is not brought back. */
export const importedAncestorUsers = sqliteTable('imported_ancestor_users', {
  name: text('name').primaryKey(),
  importedAt: integer('imported_at', { mode: 'timestamp_ms' }).notNull(),
});
