import { describe, expect, it } from 'vitest';
import { type RepositoryState, summarizeSession } from '../../../src/domain/session-outcome.js';

const before: RepositoryState = {
  lastCommitted: 4,
  objects: 10,
  manifest: { segment: 4, offset: 8 },
  bytes: 100_000,
  uncommittedSegments: 0,
};

describe('summarizeSession', () => {
  it('counts a commit that rewrote the manifest and added objects as a backup', () => {
    const after = { lastCommitted: 7, objects: 25, manifest: { segment: 7, offset: 8 }, bytes: 180_000, uncommittedSegments: 0 };
    expect(summarizeSession(before, after, 'client', null)).toEqual({
      transactionsCommitted: 1,
      objectsAdded: 15,
      bytesAdded: 80_000,
      manifestRewritten: true,
      uncommittedLeft: false,
      outcome: 'backup',
    });
  });

  it('takes the number of commits from the transaction log when there is one', () => {
    const after = { ...before, lastCommitted: 9, objects: 12, manifest: { segment: 9, offset: 8 } };
    expect(summarizeSession(before, after, 'client', 3).transactionsCommitted).toBe(3);
  });

  it('calls a session that changed nothing read-only (a list, a check)', () => {
    expect(summarizeSession(before, before, 'client', null)).toMatchObject({ transactionsCommitted: 0, outcome: 'read-only' });
  });

  it('calls a commit that removed objects (a delete, a prune) a change, not a backup', () => {
    const after = { lastCommitted: 6, objects: 6, manifest: { segment: 6, offset: 8 }, bytes: 101_000, uncommittedSegments: 0 };
    expect(summarizeSession(before, after, 'client', null)).toMatchObject({ manifestRewritten: true, outcome: 'changed' });
  });

  it('does not count segments written without a commit in the index (a forged commit tag) as a backup', () => {
    const after = { ...before, bytes: 5_000_000, uncommittedSegments: 2 };
    expect(summarizeSession(before, after, 'client', null)).toMatchObject({
      transactionsCommitted: 0,
      manifestRewritten: false,
      uncommittedLeft: true,
      outcome: 'aborted',
    });
  });

  it('calls a session the quota watch ended aborted, whatever it committed', () => {
    const after = { lastCommitted: 7, objects: 25, manifest: { segment: 7, offset: 8 }, bytes: 180_000, uncommittedSegments: 0 };
    expect(summarizeSession(before, after, 'quota-watch', null).outcome).toBe('aborted');
  });

  it('sees a first backup into an empty repository', () => {
    const empty = { lastCommitted: -1, objects: 0, manifest: null, bytes: 0, uncommittedSegments: 0 };
    const after = { lastCommitted: 3, objects: 4, manifest: { segment: 3, offset: 8 }, bytes: 9_000, uncommittedSegments: 0 };
    expect(summarizeSession(empty, after, 'client', null).outcome).toBe('backup');
  });
});
