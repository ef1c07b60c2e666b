import { z } from 'zod';
import { SHOWN_RESTORE_POINTS } from '../domain/borg-transactions.js';
import { isValidHostName } from '../domain/host-name.js';

/**
 * The requests root answers on its channels, as both sides see them: the
 * fields each carries (root's request table parses them with these schemas)
 * and the results the asking side reads back. Root's handlers are in
 * src/root/requests/supervisor-request-handlers.ts; the API's wrappers in
 * src/api/root-requests.ts; the CLI's in src/cli/control-socket.ts.
 */

/** A host's name as a field: the same rule as everywhere (never a path). */
export const hostNameField = z.string().max(31).refine(isValidHostName, 'not a host name');

/** Make the system match the database; answered once a reconcile that began after the request has finished. */
export const reconcileFields = z.strictObject({});

/**
 * Check a host's repository. From the API: queued, answered at once (the
 * outcome lands in the database). From the CLI: checked now, answered with the outcome.
 */
export const checkFields = z.strictObject({ host: hostNameField });

/** The newest commits of a live host's repository (root reads them; the API user cannot). */
export const restorePointsFields = z.strictObject({ host: hostNameField });

export const restorePointsResult = z.strictObject({
  /** The newest SHOWN_RESTORE_POINTS only: the reply stays small however long the log grew. */
  points: z.array(z.strictObject({ id: z.number().int().nonnegative(), committedAt: z.iso.datetime() })).max(SHOWN_RESTORE_POINTS),
  total: z.number().int().nonnegative(),
});
export type RestorePointsResult = z.infer<typeof restorePointsResult>;
