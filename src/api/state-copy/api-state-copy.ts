import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { statePaths } from '../../config.js';
import { openDatabase } from '../../db/connection.js';
import { AppError } from '../../errors.js';
import { packStateArchive, unpackStateArchive } from '../../state-archive/state-archive.js';
import { readRegularFileIfExists } from '../../untrusted-files.js';
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

/** The API's part as an archive of kind `api`; a file the API has not made yet (no database before its first start) is left out. */
export async function exportApiState(stateDir: string, options: { serverVersion: string; now: Date }): Promise<Buffer> {
  const paths = statePaths(stateDir);
  const files = [];
  if (existsSync(paths.database)) files.push({ path: DATABASE_ENTRY, content: await backUpDatabase(paths.database, paths.databaseDir) });
  const signingKey = readRegularFileIfExists(`${paths.signingKeyDir}/${SIGNING_KEY_FILE}`);
  if (signingKey !== null) files.push({ path: SIGNING_KEY_ENTRY, content: Buffer.from(signingKey) });
  return packStateArchive({ kind: 'api', serverVersion: options.serverVersion, createdAt: options.now, files });
}

/** SQLite's online backup: a consistent copy while other connections write (it starts over when they do). */
async function backUpDatabase(path: string, scratchParent: string): Promise<Buffer> {
  // A scratch directory of the API user's own, next to the database: the copy never sits where others can read.
  const scratch = mkdtempSync(`${scratchParent}/.state-copy-`);
  const db = openDatabase(path);
  try {
    await db.$client.backup(`${scratch}/borg.db`);
    return readFileSync(`${scratch}/borg.db`);
  } finally {
    db.$client.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Checks the API's part whole, then writes it into `targetDir` (an empty
 * directory root made for the API user, in the restore's staging area):
 * the database and the signing key, each 0600 in a 0700 directory.
 */
export function importApiState(archive: Buffer, targetDir: string): void {
  const { files } = unpackStateArchive(archive, { kind: 'api', isAllowedPath: (path) => API_STATE_PATHS.has(path) });
  if (readdirSync(targetDir).length > 0) throw new AppError('STATE_IN_USE', `${targetDir} is not empty`);
  const database = files.get(DATABASE_ENTRY);
  if (database) writeNewFile(`${targetDir}/borg.db`, database);
  const signingKey = files.get(SIGNING_KEY_ENTRY);
  if (signingKey) {
    mkdirSync(`${targetDir}/signing`, { mode: 0o700 });
    writeNewFile(`${targetDir}/${SIGNING_KEY_ENTRY}`, signingKey);
  }
}

function writeNewFile(path: string, content: Buffer): void {
  const descriptor = openSync(path, 'wx', 0o600);
  try {
    for (let written = 0; written < content.length; ) written += writeSync(descriptor, content, written);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
