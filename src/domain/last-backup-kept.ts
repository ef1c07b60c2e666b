import type { BorgTransaction } from './borg-transactions.js';

/** Of a backup session, what tells whether its archive is still in the repository. */
export interface BackupSessionCommit {
  endedAt: Date;
  /** The last transaction the session committed (the N of index.N, the id in borg's transaction log). */
  lastCommitAfter: number;
}

/**
 * The host's last backup after a restore: the newest backup session whose
 * commit the repository still holds, judged from the transaction log that is
 * left. A commit counts only when it was made before that session ended: a
 * rolled-back backup's transaction id is given again to the next commit after
 * the restore, which comes later. The last backup known before the restore
 * with no session on record (an imported host's, or one older than the
 * sessions kept) stays when it is not newer than the last commit kept;
 * otherwise there is none.
 */
export function lastBackupKept(
  backups: readonly BackupSessionCommit[],
  kept: readonly BorgTransaction[],
  previous: Date | null,
): Date | null {
  const committedAt = new Map(kept.map((transaction) => [transaction.id, transaction.committedAt.getTime()]));
  let newest: Date | null = null;
  for (const backup of backups) {
    const commit = committedAt.get(backup.lastCommitAfter);
    if (commit === undefined || commit > backup.endedAt.getTime()) continue;
    if (newest === null || backup.endedAt.getTime() > newest.getTime()) newest = backup.endedAt;
  }
  if (newest !== null || previous === null) return newest;
  const isOnRecord = backups.some((backup) => backup.endedAt.getTime() === previous.getTime());
  return !isOnRecord && previous.getTime() <= Math.max(...committedAt.values()) ? previous : null;
}
