import { z } from 'zod';
import { epochMs, type HostRowMessage, hostRowMessage } from './host-row.js';

/**
 * A change of a host the API (or an admin's borgctl) asks root for: the
 * three things an admin can do to a host. Root checks each against its own
 * state and the domain rules before it writes (src/root/requests/host-requests.ts),
 * then answers with the row it serves, which the API copies into its own
 * database with the audit entry; nothing is written on the API's side before
 * root said yes.
 */

/** Approve an enrollment, `createuser`, or a new key for a host: the key and the policy it comes with. */
const putKey = z.strictObject({
  action: z.literal('put-key'),
  name: z.string().max(64),
  keyType: z.string().max(64),
  keyBase64: z.string().max(16_384),
  appendOnly: z.boolean(),
  quotaBytes: z.number().int().nullable(),
  allowFrom: z.string().max(4096).nullable(),
  /** Left as it is when absent. */
  expectBackupEveryMs: z.number().int().nullable().optional(),
  origin: z.enum(['enrollment', 'createuser', 'import']),
  enrollmentId: z.string().max(128).nullable(),
  /** The UID the API would give a new host; root takes it only when it is free. */
  uidHint: z.number().int().optional(),
});

/** Change settings of a live host: only the fields given. */
const setFields = z.strictObject({
  action: z.literal('set'),
  name: z.string().max(64),
  fields: z.strictObject({
    appendOnly: z.boolean().optional(),
    fullAccessUntil: epochMs.nullable().optional(),
    quotaBytes: z.number().int().nullable().optional(),
    allowFrom: z.string().max(4096).nullable().optional(),
    maxSessions: z.number().int().optional(),
    status: z.enum(['active', 'disabled']).optional(),
    expectBackupEveryMs: z.number().int().nullable().optional(),
    checkEverySeconds: z.number().int().nullable().optional(),
  }),
});

/** Delete a host (its data kept), or purge it (its data removed too). */
const deleteHost = z.strictObject({ action: z.literal('delete'), name: z.string().max(64), purge: z.boolean() });

export const hostChange = z.discriminatedUnion('action', [putKey, setFields, deleteHost]);
export type HostChange = z.infer<typeof hostChange>;

export const hostChangeRequest = z.strictObject({
  change: hostChange,
  /**
   * Who asked, when root itself is to put the change in the audit log (an admin's root-side borgctl, which
   * never opens the API's database); the API records its own.
   */
  auditAs: z
    .string()
    .regex(/^[a-z][a-z0-9:._-]{0,63}$/)
    .optional(),
});

/** Root's answer: the row it serves for the host now (null once a purge removed it). */
export const hostChangeAnswer = z.strictObject({ row: hostRowMessage.nullable(), previous: hostRowMessage.nullable() });
export interface HostChangeAnswer {
  row: HostRowMessage | null;
  /** The row before the change (null for a new host): what the API's audit entry compares with. */
  previous: HostRowMessage | null;
}
