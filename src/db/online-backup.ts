import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { openDatabase } from './connection.js';

/**
 * SQLite's online backup of the database at `path`: a consistent copy while
 * other connections write (it starts over when they do). It goes through a
 * scratch directory made in `scratchParent`, the caller's own directory next
 * to the database, so that the copy never sits where others can read it.
 */
export async function backUpDatabaseFile(path: string, scratchParent: string): Promise<Buffer> {
  const scratch = mkdtempSync(`${scratchParent}/.state-copy-`);
  const db = openDatabase(path);
  try {
    await db.$client.backup(`${scratch}/copy.db`);
    return readFileSync(`${scratch}/copy.db`);
  } finally {
    db.$client.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
