import {
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/root-schema.js';
import { quotaAllowanceBytes } from '../../../../src/domain/borg-segments.js';
import { CONFIG_HISTORY_LIMITS } from '../../../../src/domain/config-versions.js';
import { findHost } from '../../../../src/host-records/hosts-store.js';
import { createSegmentScanner } from '../../../../src/root/borg-files/segment-scan.js';
import { createRepositoryWatch } from '../../../../src/root/watch/repository-watch.js';
import { serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { writeSegment } from '../../../support/borg-segment-files.js';
import { addHostRow } from '../../../support/host-rows.js';
import { reportedAuditEntries, reportedEvents, reportsOf } from '../../../support/root-reports.js';

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
let etcDir: string;
let db: Db;
/** The hosts whose accounts reconcile wrote (the test's passwd). */
let accounts: { name: string; uid: number }[];
let reconcileRequests: number;
let ticks: number;

/** A host, its repository and its account, as reconcile makes them. */
function addHost(name: string, uid: number, quotaBytes: number | null, appendOnly = true): string {
  addHostRow(db, name, NOW, { uid, appendOnly, quotaBytes });
  accounts.push({ name, uid });
  writeAccountDatabase(etcDir, backupDir, accounts);
  const repository = join(backupDir, name, 'repo');
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
  owners.set(repository, uid);
  return repository;
}

const owners = new Map<string, number>();

/** A segment as borg serve, running as the host, writes it: in directories the host owns. */
function hostSegment(repository: string, number: number, size: number, isCommitted: boolean): void {
  writeSegment(repository, number, size, isCommitted);
  const uid = owners.get(repository) as number;
  chownSync(join(repository, 'data'), uid, uid);
  for (const directory of readdirSync(join(repository, 'data'))) chownSync(join(repository, 'data', directory), uid, uid);
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
    serverAccounts: serverAccountsIn(etcDir, backupDir),
    procDir,
  });
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-watch-'));
  procDir = join(base, 'proc');
  backupDir = join(base, 'backups');
  etcDir = join(base, 'etc');
  accounts = [];
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  db = openMemoryRootDatabase();
  reconcileRequests = 0;
  ticks = 0;
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const actions = () => reportedAuditEntries(db).map((entry) => `${entry.action} ${entry.target}`);

describe('the repository watch and the quota', () => {
  it('ends the session whose open transaction takes the repository past its quota', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    hostSegment(repository, 1, 30_000_000, false);
    startSession(99_999_001, 20001);
    const watched = await createWatch().check();
    expect(watched).toEqual([expect.objectContaining({ name: 'small1', verdict: 'end-sessions' })]);
    expect(actions()).toEqual(['host.quota.end-sessions small1']);
  });

  it('removes the uncommitted segments a finished session left past the quota', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    const watch = createWatch();
    startSession(99_999_001, 20001);
    await watch.check();
    hostSegment(repository, 1, 30_000_000, false);
    endSession(99_999_001);
    expect(await watch.check()).toEqual([expect.objectContaining({ name: 'small1', verdict: 'clean-up' })]);
    expect(readdirSync(join(repository, 'data', '0'))).toEqual(['0']);
  });

  it('notices a session too short to be seen at its next sweep, by the change in the repository directory', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    const watch = createWatch();
    await watch.check();
    hostSegment(repository, 1, 30_000_000, false);
    writeFileSync(join(repository, 'lock.roster'), '{}');
    rmSync(join(repository, 'lock.roster'));
    expect(await watch.check()).toEqual([]);
    expect(await watch.check({ sweep: true })).toEqual([expect.objectContaining({ name: 'small1', verdict: 'clean-up' })]);
  });

  it('leaves alone a repository a forged row names outside the backup directory (../x)', async () => {
    // What a compromised API could write: a row whose name climbs out, pointing at someone else's files.
    const outside = addHost('x', 20001, 10_000_000);
    hostSegment(outside, 0, 500, true);
    hostSegment(outside, 1, 30_000_000, false);
    db.update(hosts).set({ name: '../x' }).where(eq(hosts.name, 'x')).run();
    rmSync(join(backupDir, '..', 'x'), { recursive: true, force: true });
    mkdirSync(join(backupDir, '..', 'x'));
    renameSync(join(backupDir, 'x', 'repo'), join(backupDir, '..', 'x', 'repo'));
    expect(await createWatch().check({ sweep: true })).toEqual([]);
    expect(readdirSync(join(backupDir, '..', 'x', 'repo', 'data', '0')).sort()).toEqual(['0', '1']);
    rmSync(join(backupDir, '..', 'x'), { recursive: true, force: true });
  });

  it('neither counts, ends nor cleans up after the sessions of a UID whose account the server did not make', async () => {
    // alice (54321) is an admin's own login with a directory in the backups; the row naming her is forged.
    const foreign = addHost('alice', 54_321, 10_000_000);
    accounts.pop();
    writeAccountDatabase(etcDir, backupDir, accounts);
    hostSegment(foreign, 0, 500, true);
    hostSegment(foreign, 1, 30_000_000, false);
    startSession(99_999_001, 54_321);
    const watch = createWatch();
    expect(await watch.check({ sweep: true })).toEqual([]);
    endSession(99_999_001);
    expect(await watch.check({ sweep: true })).toEqual([]);
    expect(readdirSync(join(foreign, 'data', '0')).sort()).toEqual(['0', '1']);
    expect(reportsOf(db).filter((report) => report.kind === 'session-ended')).toEqual([]);
    expect(actions()).toEqual([]);
  });

  it("leaves alone a host whose row was given another account's UID", async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    hostSegment(repository, 1, 30_000_000, false);
    db.update(hosts).set({ uid: 54_321 }).where(eq(hosts.name, 'small1')).run();
    startSession(99_999_001, 54_321);
    expect(await createWatch().check({ sweep: true })).toEqual([]);
    expect(readdirSync(join(repository, 'data', '0')).sort()).toEqual(['0', '1']);
    expect(actions()).toEqual([]);
  });

  it('disables an append-only host whose committed history is past its quota', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 12_000_000, true);
    startSession(99_999_001, 20001);
    expect(await createWatch().check()).toEqual([expect.objectContaining({ verdict: 'disable' })]);
    expect(findHost(db, 'small1')?.status).toBe('disabled');
    expect(reconcileRequests).toBe(1);
    expect(actions()).toEqual(['host.quota.disable small1']);
  });

  it('reports a webhook event to the API when it disables a host, for quota or for config churn', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 12_000_000, true);
    startSession(99_999_001, 20001);
    await createWatch().check();
    const events = reportedEvents(db);
    expect(events.map((event) => [event.type, event.host])).toEqual([['host.quota.disabled', 'small1']]);
    expect(events[0]?.data).toMatchObject({ quotaBytes: 10_000_000 });
  });

  it('leaves a host in a full-access window past its quota in committed data to compact', async () => {
    const repository = addHost('full1', 20002, 10_000_000);
    db.update(hosts)
      .set({ fullAccessUntil: new Date(NOW.getTime() + 3_600_000) })
      .where(eq(hosts.name, 'full1'))
      .run();
    hostSegment(repository, 0, 12_000_000, true);
    startSession(99_999_002, 20002);
    expect(await createWatch().check()).toEqual([expect.objectContaining({ verdict: 'within' })]);
    expect(findHost(db, 'full1')?.status).toBe('active');
  });

  it('disables a host that is not append-only whose committed data is past its quota', async () => {
    const repository = addHost('full2', 20006, 10_000_000, false);
    hostSegment(repository, 0, 12_000_000, true);
    startSession(99_999_006, 20006);
    expect(await createWatch().check()).toEqual([expect.objectContaining({ verdict: 'disable' })]);
    expect(findHost(db, 'full2')?.status).toBe('disabled');
  });

  it('counts many tiny segments by the blocks they take, past the quota', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    mkdirSync(join(repository, 'data', '1'));
    for (let number = 1000; number < 4000; number += 1) {
      const directory = join(repository, 'data', String(Math.floor(number / 1000)));
      mkdirSync(directory, { recursive: true });
      writeFileSync(join(directory, String(number)), 'BORG_SEG!');
    }
    for (const directory of ['1', '2', '3']) chownSync(join(repository, 'data', directory), 20001, 20001);
    startSession(99_999_001, 20001);
    // 3,000 files of 9 bytes: 27 kB by their sizes, 12 MB of blocks.
    expect(await createWatch().check()).toEqual([expect.objectContaining({ verdict: 'end-sessions' })]);
  });

  it("neither counts nor deletes what the host's links point at (a segment directory, a segment)", async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    const outside = join(base, 'root-dir');
    writeSegment(outside, 1, 30_000_000, false);
    writeFileSync(join(base, 'root-file'), Buffer.alloc(30_000_000));
    rmSync(join(repository, 'data', '0'), { recursive: true });
    symlinkSync(join(outside, 'data', '0'), join(repository, 'data', '0'));
    mkdirSync(join(repository, 'data', '1'));
    chownSync(join(repository, 'data', '1'), 20001, 20001);
    symlinkSync(join(base, 'root-file'), join(repository, 'data', '1', '1001'));
    expect(await createWatch().check()).toEqual([expect.objectContaining({ verdict: 'within' })]);
    expect(readdirSync(join(outside, 'data', '0'))).toEqual(['1']);
    expect(statSync(join(base, 'root-file')).size).toBe(30_000_000);
  });

  it('does not look again at a repository nobody used since the last look or sweep', async () => {
    const repository = addHost('idle1', 20003, 10_000_000);
    hostSegment(repository, 0, 500, true);
    const watch = createWatch();
    expect((await watch.check()).map((host) => host.name)).toEqual(['idle1']);
    expect(await watch.check()).toEqual([]);
    expect(await watch.check({ sweep: true })).toEqual([]);
  });

  it('starts no second look while one runs, and keeps a sweep asked for meanwhile for the next look', async () => {
    const repository = addHost('small1', 20001, 10_000_000);
    hostSegment(repository, 0, 500, true);
    const watch = createWatch();
    await watch.check();
    hostSegment(repository, 1, 30_000_000, false);
    writeFileSync(join(repository, 'lock.roster'), '{}');
    rmSync(join(repository, 'lock.roster'));
    const first = watch.check();
    expect(watch.check({ sweep: true })).toBe(first);
    expect(await first).toEqual([]);
    expect(await watch.check()).toEqual([expect.objectContaining({ name: 'small1', verdict: 'clean-up' })]);
  });

  it('reads the hosts again when told they changed', async () => {
    const watch = createWatch();
    await watch.check();
    addHost('new1', 20005, 10_000_000);
    startSession(99_999_005, 20005);
    expect(await watch.check()).toEqual([]);
    watch.refreshHosts();
    expect((await watch.check()).map((host) => host.name)).toEqual(['new1']);
  });
});

