import { fileURLToPath } from 'node:url';
import Database, { type RunResult } from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** The database or a transaction on it: what query functions take first. */
export type Queryable = BaseSQLiteDatabase<'sync', RunResult, typeof schema>;

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Opens the database with WAL, a busy timeout, foreign keys on and transactions that take the write lock at BEGIN. */
export function openDatabase(path: string): Db {
  const client = new Database(path);
  client.pragma('journal_mode = WAL');
  client.pragma('busy_timeout = 5000');
  client.pragma('foreign_keys = ON');
  client.pragma('synchronous = NORMAL');
  const db = drizzle({ client, schema });
  // Every transaction here writes. A deferred one (SQLite's default) starts as a reader, and if another
  // connection (the root side, the API) commits before its first write, WAL cannot upgrade the stale read:
  // SQLite answers SQLITE_BUSY at once, without waiting the busy timeout. BEGIN IMMEDIATE takes the write
  // lock first, so a transaction waits its turn instead.
  const transaction = db.transaction.bind(db);
  db.transaction = (run, config) => transaction(run, { behavior: 'immediate', ...config });
  return db;
}

export function migrateDatabase(db: Db): void {
  migrate(db, { migrationsFolder: MIGRATIONS_DIR });
}

/** A fresh in-memory database with the real migrations, for tests. */
export function openMemoryDatabase(): Db {
  const db = openDatabase(':memory:');
  migrateDatabase(db);
  return db;
}
