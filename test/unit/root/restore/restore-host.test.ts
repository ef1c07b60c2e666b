import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../src/config.js';
import { hosts } from '../../../../src/db/schema.js';
import { findBackupState, updateBackupState } from '../../../../src/host-records/backup-state.js';
import { insertSession } from '../../../../src/host-records/host-sessions.js';
import { findHost } from '../../../../src/host-records/hosts-store.js';
import type { ServerAccounts } from '../../../../src/root/accounts/server-accounts.js';
import { recordConfigVersion } from '../../../../src/root/restore/config-history.js';
import { listRestorePoints, restoreHost } from '../../../../src/root/restore/restore-host.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { writeSegment } from '../../../support/borg-segment-files.js';
import { BACKUP_SUMMARY } from '../../../support/ended-sessions.js';
import { giveRepositoryToHost } from '../../../support/host-repository.js';
import { addHostRow } from '../../../support/host-rows.js';
import { reportedAuditActions, reportsOf } from '../../../support/root-reports.js';
import { makeTestRootContext, TEST_ENVIRONMENT, type TestRootContext } from '../../../support/test-context.js';

/**
 * restoreHost on a repository laid out like borg's append-only one: a
 * transaction log, segments, a replaced config, a lock a killed session left.
 * Root only: the kept config versions are root's files.
 */

const isRoot = process.getuid?.() === 0;
let backupDir: string;
let repository: string;
let test: TestRootContext;
let accounts: ServerAccounts;

beforeEach(async () => {
  backupDir = mkdtempSync(join(tmpdir(), 'sbs-restore-'));
  repository = join(backupDir, 'db1', 'repo');
  mkdirSync(repository, { recursive: true });
  test = makeTestRootContext(loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_BACKUP_DIR: backupDir }));
  addHostRow(test.context.db, 'db1', test.clock.now(), { uid: 20001 });
  writeAccountDatabase(join(backupDir, 'etc'), backupDir, [{ name: 'db1', uid: 20001 }]);
  accounts = serverAccountsIn(join(backupDir, 'etc'), backupDir);
  writeSegment(repository, 0, 500, false);
  writeSegment(repository, 1, 600, true);
  writeSegment(repository, 2, 700, false);
  writeSegment(repository, 3, 800, true);
  writeFileSync(
    join(repository, 'transactions'),
    'transaction 1, UTC time 2026-11-27T02:00:00.000000\ntransaction 3, UTC time 2026-11-27T04:00:00.000000\n',
  );
  writeFileSync(join(repository, 'config'), '[repository]\nkey = original\n');
  recordConfigVersion(backupDir, 'db1', new Date('2026-11-27T01:00:00.000Z'));
  // The thief replaces the key, the server keeps that version too, then its session is killed mid-lock.
  writeFileSync(join(repository, 'config'), '[repository]\nkey = the thief’s\n');
  recordConfigVersion(backupDir, 'db1', new Date('2026-11-27T04:00:01.000Z'));
  mkdirSync(join(repository, 'lock.exclusive'));
  writeFileSync(join(repository, 'lock.exclusive', 'vm@1.99999999-7f'), '');
  writeFileSync(join(repository, 'lock.roster'), '{}');
  giveRepositoryToHost(backupDir, 'db1', 20001);
});

afterEach(() => rmSync(backupDir, { recursive: true, force: true }));

const auditActions = () => reportedAuditActions(test.context.db);

