import type { Db } from '../db/connection.js';
import type { SessionEnd, SessionSummary } from '../domain/session-outcome.js';
import { enqueueEvent, enqueuePing } from '../notify/queue.js';
import { findBackupState, updateBackupState } from './backup-state.js';
import { insertSession } from './host-sessions.js';
import { noteQuotaUse } from './quota-high.js';
import { evaluateStaleness } from './staleness.js';

export interface EndedSession {
  hostName: string;
  quotaBytes: number | null;
  startedAt: Date;
  endedAt: Date;
  clientAddress: string | null;
  connections: number;
  lastCommitBefore: number;
  lastCommitAfter: number;
  endedBy: SessionEnd;
  summary: SessionSummary;
  repositoryBytes: number;
}

/**
 * Records a session that ended, in one transaction with what follows from
 * it: the host's last session, last backup and size; `backup.completed` and
 * the success ping after a backup, the fail ping after an aborted session;
 * the quota and staleness events. Only rows: the API process sends them.
 */
export function recordEndedSession(db: Db, session: EndedSession): void {
  const { hostName, summary, endedAt: now } = session;
  db.transaction((tx) => {
    insertSession(tx, {
      hostName,
      startedAt: session.startedAt,
      endedAt: session.endedAt,
      clientAddress: session.clientAddress,
      connections: session.connections,
      lastCommitBefore: session.lastCommitBefore,
      lastCommitAfter: session.lastCommitAfter,
      endedBy: session.endedBy,
      ...summary,
    });
    const isBackup = summary.outcome === 'backup';
    const state = findBackupState(tx, hostName);
    updateBackupState(tx, now, hostName, {
      lastSessionAt: session.endedAt,
      repositoryBytes: session.repositoryBytes,
      ...(isBackup ? { lastBackupAt: session.endedAt } : {}),
    });
    if (isBackup) {
      const data = { bytesAdded: summary.bytesAdded, objectsAdded: summary.objectsAdded, repositoryBytes: session.repositoryBytes };
      enqueueEvent(tx, now, { type: 'backup.completed', host: hostName, data });
      enqueuePing(tx, now, hostName, 'success');
    } else if (summary.outcome === 'aborted') {
      enqueuePing(tx, now, hostName, 'fail');
    }
    noteQuotaUse(tx, now, hostName, state, session.repositoryBytes, session.quotaBytes);
    if (isBackup) evaluateStaleness(tx, now);
  });
}
