import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/root-schema.js';
import { createSessionLimit } from '../../../../src/root/watch/session-limit.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { addHostRow } from '../../../support/host-rows.js';
import { reportedAuditEntries } from '../../../support/root-reports.js';

/**
 * The session cap against a fake /proc: three "sessions" (processes whose
 * parents are not of their UID) per UID. The PIDs are above any pid_max, so
 * ending one signals nobody; what the cap decided shows in the audit log.
 */

const NOW = new Date('2026-11-27T03:00:00.000Z');
const BACKUP_DIR = '/backups';
let procDir: string;
let etcDir: string;
let db: Db;
/** The hosts whose accounts reconcile wrote (the test's passwd). */
let accounts: { name: string; uid: number }[];

function addProcess(pid: number, uid: number): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  writeFileSync(join(procDir, String(pid), 'stat'), `${pid} (borg) S 1 ${Array.from({ length: 17 }, () => '0').join(' ')} ${pid} 0\n`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

/** A host with a cap of 1 and its account, as reconcile makes them. */
function addHost(name: string, uid: number): void {
  addHostRow(db, name, NOW, { uid });
  db.update(hosts).set({ maxSessions: 1 }).where(eq(hosts.name, name)).run();
  accounts.push({ name, uid });
  writeAccountDatabase(etcDir, BACKUP_DIR, accounts);
}

function createLimit(ownPids?: () => ReadonlySet<number>) {
  const limit = createSessionLimit({
    db,
    backupDir: BACKUP_DIR,
    logger: pino({ level: 'silent' }),
    now: () => NOW,
    serverAccounts: serverAccountsIn(etcDir, BACKUP_DIR),
    procDir,
    ...(ownPids ? { ownPids } : {}),
  });
  limit.refreshHosts();
  return limit;
}

beforeEach(() => {
  procDir = mkdtempSync(join(tmpdir(), 'sbs-session-limit-'));
  etcDir = join(procDir, 'etc');
  accounts = [];
  writeAccountDatabase(etcDir, BACKUP_DIR, accounts);
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  db = openMemoryRootDatabase();
});

afterEach(() => rmSync(procDir, { recursive: true, force: true }));

describe('the session cap', () => {
  it('ends the sessions of a host beyond its cap', () => {
    addHost('web1', 20001);
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 20001);
    createLimit().check();
    expect(reportedAuditEntries(db)).toEqual([
      expect.objectContaining({
        action: 'host.sessions.limit',
        target: 'web1',
        details: expect.objectContaining({ sessions: 3, maxSessions: 1 }),
      }),
    ]);
  });

  it("does not count the server's own repository check as a session of the host", () => {
    addHost('web1', 20001);
    for (const pid of [99_999_001, 99_999_002]) addProcess(pid, 20001);
    createLimit(() => new Set([99_999_002])).check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });

  it("never counts the processes of a UID a forged row names (root's, a system account's)", () => {
    addHost('web1', 20001);
    db.update(hosts).set({ uid: 0 }).where(eq(hosts.name, 'web1')).run();
    addHost('web2', 20002);
    db.update(hosts).set({ uid: 100 }).where(eq(hosts.name, 'web2')).run();
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 0);
    for (const pid of [99_999_011, 99_999_012, 99_999_013]) addProcess(pid, 100);
    createLimit().check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });

  it('never counts or ends the processes of a UID in the host range whose account the server did not make', () => {
    // alice (54321) is an admin's own login; a row naming her UID is forged, or names an account reconcile never wrote.
    addHostRow(db, 'alice', NOW, { uid: 54_321 });
    db.update(hosts).set({ maxSessions: 1 }).where(eq(hosts.name, 'alice')).run();
    addHostRow(db, 'web3', NOW, { uid: 20_003 });
    db.update(hosts).set({ maxSessions: 1 }).where(eq(hosts.name, 'web3')).run();
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 54_321);
    for (const pid of [99_999_011, 99_999_012, 99_999_013]) addProcess(pid, 20_003);
    createLimit().check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });

  it('stops counting the processes of a host whose account is removed, before the next refresh', () => {
    addHost('web1', 20001);
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 20001);
    const limit = createLimit();
    writeAccountDatabase(etcDir, BACKUP_DIR, []);
    limit.check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });
});
