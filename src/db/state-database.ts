import { chownSync, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Db, openDatabase } from './connection.js';

/**
 * Opens the server's database. The API runs as an unprivileged user and must
 * own every database file; when root opens it (serve, docker exec borgctl),
 * files SQLite just created (-wal, -shm) are handed to the directory's owner.
 */
export function openStateDatabase(path: string): Db {
  const db = openDatabase(path);
  db.$client.prepare('select count(*) from sqlite_master').get();
  if (process.getuid?.() === 0) giveDatabaseFilesToDirectoryOwner(path);
  return db;
}

export function giveDatabaseFilesToDirectoryOwner(path: string): void {
  const owner = statSync(dirname(path));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    const stats = statSync(file);
    if (stats.uid !== owner.uid || stats.gid !== owner.gid) chownSync(file, owner.uid, owner.gid);
  }
}
