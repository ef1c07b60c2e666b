import { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, migrateRootDatabase, openDatabase, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/schema.js';
import { holdMaintenance } from '../../../../src/host-records/maintenance-holds.js';
import {
  createReconcileMemory,
  type ReconcileMemory,
  type ReconcileSettings,
  reconcile,
} from '../../../../src/root/reconcile/reconcile.js';
import { reconcileHost } from '../../../../src/root/reconcile/reconcile-host.js';
import { acknowledgeMaintenance, changeMaintainer } from '../../../../src/root/requests/maintainer-requests.js';
import { insertHostRow, makeReconcileSandbox } from '../../../support/reconcile-sandbox.js';
import { waitFor } from '../../../support/wait-for.js';

/**
 * The pass for one changed host against a full pass: both on a temporary
 * etc, state and backup directory. The one-host pass must leave exactly what
 * a full pass would (a full pass with a fresh memory after it changes
 * nothing), and leave to a full pass whatever it cannot decide alone.
 * Root only: it gives directories to host UIDs.
 */

const isRoot = process.getuid?.() === 0;
const OTHER_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const NOW = new Date('2026-03-02T10:00:00Z');
// alice: an admin's own login, with a UID in the hosts' range.
const SYSTEM_PASSWD =
  'root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nalice:x:20025:20025::/home/alice:/bin/bash\n';
const SYSTEM_GROUP = 'root:x:0:\nsshd:x:100:\n';
const SYSTEM_SHADOW = 'root:*:19000:0:99999:7:::\n';

let base: string;
let db: Db;
let settings: ReconcileSettings;
let memory: ReconcileMemory;

beforeEach(() => {
  ({ base, settings } = makeReconcileSandbox('sbs-reconcile-host-', { passwd: SYSTEM_PASSWD, group: SYSTEM_GROUP, shadow: SYSTEM_SHADOW }));
  db = openMemoryRootDatabase();
  memory = createReconcileMemory();
});

afterEach(() => {
  db.$client.close();
  rmSync(base, { recursive: true, force: true });
});

const insertRow = (name: string, uid: number, changes: Partial<typeof hosts.$inferInsert> = {}) =>
  insertHostRow(db, name, uid, NOW, changes);
const setRow = (name: string, values: Partial<typeof hosts.$inferInsert>) => db.update(hosts).set(values).where(eq(hosts.name, name)).run();

/** Every file and directory under the temporary root, with its owner, mode and content: what a pass leaves. */
function snapshot(): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (path: string) => {
    const stats = lstatSync(path);
    const relative = path.slice(base.length);
    const owner = `${stats.uid}:${stats.gid}:${(stats.mode & 0o7777).toString(8)}`;
    if (stats.isDirectory()) {
      found[`${relative}/`] = owner;
      for (const entry of readdirSync(path).sort()) walk(join(path, entry));
    } else found[relative] = `${owner} ${stats.isFile() ? readFileSync(path, 'utf8') : 'link'}`;
  };
  for (const top of ['etc', 'state', 'backups']) walk(join(base, top));
  return found;
}

/** The one-host pass for `name` must be done, and a full pass of every row with a fresh memory must change nothing after it. */
function expectSameAsFullPass(name: string) {
  const result = reconcileHost(db, settings, memory, name, NOW);
  expect(result).toMatchObject({ isDone: true });
  const afterOneHost = snapshot();
  const full = reconcile(db, settings, createReconcileMemory(), NOW);
  expect(snapshot()).toEqual(afterOneHost);
  expect(full).toMatchObject({ accountFilesChanged: false, keyFilesWritten: 0, keyFilesRemoved: 0 });
  if (!result.isDone) throw new Error('not done');
  // What the watches get: the rows a full pass hands them.
  const byName = (rows: { name: string }[]) => [...rows].sort((a, b) => a.name.localeCompare(b.name));
  expect(byName(result.summary.hosts)).toEqual(byName(full.hosts));
  return result.summary;
}

