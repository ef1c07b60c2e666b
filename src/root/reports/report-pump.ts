import { z } from 'zod';
import { type NumberedRootReport, REPORTS_PER_BATCH } from '../../channel/root-reports.js';
import { type Db, dataVersionOf } from '../../db/connection.js';
import type { Logger } from '../../log.js';
import { dropReportsBeyond, forgetReportsUpTo, preparePendingReports, reportsWrittenInThisProcess } from './report-to-api.js';

/** The API's acknowledgement (a request on its socket): it applied every report up to `upTo`. */
export const reportsAcknowledgement = z.strictObject({ upTo: z.number().int().nonnegative() });

/** How often root looks for reports the API has not had yet (a cheap indexed query, skipped while nothing was written). */
export const REPORT_FLUSH_INTERVAL_MS = 250;
/** Reports kept for an API that does not acknowledge them: about a day of a busy fleet's sessions. */
export const MAX_KEPT_REPORTS = 200_000;
/** Every how many flushes the backlog is bounded (a cheap query, not needed four times a second). */
const TRIM_EVERY_FLUSHES = 240;
/** A batch not acknowledged in this time is sent again (the API may have restarted meanwhile). */
const RESEND_AFTER_MS = 10_000;

export interface ReportPump {
  /** The API is connected: send it what it has not acknowledged, from the oldest. */
  connect(send: (reports: NumberedRootReport[]) => void): void;
  disconnect(): void;
  /** The API applied every report up to `id`. */
  acknowledge(id: number): void;
  /** Sends the next batch when none is waiting for its acknowledgement (the supervisor calls it on a timer). */
  flush(): void;
}

/**
 * Sends root's reports (report-to-api.ts) to the API one batch at a time, in
 * order, and forgets each once the API acknowledged it. A report is never
 * lost to an API restart: it stays in root's database until then.
 */
export function createReportPump({ db, logger, now = Date.now }: { db: Db; logger: Logger; now?: () => number }): ReportPump {
  let send: ((reports: NumberedRootReport[]) => void) | null = null;
  let waitingFor: { lastId: number; sentAt: number } | null = null;
  let flushes = 0;
  const pendingReports = preparePendingReports(db);
  /**
   * When the last look found nothing to send: what this process had written and the database's
   * data_version then. While both are the same nothing new can be waiting, and the look (four times
   * a second, most of an idle supervisor's database time) is skipped.
   */
  let foundNothingAt: { written: number; dataVersion: number } | null = null;

  /** `evenEmpty`: a batch goes out when none is pending too, so that an API that just connected learns it has caught up. */
  function flush({ evenEmpty = false } = {}): void {
    flushes += 1;
    if (flushes % TRIM_EVERY_FLUSHES === 0) {
      const dropped = dropReportsBeyond(db, MAX_KEPT_REPORTS);
      if (dropped > 0) logger.error({ dropped }, 'dropped the oldest reports the API never acknowledged');
    }
    if (!send) return;
    if (waitingFor && now() - waitingFor.sentAt < RESEND_AFTER_MS) return;
    const written = reportsWrittenInThisProcess();
    const dataVersion = dataVersionOf(db);
    if (!evenEmpty && foundNothingAt?.written === written && foundNothingAt.dataVersion === dataVersion) return;
    const batch = pendingReports(0, REPORTS_PER_BATCH);
    foundNothingAt = batch.length === 0 ? { written, dataVersion } : null;
    const last = batch.at(-1);
    waitingFor = last ? { lastId: last.id, sentAt: now() } : null;
    if (!last && !evenEmpty) return;
    try {
      send(batch);
    } catch (error) {
      logger.warn({ err: error }, 'could not send reports to the API; sending again later');
    }
  }

  return {
    connect(sender) {
      send = sender;
      waitingFor = null;
      flush({ evenEmpty: true });
    },
    disconnect() {
      send = null;
      waitingFor = null;
    },
    acknowledge(id) {
      // Never more than was sent: an acknowledgement names what the API has, not what root may drop.
      if (!waitingFor) return;
      forgetReportsUpTo(db, Math.min(id, waitingFor.lastId));
      waitingFor = null;
      flush();
    },
    flush: () => flush(),
  };
}
