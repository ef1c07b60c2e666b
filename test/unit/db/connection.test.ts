import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateDatabase, openDatabase, openMemoryDatabase, openMemoryRootDatabase } from '../../../src/db/connection.js';
import { auditLog, enrollments } from '../../../src/db/schema.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-db-test-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

function tableNames(db: ReturnType<typeof openMemoryDatabase>): string[] {
  return db.$client
    .prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%' order by name",
    )
    .all()
    .map((row) => (row as { name: string }).name);
}

describe('openMemoryDatabase', () => {
  it('creates every table with the real migrations', () => {
    expect(tableNames(openMemoryDatabase())).toEqual([
      'admin_sessions',
      'admin_tokens',
      'applied_root_reports',
      'audit_log',
      'enrollment_tokens',
      'enrollments',
      'host_backup_state',
      'host_sessions',
      'hosts',
      'maintainer_grants',
      'maintainers',
      'maintenance_holds',
      'repository_checks',
      'signing_keys',
      'webhook_deliveries',
      'webhooks',
    ]);
  });

  it('turns foreign keys on', () => {
    const db = openMemoryDatabase();
    expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('refuses an enrollment whose token was never minted', () => {
    const db = openMemoryDatabase();
    const now = new Date();
    expect(() =>
      db
        .insert(enrollments)
        .values({
          id: 'x',
          tokenJti: 'no-such-token',
          hostName: 'web1',
          keyType: 'ssh-ed25519',
          keyBase64: 'AAAA',
          fingerprint: 'SHA256:x',
          status: 'pending',
          appendOnly: true,
          createdAt: now,
          expiresAt: now,
        })
        .run(),
    ).toThrow(/FOREIGN KEY/);
  });
});

describe('openMemoryRootDatabase', () => {
  it("creates root's tables only: what root acts on, and its reports to the API", () => {
    expect(tableNames(openMemoryRootDatabase())).toEqual([
      'host_backup_state',
      'host_sessions',
      'hosts',
      'imported_ancestor_users',
      'maintainer_grants',
      'maintainers',
      'maintenance_holds',
      'repository_checks',
      'root_reports',
    ]);
  });
});

describe('openDatabase', () => {
  it('opens every file hardened as SQLite advises for one that may be hostile', () => {
    const db = openDatabase(join(directory, 'borg.db'));
    expect(db.$client.pragma('trusted_schema', { simple: true })).toBe(0);
    expect(db.$client.pragma('cell_size_check', { simple: true })).toBe(1);
    db.$client.close();
  });

  it('runs no function of its own from a trigger or view a hostile file plants', () => {
    const path = join(directory, 'planted.db');
    // What the owner of a database file can add to it with any SQLite client.
    const planter = new Database(path);
    planter.exec('create table hosts (name text); create table seen (what text);');
    planter.exec('create trigger planted after insert on hosts begin insert into seen values (side_effect(new.name)); end;');
    planter.close();
    const db = openDatabase(path);
    const calls: unknown[] = [];
    // A function of the connection's own is not innocuous: with trusted_schema off, the schema may not call it.
    db.$client.function('side_effect', (value: unknown) => {
      calls.push(value);
      return 1;
    });
    expect(() => db.$client.prepare("insert into hosts values ('web1')").run()).toThrow(/unsafe use of side_effect/);
    expect(calls).toEqual([]);
    db.$client.close();
  });

  it('opens a file in WAL mode with a busy timeout', () => {
    const db = openDatabase(join(directory, 'borg.db'));
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBe(5000);
    db.$client.close();
  });

  it('migrates a file twice without harm', () => {
    const path = join(directory, 'borg.db');
    const first = openDatabase(path);
    migrateDatabase(first);
    first.$client.close();
    const second = openDatabase(path);
    migrateDatabase(second);
    expect(tableNames(second)).toContain('hosts');
    second.$client.close();
  });

  it('takes the write lock at BEGIN, so another connection committing after its first read cannot make it fail', () => {
    const path = join(directory, 'borg.db');
    const api = openDatabase(path);
    migrateDatabase(api);
    const root = openDatabase(path);
    // The other writer gives up at once instead of waiting 5 s for the lock the transaction holds.
    root.$client.pragma('busy_timeout = 0');
    const entry = (action: string) => ({ at: new Date(), actor: 'test', action, target: 'web1' });
    let otherWrite: unknown;
    api.transaction((tx) => {
      tx.select().from(auditLog).all();
      try {
        root.insert(auditLog).values(entry('root.write')).run();
      } catch (error) {
        otherWrite = error;
      }
      // With a deferred BEGIN the root's commit above would land first, and this write would
      // fail with SQLITE_BUSY (a stale WAL snapshot) without waiting the busy timeout.
      tx.insert(auditLog).values(entry('api.write')).run();
    });
    expect(otherWrite).toMatchObject({ code: 'SQLITE_BUSY' });
    const actions = root.select({ action: auditLog.action }).from(auditLog).all();
    expect(actions).toEqual([{ action: 'api.write' }]);
    api.$client.close();
    root.$client.close();
  });
});
