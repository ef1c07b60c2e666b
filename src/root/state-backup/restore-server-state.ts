import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type HostRowMessage, toHostRowMessage } from '../../channel/host-row.js';
import { statePaths } from '../../config.js';
import { migrateRootDatabase, openDatabase } from '../../db/connection.js';
import { hosts } from '../../db/root-schema.js';
import { AppError } from '../../errors.js';
import { CommandFailed, type Run } from '../../process/run.js';
import { type StateManifest, unpackStateArchive } from '../../state-archive/state-archive.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { ensureDirectory } from '../files/directories.js';
import { API_PART_PATH, ROOT_DATABASE_PATH, SERVER_STATE_PATHS } from './server-state-copy.js';

const API_STATE_COPY_ENTRY = fileURLToPath(new URL('../../api/state-copy/main.js', import.meta.url));
const API_PART_TIMEOUT_MS = 10 * 60_000;
/** Where a restore assembles the state before it moves it into place; one left by a crash is removed by the next restore. */
const STAGING_PREFIX = '.restore-';
/** What a fresh volume may hold and still count as empty. */
const IGNORED_ENTRIES = new Set(['lost+found']);

const ROOT_ONLY = { uid: 0, gid: 0 } as const;

/**
 * What the API's part must be made to match (as root tells the API): the hosts
 * the restored root database serves (migrated, as serve would), and the last
 * report id it ever gave out.
 */
function restoredRootView(path: string): { hosts: HostRowMessage[]; lastReportId: number } {
  const db = openDatabase(path);
  try {
    migrateRootDatabase(db);
    const rows = db.select().from(hosts).all().map(toHostRowMessage);
    const sequence = db.$client.prepare("select seq from sqlite_sequence where name = 'root_reports'").get() as { seq: number } | undefined;
    // One file again, as it was copied: no -wal or -shm beside it when it is moved into place.
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
    return { hosts: rows, lastReportId: sequence?.seq ?? 0 };
  } finally {
    db.$client.close();
  }
}

/** Entries of the state directory that make it a server state already (none: it may be restored into). */
export function stateDirectoryEntries(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  return readdirSync(stateDir).filter((entry) => !IGNORED_ENTRIES.has(entry) && !entry.startsWith(STAGING_PREFIX));
}

/**
 * `borgctl state restore`: puts a copy back into an empty state directory,
 * for `borgctl serve` to start on (its reconcile then makes each host's
 * account again with the UID root's database holds). The whole copy is
 * checked before anything is written; everything is assembled in a staging
 * directory, with the owners and modes serve gives them, then moved into
 * place; a failure removes what was written. The API's part is checked and
 * written by a process of the API user, into a directory of its own, told
 * the hosts root's database serves (the two databases were copied one after
 * the other: the API's copy of the hosts is made to match root's).
 */
export async function restoreServerState(options: {
  archive: Buffer;
  stateDir: string;
  apiAccount: { uid: number; gid: number };
  run: Run;
}): Promise<StateManifest> {
  const { stateDir, apiAccount, run } = options;
  const { manifest, files } = unpackStateArchive(options.archive, {
    kind: 'server',
    isAllowedPath: (path) => SERVER_STATE_PATHS.has(path),
  });
  const rootDatabase = files.get(ROOT_DATABASE_PATH);
  const apiPart = files.get(API_PART_PATH);
  if (!rootDatabase || !apiPart) {
    throw new AppError('STATE_ARCHIVE_INVALID', `not a valid server state archive: it lacks ${ROOT_DATABASE_PATH} or ${API_PART_PATH}`);
  }
  const present = stateDirectoryEntries(stateDir);
  if (present.length > 0) {
    throw new AppError(
      'STATE_IN_USE',
      `${stateDir} already holds a server state (${present.sort().join(', ')}): restore only into an empty state volume`,
    );
  }

  mkdirSync(stateDir, { recursive: true });
  ensureDirectory(stateDir, { ...ROOT_ONLY, mode: 0o711 });
  for (const entry of readdirSync(stateDir).filter((name) => name.startsWith(STAGING_PREFIX))) {
    rmSync(`${stateDir}/${entry}`, { recursive: true, force: true });
  }
  const staging = mkdtempSync(`${stateDir}/${STAGING_PREFIX}`);
  const moved: string[] = [];
  try {
    // The API user's process must reach its directory inside.
    chmodSync(staging, 0o711);
    const paths = statePaths(staging);
    ensureDirectory(paths.rootDir, { ...ROOT_ONLY, mode: 0o700 });
    writeFileAtomically(paths.rootDatabase, rootDatabase, { ...ROOT_ONLY, mode: 0o600 });
    ensureDirectory(paths.sshDir, { ...ROOT_ONLY, mode: 0o711 });
    ensureDirectory(paths.databaseDir, { ...apiAccount, mode: 0o700 });
    for (const [path, content] of files) {
      if (path.startsWith('ssh/')) {
        writeFileAtomically(`${staging}/${path}`, content, { ...ROOT_ONLY, mode: path.endsWith('.pub') ? 0o644 : 0o600 });
      } else if (path.startsWith('tls/')) {
        // As serve keeps the pair it serves: root's directory and files, readable by the API user's group.
        ensureDirectory(paths.tlsDir, { uid: 0, gid: apiAccount.gid, mode: 0o750 });
        writeFileAtomically(`${staging}/${path}`, content, { uid: 0, gid: apiAccount.gid, mode: path.endsWith('key.pem') ? 0o640 : 0o644 });
      }
    }
    await run(process.execPath, [API_STATE_COPY_ENTRY, 'import', paths.databaseDir], {
      timeoutMs: API_PART_TIMEOUT_MS,
      input: JSON.stringify({ archive: apiPart.toString('base64'), ...restoredRootView(paths.rootDatabase) }),
      ...apiAccount,
    }).catch((error: unknown) => {
      // The API user's process says why (a bad archive of its part): that reason, not "node exited with 1".
      const reason = error instanceof CommandFailed ? error.stderr.trim().split('\n').at(-1) : undefined;
      throw reason ? new AppError('STATE_ARCHIVE_INVALID', `the API's part: ${reason}`) : error;
    });
    // Root's database last: a state without it is one serve would not take for a restored server.
    for (const name of ['ssh', 'tls', 'db', 'root']) {
      if (!existsSync(`${staging}/${name}`)) continue;
      renameSync(`${staging}/${name}`, `${stateDir}/${name}`);
      moved.push(name);
    }
    rmSync(staging, { recursive: true, force: true });
    return manifest;
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    for (const name of moved) rmSync(`${stateDir}/${name}`, { recursive: true, force: true });
    throw error;
  }
}
