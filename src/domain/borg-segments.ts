/**
 * borg's segment files (`data/N/M` in a repository, M the segment number).
 * Every committed transaction ends its last segment with a commit entry:
 * crc32, size 9, tag 2 (LoggedIO.COMMIT in borg/repository.py). Segments
 * numbered above the last one that ends so belong to a transaction that was
 * never committed: borg deletes them itself at the next write (LoggedIO.cleanup).
 */
export const COMMIT_ENTRY = Buffer.from('40f43c250900000002', 'hex');

export interface SegmentFile {
  number: number;
  size: number;
  endsWithCommit: boolean;
}

/** The segment number of a path relative to the repository, or null when it is not a segment file. */
export function segmentNumberOf(relativePath: string): number | null {
  const match = /^data\/\d+\/(\d+)$/.exec(relativePath);
  return match ? Number(match[1]) : null;
}

/** Whether a segment file's last bytes are borg's commit entry. */
export function endsWithCommitEntry(tail: Buffer): boolean {
  return tail.length >= COMMIT_ENTRY.length && tail.subarray(tail.length - COMMIT_ENTRY.length).equals(COMMIT_ENTRY);
}

/** Bytes in committed segments and in the segments of an unfinished (or abandoned) transaction. */
export function segmentUsage(segments: readonly SegmentFile[]): {
  committedBytes: number;
  uncommittedBytes: number;
  uncommitted: number[];
} {
  const lastCommitted = Math.max(-1, ...segments.filter((segment) => segment.endsWithCommit).map((segment) => segment.number));
  let committedBytes = 0;
  let uncommittedBytes = 0;
  const uncommitted: number[] = [];
  for (const segment of segments) {
    if (segment.number > lastCommitted) {
      uncommittedBytes += segment.size;
      uncommitted.push(segment.number);
    } else {
      committedBytes += segment.size;
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
 * What the server does about a host's storage quota, measured on disk (borg
 * counts live data only, so deleted archives that append-only mode keeps, or
 * objects a modified client goes on writing after borg refused them, escape
 * borg's own check):
 * - `disable`: an append-only repository holds more committed data than its
 *   quota allows; nothing but the admin can free it, so the host stops;
 * - `end-sessions`: an open transaction takes the repository past the quota;
 * - `clean-up`: a finished session left uncommitted segments past the quota
 *   (borg would delete them only at the host's next write).
 * A small allowance covers borg's own overheads (segment headers, commits).
 */
export type QuotaVerdict = 'within' | 'end-sessions' | 'clean-up' | 'disable';

export function quotaAllowanceBytes(quotaBytes: number): number {
  return Math.max(1_000_000, Math.floor(quotaBytes / 100));
}

export function judgeQuota(options: {
  quotaBytes: number;
  committedBytes: number;
  uncommittedBytes: number;
  hasSession: boolean;
  isAppendOnly: boolean;
}): QuotaVerdict {
  const { quotaBytes, committedBytes, uncommittedBytes, hasSession, isAppendOnly } = options;
  const allowedBytes = quotaBytes + quotaAllowanceBytes(quotaBytes);
  if (isAppendOnly && committedBytes > allowedBytes) return 'disable';
  if (uncommittedBytes === 0) return 'within';
  if (!hasSession) return committedBytes + uncommittedBytes > quotaBytes ? 'clean-up' : 'within';
  // With full access, borg compact first rewrites the live data (at most the quota) and only then frees old segments.
  const openTransactionLimit = isAppendOnly ? allowedBytes - committedBytes : allowedBytes;
  return uncommittedBytes > openTransactionLimit ? 'end-sessions' : 'within';
}
