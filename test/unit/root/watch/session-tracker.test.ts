import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { maintainers } from '../../../../src/db/schema.js';
import { findBackupState } from '../../../../src/host-records/backup-state.js';
import { listSessions } from '../../../../src/host-records/host-sessions.js';
import { findMaintenanceHold } from '../../../../src/host-records/maintenance-holds.js';
import { createKeyLogins, type KeyLogins } from '../../../../src/root/sshd/key-logins.js';
import { createRepositoryWatch } from '../../../../src/root/watch/repository-watch.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { markCommitted, writeSegment } from '../../../support/borg-segment-files.js';
import { addHostRow } from '../../../support/host-rows.js';
import { reportsOf } from '../../../support/root-reports.js';

/**
 * The repository watch records sessions: a fake /proc (a process with the
 * environment sshd gives it), repositories with borg 1.x indexes written
 * byte for byte, an in-memory database. Root only (the files are the host's).
 */

const NOW = new Date('2026-11-27T03:00:00.000Z');
const UID = 20001;
const isRoot = process.getuid?.() === 0;

let base: string;
let procDir: string;
let repository: string;
let db: Db;
let ticks: number;

/** borg's index.N: header, then 8 buckets; the manifest (key of zeros) in bucket 0, `objects` others after it. */
function writeIndex(transaction: number, manifestSegment: number, objects: number): void {
  writeIndexOf(
    transaction,
    manifestSegment,
    Array.from({ length: objects }, (_, number) => ({ key: number + 1, segment: manifestSegment })),
  );
}

/** index.N with these objects (each key a byte repeated, at its segment) after the manifest, in 8 buckets. */
function writeIndexOf(transaction: number, manifestSegment: number, objects: { key: number; segment: number }[]): void {
  markCommitted(repository, transaction);
  const buckets = 8;
  const index = Buffer.alloc(18 + buckets * 40);
  index.write('BORG_IDX', 0, 'latin1');
  index.writeInt32LE(objects.length + 1, 8);
  index.writeInt32LE(buckets, 12);
  index.writeInt8(32, 16);
  index.writeInt8(8, 17);
  for (let bucket = 0; bucket < buckets; bucket += 1) {
    const start = 18 + bucket * 40;
    const object = objects[bucket - 1];
    if (bucket === 0) {
      index.writeUInt32LE(manifestSegment, start + 32);
      index.writeUInt32LE(8, start + 36);
    } else if (object !== undefined) {
      index.fill(object.key, start, start + 32);
      index.writeUInt32LE(object.segment, start + 32);
    } else {
      index.writeUInt32LE(0xffffffff, start + 32);
    }
  }
  writeFileSync(join(repository, `index.${transaction}`), index);
  giveToHost();
}

function giveToHost(): void {
  chownSync(repository, UID, UID);
  for (const name of readdirSync(repository)) chownSync(join(repository, name), UID, UID);
  for (const name of readdirSync(join(repository, 'data'))) chownSync(join(repository, 'data', name), UID, UID);
}

