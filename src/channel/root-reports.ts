import { z } from 'zod';
import { EVENT_TYPES } from '../domain/notification-events.js';
import { epochMs, hostRowMessage } from './host-row.js';

/**
 * What root tells the API, kept in root's database until the API has it
 * (src/root/reports/report-to-api.ts), applied by the API to its own
 * (src/api/root-reports.ts): a host's row as root serves it (null once
 * purged), a session root recorded, a check root ran, a host's last backup
 * after a restore, an audit entry and a webhook event root decided on. Root never writes the API's database and
 * never goes to the network: the API does both.
 */

const details = z.record(z.string(), z.unknown());

const sessionSummary = z.strictObject({
  transactionsCommitted: z.number().int(),
  objectsAdded: z.number().int(),
  bytesAdded: z.number().int(),
  manifestRewritten: z.boolean(),
  uncommittedLeft: z.boolean(),
  outcome: z.enum(['backup', 'changed', 'read-only', 'aborted']),
});

export const endedSessionMessage = z.strictObject({
  hostName: z.string().max(64),
  quotaBytes: z.number().int().nullable(),
  startedAt: epochMs,
  endedAt: epochMs,
  clientAddress: z.string().max(64).nullable(),
  connections: z.number().int(),
  lastCommitBefore: z.number().int(),
  lastCommitAfter: z.number().int(),
  endedBy: z.enum(['client', 'quota-watch']),
  summary: sessionSummary,
  repositoryBytes: z.number().int(),
  /** The maintainer whose key made it; null: the host's own. Absent in reports written before maintainers existed. */
  maintainer: z.string().max(64).nullable().optional(),
});

export const checkRowMessage = z.strictObject({
  id: z.number().int(),
  hostName: z.string().max(64),
  startedAt: epochMs,
  endedAt: epochMs.nullable(),
  outcome: z.enum(['ok', 'failed', 'interrupted', 'error']).nullable(),
  detail: z.string().max(4096).nullable(),
});

export const rootReport = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('host'), name: z.string().max(64), row: hostRowMessage.nullable() }),
  z.strictObject({ kind: z.literal('session-ended'), session: endedSessionMessage }),
  z.strictObject({ kind: z.literal('check'), check: checkRowMessage }),
  /** A host's maintenance hold as root keeps it (null: released). */
  z.strictObject({
    kind: z.literal('maintenance-hold'),
    hostName: z.string().max(64),
    hold: z.strictObject({ heldSince: epochMs, reason: z.string().max(1024) }).nullable(),
  }),
  /** After a restore: the newest backup the repository still holds (null: none), replacing the one a rolled-back backup left. */
  z.strictObject({ kind: z.literal('last-backup'), at: epochMs, hostName: z.string().max(64), lastBackupAt: epochMs.nullable() }),
  z.strictObject({
    kind: z.literal('audit'),
    at: epochMs,
    entry: z.strictObject({ actor: z.string().max(64), action: z.string().max(64), target: z.string().max(128).nullable(), details }),
  }),
  z.strictObject({
    kind: z.literal('event'),
    at: epochMs,
    event: z.strictObject({ type: z.enum(EVENT_TYPES), host: z.string().max(64).optional(), data: details }),
  }),
]);

export type RootReport = z.infer<typeof rootReport>;

/**
 * Reports in one message: far below the channel's line cap with every report at its largest. A batch with
 * fewer tells the API it has caught up with root.
 */
export const REPORTS_PER_BATCH = 50;

/** A report with the id root keeps it under until the API acknowledges it. */
export const numberedRootReport = z.strictObject({ id: z.number().int().positive(), report: rootReport });
export type NumberedRootReport = z.infer<typeof numberedRootReport>;
