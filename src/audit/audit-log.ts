import { and, desc, eq, lt } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { auditLog } from '../db/schema.js';

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

/** Newest first; `beforeId` gives the next page, `target` only the entries about one host, token or webhook. */
export function listAudit(db: Queryable, options: { limit: number; beforeId?: number; target?: string }) {
  const conditions = [
    options.beforeId === undefined ? undefined : lt(auditLog.id, options.beforeId),
    options.target === undefined ? undefined : eq(auditLog.target, options.target),
  ];
  return db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.id))
    .limit(options.limit)
    .all();
}
