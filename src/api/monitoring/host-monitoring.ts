import { z } from 'zod';
import type { Queryable } from '../../db/connection.js';
import { type hosts, repositoryChecks } from '../../db/schema.js';
import { type BackupStatus, backupStatus, DEFAULT_EXPECT_BACKUP_EVERY_MS, isBackupOverdue } from '../../domain/backup-staleness.js';
import { allBackupStates, type BackupStateRow, findBackupState } from '../../host-records/backup-state.js';
import { type FinishedCheck, lastFinishedCheckOf, lastFinishedChecks } from '../../host-records/repository-checks.js';
import { timestamp } from '../json-values.js';

/** What a host view says of its backups: every figure as the server saw it. */
export interface HostMonitoring {
  backupStatus: BackupStatus;
  stale: boolean;
  lastBackupAt: Date | null;
  lastSessionAt: Date | null;
  /** Disk blocks of the repository after its last session, in bytes; null before the first. */
  repositoryBytes: number | null;
  /** repositoryBytes / quotaBytes, or null without either. */
  quotaUse: number | null;
  expectBackupEverySeconds: number;
  lastCheck: FinishedCheck | null;
}

const BACKUP_STATUSES = ['ok', 'stale', 'never', 'disabled'] as const satisfies readonly BackupStatus[];

/** HostMonitoring as a host's JSON body carries it (part of the Host schema of the OpenAPI document). */
export const hostMonitoringFields = {
  backupStatus: z.enum(BACKUP_STATUSES),
  stale: z.boolean(),
  lastBackupAt: timestamp.nullable(),
  lastSessionAt: timestamp.nullable(),
  repositoryBytes: z.number().int().nullable(),
  quotaUse: z.number().nullable(),
  expectBackupEverySeconds: z.number(),
  lastCheck: z.strictObject({ endedAt: timestamp, outcome: z.enum(repositoryChecks.outcome.enumValues) }).nullable(),
};

type HostFacts = Pick<typeof hosts.$inferSelect, 'name' | 'status' | 'createdAt' | 'quotaBytes' | 'expectBackupEveryMs'>;

export function describeMonitoring(
  row: HostFacts,
  state: BackupStateRow | undefined,
  lastCheck: FinishedCheck | null,
  now: Date,
): HostMonitoring {
  const facts = {
    isDisabled: row.status !== 'active',
    lastBackupAt: state?.lastBackupAt ?? null,
    createdAt: row.createdAt,
    expectBackupEveryMs: row.expectBackupEveryMs,
  };
  const repositoryBytes = state?.repositoryBytes ?? null;
  return {
    backupStatus: backupStatus(facts, now),
    stale: row.status === 'active' && isBackupOverdue(facts, now),
    lastBackupAt: facts.lastBackupAt,
    lastSessionAt: state?.lastSessionAt ?? null,
    repositoryBytes,
    quotaUse: repositoryBytes !== null && row.quotaBytes ? repositoryBytes / row.quotaBytes : null,
    expectBackupEverySeconds: (row.expectBackupEveryMs ?? DEFAULT_EXPECT_BACKUP_EVERY_MS) / 1000,
    lastCheck,
  };
}

export function hostMonitoring(db: Queryable, row: HostFacts, now: Date): HostMonitoring {
  return describeMonitoring(row, findBackupState(db, row.name), lastFinishedCheckOf(db, row.name), now);
}

/**
 * Monitoring for many hosts from two queries, however many hosts are then
 * described: for lists. Given the names of a page's hosts, it reads only theirs.
 */
export function monitoringOfEveryHost(db: Queryable, now: Date, hostNames?: readonly string[]): (row: HostFacts) => HostMonitoring {
  const states = allBackupStates(db, hostNames);
  const checks = lastFinishedChecks(db, hostNames);
  return (row) => describeMonitoring(row, states.get(row.name), checks.get(row.name) ?? null, now);
}