/** A process of the host's session; `keyMarker`: what a maintainer's key line puts into its environment. */
function startSession(pid: number, clientAddress: string, keyMarker = ''): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${UID}\t${UID}\t${UID}\t${UID}\n`);
  const marker = keyMarker === '' ? '' : `${keyMarker}\0`;
  writeFileSync(join(procDir, String(pid), 'environ'), `USER=web1\0SSH_CONNECTION=${clientAddress} 51234 192.0.2.1 22\0${marker}HOME=/x\0`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

/** A process of the host's user with the environment sshd's own processes have: no SSH_CONNECTION, no key. */
function startSshdProcess(pid: number): void {
  startSession(pid, '198.51.100.9');
  writeFileSync(join(procDir, String(pid), 'environ'), 'PATH=/usr/bin\0');
}

/** The process execs the session's command: its environment becomes the one sshd built for it. */
function execCommand(pid: number, keyMarker = ''): void {
  const marker = keyMarker === '' ? '' : `${keyMarker}\0`;
  writeFileSync(join(procDir, String(pid), 'environ'), `USER=web1\0SSH_CONNECTION=198.51.100.9 51234 192.0.2.1 22\0${marker}HOME=/x\0`);
}

const endSession = (pid: number) => rmSync(join(procDir, String(pid)), { recursive: true, force: true });

function createWatch(keyLogins?: KeyLogins) {
  return createRepositoryWatch({
    ...(keyLogins ? { keyLogins } : {}),
    db,
    backupDir: join(base, 'backups'),
    logger: pino({ level: 'silent' }),
    now: () => new Date(NOW.getTime() + 1000 * ticks++),
    requestReconcile: async () => {},
    serverAccounts: serverAccountsIn(join(base, 'etc'), join(base, 'backups')),
    procDir,
  });
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-sessions-'));
  procDir = join(base, 'proc');
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  db = openMemoryRootDatabase();
  ticks = 0;
  addHostRow(db, 'web1', NOW, { uid: UID });
  writeAccountDatabase(join(base, 'etc'), join(base, 'backups'), [{ name: 'web1', uid: UID }]);
  repository = join(base, 'backups', 'web1', 'repo');
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
  writeSegment(repository, 1, 4096, true);
  writeIndex(1, 1, 0);
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

describe.runIf(isRoot)('sessions seen by the repository watch', () => {
  it('records a session that committed a new manifest and objects as a backup, with its client address', async () => {
    const watch = createWatch();
    await watch.check({ sweep: true });
    startSession(9_000_001, '198.51.100.7');
    await watch.check();
    writeSegment(repository, 2, 200_000, true);
    writeIndex(2, 2, 5);
    await watch.check();
    endSession(9_000_001);
    await watch.check();
    const [session] = listSessions(db, 'web1', { limit: 10 });
    expect(session).toMatchObject({
      outcome: 'backup',
      clientAddress: '198.51.100.7',
      connections: 1,
      transactionsCommitted: 1,
      lastCommitBefore: 1,
      lastCommitAfter: 2,
      objectsAdded: 5,
      manifestRewritten: true,
      uncommittedLeft: false,
    });
    expect(session?.bytesAdded).toBeGreaterThanOrEqual(200_000);
    expect(findBackupState(db, 'web1')?.lastBackupAt).toEqual(session?.endedAt);
    // It kept every object the repository had: nothing for a maintainer to be held back from.
    expect(findMaintenanceHold(db, 'web1')).toBeUndefined();
  });

  it("counts what a new host's first session did before the watch first saw it, from the empty repository", async () => {
    // The repository already holds the first commit (borg init) when the first look finds the session running.
    startSession(9_000_002, '198.51.100.8');
    const watch = createWatch();
    await watch.check();
    endSession(9_000_002);
    await watch.check();
    const [session] = listSessions(db, 'web1', { limit: 10 });
    expect(session).toMatchObject({ outcome: 'changed', lastCommitBefore: -1, lastCommitAfter: 1, manifestRewritten: true });
  });

  it('does not count a segment that ends with a commit tag but has no index as a backup', async () => {
    const watch = createWatch();
    await watch.check({ sweep: true });
    startSession(9_000_002, '198.51.100.8');
    await watch.check();
    // What put-ignoring-quota.py --end-with-commit-tag leaves: a segment that ends like a committed one.
    writeSegment(repository, 2, 200_000, false);
    writeFileSync(join(repository, 'data', '0', '2'), Buffer.concat([Buffer.alloc(200_000), Buffer.from('40f43c250900000002', 'hex')]));
    giveToHost();
    endSession(9_000_002);
    await watch.check();
    const [session] = listSessions(db, 'web1', { limit: 10 });
    expect(session).toMatchObject({ outcome: 'aborted', transactionsCommitted: 0, manifestRewritten: false, uncommittedLeft: true });
    expect(findBackupState(db, 'web1')?.lastBackupAt ?? null).toBeNull();
  });

  it('records a list (nothing committed) as read-only', async () => {
    const watch = createWatch();
    await watch.check({ sweep: true });
    startSession(9_000_003, '2001:db8::5');
    await watch.check();
    endSession(9_000_003);
    await watch.check();
    expect(listSessions(db, 'web1', { limit: 10 })).toEqual([
      expect.objectContaining({ outcome: 'read-only', clientAddress: '2001:db8::5' }),
    ]);
  });

  describe('the key of a session, and the maintenance hold', () => {
    /** One session of `pids` (each with its marker) that deletes: the index loses objects in a new commit. */
    async function deletingSession(processes: { pid: number; marker?: string }[]) {
      const watch = createWatch();
      writeSegment(repository, 2, 100_000, true);
      writeIndex(2, 2, 5);
      await watch.check({ sweep: true });
      for (const { pid, marker } of processes) startSession(pid, '198.51.100.9', marker);
      await watch.check();
      writeSegment(repository, 3, 4096, true);
      writeIndex(3, 3, 2);
      await watch.check();
      for (const { pid } of processes) endSession(pid);
      await watch.check();
      return listSessions(db, 'web1', { limit: 1 })[0];
    }

    it("holds the host's maintainers out after its own key deleted, and reports the hold and an event once", async () => {
      const session = await deletingSession([{ pid: 9_000_010 }]);
      expect(session).toMatchObject({ outcome: 'changed', maintainer: null, objectsAdded: -3 });
      expect(findMaintenanceHold(db, 'web1')?.heldSince).toEqual(session?.endedAt);
      const reports = reportsOf(db);
      expect(reports.filter((report) => report.kind === 'maintenance-hold')).toHaveLength(1);
      expect(reports.filter((report) => report.kind === 'event' && report.event.type === 'host.maintenance.held')).toHaveLength(1);
    });

    it("records a maintainer's session as its own: no hold, and never the host's backup", async () => {
      const session = await deletingSession([{ pid: 9_000_011, marker: 'BORG_SERVER_KEY=maintainer:trusted' }]);
      expect(session).toMatchObject({ outcome: 'changed', maintainer: 'trusted' });
      expect(findMaintenanceHold(db, 'web1')).toBeUndefined();
      // Its access is in the audit log, by its name, on the host.
      expect(reportsOf(db).filter((report) => report.kind === 'audit')).toEqual([
        expect.objectContaining({
          entry: expect.objectContaining({ actor: 'maintainer:trusted', action: 'maintainer.session', target: 'web1' }),
        }),
      ]);
    });

    it("takes a session with the host's own key beside a maintainer's for the host's", async () => {
      const session = await deletingSession([{ pid: 9_000_012, marker: 'BORG_SERVER_KEY=maintainer:trusted' }, { pid: 9_000_013 }]);
      expect(session).toMatchObject({ maintainer: null });
      expect(findMaintenanceHold(db, 'web1')).toBeDefined();
    });

    /** A session that deletes three of the five objects in segment 2 and writes four new ones (segment 3). */
    async function deleteBesideBackup(finish: () => void) {
      const watch = createWatch();
      writeSegment(repository, 2, 100_000, true);
      writeIndex(2, 2, 5);
      await watch.check({ sweep: true });
      startSession(9_000_020, '198.51.100.9');
      await watch.check();
      writeSegment(repository, 3, 200_000, true);
      writeIndexOf(
        3,
        3,
        [1, 2, 8, 9, 10, 11].map((key) => ({ key, segment: key < 8 ? 2 : 3 })),
      );
      finish();
      endSession(9_000_020);
      await watch.check();
      return listSessions(db, 'web1', { limit: 1 })[0];
    }

    it("holds when the host's own key deleted beside a backup in one session", async () => {
      const session = await deleteBesideBackup(() => {});
      expect(session).toMatchObject({ outcome: 'backup', objectsAdded: 1, maintainer: null });
      expect(findMaintenanceHold(db, 'web1')).toBeDefined();
    });

    it("holds when the host's own key deleted and then left a transaction unfinished", async () => {
      const session = await deleteBesideBackup(() => writeSegment(repository, 4, 4096, false));
      expect(session).toMatchObject({ outcome: 'aborted', maintainer: null });
      expect(findMaintenanceHold(db, 'web1')).toBeDefined();
    });

    it("reads a process caught between sshd's fork and the command's exec again, so a maintainer's session is its own", async () => {
      const watch = createWatch();
      writeSegment(repository, 2, 100_000, true);
      writeIndex(2, 2, 5);
      await watch.check({ sweep: true });
      startSshdProcess(9_000_015); // sshd's own process of the user: never an identity
      startSshdProcess(9_000_016); // the command's process, forked but not yet exec'd
      await watch.check();
      execCommand(9_000_016, 'BORG_SERVER_KEY=maintainer:trusted');
      await watch.check();
      writeSegment(repository, 3, 4096, true);
      writeIndex(3, 3, 2);
      for (let look = 0; look < 10; look += 1) await watch.check();
      endSession(9_000_015);
      endSession(9_000_016);
      await watch.check();
      expect(listSessions(db, 'web1', { limit: 1 })[0]).toMatchObject({ outcome: 'changed', maintainer: 'trusted' });
      expect(findMaintenanceHold(db, 'web1')).toBeUndefined();
    });

    it("takes the host's own key caught before its exec beside a maintainer's for the host's", async () => {
      const watch = createWatch();
      writeSegment(repository, 2, 100_000, true);
      writeIndex(2, 2, 5);
      await watch.check({ sweep: true });
      startSession(9_000_017, '198.51.100.9', 'BORG_SERVER_KEY=maintainer:trusted');
      startSshdProcess(9_000_018);
      await watch.check();
      execCommand(9_000_018);
      await watch.check();
      writeSegment(repository, 3, 4096, true);
      writeIndex(3, 3, 2);
      endSession(9_000_017);
      endSession(9_000_018);
      await watch.check();
      expect(listSessions(db, 'web1', { limit: 1 })[0]).toMatchObject({ maintainer: null });
      expect(findMaintenanceHold(db, 'web1')).toBeDefined();
    });

    describe('a session whose command no look saw, known by the login sshd logged', () => {
      /** A delete whose command ran between two looks: the looks saw only sshd's own process of the user. */
      async function unseenDelete(fingerprints: string[], loggedAt = NOW) {
        db.insert(maintainers)
          .values({
            name: 'trusted',
            keyType: 'ssh-ed25519',
            keyBase64: 'AAAA',
            fingerprint: 'SHA256:maintainer',
            allowFrom: '127.0.0.1/32',
            createdAt: NOW,
            updatedAt: NOW,
          })
          .run();
        const keyLogins = createKeyLogins();
        const watch = createWatch(keyLogins);
        writeSegment(repository, 2, 100_000, true);
        writeIndex(2, 2, 5);
        await watch.check({ sweep: true });
        for (const fingerprint of fingerprints) keyLogins.record({ user: 'web1', address: '::ffff:198.51.100.4', fingerprint }, loggedAt);
        startSshdProcess(9_000_030);
        await watch.check();
        writeSegment(repository, 3, 4096, true);
        writeIndex(3, 3, 2);
        endSession(9_000_030);
        await watch.check();
        return listSessions(db, 'web1', { limit: 1 })[0];
      }

      it("is a maintainer's when its key was the maintainer's", async () => {
        expect(await unseenDelete(['SHA256:maintainer'])).toMatchObject({ maintainer: 'trusted', clientAddress: '198.51.100.4' });
        expect(findMaintenanceHold(db, 'web1')).toBeUndefined();
      });

      it("is the host's, and holds, when the host's own key logged in too", async () => {
        expect(await unseenDelete(['SHA256:maintainer', 'SHA256:host'])).toMatchObject({ maintainer: null });
        expect(findMaintenanceHold(db, 'web1')).toBeDefined();
      });

      it("takes no login from long before the session: without one, the session is the host's", async () => {
        const session = await unseenDelete(['SHA256:maintainer'], new Date(NOW.getTime() - 3_600_000));
        expect(session).toMatchObject({ maintainer: null, clientAddress: null });
        expect(findMaintenanceHold(db, 'web1')).toBeDefined();
      });
    });

    it('does not hold for the first commit of a new repository (borg init)', async () => {
      startSession(9_000_014, '198.51.100.8');
      const watch = createWatch();
      await watch.check();
      endSession(9_000_014);
      await watch.check();
      expect(listSessions(db, 'web1', { limit: 1 })[0]).toMatchObject({ outcome: 'changed', lastCommitBefore: -1 });
      expect(findMaintenanceHold(db, 'web1')).toBeUndefined();
    });
  });
});
