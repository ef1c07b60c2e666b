import type { NumberedRootReport } from '../../src/channel/root-reports.js';
import type { SessionSummary } from '../../src/domain/session-outcome.js';

/** What root reports of a session: the facts the API's tests of sessions, checks and metrics feed it. */

/** A session that committed one backup. */
export const BACKUP_SUMMARY: SessionSummary = {
  transactionsCommitted: 1,
  objectsAdded: 10,
  bytesAdded: 5000,
  manifestRewritten: true,
  uncommittedLeft: false,
  outcome: 'backup',
};

/** Root's report, numbered `id`, of a one-minute backup session of the host that ended at `endedAtMs`. */
export function backupReport(
  id: number,
  hostName: string,
  endedAtMs: number,
  { quotaBytes = null, repositoryBytes }: { quotaBytes?: number | null; repositoryBytes: number },
): NumberedRootReport {
  return {
    id,
    report: {
      kind: 'session-ended',
      session: {
        hostName,
        quotaBytes,
        startedAt: endedAtMs - 60_000,
        endedAt: endedAtMs,
        clientAddress: '192.0.2.7',
        connections: 1,
        lastCommitBefore: 1,
        lastCommitAfter: 3,
        endedBy: 'client',
        summary: BACKUP_SUMMARY,
        repositoryBytes,
      },
    },
  };
}
