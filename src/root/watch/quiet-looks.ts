import { readFileSync } from 'node:fs';

/**
 * Lets the repository watch and the session limit skip their /proc scans
 * while nothing can have changed, the idle supervisor's main cost (each scan
 * reads every process's status, four and two times a second). A host's
 * process starts only inside one of sshd's connections: while sshd's listener
 * has no child, and the last look found nothing to watch (no session, none
 * that just ended, no new, changed or half-scanned repository), the next look
 * would find nothing either. A look runs again as soon as sshd has a
 * connection, after every reconcile (new hosts), and at every sweep, which the
 * caller never skips (so that a host process started some other way, or a
 * connection shorter than the interval, is still seen within a sweep's time,
 * as before).
 */
export interface QuietLooks {
  /** What a look found: how many hosts it looked at (the repository watch's answer). */
  looked(watchedHosts: number): void;
  /** Something changed (a reconcile): look at the next tick. */
  wake(): void;
  /** Whether this tick's look may be skipped. */
  canSkip(): boolean;
}

export function createQuietLooks(options: { listenerPid: () => number | undefined; procDir?: string }): QuietLooks {
  const { listenerPid, procDir = '/proc' } = options;
  let isQuiet = false;
  return {
    looked(watchedHosts) {
      isQuiet = watchedHosts === 0;
    },
    wake() {
      isQuiet = false;
    },
    canSkip() {
      return isQuiet && !hasChildren(listenerPid(), procDir);
    },
  };
}

/** Whether a process has a child (`/proc/PID/task/PID/children`); true when it cannot be told (no pid, no such file). */
export function hasChildren(pid: number | undefined, procDir = '/proc'): boolean {
  if (pid === undefined) return true;
  try {
    return readFileSync(`${procDir}/${pid}/task/${pid}/children`, 'latin1').trim() !== '';
  } catch {
    return true;
  }
}
