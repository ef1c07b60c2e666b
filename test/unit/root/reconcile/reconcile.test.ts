import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hostSessions, hosts } from '../../../../src/db/schema.js';
import { checkScratchDir } from '../../../../src/domain/borg-check.js';
import { findBackupState, updateBackupState } from '../../../../src/host-records/backup-state.js';
import { createReconcileMemory, type ReconcileSettings, reconcile } from '../../../../src/root/reconcile/reconcile.js';
import { insertHostRow, makeReconcileSandbox } from '../../../support/reconcile-sandbox.js';
import { waitFor } from '../../../support/wait-for.js';

/**
 * reconcile against a temporary etc, state and backup directory, with rows
 * written straight into the database as a compromised API could write them.
 * Root only: it gives directories to host UIDs.
 */

const isRoot = process.getuid?.() === 0;
const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK';
const NOW = new Date('2026-03-02T10:00:00Z');
const SYSTEM_PASSWD = 'root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n';
const SYSTEM_GROUP = 'root:x:0:\n';
const SYSTEM_SHADOW = 'root:*:19000:0:99999:7:::\n';

let base: string;
let db: Db;
let settings: ReconcileSettings;

beforeEach(() => {
  ({ base, settings } = makeReconcileSandbox('sbs-reconcile-', { passwd: SYSTEM_PASSWD, group: SYSTEM_GROUP, shadow: SYSTEM_SHADOW }));
  db = openMemoryRootDatabase();
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const insertRow = (name: string, uid: number, changes: Partial<typeof hosts.$inferInsert> = {}) =>
  insertHostRow(db, name, uid, NOW, changes);

const passwd = () => readFileSync(join(settings.etcDir as string, 'passwd'), 'utf8');
const refusedNames = (summary: ReturnType<typeof reconcile>) => summary.refused.map((refusal) => refusal.name);

describe.runIf(isRoot)('reconcile with rows it must not trust', () => {
  it('does not purge outside the backup directory for a row named ../x', () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'data');
    insertRow('../outside', 20_001, { status: 'purging' });
    insertRow('good', 20_002);

    const summary = reconcile(db, settings, undefined, NOW);

    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('data');
    expect(summary.purged).toEqual([]);
    expect(refusedNames(summary)).toEqual(['../outside']);
    expect(existsSync(join(settings.backupDir, 'good', 'repo'))).toBe(true);
  });

  for (const name of ['evil\nroot2:x:0:0::/root:/bin/sh', 'evil:x', 'Evil', 'root']) {
    it(`adds no passwd line for a row named ${JSON.stringify(name)}`, () => {
      insertRow(name, 20_001);
      insertRow('good', 20_002);
      const summary = reconcile(db, settings, undefined, NOW);
      expect(refusedNames(summary)).toEqual([name]);
      const lines = passwd().split('\n');
      expect(lines.slice(0, 2).join('\n')).toBe(SYSTEM_PASSWD.trimEnd());
      expect(lines.filter((line) => line.includes('secure-borg-server host')).map((line) => line.split(':')[0])).toEqual(['good']);
      expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual(['good']);
    });
  }

  for (const uid of [0, 100, 999, 19_999, 60_000, 65_534, -1, 20_000.5]) {
    it(`gives no account and no key to a row with UID ${uid}`, () => {
      insertRow('thief', uid);
      insertRow('good', 20_002);
      const summary = reconcile(db, settings, undefined, NOW);
      expect(refusedNames(summary)).toEqual(['thief']);
      expect(passwd()).not.toContain('thief');
      expect(existsSync(join(settings.backupDir, 'thief'))).toBe(false);
      expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual(['good']);
    });
  }

  it('refuses a row whose key or source range no key line can be made of, and provisions the others', () => {
    insertRow('badkey', 20_001, { keyBase64: 'AAAA"x' });
    insertRow('badfrom', 20_003, { allowFrom: '10.0.0.0/8",command="/bin/sh' });
    insertRow('good', 20_002);
    const summary = reconcile(db, settings, undefined, NOW);
    expect(refusedNames(summary).sort()).toEqual(['badfrom', 'badkey']);
    expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual(['good']);
  });

  it('refuses both rows that share a UID (a schema the API user changed)', () => {
    db.$client.exec('DROP INDEX hosts_uid_unique');
    insertRow('first', 20_001);
    insertRow('second', 20_001);
    insertRow('good', 20_002);
    const summary = reconcile(db, settings, undefined, NOW);
    expect(refusedNames(summary).sort()).toEqual(['first', 'second']);
    expect(passwd()).not.toMatch(/^(first|second):/m);
  });

  it('removes the key file of a host whose row turned bad, and keeps the row', () => {
    insertRow('db1', 20_001);
    reconcile(db, settings, undefined, NOW);
    expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual(['db1']);
    db.update(hosts).set({ uid: 0 }).where(eq(hosts.name, 'db1')).run();
    const summary = reconcile(db, settings, undefined, NOW);
    expect(refusedNames(summary)).toEqual(['db1']);
    expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual([]);
    expect(passwd()).not.toContain('db1');
    expect(db.select().from(hosts).all()).toHaveLength(1);
  });

  /** A host as a purge finds it: its account, home and repository made by reconcile, then its row set to purging. */
  function insertPurgingHost(name: string, uid: number): void {
    insertRow(name, uid);
    reconcile(db, settings, undefined, NOW);
    db.update(hosts).set({ status: 'purging' }).where(eq(hosts.name, name)).run();
  }

  /** A real process of this UID, in this test's own mount namespace: reconcile looks in the real /proc then. */
  async function startProcessOf(uid: number) {
    const session = execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sleep', '600'], { reject: false });
    await waitFor('the session to run', async () =>
      (await readFile(`/proc/${session.pid}/status`, 'utf8')).includes(`Uid:\t${uid}`) ? true : undefined,
    );
    // In an object: the subprocess is a promise of its end, which an async function would wait for.
    return { session };
  }

  it('ends the sessions of a purged host before its data and row go', async () => {
    const uid = 20_777;
    insertPurgingHost('gone', uid);
    const { session } = await startProcessOf(uid);

    try {
      const summary = reconcile(db, { ...settings, procDir: undefined }, undefined, NOW);
      expect(summary.purged).toEqual(['gone']);
      expect(summary.sessionsEnded).toBe(1);
      expect((await session).signal).toBe('SIGKILL');
      expect(existsSync(join(settings.backupDir, 'gone'))).toBe(false);
      expect(passwd()).not.toMatch(/^gone:/m);
      expect(db.select().from(hosts).all()).toEqual([]);
    } finally {
      session.kill('SIGKILL');
    }
  });

  it('neither signals nor removes anything of a UID whose account the server did not make, whatever a row says', async () => {
    // alice (54321) is an admin's own login, with a directory in the backups; a row naming her UID is forged.
    writeFileSync(join(settings.etcDir as string, 'passwd'), `${SYSTEM_PASSWD}alice:x:54321:54321:Alice:/home/alice:/bin/bash\n`);
    const home = join(settings.backupDir, 'alice');
    mkdirSync(home);
    writeFileSync(join(home, 'precious'), 'data');
    chownSync(home, 54_321, 54_321);
    insertRow('alice', 54_321, { status: 'purging' });
    const { session } = await startProcessOf(54_321);

    try {
      const summary = reconcile(db, { ...settings, procDir: undefined }, undefined, NOW);
      expect(summary.sessionsEnded).toBe(0);
      expect(summary.purged).toEqual([]);
      expect(summary.leftAlone).toEqual([
        { uid: 54_321, reason: expect.any(String) },
        { name: 'alice', uid: 54_321, reason: expect.any(String) },
      ]);
      await expect(readFile(`/proc/${session.pid}/status`, 'utf8')).resolves.toContain('Uid:\t54321');
      expect(readFileSync(join(home, 'precious'), 'utf8')).toBe('data');
      expect(passwd()).toMatch(/^alice:x:54321:54321:Alice:/m);
    } finally {
      session.kill('SIGKILL');
    }
  });

  it("keeps a purged host's home that is a link, and what it points at", () => {
    insertPurgingHost('gone', 20_005);
    const elsewhere = join(base, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'precious'), 'data');
    rmSync(join(settings.backupDir, 'gone'), { recursive: true });
    symlinkSync(elsewhere, join(settings.backupDir, 'gone'));
    const summary = reconcile(db, settings, undefined, NOW);
    expect(summary.purged).toEqual([]);
    expect(summary.leftAlone).toEqual([{ name: 'gone', uid: 20_005, reason: expect.stringContaining(join(settings.backupDir, 'gone')) }]);
    expect(readFileSync(join(settings.backupDir, 'gone', 'precious'), 'utf8')).toBe('data');
    expect(db.select().from(hosts).all()).toEqual([]);
  });

  it("keeps a purged host's home that another UID owns", () => {
    insertPurgingHost('gone', 20_005);
    chownSync(join(settings.backupDir, 'gone'), 54_321, 54_321);
    const summary = reconcile(db, settings, undefined, NOW);
    expect(summary.purged).toEqual([]);
    expect(summary.leftAlone).toEqual([{ name: 'gone', uid: 20_005, reason: expect.stringContaining(join(settings.backupDir, 'gone')) }]);
    expect(existsSync(join(settings.backupDir, 'gone', 'repo'))).toBe(true);
  });

  it('purges the data of a host deleted first, whose account went with the delete', () => {
    insertRow('old', 20_010);
    reconcile(db, settings, undefined, NOW);
    writeFileSync(join(settings.backupDir, 'old', 'repo', 'data'), 'backup');
    db.update(hosts).set({ status: 'deleted' }).where(eq(hosts.name, 'old')).run();
    reconcile(db, settings, undefined, NOW);
    expect(passwd()).not.toMatch(/^old:/m);
    db.update(hosts).set({ status: 'purging' }).where(eq(hosts.name, 'old')).run();

    expect(reconcile(db, settings, undefined, NOW).purged).toEqual(['old']);
    expect(existsSync(join(settings.backupDir, 'old'))).toBe(false);
    expect(passwd()).not.toMatch(/^old:/m);
    expect(db.select().from(hosts).all()).toEqual([]);
  });

  it('finishes a purge a crash cut short after part of the data went', () => {
    insertPurgingHost('gone', 20_011);
    // The crash: the repository is gone, the home, the account and the row are not.
    rmSync(join(settings.backupDir, 'gone', 'repo'), { recursive: true });
    expect(reconcile(db, settings, undefined, NOW).purged).toEqual(['gone']);
    expect(existsSync(join(settings.backupDir, 'gone'))).toBe(false);
    expect(passwd()).not.toMatch(/^gone:/m);
  });

  it('forgets the sessions and last backup of a purged host, so a new host of that name starts at never', () => {
    insertPurgingHost('gone', 20_005);
    updateBackupState(db, NOW, 'gone', { lastBackupAt: NOW, repositoryBytes: 1000 });
    db.insert(hostSessions)
      .values({
        hostName: 'gone',
        startedAt: NOW,
        endedAt: NOW,
        clientAddress: null,
        connections: 1,
        transactionsCommitted: 1,
        lastCommitBefore: 1,
        lastCommitAfter: 2,
        objectsAdded: 1,
        bytesAdded: 1,
        manifestRewritten: true,
        uncommittedLeft: false,
        endedBy: 'client',
        outcome: 'backup',
      })
      .run();
    expect(reconcile(db, settings, undefined, NOW).purged).toEqual(['gone']);
    expect(findBackupState(db, 'gone')).toBeUndefined();
    expect(db.select().from(hostSessions).all()).toEqual([]);
  });

  it("removes a purged host's check files with its repository, and leaves another host's", () => {
    insertRow('kept', 20_006);
    insertPurgingHost('gone', 20_005);
    for (const [name, uid] of [
      ['gone', 20_005],
      ['kept', 20_006],
    ] as const) {
      // As the checks make it: the host's own.
      mkdirSync(join(checkScratchDir(settings.stateDir, name), '.config', 'borg', 'security'), { recursive: true });
      chownSync(checkScratchDir(settings.stateDir, name), uid, uid);
    }
    expect(reconcile(db, settings, undefined, NOW).purged).toEqual(['gone']);
    expect(existsSync(join(settings.backupDir, 'gone'))).toBe(false);
    expect(existsSync(checkScratchDir(settings.stateDir, 'gone'))).toBe(false);
    expect(existsSync(join(checkScratchDir(settings.stateDir, 'kept'), '.config', 'borg', 'security'))).toBe(true);
  });

  it('refuses a host whose repo is a regular file, and provisions the others', () => {
    mkdirSync(join(settings.backupDir, 'old'));
    writeFileSync(join(settings.backupDir, 'old', 'repo'), 'left over from an old volume');
    insertRow('old', 20_001);
    insertRow('good', 20_002);
    const summary = reconcile(db, settings, undefined, NOW);
    expect(refusedNames(summary)).toEqual(['old']);
    expect(readFileSync(join(settings.backupDir, 'old', 'repo'), 'utf8')).toBe('left over from an old volume');
    expect(statSync(join(settings.backupDir, 'good', 'repo'))).toMatchObject({ uid: 20_002, gid: 20_002 });
    expect(readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys'))).toEqual(['good']);
    expect(passwd()).not.toMatch(/^old:/m);
  });

  it('refuses a host whose home is a symlink to a root directory, and leaves that directory alone', () => {
    const rootDirectory = join(base, 'root-directory');
    mkdirSync(rootDirectory, { mode: 0o755 });
    symlinkSync(rootDirectory, join(settings.backupDir, 'linked'));
    insertRow('linked', 20_001);
    insertRow('good', 20_002);
    const summary = reconcile(db, settings, undefined, NOW);
    expect(refusedNames(summary)).toEqual(['linked']);
    expect(statSync(rootDirectory)).toMatchObject({ uid: 0, gid: 0 });
    expect(statSync(rootDirectory).mode & 0o7777).toBe(0o755);
    expect(readdirSync(rootDirectory)).toEqual([]);
    expect(existsSync(join(settings.backupDir, 'good', 'repo'))).toBe(true);
  });
});

