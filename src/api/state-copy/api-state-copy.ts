import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type HostRowMessage, hostRowMessage } from '../../channel/host-row.js';
import { statePaths } from '../../config.js';
import { migrateDatabase, openDatabase } from '../../db/connection.js';
import { backUpDatabaseFile } from '../../db/online-backup.js';
import { appliedRootReports, hosts } from '../../db/schema.js';
import { writeNewFileSynced } from '../../durable-files.js';
import { AppError } from '../../errors.js';
import { packStateArchive, unpackStateArchive } from '../../state-archive/state-archive.js';
import { readRegularFileIfExists } from '../../untrusted-files.js';
import { copyHostRow, forgetHost } from '../hosts/host-copies.js';
import { SIGNING_KEY_FILE } from '../tokens/signing-key.js';

/**
 * The API's part of a server state copy, made and put back by a process of
 * the API user (root never opens a file in STATE/db): its database, copied
 * with SQLite's online backup while the API runs, and the key that signs
 * enrollment tokens (tokens handed out before stay valid after a restore).
 */

const DATABASE_ENTRY = 'borg.db';
const SIGNING_KEY_ENTRY = `signing/${SIGNING_KEY_FILE}`;
const API_STATE_PATHS = new Set([DATABASE_ENTRY, SIGNING_KEY_ENTRY]);
/** More hosts than the UID range holds. */
const MAX_HOSTS = 60_000;

/** The API's part as an archive of kind `api`; a file the API has not made yet (no database before its first start) is left out. */
export async function exportApiState(stateDir: string, options: { serverVersion: string; now: Date }): Promise<Buffer> {
  const paths = statePaths(stateDir);
  const files = [];
  if (existsSync(paths.database))
    files.push({ path: DATABASE_ENTRY, content: await backUpDatabaseFile(paths.database, paths.databaseDir) });
  const signingKey = readRegularFileIfExists(`${paths.signingKeyDir}/${SIGNING_KEY_FILE}`);
  if (signingKey !== null) files.push({ path: SIGNING_KEY_ENTRY, content: Buffer.from(signingKey) });
  return packStateArchive({ kind: 'api', serverVersion: options.serverVersion, createdAt: options.now, files });
}

/** What root hands the API user's process at a restore: the API's part as it was copied, and the hosts root's restored database serves. */
export const apiStateImport = z.strictObject({
  archive: z.string(),
  hosts: z.array(hostRowMessage).max(MAX_HOSTS),
  lastReportId: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

/**
 * Checks the API's part whole, then writes it into `targetDir` (an empty
 * directory root made for the API user, in the restore's staging area):
 * the database and the signing key, each 0600 in a 0700 directory. The two
 * databases were copied one after the other, so a host changed in between
 * may be known to one only: the API's copy of the hosts is made to match
 * root's rows, as root's reports would (root's row wins, a host root does
 * not serve goes). And the API may have applied reports root gave out after
 * its own copy: root numbers its next reports from its copy's last id, so the
 * API's cursor goes back to that id, or those would be taken as applied.
 */
export function importApiState(input: z.infer<typeof apiStateImport>, targetDir: string): void {
  const { files } = unpackStateArchive(Buffer.from(input.archive, 'base64'), {
    kind: 'api',
    isAllowedPath: (path) => API_STATE_PATHS.has(path),
  });
  if (readdirSync(targetDir).length > 0) throw new AppError('STATE_IN_USE', `${targetDir} is not empty`);
  const database = files.get(DATABASE_ENTRY);
  if (database) writeNewFileSynced(`${targetDir}/borg.db`, database);
  const signingKey = files.get(SIGNING_KEY_ENTRY);
  if (signingKey) {
    mkdirSync(`${targetDir}/signing`, { mode: 0o700 });
    writeNewFileSynced(`${targetDir}/${SIGNING_KEY_ENTRY}`, signingKey);
  }
  matchRoot(`${targetDir}/borg.db`, input);
}

function matchRoot(path: string, root: { hosts: HostRowMessage[]; lastReportId: number }): void {
  const db = openDatabase(path);
  try {
    migrateDatabase(db);
    const served = new Set(root.hosts.map((host) => host.name));
    db.transaction((tx) => {
      for (const { name } of tx.select({ name: hosts.name }).from(hosts).all()) if (!served.has(name)) forgetHost(tx, name);
      for (const host of root.hosts) copyHostRow(tx, host);
      tx.update(appliedRootReports)
        .set({ lastReportId: sql`min(${appliedRootReports.lastReportId}, ${root.lastReportId})` })
        .run();
    });
    // One file again (the restored state is moved into place as it is): no -wal or -shm beside it.
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.$client.close();
  }
}
