import { desc, lt } from 'drizzle-orm';
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

export function listAudit(db: Queryable, options: { limit: number; beforeId?: number }) {
  const query = db.select().from(auditLog);
  const filtered = options.beforeId === undefined ? query : query.where(lt(auditLog.id, options.beforeId));
  return filtered.orderBy(desc(auditLog.id)).limit(options.limit).all();
}
