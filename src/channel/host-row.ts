import { z } from 'zod';
import type { hosts } from '../db/schema.js';

/**
 * A host row as root serves it, as it crosses the line to the API: root's
 * answer to a change of a host (host-change.ts) and its host reports
 * (root-reports.ts). Times are epoch milliseconds. The schema bounds every
 * field, so the API parses what it copies.
 */
export type HostRow = typeof hosts.$inferSelect;

/** A time as it crosses the line: epoch milliseconds, within what a Date can hold. */
export const epochMs = z.number().int().nonnegative().max(8.64e15);

export const hostRowMessage = z.strictObject({
  name: z.string().max(64),
  uid: z.number().int(),
  keyType: z.string().max(64),
  keyBase64: z.string().max(16_384),
  fingerprint: z.string().max(128),
  appendOnly: z.boolean(),
  fullAccessUntil: epochMs.nullable(),
  quotaBytes: z.number().int().nullable(),
  allowFrom: z.string().max(4096).nullable(),
  maxSessions: z.number().int(),
  status: z.enum(['active', 'disabled', 'deleted', 'purging']),
  origin: z.enum(['enrollment', 'createuser', 'import']),
  enrollmentId: z.string().max(128).nullable(),
  /** The API's alone (a push monitor's URL may carry a token): root keeps none, so it never crosses from the API. */
  pingUrl: z.null(),
  expectBackupEveryMs: z.number().int().nullable(),
  checkEverySeconds: z.number().int().nullable(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

export type HostRowMessage = z.infer<typeof hostRowMessage>;

const toMs = (date: Date | null) => (date === null ? null : date.getTime());

export function toHostRowMessage(row: HostRow): HostRowMessage {
  return {
    ...row,
    pingUrl: null,
    fullAccessUntil: toMs(row.fullAccessUntil),
    createdAt: row.createdAt.getTime(),
    updatedAt: row.updatedAt.getTime(),
  };
}

export function fromHostRowMessage(message: HostRowMessage): HostRow {
  return {
    ...message,
    fullAccessUntil: message.fullAccessUntil === null ? null : new Date(message.fullAccessUntil),
    createdAt: new Date(message.createdAt),
    updatedAt: new Date(message.updatedAt),
  };
}