/** A process running as the host's UID (what a session of it is to reconcile), once it runs. */
async function startSessionOf(uid: number) {
  const session = execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sleep', '600'], { reject: false });
  await waitFor('the session to run', async () =>
    (await readFile(`/proc/${session.pid}/status`, 'utf8')).includes(`Uid:\t${uid}`) ? true : undefined,
  );
  // Wrapped: the subprocess is a promise itself, which an async function's return would wait for.
  return { session };
}

const keyFiles = () => readdirSync(join(settings.stateDir, 'ssh', 'authorized_keys')).sort();
const passwd = () => readFileSync(join(settings.etcDir as string, 'passwd'), 'utf8');
/** The host accounts in /etc/passwd, in its order. */
const hostAccounts = () =>
  passwd()
    .split('\n')
    .filter((line) => line.includes('secure-borg-server host'))
    .map((line) => line.split(':')[0]);

describe.runIf(isRoot)('reconcileHost', () => {
  beforeEach(() => {
    insertRow('alpha', 20_010);
    insertRow('gamma', 20_030, { status: 'disabled' });
    insertRow('omega', 20_050);
    reconcile(db, settings, memory, NOW);
  });

  it('approves a new host as a full pass would: its account among the others by UID, its directories, its key file', () => {
    insertRow('beta', 20_020, { quotaBytes: 5_000_000_000, allowFrom: '10.0.0.0/8' });
    const summary = expectSameAsFullPass('beta');
    expect(summary).toMatchObject({ accounts: 4, accountFilesChanged: true, keyFilesWritten: 1, keyFilesRemoved: 0, sessionsEnded: 0 });
    expect(keyFiles()).toEqual(['alpha', 'beta', 'omega']);
    expect(hostAccounts()).toEqual(['alpha', 'beta', 'gamma', 'omega']);
  });

  it('approves several hosts one after another, each as a full pass would', () => {
    insertRow('zulu', 20_060);
    expectSameAsFullPass('zulu');
    insertRow('first', 20_001);
    expectSameAsFullPass('first');
    insertRow('delta', 20_040);
    expectSameAsFullPass('delta');
    expect(keyFiles()).toEqual(['alpha', 'delta', 'first', 'omega', 'zulu']);
  });

  it('re-keys a host: its key file only, its account files unchanged', () => {
    setRow('alpha', { keyBase64: OTHER_KEY, updatedAt: new Date(NOW.getTime() + 1) });
    const summary = expectSameAsFullPass('alpha');
    expect(summary).toMatchObject({ accountFilesChanged: false, keyFilesWritten: 1 });
    expect(readFileSync(join(settings.stateDir, 'ssh', 'authorized_keys', 'alpha'), 'utf8')).toContain(OTHER_KEY);
  });

  it('changes a setting in the key line (append-only off, a quota)', () => {
    setRow('omega', { appendOnly: false, quotaBytes: 1_000_000_000 });
    expect(expectSameAsFullPass('omega')).toMatchObject({ keyFilesWritten: 1 });
  });

  it('disables a host: its key file goes, its account stays; enabled again, it comes back', () => {
    setRow('alpha', { status: 'disabled' });
    expect(expectSameAsFullPass('alpha')).toMatchObject({ keyFilesRemoved: 1, accountFilesChanged: false });
    expect(keyFiles()).toEqual(['omega']);
    expect(passwd()).toMatch(/^alpha:/m);
    setRow('alpha', { status: 'active' });
    expect(expectSameAsFullPass('alpha')).toMatchObject({ keyFilesWritten: 1 });
    setRow('gamma', { status: 'active' });
    expectSameAsFullPass('gamma');
    expect(keyFiles()).toEqual(['alpha', 'gamma', 'omega']);
  });

  it('deletes a host (data kept): its account and key file go', () => {
    setRow('omega', { status: 'deleted' });
    expect(expectSameAsFullPass('omega')).toMatchObject({ keyFilesRemoved: 1, accountFilesChanged: true, accounts: 2 });
    expect(passwd()).not.toMatch(/^omega:/m);
  });

  it('ends the open sessions of a host it re-keys', async () => {
    const { session } = await startSessionOf(20_010);
    try {
      setRow('alpha', { keyBase64: OTHER_KEY });
      const result = reconcileHost(db, { ...settings, procDir: undefined }, memory, 'alpha', NOW);
      expect(result).toMatchObject({ isDone: true, summary: { sessionsEnded: 1 } });
      expect((await session).signal).toBe('SIGKILL');
    } finally {
      session.kill('SIGKILL');
    }
  });

  describe('maintainers', () => {
    const MAINTAINER_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIN3rwNzl6Nxw3SwVGLxLl9a9kRUG1If9sJL5qNbXrTDE';
    const keyFile = (name: string) => readFileSync(join(settings.stateDir, 'ssh', 'authorized_keys', name), 'utf8');
    const grant = (hosts: string[], all = false) => changeMaintainer(db, { action: 'grant', name: 'trusted', hosts, all }, { now: NOW });
    const revoke = (hosts: string[]) => changeMaintainer(db, { action: 'revoke', name: 'trusted', hosts, all: false }, { now: NOW });

    beforeEach(() => {
      changeMaintainer(
        db,
        { action: 'add', name: 'trusted', keyType: 'ssh-ed25519', keyBase64: MAINTAINER_KEY, allowFrom: '192.0.2.10' },
        { now: NOW },
      );
    });

    it("writes a granted maintainer's line after the host's own, unchanged one, as a full pass would; other hosts get none", () => {
      const before = keyFile('alpha');
      grant(['alpha']);
      expect(expectSameAsFullPass('alpha')).toMatchObject({ keyFilesWritten: 1, sessionsEnded: 0 });
      const lines = keyFile('alpha').split('\n');
      expect(`${lines[0]}\n`).toBe(before);
      expect(lines[0]).toContain('--append-only');
      expect(lines[1]).toBe(
        `restrict,command="borg serve --restrict-to-repository ${settings.backupDir}/alpha/repo",environment="BORG_SERVER_KEY=maintainer:trusted",from="192.0.2.10" ssh-ed25519 ${MAINTAINER_KEY} maintainer:trusted`,
      );
      expect(keyFile('omega')).not.toContain(MAINTAINER_KEY);
    });

    it('gives every active host a line when granted all hosts, and none to a disabled one', () => {
      grant([], true);
      reconcile(db, settings, memory, NOW);
      expect(keyFile('alpha')).toContain('maintainer:trusted');
      expect(keyFile('omega')).toContain('maintainer:trusted');
      expect(keyFiles()).toEqual(['alpha', 'omega']);
      // A host approved later is reached too, by the pass for that host alone.
      insertRow('beta', 20_020);
      expectSameAsFullPass('beta');
      expect(keyFile('beta')).toContain('maintainer:trusted');
    });

    it("keeps the maintainer's line when the host's own line changes", () => {
      grant(['alpha']);
      reconcile(db, settings, memory, NOW);
      setRow('alpha', { quotaBytes: 1_000_000_000 });
      expectSameAsFullPass('alpha');
      expect(keyFile('alpha')).toContain('maintainer:trusted');
      expect(keyFile('alpha').split('\n')[1]).toContain('--storage-quota 1000000000');
      expect(keyFile('alpha').split('\n')[1]).not.toContain('--append-only');
    });

    it('leaves every maintainer out of a host held for maintenance, and lets them back once acknowledged', () => {
      grant(['alpha'], true);
      reconcile(db, settings, memory, NOW);
      holdMaintenance(db, { hostName: 'alpha', heldSince: NOW, reason: 'its own key deleted' });
      expectSameAsFullPass('alpha');
      expect(keyFile('alpha')).not.toContain('maintainer:trusted');
      expect(keyFile('omega')).toContain('maintainer:trusted');
      acknowledgeMaintenance(db, 'alpha', { now: NOW });
      expectSameAsFullPass('alpha');
      expect(keyFile('alpha')).toContain('maintainer:trusted');
    });

    it('ends no session when granted, and ends the sessions of the account when revoked', async () => {
      // A UID of its own: other files' passes end the sessions of the UIDs they use (20_010 among them).
      insertRow('kappa', 20_913);
      reconcile(db, settings, memory, NOW);
      const { session } = await startSessionOf(20_913);
      try {
        grant(['kappa']);
        expect(reconcile(db, { ...settings, procDir: undefined }, memory, NOW)).toMatchObject({ keyFilesWritten: 1, sessionsEnded: 0 });
        revoke(['kappa']);
        expect(reconcile(db, { ...settings, procDir: undefined }, memory, NOW)).toMatchObject({ keyFilesWritten: 1, sessionsEnded: 1 });
        expect((await session).signal).toBe('SIGKILL');
        expect(keyFile('kappa')).not.toContain('maintainer:trusted');
      } finally {
        session.kill('SIGKILL');
      }
    });
  });

  describe('leaves to a full pass, changing no file, what it cannot decide alone', () => {
    /** Not done, for `reason`; nothing but directories changed. */
    function expectFullPassNeeded(name: string, reason: RegExp, passMemory = memory) {
      const before = snapshot();
      const result = reconcileHost(db, settings, passMemory, name, NOW);
      expect(result.isDone).toBe(false);
      if (!result.isDone) expect(result.reason).toMatch(reason);
      const after = snapshot();
      for (const [path, value] of Object.entries(before)) if (!path.endsWith('/')) expect(after[path]).toBe(value);
    }

    it('with no full pass before it', () => {
      insertRow('beta', 20_020);
      expectFullPassNeeded('beta', /no completed pass/, createReconcileMemory());
    });

    it('when the account files were changed by hand since the last pass', () => {
      writeFileSync(join(settings.etcDir as string, 'passwd'), `${passwd()}admin:x:1000:1000::/home/admin:/bin/bash\n`);
      insertRow('beta', 20_020);
      expectFullPassNeeded('beta', /account files changed/);
    });

    it('for a purge', () => {
      setRow('omega', { status: 'purging' });
      expectFullPassNeeded('omega', /purge/);
    });

    it('for a row it refuses (a UID outside the hosts range) or one that takes another row’s UID', () => {
      insertRow('thief', 100);
      expectFullPassNeeded('thief', /refused: UID 100/);
      db.$client.exec('DROP INDEX hosts_uid_unique');
      insertRow('twin', 20_010);
      expectFullPassNeeded('twin', /another row has UID 20010/);
      // The full pass refuses both: a pass for one host could not have known the other's fate.
      const full = reconcile(db, settings, memory, NOW);
      expect(full.refused.map((refusal) => refusal.name).sort()).toEqual(['alpha', 'thief', 'twin']);
      // While rows share a UID, every change needs a full pass.
      insertRow('beta', 20_020);
      expectFullPassNeeded('beta', /share a name or a UID/);
    });

    it('for a host whose account would clash with a system account, and after it, for that host', () => {
      insertRow('clash', 20_025);
      expectFullPassNeeded('clash', /clash/);
      expect(reconcile(db, settings, memory, NOW).conflicts.map((conflict) => conflict.name)).toEqual(['clash']);
      setRow('clash', { keyBase64: OTHER_KEY });
      expectFullPassNeeded('clash', /left out at the last pass/);
    });

    it('for a changed UID', () => {
      setRow('omega', { uid: 20_055 });
      expectFullPassNeeded('omega', /UID changed/);
    });

    it('for an open full-access window', () => {
      setRow('omega', { fullAccessUntil: new Date(NOW.getTime() + 60_000) });
      expectFullPassNeeded('omega', /full-access window/);
    });

    it('when another process wrote root’s database', () => {
      // Root's database in a file, as the server has it; another connection (a borgctl of root's) writes to it.
      const path = join(base, 'root.db');
      const fileDb = openDatabase(path);
      migrateRootDatabase(fileDb);
      const other = openDatabase(path);
      db.$client.close();
      db = fileDb;
      try {
        insertRow('alpha', 20_010);
        memory = createReconcileMemory();
        reconcile(db, settings, memory, NOW);
        // What the server wrote itself is no other process's: the pass builds on the last.
        setRow('alpha', { keyBase64: OTHER_KEY });
        expectSameAsFullPass('alpha');
        other.update(hosts).set({ status: 'disabled' }).where(eq(hosts.name, 'alpha')).run();
        expectFullPassNeeded('alpha', /another process/);
      } finally {
        other.$client.close();
      }
    });
  });
});
