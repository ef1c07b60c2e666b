import type { Db } from '../../db/connection.js';
import { type EndedSession, recordSessionFacts } from '../../host-records/session-facts.js';
import { reportToApi } from '../reports/report-to-api.js';

/**
 * A session root saw end: kept in root's own database (a host's first
 * session, its size) and reported to the API, which records it in its own
 * with the events and pings that follow (recordEndedSession).
 */
export function recordSessionOnRoot(db: Db, session: EndedSession): void {
  db.transaction((tx) => {
    recordSessionFacts(tx, session);
    reportToApi(tx, session.endedAt, {
      kind: 'session-ended',
      session: { ...session, startedAt: session.startedAt.getTime(), endedAt: session.endedAt.getTime() },
    });
  });
}
