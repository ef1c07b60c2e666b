import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiStateImport, exportApiState, importApiState } from '../../../../src/api/state-copy/api-state-copy.js';
import { statePaths } from '../../../../src/config.js';
import { migrateDatabase, migrateRootDatabase, openDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/schema.js';
import { CommandFailed, type Run } from '../../../../src/process/run.js';
import { restoreServerState } from '../../../../src/root/state-backup/restore-server-state.js';
import { makeServerStateCopy } from '../../../../src/root/state-backup/server-state-copy.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { addHostRow } from '../../../support/host-rows.js';

/**
 * A server state copied and put back, with the API user's process run in
 * this one (a fake `run` that calls its functions): what lands where, with
 * which modes, and that a refused or failed restore leaves nothing behind.
 */

const AT = new Date('2026-12-05T20:00:00.000Z');
const account = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

/** The API user's process, in-process: export and import as src/api/state-copy/main.ts does them. */
const apiProcess: Run = async (_file, arguments_, options) => {
  const [, action, directory = ''] = arguments_;
  if (action === 'export')
    return { stdout: (await exportApiState(directory, { serverVersion: '0.1.0', now: AT })).toString('base64'), stderr: '' };
  importApiState(apiStateImport.parse(JSON.parse(options.input ?? '')), directory);
  return { stdout: '', stderr: '' };
};

function hostNames(path: string): string[] {
  const db = openDatabase(path);
  try {
    return db
      .select({ name: hosts.name })
      .from(hosts)
      .all()
      .map((row) => row.name)
      .sort();
  } finally {
    db.$client.close();
  }
}

describe('restoreServerState', () => {
  let dir: string;
  let source: string;
  let target: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'state-restore-'));
    source = join(dir, 'source');
    target = join(dir, 'target');
    const paths = statePaths(source);
    for (const path of [source, paths.rootDir, paths.databaseDir, paths.signingKeyDir, paths.sshDir, paths.tlsDir]) mkdirSync(path);
    // Root serves db1 and new1; the API's copy, made a moment later or earlier, knows db1 and gone1.
    const rootDb = openDatabase(paths.rootDatabase);
    migrateRootDatabase(rootDb);
    addHostRow(rootDb, 'db1', AT);
    addHostRow(rootDb, 'new1', AT);
    rootDb.$client.close();
    const apiDb = openDatabase(paths.database);
    migrateDatabase(apiDb);
    addHostRow(apiDb, 'db1', AT);
    addHostRow(apiDb, 'gone1', AT);
    apiDb.$client.close();
    writeFileSync(`${paths.signingKeyDir}/enrollment-signing-key.jwk`, '{"kty":"OKP"}\n');
    writeFileSync(`${paths.sshDir}/ssh_host_ed25519_key`, 'private host key\n');
    writeFileSync(`${paths.sshDir}/ssh_host_ed25519_key.pub`, 'ssh-ed25519 AAAA\n');
    writeFileSync(`${paths.sshDir}/sshd_config`, 'written by reconcile\n');
    writeFileSync(`${paths.tlsDir}/certificate.pem`, 'certificate\n');
    writeFileSync(`${paths.tlsDir}/key.pem`, 'tls key\n');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const copy = () => makeServerStateCopy({ stateDir: source, apiAccount: account, serverVersion: '0.1.0', now: AT, run: apiProcess });

  it("puts root's files, the host keys, the TLS pair and the API's part back with their modes, and nothing else", async () => {
    const manifest = await restoreServerState({ archive: await copy(), stateDir: target, apiAccount: account, run: apiProcess });
    expect(manifest.files.map((file) => file.path).sort()).toEqual([
      'api/state.tar',
      'root/root.db',
      'ssh/ssh_host_ed25519_key',
      'ssh/ssh_host_ed25519_key.pub',
      'tls/certificate.pem',
      'tls/key.pem',
    ]);
    const paths = statePaths(target);
    expect(readdirSync(target).sort()).toEqual(['db', 'root', 'ssh', 'tls']);
    const modeOf = (path: string) => (statSync(path).mode & 0o7777).toString(8);
    expect(modeOf(target)).toBe('711');
    expect(modeOf(paths.rootDir)).toBe('700');
    expect(modeOf(paths.rootDatabase)).toBe('600');
    expect(modeOf(paths.databaseDir)).toBe('700');
    expect(modeOf(paths.database)).toBe('600');
    expect(modeOf(`${paths.sshDir}/ssh_host_ed25519_key`)).toBe('600');
    expect(modeOf(`${paths.sshDir}/ssh_host_ed25519_key.pub`)).toBe('644');
    expect(modeOf(paths.tlsKey)).toBe('640');
    expect(readdirSync(paths.sshDir).sort()).toEqual(['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
    expect(readFileSync(`${paths.signingKeyDir}/enrollment-signing-key.jwk`, 'utf8')).toBe('{"kty":"OKP"}\n');
    expect(readFileSync(paths.tlsKey, 'utf8')).toBe('tls key\n');
    expect(hostNames(paths.rootDatabase)).toEqual(['db1', 'new1']);
    // The API's copy of the hosts matches root's: the host root does not serve is gone, the one it lacked is there.
    expect(hostNames(paths.database)).toEqual(['db1', 'new1']);
    expect(readdirSync(paths.databaseDir).sort()).toEqual(['borg.db', 'signing']);
  });

  it('refuses a state directory that holds anything but lost+found, and changes nothing', async () => {
    const archive = await copy();
    mkdirSync(target);
    mkdirSync(join(target, 'lost+found'));
    writeFileSync(join(target, 'leftover'), '');
    expect(await codeOfAsync(() => restoreServerState({ archive, stateDir: target, apiAccount: account, run: apiProcess }))).toBe(
      'STATE_IN_USE',
    );
    expect(readdirSync(target).sort()).toEqual(['leftover', 'lost+found']);
    rmSync(join(target, 'leftover'));
    await restoreServerState({ archive, stateDir: target, apiAccount: account, run: apiProcess });
    expect(readdirSync(target).sort()).toEqual(['db', 'lost+found', 'root', 'ssh', 'tls']);
  });

  it.each([
    { applied: 7, expected: 3, case: 'applied reports root gave out after its copy: back to its last id' },
    { applied: 2, expected: 2, case: "not yet applied all of root's copy: kept, the rest comes again" },
  ])("the API's report cursor after a restore, when the API had $case", async ({ applied, expected }) => {
    // Root gave out reports 1 to 3 and the API acknowledged them (so they are gone from root's outbox).
    const rootDb = openDatabase(statePaths(source).rootDatabase);
    for (let id = 1; id <= 3; id += 1) rootDb.$client.prepare("insert into root_reports (report, created_at) values ('{}', 0)").run();
    rootDb.$client.exec('delete from root_reports');
    rootDb.$client.close();
    const apiDb = openDatabase(statePaths(source).database);
    apiDb.$client.prepare('insert into applied_root_reports (id, last_report_id) values (1, ?)').run(applied);
    apiDb.$client.close();

    await restoreServerState({ archive: await copy(), stateDir: target, apiAccount: account, run: apiProcess });
    const restored = openDatabase(statePaths(target).database);
    try {
      expect(restored.$client.prepare('select last_report_id as id from applied_root_reports').get()).toEqual({ id: expected });
    } finally {
      restored.$client.close();
    }
  });

  it("leaves the state directory empty when the API user's process refuses its part", async () => {
    const refusing: Run = async () => {
      throw new CommandFailed(
        '/usr/bin/node',
        1,
        false,
        'not a valid server state archive: borg.db does not match its checksum in the manifest\n',
      );
    };
    const restore = restoreServerState({ archive: await copy(), stateDir: target, apiAccount: account, run: refusing });
    await expect(restore).rejects.toThrow(/the API's part: not a valid server state archive: borg\.db does not match/);
    expect(readdirSync(target)).toEqual([]);
  });

  it("refuses an API part whose bytes changed, in the API user's process, before it writes", async () => {
    const apiDir = join(dir, 'api-target');
    mkdirSync(apiDir);
    const exported = await exportApiState(source, { serverVersion: '0.1.0', now: AT });
    // A byte of the database's first page, past its header.
    const changed = exported.indexOf('SQLite format 3') + 200;
    exported[changed] = (exported[changed] as number) ^ 1;
    expect(() => importApiState({ archive: exported.toString('base64'), hosts: [], lastReportId: 0 }, apiDir)).toThrow(
      /borg\.db does not match its checksum/,
    );
    expect(readdirSync(apiDir)).toEqual([]);
  });
});
