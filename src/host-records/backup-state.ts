import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { hostBackupState } from '../db/schema.js';

export type BackupStateRow = typeof hostBackupState.$inferSelect;

export function findBackupState(db: Queryable, hostName: string): BackupStateRow | undefined {
  return db.select().from(hostBackupState).where(eq(hostBackupState.hostName, hostName)).get();
}

export function allBackupStates(db: Queryable): Map<string, BackupStateRow> {
  return new Map(
    db
      .select()
      .from(hostBackupState)
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
