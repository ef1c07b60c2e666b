import type { Queryable } from '../../db/connection.js';
import { findBackupState } from '../../host-records/backup-state.js';
import { type EndedSession, isHostBackup, recordSessionFacts } from '../../host-records/session-facts.js';
import { enqueueEvent, enqueuePing } from '../notify/queue.js';
import { noteQuotaUse } from './quota-high.js';
import { evaluateStaleness } from './staleness.js';

/**
 * Records, in the API's database, a session root saw end (its report), with
 * what follows from it: the host's last session, last backup and size;
 * `backup.completed` and the success ping after a backup, the fail ping
 * after an aborted session; the quota and staleness events. Only rows: the
 * API process sends them. Pass the caller's transaction.
 */
export function recordEndedSession(tx: Queryable, session: EndedSession): void {
  const { hostName, summary, endedAt: now } = session;
  const state = findBackupState(tx, hostName);
  recordSessionFacts(tx, session);
  const isBackup = isHostBackup(session);
  if (isBackup) {
    const data = { bytesAdded: summary.bytesAdded, objectsAdded: summary.objectsAdded, repositoryBytes: session.repositoryBytes };
    enqueueEvent(tx, now, { type: 'backup.completed', host: hostName, data });
    enqueuePing(tx, now, hostName, 'success');
  } else if (summary.outcome === 'aborted' && !session.maintainer) {
    enqueuePing(tx, now, hostName, 'fail');
  }
  noteQuotaUse(tx, now, hostName, state, session.repositoryBytes, session.quotaBytes);
  if (isBackup) evaluateStaleness(tx, now);
}
