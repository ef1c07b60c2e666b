import { describe, expect, it } from 'vitest';
import {
  isNewerThanTransaction,
  lastTransactionBefore,
  newestRestorePoints,
  parseTransactionLog,
  SHOWN_RESTORE_POINTS,
} from '../../../src/domain/borg-transactions.js';

const LOG = [
  'transaction 2, UTC time 2026-11-20T10:00:00.123456',
  'transaction 5, UTC time 2026-11-21T10:00:00',
  'transaction 9, UTC time 2026-11-22T10:00:00.5',
  '',
].join('\n');

describe('parseTransactionLog', () => {
  it('reads every transaction with its id and UTC time', () => {
    expect(parseTransactionLog(LOG)).toEqual([
      { id: 2, committedAt: new Date('2026-11-20T10:00:00.123Z') },
      { id: 5, committedAt: new Date('2026-11-21T10:00:00.000Z') },
      { id: 9, committedAt: new Date('2026-11-22T10:00:00.500Z') },
    ]);
  });

  it('skips lines it does not understand', () => {
    expect(parseTransactionLog('junk\ntransaction x, UTC time now\ntransaction 3, UTC time 2026-11-20T10:00:00\n')).toEqual([
      { id: 3, committedAt: new Date('2026-11-20T10:00:00.000Z') },
    ]);
  });

  it('reads an empty log as no transactions', () => {
    expect(parseTransactionLog('')).toEqual([]);
  });
});

describe('newestRestorePoints', () => {
  it('keeps the newest commits of the lines, in order, and counts only real ones', () => {
    const lines = ['junk', ...Array.from({ length: 100 }, (_, index) => `transaction ${index + 1}, UTC time 2026-11-20T10:00:00`), ''];
    const points = newestRestorePoints(lines);
    expect(points.total).toBe(100);
    expect(points.newest.map((point) => point.id)).toEqual(Array.from({ length: SHOWN_RESTORE_POINTS }, (_, index) => 71 + index));
  });

  it('gives all of a short log', () => {
    expect(newestRestorePoints(LOG.split('\n'))).toEqual({ newest: parseTransactionLog(LOG), total: 3 });
  });
});

describe('lastTransactionBefore', () => {
  const transactions = parseTransactionLog(LOG);

  it('picks the last transaction committed before the time', () => {
    expect(lastTransactionBefore(transactions, new Date('2026-11-22T00:00:00Z'))?.id).toBe(5);
  });

  it('leaves out a transaction committed exactly at the time', () => {
    expect(lastTransactionBefore(transactions, new Date('2026-11-21T10:00:00Z'))?.id).toBe(2);
  });

  it('is null when every transaction is later', () => {
    expect(lastTransactionBefore(transactions, new Date('2026-11-01T00:00:00Z'))).toBeNull();
  });

  it('picks by id, not by order in the log', () => {
    expect(lastTransactionBefore([...transactions].reverse(), new Date('2026-12-01T00:00:00Z'))?.id).toBe(9);
  });
});

describe('isNewerThanTransaction', () => {
  it.each([
    ['data/0/6', 5, true],
    ['data/0/5', 5, false],
    ['data/0/1', 5, false],
    ['data/1/1200', 1199, true],
    ['index.9', 5, true],
    ['hints.9', 5, true],
    ['integrity.9', 5, true],
    ['config', 5, false],
    ['README', 5, false],
    ['transactions', 5, false],
    ['data/0/6.tmp', 5, false],
  ] as const)('says %s must go when rolling back to %d: %s', (path, transactionId, mustGo) => {
    expect(isNewerThanTransaction(path, transactionId)).toBe(mustGo);
  });
});
