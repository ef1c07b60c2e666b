import { isHostAccountUid } from '../../domain/host-uid.js';
import { mountNamespaceOf, processStatuses } from '../../process/process-table.js';
import type { ServerUids } from '../accounts/server-accounts.js';

/** The last pass over /proc: every host-range process of this server's mount namespace, and when (performance.now()). */
let lastScan: { procDir: string; at: number; processes: { pid: number; uid: number }[] } | null = null;

function scanHostProcesses(procDir: string): { pid: number; uid: number }[] {
  const ownNamespace = mountNamespaceOf(procDir, 'self');
  const found: { pid: number; uid: number }[] = [];
  for (const { pid, realUid } of processStatuses(procDir)) {
    // A zombie has no mount namespace left: it is no session any more.
    if (!isHostAccountUid(realUid) || mountNamespaceOf(procDir, pid) !== ownNamespace) continue;
    found.push({ pid: Number(pid), uid: realUid });
  }
  lastScan = { procDir, at: performance.now(), processes: found };
  return found;
}

/**
 * Live processes of this server's mount namespace whose real UID is one of
 * `uids`: accounts the server made (server-accounts.ts), never a UID a host
 * row merely names. Host-range UIDs only even so: not root's, not a system
 * account's. `reuseWithinMs`: the last pass over /proc will do if it is at
 * most that old (the session limit's look, due in the same tick as the
 * repository watch's, needs no pass of its own); 0, the default: a new pass.
 */
export function processesOf(
  uids: ServerUids,
  procDir = '/proc',
  { reuseWithinMs = 0 }: { reuseWithinMs?: number } = {},
): { pid: number; uid: number }[] {
  if (uids.size === 0) return [];
  const isRecent = reuseWithinMs > 0 && lastScan?.procDir === procDir && performance.now() - lastScan.at <= reuseWithinMs;
  const processes = isRecent && lastScan ? lastScan.processes : scanHostProcesses(procDir);
  return processes.filter(({ uid }) => uids.has(uid));
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
): Map<number, number[]> {
  const byUid = new Map<number, number[]>();
  for (const { pid, uid } of processesOf(uids, procDir)) {
    if (!exceptPids.has(pid)) byUid.set(uid, [...(byUid.get(uid) ?? []), pid]);
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
