import { and, desc, eq, inArray, isNotNull, isNull, lt, max } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { repositoryChecks } from '../db/schema.js';
import { isPartialCheckDetail, type ParsedCheck } from '../domain/borg-check.js';
import type { LastCheck } from '../domain/check-schedule.js';

/** The kept results of the server's repository checks: the newest KEPT_CHECKS_PER_HOST per host. */

export const KEPT_CHECKS_PER_HOST = 50;

export type RepositoryCheckRow = typeof repositoryChecks.$inferSelect;

/** A check begins: its row, without an outcome until it ends. */
export function recordCheckStart(db: Queryable, hostName: string, at: Date): RepositoryCheckRow {
  return db.insert(repositoryChecks).values({ hostName, startedAt: at }).returning().get();
}

/** A check ended: its outcome, and only the newest rows of the host kept. */
export function recordCheckEnd(db: Queryable, id: number, at: Date, result: Pick<ParsedCheck, 'outcome' | 'detail'>): RepositoryCheckRow {
  const row = db
    .update(repositoryChecks)
    .set({ endedAt: at, outcome: result.outcome, detail: result.detail })
    .where(eq(repositoryChecks.id, id))
    .returning()
    .get();
  if (!row) throw new Error(`repository check ${id} vanished`);
  pruneChecks(db, row.hostName);
  return row;
}

export function pruneChecks(db: Queryable, hostName: string, keep = KEPT_CHECKS_PER_HOST): void {
  const oldestKept = db
    .select({ id: repositoryChecks.id })
    .from(repositoryChecks)
    .where(eq(repositoryChecks.hostName, hostName))
    .orderBy(desc(repositoryChecks.id))
    .limit(1)
    .offset(keep - 1)
    .get();
  if (!oldestKept) return;
  db.delete(repositoryChecks)
    .where(and(eq(repositoryChecks.hostName, hostName), lt(repositoryChecks.id, oldestKept.id)))
    .run();
}

/** A host's checks, newest first; `beforeId` gives those older than that check (a seek on repository_checks_host). */
export function listChecks(db: Queryable, hostName: string, limit = KEPT_CHECKS_PER_HOST, beforeId?: number): RepositoryCheckRow[] {
  return db
    .select()
    .from(repositoryChecks)
    .where(and(eq(repositoryChecks.hostName, hostName), beforeId === undefined ? undefined : lt(repositoryChecks.id, beforeId)))
    .orderBy(desc(repositoryChecks.id))
    .limit(limit)
    .all();
}

/** What the schedule needs of a host's newest check, or null when it was never checked. */
export function lastCheckOf(db: Queryable, hostName: string): LastCheck | null {
  const [row] = listChecks(db, hostName, 1);
  if (!row) return null;
  return { endedAt: row.endedAt, outcome: row.outcome, isPartial: row.outcome === 'ok' && isPartialCheckDetail(row.detail) };
}

/** A finished check as host views and metrics show it. */
export interface FinishedCheck {
  endedAt: Date;
  outcome: NonNullable<RepositoryCheckRow['outcome']>;
}

/** The last finished check of every host, or of the named hosts only, by host name. */
export function lastFinishedChecks(db: Queryable, hostNames?: readonly string[]): Map<string, FinishedCheck> {
  const finished = isNotNull(repositoryChecks.endedAt);
  const newest = db
    .select({ id: max(repositoryChecks.id) })
    .from(repositoryChecks)
    .where(hostNames === undefined ? finished : and(finished, inArray(repositoryChecks.hostName, [...hostNames])))
    .groupBy(repositoryChecks.hostName);
  const found = new Map<string, FinishedCheck>();
  for (const row of db.select().from(repositoryChecks).where(inArray(repositoryChecks.id, newest)).all()) {
    if (row.endedAt !== null && row.outcome !== null) found.set(row.hostName, { endedAt: row.endedAt, outcome: row.outcome });
  }
  return found;
}

/** A host's last finished check (one running now does not count), or null. */
export function lastFinishedCheckOf(db: Queryable, hostName: string): FinishedCheck | null {
  const row = db
    .select()
    .from(repositoryChecks)
    .where(and(eq(repositoryChecks.hostName, hostName), isNotNull(repositoryChecks.endedAt)))
    .orderBy(desc(repositoryChecks.id))
    .limit(1)
    .get();
  return row?.endedAt && row.outcome ? { endedAt: row.endedAt, outcome: row.outcome } : null;
}

/**
 * Rows left without an outcome by a server that stopped during a check: they
 * ended as interrupted (the check resumes where borg stopped).
 */
export function closeUnfinishedChecks(db: Queryable, at: Date): RepositoryCheckRow[] {
  return db
    .update(repositoryChecks)
    .set({ endedAt: at, outcome: 'interrupted', detail: 'the server stopped during the check' })
    .where(isNull(repositoryChecks.outcome))
    .returning()
    .all();
}