describe.runIf(isRoot)('reconcile with the memory of earlier passes (a running server)', () => {
  const keyDir = () => join(settings.stateDir, 'ssh', 'authorized_keys');

  it('removes the key file of a host deleted since, without listing the directory again', () => {
    const memory = createReconcileMemory();
    insertRow('alpha', 20001);
    insertRow('beta', 20002);
    reconcile(db, settings, memory, NOW);
    db.update(hosts).set({ status: 'deleted' }).where(eq(hosts.name, 'beta')).run();
    const summary = reconcile(db, settings, memory, NOW);
    expect(summary.keyFilesRemoved).toBe(1);
    expect(readdirSync(keyDir())).toEqual(['alpha']);
  });

  it('renders a changed key line again: a re-keyed host gets its new key, the others keep theirs', () => {
    const memory = createReconcileMemory();
    insertRow('alpha', 20001);
    insertRow('beta', 20002);
    reconcile(db, settings, memory, NOW);
    const otherKey = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    db.update(hosts).set({ keyBase64: otherKey }).where(eq(hosts.name, 'beta')).run();
    const summary = reconcile(db, settings, memory, NOW);
    expect(summary.keyFilesWritten).toBe(1);
    expect(readFileSync(join(keyDir(), 'beta'), 'utf8')).toContain(otherKey);
    expect(readFileSync(join(keyDir(), 'alpha'), 'utf8')).toContain(KEY);
  });

  it('refuses a row that turned bad since the last pass, though its earlier values rendered', () => {
    const memory = createReconcileMemory();
    insertRow('alpha', 20001);
    reconcile(db, settings, memory, NOW);
    db.update(hosts).set({ keyBase64: 'not base64!' }).where(eq(hosts.name, 'alpha')).run();
    const summary = reconcile(db, settings, memory, NOW);
    expect(refusedNames(summary)).toEqual(['alpha']);
    expect(existsSync(join(keyDir(), 'alpha'))).toBe(false);
  });

  it('makes the directories again for a host purged and then made again with the same name and UID', () => {
    const memory = createReconcileMemory();
    insertRow('alpha', 20001);
    reconcile(db, settings, memory, NOW);
    db.update(hosts).set({ status: 'purging' }).where(eq(hosts.name, 'alpha')).run();
    reconcile(db, settings, memory, NOW);
    expect(existsSync(join(settings.backupDir, 'alpha'))).toBe(false);
    insertRow('alpha', 20001);
    reconcile(db, settings, memory, NOW);
    expect(statSync(join(settings.backupDir, 'alpha', 'repo')).uid).toBe(20001);
  });

  it('hands the watches the rows it accepted, purged ones left out', () => {
    insertRow('alpha', 20001);
    insertRow('beta', 20002, { status: 'purging' });
    insertRow('bad', 5);
    const summary = reconcile(db, settings, createReconcileMemory(), NOW);
    expect(summary.hosts.map((row) => row.name)).toEqual(['alpha']);
  });
});
