import { AppError } from '../errors.js';
import { parseDurationSeconds } from './durations.js';

/** A host that has not backed up for this long is stale: a daily backup, with two hours' slack. */
export const DEFAULT_EXPECT_BACKUP_EVERY_MS = 26 * 3600_000;
const MIN_EXPECT_MS = 60_000;
const MAX_EXPECT_MS = 366 * 86_400_000;

export type BackupStatus = 'ok' | 'stale' | 'never' | 'disabled';

/** "26h", "7d" (or seconds) to milliseconds, one minute to a year. */
export function parseExpectBackupEvery(value: unknown): number {
  let milliseconds: number;
  try {
    milliseconds = parseDurationSeconds(value) * 1000;
  } catch {
    throw new AppError('BAD_REQUEST', 'expectBackupEvery must be a duration like "26h" or "7d"');
  }
  if (milliseconds < MIN_EXPECT_MS || milliseconds > MAX_EXPECT_MS) {
    throw new AppError('BAD_REQUEST', 'expectBackupEvery must be from one minute to a year');
  }
  return milliseconds;
}

export interface BackupFacts {
  isDisabled: boolean;
  lastBackupAt: Date | null;
  /** When the host was created: a host that never backed up is stale this long after it. */
  createdAt: Date;
  expectBackupEveryMs: number | null;
}

/** Whether the host is overdue: no backup within its period (counted from its creation when it never backed up). */
export function isBackupOverdue(facts: BackupFacts, now: Date): boolean {
  const since = facts.lastBackupAt ?? facts.createdAt;
  return now.getTime() - since.getTime() > (facts.expectBackupEveryMs ?? DEFAULT_EXPECT_BACKUP_EVERY_MS);
}

/** ok / stale / never (no backup yet) / disabled, as `hosts list` shows it. */
export function backupStatus(facts: BackupFacts, now: Date): BackupStatus {
  if (facts.isDisabled) return 'disabled';
  if (facts.lastBackupAt === null) return 'never';
  return isBackupOverdue(facts, now) ? 'stale' : 'ok';
}