describe.runIf(isRoot)('restoreHost', () => {
  it('rolls back to the last commit before the time, puts the config from before back and breaks the stale lock', async () => {
    const result = await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(result).toMatchObject({ transaction: { id: 1 }, configRestored: true });
    expect(readFileSync(join(repository, 'config'), 'utf8')).toBe('[repository]\nkey = original\n');
    expect(readdirSync(join(repository, 'data', '0')).sort()).toEqual(['0', '1']);
    expect(existsSync(join(repository, 'lock.exclusive'))).toBe(false);
    expect(readFileSync(join(result.keptCopy, 'config'), 'utf8')).toBe('[repository]\nkey = the thief’s\n');
  });

  it('leaves the config alone when it is the version from before', async () => {
    writeFileSync(join(repository, 'config'), '[repository]\nkey = original\n');
    const result = await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(result.configRestored).toBe(false);
  });

  it('refuses while a live process holds the lock', async () => {
    writeFileSync(join(repository, 'lock.exclusive', `admin@1.${process.pid}-1`), '');
    await expect(restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(readdirSync(join(repository, 'data', '0'))).toHaveLength(4);
  });

  it('keeps an active host out for the whole restore: disabled before the rollback, let in after it', async () => {
    const seen: { status: string | undefined; newestSegmentKept: boolean }[] = [];
    test.context.requestReconcile = async () => {
      seen.push({ status: findHost(test.context.db, 'db1')?.status, newestSegmentKept: existsSync(join(repository, 'data', '0', '3')) });
    };
    await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(seen).toEqual([
      { status: 'disabled', newestSegmentKept: true },
      { status: 'active', newestSegmentKept: false },
    ]);
    expect(auditActions()).toEqual(['host.lock-out', 'host.restore', 'host.let-in']);
  });

  it('lets the host in again when the restore is refused', async () => {
    writeFileSync(join(repository, 'lock.exclusive', `admin@1.${process.pid}-1`), '');
    await expect(restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' })).rejects.toThrow();
    expect(findHost(test.context.db, 'db1')?.status).toBe('active');
  });

  it('leaves a host the admin had disabled disabled', async () => {
    test.context.db.update(hosts).set({ status: 'disabled' }).where(eq(hosts.name, 'db1')).run();
    await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(findHost(test.context.db, 'db1')?.status).toBe('disabled');
    expect(test.reconcileCalls).toEqual([]);
  });

  it('leaves a host disabled that the admin disables while the restore runs', async () => {
    test.context.requestReconcile = async () => {
      // What updateHost writes when the admin disables the host meanwhile: a later change.
      test.clock.advance(1000);
      test.context.db.update(hosts).set({ status: 'disabled', updatedAt: test.clock.now() }).where(eq(hosts.name, 'db1')).run();
    };
    await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(findHost(test.context.db, 'db1')?.status).toBe('disabled');
  });

  it('refuses a host whose account the server did not make, before it locks the host out or touches its repository', async () => {
    // The row names alice (54321), an admin's own login, and her repository is hers.
    test.context.db.update(hosts).set({ uid: 54_321 }).where(eq(hosts.name, 'db1')).run();
    giveRepositoryToHost(backupDir, 'db1', 54_321);
    await expect(restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(() => listRestorePoints(test.context, accounts, 'db1')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(readdirSync(join(repository, 'data', '0'))).toHaveLength(4);
    expect(existsSync(join(repository, 'lock.exclusive'))).toBe(true);
    expect(auditActions()).toEqual([]);
  });

  it("refuses a host's repository that another UID owns", async () => {
    giveRepositoryToHost(backupDir, 'db1', 20_002);
    await expect(restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(readdirSync(join(repository, 'data', '0'))).toHaveLength(4);
    expect(auditActions()).toEqual([]);
  });

  it("makes the host's last backup the newest one the repository still holds, in root's state and reported to the API", async () => {
    // Two backups: commit 1 (ended 02:00:05) and commit 3 (ended 04:00:05), the newest the restore rolls back.
    const backupSession = (lastCommitAfter: number, endedAt: Date) =>
      insertSession(test.context.db, {
        hostName: 'db1',
        startedAt: new Date(endedAt.getTime() - 60_000),
        endedAt,
        clientAddress: null,
        connections: 1,
        lastCommitBefore: lastCommitAfter - 2,
        lastCommitAfter,
        endedBy: 'client',
        ...BACKUP_SUMMARY,
      });
    const kept = new Date('2026-11-27T02:00:05.000Z');
    const rolledBack = new Date('2026-11-27T04:00:05.000Z');
    backupSession(1, kept);
    backupSession(3, rolledBack);
    updateBackupState(test.context.db, rolledBack, 'db1', { lastBackupAt: rolledBack });

    const result = await restoreHost(test.context, accounts, 'db1', new Date('2026-11-27T03:00:00.000Z'), { actor: 'cli' });
    expect(result.lastBackupAt).toEqual(kept);
    expect(findBackupState(test.context.db, 'db1')?.lastBackupAt).toEqual(kept);
    expect(reportsOf(test.context.db)).toContainEqual({
      kind: 'last-backup',
      at: test.clock.now().getTime(),
      hostName: 'db1',
      lastBackupAt: kept.getTime(),
    });
  });
});
