import type Database from 'better-sqlite3';
import type { Db } from '../../db/connection.js';
import type { hosts } from '../../db/schema.js';

/** The columns of a host row that reconcile and the watches (session cap, repository watch) use. */
export type ReconcileHostRow = Pick<
  typeof hosts.$inferSelect,
  | 'name'
  | 'uid'
  | 'keyType'
  | 'keyBase64'
  | 'appendOnly'
  | 'fullAccessUntil'
  | 'quotaBytes'
  | 'allowFrom'
  | 'maxSessions'
  | 'status'
  | 'updatedAt'
>;

const SELECT_HOST_ROWS = `select "name", "uid", "key_type", "key_base64", "append_only", "full_access_until", "quota_bytes",
  "allow_from", "max_sessions", "status", "updated_at" from "hosts"`;

type RawHostRow = [unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown];

const statements = new WeakMap<Database.Database, Database.Statement>();

/**
 * Every host row, with the values drizzle's `select().from(hosts)` gives
 * (append_only as `Number(value) === 1`, the timestamp_ms columns as
 * `new Date(value)`, null as null, every other value as SQLite holds it: a row
 * may hold anything, and is checked by acceptedHostRows), from one statement
 * prepared once per connection and without drizzle's mapping of each column of
 * each row, which was the largest part of a pass at 10,000 hosts (issue 19).
 */
export function readHostRows(db: Db): ReconcileHostRow[] {
  const client = db.$client;
  let statement = statements.get(client);
  if (statement === undefined) {
    statement = client.prepare(SELECT_HOST_ROWS);
    statements.set(client, statement);
  }
  // Arrays, not objects: a statement in raw mode is one this module alone uses (the statement cache hands
  // a cached one back in object mode, but this one is kept here, not asked of the cache again).
  const raw = statement.raw(true).all() as RawHostRow[];
  const rows: ReconcileHostRow[] = new Array(raw.length);
  for (let index = 0; index < raw.length; index += 1) {
    const [name, uid, keyType, keyBase64, appendOnly, fullAccessUntil, quotaBytes, allowFrom, maxSessions, status, updatedAt] = raw[
      index
    ] as RawHostRow;
    rows[index] = {
      name,
      uid,
      keyType,
      keyBase64,
      appendOnly: appendOnly === null ? null : Number(appendOnly) === 1,
      fullAccessUntil: fullAccessUntil === null ? null : new Date(fullAccessUntil as number),
      quotaBytes,
      allowFrom,
      maxSessions,
      status,
      updatedAt: updatedAt === null ? null : new Date(updatedAt as number),
    } as ReconcileHostRow;
  }
  return rows;
}
