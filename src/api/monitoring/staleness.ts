import { eq } from 'drizzle-orm';
import type { Queryable } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { DEFAULT_EXPECT_BACKUP_EVERY_MS, isBackupOverdue } from '../../domain/backup-staleness.js';
import { allBackupStates, updateBackupState } from '../../host-records/backup-state.js';
import { listSessions } from '../../host-records/host-sessions.js';
import { enqueueEvent } from '../notify/queue.js';

/** How often the supervisor looks for hosts that went stale. */
export const STALENESS_INTERVAL_MS = 60_000;

/**
 * Sends `host.stale` once when an active host's last backup (or its
 * creation, if it never backed up) is older than it expects, and
 * `host.recovered` once when it backed up again. Returns the events sent.
 */
export function evaluateStaleness(db: Queryable, now: Date): { stale: string[]; recovered: string[] } {
  const result = { stale: [] as string[], recovered: [] as string[] };
  const states = allBackupStates(db);
  for (const host of db.select().from(hosts).where(eq(hosts.status, 'active')).all()) {
    const state = states.get(host.name);
    const lastBackupAt = state?.lastBackupAt ?? null;
    const isOverdue = isBackupOverdue(
      { isDisabled: false, lastBackupAt, createdAt: host.createdAt, expectBackupEveryMs: host.expectBackupEveryMs },
      now,
    );
    const wasNotified = state?.isStaleNotified ?? false;
    if (isOverdue === wasNotified) continue;
    const data = {
      lastBackupAt: lastBackupAt?.toISOString() ?? null,
      lastSessionAt: state?.lastSessionAt?.toISOString() ?? null,
      // The why: the last session's outcome (aborted, read-only, …), or null when it never connected.
      lastSessionOutcome: listSessions(db, host.name, { limit: 1 })[0]?.outcome ?? null,
      expectBackupEverySeconds: (host.expectBackupEveryMs ?? DEFAULT_EXPECT_BACKUP_EVERY_MS) / 1000,
    };
    enqueueEvent(db, now, { type: isOverdue ? 'host.stale' : 'host.recovered', host: host.name, data });
    updateBackupState(db, now, host.name, { isStaleNotified: isOverdue });
    (isOverdue ? result.stale : result.recovered).push(host.name);
  }
  return result;
}
