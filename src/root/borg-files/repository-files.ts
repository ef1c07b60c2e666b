import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, type Stats, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { lockHolderPid } from '../../domain/borg-segments.js';
import { isOwnDirectory, type RepositoryScan } from './segment-scan.js';

/**
 * What the root side removes in a borg repository without borg: uncommitted
 * segments, stale locks (segment-scan.ts reads the segments). Only ever while
 * the host has no borg process on the repository.
 */

/**
 * Removes the segments of a transaction that was never committed (those above
 * the scan's last commit), as borg's next write would; returns how many.
 * Nothing is removed while a live process holds the lock, and nothing through
 * a link: `data` and `data/N` must be real directories owned by the host
 * (unlink itself never follows the last component).
 */
export function removeUncommittedSegments(repository: string, ownerUid: number, scan: RepositoryScan): number {
  if (lockHolders(repository).some(isProcessAlive)) return 0;
  let removed = 0;
  for (const segment of scan.segments) {
    if (segment.number <= scan.lastCommitted) continue;
    const directory = dirname(segment.path);
    if (dirname(directory) !== `${repository}/data`) continue;
    if (!isOwnDirectory(lstatIfExists(`${repository}/data`), ownerUid) || !isOwnDirectory(lstatIfExists(directory), ownerUid)) continue;
    if (!lstatIfExists(segment.path)?.isFile()) continue;
    unlinkSync(segment.path);
    removed += 1;
  }
  return removed;
}

function lstatIfExists(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** PIDs named by the repository's exclusive lock and lock roster. */
export function lockHolders(repository: string): number[] {
  const directory = `${repository}/lock.exclusive`;
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .map(lockHolderPid)
    .filter((pid): pid is number => pid !== null);
}

/** Whether the process runs (a zombie, killed and not yet reaped, does not). */
export function isProcessAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Removes a lock whose holders have all ended (a borg serve killed when its
 * host was disabled or restored leaves its lock behind), like borg does with
 * its own stale locks. Returns false when a live process still holds it.
 */
export function breakStaleLock(repository: string): boolean {
  const hasLock = existsSync(`${repository}/lock.exclusive`) || existsSync(`${repository}/lock.roster`);
  if (!hasLock) return true;
  if (lockHolders(repository).some(isProcessAlive)) return false;
  rmSync(`${repository}/lock.exclusive`, { recursive: true, force: true });
  rmSync(`${repository}/lock.roster`, { force: true });
  return true;
}
