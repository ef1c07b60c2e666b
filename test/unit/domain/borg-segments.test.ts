import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  judgeQuota,
  lastCommittedTransaction,
  lockHolderPid,
  quotaAllowanceBytes,
  repositoryFileLimit,
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

describe('lastCommittedTransaction', () => {
  it("takes the last commit from borg's own index.N, the highest non-empty one", () => {
    const entries = [
      { name: 'index.7', size: 100 },
      { name: 'index.12', size: 100 },
      { name: 'index.13', size: 0 },
      { name: 'hints.12', size: 50 },
      { name: 'index.14.tmp', size: 100 },
      { name: 'config', size: 100 },
    ];
    expect(lastCommittedTransaction(entries)).toBe(12);
  });

  it('is -1 when borg never committed', () => {
    expect(lastCommittedTransaction([{ name: 'config', size: 100 }])).toBe(-1);
  });
});

describe('segmentUsage', () => {
  it('counts the segments above the last committed transaction as uncommitted, whatever their bytes say', () => {
    const usage = segmentUsage(
      [
        { number: 0, usedBytes: 100 },
        { number: 1, usedBytes: 17 },
        { number: 2, usedBytes: 5000 },
        { number: 3, usedBytes: 7000 },
      ],
      1,
    );
    expect(usage).toEqual({ committedBytes: 117, uncommittedBytes: 12_000, uncommitted: [2, 3] });
  });

  it('counts everything as uncommitted when nothing was ever committed', () => {
    expect(segmentUsage([{ number: 0, usedBytes: 10 }], -1).uncommitted).toEqual([0]);
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
  const base = { quotaBytes: QUOTA, committedBytes: 4_000_000, uncommittedBytes: 0, hasSession: true, isFullAccessWindow: false };

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

  it('lets a host in a full-access window compact: rewriting its live data may double the disk use for a while', () => {
    expect(judgeQuota({ ...base, isFullAccessWindow: true, committedBytes: 9_000_000, uncommittedBytes: 9_000_000 })).toBe('within');
  });

  it('leaves committed data past the quota to a host in a full-access window (it is there to compact)', () => {
    expect(judgeQuota({ ...base, isFullAccessWindow: true, committedBytes: 5 * QUOTA })).toBe('within');
  });

  it('ends a full-access session that writes more than the quota in one transaction', () => {
    expect(judgeQuota({ ...base, isFullAccessWindow: true, uncommittedBytes: QUOTA + ALLOWANCE + 1 })).toBe('end-sessions');
  });

  it('disables a host outside a window (append-only or not) whose committed data is past the quota', () => {
    expect(judgeQuota({ ...base, committedBytes: 5 * QUOTA, hasSession: false })).toBe('disable');
  });

  it('ends the session whose open transaction takes the repository past its file limit', () => {
    const files = repositoryFileLimit(QUOTA);
    expect(judgeQuota({ ...base, committedFiles: files - 10, uncommittedFiles: 11, uncommittedBytes: 45_056 })).toBe('end-sessions');
    expect(judgeQuota({ ...base, committedFiles: files - 10, uncommittedFiles: 11, hasSession: false })).toBe('clean-up');
  });

  it('disables a host whose committed files are past the file limit', () => {
    expect(judgeQuota({ ...base, committedFiles: repositoryFileLimit(QUOTA) + 1 })).toBe('disable');
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