describe.runIf(isRoot)('the repository watch and the repository config', () => {
  it('keeps a copy of each new version of the config, where the host cannot reach it', async () => {
    const repository = addHost('web1', 20004, null);
    writeFileSync(join(repository, 'config'), '[repository]\nkey = original\n');
    const watch = createWatch();
    expect(await watch.check()).toEqual([expect.objectContaining({ name: 'web1', configRecorded: true })]);
    startSession(99_999_004, 20004);
    expect(await watch.check()).toEqual([expect.objectContaining({ configRecorded: false })]);
    writeFileSync(join(repository, 'config'), '[repository]\nkey = replaced\n');
    expect(await watch.check()).toEqual([expect.objectContaining({ configRecorded: true })]);
    const history = join(backupDir, 'web1', 'repo-config-history');
    expect(readdirSync(history)).toHaveLength(2);
    expect(statSync(history)).toMatchObject({ uid: 0, gid: 0, mode: 0o40700 });
  });
});

describe.runIf(isRoot)('the repository watch and a host that churns its config', () => {
  const history = () => readdirSync(join(backupDir, 'web1', 'repo-config-history'));

  it('keeps the history within its cap, the first version included, and disables the host once it churns', async () => {
    const repository = addHost('web1', 20004, null);
    startSession(99_999_004, 20004);
    const watch = createWatch();
    for (let version = 0; version < 30; version += 1) {
      writeFileSync(join(repository, 'config'), `[repository]\nkey = version ${version}\n`);
      await watch.check();
    }
    expect(history().length).toBeLessThanOrEqual(CONFIG_HISTORY_LIMITS.maxVersions);
    expect(readFileSync(join(backupDir, 'web1', 'repo-config-history', history().sort()[0] as string), 'utf8')).toContain('version 0');
    expect(findHost(db, 'web1')?.status).toBe('disabled');
    expect(actions()).toEqual(['host.config-churn.disable web1']);
    expect(reconcileRequests).toBe(1);
  });

  it('counts the kept versions against the quota', async () => {
    const repository = addHost('web1', 20004, 10_000_000);
    startSession(99_999_004, 20004);
    hostSegment(repository, 0, 10_000_000 + quotaAllowanceBytes(10_000_000) - 4096, true);
    writeFileSync(join(repository, 'config'), '[repository]\nkey = original\n');
    expect(await createWatch().check()).toEqual([expect.objectContaining({ configRecorded: true, verdict: 'disable' })]);
  });

  it('keeps no copy of what a config that is a link points at', async () => {
    const repository = addHost('web1', 20004, null);
    writeFileSync(join(base, 'root-secret'), 'root only\n');
    symlinkSync(join(base, 'root-secret'), join(repository, 'config'));
    expect(await createWatch().check()).toEqual([expect.objectContaining({ configRecorded: false })]);
    expect(existsSync(join(backupDir, 'web1', 'repo-config-history'))).toBe(false);
  });
});

