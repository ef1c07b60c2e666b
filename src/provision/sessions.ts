import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function mountNamespaceOf(procDir: string, pid: string): string | null {
  try {
    return readlinkSync(`${procDir}/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/**
 * Ends every process running as one of these UIDs (the borg serve sessions
 * of a host that was just disabled, deleted or re-keyed, or of every host at
 * shutdown). Reads /proc rather than running pkill per host, and only touches
 * processes that share this server's mount namespace: the same UID may be
 * another server's host elsewhere on the machine.
 */
export function endSessionsOf(uids: ReadonlySet<number>, signal: NodeJS.Signals = 'SIGKILL', procDir = '/proc'): number {
  if (uids.size === 0) return 0;
  const ownNamespace = mountNamespaceOf(procDir, 'self');
  let ended = 0;
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`${procDir}/${entry}/status`, 'utf8');
    } catch {
      continue; // the process ended while we looked
    }
    const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    if (!uids.has(realUid) || mountNamespaceOf(procDir, entry) !== ownNamespace) continue;
    try {
      process.kill(Number(entry), signal);
      ended += 1;
    } catch {}
  }
  return ended;
}
