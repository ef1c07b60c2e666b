import type { Queryable } from '../../db/connection.js';
import { QUOTA_HIGH_FRACTION } from '../../domain/notification-events.js';
import type { BackupStateRow } from '../../host-records/backup-state.js';
import { updateBackupState } from '../../host-records/backup-state.js';
import { enqueueEvent } from '../notify/queue.js';

/** Sends `host.quota.high` once when the repository passes 90 % of its quota, and again only after it went below. */
export function noteQuotaUse(
  db: Queryable,
  now: Date,
  hostName: string,
  state: BackupStateRow | undefined,
  repositoryBytes: number,
  quotaBytes: number | null,
): void {
  const isHigh = quotaBytes !== null && repositoryBytes > quotaBytes * QUOTA_HIGH_FRACTION;
  const wasNotified = state?.isQuotaHighNotified ?? false;
  if (isHigh === wasNotified) return;
  if (isHigh) enqueueEvent(db, now, { type: 'host.quota.high', host: hostName, data: { repositoryBytes, quotaBytes } });
  updateBackupState(db, now, hostName, { isQuotaHighNotified: isHigh });
}
