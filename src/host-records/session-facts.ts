import type { Queryable } from '../db/connection.js';
import type { SessionEnd, SessionSummary } from '../domain/session-outcome.js';
import { updateBackupState } from './backup-state.js';
import { insertSession } from './host-sessions.js';

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
  /** The maintainer whose key made it (src/root/processes/session-address.ts); null or absent: the host's own key. */
  maintainer?: string | null;
}

/** A backup by the host itself: a maintainer's session is never the host's backup, whatever it wrote. */
export function isHostBackup(session: EndedSession): boolean {
  return session.summary.outcome === 'backup' && (session.maintainer ?? null) === null;
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
    maintainer: session.maintainer ?? null,
  });
  updateBackupState(tx, session.endedAt, hostName, {
    lastSessionAt: session.endedAt,
    repositoryBytes: session.repositoryBytes,
    ...(isHostBackup(session) ? { lastBackupAt: session.endedAt } : {}),
  });
}
