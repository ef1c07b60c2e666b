import { existsSync } from 'node:fs';
import { type Db, migrateRootDatabase, openDatabase } from '../db/connection.js';
import { ensureDirectory } from './files/directories.js';

/**
 * Opens root's own database (STATE/root/root.db) in a directory only root
 * can enter, so that no other user can write, lock or replace a file root
 * runs statements in. `isNew` tells a first start (of this version), when an
 * existing state volume's hosts are brought over (src/root/upgrade/legacy-state.ts).
 */
export function openRootDatabase(rootDir: string, path: string): { db: Db; isNew: boolean } {
  ensureDirectory(rootDir, { uid: 0, gid: 0, mode: 0o700 });
  const isNew = !existsSync(path);
  const db = openDatabase(path);
  migrateRootDatabase(db);
  return { db, isNew };
}
