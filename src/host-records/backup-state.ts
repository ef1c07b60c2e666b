import { eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { hostBackupState } from '../db/schema.js';

export type BackupStateRow = typeof hostBackupState.$inferSelect;

export function findBackupState(db: Queryable, hostName: string): BackupStateRow | undefined {
  return db.select().from(hostBackupState).where(eq(hostBackupState.hostName, hostName)).get();
}

/** Every host's row, or only the named hosts' (a page of a list: a lookup each on the primary key). */
export function allBackupStates(db: Queryable, hostNames?: readonly string[]): Map<string, BackupStateRow> {
  const query = db.select().from(hostBackupState);
  return new Map(
    (hostNames === undefined ? query : query.where(inArray(hostBackupState.hostName, [...hostNames])))
      .all()
      .map((row) => [row.hostName, row]),
  );
}

/** Changes a host's row, creating it first when the host has none yet. */
export function updateBackupState(
  db: Queryable,
  now: Date,
  hostName: string,
  changes: Partial<Omit<BackupStateRow, 'hostName' | 'updatedAt'>>,
): void {
  db.insert(hostBackupState)
    .values({ hostName, ...changes, updatedAt: now })
    .onConflictDoUpdate({ target: hostBackupState.hostName, set: { ...changes, updatedAt: now } })
    .run();
}
