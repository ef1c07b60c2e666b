import { z } from 'zod';
import { type Fault, faultListSchema } from './faults.js';

/**
 * Root's liveness: what the supervisor writes about its loops (when each last
 * completed a pass, and since when one runs), and the healthcheck's judgement
 * of it. A frozen event loop stops the writing; a stuck loop shows in it.
 */

/** Root's loops that report, and the names the healthcheck gives them. */
export const ROOT_LOOP_LABELS = {
  reconcile: 'reconcile',
  'full-reconcile': 'periodic full reconcile',
  'repository-watch': 'repository watch',
  'session-limit': 'session cap',
  'check-schedule': 'integrity-check schedule',
  reports: 'reports to the API',
} as const;

export type RootLoop = keyof typeof ROOT_LOOP_LABELS;

export interface LoopLiveness {
  /** How often the loop starts a pass; null for a loop that runs on demand (reconcile). */
  intervalMs: number | null;
  lastCompletedAt: Date | null;
  /** The start of the oldest pass still running, or null when none runs. */
  runningSince: Date | null;
}

export interface RootLivenessReport {
  /** The supervisor's process id, for the admin who reads the file. */
  pid: number;
  /**
   * When this supervisor's timed loops started (after its start-up: host keys, the first reconcile, an
   * upgrade, the sockets and children): the reference for a loop that has not completed a pass yet.
   */
  startedAt: Date;
  writtenAt: Date;
  loops: Record<string, LoopLiveness>;
  /** The faults root saw at its last look (src/domain/faults.ts); absent in a report of an older version. */
  faults?: Fault[];
}

/** The file is root's own, but it is still read as input: at most this much of it. */
export const MAX_LIVENESS_REPORT_BYTES = 64 * 1024;

const timestamp = z.iso.datetime().transform((value) => new Date(value));

const reportSchema = z.strictObject({
  pid: z.number().int().positive(),
  startedAt: timestamp,
  writtenAt: timestamp,
  loops: z.record(
    z.string().regex(/^[a-z][a-z-]{0,39}$/),
    z.strictObject({
      intervalMs: z.number().int().positive().nullable(),
      lastCompletedAt: timestamp.nullable(),
      runningSince: timestamp.nullable(),
    }),
  ),
  faults: faultListSchema.optional(),
});

export type ParsedLivenessReport = { isValid: true; report: RootLivenessReport } | { isValid: false; reason: string };

/** The JSON root writes: times as ISO strings. */
export function renderLivenessReport(report: RootLivenessReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Control characters as `?`: a reason is printed on one line. */
function printable(text: string): string {
  return [...text].map((character) => (character < ' ' || character === '\x7f' ? '?' : character)).join('');
}

/** The file's text to a report, or the reason it is not one. */
export function parseLivenessReport(text: string): ParsedLivenessReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { isValid: false, reason: 'it is not JSON' };
  }
  const parsed = reportSchema.safeParse(value);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { isValid: false, reason: printable(`${where}${issue?.message ?? 'not a liveness report'}`).slice(0, 200) };
  }
  return { isValid: true, report: parsed.data };
}

/** Whole seconds from `since` to `now`; a clock stepped back counts as no time. */
function secondsBetween(since: Date, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
}

function labelOf(loop: string): string {
  return (ROOT_LOOP_LABELS as Record<string, string>)[loop] ?? loop;
}

function isOlderThan(since: Date, now: Date, boundMs: number): boolean {
  return now.getTime() - since.getTime() > boundMs;
}

/**
 * What is wrong with root, one sentence per problem; none when it is live.
 * Root is stalled when it has not written its report for longer than
 * `stallBoundMs` (or its report is dated ahead by more: the clock was stepped back since). A loop on a timer is stuck when it has not completed a pass
 * for longer than its interval plus the bound (counted from root's start when
 * it has not completed one yet); a loop on demand when one pass has been
 * running for longer than the bound.
 */
export function judgeRootLiveness(report: RootLivenessReport, now: Date, stallBoundMs: number): string[] {
  if (isOlderThan(report.writtenAt, now, stallBoundMs)) {
    return [`root has not reported for ${secondsBetween(report.writtenAt, now)} s`];
  }
  // Root rewrites its report every few seconds, dated by its clock: one dated ahead by more than the bound was
  // written before the clock was stepped back, and none since. Without this, a root that stalled right then would
  // look live for as long as the step.
  if (isOlderThan(now, report.writtenAt, stallBoundMs)) {
    return [
      `root has not reported since the clock was stepped back (its last report is dated ${secondsBetween(now, report.writtenAt)} s ahead)`,
    ];
  }
  return Object.entries(report.loops).flatMap(([loop, liveness]) => {
    const running = liveness.runningSince ? ` (a pass has been running for ${secondsBetween(liveness.runningSince, now)} s)` : '';
    if (liveness.intervalMs === null) {
      return liveness.runningSince && isOlderThan(liveness.runningSince, now, stallBoundMs)
        ? [`root's ${labelOf(loop)} has been running a pass for ${secondsBetween(liveness.runningSince, now)} s`]
        : [];
    }
    const since = liveness.lastCompletedAt ?? report.startedAt;
    if (!isOlderThan(since, now, liveness.intervalMs + stallBoundMs)) return [];
    return liveness.lastCompletedAt
      ? [`root's ${labelOf(loop)} has not completed a pass for ${secondsBetween(since, now)} s${running}`]
      : [`root's ${labelOf(loop)} has not completed a pass since root started ${secondsBetween(since, now)} s ago${running}`];
  });
}
