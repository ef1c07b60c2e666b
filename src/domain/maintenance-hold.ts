/**
 * borg's append-only pitfall: when a compromised VM deleted archives in
 * append-only mode (only new commits are written), the next compact by a
 * trusted machine makes the deletion permanent. So a session of the host's
 * own key that committed a change other than a backup (a delete, a prune) —
 * not the first commit of a new repository (`borg init`) — holds the
 * maintainers' access to that host until an admin acknowledges it.
 */
export function isMaintenanceHoldingSession(session: {
  outcome: 'backup' | 'changed' | 'read-only' | 'aborted';
  lastCommitBefore: number;
  maintainer?: string | null | undefined;
}): boolean {
  return session.outcome === 'changed' && session.lastCommitBefore >= 0 && (session.maintainer ?? null) === null;
}

export function maintenanceHoldReason(at: Date): string {
  return `the host's own key changed its repository (a delete or prune) at ${at.toISOString()}: a maintainer's compact would make that permanent; look, then acknowledge (borgctl hosts acknowledge) or restore`;
}
