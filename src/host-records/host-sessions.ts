import { and, desc, eq, lt, notInArray } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { hostSessions } from '../db/schema.js';

export type HostSessionRow = typeof hostSessions.$inferSelect;
export type NewHostSession = typeof hostSessions.$inferInsert;

/** Sessions kept per host: the newest; older ones are pruned as new ones come. */
export const SESSIONS_KEPT_PER_HOST = 1000;

export function insertSession(db: Queryable, session: NewHostSession): void {
  db.insert(hostSessions).values(session).run();
  const kept = db
    .select({ id: hostSessions.id })
    .from(hostSessions)
    .where(eq(hostSessions.hostName, session.hostName))
    .orderBy(desc(hostSessions.id))
    .limit(SESSIONS_KEPT_PER_HOST);
  db.delete(hostSessions)
    .where(and(eq(hostSessions.hostName, session.hostName), notInArray(hostSessions.id, kept)))
    .run();
}

/** A host's sessions, newest first; `beforeId` gives the next page. */
export function listSessions(db: Queryable, hostName: string, { limit, beforeId }: { limit: number; beforeId?: number }): HostSessionRow[] {
  const condition =
    beforeId === undefined ? eq(hostSessions.hostName, hostName) : and(eq(hostSessions.hostName, hostName), lt(hostSessions.id, beforeId));
  return db.select().from(hostSessions).where(condition).orderBy(desc(hostSessions.id)).limit(limit).all();
}

/** A host's backup sessions on record, with the commit each made: what tells a restore which of them it kept. */
export function listBackupCommits(db: Queryable, hostName: string): { endedAt: Date; lastCommitAfter: number }[] {
  return db
    .select({ endedAt: hostSessions.endedAt, lastCommitAfter: hostSessions.lastCommitAfter })
    .from(hostSessions)
    .where(and(eq(hostSessions.hostName, hostName), eq(hostSessions.outcome, 'backup')))
    .all();
}
