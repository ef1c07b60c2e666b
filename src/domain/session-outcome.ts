import type { ObjectLocation } from './borg-index.js';

/**
 * What a borg session did, judged from the repository as the server reads it
 * before and after (borg serve's index, the disk blocks), never from what the
 * client sent: a client that writes a commit tag of its own into a segment
 * moves no index, so it makes no backup.
 */
export interface RepositoryState {
  /** The last committed transaction (the N of index.N), -1 when none. */
  lastCommitted: number;
  /** Objects in borg's index, the manifest not counted. */
  objects: number;
  /** Where the manifest is (segment, offset), null when there is none. */
  manifest: ObjectLocation | null;
  /** Disk blocks of the repository's segments (and its config copies), in bytes. */
  bytes: number;
  /** Segments above the last commit: written, not committed. */
  uncommittedSegments: number;
}

export type SessionEnd = 'client' | 'quota-watch';
export type SessionOutcome = 'backup' | 'changed' | 'read-only' | 'aborted';

export interface SessionSummary {
  transactionsCommitted: number;
  objectsAdded: number;
  bytesAdded: number;
  manifestRewritten: boolean;
  uncommittedLeft: boolean;
  outcome: SessionOutcome;
}

/**
 * - backup: it committed, rewrote the manifest and added objects (an
 *   archive), and ended on its own with nothing uncommitted left;
 * - aborted: the server ended it, or it left uncommitted data (a client gone
 *   mid-transaction);
 * - changed: it committed something else (a delete, a prune, a compaction);
 * - read-only: nothing committed (a list, a check).
 * `transactionsInLog` is how many entries borg's transaction log has between
 * the two commits (append-only repositories keep one); without it, one.
 */
export function summarizeSession(
  before: RepositoryState,
  after: RepositoryState,
  endedBy: SessionEnd,
  transactionsInLog: number | null,
): SessionSummary {
  const hasCommitted = after.lastCommitted !== before.lastCommitted;
  const transactionsCommitted = hasCommitted ? Math.max(1, transactionsInLog ?? 1) : 0;
  const manifestRewritten =
    hasCommitted &&
    after.manifest !== null &&
    (before.manifest === null || before.manifest.segment !== after.manifest.segment || before.manifest.offset !== after.manifest.offset);
  const objectsAdded = after.objects - before.objects;
  const uncommittedLeft = after.uncommittedSegments > 0;
  let outcome: SessionOutcome = 'read-only';
  if (endedBy !== 'client' || uncommittedLeft) outcome = 'aborted';
  else if (manifestRewritten && objectsAdded > 0) outcome = 'backup';
  else if (hasCommitted) outcome = 'changed';
  return { transactionsCommitted, objectsAdded, bytesAdded: after.bytes - before.bytes, manifestRewritten, uncommittedLeft, outcome };
}
