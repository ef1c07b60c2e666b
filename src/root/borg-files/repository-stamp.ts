import { lstatSync } from 'node:fs';
import type { RepositoryScan } from './segment-scan.js';

/**
 * A cheap stamp of what the repository watch reads in a repository, so that a
 * look at an idle session's repository can reuse the last look's scan instead
 * of reading the directories again. It is the lstat (inode, size, blocks,
 * mtime and ctime in nanoseconds) of:
 * - the repository directory (borg's lock files, a new index.N, hints.N,
 *   integrity.N or config, each written beside and renamed: its mtime moves);
 * - `config`, and `index.N`, `hints.N`, `integrity.N` of the last commit;
 * - `data/` (a new or removed segment directory, anything else put there);
 * - every segment directory the scan read, empty ones too (a new segment, a
 *   segment compaction deleted, in any of them);
 * - the two newest segments (borg appends only to the newest one; the one
 *   before it took the last writes before the newest was made).
 * A change in ownership or mode moves the ctime; a new subdirectory the link count.
 *
 * Timestamps are coarse (a kernel tick, or worse on some file systems): two
 * changes within one tick leave the same mtime. So a stamp whose files
 * changed within `RACY_WINDOW_MS` before the scan began is "racy" (as git
 * says of its index) and is never reused: a repository being written is read
 * in full at every look, and only one left alone for a few seconds is
 * skipped.
 */

export const RACY_WINDOW_MS = 3000;

export interface Stamp {
  stamp: string;
  /** Whether something in it changed within the window before `since`: then it must not be trusted. */
  isRacy: boolean;
}

/** Nanoseconds since the epoch, on the clock file timestamps use. */
export function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** The stamp of some paths (what is gone stamps as `-`), taken now; racy if any changed after `sinceNs - racyWindowMs`. */
export function stampOfPaths(paths: readonly string[], sinceNs: bigint, racyWindowMs = RACY_WINDOW_MS): Stamp {
  const after = sinceNs - BigInt(racyWindowMs) * 1_000_000n;
  let isRacy = false;
  const parts: string[] = [];
  for (const path of paths) {
    const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (stats === undefined) {
      parts.push('-');
      continue;
    }
    parts.push(`${stats.ino}:${stats.mode}:${stats.uid}:${stats.nlink}:${stats.size}:${stats.blocks}:${stats.mtimeNs}:${stats.ctimeNs}`);
    if (stats.mtimeNs >= after || stats.ctimeNs >= after) isRacy = true;
  }
  return { stamp: parts.join('|'), isRacy };
}

/** The paths whose stamp stands for the scan of `repository` (see above). */
export function repositoryStampPaths(repository: string, scan: RepositoryScan): string[] {
  const paths = [repository, `${repository}/config`, `${repository}/data`];
  if (scan.lastCommitted >= 0)
    for (const name of ['index', 'hints', 'integrity']) paths.push(`${repository}/${name}.${scan.lastCommitted}`);
  paths.push(...scan.directories);
  for (const segment of scan.segments.slice(-2)) paths.push(segment.path);
  return paths;
}

export function repositoryStamp(repository: string, scan: RepositoryScan, sinceNs: bigint, racyWindowMs = RACY_WINDOW_MS): Stamp {
  return stampOfPaths(repositoryStampPaths(repository, scan), sinceNs, racyWindowMs);
}
