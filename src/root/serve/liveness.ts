import { lstatSync, mkdirSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Fault } from '../../domain/faults.js';
import { type LoopLiveness, type RootLoop, renderLivenessReport } from '../../domain/root-liveness.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { CHECK_SCHEDULE_INTERVAL_MS } from '../checks/integrity-check.js';
import { REPORT_FLUSH_INTERVAL_MS } from '../reports/report-pump.js';
import { REPOSITORY_WATCH_INTERVAL_MS } from '../watch/repository-watch.js';
import { SESSION_LIMIT_INTERVAL_MS } from '../watch/session-limit.js';
import { serialized } from './serialized.js';

/** A full reconcile pass this often, beside the passes for one changed host (reconcile-host.ts). */
export const FULL_RECONCILE_INTERVAL_MS = 10 * 60_000;

/** How often each loop starts a pass; null for reconcile, which runs when asked. */
const LOOP_INTERVALS_MS: Record<RootLoop, number | null> = {
  reconcile: null,
  'full-reconcile': FULL_RECONCILE_INTERVAL_MS,
  'repository-watch': REPOSITORY_WATCH_INTERVAL_MS,
  'session-limit': SESSION_LIMIT_INTERVAL_MS,
  'check-schedule': CHECK_SCHEDULE_INTERVAL_MS,
  reports: REPORT_FLUSH_INTERVAL_MS,
};

/** Root rewrites its report this often, or often enough for five reports within a shorter bound. */
const MAX_WRITE_INTERVAL_MS = 5000;
const MIN_WRITE_INTERVAL_MS = 1000;

export function livenessWriteIntervalMs(stallBoundMs: number): number {
  return Math.max(MIN_WRITE_INTERVAL_MS, Math.min(MAX_WRITE_INTERVAL_MS, Math.floor(stallBoundMs / 5)));
}

export interface RootLiveness {
  /** Wraps a task so that each run of it is a pass of `loop`: running while it runs, completed when it resolves. */
  recordPasses(loop: RootLoop, task: () => Promise<void>): () => Promise<void>;
  /** Records `pass` as a pass of `loop` (once, however often it is handed in) and returns it. */
  track<T>(loop: RootLoop, pass: Promise<T>): Promise<T>;
  /** A synchronous pass of `loop` has just completed. */
  passCompleted(loop: RootLoop): void;
  /**
   * The timed loops have just been started: a loop that has not completed a pass yet is late only after its
   * interval and the bound from now, however long the start-up before took (a first reconcile of many hosts).
   */
  loopsStarted(): void;
  /** Writes the report now (the timer does every few seconds); resolves once it is in place or its failure logged. */
  writeReport(): Promise<void>;
  /** Stops writing; the file keeps the last report, which ages. */
  stop(): void;
}

/**
 * Makes root's run directory if it is missing. Whoever made it, it must be a
 * real directory of this process's user that no one else can write, so that
 * nobody else can put a report there.
 */
function ensureRunDirectory(directory: string): void {
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stats = lstatSync(directory);
  if (!stats.isDirectory() || stats.uid !== process.getuid?.() || (stats.mode & 0o022) !== 0) {
    throw new AppError('UNSAFE_PATH', `${directory} must be a directory of root's that no other user can write`);
  }
}

/**
 * Root's liveness, kept in memory and written on a timer in root's own event
 * loop, whole and renamed into place, to `path`. A frozen event loop stops the
 * writing, so the report's age tells the healthcheck; a stuck loop shows in it.
 * Not fsynced: nothing needs it after a crash, and a slow fsync would stall
 * the very loop it reports on.
 */
export function startLiveness(options: {
  path: string;
  logger: Logger;
  now: () => Date;
  stallBoundMs: number;
  /** The faults root sees now, for the healthcheck (src/root/serve/fault-watch.ts). */
  faults?: () => Fault[];
  /** A clock no one steps (milliseconds from any origin): what the report's times are measured on. */
  monotonicMs?: () => number;
}): RootLiveness {
  const { path, logger, now, stallBoundMs, faults = () => [], monotonicMs = () => performance.now() } = options;
  ensureRunDirectory(dirname(path));
  const temporary = `${dirname(path)}/.${basename(path)}.tmp`;
  // Times are kept on the monotonic clock and dated only when written, as long before writtenAt as they are:
  // a wall clock stepped back or forward between a pass and the report makes no loop look late, and hides none.
  let startedAt = monotonicMs();
  const lastCompletedAt = new Map<RootLoop, number>();
  const runningPasses = new Map<RootLoop, Map<Promise<unknown>, number>>();
  let hasFailed = false;

  function loopLiveness(loop: RootLoop, dated: (stamp: number) => Date): LoopLiveness {
    const starts = [...(runningPasses.get(loop)?.values() ?? [])];
    const completed = lastCompletedAt.get(loop);
    return {
      intervalMs: LOOP_INTERVALS_MS[loop],
      lastCompletedAt: completed === undefined ? null : dated(completed),
      runningSince: starts.length === 0 ? null : dated(Math.min(...starts)),
    };
  }

  async function write(): Promise<void> {
    try {
      const writtenAt = now();
      const writtenAtMonotonic = monotonicMs();
      const dated = (stamp: number) => new Date(writtenAt.getTime() - (writtenAtMonotonic - stamp));
      const loops = Object.fromEntries((Object.keys(LOOP_INTERVALS_MS) as RootLoop[]).map((loop) => [loop, loopLiveness(loop, dated)]));
      const report = { pid: process.pid, startedAt: dated(startedAt), writtenAt, loops, faults: faults() };
      await writeFile(temporary, renderLivenessReport(report), {
        mode: 0o600,
      });
      await rename(temporary, path);
      if (hasFailed) logger.info({ path }, 'liveness report written again');
      hasFailed = false;
    } catch (error) {
      // Once per run of failures: the healthcheck says so every time it looks.
      if (!hasFailed) logger.error({ err: error, path }, 'could not write the liveness report');
      hasFailed = true;
    }
  }
  // One write at a time, and at most one waiting behind it however slow the disk.
  const writeReport = serialized(write);

  function track<T>(loop: RootLoop, pass: Promise<T>): Promise<T> {
    const running = runningPasses.get(loop) ?? new Map<Promise<unknown>, number>();
    runningPasses.set(loop, running);
    if (running.has(pass)) return pass;
    running.set(pass, monotonicMs());
    pass.then(
      () => {
        running.delete(pass);
        lastCompletedAt.set(loop, monotonicMs());
      },
      // A pass that failed did not complete; the loop's own handler logs the error.
      () => running.delete(pass),
    );
    return pass;
  }

  void writeReport();
  const timer = setInterval(() => void writeReport(), livenessWriteIntervalMs(stallBoundMs));
  // A start-up that fails after this must still let the process exit.
  timer.unref();

  return {
    recordPasses: (loop, task) => () => track(loop, task()),
    track,
    passCompleted(loop) {
      lastCompletedAt.set(loop, monotonicMs());
    },
    loopsStarted() {
      startedAt = monotonicMs();
    },
    writeReport,
    stop() {
      clearInterval(timer);
    },
  };
}
