import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMMIT_ENTRY,
  endsWithCommitEntry,
  judgeQuota,
  lockHolderPid,
  quotaAllowanceBytes,
  segmentNumberOf,
  segmentUsage,
} from '../../../src/domain/borg-segments.js';

const QUOTA = 10_000_000;
const ALLOWANCE = quotaAllowanceBytes(QUOTA);

describe('segmentNumberOf', () => {
  it('reads the number of a segment file', () => {
    expect(segmentNumberOf('data/3/3127')).toBe(3127);
  });

  it.each(['index.12', 'data/0', 'data/0/12.tmp', 'config'])('is null for %s', (path) => {
    expect(segmentNumberOf(path)).toBeNull();
  });
});

describe('endsWithCommitEntry', () => {
  it('recognises the commit entry borg writes at the end of a committed segment', () => {
    expect(endsWithCommitEntry(Buffer.concat([Buffer.from('BORG_SEG'), COMMIT_ENTRY]))).toBe(true);
  });

  it('is false for a segment cut off before its commit', () => {
    expect(endsWithCommitEntry(Buffer.from('BORG_SEGsome put entries'))).toBe(false);
  });

  it('is false for an empty file', () => {
    expect(endsWithCommitEntry(Buffer.alloc(0))).toBe(false);
  });
});

describe('segmentUsage', () => {
  it('counts the segments above the last committed one as uncommitted', () => {
    const usage = segmentUsage([
      { number: 0, size: 100, endsWithCommit: false },
      { number: 1, size: 17, endsWithCommit: true },
      { number: 2, size: 5000, endsWithCommit: false },
      { number: 3, size: 7000, endsWithCommit: false },
    ]);
    expect(usage).toEqual({ committedBytes: 117, uncommittedBytes: 12_000, uncommitted: [2, 3] });
  });

  it('counts everything as uncommitted when nothing was ever committed', () => {
    expect(segmentUsage([{ number: 0, size: 10, endsWithCommit: false }]).uncommitted).toEqual([0]);
  });
});

describe('lockHolderPid', () => {
  it("reads the PID from borg's lock entry name", () => {
    expect(lockHolderPid('backup.example@178121916412345.4242-7f3a9c')).toBe(4242);
  });

  it('is null for a name that is not a lock entry', () => {
    expect(lockHolderPid('roster')).toBeNull();
  });
});

describe('judgeQuota', () => {
  const base = { quotaBytes: QUOTA, committedBytes: 4_000_000, uncommittedBytes: 0, hasSession: true, isAppendOnly: true };

  it('leaves a repository within its quota alone', () => {
    expect(judgeQuota({ ...base, uncommittedBytes: 5_000_000 })).toBe('within');
  });

  it('ends the sessions of an open transaction that takes an append-only repository past the quota', () => {
    expect(judgeQuota({ ...base, uncommittedBytes: 8_000_000 })).toBe('end-sessions');
  });

  it('removes what a finished session left past the quota', () => {
    expect(judgeQuota({ ...base, uncommittedBytes: 8_000_000, hasSession: false })).toBe('clean-up');
  });

  it('disables an append-only host whose committed history is past the quota', () => {
    expect(judgeQuota({ ...base, committedBytes: QUOTA + ALLOWANCE + 1 })).toBe('disable');
  });

  it('tolerates borg overheads just past the quota', () => {
    expect(judgeQuota({ ...base, committedBytes: QUOTA + ALLOWANCE })).toBe('within');
  });

  it('lets a full-access host compact: rewriting its live data may double the disk use for a while', () => {
    expect(judgeQuota({ ...base, isAppendOnly: false, committedBytes: 9_000_000, uncommittedBytes: 9_000_000 })).toBe('within');
  });

  it('never disables a full-access host', () => {
    expect(judgeQuota({ ...base, isAppendOnly: false, committedBytes: 5 * QUOTA })).toBe('within');
  });

  it('ends a full-access session that writes more than the quota in one transaction', () => {
    expect(judgeQuota({ ...base, isAppendOnly: false, uncommittedBytes: QUOTA + ALLOWANCE + 1 })).toBe('end-sessions');
  });

  it('never lets an append-only session keep an open transaction past the quota and allowance', () => {
    fc.assert(
      fc.property(fc.nat(3 * QUOTA), fc.nat(3 * QUOTA), (committedBytes, uncommittedBytes) => {
        const verdict = judgeQuota({ ...base, committedBytes, uncommittedBytes });
        if (committedBytes + uncommittedBytes > QUOTA + ALLOWANCE) expect(verdict).not.toBe('within');
      }),
    );
  });
});
