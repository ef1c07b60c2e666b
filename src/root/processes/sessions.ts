import { isHostAccountUid } from '../../domain/host-uid.js';
import { mountNamespaceOf, processRealUids } from '../../process/process-table.js';
import type { ServerUids } from '../accounts/server-accounts.js';

/**
 * Live processes of this server's mount namespace whose real UID is one of
 * `uids`: accounts the server made (server-accounts.ts), never a UID a host
 * row merely names. Host-range UIDs only even so: not root's, not a system
 * account's.
 */
export function processesOf(uids: ServerUids, procDir = '/proc'): { pid: number; uid: number }[] {
  if (uids.size === 0) return [];
  return hostProcessesIn(procDir, (uid) => uids.has(uid));
}

function hostProcessesIn(procDir: string, isCounted: (uid: number) => boolean): { pid: number; uid: number }[] {
  const ownNamespace = mountNamespaceOf(procDir, 'self');
  const found: { pid: number; uid: number }[] = [];
  for (const { pid, realUid } of processRealUids(procDir)) {
    // A zombie has no mount namespace left: it is no session any more.
    if (!isCounted(realUid) || !isHostAccountUid(realUid) || mountNamespaceOf(procDir, pid) !== ownNamespace) continue;
    found.push({ pid: Number(pid), uid: realUid });
  }
  return found;
}

/**
 * One /proc scan shared by the watchers (the repository watch, four times a
 * second, and the session cap, twice). The scan is O(every process on the
 * machine), which at hundreds of sessions is most of what they cost; each
 * caller says how old a scan it may use, and gets it filtered by its UIDs.
 * Only for looking: what ends sessions scans afresh (endSessionsOf).
 */
export interface HostProcessTable {
  processesOf(uids: ServerUids, options?: { maxAgeMs?: number }): { pid: number; uid: number }[];
}

export function createHostProcessTable({
  procDir = '/proc',
  clock = () => performance.now(),
}: {
  procDir?: string;
  clock?: () => number;
} = {}): HostProcessTable {
  let last: { at: number; processes: { pid: number; uid: number }[] } | null = null;
  return {
    processesOf(uids, { maxAgeMs = 0 } = {}) {
      if (uids.size === 0) return [];
      const now = clock();
      if (last === null || maxAgeMs <= 0 || now - last.at > maxAgeMs || now < last.at) {
        // Every host-range process of this namespace: each caller then keeps those of its own UIDs.
        last = { at: now, processes: hostProcessesIn(procDir, () => true) };
      }
      return last.processes.filter(({ uid }) => uids.has(uid));
    },
  };
}

/**
 * Ends every process running as one of these UIDs (the borg serve sessions
 * of a host that was just disabled, deleted or re-keyed, or of every host at
 * shutdown). Reads /proc rather than running pkill per host, and only touches
 * processes that share this server's mount namespace: the same UID may be
 * another server's host elsewhere on the machine.
 */
export function endSessionsOf(uids: ServerUids, signal: NodeJS.Signals = 'SIGKILL', procDir = '/proc'): number {
  let ended = 0;
  for (const { pid } of processesOf(uids, procDir)) {
    try {
      process.kill(pid, signal);
      ended += 1;
    } catch {}
  }
  return ended;
}

/**
 * The processes of these UIDs that run (their open sessions), by UID, by one
 * pass over /proc; the server's own processes as a host (its repository
 * check) in `exceptPids` do not count.
 */
export function processIdsInSession(
  uids: ServerUids,
  procDir = '/proc',
  exceptPids: ReadonlySet<number> = new Set(),
  table?: { processes: HostProcessTable; maxAgeMs: number },
): Map<number, number[]> {
  const byUid = new Map<number, number[]>();
  for (const { pid, uid } of table?.processes.processesOf(uids, { maxAgeMs: table.maxAgeMs }) ?? processesOf(uids, procDir)) {
    if (exceptPids.has(pid)) continue;
    const pids = byUid.get(uid);
    if (pids === undefined) byUid.set(uid, [pid]);
    else pids.push(pid);
  }
  return byUid;
}

/** Which of these UIDs have a process running (an open session), by one pass over /proc; `exceptPids` as above. */
export function uidsInSession(uids: ServerUids, procDir = '/proc', exceptPids: ReadonlySet<number> = new Set()): Set<number> {
  return new Set(processIdsInSession(uids, procDir, exceptPids).keys());
}

async function waitUntilGone(uids: ServerUids, deadline: number, procDir: string): Promise<boolean> {
  while (uidsInSession(uids, procDir).size > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * Ends the sessions of these UIDs and waits until their processes are gone;
 * false if some outlive `timeoutMs`. With `graceMs`, they get SIGTERM first
 * and that long to finish (borg rolls an open transaction back either way).
 */
export async function endSessionsAndWait(
  uids: ServerUids,
  { graceMs = 0, timeoutMs = 10_000, procDir = '/proc' }: { graceMs?: number; timeoutMs?: number; procDir?: string } = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  if (graceMs > 0 && endSessionsOf(uids, 'SIGTERM', procDir) > 0 && (await waitUntilGone(uids, Date.now() + graceMs, procDir))) {
    return true;
  }
  endSessionsOf(uids, 'SIGKILL', procDir);
  while (uidsInSession(uids, procDir).size > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
    endSessionsOf(uids, 'SIGKILL', procDir);
  }
  return true;
}
