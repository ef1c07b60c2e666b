import { and, desc, inArray, lt } from 'drizzle-orm';
import { z } from 'zod';
import type { Queryable } from '../../db/connection.js';
import { auditLog } from '../../db/schema.js';
import { timestamp } from '../json-values.js';
import { type PageRequest, pageOf } from '../list-pages.js';

/** One entry of the audit log as JSON; its details differ by action. */
export const auditEntryBody = z
  .strictObject({
    id: z.number().int(),
    at: timestamp,
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    sourceAddress: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'AuditEntry' });

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

/** One page of the audit log, newest first: a seek on its id (the table's rowid). */
export function listAuditPage(db: Queryable, request: PageRequest<number>) {
  const rows = listAudit(db, { limit: request.limit + 1, ...(request.after === undefined ? {} : { beforeId: request.after }) });
  const page = pageOf(rows, request.limit, (row) => row.id);
  return { entries: page.rows, nextCursor: page.nextCursor };
}
