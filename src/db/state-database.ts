import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../errors.js';
import { type Account, asAccount } from '../provision/effective-account.js';
import { checkRegularFileOrAbsent, giveRegularFileTo } from '../provision/untrusted-files.js';
import { type Db, openDatabase } from './connection.js';

/**
 * Opens the server's database. The API runs as an unprivileged user and owns
 * the database directory and every file in it. Root (serve, docker exec
 * borgctl) never follows a name there: borg.db, -wal and -shm must be regular
 * files (a link the API user planted stops the open with UNSAFE_PATH), and
 * SQLite opens or creates them as the directory's owner, so even a name
 * swapped after the check reaches nothing the API user could not.
 */
export function openStateDatabase(path: string): Db {
  if (process.geteuid?.() !== 0) return openAndRead(path);
  const owner = databaseDirectoryOwner(path);
  giveDatabaseFilesToDirectoryOwner(path);
  return asAccount(owner, () => openAndRead(path));
}

function openAndRead(path: string): Db {
  const db = openDatabase(path);
  db.$client.prepare('select count(*) from sqlite_master').get();
  return db;
}

/** The owner of the directory the database lives in (the API user), which must be a real directory. */
export function databaseDirectoryOwner(path: string): Account {
  const directory = dirname(path);
  const stats = lstatSync(directory);
  if (!stats.isDirectory()) throw new AppError('UNSAFE_PATH', `refusing ${directory}: it is not a directory`);
  return { uid: stats.uid, gid: stats.gid };
}

/**
 * Hands database files root made (older versions opened the database as
 * root) to the directory's owner, through their descriptors; refuses links.
 */
export function giveDatabaseFilesToDirectoryOwner(path: string): void {
  const owner = databaseDirectoryOwner(path);
  const files = [path, `${path}-wal`, `${path}-shm`];
  for (const file of files) checkRegularFileOrAbsent(file);
  for (const file of files) giveRegularFileTo(file, owner);
}
