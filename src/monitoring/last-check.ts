import { and, desc, eq, inArray, isNotNull, max } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { repositoryChecks } from '../db/schema.js';

export interface LastCheck {
  endedAt: Date;
  outcome: 'ok' | 'failed' | 'interrupted' | 'error';
}

/** The last finished integrity check of every host (the table the integrity checks fill), by host name. */
export function lastChecks(db: Queryable): Map<string, LastCheck> {
  const newest = db
    .select({ id: max(repositoryChecks.id) })
    .from(repositoryChecks)
    .where(isNotNull(repositoryChecks.endedAt))
    .groupBy(repositoryChecks.hostName);
  const found = new Map<string, LastCheck>();
  for (const row of db.select().from(repositoryChecks).where(inArray(repositoryChecks.id, newest)).all()) {
    if (row.endedAt !== null && row.outcome !== null) found.set(row.hostName, { endedAt: row.endedAt, outcome: row.outcome });
  }
  return found;
}

/** A host's last finished integrity check, or null. */
export function lastCheckOf(db: Queryable, hostName: string): LastCheck | null {
  const row = db
    .select()
    .from(repositoryChecks)
    .where(and(eq(repositoryChecks.hostName, hostName), isNotNull(repositoryChecks.endedAt)))
    .orderBy(desc(repositoryChecks.id))
    .limit(1)
    .get();
  return row?.endedAt && row.outcome ? { endedAt: row.endedAt, outcome: row.outcome } : null;
}
