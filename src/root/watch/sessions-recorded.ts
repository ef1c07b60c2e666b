import type { Db } from '../../db/connection.js';
import { maintainerKeyComment } from '../../domain/authorized-keys.js';
import { isMaintenanceHoldingSession, maintenanceHoldReason } from '../../domain/maintenance-hold.js';
import { holdMaintenance } from '../../host-records/maintenance-holds.js';
import { type EndedSession, recordSessionFacts } from '../../host-records/session-facts.js';
import { reportAudit, reportEvent, reportMaintenanceHold, reportToApi } from '../reports/report-to-api.js';

/**
 * A session root saw end: kept in root's own database (a host's first
 * session, its size) and reported to the API, which records it in its own
 * with the events and pings that follow (recordEndedSession). A delete or
 * prune by the host's own key holds its maintainers out (src/domain/maintenance-hold.ts):
 * true when this session newly did, so that the caller reconciles. `objectsRemoved`:
 * objects of the index before that it has no more (objectsRemovedBy), null when not counted.
 */
export function recordSessionOnRoot(db: Db, session: EndedSession, objectsRemoved: number | null): boolean {
  return db.transaction((tx) => {
    recordSessionFacts(tx, session);
    reportToApi(tx, session.endedAt, {
      kind: 'session-ended',
      session: { ...session, startedAt: session.startedAt.getTime(), endedAt: session.endedAt.getTime() },
    });
    // A maintainer's access to a host (full access: it may destroy) is in the audit log, by its name.
    if (session.maintainer) {
      reportAudit(tx, session.endedAt, {
        actor: maintainerKeyComment(session.maintainer),
        action: 'maintainer.session',
        target: session.hostName,
        details: {
          startedAt: session.startedAt.toISOString(),
          clientAddress: session.clientAddress,
          outcome: session.summary.outcome,
          bytesAdded: session.summary.bytesAdded,
        },
      });
    }
    const isHolding = isMaintenanceHoldingSession({
      ...session.summary,
      lastCommitBefore: session.lastCommitBefore,
      maintainer: session.maintainer,
      objectsRemoved,
    });
    if (!isHolding) return false;
    const hold = { hostName: session.hostName, heldSince: session.endedAt, reason: maintenanceHoldReason(session.endedAt) };
    if (!holdMaintenance(tx, hold)) return false;
    reportMaintenanceHold(tx, session.endedAt, session.hostName, hold);
    reportEvent(tx, session.endedAt, {
      type: 'host.maintenance.held',
      host: session.hostName,
      data: { heldSince: hold.heldSince.toISOString(), reason: hold.reason },
    });
    return true;
  });
}
