import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hosts, repositoryChecks } from '../../../../src/db/root-schema.js';
import { KEPT_CHECKS_PER_HOST, recordCheckStart } from '../../../../src/host-records/repository-checks.js';
import { CommandFailed, type Run, type RunOptions } from '../../../../src/process/run.js';
import { createIntegrityChecks } from '../../../../src/root/checks/integrity-check.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { addHostRow } from '../../../support/host-rows.js';
import { reportedEvents, reportsOf } from '../../../support/root-reports.js';
import { waitFor } from '../../../support/wait-for.js';

/**
 * The scheduler against a fake borg (a recorded `run`) and a fake /proc:
 * real directories, owned by the host UID, for the repository and scratch.
 */

const NOW = new Date('2026-11-27T03:00:00.000Z');
const UID = 20001;
const CHECK_PID = 99_999_500;
let root: string;
let procDir: string;
let db: Db;
/** The hosts whose accounts reconcile wrote (the test's passwd). */
let accounts: { name: string; uid: number }[];

function addProcess(pid: number, uid: number): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  symlinkSync('mnt:[4026531841]', join(procDir, String(pid), 'ns', 'mnt'));
}

/** A host, its repository and its account, as reconcile makes them; its repository as `borg init` leaves it unless told. */
function addHost(name: string, uid: number, options: { isInitialized?: boolean } = {}): void {
  addHostRow(db, name, NOW, { uid });
  mkdirSync(join(root, 'backups', name, 'repo'), { recursive: true });
  if (options.isInitialized ?? true) writeFileSync(join(root, 'backups', name, 'repo', 'config'), '[repository]\nversion = 1\n');
  chownSync(join(root, 'backups', name, 'repo'), uid, uid);
  accounts.push({ name, uid });
  writeAccountDatabase(join(root, 'etc'), join(root, 'backups'), accounts);
}

interface RunCall {
  file: string;
  arguments: string[];
  options: RunOptions;
}

/** A borg that answers at once with this exit code and stderr. */
function fakeBorg(exitCode: number, stderr: string, calls: RunCall[] = []): Run {
  return async (file, arguments_, options) => {
    calls.push({ file, arguments: arguments_, options });
    options.onStart?.(CHECK_PID);
    if (exitCode === 0) return { stdout: '', stderr };
    throw new CommandFailed(file, exitCode, false, stderr);
  };
}

/** A borg that runs until it is ended, as borg check does on a big repository. */
function endlessBorg(started: () => void): Run {
  return (file, _arguments, options) =>
    new Promise((_resolve, reject) => {
      options.onStart?.(CHECK_PID);
      addProcess(CHECK_PID, UID);
      options.cancelSignal?.addEventListener('abort', () => reject(new CommandFailed(file, undefined, false, '', true)));
      started();
    });
}

