import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { hostBackupState, hostSessions } from '../db/schema.js';

/** A purged host's data is gone: so is what the server saw of it, lest a new host of that name inherit its last backup. */
export function forgetHostMonitoring(db: Queryable, hostName: string): void {
  db.delete(hostSessions).where(eq(hostSessions.hostName, hostName)).run();
  db.delete(hostBackupState).where(eq(hostBackupState.hostName, hostName)).run();
}