describe('the repository watch and an idle repository', () => {
  /** Short enough for a test, longer than any kernel tick (the files' timestamps are that coarse). */
  const RACY_WINDOW_MS = 50;
  let scans: number;

  function createCountingWatch(racyWindowMs = RACY_WINDOW_MS) {
    const scanner = createSegmentScanner();
    scans = 0;
    return createRepositoryWatch({
      db,
      backupDir,
      logger: pino({ level: 'silent' }),
      now: () => new Date(NOW.getTime() + 1000 * ticks++),
      requestReconcile: async () => {},
      serverAccounts: serverAccountsIn(etcDir, backupDir),
      procDir,
      racyWindowMs,
      scanner: {
        scan(repository, uid) {
          scans += 1;
          return scanner.scan(repository, uid);
        },
        get statsDone() {
          return scanner.statsDone;
        },
      },
    });
  }

  function newestChangeNs(path: string): bigint {
    const stats = lstatSync(path, { bigint: true });
    let newest = stats.ctimeNs;
    if (stats.mtimeNs > newest) newest = stats.mtimeNs;
    if (stats.isDirectory())
      for (const name of readdirSync(path)) {
        const inner = newestChangeNs(join(path, name));
        if (inner > newest) newest = inner;
      }
    return newest;
  }

  /** Waits until the repository's last change is older than the racy window: from then on its stamp can be trusted. */
  async function settle(repository: string): Promise<void> {
    const after = newestChangeNs(join(repository, '..')) + BigInt(RACY_WINDOW_MS + 1) * 1_000_000n;
    while (BigInt(Date.now()) * 1_000_000n <= after) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  async function idleHostInSession(): Promise<string> {
    const repository = addHost('idle1', 20003, 10_000_000);
    hostSegment(repository, 0, 500, true);
    hostSegment(repository, 1, 500, true);
    // An open transaction, as borg writes it: the newest segment, above the last commit.
    hostSegment(repository, 2, 500, false);
    writeFileSync(join(repository, 'config'), '[repository]\nid = 1\n');
    startSession(99_999_003, 20003);
    await settle(repository);
    return repository;
  }

  /** A host in session whose repository the watch has read once and then left alone at a second look. */
  async function settledIdleWatch() {
    const repository = await idleHostInSession();
    const watch = createCountingWatch();
    await watch.check();
    await watch.check();
    expect(scans).toBe(1);
    return { repository, watch };
  }

  it('reads a repository in session again only when something in it changed, and in full at every sweep', async () => {
    await idleHostInSession();
    const watch = createCountingWatch();
    await watch.check();
    expect(scans).toBe(1);
    expect((await watch.check()).map((host) => host.name)).toEqual(['idle1']);
    await watch.check();
    expect(scans).toBe(1);
    await watch.check({ sweep: true });
    expect(scans).toBe(2);
  });

  it('reads it again after a write to the newest segment, and ends the session that goes past the quota', async () => {
    const { repository, watch } = await settledIdleWatch();
    const descriptor = openSync(join(repository, 'data', '0', '2'), 'a');
    writeSync(descriptor, Buffer.alloc(30_000_000));
    closeSync(descriptor);
    expect(await watch.check()).toEqual([expect.objectContaining({ name: 'idle1', verdict: 'end-sessions' })]);
    expect(scans).toBe(2);
  });

  it('reads it again after a new segment in a new segment directory', async () => {
    const { repository, watch } = await settledIdleWatch();
    hostSegment(repository, 1000, 30_000_000, false);
    expect(await watch.check()).toEqual([expect.objectContaining({ name: 'idle1', verdict: 'end-sessions' })]);
    expect(scans).toBe(2);
  });

  it.runIf(isRoot)('reads it again after the config changed, and keeps the new version', async () => {
    const repository = await idleHostInSession();
    const watch = createCountingWatch();
    expect(await watch.check()).toEqual([expect.objectContaining({ configRecorded: true })]);
    await settle(repository);
    expect(await watch.check()).toEqual([expect.objectContaining({ configRecorded: false })]);
    const scansBefore = scans;
    writeFileSync(join(repository, 'config.tmp'), '[repository]\nid = 2\n');
    renameSync(join(repository, 'config.tmp'), join(repository, 'config'));
    expect(await watch.check()).toEqual([expect.objectContaining({ configRecorded: true })]);
    expect(scans).toBe(scansBefore + 1);
  });

  it('trusts no stamp of a repository changed just before the look (timestamps are coarse)', async () => {
    const repository = await idleHostInSession();
    const watch = createCountingWatch(60_000);
    hostSegment(repository, 3, 500, false);
    await watch.check();
    await watch.check();
    expect(scans).toBe(2);
  });

  it('reads it in full at the first look after the hosts changed', async () => {
    await idleHostInSession();
    const watch = createCountingWatch();
    await watch.check();
    await watch.check();
    expect(scans).toBe(1);
    watch.refreshHosts();
    await watch.check();
    expect(scans).toBe(2);
  });
});
