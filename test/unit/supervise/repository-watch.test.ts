import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryDatabase } from '../../../src/db/connection.js';
import { auditLog } from '../../../src/db/schema.js';
import { findHost, upsertHost } from '../../../src/enrollment/hosts-store.js';
import { createRepositoryWatch } from '../../../src/supervise/repository-watch.js';
import { writeSegment } from '../../support/borg-segment-files.js';

/**
 * The repository watch against a fake /proc (one process per "session"),
 * real files for the repositories and an in-memory database. The PIDs are
 * above any pid_max, so ending a "session" signals nobody.
 */

const NOW = new Date('2026-11-27T03:00:00.000Z');
const isRoot = process.getuid?.() === 0;

let base: string;
let procDir: string;
let backupDir: string;
let db: Db;
let reconcileRequests: number;
let ticks: number;

function addHost(name: string, uid: number, quotaBytes: number | null, appendOnly = true): string {
  upsertHost(
    db,
    {
      name,
      uid,
      keyType: 'ssh-ed25519',
      keyBase64: 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK',
      fingerprint: 'SHA256:test',
      appendOnly,
      quotaBytes,
      allowFrom: null,
      origin: 'createuser',
      enrollmentId: null,
    },
    NOW,
  );
  const repository = join(backupDir, name, 'repo');
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
  return repository;
}

function startSession(pid: number, uid: number): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

function endSession(pid: number): void {
  rmSync(join(procDir, String(pid)), { recursive: true, force: true });
}

function createWatch() {
  return createRepositoryWatch({
    db,
    backupDir,
    logger: pino({ level: 'silent' }),
    now: () => new Date(NOW.getTime() + 1000 * ticks++),
    requestReconcile: async () => {
      reconcileRequests += 1;
    },
    procDir,
  });
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-watch-'));
  procDir = join(base, 'proc');
  backupDir = join(base, 'backups');
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  db = openMemoryDatabase();
  reconcileRequests = 0;
  ticks = 0;
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const actions = () =>
  db
    .select()
    .from(auditLog)
    .all()
    .map((entry) => `${entry.action} ${entry.target}`);

describe('the repository watch and the quota', () => {
  it('ends the session whose open transaction takes the repository past its quota', () => {
    const repository = addHost('small1', 20001, 10_000_000);
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 30_000_000, false);
    startSession(99_999_001, 20001);
    const watched = createWatch().check();
    expect(watched).toEqual([expect.objectContaining({ name: 'small1', verdict: 'end-sessions' })]);
    expect(actions()).toEqual(['host.quota.end-sessions small1']);
  });

  it('removes the uncommitted segments a finished session left past the quota', () => {
    const repository = addHost('small1', 20001, 10_000_000);
    writeSegment(repository, 0, 500, true);
    const watch = createWatch();
    startSession(99_999_001, 20001);
    watch.check();
    writeSegment(repository, 1, 30_000_000, false);
    endSession(99_999_001);
    expect(watch.check()).toEqual([expect.objectContaining({ name: 'small1', verdict: 'clean-up' })]);
    expect(readdirSync(join(repository, 'data', '0'))).toEqual(['0']);
  });

  it('notices a session too short to be seen at its next sweep, by the change in the repository directory', () => {
    const repository = addHost('small1', 20001, 10_000_000);
    writeSegment(repository, 0, 500, true);
    const watch = createWatch();
    watch.check();
    writeSegment(repository, 1, 30_000_000, false);
    writeFileSync(join(repository, 'lock.roster'), '{}');
    rmSync(join(repository, 'lock.roster'));
    expect(watch.check()).toEqual([]);
    expect(watch.check({ sweep: true })).toEqual([expect.objectContaining({ name: 'small1', verdict: 'clean-up' })]);
  });

  it('disables an append-only host whose committed history is past its quota', () => {
    const repository = addHost('small1', 20001, 10_000_000);
    writeSegment(repository, 0, 12_000_000, true);
    startSession(99_999_001, 20001);
    expect(createWatch().check()).toEqual([expect.objectContaining({ verdict: 'disable' })]);
    expect(findHost(db, 'small1')?.status).toBe('disabled');
    expect(reconcileRequests).toBe(1);
    expect(actions()).toEqual(['host.quota.disable small1']);
  });

  it('leaves a full-access host past its quota in committed data to borg', () => {
    const repository = addHost('full1', 20002, 10_000_000, false);
    writeSegment(repository, 0, 12_000_000, true);
    startSession(99_999_002, 20002);
    expect(createWatch().check()).toEqual([expect.objectContaining({ verdict: 'within' })]);
    expect(findHost(db, 'full1')?.status).toBe('active');
  });

  it('does not look again at a repository nobody used since the last look or sweep', () => {
    const repository = addHost('idle1', 20003, 10_000_000);
    writeSegment(repository, 0, 500, true);
    const watch = createWatch();
    expect(watch.check().map((host) => host.name)).toEqual(['idle1']);
    expect(watch.check()).toEqual([]);
    expect(watch.check({ sweep: true })).toEqual([]);
  });

  it('reads the hosts again when told they changed', () => {
    const watch = createWatch();
    watch.check();
    addHost('new1', 20005, 10_000_000);
    startSession(99_999_005, 20005);
    expect(watch.check()).toEqual([]);
    watch.refreshHosts();
    expect(watch.check().map((host) => host.name)).toEqual(['new1']);
  });
});

describe.runIf(isRoot)('the repository watch and the repository config', () => {
  it('keeps a copy of each new version of the config, where the host cannot reach it', () => {
    const repository = addHost('web1', 20004, null);
    writeFileSync(join(repository, 'config'), '[repository]\nkey = original\n');
    const watch = createWatch();
    expect(watch.check()).toEqual([expect.objectContaining({ name: 'web1', configRecorded: true })]);
    startSession(99_999_004, 20004);
    expect(watch.check()).toEqual([expect.objectContaining({ configRecorded: false })]);
    writeFileSync(join(repository, 'config'), '[repository]\nkey = replaced\n');
    expect(watch.check()).toEqual([expect.objectContaining({ configRecorded: true })]);
    const history = join(backupDir, 'web1', 'repo-config-history');
    expect(readdirSync(history)).toHaveLength(2);
    expect(statSync(history)).toMatchObject({ uid: 0, gid: 0, mode: 0o40700 });
  });
});
