import type { Db } from '../../db/connection.js';
import { isMaintenanceHoldingSession, maintenanceHoldReason } from '../../domain/maintenance-hold.js';
import { holdMaintenance } from '../../host-records/maintenance-holds.js';
import { type EndedSession, recordSessionFacts } from '../../host-records/session-facts.js';
import { reportEvent, reportMaintenanceHold, reportToApi } from '../reports/report-to-api.js';

/**
 * A session root saw end: kept in root's own database (a host's first
 * session, its size) and reported to the API, which records it in its own
 * with the events and pings that follow (recordEndedSession). A delete or
 * prune by the host's own key holds its maintainers out (src/domain/maintenance-hold.ts):
 * true when this session newly did, so that the caller reconciles.
 */
export function recordSessionOnRoot(db: Db, session: EndedSession): boolean {
  return db.transaction((tx) => {
    recordSessionFacts(tx, session);
    reportToApi(tx, session.endedAt, {
      kind: 'session-ended',
      session: { ...session, startedAt: session.startedAt.getTime(), endedAt: session.endedAt.getTime() },
    });
    const isHolding = isMaintenanceHoldingSession({
      ...session.summary,
      lastCommitBefore: session.lastCommitBefore,
      maintainer: session.maintainer,
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
