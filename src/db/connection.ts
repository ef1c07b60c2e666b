import { fileURLToPath } from 'node:url';
import Database, { type RunResult } from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import * as schema from './schema.js';
import { cacheStatements } from './statement-cache.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** The database or a transaction on it: what query functions take first. */
export type Queryable = BaseSQLiteDatabase<'sync', RunResult, typeof schema>;

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
/** Root's own database (root-schema.ts). */
export const ROOT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/root', import.meta.url));

/**
 * Opens the database with WAL, a busy timeout, foreign keys on and transactions that take the write lock at BEGIN,
 * hardened as SQLite advises for a file that may be hostile (sqlite.org/security.html): better-sqlite3 turns on
 * SQLITE_DBCONFIG_DEFENSIVE (we never call unsafeMode), and trusted_schema=OFF keeps triggers and views from calling
 * any function that is not innocuous, so that even a read of an unexpected file cannot run what its schema hides.
 */
export function openDatabase(path: string): Db {
  const client = new Database(path);
  client.pragma('trusted_schema = OFF');
  client.pragma('cell_size_check = ON');
  client.pragma('mmap_size = 0');
  client.pragma('journal_mode = WAL');
  client.pragma('busy_timeout = 5000');
  client.pragma('foreign_keys = ON');
  client.pragma('synchronous = NORMAL');
  cacheStatements(client);
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

export function migrateRootDatabase(db: Db): void {
  migrate(db, { migrationsFolder: ROOT_MIGRATIONS_DIR });
}

/** A fresh in-memory database with the real migrations, for tests. */
export function openMemoryDatabase(): Db {
  const db = openDatabase(':memory:');
  migrateDatabase(db);
  return db;
}

/** A fresh in-memory root database with its real migrations, for tests. */
export function openMemoryRootDatabase(): Db {
  const db = openDatabase(':memory:');
  migrateRootDatabase(db);
  return db;
}

/** SQLite's data_version of the connection: it changes when another connection commits (not this one's own commits). */
export function dataVersionOf(db: Db): number {
  return Number(db.$client.pragma('data_version', { simple: true }));
}
