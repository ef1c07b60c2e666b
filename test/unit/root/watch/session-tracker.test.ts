import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { findBackupState } from '../../../../src/host-records/backup-state.js';
import { listSessions } from '../../../../src/host-records/host-sessions.js';
import { createRepositoryWatch } from '../../../../src/root/watch/repository-watch.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { markCommitted, writeSegment } from '../../../support/borg-segment-files.js';
import { addHostRow } from '../../../support/host-rows.js';

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
  markCommitted(repository, transaction);
  const buckets = 8;
  const index = Buffer.alloc(18 + buckets * 40);
  index.write('BORG_IDX', 0, 'latin1');
  index.writeInt32LE(objects + 1, 8);
  index.writeInt32LE(buckets, 12);
  index.writeInt8(32, 16);
  index.writeInt8(8, 17);
  for (let bucket = 0; bucket < buckets; bucket += 1) {
    const start = 18 + bucket * 40;
    if (bucket === 0) {
      index.writeUInt32LE(manifestSegment, start + 32);
      index.writeUInt32LE(8, start + 36);
    } else if (bucket <= objects) {
      index.fill(bucket, start, start + 32);
      index.writeUInt32LE(manifestSegment, start + 32);
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

function startSession(pid: number, clientAddress: string): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${UID}\t${UID}\t${UID}\t${UID}\n`);
  writeFileSync(join(procDir, String(pid), 'environ'), `USER=web1\0SSH_CONNECTION=${clientAddress} 51234 192.0.2.1 22\0HOME=/x\0`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

const endSession = (pid: number) => rmSync(join(procDir, String(pid)), { recursive: true, force: true });

function createWatch() {
  return createRepositoryWatch({
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
});
