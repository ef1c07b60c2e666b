import { readdirSync, readFileSync } from 'node:fs';

/**
 * Ends every process running as one of these UIDs (the borg serve sessions
 * of a host that was just disabled, deleted or re-keyed). Reads /proc rather
 * than running pkill per host.
 */
export function endSessionsOf(uids: ReadonlySet<number>, procDir = '/proc'): number {
  if (uids.size === 0) return 0;
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
    if (!uids.has(realUid)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      ended += 1;
    } catch {}
  }
  return ended;
}
