import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { endsWithCommitEntry, lockHolderPid, type SegmentFile, segmentUsage } from '../domain/borg-segments.js';

/**
 * What the root side reads and removes in a borg repository without borg:
 * segment sizes, uncommitted segments, stale locks. Only ever while the host
 * has no borg process on the repository, or only reading.
 */

export interface SegmentOnDisk extends SegmentFile {
  path: string;
}

/**
 * The repository's segment files with their sizes. Only the newest ones are
 * read, down to the first that ends with a commit: everything below it is
 * committed (`endsWithCommit` is false for those without being read).
 */
export function listSegments(repository: string): SegmentOnDisk[] {
  const dataDir = `${repository}/data`;
  if (!existsSync(dataDir)) return [];
  const segments: SegmentOnDisk[] = [];
  for (const directory of readdirSync(dataDir)) {
    if (!/^\d+$/.test(directory)) continue;
    for (const name of readdirSync(`${dataDir}/${directory}`)) {
      if (!/^\d+$/.test(name)) continue;
      const path = `${dataDir}/${directory}/${name}`;
      try {
        segments.push({ number: Number(name), path, size: statSync(path).size, endsWithCommit: false });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
  segments.sort((a, b) => a.number - b.number);
  for (let index = segments.length - 1; index >= 0; index -= 1) {
    const segment = segments[index] as SegmentOnDisk;
    if (segment.size > 0 && endsWithCommitEntry(readTailIfExists(segment.path))) {
      segment.endsWithCommit = true;
      break;
    }
  }
  return segments;
}

function readTailIfExists(path: string): Buffer {
  let descriptor: number;
  try {
    descriptor = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
  try {
    const size = fstatSync(descriptor).size;
    const tail = Buffer.alloc(Math.min(size, 9));
    readSync(descriptor, tail, 0, tail.length, size - tail.length);
    return tail;
  } finally {
    closeSync(descriptor);
  }
}

/** Removes the segments of a transaction that was never committed, as borg's next write would; returns how many. */
export function removeUncommittedSegments(repository: string): number {
  if (lockHolders(repository).some(isProcessAlive)) return 0;
  const segments = listSegments(repository);
  let removed = 0;
  const uncommitted = new Set(segmentUsage(segments).uncommitted);
  for (const segment of segments) {
    if (!uncommitted.has(segment.number)) continue;
    unlinkSync(segment.path);
    removed += 1;
  }
  return removed;
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
