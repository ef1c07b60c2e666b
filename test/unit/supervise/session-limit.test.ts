import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../src/db/connection.js';
import { hosts } from '../../../src/db/root-schema.js';
import { createSessionLimit } from '../../../src/supervise/session-limit.js';
import { addHostRow } from '../../support/host-rows.js';
import { reportedAuditEntries } from '../../support/root-reports.js';

/**
 * The session cap against a fake /proc: three "sessions" (processes whose
 * parents are not of their UID) per UID. The PIDs are above any pid_max, so
 * ending one signals nobody; what the cap decided shows in the audit log.
 */

const NOW = new Date('2026-11-27T03:00:00.000Z');
let procDir: string;
let db: Db;

function addProcess(pid: number, uid: number): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  writeFileSync(join(procDir, String(pid), 'stat'), `${pid} (borg) S 1 ${Array.from({ length: 17 }, () => '0').join(' ')} ${pid} 0\n`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

function addHost(name: string, uid: number): void {
  addHostRow(db, name, NOW, { uid });
  db.update(hosts).set({ maxSessions: 1 }).where(eq(hosts.name, name)).run();
}

beforeEach(() => {
  procDir = mkdtempSync(join(tmpdir(), 'sbs-session-limit-'));
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  db = openMemoryRootDatabase();
});

afterEach(() => rmSync(procDir, { recursive: true, force: true }));

describe('the session cap', () => {
  it('ends the sessions of a host beyond its cap', () => {
    addHost('web1', 20001);
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 20001);
    const limit = createSessionLimit({ db, backupDir: '/backups', logger: pino({ level: 'silent' }), now: () => NOW, procDir });
    limit.refreshHosts();
    limit.check();
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
    const limit = createSessionLimit({
      db,
      backupDir: '/backups',
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      procDir,
      ownPids: () => new Set([99_999_002]),
    });
    limit.refreshHosts();
    limit.check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });

  it("never counts the processes of a UID a forged row names (root's, a system account's)", () => {
    addHost('web1', 20001);
    db.update(hosts).set({ uid: 0 }).where(eq(hosts.name, 'web1')).run();
    addHost('web2', 20002);
    db.update(hosts).set({ uid: 100 }).where(eq(hosts.name, 'web2')).run();
    for (const pid of [99_999_001, 99_999_002, 99_999_003]) addProcess(pid, 0);
    for (const pid of [99_999_011, 99_999_012, 99_999_013]) addProcess(pid, 100);
    const limit = createSessionLimit({ db, backupDir: '/backups', logger: pino({ level: 'silent' }), now: () => NOW, procDir });
    limit.refreshHosts();
    limit.check();
    expect(reportedAuditEntries(db)).toEqual([]);
  });
});
