/**
 * borg's append-only pitfall: when a compromised VM deleted archives in
 * append-only mode (only new commits are written), the next compact by a
 * trusted machine makes the deletion permanent. So a session of the host's
 * own key that committed a change other than a backup (a delete, a prune), or
 * that removed objects beside a backup (a delete and a create in one session,
 * or a delete before an aborted one) — not the first commit of a new
 * repository (`borg init`) — holds the maintainers' access to that host until
 * an admin acknowledges it.
 */
export function isMaintenanceHoldingSession(session: {
  outcome: 'backup' | 'changed' | 'read-only' | 'aborted';
  lastCommitBefore: number;
  maintainer?: string | null | undefined;
  /** Objects the index had before the session and has no more (objectsRemovedBy); null: could not be counted. */
  objectsRemoved: number | null;
}): boolean {
  if (session.lastCommitBefore < 0 || (session.maintainer ?? null) !== null) return false;
  return session.outcome === 'changed' || session.objectsRemoved === null || session.objectsRemoved > 0;
}

/**
 * Objects of the index before a session that its index after no longer has:
 * what it had, plus what the session wrote, less what is left. In an
 * append-only repository no object moves (nothing compacts), so a removed
 * object is a deleted one; an object written again to a new place counts too.
 */
export function objectsRemovedBy(objectsBefore: number, objectsWritten: number | null, objectsAfter: number): number | null {
  return objectsWritten === null ? null : objectsBefore + objectsWritten - objectsAfter;
}

export function maintenanceHoldReason(at: Date): string {
  return `the host's own key deleted from its repository (a delete or prune) at ${at.toISOString()}: a maintainer's compact would make that permanent; look, then acknowledge (borgctl hosts acknowledge) or restore`;
}
