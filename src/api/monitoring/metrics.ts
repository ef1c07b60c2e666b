import { and, count, eq, inArray, isNotNull } from 'drizzle-orm';
import { Gauge, Registry } from 'prom-client';
import type { Queryable } from '../../db/connection.js';
import { enrollments, hostSessions, hosts, webhookDeliveries } from '../../db/schema.js';
import type { BackupStatus } from '../../domain/backup-staleness.js';
import { allBackupStates } from '../../host-records/backup-state.js';
import { lastFinishedChecks } from '../../host-records/repository-checks.js';
import { describeMonitoring } from './host-monitoring.js';

const BACKUP_STATUSES: readonly BackupStatus[] = ['ok', 'stale', 'never', 'disabled'];

/**
 * The Prometheus text for `/metrics`, computed from the database at scrape
 * time (a fresh registry each time: nothing is kept between scrapes).
 */
export async function renderMetrics(db: Queryable, now: Date): Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const hostsByStatus = gauge('borg_server_hosts', 'Hosts by backup status (ok, stale, never, disabled)', ['status']);
  const pending = gauge('borg_server_enrollments_pending', 'Enrollments waiting for an admin');
  const stale = gauge(
    'borg_server_host_stale',
    'Whether the host is active and has not backed up within its expected period (1) or not (0); a host that never backed up counts from its creation',
    ['host'],
  );
  const sinceBackup = gauge('borg_server_host_seconds_since_last_backup', 'Seconds since the last backup the server saw', ['host']);
  const repositoryBytes = gauge('borg_server_host_repository_bytes', 'Disk blocks of the repository after its last session, in bytes', [
    'host',
  ]);
  const quotaBytes = gauge('borg_server_host_quota_bytes', 'Storage quota of the host, in bytes', ['host']);
  const sessions = gauge('borg_server_sessions', 'Recorded sessions (the kept ones) by outcome', ['outcome']);
  const lastCheck = gauge('borg_server_host_last_check_ok', 'Whether the last integrity check passed (1) or not (0)', ['host', 'outcome']);
  const failedDeliveries = gauge('borg_server_webhook_deliveries_failed', 'Webhook and ping deliveries that gave up');
  const retryingDeliveries = gauge(
    'borg_server_webhook_deliveries_retrying',
    'Webhook and ping deliveries whose last attempt failed and that will be tried again',
  );

  const states = allBackupStates(db);
  const checks = lastFinishedChecks(db);
  const counts = new Map<BackupStatus, number>(BACKUP_STATUSES.map((status) => [status, 0]));
  for (const row of db
    .select()
    .from(hosts)
    .where(inArray(hosts.status, ['active', 'disabled']))
    .all()) {
    const view = describeMonitoring(row, states.get(row.name), checks.get(row.name) ?? null, now);
    counts.set(view.backupStatus, (counts.get(view.backupStatus) ?? 0) + 1);
    const labels = { host: row.name };
    stale.set(labels, view.stale ? 1 : 0);
    if (view.lastBackupAt) sinceBackup.set(labels, Math.max(0, (now.getTime() - view.lastBackupAt.getTime()) / 1000));
    if (view.repositoryBytes !== null) repositoryBytes.set(labels, view.repositoryBytes);
    if (row.quotaBytes !== null) quotaBytes.set(labels, row.quotaBytes);
    if (view.lastCheck) lastCheck.set({ host: row.name, outcome: view.lastCheck.outcome }, view.lastCheck.outcome === 'ok' ? 1 : 0);
  }
  for (const [status, value] of counts) hostsByStatus.set({ status }, value);
  pending.set(db.select({ value: count() }).from(enrollments).where(eq(enrollments.status, 'pending')).get()?.value ?? 0);
  for (const row of db.select({ outcome: hostSessions.outcome, value: count() }).from(hostSessions).groupBy(hostSessions.outcome).all()) {
    sessions.set({ outcome: row.outcome }, row.value);
  }
  failedDeliveries.set(
    db.select({ value: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.status, 'failed')).get()?.value ?? 0,
  );
  retryingDeliveries.set(
    db
      .select({ value: count() })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, 'pending'), isNotNull(webhookDeliveries.lastError)))
      .get()?.value ?? 0,
  );
  return { contentType: registry.contentType, body: await registry.metrics() };
}
