/**
 * borg's segment files (`data/N/M` in a repository, M the segment number) and
 * what the server makes of them for the storage quota.
 *
 * Which transaction was last committed is read from the files only `borg
 * serve` writes at a commit, never from the segments: `index.N` (and
 * `hints.N`, `integrity.N`), where N is the segment that holds the commit
 * (Repository.write_index in borg/repository.py; borg's own
 * get_index_transaction_id reads the same names). A segment's last bytes are
 * no proof: a modified client can make the data of a PUT end with the 9 bytes
 * of a commit entry. Segments numbered above N belong to a transaction that was
 * never committed: borg deletes them itself at the next write (LoggedIO.cleanup).
 */

export interface SegmentFile {
  number: number;
  /** Disk space it takes (st_blocks × 512), not its size: a sparse file takes little, a tiny one a whole block. */
  usedBytes: number;
}

/** The segment number of a path relative to the repository, or null when it is not a segment file. */
export function segmentNumberOf(relativePath: string): number | null {
  const match = /^data\/\d+\/(\d+)$/.exec(relativePath);
  return match ? Number(match[1]) : null;
}

/**
 * The last committed transaction, from the names in the repository's top
 * directory: the highest N of a non-empty `index.N` (what borg itself
 * trusts), or -1 when there is none (nothing committed yet).
 */
export function lastCommittedTransaction(entries: readonly { name: string; size: number }[]): number {
  let last = -1;
  for (const { name, size } of entries) {
    const match = /^index\.(\d+)$/.exec(name);
    if (match && size > 0) last = Math.max(last, Number(match[1]));
  }
  return last;
}

/** Disk space in committed segments and in the segments of an unfinished (or abandoned) transaction. */
export function segmentUsage(
  segments: readonly SegmentFile[],
  lastCommitted: number,
): {
  committedBytes: number;
  uncommittedBytes: number;
  uncommitted: number[];
} {
  let committedBytes = 0;
  let uncommittedBytes = 0;
  const uncommitted: number[] = [];
  for (const segment of segments) {
    if (segment.number > lastCommitted) {
      uncommittedBytes += segment.usedBytes;
      uncommitted.push(segment.number);
    } else {
      committedBytes += segment.usedBytes;
    }
  }
  return { committedBytes, uncommittedBytes, uncommitted: uncommitted.sort((a, b) => a - b) };
}

/** borg's lock entries (`lock.exclusive/HOSTID.PID-TID`) name the process that holds the lock. */
export function lockHolderPid(entryName: string): number | null {
  const match = /\.(\d+)-[0-9a-f]+$/.exec(entryName);
  return match ? Number(match[1]) : null;
}

/**
 * What the server does about a host's storage quota, measured on disk in
 * blocks (borg's own check counts the bytes it was asked to write since the
 * last compaction, and believes what its client tells it: objects a modified
 * client goes on writing after borg refused them, or deleted archives that
 * append-only mode keeps, escape it):
 * - `disable`: the repository holds more committed data (or files) than its
 *   quota allows; outside a full-access window nothing but the admin can free
 *   it, so the host stops;
 * - `end-sessions`: an open transaction takes the repository past the quota or
 *   past its file limit (every mode);
 * - `clean-up`: a finished session left uncommitted segments and the
 *   repository is past the quota or its file limit (every mode; borg would
 *   delete them only at the host's next write).
 * A small allowance covers borg's own overheads (segment headers, commits).
 *
 * In a full-access window the host is there to prune and compact: committed
 * data past the quota is left to it, and one transaction may rewrite up to the
 * quota (borg compact copies the live data before it frees old segments). A
 * host that is not append-only at all is held like an append-only one: borg's
 * own quota counts every byte written since the last compaction, so committed
 * data past it got past borg, and a host that can compact whenever it likes
 * needs no window to come back under it.
 */
export type QuotaVerdict = 'within' | 'end-sessions' | 'clean-up' | 'disable';

export function quotaAllowanceBytes(quotaBytes: number): number {
  return Math.max(1_000_000, Math.floor(quotaBytes / 100));
}

/**
 * How many files (inodes) a repository may hold: one per 16 KiB of quota, the
 * ratio at which ext4 creates inodes by default (so a host can use up the
 * inodes of the disk no faster than its bytes), and at least 10,000 (borg
 * makes one or two segments per backup; a file per 500 MB segment otherwise).
 */
export function repositoryFileLimit(quotaBytes: number): number {
  return Math.max(10_000, Math.floor(quotaBytes / 16_384));
}

export function judgeQuota(options: {
  quotaBytes: number;
  committedBytes: number;
  uncommittedBytes: number;
  /** Files (inodes) in the repository's data: committed segments, directories and anything else. */
  committedFiles?: number;
  /** Segment files above the last commit. */
  uncommittedFiles?: number;
  hasSession: boolean;
  /** A full-access window is open: the host may compact. */
  isFullAccessWindow: boolean;
}): QuotaVerdict {
  const { quotaBytes, committedBytes, uncommittedBytes, hasSession, isFullAccessWindow } = options;
  const { committedFiles = 0, uncommittedFiles = 0 } = options;
  const allowedBytes = quotaBytes + quotaAllowanceBytes(quotaBytes);
  const fileLimit = repositoryFileLimit(quotaBytes);
  if (!isFullAccessWindow && (committedBytes > allowedBytes || committedFiles > fileLimit)) return 'disable';
  if (uncommittedBytes === 0 && uncommittedFiles === 0) return 'within';
  const isPastFileLimit = committedFiles + uncommittedFiles > fileLimit;
  if (!hasSession) return committedBytes + uncommittedBytes > quotaBytes || isPastFileLimit ? 'clean-up' : 'within';
  const openTransactionLimit = isFullAccessWindow ? allowedBytes : allowedBytes - committedBytes;
  return uncommittedBytes > openTransactionLimit || isPastFileLimit ? 'end-sessions' : 'within';
}