function checks(run: Run) {
  return createIntegrityChecks({
    db,
    backupDir: join(root, 'backups'),
    stateDir: join(root, 'state'),
    logger: pino({ level: 'silent' }),
    now: () => NOW,
    run,
    serverAccounts: serverAccountsIn(join(root, 'etc'), join(root, 'backups')),
    procDir,
    pollMs: 5,
  });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sbs-integrity-'));
  procDir = join(root, 'proc');
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  mkdirSync(join(root, 'state'));
  db = openMemoryRootDatabase();
  accounts = [];
  addHost('web1', UID);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("the server's repository checks", () => {
  it("runs borg check of the host's repository as the host, with its scratch directory as borg's home", async () => {
    const calls: RunCall[] = [];
    const row = await checks(fakeBorg(0, 'finished segment check at segment 5\n', calls)).tick();
    expect(row).toMatchObject({ hostName: 'web1', outcome: 'ok', detail: null, startedAt: NOW, endedAt: NOW });
    const scratch = join(root, 'state', 'checks', 'web1');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      file: '/usr/bin/nice',
      options: { uid: UID, gid: UID, cwd: scratch, env: expect.objectContaining({ BORG_BASE_DIR: scratch, HOME: scratch }) },
    });
    expect(calls[0]?.arguments.slice(-7)).toEqual([
      '/usr/bin/borg',
      'check',
      '--repository-only',
      '--max-duration',
      '1800',
      '--info',
      join(root, 'backups', 'web1', 'repo'),
    ]);
    expect(statSync(scratch)).toMatchObject({ uid: UID, gid: UID, mode: 0o40700 });
    expect(statSync(join(root, 'state', 'checks'))).toMatchObject({ uid: 0, mode: 0o40711 });
  });

  it('checks nothing again before the next one is due', async () => {
    const calls: RunCall[] = [];
    const scheduler = checks(fakeBorg(0, '', calls));
    await scheduler.tick();
    expect(await scheduler.tick()).toBeNull();
    expect(calls).toHaveLength(1);
  });

  it('does not start a check while the host has a session', async () => {
    addProcess(99_999_001, UID);
    const calls: RunCall[] = [];
    expect(await checks(fakeBorg(0, '', calls)).tick()).toBeNull();
    expect(calls).toEqual([]);
  });

  it('does not check a host whose checks are off', async () => {
    db.update(hosts).set({ checkEverySeconds: null }).where(eq(hosts.name, 'web1')).run();
    expect(await checks(fakeBorg(0, '')).tick()).toBeNull();
  });

  it('never checks a host whose VM has not run borg init: not on schedule, nor asked for, and it leaves no row', async () => {
    const calls: RunCall[] = [];
    addHost('new1', UID + 1, { isInitialized: false });
    db.update(hosts).set({ checkEverySeconds: null }).where(eq(hosts.name, 'web1')).run();
    const scheduler = checks(fakeBorg(0, '', calls));
    expect(await scheduler.tick()).toBeNull();
    expect(await codeOfAsync(() => scheduler.checkNow('new1'))).toBe('NO_REPOSITORY_YET');
    expect(await codeOfAsync(async () => scheduler.request('new1'))).toBe('NO_REPOSITORY_YET');
    // A link where borg's config would be is no repository either: root does not follow what the host left.
    symlinkSync(join(root, 'backups', 'web1', 'repo', 'config'), join(root, 'backups', 'new1', 'repo', 'config'));
    expect(await scheduler.tick()).toBeNull();
    expect(calls).toEqual([]);
    expect(db.select().from(repositoryChecks).where(eq(repositoryChecks.hostName, 'new1')).all()).toEqual([]);
    // borg init came: the host's first check is due at once.
    rmSync(join(root, 'backups', 'new1', 'repo', 'config'));
    writeFileSync(join(root, 'backups', 'new1', 'repo', 'config'), '[repository]\nversion = 1\n');
    expect(await scheduler.tick()).toMatchObject({ hostName: 'new1', outcome: 'ok' });
  });

  it('ends the check as interrupted when a session of the host begins, and not for its own process', async () => {
    let markStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const scheduler = checks(endlessBorg(() => markStarted()));
    const check = scheduler.tick();
    await started;
    expect(scheduler.ownPids()).toEqual(new Set([CHECK_PID]));
    addProcess(99_999_002, UID);
    expect(await check).toMatchObject({ outcome: 'interrupted', detail: 'ended: a backup session of the host began' });
  });

  it('records a failed check and reports a host.check.failed event and the check to the API', async () => {
    const stderr =
      'Data integrity error: Segment entry checksum mismatch [segment 2, offset 55]\nFinished partial repository check, errors found.\n';
    const row = await checks(fakeBorg(1, stderr)).tick();
    expect(row).toMatchObject({
      outcome: 'failed',
      detail: 'Data integrity error: Segment entry checksum mismatch [segment 2, offset 55]',
    });
    expect(reportedEvents(db)).toEqual([{ type: 'host.check.failed', host: 'web1', data: { checkId: row?.id, detail: row?.detail } }]);
    const reportedChecks = reportsOf(db).flatMap((report) => (report.kind === 'check' ? [report.check] : []));
    expect(reportedChecks.at(-1)).toMatchObject({ id: row?.id, outcome: 'failed' });
  });

  it("refuses a repository another UID owns: it never runs borg as someone else's owner", async () => {
    chownSync(join(root, 'backups', 'web1', 'repo'), UID + 1, UID + 1);
    const calls: RunCall[] = [];
    expect(await checks(fakeBorg(0, '', calls)).tick()).toMatchObject({ outcome: 'error' });
    expect(calls).toEqual([]);
  });

  it('never runs borg as, nor looks for the sessions of, a UID whose account the server did not make', async () => {
    // alice (54321) is an admin's own login; her directory in the backups is hers, the row naming her forged.
    addHostRow(db, 'alice', NOW, { uid: 54_321 });
    mkdirSync(join(root, 'backups', 'alice', 'repo'), { recursive: true });
    chownSync(join(root, 'backups', 'alice', 'repo'), 54_321, 54_321);
    db.update(hosts).set({ checkEverySeconds: null }).where(eq(hosts.name, 'web1')).run();
    const calls: RunCall[] = [];
    const scheduler = checks(fakeBorg(0, '', calls));
    expect(await scheduler.tick()).toBeNull();
    expect(await codeOfAsync(() => scheduler.checkNow('alice'))).toBe('NOT_FOUND');
    expect(calls).toEqual([]);
  });

  it('keeps only the newest checks of each host', async () => {
    for (let index = 0; index < KEPT_CHECKS_PER_HOST + 10; index += 1) recordCheckStart(db, 'web1', NOW);
    const scheduler = checks(fakeBorg(0, ''));
    const row = await scheduler.checkNow('web1');
    const kept = db.select().from(repositoryChecks).where(eq(repositoryChecks.hostName, 'web1')).all();
    expect(kept).toHaveLength(KEPT_CHECKS_PER_HOST);
    expect(kept.map((check) => check.id)).toContain(row.id);
  });

  it('closes the rows a stopped server left open as interrupted', () => {
    const id = recordCheckStart(db, 'web1', NOW).id;
    checks(fakeBorg(0, ''));
    expect(db.select().from(repositoryChecks).where(eq(repositoryChecks.id, id)).get()).toMatchObject({ outcome: 'interrupted' });
  });

  it('takes a queued request only for a host name', async () => {
    const calls: RunCall[] = [];
    db.update(hosts).set({ checkEverySeconds: null }).where(eq(hosts.name, 'web1')).run();
    const scheduler = checks(fakeBorg(0, '', calls));
    scheduler.request('../../etc');
    expect(await scheduler.tick()).toBeNull();
    scheduler.request('web1');
    await waitFor('the requested check', () => (calls.length > 0 ? true : undefined));
    expect(calls).toHaveLength(1);
  });

  it('runs an admin request now, and refuses one for a host in session', async () => {
    const scheduler = checks(fakeBorg(0, ''));
    expect(await scheduler.checkNow('web1')).toMatchObject({ outcome: 'ok' });
    addProcess(99_999_003, UID);
    expect(await codeOfAsync(() => scheduler.checkNow('web1'))).toBe('HOST_IN_SESSION');
    expect(await codeOfAsync(() => scheduler.checkNow('nobody'))).toBe('NOT_FOUND');
  });
});
