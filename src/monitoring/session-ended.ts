import type { Queryable } from '../db/connection.js';
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

/** The session's row and the host's last session, last backup and size: what both databases keep of it. */
export function recordSessionFacts(tx: Queryable, session: EndedSession): void {
  const { hostName, summary } = session;
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
  updateBackupState(tx, session.endedAt, hostName, {
    lastSessionAt: session.endedAt,
    repositoryBytes: session.repositoryBytes,
    ...(summary.outcome === 'backup' ? { lastBackupAt: session.endedAt } : {}),
  });
}

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
  const isBackup = summary.outcome === 'backup';
  if (isBackup) {
    const data = { bytesAdded: summary.bytesAdded, objectsAdded: summary.objectsAdded, repositoryBytes: session.repositoryBytes };
    enqueueEvent(tx, now, { type: 'backup.completed', host: hostName, data });
    enqueuePing(tx, now, hostName, 'success');
  } else if (summary.outcome === 'aborted') {
    enqueuePing(tx, now, hostName, 'fail');
  }
  noteQuotaUse(tx, now, hostName, state, session.repositoryBytes, session.quotaBytes);
  if (isBackup) evaluateStaleness(tx, now);
}
