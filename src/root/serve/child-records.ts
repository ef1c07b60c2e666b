import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Logger } from '../../log.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { endProcessesAndWait, type ProcessIdentity } from '../processes/child-processes.js';
import { statFieldsOf } from '../processes/proc-stat.js';

/**
 * Which children (sshd, the API) `borgctl serve` runs, one file each in a
 * root-only directory: "PID START_TICKS". A supervisor killed with -9 cannot
 * stop them, and an orphaned sshd would keep the SSH port with the
 * configuration it read before the crash (the new sshd could not bind, and
 * would be restarted in vain for ever). The next serve ends them before it
 * starts its own. The start time names the process: a PID the kernel has
 * given to another process since is never signalled.
 */

const STALE_GRACE_MS = 2000;
const STALE_TIMEOUT_MS = 10_000;

export function recordChild(directory: string, name: string, pid: number, procDir = '/proc'): void {
  const fields = statFieldsOf(procDir, pid);
  // Gone already (it failed at once): nothing to end later.
  if (fields === null) return;
  writeFileAtomically(`${directory}/${name}`, `${pid} ${fields[19] ?? ''}\n`, { uid: 0, gid: 0, mode: 0o600 });
}

export function forgetChild(directory: string, name: string): void {
  rmSync(`${directory}/${name}`, { force: true });
}

/** The children an earlier serve recorded and left running, read from `directory` (malformed files are skipped). */
export function recordedChildren(directory: string): (ProcessIdentity & { name: string })[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return [];
  }
  const children: (ProcessIdentity & { name: string })[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    let content: string;
    try {
      // Root's own file, in a root-only directory.
      content = readFileSync(`${directory}/${name}`, 'utf8');
    } catch {
      continue;
    }
    const match = /^(\d+) (\d+)\n?$/.exec(content);
    if (match) children.push({ name, pid: Number(match[1]), startTicks: match[2] as string });
  }
  return children;
}

/** Ends what an earlier serve left running (SIGTERM, then SIGKILL), then forgets it. */
export async function endStaleChildren(directory: string, logger: Logger, procDir = '/proc'): Promise<void> {
  const recorded = recordedChildren(directory);
  const running = recorded.filter((child) => {
    const fields = statFieldsOf(procDir, child.pid);
    return fields !== null && fields[0] !== 'Z' && fields[19] === child.startTicks;
  });
  for (const child of running) logger.warn({ child: child.name, pid: child.pid }, 'a child of an earlier serve still runs: ending it');
  if (running.length > 0) {
    const hasEnded = await endProcessesAndWait(running, { graceMs: STALE_GRACE_MS, timeoutMs: STALE_TIMEOUT_MS, procDir });
    if (!hasEnded) logger.error({ pids: running.map((child) => child.pid) }, 'children of an earlier serve did not end');
  }
  for (const child of recorded) forgetChild(directory, child.name);
}
