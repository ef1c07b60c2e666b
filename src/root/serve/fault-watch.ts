import { accessSync, constants, statfsSync } from 'node:fs';
import { clockFault, compareFaults, type Fault, faultOfErrno, isVolumeFull } from '../../domain/faults.js';
import type { Logger } from '../../log.js';
import { probeStateVolume } from '../../state-volume-probe.js';

/** How often root looks: a small write on the state volume, a statfs of the backup volume, its children, the clock. */
export const FAULT_WATCH_INTERVAL_MS = 2000;

/**
 * A child counts as up once it has run this long: one that exits at once (sshd that cannot bind its port) is
 * still down, and its restarts do not end and begin the fault again each time.
 */
export const CHILD_STARTUP_MS = 3000;

/** What the watch asks of a supervised child (src/root/serve/child.ts). */
export interface WatchedChild {
  upForMs(): number | null;
  restarts(): number;
}

/** Whether a child is down: none runs, or one started again after an exit has not yet run long enough to count. */
export function isChildDown(child: WatchedChild | undefined): boolean {
  if (!child) return false;
  const upForMs = child.upForMs();
  return upForMs === null || (child.restarts() > 0 && upForMs < CHILD_STARTUP_MS);
}

export interface FaultWatch {
  /** The faults seen at the last look. */
  current(): Fault[];
  /** Looks now; logs each fault once when it begins and once when it ends, and tells `onChange`. */
  check(): Fault[];
  stop(): void;
}

export interface FaultWatchOptions {
  /** A file root may write and remove in its own directory on the state volume (STATE/run). */
  stateProbePath: string;
  backupDir: string;
  /** The supervised children (undefined: not started yet). */
  sshd: () => WatchedChild | undefined;
  api: () => WatchedChild | undefined;
  logger: Logger;
  nowMs?: () => number;
  onChange?: (faults: Fault[]) => void;
}

/** The backup volume full (statfs) or mounted read-only; root writes nothing there to look. */
function probeBackupVolume(backupDir: string): Fault | null {
  try {
    accessSync(backupDir, constants.W_OK);
    if (isVolumeFull(statfsSync(backupDir))) return faultOfErrno('ENOSPC', 'backup');
    return null;
  } catch (error) {
    return faultOfErrno((error as NodeJS.ErrnoException).code, 'backup');
  }
}

/**
 * Root's watch of the faults it can see (src/domain/faults.ts), on a timer in
 * its own event loop. It survives every fault it reports: a look that throws
 * is itself reported as what it names.
 */
export function startFaultWatch(options: FaultWatchOptions): FaultWatch {
  const { stateProbePath, backupDir, sshd, api, logger, nowMs = Date.now, onChange } = options;
  let faults: Fault[] = [];
  // The latest wall-clock time this process saw: a clock behind it was stepped back.
  let latestSeenMs = nowMs();

  function look(): Fault[] {
    const now = nowMs();
    const found: (Fault | null)[] = [
      probeStateVolume(stateProbePath),
      probeBackupVolume(backupDir),
      isChildDown(sshd()) ? { code: 'SSHD_DOWN', message: 'sshd is not running: the server starts it again' } : null,
      isChildDown(api()) ? { code: 'API_DOWN', message: 'the API process is not running: the server starts it again' } : null,
      clockFault(latestSeenMs, now),
    ];
    latestSeenMs = Math.max(latestSeenMs, now);
    return found.filter((fault): fault is Fault => fault !== null);
  }

  function check(): Fault[] {
    const current = look();
    const { began, ended } = compareFaults(faults, current);
    for (const fault of began) logger.error({ fault: fault.code }, `fault began: ${fault.message}`);
    for (const fault of ended) logger.info({ fault: fault.code }, `fault ended: ${fault.code}`);
    faults = current;
    if (began.length + ended.length > 0) onChange?.(current);
    return current;
  }

  const timer = setInterval(() => {
    try {
      check();
    } catch (error) {
      logger.error({ err: error }, 'could not look for faults');
    }
  }, FAULT_WATCH_INTERVAL_MS);
  timer.unref();

  return { current: () => faults, check, stop: () => clearInterval(timer) };
}
