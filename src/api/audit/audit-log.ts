import { and, desc, inArray, lt } from 'drizzle-orm';
import type { Queryable } from '../../db/connection.js';
import { auditLog } from '../../db/schema.js';

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  sourceAddress?: string | null;
  /** Never a secret: callers pass names, ids and fingerprints only. */
  details?: Record<string, unknown>;
}

export function recordAudit(db: Queryable, at: Date, entry: AuditEntry): void {
  db.insert(auditLog)
    .values({
      at,
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      sourceAddress: entry.sourceAddress ?? null,
      details: entry.details ?? null,
    })
    .run();
}

/** Newest first; `beforeId` gives the next page, `targets` only the entries about these (a host and its enrollment). */
export function listAudit(db: Queryable, options: { limit: number; beforeId?: number; targets?: string[] }) {
  const conditions = [
    options.beforeId === undefined ? undefined : lt(auditLog.id, options.beforeId),
    options.targets === undefined ? undefined : inArray(auditLog.target, options.targets),
  ];
  return db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.id))
    .limit(options.limit)
    .all();
}
