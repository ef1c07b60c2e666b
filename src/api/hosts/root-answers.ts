import type { HostChangeAnswer } from '../../channel/host-change.js';
import type { Queryable } from '../../db/connection.js';
import { copyHostRow, forgetHost } from './host-copies.js';

/**
 * Takes root's answer to a change of a host into the API's copy, in the
 * caller's transaction (with its audit entry): the row root serves now, or
 * nothing once a purge removed it.
 */
export function copyRootAnswer(tx: Queryable, name: string, answer: HostChangeAnswer): void {
  if (answer.row) copyHostRow(tx, answer.row);
  else forgetHost(tx, name);
}
