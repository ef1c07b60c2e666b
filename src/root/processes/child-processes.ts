import { readdirSync } from 'node:fs';
import { statFieldsOf } from './proc-stat.js';

/**
 * Processes a child of ours started and left (sshd forks one per connection,
 * in a session of its own), found by their parent in /proc and ended at
 * shutdown. A process is named by its PID and its start time together, so a
 * PID the kernel has given to someone else meanwhile is never signalled.
 */

export interface ProcessIdentity {
  pid: number;
  startTicks: string;
}

/** The live children of `parentPid` (zombies excluded). */
export function childProcesses(parentPid: number, procDir = '/proc'): ProcessIdentity[] {
  const children: ProcessIdentity[] = [];
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFieldsOf(procDir, Number(entry));
    if (fields === null || fields[0] === 'Z' || Number(fields[1]) !== parentPid) continue;
    children.push({ pid: Number(entry), startTicks: fields[19] ?? '' });
  }
  return children;
}

function isStillRunning(process_: ProcessIdentity, procDir: string): boolean {
  const fields = statFieldsOf(procDir, process_.pid);
  return fields !== null && fields[0] !== 'Z' && fields[19] === process_.startTicks;
}

/** SIGTERM, then after `graceMs` SIGKILL, to those still running; resolves once all are gone or `timeoutMs` passed. */
export async function endProcessesAndWait(
  processes: readonly ProcessIdentity[],
  { graceMs, timeoutMs, procDir = '/proc' }: { graceMs: number; timeoutMs: number; procDir?: string },
): Promise<boolean> {
  const signal = (name: NodeJS.Signals) => {
    for (const process_ of processes) {
      if (!isStillRunning(process_, procDir)) continue;
      try {
        process.kill(process_.pid, name);
      } catch {}
    }
  };
  const startedAt = Date.now();
  signal('SIGTERM');
  let hasKilled = false;
  while (processes.some((process_) => isStillRunning(process_, procDir))) {
    if (Date.now() - startedAt > timeoutMs) return false;
    if (!hasKilled && Date.now() - startedAt > graceMs) {
      signal('SIGKILL');
      hasKilled = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
