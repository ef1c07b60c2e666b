import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/PID/stat after "(comm)" (comm may hold spaces and
 * parentheses): index 0 is the state, 1 the parent PID, 19 the start time in
 * clock ticks. Null once the process is gone.
 */
export function statFieldsOf(procDir: string, pid: number): string[] | null {
  try {
    const stat = readFileSync(`${procDir}/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
