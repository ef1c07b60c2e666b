import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../src/config.js';
import { listRestorePoints, restoreHost } from '../../../../src/root/restore/restore-host.js';
import { readTransactions, rollBackRepository } from '../../../../src/root/restore/roll-back-repository.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { writeSegment } from '../../../support/borg-segment-files.js';
import { giveRepositoryToHost } from '../../../support/host-repository.js';
import { addHostRow } from '../../../support/host-rows.js';
import { makeTestRootContext, TEST_ENVIRONMENT } from '../../../support/test-context.js';

/**
 * A restore works in a repository its host controls: links the host put
 * there must not make root read, change or remove anything outside it.
 * Root only.
 */

const isRoot = process.getuid?.() === 0;
const UID = 20_001;
const LOG = 'transaction 1, UTC time 2026-11-27T02:00:00.000000\ntransaction 3, UTC time 2026-11-27T04:00:00.000000\n';
const BEFORE = new Date('2026-11-27T03:00:00.000Z');
const NOW = new Date('2026-11-28T00:00:00.000Z');

let base: string;
let backupDir: string;
let repository: string;
let rootFile: string;

/** A repository with commits 1 and 3, given to its host. */
function makeRepository(name: string, uid: number): string {
  const path = join(backupDir, name, 'repo');
  mkdirSync(path, { recursive: true });
  for (const [number, size, isCommit] of [
    [0, 500, false],
    [1, 600, true],
    [2, 700, false],
    [3, 800, true],
  ] as const)
    writeSegment(path, number, size, isCommit);
  writeFileSync(join(path, 'transactions'), LOG);
  giveRepositoryToHost(backupDir, name, uid);
  return path;
}

/** A link the host made in its repository. */
function plantLink(path: string, target: string): void {
  rmSync(path, { recursive: true, force: true });
  symlinkSync(target, path);
  lchownSync(path, UID, UID);
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-roll-back-'));
  chmodSync(base, 0o711);
  backupDir = join(base, 'backups');
  mkdirSync(backupDir);
  repository = makeRepository('db1', UID);
  // Root's file outside, shaped like a transaction log so that a reader following the link would go on.
  rootFile = join(base, 'root-file');
  writeFileSync(rootFile, 'transaction 1, UTC time 2026-11-27T02:00:00.000000\n', { mode: 0o600 });
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function expectRootFileUntouched(): void {
  const stats = statSync(rootFile);
  expect({ uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 }).toEqual({ uid: 0, gid: 0, mode: 0o600 });
  expect(readFileSync(rootFile, 'utf8')).toBe('transaction 1, UTC time 2026-11-27T02:00:00.000000\n');
}

describe.runIf(isRoot)('rolling back a repository with links in it', () => {
  it('refuses a transaction log that is a symlink to a root file, and removes nothing', () => {
    plantLink(join(repository, 'transactions'), rootFile);
    expect(() => readTransactions(repository)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(() => rollBackRepository(repository, BEFORE, NOW)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(readdirSync(join(repository, 'data', '0')).sort()).toEqual(['0', '1', '2', '3']);
    expectRootFileUntouched();
  });

  it("refuses a transaction log that is a hard link to root's or another host's file", () => {
    const other = makeRepository('db2', 20_002);
    for (const target of [rootFile, join(other, 'transactions')]) {
      rmSync(join(repository, 'transactions'));
      linkSync(target, join(repository, 'transactions'));
      expect(() => readTransactions(repository)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    }
    expectRootFileUntouched();
  });

  it("reads the owner's own log, even with a second name (the copy a restore keeps)", () => {
    linkSync(join(repository, 'transactions'), join(base, 'second-name'));
    expect(readTransactions(repository).map((transaction) => transaction.id)).toEqual([1, 3]);
  });

  it('leaves a directory a data link points to alone', () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, '7'), 'root data');
    mkdirSync(join(repository, 'data', '1'));
    chownSync(join(repository, 'data', '1'), UID, UID);
    plantLink(join(repository, 'data', '1'), outside);
    const result = rollBackRepository(repository, BEFORE, NOW);
    // Segments 2 and 3, and index, hints and integrity of 3: nothing behind the link.
    expect(result.removedFiles).toBe(5);
    expect(readdirSync(outside)).toEqual(['7']);
    expect(statSync(outside)).toMatchObject({ uid: 0, gid: 0 });
  });

  it('refuses a repository that is itself a symlink (to another host’s repository) and leaves that one alone', async () => {
    const other = makeRepository('db2', 20_002);
    rmSync(repository, { recursive: true });
    symlinkSync(other, repository);
    const test = makeTestRootContext(loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_BACKUP_DIR: backupDir }));
    addHostRow(test.context.db, 'db1', test.clock.now(), { uid: UID });
    writeAccountDatabase(join(base, 'etc'), backupDir, [
      { name: 'db1', uid: UID },
      { name: 'db2', uid: 20_002 },
    ]);
    const accounts = serverAccountsIn(join(base, 'etc'), backupDir);
    expect(() => listRestorePoints(test.context, accounts, 'db1')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    await expect(restoreHost(test.context, accounts, 'db1', BEFORE, { actor: 'cli', sourceAddress: null })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(readdirSync(join(other, 'data', '0')).sort()).toEqual(['0', '1', '2', '3']);
    expect(readFileSync(join(other, 'transactions'), 'utf8')).toBe(LOG);
  });

  it('refuses a repository owned by root', () => {
    chownSync(repository, 0, 0);
    expect(() => rollBackRepository(repository, BEFORE, NOW)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
  });
});
