import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFaultMonitor, type FaultMonitor, LOCK_PROBE_TIMEOUT_MS } from '../../../../src/api/monitoring/fault-monitor.js';
import { type Db, migrateDatabase, openDatabase } from '../../../../src/db/connection.js';

/** The API's fault monitor on a real database file, with a second connection in the part of another process. */

interface LogLine {
  level: number;
  fault?: string;
  msg: string;
}

let directory: string;
let db: Db;
let other: Db;
let lines: LogLine[];
let monitor: FaultMonitor;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-faults-'));
  db = openDatabase(join(directory, 'borg.db'));
  migrateDatabase(db);
  other = openDatabase(join(directory, 'borg.db'));
  lines = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  monitor = createFaultMonitor({ db, databaseDir: directory, logger });
});

afterEach(() => {
  if (other.$client.inTransaction) other.$client.exec('ROLLBACK');
  other.$client.close();
  db.$client.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('the API fault monitor', () => {
  it('sees no fault on a writable volume and a free database, and leaves no probe file behind', () => {
    expect(monitor.check()).toEqual([]);
    expect(monitor.probeStateVolume()).toBeNull();
    expect(readdirSync(directory).filter((name) => name.startsWith('.fault-probe'))).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('sees SERVER_BUSY while another connection holds the write lock, logging its start and its end once each', () => {
    other.$client.exec('BEGIN EXCLUSIVE');
    expect(monitor.check()).toEqual([{ code: 'SERVER_BUSY', message: expect.any(String) }]);
    expect(monitor.check().map((fault) => fault.code)).toEqual(['SERVER_BUSY']);
    other.$client.exec('ROLLBACK');
    expect(monitor.check()).toEqual([]);
    expect(monitor.check()).toEqual([]);
    expect(lines.map(({ level, fault, msg }) => ({ level, fault, msg }))).toEqual([
      { level: 50, fault: 'SERVER_BUSY', msg: expect.stringMatching(/^fault began: the database is locked/) },
      { level: 30, fault: 'SERVER_BUSY', msg: 'fault ended: SERVER_BUSY' },
    ]);
  });

  it('waits only briefly for the lock while another process holds it, and the full busy timeout again once it is let go', () => {
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBe(5000);
    other.$client.exec('BEGIN EXCLUSIVE');
    monitor.check();
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBe(LOCK_PROBE_TIMEOUT_MS);
    other.$client.exec('ROLLBACK');
    monitor.check();
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('notes an error of a background pass that is a fault, and tells a bug apart', () => {
    expect(monitor.noteError(Object.assign(new Error('locked'), { name: 'SqliteError', code: 'SQLITE_BUSY' }))).toBe(true);
    expect(monitor.noteError(new Error('a bug'))).toBe(false);
    expect(lines.map((line) => line.fault)).toEqual(['SERVER_BUSY']);
  });

  it("leaves root's faults to root's log when a request met one", () => {
    monitor.noteFault({ code: 'BACKUP_VOLUME_FULL', message: 'the backup volume is full' });
    expect(lines).toEqual([]);
  });

  it("logs a fault a request met once, however many requests meet it, and ends it at the next look that doesn't see it", () => {
    const full = { code: 'STATE_VOLUME_FULL', message: 'the state volume is full' } as const;
    monitor.noteFault(full);
    monitor.noteFault(full);
    expect(lines.map((line) => line.msg)).toEqual(['fault began: the state volume is full']);
    expect(monitor.check()).toEqual([]);
    expect(lines.map((line) => line.msg)).toEqual(['fault began: the state volume is full', 'fault ended: STATE_VOLUME_FULL']);
  });

  it("answers with root's faults besides its own, without logging them (root does)", () => {
    monitor.setRootFaults([{ code: 'SSHD_DOWN', message: 'sshd is not running' }]);
    expect(monitor.check()).toEqual([{ code: 'SSHD_DOWN', message: 'sshd is not running' }]);
    monitor.setRootFaults([]);
    expect(monitor.check()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('ignores (and logs) a fault list from root that is not one, keeping the last good one', () => {
    monitor.setRootFaults([{ code: 'SSHD_DOWN', message: 'sshd is not running' }]);
    monitor.setRootFaults([{ code: 'DISK_ON_FIRE', message: 'hot' }]);
    expect(monitor.check().map((fault) => fault.code)).toEqual(['SSHD_DOWN']);
    expect(lines.map((line) => line.msg)).toEqual(['root pushed a fault list that is not one']);
  });
});
